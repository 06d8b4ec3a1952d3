"""Accuracy of the KAN [49, 10, 10] on 7x7-downsampled MNIST.

Trains ``make_pipeline(Downsample(7), KANClassifier(hidden_layer_sizes=(10,)))`` on the
60,000 MNIST training images and scores it on the 10,000 test images:

1. with the estimator's default training settings;
2. with exactly 100 full-batch LBFGS steps (``optimizer="lbfgs", batch_size=None,
   max_epochs=100``; one epoch is one LBFGS step on the full batch);
3. beside an MLP of the same parameter count trained with the same settings as 1.

Usage::

    python benchmarks/bench_mnist_downsample.py [--data-home DIR] [--threads N]

``--data-home`` defaults to ``../shared/data`` next to the repository, then to
``SKLEARN_KAN_DATA`` / scikit-learn's data home (downloading if needed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline

from sklearn_kan import KANClassifier, count_params
from sklearn_kan.datasets import fetch_mnist
from sklearn_kan.preprocessing import Downsample

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = ROOT.parent / "shared" / "data"
    parser.add_argument("--data-home", default=str(shared) if shared.is_dir() else None)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    X_train, y_train = fetch_mnist(data_home=args.data_home, subset="train", return_X_y=True)
    X_test, y_test = fetch_mnist(data_home=args.data_home, subset="test", return_X_y=True)
    kan = KANClassifier(hidden_layer_sizes=(10,), random_state=0)
    # 49 * h + h + 10 * h + 10 = 1010 parameters, the KAN's count: h = 1000 / 60.
    runs = {
        "kan_defaults": kan,
        "kan_lbfgs_100_steps": KANClassifier(
            hidden_layer_sizes=(10,),
            optimizer="lbfgs",
            lr=1.0,
            lr_schedule="constant",
            batch_size=None,
            max_epochs=100,
            random_state=0,
        ),
        "mlp_same_params_adam": MLPClassifier(
            hidden_layer_sizes=(int(round((kan_params([49, 10, 10]) - 10) / 60)),),
            batch_size=128,
            learning_rate_init=3e-3,
            max_iter=30,
            random_state=0,
        ),
    }
    results = {}
    for name, est in runs.items():
        pipe = Pipeline([("down", Downsample(7)), ("model", est)])
        start = time.perf_counter()
        pipe.fit(X_train, y_train)
        fit_s = time.perf_counter() - start
        acc = pipe.score(X_test, y_test)
        results[name] = {
            "test_accuracy": round(float(acc), 4),
            "params": count_params(pipe),
            "fit_seconds": round(fit_s, 1),
        }
        print(
            f"{name:24s} accuracy {acc:.4f}  params {count_params(pipe):5d}  fit {fit_s:6.1f} s",
            flush=True,
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }
    (out / "mnist_downsample.json").write_text(json.dumps({"meta": meta, **results}, indent=2))


def kan_params(widths: list[int], grid_size: int = 5, spline_order: int = 3) -> int:
    per_edge = grid_size + spline_order + 1
    return sum(a * b * per_edge + b for a, b in zip(widths[:-1], widths[1:]))


if __name__ == "__main__":
    main()
