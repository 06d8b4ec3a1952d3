"""Accuracy of "learned features, then a KAN" on MNIST.

Trains, on the 60,000 MNIST training images, and scores on the 10,000 test images:

1. ``make_pipeline(VAEFeatures(16), KANClassifier())``: unsupervised VAE latent means;
2. ``make_pipeline(ConvFeatures(), KANClassifier())``: supervised convolutional features
   (the pipeline passes ``y`` to ``ConvFeatures.fit``).

All settings are the defaults apart from ``random_state=0``. Prints and saves (JSON, in
``--out``) the test accuracy, the fit time (features and KAN) and the trainable
parameters of both steps.

Usage::

    python benchmarks/bench_features_mnist.py [--data-home DIR] [--threads N]

``--data-home`` defaults to ``../shared/data`` next to the repository, then to
``SKLEARN_KAN_DATA`` / scikit-learn's data home (downloading if needed). ``--threads``
sets torch's CPU threads (default: torch's own choice); on a shared machine one thread
per process avoids oversubscribing the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
from sklearn.pipeline import Pipeline

from sklearn_kan import KANClassifier
from sklearn_kan.datasets import fetch_mnist
from sklearn_kan.feature_extraction import ConvFeatures, VAEFeatures

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = ROOT.parent / "shared" / "data"
    parser.add_argument("--data-home", default=str(shared) if shared.is_dir() else None)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    X_train, y_train = fetch_mnist(data_home=args.data_home, subset="train", return_X_y=True)
    X_test, y_test = fetch_mnist(data_home=args.data_home, subset="test", return_X_y=True)
    runs = {
        "vae16_kan": VAEFeatures(16, random_state=0),
        "conv32_kan": ConvFeatures(random_state=0),
    }
    results = {}
    for name, features in runs.items():
        pipe = Pipeline([("features", features), ("kan", KANClassifier(random_state=0))])
        start = time.perf_counter()
        pipe.fit(X_train, y_train)
        fit_s = time.perf_counter() - start
        acc = pipe.score(X_test, y_test)
        params = {step: est.n_params_ for step, est in pipe.steps}
        results[name] = {
            "pipeline": repr(pipe),
            "test_accuracy": round(float(acc), 4),
            "params": params,
            "params_total": sum(params.values()),
            "fit_seconds": round(fit_s, 1),
            "final_train_loss": {
                step: round(float(est.history_[-1, "train_loss"]), 4) for step, est in pipe.steps
            },
        }
        print(
            f"{name:12s} accuracy {acc:.4f}  params {params['features']:6d} + "
            f"{params['kan']:6d}  fit {fit_s:7.1f} s",
            flush=True,
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
    }
    (out / "features_mnist.json").write_text(json.dumps({"meta": meta, **results}, indent=2))


if __name__ == "__main__":
    main()
