"""Benchmark suite: sklearn-kan's KANs against an equal-parameter MLP and other KAN codes.

Everything is measured in ONE run, side by side, so that the ratios hold even on a
busy machine: candidates are timed in turn (interleaved), after warm-up, and each
number is the median of many repetitions. Ratios are ``time / time of the
equal-parameter MLP`` of the same configuration in the same run.

Sections (all on by default, pick some with ``--sections``):

``layers``
    Training step (forward + backward + Adam step) and forward pass of
    :class:`sklearn_kan.nn.KAN` for ``[784, 64, 10]`` and ``[49, 10, 10]`` at batch
    256 and 1024, against an MLP whose hidden width gives the same parameter count,
    an efficient-kan-style re-implementation (``_effkan.py``), the published KAN
    packages flashkan and inkan (their ``KANNetwork`` with defaults, if installed:
    ``pip install -e ".[bench]"``) and pykan (if installed). sklearn-kan is timed
    with its defaults (``kan``: the native kernels), with every feature tensor
    recomputed in the backward pass instead of kept (``kan_blocked``, the low-memory
    setting) and with the eager kernels (``kan_eager``, ``set_kernels("eager")``:
    what runs where no native kernel can be had).
``loop``
    What a user's own training loop feels: for each configuration of ``layers``, each
    model runs in a FRESH process (import, construction, kernel loading or
    compiling, first calls all included) for ``--loop-seconds`` (default 30) of
    training steps or forward passes; the figure is seconds per step over the whole
    loop, as a ratio to the MLP's own fresh-process loop. ``--busy`` runs two busy
    processes beside every loop; ``--loop-rounds R`` repeats every loop ``R`` times
    in turn and takes the median of the rounds' ratios.
``expansion``
    The feature expansion ``[silu(x), B_1..B_n]`` alone: native and eager kernels
    against the efficient-kan-style dense Cox-de Boor.
``conv``
    :class:`sklearn_kan.nn.KANConv2d` against ``torch.nn.Conv2d`` with the same
    parameter count, 28x28 inputs.
``fit``
    One ``KANClassifier.fit`` epoch on the 60,000 MNIST training rows against an
    equal-parameter MLP trained by skorch the same way (batch size, optimizer,
    learning rate, one epoch), so the estimator's overhead is in the figure.
``bases``
    Training step and forward pass of :class:`sklearn_kan.nn.KAN` with every basis of
    :data:`sklearn_kan.nn.BASES` (``--bases`` to pick some) for ``[784, 64, 10]`` and
    ``[49, 10, 10]`` at batch 256, against the equal-parameter MLP. Only B-splines
    have fused kernels; the other bases run their reference expansion and one product.
``memory``
    Peak memory of a training step, ``[784, 64, 10]`` at batch 1024, one fresh
    process per model (see :func:`memory_child` for the method).

Usage (from the repository root)::

    pip install -e ".[bench]" && python benchmarks/run.py
    python benchmarks/run.py --quick                 # a fast smoke run
    python benchmarks/run.py --device cuda           # on a GPU
    python benchmarks/run.py --sections layers fit   # some sections only
    python benchmarks/run.py --sections bases --bases gram fourier rational

Results are printed as tables and written as JSON to ``benchmarks/results/``
(``--out DIR`` to change).
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import datetime
import gc
import gzip
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

# The waiting policy that sklearn_kan sets when it is imported before torch (see
# sklearn_kan.nn.plan_threads); set here because this script imports torch first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _effkan import EffKAN, effkan_expand  # noqa: E402

from sklearn_kan.nn import BASES, KAN, _fused, kernel_info, set_kernels  # noqa: E402

GRID, ORDER = 5, 3
SECTIONS = ("expansion", "layers", "loop", "bases", "conv", "fit", "memory")
BASES_CONFIGS = [([784, 64, 10], 256), ([49, 10, 10], 256)]
LAYER_CONFIGS = [
    ([784, 64, 10], 1024),
    ([784, 64, 10], 256),
    ([49, 10, 10], 1024),
    ([49, 10, 10], 256),
]
# KANConv2d(in, out, 3) on (batch, in, 28, 28); the Conv2d gets as many parameters.
CONV_CONFIGS = [(1, 16, 256), (8, 16, 64)]


# -- timing -----------------------------------------------------------------------------


class Clock:
    """Wall-clock seconds of a call; on CUDA synchronised before and after."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def __call__(self, fn: Callable[[], object]) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        begin = time.perf_counter()
        fn()
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - begin


def interleaved(
    candidates: dict[str, Callable[[], object]],
    clock: Clock,
    reps: int,
    budget: float,
    warmup: int = 3,
    block: int = 5,
    settle: bool = True,
) -> dict[str, dict]:
    """Median seconds of every candidate, timed side by side in rounds.

    Each candidate runs ``warmup`` times first (the first call, which may prepare kernels,
    is reported as ``first_s``). Then, round after round, each candidate runs one
    untimed call (unless ``settle`` is false) and ``block`` timed ones in a row,
    until it has ``reps`` timings
    or has used ``budget`` seconds (slow candidates such as pykan get fewer
    repetitions, never fewer than 3). A block of consecutive steps is how a model
    trains; the untimed call absorbs what the previous candidate left behind
    (caches, and the allocator's state: another candidate's large buffers can make
    the next call page-fault its own back in). ``round_s`` holds the median of
    each round, for :func:`add_ratios`.
    """
    first = {}
    for name, fn in candidates.items():
        first[name] = clock(fn)
        for _ in range(warmup - 1):
            fn()
    estimate = {name: max(clock(fn), 1e-6) for name, fn in candidates.items()}
    target = {n: int(min(reps, max(3, budget / estimate[n]))) for n in candidates}
    times: dict[str, list[float]] = {n: [] for n in candidates}
    rounds: dict[str, list[float]] = {n: [] for n in candidates}
    while any(len(times[n]) < target[n] for n in candidates):
        for name, fn in candidates.items():
            todo = min(block, target[name] - len(times[name]))
            if todo <= 0:
                continue
            if settle:
                fn()
            got = [clock(fn) for _ in range(todo)]
            times[name].extend(got)
            rounds[name].append(statistics.median(got))
    return {
        n: {
            "median_s": statistics.median(t),
            "reps": len(t),
            "first_s": first[n],
            "times_s": t,
            "round_s": rounds[n],
        }
        for n, t in times.items()
    }


def add_ratios(res: dict[str, dict], base: str) -> None:
    """Set ``ratio`` (median time / the base's median time) and ``paired_ratio``.

    ``paired_ratio`` is the median, over rounds, of a candidate's round median
    divided by the base's in the same round: the two ran seconds apart, so a slow
    phase of a shared machine slows both and cancels out. It is the figure the
    tables and the summary quote; ``ratio`` is kept for comparison.
    """
    ref = res[base]
    for r in res.values():
        r["ratio"] = r["median_s"] / ref["median_s"]
        pairs = [t / b for t, b in zip(r["round_s"], ref["round_s"])]
        r["paired_ratio"] = statistics.median(pairs)


def kernels(mode: str, fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` run with sklearn-kan's CPU kernels set to ``mode`` (then the native ones)."""

    def run():
        set_kernels(mode)
        try:
            return fn()
        finally:
            set_kernels("native")

    return run


def blocked_features(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` run with every feature tensor blocked and recomputed in the backward pass
    (``FEATURE_KEEP = 0``): the low-memory setting of
    :data:`sklearn_kan.nn._fused.FEATURE_KEEP`."""

    def run():
        before = _fused.FEATURE_KEEP
        _fused.FEATURE_KEEP = 0
        try:
            return fn()
        finally:
            _fused.FEATURE_KEEP = before

    return run


# -- models -----------------------------------------------------------------------------


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def kan_params(widths: list[int]) -> int:
    return sum(a * b * (GRID + ORDER + 1) + b for a, b in zip(widths[:-1], widths[1:]))


def matched_mlp(widths: list[int]) -> nn.Module:
    """One-hidden-layer MLP with ``round((P - c) / (a + 1 + c))`` hidden units, the width
    that makes its ``a*h + h + h*c + c`` parameters closest to the KAN's ``P``."""
    a, c = widths[0], widths[-1]
    hidden = max(1, round((kan_params(widths) - c) / (a + 1 + c)))
    return nn.Sequential(nn.Linear(a, hidden), nn.ReLU(), nn.Linear(hidden, c))


def pykan_model(widths: list[int], device: torch.device):
    """pykan's KAN in its documented fast mode (``speed()``: no symbolic branch, no
    saved activations), or the reason it cannot be used."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from kan import KAN as PyKAN

            model = PyKAN(
                width=list(widths), grid=GRID, k=ORDER, seed=0, auto_save=False, device=device
            )
            model.speed()
        return model, None
    except Exception as exc:  # not installed, or fails: say why, skip the column
        return None, f"{type(exc).__name__}: {exc}"[:200]


PEERS = ("flashkan", "inkan")


def peer_model(name: str, widths: list[int]):
    """A published KAN package's ``KANNetwork`` with its defaults, or why there is none."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = __import__(name)
            return module.KANNetwork(list(widths), grid_size=GRID, spline_order=ORDER), None
    except Exception as exc:  # not installed, or fails: say why, skip the column
        return None, f"{type(exc).__name__}: {exc}"[:200]


def make_net(name: str, widths: list[int]) -> nn.Module | None:
    """Every candidate model of the layers and loop sections by name (None: unavailable)."""
    if name == "mlp":
        return matched_mlp(widths)
    if name.startswith("kan"):
        return KAN(widths, grid_size=GRID, spline_order=ORDER)
    if name == "effkan":
        return EffKAN(widths, GRID, ORDER)
    if name in PEERS:
        return peer_model(name, widths)[0]
    raise ValueError(f"unknown model {name!r}")


def train_step(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], object]:
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()

    return step


def forward_pass(net: nn.Module, x: torch.Tensor) -> Callable[[], object]:
    def fwd():
        with torch.no_grad():
            return net(x)

    return fwd


# -- sections ---------------------------------------------------------------------------


def bench_layers(args, device, clock) -> dict:
    results = {}
    for widths, batch in LAYER_CONFIGS:
        if args.quick and batch == 256 and widths[0] == 49:
            continue
        torch.manual_seed(0)
        x = (torch.rand(batch, widths[0], device=device) * 2 - 1).contiguous()
        y = torch.randint(0, widths[-1], (batch,), device=device)
        nets = {
            "mlp": matched_mlp(widths).to(device),
            "kan": KAN(widths, grid_size=GRID, spline_order=ORDER).to(device),
            "effkan": EffKAN(widths, GRID, ORDER).to(device),
        }
        nets["kan_eager"] = copy.deepcopy(nets["kan"])
        nets["kan_blocked"] = copy.deepcopy(nets["kan"])
        missing = {}
        for peer in PEERS:
            net, missing[peer] = peer_model(peer, widths)
            if net is not None:
                nets[peer] = net.to(device)
        pykan, why = (
            (None, "skipped (--no-pykan)") if args.no_pykan else pykan_model(widths, device)
        )
        if pykan is not None:
            nets["pykan"] = pykan
        key = f"{widths} b{batch}"
        entry = {"params": {n: n_params(m) for n, m in nets.items()}, "pykan": why, **missing}
        for mode, make in (("train", train_step), ("forward", None)):
            cands = {}
            for name, net in nets.items():
                fn = make(net, x, y) if make else forward_pass(net, x)
                if name == "kan_eager":
                    fn = kernels("eager", fn)
                elif name == "kan_blocked":
                    fn = blocked_features(fn)
                cands[name] = fn
            res = interleaved(cands, clock, args.reps, args.budget)
            add_ratios(res, "mlp")
            entry[mode] = res
        results[key] = entry
        print_row(key, entry)
    return results


LOOP_MODELS = ("mlp", "kan", *PEERS)
LOOP_CONFIGS = [
    ("train", [784, 64, 10], 1024),
    ("train", [784, 64, 10], 256),
    ("train", [49, 10, 10], 1024),
    ("forward", [784, 64, 10], 1024),
]
BUSY = "import time\nwhile True:\n    time.perf_counter()"


def loop_child(spec: str, device: torch.device, threads: int, seconds: float) -> dict:
    """A user's loop in this fresh process: ``name:mode:widths:batch`` for ``seconds``.

    Everything after the interpreter's start is in the figure: importing the model's
    package, building it (and its optimizer), preparing kernels (sklearn-kan's native
    library, flashkan's and inkan's ``torch.compile``) and the first calls.
    """
    begin = time.perf_counter()
    name, mode, widths, batch = spec.split(":")
    widths, batch = [int(w) for w in widths.split(",")], int(batch)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.rand(batch, widths[0], device=device) * 2 - 1
    y = torch.randint(0, widths[-1], (batch,), device=device)
    net = make_net(name, widths)
    if net is None:
        return {"model": name, "error": peer_model(name, widths)[1]}
    net = net.to(device)
    fn = train_step(net, x, y) if mode == "train" else forward_pass(net, x)
    clock = Clock(device)
    first = clock(fn)
    steps = 1
    while time.perf_counter() - begin < seconds:
        fn()
        steps += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - begin
    return {
        "model": name,
        "steps": steps,
        "seconds": total,
        "first_s": first,
        "per_step_s": total / steps,
    }


def _loop_run(spec: str, args, device) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--loop-child",
        spec,
        "--device",
        str(device),
        "--threads",
        str(args.threads),
        "--loop-seconds",
        str(args.loop_seconds),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"error": proc.stderr[-500:]}


def bench_loop(args, device) -> dict:
    """Fresh-process loops of every model (see the module docstring), quiet or busy.

    With ``--loop-rounds R`` every configuration runs ``R`` rounds of one loop per
    model, in turn (every other round in the reverse order), and a model's ratio is
    the median over rounds of its loop's time per step over the MLP's in the same
    round: on a busy machine one loop's figure moves by a third from one run to the
    next, a round's ratio less.
    """
    busy = []
    if args.busy:
        busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(2)]
    results = {}
    try:
        for mode, widths, batch in LOOP_CONFIGS:
            key = f"{mode} {widths} b{batch}"
            runs: dict[str, list[dict]] = {name: [] for name in LOOP_MODELS}
            for r in range(args.loop_rounds):
                order = LOOP_MODELS if r % 2 == 0 else LOOP_MODELS[::-1]
                for name in order:
                    spec = f"{name}:{mode}:{','.join(map(str, widths))}:{batch}"
                    runs[name].append(_loop_run(spec, args, device))
            entry = {}
            for name, done in runs.items():
                ok = [run for run in done if "per_step_s" in run]
                if len(ok) < len(done):
                    entry[name] = {"error": next(run for run in done if "per_step_s" not in run)}
                    continue
                entry[name] = {
                    "model": name,
                    "per_step_s": statistics.median(run["per_step_s"] for run in ok),
                    "first_s": statistics.median(run["first_s"] for run in ok),
                    "runs": ok,
                }
            base = entry["mlp"].get("runs")
            for value in entry.values():
                if base and "runs" in value:
                    value["ratio"] = statistics.median(
                        run["per_step_s"] / ref["per_step_s"]
                        for run, ref in zip(value["runs"], base, strict=True)
                    )
            results[key] = entry
            print(
                f"loop{' (busy)' if args.busy else ''} {key:28s} mlp "
                f"{entry['mlp'].get('per_step_s', float('nan')) * 1e3:7.2f} ms/step  "
                + "  ".join(
                    f"{n} {entry[n]['ratio']:.2f}x (first {entry[n]['first_s']:.2f} s)"
                    if "ratio" in entry[n]
                    else f"{n} n/a"
                    for n in LOOP_MODELS[1:]
                ),
                flush=True,
            )
    finally:
        for proc in busy:
            proc.kill()
    return results


def bench_bases(args, device, clock) -> dict:
    results = {}
    for widths, batch in BASES_CONFIGS:
        torch.manual_seed(0)
        x = (torch.rand(batch, widths[0], device=device) * 2 - 1).contiguous()
        y = torch.randint(0, widths[-1], (batch,), device=device)
        nets = {"mlp": matched_mlp(widths).to(device)}
        for basis in args.bases:
            nets[basis] = KAN(widths, grid_size=GRID, spline_order=ORDER, basis=basis).to(device)
        key = f"{widths} b{batch}"
        entry = {"params": {n: n_params(m) for n, m in nets.items()}}
        for mode, make in (("train", train_step), ("forward", None)):
            cands = {n: make(m, x, y) if make else forward_pass(m, x) for n, m in nets.items()}
            res = interleaved(cands, clock, args.reps, args.budget)
            add_ratios(res, "mlp")
            entry[mode] = res
            print(
                f"{key:18s} {mode:7s} mlp {res['mlp']['median_s'] * 1e3:8.2f} ms  "
                + "  ".join(f"{b} {res[b]['paired_ratio']:6.2f}x" for b in args.bases),
                flush=True,
            )
        results[key] = entry
    return results


def print_row(key: str, entry: dict) -> None:
    for mode in ("train", "forward"):
        res = entry[mode]
        cells = [f"{key:18s} {mode:7s} mlp {res['mlp']['median_s'] * 1e3:8.2f} ms"]
        for name in ("kan", "kan_blocked", "kan_eager", *PEERS, "effkan", "pykan"):
            cells.append(
                f"{name} {res[name]['paired_ratio']:6.2f}x" if name in res else f"{name}    n/a"
            )
        cells.append(f"(kan, ratio of medians {res['kan']['ratio']:.2f}x)")
        print("  ".join(cells), flush=True)


def bench_expansion(args, device, clock) -> dict:
    torch.manual_seed(0)
    x = torch.rand(1024, 784, device=device) * 2 - 1
    layer = KAN([784, 1], grid_size=GRID, spline_order=ORDER).layers[0].to(device)
    grid = layer.grid
    cands = {
        "effkan": lambda: effkan_expand(x, grid, ORDER),
        "eager": kernels("eager", lambda: _fused.expand_features(x, grid, ORDER)),
        "native": lambda: _fused.expand_features(x, grid, ORDER),
    }
    res = interleaved(cands, clock, args.reps, args.budget)
    base = res["effkan"]["median_s"]
    for r in res.values():
        r["speedup_vs_effkan"] = base / r["median_s"]
    print(
        "expansion (1024 x 784 -> 9 features): "
        + "  ".join(
            f"{n} {r['median_s'] * 1e3:.2f} ms ({r['speedup_vs_effkan']:.1f}x faster than effkan)"
            for n, r in res.items()
        ),
        flush=True,
    )
    return {"1024x784": res}


def bench_conv(args, device, clock) -> dict:
    try:
        from sklearn_kan.nn.layers import KANConv2d
    except ImportError as exc:
        msg = f"skipped: sklearn_kan.nn.layers.KANConv2d is not available ({exc})"
        print("conv:", msg)
        return {"skipped": msg}
    results = {}
    for c_in, c_out, batch in CONV_CONFIGS[:1] if args.quick else CONV_CONFIGS:
        torch.manual_seed(0)
        kan = KANConv2d(c_in, c_out, 3, padding=1, grid_size=GRID, spline_order=ORDER).to(device)
        p = n_params(kan)
        width = max(1, round(p / (c_in * 9 + 1)))
        conv = nn.Conv2d(c_in, width, 3, padding=1).to(device)
        x = torch.rand(batch, c_in, 28, 28, device=device) * 2 - 1
        nets = {"conv2d": conv, "kanconv": kan}
        key = f"KANConv2d({c_in},{c_out},3) b{batch} vs Conv2d({c_in},{width},3)"
        entry = {"params": {n: n_params(m) for n, m in nets.items()}}
        for mode in ("train", "forward"):
            cands = {}
            for name, net in nets.items():
                if mode == "train":
                    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

                    def step(net=net, opt=opt, x=x):
                        opt.zero_grad(set_to_none=True)
                        net(x).square().mean().backward()
                        opt.step()

                    cands[name] = step
                else:
                    cands[name] = forward_pass(net, x)
            res = interleaved(cands, clock, args.reps, args.budget)
            add_ratios(res, "conv2d")
            entry[mode] = res
            print(
                f"{key} {mode:7s} conv2d {res['conv2d']['median_s'] * 1e3:8.2f} ms  "
                f"kanconv {res['kanconv']['paired_ratio']:.2f}x",
                flush=True,
            )
        results[key] = entry
    return results


def load_mnist(directory: Path, n_rows: int | None = None):
    """MNIST training images (flattened, scaled to [0, 1]) and labels from the IDX .gz files."""

    def read(name: str, offset: int) -> np.ndarray:
        with gzip.open(directory / name, "rb") as fh:
            return np.frombuffer(fh.read(), dtype=np.uint8, offset=offset)

    images = read("train-images-idx3-ubyte.gz", 16).reshape(-1, 784)
    labels = read("train-labels-idx1-ubyte.gz", 8).astype(np.int64)
    if n_rows is not None:
        images, labels = images[:n_rows], labels[:n_rows]
    return images.astype(np.float32) / 255.0, labels


def bench_fit(args, device, clock) -> dict:
    directory = Path(args.mnist)
    if not (directory / "train-images-idx3-ubyte.gz").exists():
        msg = f"skipped: no MNIST IDX files in {directory} (pass --mnist DIR)"
        print("fit:", msg)
        return {"skipped": msg}
    from skorch import NeuralNetClassifier

    from sklearn_kan import KANClassifier

    X, y = load_mnist(directory, 10_000 if args.quick else None)
    dev = device.type
    common = {"batch_size": 128, "max_epochs": 1, "lr": 1e-2}
    widths = [784, 64, 10]

    def kan():
        return KANClassifier(hidden_layer_sizes=(64,), random_state=0, device=dev, **common).fit(
            X, y
        )

    def skorch_mlp(**iterator):
        torch.manual_seed(0)
        return NeuralNetClassifier(
            matched_mlp(widths),
            criterion=nn.CrossEntropyLoss,
            optimizer=torch.optim.Adam,
            iterator_train__shuffle=True,
            train_split=None,
            device=dev,
            verbose=0,
            **iterator,
            **common,
        ).fit(X, y)

    def mlp():
        return skorch_mlp()

    def mlp_batch_loader():
        # The same MLP fed by the estimators' loader (one take of the arrays per
        # batch, same batches): separates what the loader saves from the layers.
        from sklearn_kan._base import _batch_iterator

        return skorch_mlp(iterator_train=_batch_iterator)

    reps = 2 if args.quick else 3
    res = interleaved(
        {"mlp": mlp, "mlp_batch_loader": mlp_batch_loader, "kan": kan},
        clock,
        reps,
        budget=1e9,
        warmup=1,
        block=1,  # a fit is itself an epoch of consecutive steps
        settle=False,
    )
    add_ratios(res, "mlp")
    ratio = res["kan"]["paired_ratio"]
    pairs = zip(res["kan"]["round_s"], res["mlp_batch_loader"]["round_s"])
    same_loader = statistics.median(k / m for k, m in pairs)
    res["kan"]["paired_ratio_to_mlp_batch_loader"] = same_loader
    print(
        f"fit one epoch on {len(X)} MNIST rows: skorch MLP {res['mlp']['median_s']:.2f} s, "
        f"KANClassifier {res['kan']['median_s']:.2f} s ({ratio:.2f}x); skorch MLP with "
        f"the estimators' batch loader {res['mlp_batch_loader']['median_s']:.2f} s "
        f"(KANClassifier {same_loader:.2f}x that)",
        flush=True,
    )
    return {f"{len(X)} rows": res}


# -- memory -----------------------------------------------------------------------------


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def memory_child(name: str, device: torch.device, threads: int) -> dict:
    """Peak memory of a training step of ``name`` in this (fresh) process.

    Method, CPU (Linux): build the inputs, the model and the optimizer, run three
    warm-up steps (kernels loaded, gradients and optimizer state allocated,
    allocator warm), hand freed heap back to the OS (``malloc_trim``), reset the
    peak resident set size (writing ``5`` to ``/proc/self/clear_refs`` resets
    ``VmHWM``), run three more steps and read the peak again:
    ``step_peak = VmHWM - VmRSS before the steps``, the memory that a training
    step needs on top of the model, its gradients and the optimizer state (equal
    for the KAN and its MLP: same parameter count). Doing it after the warm-up
    keeps one-off allocations out of the figure. :func:`bench_memory` runs
    each child with glibc's ``MALLOC_MMAP_THRESHOLD_=65536``, so that resident
    memory follows the live tensors (large blocks are mapped when allocated and
    unmapped when freed) instead of the allocator's caching history. Without ``/proc`` it falls
    back to the ``ru_maxrss`` growth over the same steps. CUDA:
    ``max_memory_allocated`` during the steps less ``memory_allocated`` before.

    The figure compared (``total``) adds what every training process holds besides:
    parameters, gradients and Adam's two moments, ``4 * parameter bytes`` (equal for
    models of equal size). It is what the ``ru_maxrss`` growth over a process that
    only builds the inputs measures, without one-off allocations and the
    allocator's caching. The step peak alone is reported too.
    """
    torch.set_num_threads(threads)
    widths, batch = [784, 64, 10], 1024
    torch.manual_seed(0)
    x = torch.rand(batch, widths[0], device=device) * 2 - 1
    y = torch.randint(0, widths[-1], (batch,), device=device)
    if name.startswith("kan"):
        net = KAN(widths, grid_size=GRID, spline_order=ORDER)
        set_kernels("eager" if name == "kan_eager" else "native")
        if name == "kan_blocked":
            _fused.FEATURE_KEEP = 0
    elif name == "effkan":
        net = EffKAN(widths, GRID, ORDER)
    else:
        net = matched_mlp(widths)
    net = net.to(device)
    step = train_step(net, x, y)
    # Parameters, their gradients and Adam's two moments: what a training process holds
    # besides the step's own working memory (the same for models of equal size).
    persistent = 4 * sum(p.numel() * p.element_size() for p in net.parameters())
    out = {"model": name, "params": n_params(net), "persistent_bytes": persistent}
    if device.type == "cuda":
        for _ in range(3):
            step()
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        for _ in range(3):
            step()
        torch.cuda.synchronize()
        out["step_peak_bytes"] = torch.cuda.max_memory_allocated() - before
        out["method"] = "cuda max_memory_allocated - memory_allocated before the steps"
        return out
    try:
        libc = ctypes.CDLL("libc.so.6")
        for _ in range(3):
            step()
        gc.collect()
        libc.malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        rss = _rss_kib("VmRSS")
        for _ in range(3):
            step()
        out["step_peak_bytes"] = (_rss_kib("VmHWM") - rss) * 1024
        out["method"] = "VmHWM after clear_refs - VmRSS before three steps (Linux)"
    except OSError:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for _ in range(6):
            step()
        out["step_peak_bytes"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024
        out["method"] = "ru_maxrss growth over the inputs (no /proc)"
    return out


def bench_memory(args, device) -> dict:
    results = {}
    names = ["mlp", "kan", "kan_blocked", "kan_eager", "effkan"]
    for name in names:
        cmd = [sys.executable, __file__, "--memory-child", name, "--device", str(device)]
        cmd += ["--threads", str(args.threads)]
        # glibc would otherwise keep freed large blocks in its heap or map them afresh
        # depending on its history, so that resident memory would not follow the live
        # tensors; with a fixed mmap threshold every large tensor is mapped when made
        # and unmapped when freed. The same setting for every model.
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        try:
            results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            results[name] = {"error": proc.stderr[-1000:]}
    for r in results.values():
        if "step_peak_bytes" in r:
            r["total_bytes"] = r["persistent_bytes"] + r["step_peak_bytes"]
    base = results.get("mlp", {})
    for r in results.values():
        if base.get("total_bytes") and "total_bytes" in r:
            r["ratio"] = r["total_bytes"] / base["total_bytes"]
            r["step_ratio"] = r["step_peak_bytes"] / base["step_peak_bytes"]
    print(
        "memory, training step [784, 64, 10] b1024 (parameters + gradients + Adam state "
        "+ step peak; step peak alone in brackets):"
    )
    for n, r in results.items():
        if "total_bytes" not in r:
            print(f"  {n:10s} failed: {r.get('error', '')[-300:]}")
            continue
        print(
            f"  {n:10s} {r['total_bytes'] / 2**20:7.1f} MiB ({r['ratio']:.2f}x)   "
            f"[{r['step_peak_bytes'] / 2**20:6.1f} MiB ({r['step_ratio']:.2f}x)]",
            flush=True,
        )
    return results


# -- main -------------------------------------------------------------------------------


def machine(device: torch.device, threads: int) -> dict:
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": threads,
        "device": str(device),
        "cpu_count": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo") as fh:
            info["cpu"] = next(ln.split(":", 1)[1].strip() for ln in fh if "model name" in ln)
        info["loadavg_start"] = os.getloadavg()
    except (OSError, StopIteration):
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def summary(results: dict) -> list[tuple[str, float | None, float]]:
    """The bounds the layers are held to: (what, measured ratio, bound)."""
    rows = []
    layers = results.get("layers", {})

    def ratio(key, mode, name="kan"):
        try:
            return layers[key][mode][name]["paired_ratio"]
        except KeyError:
            return None

    big, small = "[784, 64, 10] b1024", "[49, 10, 10] b1024"
    if "layers" in results:  # rows of the sections that ran only
        rows.append(("train [784,64,10] b1024", ratio(big, "train"), 1.4))
        rows.append(("train [784,64,10] b256", ratio("[784, 64, 10] b256", "train"), 1.4))
        rows.append(("forward [784,64,10] b1024", ratio(big, "forward"), 1.6))
        rows.append(("eager train [784,64,10] b1024", ratio(big, "train", "kan_eager"), 2.5))
        b256 = ratio("[784, 64, 10] b256", "train", "kan_eager")
        rows.append(("eager train [784,64,10] b256", b256, 2.5))
        rows.append(("eager forward [784,64,10] b1024", ratio(big, "forward", "kan_eager"), 4.0))
    for key, entry in results.get("loop", {}).items():
        kan = entry.get("kan", {}).get("ratio")
        if "[784, 64, 10]" in key:  # the bounds of the user's loop
            rows.append((f"loop {key}", kan, 1.6 if key.startswith("forward") else 1.4))
        peers = [entry[p]["ratio"] for p in PEERS if "ratio" in entry.get(p, {})]
        if kan is not None and peers:
            rows.append((f"loop {key}: kan / best peer", kan / min(peers), 1.0))
    if small in layers:
        rows.append(("train [49,10,10] b1024", ratio(small, "train"), 2.0))
    if "fit" in results:
        fit = next(iter(results["fit"].values()), {})
        fit = fit if isinstance(fit, dict) else {}
        rows.append(("KANClassifier.fit epoch", fit.get("kan", {}).get("paired_ratio"), 1.6))
    if "memory" in results:
        mem = results["memory"].get("kan", {})
        rows.append(("peak memory train b1024", mem.get("ratio"), 3.0))
    exp = results.get("expansion", {}).get("1024x784", {})
    if "eager" in exp:
        rows.append(
            ("eager expansion speedup vs effkan (>=)", exp["eager"]["speedup_vs_effkan"], 3.0)
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--reps", type=int, default=None, help="timings per candidate")
    parser.add_argument("--budget", type=float, default=None, help="seconds per candidate")
    parser.add_argument("--no-pykan", action="store_true", help="skip the pykan column")
    parser.add_argument(
        "--bases",
        nargs="+",
        choices=sorted(BASES),
        default=sorted(BASES),
        help="bases timed by the bases section (default: all)",
    )
    parser.add_argument(
        "--mnist",
        default=os.environ.get("SKLEARN_KAN_MNIST", str(HERE.parent.parent / "shared/data/mnist")),
        help="folder with the MNIST IDX .gz files (default ../shared/data/mnist)",
    )
    parser.add_argument("--out", default=str(HERE / "results"), help="folder for the JSON")
    parser.add_argument(
        "--loop-seconds",
        type=float,
        default=30.0,
        help="seconds of each fresh-process loop of the loop section",
    )
    parser.add_argument(
        "--loop-rounds",
        type=int,
        default=1,
        help="rounds of fresh-process loops per configuration; ratios are medians over rounds",
    )
    parser.add_argument(
        "--busy", action="store_true", help="run two busy processes beside the loop section"
    )
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--loop-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda was requested but CUDA is not available")
    torch.set_num_threads(args.threads)
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, device, args.threads)))
        return 0
    if args.loop_child:
        child = loop_child(args.loop_child, device, args.threads, args.loop_seconds)
        print(json.dumps(child))
        return 0
    args.reps = args.reps or (5 if args.quick else 40)
    args.budget = args.budget or (0.5 if args.quick else 3.0)
    clock = Clock(device)
    results: dict = {"machine": machine(device, args.threads), "args": vars(args)}
    print(
        f"sklearn-kan benchmarks on {results['machine'].get('cpu', '?')}, device {device}, "
        f"{args.threads} threads, torch {torch.__version__}",
        flush=True,
    )
    if "expansion" in args.sections:
        results["expansion"] = bench_expansion(args, device, clock)
    if "layers" in args.sections:
        results["layers"] = bench_layers(args, device, clock)
    if "loop" in args.sections:
        results["loop"] = bench_loop(args, device)
    if "bases" in args.sections:
        results["bases"] = bench_bases(args, device, clock)
    if "conv" in args.sections:
        results["conv"] = bench_conv(args, device, clock)
    if "fit" in args.sections:
        results["fit"] = bench_fit(args, device, clock)
    if "memory" in args.sections:
        results["memory"] = bench_memory(args, device)
    if hasattr(os, "getloadavg"):
        results["machine"]["loadavg_end"] = os.getloadavg()
    results["kernels"] = kernel_info()
    results["summary"] = [
        {
            "what": w,
            "ratio": r,
            "bound": t,
            "met": None if r is None else (r >= t if "speedup" in w else r <= t),
        }
        for w, r, t in summary(results)
    ]
    print("\nsummary (ratio to the equal-parameter MLP, same run, against its bound):")
    for row in results["summary"]:
        r = row["ratio"]
        status = "n/a" if r is None else ("within" if row["met"] else "OVER")
        print(
            f"  {row['what']:42s} {'n/a' if r is None else f'{r:.2f}x':>8s}  "
            f"bound {row['bound']}x  {status}"
        )
    print("kernels:", json.dumps(results["kernels"]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = out / f"bench-{device.type}-{stamp}.json"
    path.write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
