"""Which KAN options help the plain KAN [49, 10, 10] on 7x7-downsampled MNIST?

Trains ``make_pipeline(Downsample(7), KANClassifier(hidden_layer_sizes=(10,), ...))`` on
the 60,000 MNIST training images and scores it on the 10,000 test images, once
per variant and seed, and prints one JSON line per fit (appended to ``--log``).
The user guide's table "Making the plain KAN better" comes from this script.

Usage::

    nice -n 15 env OMP_NUM_THREADS=1 python benchmarks/bench_kan_options_mnist7.py \\
        --variants defaults,none --seeds 0,1
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from sklearn.pipeline import Pipeline

from sklearn_kan import KANClassifier, count_params
from sklearn_kan.datasets import fetch_mnist
from sklearn_kan.model_selection import matched_mlp
from sklearn_kan.preprocessing import Downsample

ROOT = Path(__file__).resolve().parents[1]

VARIANTS = {
    "defaults": {},  # hidden_norm="batchnorm"
    "none": {"hidden_norm": None},  # the KAN paper's network
    "layernorm": {"hidden_norm": "layernorm"},
    "tanh": {"hidden_norm": "tanh"},
    "grid_update": {"hidden_norm": None, "grid_update_epochs": (1, 3, 6, 10)},
    "standard_inputs": {"input_scaling": "standard"},
    "bn_grid_update": {"grid_update_epochs": (1, 3, 6, 10)},
    "grid8": {"grid_size": 8},
    "lr1e-2": {"lr": 1e-2},
    "lr2e-2": {"lr": 2e-2},
    "lr1e-3": {"lr": 1e-3},
    "batch64": {"batch_size": 64},
    "epochs60": {"max_epochs": 60},
    "none_lr1e-2": {"hidden_norm": None, "lr": 1e-2},
    "none_batch64": {"hidden_norm": None, "batch_size": 64},
    "none_standard_inputs": {"hidden_norm": None, "input_scaling": "standard"},
}
# The reference: sklearn_kan.model_selection.matched_mlp of the default KAN (a
# TorchMLPClassifier trained by the same loop with the same settings).
MLPS = {"mlp_params": "params", "mlp_flops": "flops", "mlp_params_lr1e-2": "params"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = ROOT.parent / "shared" / "data"
    parser.add_argument("--data-home", default=str(shared) if shared.is_dir() else None)
    parser.add_argument("--variants", default="defaults", help=", ".join([*VARIANTS, *MLPS]))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--log", default=None, help="append the JSON lines to this file")
    args = parser.parse_args()
    X_train, y_train = fetch_mnist(data_home=args.data_home, subset="train", return_X_y=True)
    X_test, y_test = fetch_mnist(data_home=args.data_home, subset="test", return_X_y=True)
    for variant in args.variants.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            kan = KANClassifier(hidden_layer_sizes=(10,), random_state=seed)
            pipe = Pipeline([("down", Downsample(7)), ("kan", kan)])
            if variant in MLPS:
                if variant.endswith("_lr1e-2"):
                    kan.set_params(lr=1e-2)  # matched_mlp copies the KAN's training settings
                pipe = matched_mlp(pipe, X_train.shape, 10, match=MLPS[variant])
            else:
                kan.set_params(**VARIANTS[variant])
            start = time.perf_counter()
            pipe.fit(X_train, y_train)
            row = {
                "variant": variant,
                "seed": seed,
                "test_accuracy": round(float(pipe.score(X_test, y_test)), 4),
                "params": count_params(pipe),
                "fit_s": round(time.perf_counter() - start, 1),
                "load": [round(v, 2) for v in os.getloadavg()],
            }
            line = json.dumps(row)
            print(line, flush=True)
            if args.log:
                with open(args.log, "a") as f:
                    f.write(line + "\n")


if __name__ == "__main__":
    main()
