"""What a user's session feels like: fresh processes, first calls, busy neighbours.

``benchmarks/run.py`` times warm training steps; this script times what a user
does, each row in a fresh Python process (so import, kernel loading and first
calls are in it), next to a reference measured in the same run:

``fit77_cold``
    ``make_pipeline(Downsample(7), KANClassifier((10,), max_epochs=5))`` fit on the
    60,000 MNIST rows, then its first ``predict`` of the 10,000 test rows, on a
    machine whose kernel cache is empty (a new ``SKLEARN_KAN_CACHE`` folder: the
    native kernels are built in this fit); against the same pipeline with an
    equal-parameter ``MLPClassifier`` (same epochs and batch size). Each model in
    its own fresh process.
``fit77``
    The same with the kernel cache as the first row left it (what every later
    process on the machine does).
``fit77_busy``
    The same two fits with two busy processes beside them.
``pickled77``
    The fitted 7 x 7 pipeline pickled and loaded in a fresh process: its first
    ``predict`` of 10,000 rows.
``pickled28``
    ``KANClassifier((64,))`` on 28 x 28 after a short fit (``--epochs28`` epochs on
    the first 10,000 rows), pickled and loaded in a fresh process: its first and
    steady ``predict`` of the 10,000 test rows, against an equal-parameter
    ``MLPClassifier`` pickled and loaded the same way.
``snippet``
    The README's torch-layer snippet: ``KAN([784, 64, 10])`` on 256 rows, forward,
    ``update_grid``, ``extend_grid``, ``regularization_loss``.
``predict28``
    ``KANClassifier((64,))`` on 28 x 28 (fit with ``--epochs28`` epochs on the 60,000
    rows) in the process that fitted it: first and steady ``predict`` of 10,000
    rows, against the equal-parameter ``MLPClassifier``'s ``predict``.
``memory28``
    Memory growth of ``predict`` of the 60,000 rows by ``KANClassifier((64,),
    batch_size=None)``, with the native kernels and with ``SKLEARN_KAN_KERNELS=eager``.
``import``
    ``import sklearn_kan`` after torch, skorch and scikit-learn.

"Busy" means two other processes spinning on the CPU for the whole row (on a
2-core machine: each core shared). Every process uses the library's defaults; the
machine's load average is recorded before each row.

Usage (from the repository root). MNIST is read from ``--data-home DIR`` (default: the
``SKLEARN_KAN_DATA`` environment variable, else scikit-learn's data home), and
downloaded there first if it is missing (see :func:`sklearn_kan.datasets.fetch_mnist`)::

    python benchmarks/session.py
    python benchmarks/session.py --rows fit77 snippet      # some rows only

The table is printed and the results written as JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROWS = (
    "import",
    "snippet",
    "fit77_cold",
    "fit77",
    "pickled77",
    "fit77_busy",
    "pickled28",
    "predict28",
    "memory28",
)


# -- the children: each runs in a fresh process and prints one JSON line --------------


def _mnist(data_home, subset):
    from sklearn_kan.datasets import fetch_mnist

    return fetch_mnist(data_home=data_home, subset=subset, return_X_y=True)


def _mlp_width(n_params, n_in, n_out):
    # (n_in + 1) h + (h + 1) n_out = n_params, one hidden layer
    return max(1, round((n_params - n_out) / (n_in + 1 + n_out)))


def child_import(args):
    t0 = time.perf_counter()
    import sklearn  # noqa: F401
    import skorch  # noqa: F401
    import torch  # noqa: F401

    t1 = time.perf_counter()
    import sklearn_kan  # noqa: F401

    t2 = time.perf_counter()
    return {"base_import_s": t1 - t0, "sklearn_kan_import_s": t2 - t1}


def child_snippet(args):
    t0 = time.perf_counter()
    import torch

    from sklearn_kan.nn import KAN

    t1 = time.perf_counter()
    net = KAN([784, 64, 10], grid_size=5, spline_order=3, basis="bspline")
    x = torch.randn(256, 784)
    steps = {}
    t = time.perf_counter()
    net(x)
    steps["forward_s"] = time.perf_counter() - t
    t = time.perf_counter()
    net.update_grid(x)
    steps["update_grid_s"] = time.perf_counter() - t
    t = time.perf_counter()
    net.extend_grid(10)
    steps["extend_grid_s"] = time.perf_counter() - t
    t = time.perf_counter()
    net.regularization_loss(x)
    steps["regularization_loss_s"] = time.perf_counter() - t
    return {"import_s": t1 - t0, "snippet_s": time.perf_counter() - t1, **steps}


def child_fit77(args):
    import pickle
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline

    from sklearn_kan import KANClassifier
    from sklearn_kan.preprocessing import Downsample

    X, y = _mnist(args.data_home, "train")
    Xt, yt = _mnist(args.data_home, "test")
    if args.model == "kan":
        head = KANClassifier((10,), max_epochs=5, random_state=0)
    else:  # as many parameters as the KAN's 5,330 (one hidden layer of 89: 5,350)
        width = _mlp_width(5330, 49, 10)
        head = MLPClassifier((width,), max_iter=5, batch_size=128, random_state=0)
    model = make_pipeline(Downsample(7), head)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t = time.perf_counter()
        model.fit(X, y)
        out["fit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    pred = model.predict(Xt)
    out["first_predict_s"] = time.perf_counter() - t
    out["accuracy"] = float(np.mean(pred == yt))
    if args.model == "kan":
        from sklearn_kan.nn import kernel_info

        out["params"] = int(head.n_params_)
        out["threads"] = int(head.n_threads_)
        out["kernels"] = kernel_info()
    else:
        out["params"] = int(sum(c.size for c in (*head.coefs_, *head.intercepts_)))
    if args.pickle_to:
        Path(args.pickle_to).write_bytes(pickle.dumps(model))
    return out


def child_pickled77(args):
    import pickle

    t0 = time.perf_counter()
    model = pickle.loads(Path(args.pickle_from).read_bytes())
    t1 = time.perf_counter()
    Xt, yt = _mnist(args.data_home, "test")
    t = time.perf_counter()
    model.predict(Xt)
    first = time.perf_counter() - t
    t = time.perf_counter()
    model.predict(Xt)
    second = time.perf_counter() - t
    return {"load_s": t1 - t0, "first_predict_s": first, "second_predict_s": second}


def child_fit28(args):
    """A short 28 x 28 fit of the KAN or its equal-parameter MLP, pickled to a file."""
    import pickle
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from sklearn_kan import KANClassifier

    X, y = _mnist(args.data_home, "train")
    X, y = X[:10000], y[:10000]
    if args.model == "kan":
        model = KANClassifier((64,), max_epochs=args.epochs28, random_state=0)
        params = 457_418  # KANClassifier((64,)) on 784 inputs, 10 classes
    else:
        model = MLPClassifier(
            (_mlp_width(457_418, 784, 10),),
            max_iter=args.epochs28,
            batch_size=128,
            random_state=0,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    if args.model == "kan":
        assert model.n_params_ == params, model.n_params_
    Path(args.pickle_to).write_bytes(pickle.dumps(model))
    return {"model": args.model}


def child_predict28(args):
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from sklearn_kan import KANClassifier

    X, y = _mnist(args.data_home, "train")
    Xt, yt = _mnist(args.data_home, "test")
    out = {}
    kan = KANClassifier((64,), max_epochs=args.epochs28, random_state=0)
    t = time.perf_counter()
    kan.fit(X, y)
    out["kan_fit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    kan.predict(Xt)
    out["kan_first_predict_s"] = time.perf_counter() - t
    out["kan_steady_predict_s"] = _best_of(lambda: kan.predict(Xt))
    out["kan_params"] = int(kan.n_params_)
    h = _mlp_width(out["kan_params"], 784, 10)
    mlp = MLPClassifier((h,), max_iter=1, batch_size=128, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X[:10000], y[:10000])
    t = time.perf_counter()
    mlp.predict(Xt)
    out["mlp_first_predict_s"] = time.perf_counter() - t
    out["mlp_steady_predict_s"] = _best_of(lambda: mlp.predict(Xt))
    out["mlp_params"] = int(sum(c.size for c in (*mlp.coefs_, *mlp.intercepts_)))
    out["kan_accuracy"] = float(np.mean(kan.predict(Xt) == yt))
    from sklearn_kan.nn import kernel_info

    out["kernels"] = kernel_info()
    out["kan_epochs"] = args.epochs28
    return out


def child_memory28(args):
    import resource

    import numpy as np

    from sklearn_kan import KANClassifier

    X, y = _mnist(args.data_home, "train")
    kan = KANClassifier((64,), max_epochs=1, batch_size=None, random_state=0)
    kan.fit(X[:2000], y[:2000])
    X = np.ascontiguousarray(X, dtype=np.float64)
    kan.predict(X[:300])  # first-call allocations out of the figure
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kan.predict(X)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"predict_growth_mb": (after - before) / 1024, "rows": len(X)}


def _best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


CHILDREN = {
    "import": child_import,
    "snippet": child_snippet,
    "fit77": child_fit77,
    "pickled77": child_pickled77,
    "fit28": child_fit28,
    "predict28": child_predict28,
    "memory28": child_memory28,
}


# -- the parent ------------------------------------------------------------------------


def _run_child(name, args, env=None, extra=()):
    cmd = [
        sys.executable,
        __file__,
        "--child",
        name,
        "--epochs28",
        str(args.epochs28),
        *extra,
    ]
    if args.data_home:
        cmd += ["--data-home", args.data_home]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"row {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class _Busy:
    """Two processes spinning on the CPU while the block runs."""

    def __enter__(self):
        spin = "import time\nend = time.time() + 3600\nwhile time.time() < end: pass"
        self.procs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(2)]
        time.sleep(1.0)
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
            p.wait()
        return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-home", default=os.environ.get("SKLEARN_KAN_DATA"))
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS))
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--pickle-to", help=argparse.SUPPRESS)
    parser.add_argument("--pickle-from", help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=("kan", "mlp"), default="kan", help=argparse.SUPPRESS)
    parser.add_argument(
        "--epochs28",
        type=int,
        default=2,
        help="epochs of the 28 x 28 fits of the pickled28 and predict28 rows (default 2)",
    )
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(CHILDREN[args.child](args)))
        return 0

    results = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "rows": {},
    }
    pickled = Path(args.out) / "session-model.pkl"
    Path(args.out).mkdir(parents=True, exist_ok=True)

    for name in args.rows:
        load = os.getloadavg()[0]
        if name == "fit77_cold":  # an empty kernel cache: this fit builds the kernels
            with tempfile.TemporaryDirectory(prefix="kernel-cache-") as cache:
                value = {
                    "kan": _run_child("fit77", args, env={"SKLEARN_KAN_CACHE": cache}),
                    "mlp": _run_child("fit77", args, extra=("--model", "mlp")),
                }
        elif name == "fit77":  # each model in its own fresh process
            value = {
                "kan": _run_child("fit77", args, extra=("--pickle-to", str(pickled))),
                "mlp": _run_child("fit77", args, extra=("--model", "mlp")),
            }
        elif name == "fit77_busy":
            with _Busy():
                value = {
                    "kan": _run_child("fit77", args),
                    "mlp": _run_child("fit77", args, extra=("--model", "mlp")),
                }
        elif name == "pickled77":
            if not pickled.exists():
                _run_child("fit77", args, extra=("--pickle-to", str(pickled)))
            value = _run_child("pickled77", args, extra=("--pickle-from", str(pickled)))
        elif name == "pickled28":
            value = {}
            for model in ("kan", "mlp"):
                path = Path(args.out) / f"session-{model}28.pkl"
                _run_child("fit28", args, extra=("--model", model, "--pickle-to", str(path)))
                value[model] = _run_child("pickled77", args, extra=("--pickle-from", str(path)))
        elif name == "memory28":
            value = {
                "default": _run_child("memory28", args),
                "eager": _run_child("memory28", args, env={"SKLEARN_KAN_KERNELS": "eager"}),
            }
        else:
            value = _run_child(name, args)
        value["load_before"] = load
        results["rows"][name] = value
        print(f"{name}: {json.dumps(value)}", flush=True)

    _summary(results["rows"])
    path = Path(args.out) / f"session-{datetime.datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"written to {path}")
    return 0


def _summary(rows):
    lines = ["", "| what a user does | sklearn-kan | reference | ratio (bound) |"]
    lines.append("|---|---|---|---|")
    for row, what, bound in (
        ("fit77_cold", "empty kernel cache", 3),
        ("fit77", "kernels cached", 2.5),
    ):
        if row not in rows:
            continue
        k, m = rows[row]["kan"], rows[row]["mlp"]
        kan = k["fit_s"] + k["first_predict_s"]
        mlp = m["fit_s"] + m["first_predict_s"]
        lines.append(
            f"| 7x7 pipeline, {what}: fit (5 epochs, 60k rows) + first predict (10k) | "
            f"{k['fit_s']:.2f} s + {k['first_predict_s']:.3f} s | MLPClassifier "
            f"{m['fit_s']:.2f} s + {m['first_predict_s']:.3f} s | {kan / mlp:.2f}x "
            f"(<= {bound}x) |"
        )
    if "fit77_busy" in rows and "fit77" in rows:
        b, q = rows["fit77_busy"], rows["fit77"]
        kan_ratio = b["kan"]["fit_s"] / q["kan"]["fit_s"]
        mlp_ratio = b["mlp"]["fit_s"] / q["mlp"]["fit_s"]
        lines.append(
            f"| the same fit, two busy processes beside it | {b['kan']['fit_s']:.2f} s | "
            f"MLPClassifier {b['mlp']['fit_s']:.2f} s ({mlp_ratio:.1f}x its quiet time) | "
            f"{kan_ratio:.2f}x its quiet time (<= 2.5x) |"
        )
    if "pickled77" in rows:
        r = rows["pickled77"]
        lines.append(
            f"| pickled 7x7 model, first predict of 10k rows in a fresh process | "
            f"{r['first_predict_s']:.3f} s (load {r['load_s']:.2f} s) | | (< 0.5 s) |"
        )
    if "pickled28" in rows:
        k, m = rows["pickled28"]["kan"], rows["pickled28"]["mlp"]
        lines.append(
            f"| pickled KANClassifier((64,)) 28x28 in a fresh process: first (steady) predict "
            f"of 10k rows | {k['first_predict_s']:.3f} s ({k['second_predict_s']:.3f} s) | "
            f"MLPClassifier {m['first_predict_s']:.3f} s ({m['second_predict_s']:.3f} s) | "
            f"{k['first_predict_s'] / m['first_predict_s']:.2f}x "
            f"({k['second_predict_s'] / m['second_predict_s']:.2f}x) (<= 1x; first < 0.5 s) |"
        )
    if "snippet" in rows:
        r = rows["snippet"]
        lines.append(
            f"| README torch snippet (forward, update_grid, extend_grid, regularization_loss) | "
            f"{r['snippet_s']:.2f} s (update_grid {r['update_grid_s']:.2f} s) | | (< 3 s) |"
        )
    if "predict28" in rows:
        r = rows["predict28"]
        lines.append(
            f"| KANClassifier((64,)) 28x28: steady predict of 10k rows (first) | "
            f"{r['kan_steady_predict_s']:.3f} s ({r['kan_first_predict_s']:.3f} s) | "
            f"MLPClassifier {r['mlp_steady_predict_s']:.3f} s | "
            f"{r['kan_steady_predict_s'] / r['mlp_steady_predict_s']:.2f}x (<= 1x; "
            f"first < 1 s) |"
        )
    if "memory28" in rows:
        r = rows["memory28"]
        lines.append(
            f"| predict of 60k rows, batch_size=None: memory growth | "
            f"{r['default']['predict_growth_mb']:.0f} MB (eager kernels "
            f"{r['eager']['predict_growth_mb']:.0f} MB) | | (< 300 MB) |"
        )
    if "import" in rows:
        r = rows["import"]
        lines.append(
            f"| import sklearn_kan after torch, skorch, scikit-learn | "
            f"{r['sklearn_kan_import_s']:.2f} s | (those: {r['base_import_s']:.2f} s) | "
            f"(< 0.5 s) |"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
