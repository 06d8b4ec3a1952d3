"""Prediction time: the exported ONNX model in onnxruntime against the estimator.

Fits ``make_pipeline(Downsample(7), KANClassifier(hidden_layer_sizes=(10,)))`` (and,
with ``--hybrid``, ``HybridKANClassifier("conv")``) on the first ``--n-train`` MNIST
training images, exports it with :func:`sklearn_kan.export.to_onnx`, checks that the
labels agree and the probabilities are within 1e-5 on the 10,000 test images, and
times ``predict_proba`` on all of them (one call) and on one row, each the median of
``--reps`` calls, both with ``--threads`` threads.

Usage::

    nice -n 15 python benchmarks/bench_onnx.py --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from sklearn_kan import HybridKANClassifier, KANClassifier  # noqa: E402
from sklearn_kan.datasets import fetch_mnist  # noqa: E402
from sklearn_kan.export import to_onnx  # noqa: E402
from sklearn_kan.preprocessing import Downsample  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _median_s(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = ROOT.parent / "shared" / "data"
    parser.add_argument("--data-home", default=str(shared) if shared.is_dir() else None)
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--hybrid", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train = fetch_mnist(data_home=args.data_home, subset="train")
    test = fetch_mnist(data_home=args.data_home, subset="test")
    X = train.images[: args.n_train].reshape(args.n_train, -1)
    y = train.target[: args.n_train]
    X_test = test.images.reshape(len(test.images), -1)
    models = {
        "kan7 pipeline": Pipeline(
            [("down", Downsample(7)), ("kan", KANClassifier((10,), random_state=0))]
        )
    }
    if args.hybrid:
        models["hybrid conv"] = HybridKANClassifier("conv", max_epochs=2, random_state=0)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    print(f"{'model':14} {'rows':>6} {'estimator ms':>13} {'onnxruntime ms':>15} {'speed-up':>9}")
    for name, model in models.items():
        model.fit(X, y)
        session = ort.InferenceSession(
            to_onnx(model, X_test[:3]).SerializeToString(),
            options,
            providers=["CPUExecutionProvider"],
        )
        labels, proba = session.run(None, {"X": X_test.astype(np.float32)})
        assert (labels == model.predict(X_test)).all()
        assert np.abs(proba - model.predict_proba(X_test)).max() <= 1e-5
        for rows in (len(X_test), 1):
            Xr = X_test[:rows]
            Xf = Xr.astype(np.float32)
            est = _median_s(lambda m=model, Xr=Xr: m.predict_proba(Xr), args.reps)
            onx = _median_s(lambda s=session, Xf=Xf: s.run(None, {"X": Xf}), args.reps)
            print(f"{name:14} {rows:6d} {est * 1e3:13.2f} {onx * 1e3:15.3f} {est / onx:8.1f}x")
    print(f"threads {args.threads}, load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
