"""Time of the pixel maps of a "conv" hybrid on 1,000 MNIST test images, on the CPU.

Fits ``HybridKANClassifier("conv")`` on the first ``--n-train`` MNIST training images
(pixels / 255, ``--epochs`` epochs, seeded), then computes
:func:`sklearn_kan.inspection.pixel_map` for the first ``--n-images`` test images,
each attributed to its true class, once per method (integrated gradients with
``--n-steps`` steps, gradient x input, occlusion with 4 x 4 patches), each in a
fresh call timed from start to end (nothing is warmed up before). For scale, it
also times ``predict_proba`` on the same images. It prints a table (seconds, images
per second, and how far the attributions of a sample are from adding up to its
output difference, relative to that difference: median and 95th percentile) and
writes it as JSON to ``benchmarks/results/pixel_maps.json``.

Usage::

    python benchmarks/bench_pixel_maps.py --data-home DIR [--n-train 10000]
        [--epochs 2] [--n-images 1000] [--n-steps 32] [--threads N]

``--data-home`` is the folder that holds ``mnist/`` (the IDX files); by default
:func:`~sklearn_kan.datasets.fetch_mnist`'s (``SKLEARN_KAN_DATA``, else
scikit-learn's data home). Nothing is downloaded. ``--threads`` sets torch's thread
count; by default the package plans it, as in a user's session.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

# Passive OpenMP waiting must be chosen before torch starts its threads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from sklearn_kan import HybridKANClassifier  # noqa: E402
from sklearn_kan.datasets import fetch_mnist  # noqa: E402
from sklearn_kan.inspection import pixel_map  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
METHODS = {
    "integrated_gradients": {},
    "gradient_x_input": {},
    "occlusion": {"patch_size": 4},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--n-images", type=int, default=1000)
    parser.add_argument("--n-steps", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    train = fetch_mnist(data_home=args.data_home, subset="train", download_if_missing=False)
    test = fetch_mnist(data_home=args.data_home, subset="test", download_if_missing=False)
    X_train = train.data[: args.n_train] / 255.0
    y_train = train.target[: args.n_train]
    X = test.data[: args.n_images] / 255.0
    y = test.target[: args.n_images]

    start = time.perf_counter()
    clf = HybridKANClassifier("conv", max_epochs=args.epochs, random_state=args.seed)
    clf.fit(X_train, y_train)
    fit_s = time.perf_counter() - start
    print(
        f"HybridKANClassifier('conv'): {clf.n_params_} parameters, fit on {len(X_train)} "
        f"images in {fit_s:.1f} s, test accuracy {clf.score(X, y):.4f} on {len(X)}"
    )

    start = time.perf_counter()
    clf.predict_proba(X)
    predict_s = time.perf_counter() - start

    rows = []
    for method, options in METHODS.items():
        start = time.perf_counter()
        result = pixel_map(clf, X, y, method=method, n_steps=args.n_steps, **options)
        seconds = time.perf_counter() - start
        relative = np.abs(result.delta) / np.maximum(np.abs(result.output_difference), 1e-12)
        if method == "integrated_gradients":
            options = {**options, "n_steps": args.n_steps}
        rows.append(
            {
                "method": method,
                "seconds": round(seconds, 3),
                "images_per_s": round(len(X) / seconds, 1),
                "delta_rel_median": float(np.median(relative)),
                "delta_rel_p95": float(np.quantile(relative, 0.95)),
                "options": options,
            }
        )

    print(f"\npixel maps of {len(X)} MNIST test images (predict_proba: {predict_s:.2f} s)")
    print(f"{'method':<22} {'seconds':>8} {'images/s':>9} {'|delta| median':>15} {'p95':>7}")
    for row in rows:
        print(
            f"{row['method']:<22} {row['seconds']:>8.2f} {row['images_per_s']:>9.0f} "
            f"{row['delta_rel_median']:>15.3f} {row['delta_rel_p95']:>7.3f}"
        )
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average": os.getloadavg(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "n_train": len(X_train),
        "epochs": args.epochs,
        "n_images": len(X),
        "fit_s": round(fit_s, 2),
        "predict_proba_s": round(predict_s, 3),
        "rows": rows,
    }
    (out / "pixel_maps.json").write_text(json.dumps(record, indent=2))
    print(f"\nwritten to {out / 'pixel_maps.json'}")


if __name__ == "__main__":
    main()
