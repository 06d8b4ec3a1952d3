"""Accuracy of every KAN basis on MNIST: 7x7 KAN and the conv / kanconv hybrids.

For each basis (``--bases``):

1. ``kan7``: ``make_pipeline(Downsample(7), KANClassifier(hidden_layer_sizes=(10,), basis=b))``
   (the KAN [49, 10, 10] of the 7 x 7 pipeline) with the estimator's defaults otherwise;
2. ``conv`` and ``kanconv``: ``HybridKANClassifier(frontend, basis=b)`` on the 28 x 28
   images (``basis`` reaches the KAN head and, for ``kanconv``, every
   :class:`~sklearn_kan.nn.KANConv2d` of the front end), ``--hybrid-epochs`` epochs.

Each model is trained on the first ``--n-train`` training images (the hybrids on the
first ``--n-train-hybrid``) and scored on the first ``--n-test`` test images.

Usage::

    nice -n 15 env OMP_NUM_THREADS=1 python benchmarks/bench_bases.py \\
        --n-train 10000 --n-train-hybrid 5000 --n-test 10000 --threads 1

Writes ``benchmarks/results/bases_mnist.json`` (``--out``) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from sklearn_kan import HybridKANClassifier, KANClassifier, count_params  # noqa: E402
from sklearn_kan.datasets import fetch_mnist  # noqa: E402
from sklearn_kan.preprocessing import Downsample  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = ROOT.parent / "shared" / "data"
    parser.add_argument("--data-home", default=str(shared) if shared.is_dir() else None)
    parser.add_argument("--bases", default="bspline,gram,fourier,rational")
    parser.add_argument("--models", default="kan7,conv,kanconv")
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--n-train-hybrid", type=int, default=5000)
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument("--hybrid-epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    train = fetch_mnist(data_home=args.data_home, subset="train")
    test = fetch_mnist(data_home=args.data_home, subset="test")
    X_test, y_test = test.images[: args.n_test], test.target[: args.n_test]
    rows = []
    for model in args.models.split(","):
        n_train = args.n_train if model == "kan7" else args.n_train_hybrid
        X_train, y_train = train.images[:n_train], train.target[:n_train]
        for basis in args.bases.split(","):
            if model == "kan7":
                est = Pipeline(
                    [
                        ("down", Downsample(7)),
                        ("kan", KANClassifier((10,), basis=basis, random_state=0, device="cpu")),
                    ]
                )
                X_tr, X_te = X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)
            else:
                est = HybridKANClassifier(
                    model,
                    basis=basis,
                    max_epochs=args.hybrid_epochs,
                    random_state=0,
                    device="cpu",
                )
                X_tr, X_te = X_train, X_test
            start = time.perf_counter()
            est.fit(X_tr, y_train)
            fit_s = time.perf_counter() - start
            row = {
                "model": model,
                "basis": basis,
                "n_train": len(X_tr),
                "n_test": len(X_te),
                "accuracy": float(est.score(X_te, y_test)),
                "params": count_params(est),
                "fit_s": round(fit_s, 1),
                "load": os.getloadavg()[0],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {
        "benchmark": "bases_mnist",
        "hybrid_epochs": args.hybrid_epochs,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "bases_mnist.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"{'model':8} {'basis':9} {'train':>6} {'acc':>6} {'params':>7} {'fit s':>7}")
    for r in rows:
        print(
            f"{r['model']:8} {r['basis']:9} {r['n_train']:6d} {r['accuracy']:6.4f} "
            f"{r['params']:7d} {r['fit_s']:7.1f}"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
