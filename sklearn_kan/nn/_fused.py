"""Fused B-spline edge features: the fast path behind :func:`~sklearn_kan.nn.basis.expand`.

A KAN layer spends its time writing the features ``[silu(x), B_1(x), .., B_n(x)]``
of every input and multiplying them by its weights. This module writes those
features in one pass into one buffer and computes their input gradient from ``x``
alone, so that nothing but ``x`` is kept for the backward pass:

* **Uniform grids** (every grid the layers create; ``extend_grid`` keeps them
  uniform) use the closed form of the cardinal B-spline: with ``u = (x - t_0) / h``,
  ``B_j(x) = N_k(u - j)``. For the cubic case the symmetric form
  ``N_3(s) = ((2 - r)_+^3 - 4 (1 - r)_+^3) / 6``, ``r = |s - 2|``, needs no
  interval search at all; other orders use the local Cox-de Boor recursion on
  the interval that holds ``u``, where uniform knots make every ratio a
  constant.
* **Other grids** (after ``update_grid`` placed knots on the data) use the exact
  local Cox-de Boor recursion of :func:`~sklearn_kan.nn.basis.bspline`.

The features are laid out *feature-major*, ``(rows, n + 1, in)``: every feature
of all inputs is a contiguous row, so each one is written with full-width
vector stores. :class:`~sklearn_kan.nn.KANLinear` stores its weight in the
matching order, so the product reads it in place.

The uniform kernels run through ``torch.compile`` where that works (one fused
loop, no temporaries) and otherwise eagerly (a handful of whole-tensor ops and
one ``scatter_add``). Compilation is lazy, once per process and kernel (the
shapes are dynamic, so a new batch size or width does not recompile), and only
for tensors large enough to repay it. Control it with the environment variable
``SKLEARN_KAN_COMPILE`` (``auto``, the default; ``1`` always; ``0`` never) or
:func:`set_compile`. A failure to compile is reported once as a warning and the
eager kernels are used from then on.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
import weakref
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["compile_info", "expand_features", "grid_spacing", "kan_linear", "set_compile"]

# Below this many inputs (rows * in), a fused loop saves less than one compile costs
# for a short fit, so small problems (and the test suite) never wait for a compiler.
AUTO_COMPILE_MIN_NUMEL = 1 << 15

_MODES = {"auto": "auto", "1": "always", "true": "always", "always": "always", "on": "always"}
_MODES.update({"0": "never", "false": "never", "never": "never", "off": "never"})


class _State:
    """Process-wide compile state (one per process, like the compiled kernels)."""

    mode: str = _MODES.get(os.environ.get("SKLEARN_KAN_COMPILE", "auto").strip().lower(), "auto")
    failed: str | None = None  # why compiling failed, once it has
    standalone_failed: str | None = None  # why inductor's standalone compile failed
    onednn_failed: str | None = None  # why oneDNN's linear could not be used
    kernels: dict = {}
    compile_seconds: dict = {}


def set_compile(mode: bool | str = "auto") -> None:
    """Choose when the fused B-spline kernels are compiled with ``torch.compile``.

    Parameters
    ----------
    mode : bool or {"auto", "always", "never"}, default="auto"
        ``"auto"`` compiles for inputs of at least :data:`AUTO_COMPILE_MIN_NUMEL`
        elements (a compile takes seconds; it pays off on large batches),
        ``True`` / ``"always"`` for every input, ``False`` / ``"never"`` never
        (the eager kernels, exact to the same tolerance, are used). Overrides the
        ``SKLEARN_KAN_COMPILE`` environment variable. Setting a mode clears a
        remembered compile failure, so that ``"always"`` tries again.
    """
    key = str(mode).strip().lower() if not isinstance(mode, bool) else str(int(mode))
    if key not in _MODES:
        raise ValueError(f"mode must be True, False, 'auto', 'always' or 'never', got {mode!r}.")
    _State.mode = _MODES[key]
    _State.failed = _State.standalone_failed = None


def compile_info() -> dict:
    """What the compile switch is set to, whether compiling failed, and what it cost.

    Returns
    -------
    dict
        ``mode``, ``failed`` (the error, or ``None``), ``standalone_failed`` (why
        inductor's standalone compile was not used on the CPU, where
        ``torch.compile`` then serves instead), ``onednn_failed`` (why large
        products do not run on oneDNN's linear), ``compile_seconds`` (the
        first call of each compiled kernel, which includes compiling it).
    """
    return {
        "mode": _State.mode,
        "failed": _State.failed,
        "standalone_failed": _State.standalone_failed,
        "onednn_failed": _State.onednn_failed,
        "compile_seconds": dict(_State.compile_seconds),
    }


# -- grids ---------------------------------------------------------------------------


class _Spacing(NamedTuple):
    start: Tensor  # (in,) first knot t_0 of every input
    inv_step: Tensor  # (in,) 1 / h


# id(grid) -> (weak reference, version, spacing or None). Grids are small, but checking
# them on every call would cost a reduction (and on CUDA a synchronisation) per layer
# and step. Keyed by id, not by the tensor: tensors compare elementwise.
_SPACING_CACHE: dict[int, tuple[weakref.ref, int, _Spacing | None]] = {}


def grid_spacing(grid: Tensor) -> _Spacing | None:
    """``(t_0, 1 / h)`` per input if every knot vector of ``grid`` is uniform, else None.

    A knot vector counts as uniform when every knot lies within a few units in
    the last place of ``t_0 + m h`` (so the closed form is exact to rounding).
    A float32 grid converted to float64 is not uniform at float64 precision and
    takes the general kernels, which evaluate the knots it holds exactly.

    Parameters
    ----------
    grid : Tensor of shape (in, n_knots)

    Returns
    -------
    tuple of Tensor of shape (in,), or None
    """
    if torch.is_inference_mode_enabled():
        # Tensors made here would be inference tensors, which a later training
        # step cannot save for backward: compute without caching.
        return _spacing(grid)
    try:
        version = grid._version
    except RuntimeError:  # inference tensors have no version counter: do not cache
        return _spacing(grid)
    key = id(grid)
    hit = _SPACING_CACHE.get(key)
    if hit is not None and hit[0]() is grid and hit[1] == version:
        return hit[2]
    spacing = _spacing(grid)
    ref = weakref.ref(grid, lambda _, key=key: _SPACING_CACHE.pop(key, None))
    _SPACING_CACHE[key] = (ref, version, spacing)
    return spacing


def _spacing(grid: Tensor) -> _Spacing | None:
    if grid.dim() != 2 or grid.shape[1] < 2 or not grid.is_floating_point():
        return None
    with torch.no_grad():
        g = grid.detach()
        m = g.shape[1] - 1
        start, stop = g[:, 0], g[:, -1]
        step = (stop - start) / m
        ideal = start.unsqueeze(1) + step.unsqueeze(1) * torch.arange(
            m + 1, device=g.device, dtype=g.dtype
        )
        scale = g.abs().amax(1).clamp_min(step.abs())
        tol = 8 * torch.finfo(g.dtype).eps * scale
        ok = bool(((g - ideal).abs().amax(1) <= tol).all()) and bool((step > 0).all())
    if not ok:
        return None
    return _Spacing(start.contiguous(), (1.0 / step).contiguous())


# -- kernels (pure torch: compiled by inductor or run eagerly) ------------------------


def _local_uniform(t: Tensor, order: int) -> list[Tensor]:
    """The ``order + 1`` non-zero B-splines on a uniform knot interval, ``t`` in [0, 1).

    Value ``r`` belongs to the function that starts ``order - r`` intervals to the
    left. Cox-de Boor with unit knot spacing: every ratio is ``(t + d - r) / d`` or
    ``(r + 1 - t) / d``.
    """
    if order == 3:  # the closed form: fewer operations than the recursion
        omt = 1 - t
        t2 = t * t
        t3 = t2 * t
        return [
            omt * omt * omt * (1 / 6),
            0.5 * t3 - t2 + 2 / 3,
            (-3 * t3 + 3 * t2 + 3 * t + 1) * (1 / 6),
            t3 * (1 / 6),
        ]
    vals = [torch.ones_like(t)]
    for d in range(1, order + 1):
        new = []
        for r in range(d + 1):
            acc = None
            if r >= 1:
                acc = (t + (d - r)) * vals[r - 1]
            if r < d:
                term = ((r + 1) - t) * vals[r]
                acc = term if acc is None else acc + term
            new.append(acc * (1.0 / d))
        vals = new
    return vals


def _local_uniform_derivative(t: Tensor, order: int) -> list[Tensor]:
    """``d/du`` of the values of :func:`_local_uniform` (unit knot spacing)."""
    if order == 0:
        return [torch.zeros_like(t)]
    w = _local_uniform(t, order - 1)
    zero = torch.zeros_like(t)
    return [
        (w[r - 1] if r >= 1 else zero) - (w[r] if r < order else zero) for r in range(order + 1)
    ]


def _select_local(fl: Tensor, vals: list[Tensor], j: int, order: int) -> Tensor:
    # Function j gets local value r when its interval is j + order - r.
    acc = torch.zeros_like(fl)
    for r in range(order + 1):
        acc = torch.where(fl == (j + order - r), vals[r], acc)
    return acc


def _uniform_forward_kernel(x: Tensor, start: Tensor, inv_step: Tensor, n: int, order: int):
    """Features ``(rows, n + 1, in)`` as one expression, for ``torch.compile`` to fuse."""
    u = (x - start) * inv_step
    cols = [F.silu(x)]
    if order == 3:
        for j in range(n):
            r = (u - (j + 2)).abs()
            q = (2 - r).clamp_min(0)
            p = (1 - r).clamp_min(0)
            cols.append((q * q * q - 4 * (p * p * p)) * (1 / 6))
    else:
        fl = torch.floor(u)
        vals = _local_uniform(u - fl, order)
        cols.extend(_select_local(fl, vals, j, order) for j in range(n))
    return torch.stack(cols, 1)


def _uniform_backward_kernel(
    x: Tensor, grad: Tensor, start: Tensor, inv_step: Tensor, n: int, order: int
):
    """Input gradient from the feature gradient ``grad`` (rows, n + 1, in), recomputed from x."""
    sig = torch.sigmoid(x)
    acc = grad[:, 0] * (sig * (1 + x * (1 - sig)))
    u = (x - start) * inv_step
    spline = torch.zeros_like(x)
    if order == 3:
        for j in range(n):
            s = u - (j + 2)
            r = s.abs()
            q = (2 - r).clamp_min(0)
            p = (1 - r).clamp_min(0)
            spline = spline + grad[:, 1 + j] * ((2 * (p * p) - 0.5 * (q * q)) * torch.sign(s))
    elif order > 0:
        fl = torch.floor(u)
        vals = _local_uniform_derivative(u - fl, order)
        for j in range(n):
            spline = spline + grad[:, 1 + j] * _select_local(fl, vals, j, order)
    return acc + spline * inv_step


def _local_positions(x: Tensor, start: Tensor, inv_step: Tensor, n: int, order: int):
    """Interval fraction, and where the local values go (positions and validity)."""
    u = (x - start) * inv_step
    fl = torch.floor(u)
    t = u - fl
    # Clamped before the integer cast so that huge or infinite inputs stay defined;
    # -1 and n + order are both outside every function's support.
    idx = fl.clamp_(-1, n + order).to(torch.long)
    pos = idx.unsqueeze(1) + torch.arange(-order, 1, device=x.device).unsqueeze(1)
    valid = (pos >= 0) & (pos < n)
    return t, pos.clamp_(0, n - 1), valid


def _uniform_forward_eager(x: Tensor, start: Tensor, inv_step: Tensor, n: int, order: int):
    """Same features as :func:`_uniform_forward_kernel` in whole-tensor ops plus one scatter."""
    out = x.new_empty(x.shape[0], n + 1, x.shape[1])
    torch.mul(x, torch.sigmoid(x), out=out[:, 0])
    basis = out[:, 1:]
    basis.zero_()
    t, pos, valid = _local_positions(x, start, inv_step, n, order)
    local = torch.stack(_local_uniform(t, order), 1).masked_fill_(~valid, 0)
    basis.scatter_add_(1, pos, local)
    return out


def _uniform_backward_eager(
    x: Tensor, grad: Tensor, start: Tensor, inv_step: Tensor, n: int, order: int
):
    sig = torch.sigmoid(x)
    acc = grad[:, 0] * (sig * (1 + x * (1 - sig)))
    if order == 0:
        return acc
    t, pos, valid = _local_positions(x, start, inv_step, n, order)
    deriv = torch.stack(_local_uniform_derivative(t, order), 1)
    local_grad = torch.gather(grad[:, 1:], 1, pos).masked_fill_(~valid, 0)
    return acc + (local_grad * deriv).sum(1) * inv_step


def _general_forward_kernel(x: Tensor, knots: Tensor, recips: Tensor, n: int, order: int):
    """Features ``(rows, n + 1, in)`` on any knots, Cox-de Boor written out for ``torch.compile``.

    ``knots`` is ``(n_knots, in)``; ``recips[d, m]`` is ``1 / (t_{m+d} - t_m)`` (0 for
    repeated knots, the usual 0/0 = 0 convention). Every level of the recursion is a
    list of ``(rows, in)`` expressions, so the compiled loop computes each once per
    input and keeps it in registers.
    """
    b = [((x >= knots[m]) & (x < knots[m + 1])).to(x.dtype) for m in range(n + order)]
    for d in range(1, order + 1):
        b = [
            (x - knots[m]) * recips[d, m] * b[m]
            + (knots[m + d + 1] - x) * recips[d, m + 1] * b[m + 1]
            for m in range(len(b) - 1)
        ]
    return torch.stack([F.silu(x), *b], 1)


def _general_backward_kernel(
    x: Tensor, grad: Tensor, knots: Tensor, recips: Tensor, n: int, order: int
):
    """Input gradient on any knots: ``B'_{j,k} = k (B_{j,k-1} / (t_{j+k} - t_j) - ...)``."""
    sig = torch.sigmoid(x)
    acc = grad[:, 0] * (sig * (1 + x * (1 - sig)))
    if order == 0:
        return acc
    b = [((x >= knots[m]) & (x < knots[m + 1])).to(x.dtype) for m in range(n + order)]
    for d in range(1, order):
        b = [
            (x - knots[m]) * recips[d, m] * b[m]
            + (knots[m + d + 1] - x) * recips[d, m + 1] * b[m + 1]
            for m in range(len(b) - 1)
        ]
    spline = torch.zeros_like(x)
    for j in range(n):
        deriv = recips[order, j] * b[j] - recips[order, j + 1] * b[j + 1]
        spline = spline + grad[:, 1 + j] * deriv
    return acc + spline * order


def _general_tables(grid: Tensor, order: int) -> tuple[Tensor, Tensor]:
    """Knots ``(n_knots, in)`` and safe reciprocal knot spans ``(order + 1, n_knots, in)``."""
    knots = grid.detach().t().contiguous()
    recips = knots.new_zeros(order + 1, *knots.shape)
    for d in range(1, order + 1):
        span = knots[d:] - knots[:-d]
        recips[d, : span.shape[0]] = torch.where(
            span > 0, 1 / torch.where(span > 0, span, torch.ones_like(span)), 0.0
        )
    return knots, recips


# -- compile ------------------------------------------------------------------------


# Kernels compiled by inductor's standalone compile (CPU, uniform grids), keyed by
# (kernel, dtype, n, order). Calling one skips torch.compile's frame evaluation and
# guards: measured 17 us instead of 39 us for a tiny input, 138 us instead of 207 us
# for (128, 784), on a path taken two to three times per training step.
_STANDALONE_KERNELS = ("uniform", "uniform_backward")
# Sizes of the traced example rows and inputs: distinct from each other and from the
# n + 1 features, so that tracing gives each its own symbol (equal sizes would be
# traced as one, and the kernel would assume them equal).
_EXAMPLE_SIZES = (67, 71, 73)
_COMPILE_LOCK = threading.Lock()


def _standalone_compile():
    """``torch._inductor.standalone_compile`` where this torch has it, else None."""
    if _State.standalone_failed is not None:
        return None
    try:
        from torch._inductor import standalone_compile
        from torch.fx.experimental.proxy_tensor import make_fx
    except ImportError:
        return None
    return standalone_compile, make_fx


def _standalone(name: str, fn, dtype: torch.dtype, consts: tuple):
    """Inductor's standalone compile of ``fn`` for ``dtype`` and the trailing
    ``consts`` ``(n, order)`` of its arguments, or None."""
    key = (name, dtype, consts)
    kernel = _State.kernels.get(key)
    if kernel is not None:
        return kernel
    with _COMPILE_LOCK:  # threads (joblib's threading backend) compile it once
        kernel = _State.kernels.get(key)
        if kernel is None:
            kernel = _standalone_build(name, fn, consts, dtype)
            if kernel is not None:
                _State.kernels[key] = kernel
    return kernel


def _standalone_build(name: str, fn, consts: tuple, dtype: torch.dtype):
    tools = _standalone_compile()
    if tools is None:
        return None
    standalone_compile, make_fx = tools
    n = consts[0]
    rows, cols = [size for size in _EXAMPLE_SIZES if size != n + 1][:2]
    if name == "uniform":
        shapes = [(rows, cols), (cols,), (cols,)]
    else:  # uniform_backward: x, grad of the features, start, inv_step
        shapes = [(rows, cols), (rows, n + 1, cols), (cols,), (cols,)]

    def kernel_fn(*inputs):
        return fn(*inputs, *consts)

    try:
        with torch.inference_mode(False), torch.no_grad():
            examples = [torch.rand(shape, dtype=dtype) for shape in shapes]
            graph = make_fx(kernel_fn, tracing_mode="symbolic")(*examples)
            kernel = standalone_compile(graph, examples, dynamic_shapes="from_graph")
            # Checked once against the eager expression on other sizes than traced.
            probe = [torch.rand(shape, dtype=dtype) for shape in _probe_shapes(shapes)]
            torch.testing.assert_close(kernel(*probe), kernel_fn(*probe))
    except Exception as exc:  # torch.compile (below) is tried next
        _State.standalone_failed = f"{type(exc).__name__}: {exc}".strip()[:500]
        return None
    return kernel


def _probe_shapes(shapes: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    rows, cols = shapes[0]
    return [tuple({rows: 5, cols: 3}.get(size, size) for size in shape) for shape in shapes]


def _compiled(name: str, fn):
    kernel = _State.kernels.get(name)
    if kernel is None:
        # dynamic=True: one graph for every batch size and width; only the grid size
        # and order (Python ints that shape the loop) are specialised.
        kernel = torch.compile(fn, dynamic=True)
        _State.kernels[name] = kernel
    return kernel


def _is_compiling() -> bool:
    # torch.compiler.is_compiling exists from torch 2.3 on; older versions trace nothing here.
    check = getattr(getattr(torch, "compiler", None), "is_compiling", None)
    return bool(check is not None and check())


def _use_compiled(x: Tensor, name: str) -> bool:
    if _State.failed is not None or _State.mode == "never":
        return False
    if x.device.type not in ("cpu", "cuda") or _is_compiling():
        return False  # inside a user's torch.compile the eager kernels are traced and fused
    if _State.mode == "auto" and x.numel() < AUTO_COMPILE_MIN_NUMEL:
        # Small inputs use a kernel that a large one already paid for (the shapes are
        # dynamic; a backward kernel goes with its forward one), except sizes 0 and 1,
        # which torch.compile specialises (a recompile).
        forward = name.removesuffix("_backward")
        done = _State.compile_seconds
        return min(x.shape) > 1 and (
            (name, x.device.type, x.dtype) in done or (forward, x.device.type, x.dtype) in done
        )
    return True


def _run(name: str, compiled_fn, eager_fn, *args) -> Tensor:
    """Run the compiled kernel if allowed and working, else the eager one."""
    # Detached: the kernels never need autograd, and torch.compile would otherwise
    # compile a second graph for inputs that require grad (hidden layers).
    args = tuple(a.detach() if isinstance(a, Tensor) else a for a in args)
    x = args[0]
    if _use_compiled(x, name):
        key = (name, x.device.type, x.dtype)
        first = key not in _State.compile_seconds
        begin = time.perf_counter()
        try:
            kernel = None
            if name in _STANDALONE_KERNELS and x.device.type == "cpu" and min(x.shape) > 1:
                # Every kernel takes its tensors, then the ints (n, order).
                kernel = _standalone(name, compiled_fn, x.dtype, args[-2:])
            if kernel is not None:
                out = kernel(*args[:-2])
            else:
                out = _compiled(name, compiled_fn)(*args)
        except Exception as exc:  # any compiler or toolchain failure: fall back for good
            _State.failed = f"{type(exc).__name__}: {exc}".strip()[:500]
            warnings.warn(
                "sklearn_kan: torch.compile of the B-spline kernels failed; using the eager "
                f"kernels from now on (set SKLEARN_KAN_COMPILE=0 to skip trying). Error: "
                f"{_State.failed}",
                RuntimeWarning,
                stacklevel=4,
            )
        else:
            if first:
                _State.compile_seconds[key] = time.perf_counter() - begin
            return out
    return eager_fn(*args)


# -- autograd ------------------------------------------------------------------------


_KERNELS = {
    "uniform": (_uniform_forward_kernel, _uniform_forward_eager),
    "uniform_backward": (_uniform_backward_kernel, _uniform_backward_eager),
    "general": (_general_forward_kernel, _general_forward_kernel),
    "general_backward": (_general_backward_kernel, _general_backward_kernel),
}


class _SplineFeatures(torch.autograd.Function):
    """``x (rows, in) -> [silu(x), B_1..B_n] (rows, n + 1, in)`` with a fused backward.

    ``kind`` picks the kernels: ``"uniform"`` (``a, b`` = first knot and inverse
    spacing per input) or ``"general"`` (``a, b`` = knot and reciprocal-span
    tables). Saves only ``x`` and the small grid tables: the backward pass
    recomputes the local derivatives from ``x``, which is cheaper than storing (or
    reading back) an ``n``-times larger tensor. When ``x`` needs no gradient (the
    first layer) nothing is saved and no backward kernel runs.
    """

    @staticmethod
    def forward(ctx, x: Tensor, a: Tensor, b: Tensor, n: int, order: int, kind: str) -> Tensor:
        ctx.n, ctx.order, ctx.kind = n, order, kind
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(x, a, b)
        return _run(kind, *_KERNELS[kind], x, a, b, n, order)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, a, b = ctx.saved_tensors
        name = ctx.kind + "_backward"
        grad_x = _run(name, *_KERNELS[name], x, grad.contiguous(), a, b, ctx.n, ctx.order)
        return grad_x, None, None, None, None, None


# Features of at most FEATURE_KEEP values (32 MiB in float32) are kept for the backward
# pass. Larger ones are produced in row blocks of about FEATURE_BLOCK values, used at
# once by the product while they are still in cache, and recomputed block by block in
# the backward pass: a step then needs O(block) memory for them instead of
# O(rows * in * (n + 1)) (27.6 MiB for [784, 64, 10] at batch 1024), at the price of a
# second expansion. Set FEATURE_KEEP very large to always keep them (faster, more memory).
FEATURE_KEEP = 1 << 23
FEATURE_BLOCK = 1 << 20


def _row_blocks(rows: int, width: int) -> list[tuple[int, int]]:
    """One range if the features fit :data:`FEATURE_KEEP`, else balanced row ranges of
    about :data:`FEATURE_BLOCK` values (never of size 1, which ``torch.compile`` would
    specialise and recompile for)."""
    if rows * width <= FEATURE_KEEP:
        return [(0, rows)]
    n_blocks = max(1, min(-(-rows * width // FEATURE_BLOCK), rows // 2))
    step = -(-rows // n_blocks)
    return [(s, min(s + step, rows)) for s in range(0, rows, step)]


# Products of at least this many multiply-adds (rows x features x outputs) run on
# oneDNN's linear instead of BLAS on the CPU (float32): for the (1024, 7056) x
# (7056, 64) product of [784, 64, 10] it measured 2.69 ms against 3.55 ms for
# ``addmm`` (256 rows: 0.85 vs 0.97 ms); below about 2**26 it is no faster and
# its fixed cost (10-15 us) shows.
ONEDNN_MIN_MACS = 1 << 26


def _use_onednn(feats: Tensor, w_mat: Tensor) -> bool:
    return (
        _State.onednn_failed is None
        and feats.device.type == "cpu"
        and feats.dtype == torch.float32
        and feats.shape[0] * feats.shape[1] * w_mat.shape[0] >= ONEDNN_MIN_MACS
        and torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
        and not _is_compiling()
    )


def _onednn_linear(feats: Tensor, w_mat: Tensor, bias: Tensor | None) -> Tensor | None:
    """``feats @ w_mat.T + bias`` by oneDNN, or None (remembered) if it is unavailable."""
    try:
        return torch.ops.mkldnn._linear_pointwise(feats, w_mat, bias, "none", [], "")
    except (AttributeError, RuntimeError, NotImplementedError) as exc:
        _State.onednn_failed = f"{type(exc).__name__}: {exc}".strip()[:500]
        return None


def _layer_forward(x, weight, bias, a, b, n: int, order: int, kind: str):
    """Outputs, kept features (None when blocked), weight matrix and row blocks."""
    rows = x.shape[0]
    n_out = weight.shape[0]
    # (out, (n + 1) * in): a view of a weight stored as KANLinear stores it.
    w_mat = weight.transpose(1, 2).contiguous().view(n_out, -1)
    w_t = w_mat.t()
    blocks = _row_blocks(rows, w_mat.shape[1])
    if len(blocks) == 1:
        feats = _run(kind, *_KERNELS[kind], x, a, b, n, order).view(rows, -1)
        if _use_onednn(feats, w_mat):
            out = _onednn_linear(feats, w_mat, bias)
            if out is not None:
                return out, feats, w_mat, blocks
        out = torch.addmm(bias, feats, w_t) if bias is not None else feats @ w_t
        return out, feats, w_mat, blocks
    out = x.new_empty(rows, n_out)
    for lo, hi in blocks:
        part = _run(kind, *_KERNELS[kind], x[lo:hi], a, b, n, order).view(hi - lo, -1)
        if bias is not None:
            torch.addmm(bias, part, w_t, out=out[lo:hi])
        else:
            torch.mm(part, w_t, out=out[lo:hi])
    return out, None, w_mat, blocks


class _KANLinearFunction(torch.autograd.Function):
    """A whole B-spline KAN layer: fused features, then one matrix product.

    Written as one function so that

    * no weight or gradient is copied: :class:`~sklearn_kan.nn.KANLinear` stores its
      weight ``(out, in, n + 1)`` with the strides of a contiguous
      ``(out, n + 1, in)`` tensor, which is the ``(out, (n + 1) * in)`` matrix the
      feature-major features multiply; the weight gradient ``grad.T @ features``
      (the faster of the two products that make it) comes out in that layout too.
      A contiguous weight (see :func:`~sklearn_kan.nn.make_contiguous`) works
      as well, for the price of a copy of the weight and of its gradient;
    * large feature tensors are never stored: they are made in row blocks that the
      product consumes while they are in cache, and recomputed in the backward pass
      (see :data:`FEATURE_KEEP`); small ones are kept;
    * ``x`` and the weight matrix are kept only when ``x`` needs a gradient (not
      for the first layer).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, a, b, n: int, order: int, kind: str):
        out, feats, w_mat, blocks = _layer_forward(x, weight, bias, a, b, n, order, kind)
        ctx.n, ctx.order, ctx.kind, ctx.shape = n, order, kind, weight.shape
        ctx.has_bias = bias is not None
        ctx.blocks = blocks
        keep_w = w_mat if ctx.needs_input_grad[0] else None
        # The features are an intermediate (neither input nor output), so they may live
        # on ctx, which lets the backward pass free them as soon as the weight gradient
        # is made instead of when it returns (a lower peak).
        # x is kept in every case (it is alive anyway: the caller's batch or the
        # previous layer's output), so that a second backward pass (retain_graph) can
        # recompute freed features.
        ctx.feats = feats
        ctx.save_for_backward(x, keep_w, a, b)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, w_mat, a, b = ctx.saved_tensors
        feats, ctx.feats = ctx.feats, None
        n_out, n_in, width = ctx.shape
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_x = grad_w = grad_b = None
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum(0)
        if need_x:
            grad_x = torch.empty_like(x)
        flat_w = None
        backward_kernels = _KERNELS[ctx.kind + "_backward"]
        for lo, hi in ctx.blocks:
            g = grad[lo:hi]
            if need_w:
                part = feats
                if part is None:  # recomputed: see FEATURE_KEEP
                    part = _run(ctx.kind, *_KERNELS[ctx.kind], x[lo:hi], a, b, ctx.n, ctx.order)
                    part = part.view(hi - lo, -1)
                if flat_w is None:
                    flat_w = g.t() @ part
                else:
                    flat_w.addmm_(g.t(), part)
            # Features done with before the feature gradient is made: one of the two
            # is alive at a time, not both.
            part = feats = None
            if need_x:
                grad_feats = (g @ w_mat).view(hi - lo, width, n_in)
                grad_x[lo:hi] = _run(
                    ctx.kind + "_backward",
                    *backward_kernels,
                    x[lo:hi],
                    grad_feats,
                    a,
                    b,
                    ctx.n,
                    ctx.order,
                )
        if need_w:
            # The layout KANLinear stores its weight in; autograd copies it into the
            # weight's own layout if that differs (a contiguous weight).
            grad_w = flat_w.view(n_out, width, n_in).transpose(1, 2)
        return grad_x, grad_w, grad_b, None, None, None, None, None


def _fused_args(x: Tensor, grid: Tensor, order: int):
    """``(a, b, n, kind)`` for the fused kernels, or None to use the reference path."""
    n = grid.shape[1] - order - 1
    if n < 1:
        return None
    spacing = grid_spacing(grid)
    if spacing is not None:
        a, b = spacing
        kind = "uniform"
    elif _use_compiled(x, "general"):
        a, b = _general_tables(grid, order)
        kind = "general"
    else:
        return None
    if a.dtype != x.dtype or a.device != x.device:
        a, b = a.to(x), b.to(x)
    return a, b, n, kind


def kan_linear(
    x: Tensor, weight: Tensor, bias: Tensor | None, grid: Tensor, order: int
) -> Tensor | None:
    """``F.linear(expand(x).flatten(1), weight.flatten(1), bias)`` of a SiLU/B-spline layer.

    Parameters
    ----------
    x : Tensor of shape (rows, in)
    weight : Tensor of shape (out, in, n + 1)
    bias : Tensor of shape (out,) or None
    grid : Tensor of shape (in, n_knots)
    order : int

    Returns
    -------
    Tensor of shape (rows, out), or None
        None when no fused kernel applies (a non-uniform grid while compiling is
        off); the caller then uses the reference expansion.
    """
    x = x.contiguous()
    args = _fused_args(x, grid, order)
    if args is None or weight.dtype != x.dtype:
        return None
    a, b, n, kind = args
    if not torch.is_grad_enabled() or not (
        x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)
    ):
        # Nothing to differentiate (prediction): no autograd function, nothing kept.
        return _layer_forward(x, weight, bias, a, b, n, order, kind)[0]
    return _KANLinearFunction.apply(x, weight, bias, a, b, n, order, kind)


def expand_features(x: Tensor, grid: Tensor, order: int) -> Tensor:
    """``[silu(x), B_1(x), .., B_n(x)]`` of every input, feature-major.

    Parameters
    ----------
    x : Tensor of shape (rows, in)
    grid : Tensor of shape (in, n_knots)
        B-spline knots per input (any non-decreasing knots; uniform ones are fast).
    order : int
        Spline degree.

    Returns
    -------
    Tensor of shape (rows, n_knots - order, in)
        Row ``0`` of the middle axis is ``silu(x)``, row ``1 + j`` is ``B_j(x)``;
        differentiable with respect to ``x``.
    """
    x = x.contiguous()
    args = _fused_args(x, grid, order)
    if args is None:
        from .basis import bspline

        # Exact local Cox-de Boor on any knots, differentiated by autograd.
        values = bspline(x, grid, order)
        return torch.cat([F.silu(x).unsqueeze(1), values.transpose(1, 2)], 1)
    a, b, n, kind = args
    return _SplineFeatures.apply(x, a, b, n, order, kind)
