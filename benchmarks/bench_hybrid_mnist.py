"""MNIST accuracy of the hybrid KANs, each beside an MLP and a CNN of about its size.

For every front end of :class:`~sklearn_kan.HybridKANClassifier` (``linear``, ``conv``,
``kanconv``, ``local``) the script trains, on the 60,000 MNIST training images, and
scores on the 10,000 test images:

- the hybrid (front end + KAN head), through the estimator;
- a plain MLP (784 - h - 10, ReLU) with ``h`` solved so that it has about the hybrid's
  parameter count;
- a plain CNN (conv 3x3 - BatchNorm - ReLU - max-pool, twice, then a ReLU MLP head)
  whose widths are searched so that it has about the hybrid's parameter count.

All three are trained the same way: skorch, Adam with the same learning rate (cosine
decay to 0 over the epochs by default), batch size, number of epochs and seed, pixels
mapped onto [-1, 1], no validation split.
It prints a table (test accuracy, parameters, seconds per epoch) and writes it as
JSON to ``benchmarks/results/hybrid_mnist[-TAG].json``.

Usage::

    python benchmarks/bench_hybrid_mnist.py [--frontends linear,conv,kanconv,local]
        [--threads 2] [--n-train 60000] [--data-home DIR]

``--data-home`` defaults to ``../shared/data`` next to the repository (the
``mnist/`` IDX files), then to ``SKLEARN_KAN_DATA`` / scikit-learn's data home.
The numbers of a run on 2 shared CPU cores are quoted in the README.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

# OpenMP threads that busy-wait at every barrier are catastrophic on shared, busy
# cores (measured: one epoch 30x slower with 2 threads than with 1 under load);
# passive waiting must be chosen before torch starts its thread pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from skorch import NeuralNetClassifier  # noqa: E402
from skorch.callbacks import LRScheduler  # noqa: E402
from torch import nn  # noqa: E402
from torch.optim.lr_scheduler import CosineAnnealingLR  # noqa: E402

from sklearn_kan import HybridKANClassifier, count_params  # noqa: E402
from sklearn_kan.datasets import fetch_mnist  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# Per front end: epochs, the accuracy it is held to (a CNN's level), and the options that
# differ from the defaults. The locally connected front end has one block of 8
# channels: its parameters grow with the image area.
SETTINGS = {
    "linear": {"epochs": 4, "bound": 0.975, "params": {}},
    "conv": {"epochs": 5, "bound": 0.99, "params": {}},
    "kanconv": {"epochs": 5, "bound": 0.99, "params": {}},
    "local": {"epochs": 5, "bound": None, "params": {"conv_channels": (8,)}},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = ROOT.parent / "shared" / "data"
    parser.add_argument("--data-home", default=str(shared) if shared.is_dir() else None)
    parser.add_argument("--frontends", default=",".join(SETTINGS))
    parser.add_argument("--baselines", default="mlp,cnn", help="comma list, or 'none'")
    parser.add_argument("--epochs", type=int, default=None, help="override every front end's")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--schedule", choices=["cosine", "none"], default="cosine", help="learning-rate schedule"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-train", type=int, default=60000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    train = fetch_mnist(data_home=args.data_home, subset="train")
    test = fetch_mnist(data_home=args.data_home, subset="test")
    X_train, y_train = train.images[: args.n_train], train.target[: args.n_train]
    X_test, y_test = test.images, test.target
    baselines = [] if args.baselines == "none" else args.baselines.split(",")

    rows = []
    for frontend in args.frontends.split(","):
        setting = SETTINGS[frontend]
        epochs = args.epochs or setting["epochs"]
        common = {"lr": args.lr, "batch_size": args.batch_size, "epochs": epochs}
        hybrid = HybridKANClassifier(
            frontend,
            max_epochs=epochs,
            lr=args.lr,
            lr_schedule="cosine" if args.schedule == "cosine" else "constant",
            batch_size=args.batch_size,
            device="cpu",
            random_state=args.seed,
            **setting["params"],
        )
        rows.append(_run(f"hybrid-{frontend}", frontend, hybrid, X_train, y_train, X_test, y_test))
        rows[-1]["bound"] = setting["bound"]
        n_params = rows[-1]["params"]
        for kind in baselines:
            module = _mlp(n_params) if kind == "mlp" else _cnn(n_params)
            net = _baseline(module, seed=args.seed, schedule=args.schedule, **common)
            rows.append(_run(kind, frontend, net, X_train, y_train, X_test, y_test))
        _print_table(rows)

    result = {
        "benchmark": "hybrid_mnist",
        "n_train": len(X_train),
        "n_test": len(X_test),
        "lr": args.lr,
        "batch_size": args.batch_size,
        "optimizer": "adam",
        "schedule": args.schedule,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"hybrid_mnist{'-' + args.tag if args.tag else ''}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")


def _run(model, frontend, estimator, X_train, y_train, X_test, y_test) -> dict:
    start = time.perf_counter()
    if isinstance(estimator, HybridKANClassifier):
        estimator.fit(X_train, y_train)
        history = estimator.history_
    else:
        estimator.fit(_pixels(X_train), y_train.astype(np.int64))
        history = estimator.history
    fit_s = time.perf_counter() - start
    if isinstance(estimator, HybridKANClassifier):
        accuracy = estimator.score(X_test, y_test)
        n_params = estimator.n_params_
    else:
        accuracy = float((estimator.predict(_pixels(X_test)) == y_test).mean())
        n_params = count_params(estimator.module_)
    durations = history[:, "dur"]
    return {
        "model": model,
        "frontend": frontend,
        "accuracy": round(float(accuracy), 4),
        "params": int(n_params),
        "epochs": len(durations),
        "s_per_epoch": round(float(np.mean(durations)), 1),
        "fit_s": round(fit_s, 1),
        "train_loss": round(float(history[-1, "train_loss"]), 4),
    }


def _print_table(rows) -> None:
    print(
        f"\n{'front end':<9} {'model':<16} {'accuracy':>8} {'bound':>7} {'params':>8} "
        f"{'s/epoch':>8} {'epochs':>6}"
    )
    for r in rows:
        bound = "" if r.get("bound") is None else f"{r['bound']:.3f}"
        print(
            f"{r['frontend']:<9} {r['model']:<16} {r['accuracy']:>8.4f} {bound:>7} "
            f"{r['params']:>8} {r['s_per_epoch']:>8.1f} {r['epochs']:>6}",
            flush=True,
        )


# -- baselines -------------------------------------------------------------------


def _pixels(images: np.ndarray) -> np.ndarray:
    # The same mapping onto [-1, 1] as the hybrids' minmax input scaling.
    return (images.astype(np.float32)[:, None] / 127.5 - 1.0).astype(np.float32)


def _baseline(module, lr, batch_size, epochs, seed, schedule) -> NeuralNetClassifier:
    # The estimators' own cosine decay, so that the schedules are identical.
    cosine = LRScheduler(CosineAnnealingLR, T_max=epochs, last_epoch=-1)
    callbacks = [("lr_schedule", cosine)] if schedule == "cosine" else []
    torch.manual_seed(seed)
    return NeuralNetClassifier(
        module,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=lr,
        batch_size=batch_size,
        max_epochs=epochs,
        iterator_train__shuffle=True,
        train_split=None,
        predict_nonlinearity=None,
        callbacks=callbacks,
        device="cpu",
        verbose=0,
    )


def _mlp(n_params: int) -> nn.Module:
    # 784 h + h + 10 h + 10 parameters.
    hidden = max(1, round((n_params - 10) / 795))
    return nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def _cnn(n_params: int) -> nn.Module:
    # Channels (k, 2k) and head width f searched for the closest parameter count.
    best = min(
        ((k, f) for k in range(2, 97) for f in (32, 64, 128, 256)),
        key=lambda kf: abs(count_params(_cnn_module(*kf)) - n_params),
    )
    return _cnn_module(*best)


def _cnn_module(k: int, features: int) -> nn.Module:
    blocks = []
    for c_in, c_out in ((1, k), (k, 2 * k)):
        blocks += [
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
    return nn.Sequential(
        *blocks,
        nn.Flatten(),
        nn.Linear(2 * k * 7 * 7, features),
        nn.ReLU(),
        nn.Linear(features, 10),
    )


if __name__ == "__main__":
    main()
