"""Fused B-spline edge features: the fast path behind :func:`~sklearn_kan.nn.basis.expand`.

A KAN layer spends its time writing the features ``[silu(x), B_1(x), .., B_n(x)]``
of every input and multiplying them by its weights. This module writes those
features into one buffer and computes their input gradient from ``x`` alone, so
that nothing but ``x`` is kept for the backward pass.

* **Uniform grids** (every grid the layers create; ``extend_grid`` keeps them
  uniform) use the closed form of the cardinal B-spline: with ``u = (x - t_0) / h``,
  ``B_j(x) = N_k(u - j)``. For cubic splines (the default) the symmetric form
  ``N_3(s) = ((2 - r)_+^3 - 4 (1 - r)_+^3) / 6``, ``r = |s - 2|``, needs no
  interval search; other orders use the local Cox-de Boor recursion on the
  interval that holds ``u``, where uniform knots make every ratio a constant.
* **Other grids** (after ``update_grid`` placed knots on the data) are not
  handled here: :func:`expand_features` and :func:`kan_linear` return ``None``
  and the caller uses the one reference recursion,
  :func:`~sklearn_kan.nn.basis.bspline`, differentiated by autograd.

The features are laid out *feature-major*, ``(rows, n + 1, in)``: every feature of
all inputs is a contiguous row, so each is written with full-width vector stores.
:class:`~sklearn_kan.nn.KANLinear` stores its weight as the matching contiguous
``(out, n + 1, in)`` tensor, so the product reads it in place.

**Which kernels run.** On the CPU the cubic kernels are native code
(:mod:`sklearn_kan.nn._native`: built once per machine, cached on disk and loaded in
milliseconds by every later process), in float32 and float64, in every call: a
fit, a prediction, a user's own training loop. Where no native kernel can be had
(no C compiler, a failed check, ``SKLEARN_KAN_KERNELS=eager``), on other devices,
and inside a user's ``torch.compile`` (which then traces and fuses them), the lean
eager kernels serve: a dozen in-place torch operations on row blocks small enough
to stay in cache (on one thread where OpenMP waits passively), giving the same
values to rounding. Which path serves never depends on what ran earlier in the
process: only on the machine and the switch.
:func:`kernel_info` reports it.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from typing import NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import _compat, _native
from ._threading import passive_waiting, product_threads, using_threads

__all__ = [
    "expand_features",
    "grid_spacing",
    "kan_linear",
    "kernel_info",
    "set_kernels",
]

_MODES = ("native", "eager")


class _State:
    """Which kernels this process may use: ``"native"`` (where they load) or ``"eager"``."""

    mode: str = (
        "eager"
        if os.environ.get("SKLEARN_KAN_KERNELS", "").strip().lower() == "eager"
        else "native"
    )


def set_kernels(mode: str = "native") -> None:
    """Choose the CPU kernels of the B-spline layers for this process.

    Parameters
    ----------
    mode : {"native", "eager"}, default="native"
        ``"native"`` uses the native kernels wherever they can be built or loaded
        (and the eager ones elsewhere); ``"eager"`` uses the eager torch kernels only
        (the same values to rounding, slower). The environment variable
        ``SKLEARN_KAN_KERNELS=eager`` sets ``"eager"`` at import.

    Examples
    --------
    >>> from sklearn_kan.nn import kernel_info, set_kernels
    >>> set_kernels("eager")
    >>> kernel_info()["cpu"]
    'eager'
    >>> set_kernels("native")
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}.")
    _State.mode = mode


def kernel_info() -> dict:
    """Which B-spline kernels serve on the CPU in this process, and how they were had.

    Loads (or builds, the first time on a machine) the native kernels if that has
    not happened yet in this process.

    Returns
    -------
    dict
        ``cpu``: ``"native"`` or ``"eager"``; ``reason``: why the eager kernels
        serve (None when native ones do); ``library``: the native library's path;
        ``built``: whether this process compiled it (else it was loaded from the
        cache); ``seconds``: what building or loading it and checking it took;
        ``openmp``: whether the native kernels run on torch's threads;
        ``onednn``: ``None`` before the first large float32 product,
        ``"available"``, or why oneDNN's linear is not used. Other devices always
        run the eager kernels.
    """
    kernels = _native.load() if _State.mode == "native" else None
    status = _compat.onednn_status()
    info = {
        "cpu": "native" if kernels is not None else "eager",
        "reason": None
        if kernels is not None
        else (
            "switched off (set_kernels('eager') or SKLEARN_KAN_KERNELS=eager)"
            if _State.mode == "eager"
            else _native.reason()
        ),
        "library": str(kernels.path) if kernels is not None else None,
        "built": kernels.built if kernels is not None else False,
        "seconds": round(kernels.seconds, 4) if kernels is not None else None,
        "openmp": kernels.openmp if kernels is not None else False,
        "onednn": status if status is None or status else "available",
    }
    return info


# -- grids ---------------------------------------------------------------------------


class _Spacing(NamedTuple):
    start: Tensor  # (in,) first knot t_0 of every input
    inv_step: Tensor  # (in,) 1 / h


# id(grid) -> (weak reference, version, spacing or None). Checking a grid costs a
# reduction (on CUDA a synchronisation) per layer and step, so the answer is kept
# until the grid changes. Keyed by id, not by the tensor: tensors compare elementwise.
_SPACING_CACHE: dict[int, tuple[weakref.ref, int, _Spacing | None]] = {}


def grid_spacing(grid: Tensor) -> _Spacing | None:
    """``(t_0, 1 / h)`` per input if every knot vector of ``grid`` is uniform, else None.

    A knot vector counts as uniform when every knot lies within a few units in
    the last place of ``t_0 + m h`` (so the closed form is exact to rounding).

    Parameters
    ----------
    grid : Tensor of shape (in, n_knots)

    Returns
    -------
    tuple of Tensor of shape (in,), or None
    """
    version = None if _compat.is_compiling() else _compat.tensor_version(grid)
    if version is None or torch.is_inference_mode_enabled():
        # No counter to key a cache on, or tensors made here would be inference
        # tensors that a later training step could not save for backward.
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


# -- cubic kernels ----------------------------------------------------------------
#
# ``offsets`` is the (n, 1) tensor ``j + 2``. The eager kernels work on row blocks of
# about EAGER_BLOCK values (4 MiB in float32), so that their passes read and write
# memory that is still in cache rather than a whole buffer of tens of MiB each; much
# smaller blocks pay torch's per-operation cost (and a thread wake-up) more often.

EAGER_BLOCK = 1 << 20


def _eager_threads(x: Tensor):
    """The thread count the eager cubic kernels' passes run with (a context manager).

    With passive OpenMP waiting (:func:`~sklearn_kan.nn.passive_waiting`, the
    default under :mod:`sklearn_kan`) every parallel torch operation wakes the
    sleeping threads, which costs about as much as one pass over a block on one
    thread (tens of microseconds), and the eager kernels run dozens of such
    passes: on one thread they take less time than on all. On a 2-core machine the
    expansion of a (1024, 784) batch took 4.9 ms on one thread and 8.1 ms on two.
    The products around them keep every thread, and so do the other orders'
    kernels, whose whole-tensor gathers and scatters gain from a second thread.
    """
    if (
        x.device.type == "cpu"
        and passive_waiting()
        and torch.get_num_threads() > 1
        and not _compat.is_compiling()  # a thread switch is no operation a graph holds
    ):
        return using_threads(1)
    return contextlib.nullcontext()


def _eager_blocks(rows: int, width: int):
    step = max(1, EAGER_BLOCK // max(width, 1))
    return range(0, rows, step), step


def _silu_grad(x: Tensor, grad: Tensor) -> Tensor:
    """``grad * silu'(x)``, ``silu'(x) = s (1 + x (1 - s))`` with ``s = sigmoid(x)``."""
    sig = torch.sigmoid(x)
    return grad * (sig * (1 + x * (1 - sig)))


# N3(s) = (c (2 - |s|))_+^3 - (d (1 - |s|))_+^3 with c^3 = 1/6, d^3 = 4/6, and
# N3'(s) = ((t (1 - |s|))_+^2 - (h (2 - |s|))_+^2) sign(s) with t^2 = 2, h^2 = 1/2:
# the forms with the fewest whole-buffer passes (the native kernels use them too).
_C, _D = 6 ** (-1 / 3), (4 / 6) ** (1 / 3)
_H, _T = 0.5**0.5, 2**0.5


def _cubic_forward_eager(x: Tensor, start: Tensor, inv_step: Tensor, offsets: Tensor) -> Tensor:
    """Features ``(rows, n + 1, in)`` of a uniform cubic layer: nine in-place passes per block."""
    n = offsets.shape[0]
    rows, width = x.shape
    out = x.new_empty(rows, n + 1, width)
    torch.mul(x, torch.sigmoid(x), out=out[:, 0])
    starts, step = _eager_blocks(rows, n * width)
    q_buf = x.new_empty(min(step, rows), n, width)
    two_c, d = x.new_tensor(2 * _C), x.new_tensor(_D)
    for lo in starts:
        xs = x[lo : lo + step]
        s = out[lo : lo + step, 1:]
        q = q_buf[: xs.shape[0]]
        torch.sub(((xs - start) * inv_step).unsqueeze(1), offsets, out=s)
        s.abs_()
        torch.sub(two_c, s, alpha=_C, out=q).clamp_min_(0).pow_(3)
        torch.sub(d, s, alpha=_D, out=s).clamp_min_(0).pow_(3)
        torch.sub(q, s, out=s)
    return out


def _cubic_backward_eager(
    x: Tensor, grad: Tensor, start: Tensor, inv_step: Tensor, offsets: Tensor
) -> Tensor:
    """Input gradient from the feature gradient ``grad`` (rows, n + 1, in), recomputed from x."""
    acc = _silu_grad(x, grad[:, 0])
    rows, width = x.shape
    n = offsets.shape[0]
    starts, step = _eager_blocks(rows, n * width)
    s_buf = x.new_empty(min(step, rows), n, width)
    q_buf, sign_buf = torch.empty_like(s_buf), torch.empty_like(s_buf)
    two_h, t = x.new_tensor(2 * _H), x.new_tensor(_T)
    for lo in starts:
        xs = x[lo : lo + step]
        m = xs.shape[0]
        s, q, sign = s_buf[:m], q_buf[:m], sign_buf[:m]
        torch.sub(((xs - start) * inv_step).unsqueeze(1), offsets, out=s)
        torch.sign(s, out=sign).mul_(grad[lo : lo + step, 1:])
        s.abs_()
        torch.sub(two_h, s, alpha=_H, out=q).clamp_min_(0)
        torch.sub(t, s, alpha=_T, out=s).clamp_min_(0)
        s.mul_(s).addcmul_(q, q, value=-1).mul_(sign)
        acc[lo : lo + step].add_(s.sum(1).mul_(inv_step))
    return acc


# -- other orders: local Cox-de Boor on the interval, eager only ---------------------


def _local_uniform(t: Tensor, order: int) -> list[Tensor]:
    """The ``order + 1`` non-zero B-splines on a uniform knot interval, ``t`` in [0, 1).

    Value ``r`` belongs to the function that starts ``order - r`` intervals to the
    left. Cox-de Boor with unit knot spacing: every ratio is ``(t + d - r) / d`` or
    ``(r + 1 - t) / d``.
    """
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


def _local_forward(x: Tensor, start: Tensor, inv_step: Tensor, n: int, order: int) -> Tensor:
    out = x.new_empty(x.shape[0], n + 1, x.shape[1])
    torch.mul(x, torch.sigmoid(x), out=out[:, 0])
    basis = out[:, 1:]
    basis.zero_()
    t, pos, valid = _local_positions(x, start, inv_step, n, order)
    local = torch.stack(_local_uniform(t, order), 1).masked_fill_(~valid, 0)
    basis.scatter_add_(1, pos, local)
    return out


def _local_backward(
    x: Tensor, grad: Tensor, start: Tensor, inv_step: Tensor, n: int, order: int
) -> Tensor:
    acc = _silu_grad(x, grad[:, 0])
    if order == 0:
        return acc
    t, pos, valid = _local_positions(x, start, inv_step, n, order)
    deriv = torch.stack(_local_uniform_derivative(t, order), 1)
    local_grad = torch.gather(grad[:, 1:], 1, pos).masked_fill_(~valid, 0)
    return acc + (local_grad * deriv).sum(1) * inv_step


_OFFSETS: dict = {}


def _offsets(n: int, like: Tensor) -> Tensor:
    key = (n, like.dtype, like.device)
    off = _OFFSETS.get(key)
    if off is None:
        off = (torch.arange(n, dtype=like.dtype, device=like.device) + 2).unsqueeze(1)
        _OFFSETS[key] = off
    return off


# Below this many feature values a call runs on one thread: waking a second one costs
# more than it saves.
NATIVE_PARALLEL_MIN = 1 << 15


def _native_kernels(x: Tensor):
    """The native kernels for ``x``, or None where the eager ones serve."""
    if (
        _State.mode != "native"
        or x.device.type != "cpu"
        or x.dtype not in (torch.float32, torch.float64)
        or _compat.is_compiling()
    ):
        return None
    return _native.load()


def _threads(values: int) -> int:
    return 1 if values < NATIVE_PARALLEL_MIN else torch.get_num_threads()


class _Args(NamedTuple):
    start: Tensor
    inv_step: Tensor
    n: int
    order: int


def _features(x: Tensor, args: _Args) -> Tensor:
    if args.order != 3:
        return _local_forward(x, *args)
    native = _native_kernels(x)
    if native is None:
        with _eager_threads(x):
            return _cubic_forward_eager(x, args.start, args.inv_step, _offsets(args.n, x))
    out = x.new_empty(x.shape[0], args.n + 1, x.shape[1])
    native.forward(x, args.start, args.inv_step, args.n, out, _threads(out.numel()))
    return out


def _input_grad(x: Tensor, grad: Tensor, args: _Args) -> Tensor:
    if args.order != 3:
        return _local_backward(x, grad, *args)
    native = _native_kernels(x)
    if native is None:
        with _eager_threads(x):
            return _cubic_backward_eager(x, grad, args.start, args.inv_step, _offsets(args.n, x))
    out = torch.empty_like(x)
    native.backward(x, grad, args.start, args.inv_step, args.n, out, _threads(grad.numel()))
    return out


def _fused_args(x: Tensor, grid: Tensor, order: int) -> _Args | None:
    """Arguments of the fused kernels, or None where they do not apply (other grids)."""
    n = grid.shape[1] - order - 1
    spacing = grid_spacing(grid) if n >= 1 else None
    if spacing is None:
        return None
    start, inv_step = spacing
    if start.dtype != x.dtype or start.device != x.device:
        start, inv_step = start.to(x), inv_step.to(x)
    return _Args(start, inv_step, n, order)


# -- autograd ------------------------------------------------------------------------


class _SplineFeatures(torch.autograd.Function):
    """``x (rows, in) -> [silu(x), B_1..B_n] (rows, n + 1, in)`` with a fused backward.

    Saves only ``x``: the backward pass recomputes the local derivatives from
    ``x``, which is cheaper than storing (or reading back) an ``n``-times larger
    tensor.
    """

    @staticmethod
    def forward(ctx, x: Tensor, start: Tensor, inv_step: Tensor, n: int, order: int) -> Tensor:
        ctx.n, ctx.order = n, order
        ctx.save_for_backward(x, start, inv_step)
        return _features(x, _Args(start, inv_step, n, order))

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, start, inv_step = ctx.saved_tensors
        args = _Args(start, inv_step, ctx.n, ctx.order)
        return _input_grad(x, grad.contiguous(), args), None, None, None, None


# Features of at most FEATURE_KEEP values (32 MiB in float32) are kept for the backward
# pass. Larger ones are produced in row blocks of about FEATURE_BLOCK values, used at
# once by the product while they are still in cache, and recomputed block by block in
# the backward pass: a step then needs O(block) memory for them instead of
# O(rows * in * (n + 1)), at the price of a second expansion.
FEATURE_KEEP = 1 << 23
FEATURE_BLOCK = 1 << 20


# Prediction with the eager kernels makes and multiplies the features in row blocks of
# about this many values: their dozen passes then run on a buffer that is still in
# cache (on the whole (1024, 7056) features of [784, 64, 10] they took about twice
# as long). Nothing is kept for a backward pass there, so nothing is recomputed.
EAGER_PREDICT_BLOCK = 1 << 21


def _row_blocks(
    rows: int, width: int, keep: int | None = None, block: int | None = None
) -> list[tuple[int, int]]:
    """One range if the features fit ``keep`` values (:data:`FEATURE_KEEP`), else
    balanced row ranges of about ``block`` values (:data:`FEATURE_BLOCK`), at least two
    rows each."""
    keep = FEATURE_KEEP if keep is None else keep
    block = FEATURE_BLOCK if block is None else block
    if rows * width <= keep:
        return [(0, rows)]
    n_blocks = max(1, min(-(-rows * width // block), rows // 2))
    step = -(-rows // n_blocks)
    return [(s, min(s + step, rows)) for s in range(0, rows, step)]


# Products of at least this many multiply-adds (rows x features x outputs) run on
# oneDNN's linear instead of BLAS on the CPU (float32): for the (1024, 7056) x
# (7056, 64) product of [784, 64, 10] it measured 2.69 ms against 3.55 ms for
# ``addmm``; below about 2**26 it is no faster and its fixed cost (10-15 us) shows.
ONEDNN_MIN_MACS = 1 << 26


def _product(feats: Tensor, w_mat: Tensor, bias: Tensor | None, out: Tensor | None = None):
    if (
        out is None
        and feats.device.type == "cpu"
        and feats.dtype == torch.float32
        and feats.shape[0] * feats.shape[1] * w_mat.shape[0] >= ONEDNN_MIN_MACS
        and not _compat.is_compiling()
    ):
        result = _compat.onednn_linear(feats, w_mat, bias)
        if result is not None:
            return result
    if bias is None:
        return torch.mm(feats, w_mat.t(), out=out)
    return torch.addmm(bias, feats, w_mat.t(), out=out)


# Products with fewer outputs than this are padded with zero outputs when nothing
# needs a gradient (prediction): BLAS (MKL) computes thin products with kernels whose
# rounding depends on a row's position in the batch, and a row's prediction must not
# depend on its batch. From 16 outputs on it did not (tested for 1 and 2 threads).
INVARIANT_MIN_OUTPUTS = 16


def predict_product(feats: Tensor, w_mat: Tensor, bias: Tensor | None) -> Tensor:
    """``feats @ w_mat.T + bias`` with every row's result independent of the other rows.

    For inference on batches of a fixed size: thin products (few outputs) are
    padded to :data:`INVARIANT_MIN_OUTPUTS` outputs with zeros.
    """
    n_out = w_mat.shape[0]
    if n_out >= INVARIANT_MIN_OUTPUTS or feats.device.type != "cpu":
        return _product(feats, w_mat, bias)
    pad = INVARIANT_MIN_OUTPUTS - n_out
    w_mat = torch.cat([w_mat, w_mat.new_zeros(pad, w_mat.shape[1])])
    if bias is not None:
        bias = torch.cat([bias, bias.new_zeros(pad)])
    return _product(feats, w_mat, bias)[:, :n_out]


def _layer_forward(x: Tensor, w_mat: Tensor, bias: Tensor | None, args: _Args):
    """Outputs, kept features (None when blocked) and row blocks, for training."""
    rows = x.shape[0]
    blocks = _row_blocks(rows, w_mat.shape[1])
    if len(blocks) == 1:
        feats = _features(x, args).view(rows, -1)
        return _product(feats, w_mat, bias), feats, blocks
    out = x.new_empty(rows, w_mat.shape[0])
    for lo, hi in blocks:
        part = _features(x[lo:hi], args).view(hi - lo, -1)
        _product(part, w_mat, bias, out=out[lo:hi])
    return out, None, blocks


def _predict_forward(x: Tensor, w_mat: Tensor, bias: Tensor | None, args: _Args) -> Tensor:
    """Outputs without autograd: rows independent of each other (:func:`predict_product`),
    in blocks that stay in cache where the eager kernels serve."""
    rows, width = x.shape[0], w_mat.shape[1]
    if _native_kernels(x) is None and x.device.type == "cpu":
        blocks = _row_blocks(rows, width, EAGER_PREDICT_BLOCK, EAGER_PREDICT_BLOCK)
    else:
        blocks = _row_blocks(rows, width)
    if len(blocks) == 1:
        return predict_product(_features(x, args).view(rows, -1), w_mat, bias)
    out = x.new_empty(rows, w_mat.shape[0])
    for lo, hi in blocks:
        out[lo:hi] = predict_product(_features(x[lo:hi], args).view(hi - lo, -1), w_mat, bias)
    return out


class _KANLinearFunction(torch.autograd.Function):
    """A whole B-spline KAN layer: fused features, then one matrix product.

    Written as one function so that

    * the weight is read in place: :class:`~sklearn_kan.nn.KANLinear` stores it as
      a contiguous ``(out, n + 1, in)`` tensor, which is the ``(out, (n + 1) * in)``
      matrix the feature-major features multiply, and the weight gradient
      ``grad.T @ features`` comes out in that layout too;
    * large feature tensors are never stored: they are made in row blocks that the
      product consumes while they are in cache, and recomputed in the backward pass
      (see :data:`FEATURE_KEEP`); small ones are kept;
    * the weight is kept only when ``x`` needs a gradient (not for the first layer).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, start, inv_step, n: int, order: int):
        w_mat = weight.view(weight.shape[0], -1)
        args = _Args(start, inv_step, n, order)
        out, feats, blocks = _layer_forward(x, w_mat, bias, args)
        ctx.n, ctx.order, ctx.shape, ctx.blocks = n, order, weight.shape, blocks
        ctx.has_bias = bias is not None
        # The features are an intermediate, so they may live on ctx, which lets the
        # backward pass free them as soon as the weight gradient is made. x is kept
        # in every case (it is alive anyway), so that a second backward pass
        # (retain_graph) can recompute freed features.
        ctx.feats = feats
        ctx.save_for_backward(x, w_mat if ctx.needs_input_grad[0] else None, start, inv_step)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        with product_threads():
            return _KANLinearFunction._backward(ctx, grad)

    @staticmethod
    def _backward(ctx, grad):
        x, w_mat, start, inv_step = ctx.saved_tensors
        args = _Args(start, inv_step, ctx.n, ctx.order)
        feats, ctx.feats = ctx.feats, None
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_x = grad_w = grad_b = None
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum(0)
        if need_x:
            grad_x = torch.empty_like(x)
        flat_w = None
        n_in = x.shape[1]
        for lo, hi in ctx.blocks:
            g = grad[lo:hi]
            if need_w:
                part = feats
                if part is None:  # recomputed: see FEATURE_KEEP
                    part = _features(x[lo:hi], args).view(hi - lo, -1)
                if flat_w is None:
                    flat_w = g.t() @ part
                else:
                    flat_w.addmm_(g.t(), part)
            # Features done with before the feature gradient is made: one of the two
            # is alive at a time, not both.
            part = feats = None
            if need_x:
                grad_feats = (g @ w_mat).view(hi - lo, -1, n_in)
                grad_x[lo:hi] = _input_grad(x[lo:hi], grad_feats, args)
        if need_w:
            grad_w = flat_w.view(ctx.shape)
        return grad_x, grad_w, grad_b, None, None, None, None


def kan_linear(
    x: Tensor, weight: Tensor, bias: Tensor | None, grid: Tensor, order: int
) -> Tensor | None:
    """A SiLU/B-spline KAN layer, ``features(x) @ weight.view(out, -1).T + bias``.

    Parameters
    ----------
    x : Tensor of shape (rows, in)
    weight : Tensor of shape (out, n + 1, in)
        Contiguous; ``weight[:, 0]`` multiplies ``silu(x)``, ``weight[:, 1 + j]`` the
        B-spline ``B_j``.
    bias : Tensor of shape (out,) or None
    grid : Tensor of shape (in, n_knots)
    order : int

    Returns
    -------
    Tensor of shape (rows, out), or None
        None when no fused kernel applies (a grid that is not uniform); the caller
        then uses the reference expansion.
    """
    args = _fused_args(x, grid, order)
    if args is None or weight.dtype != x.dtype:
        return None
    x = x.contiguous()
    weight = weight.contiguous()
    with product_threads():
        if not torch.is_grad_enabled() or not (
            x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)
        ):
            # Nothing to differentiate (prediction): no autograd function, nothing kept.
            w_mat = weight.view(weight.shape[0], -1)
            return _predict_forward(x, w_mat, bias, args)
        return _KANLinearFunction.apply(x, weight, bias, *args)


def expand_features(x: Tensor, grid: Tensor, order: int) -> Tensor | None:
    """``[silu(x), B_1(x), .., B_n(x)]`` of every input, feature-major, or None.

    Parameters
    ----------
    x : Tensor of shape (rows, in)
    grid : Tensor of shape (in, n_knots)
        B-spline knots per input.
    order : int
        Spline degree.

    Returns
    -------
    Tensor of shape (rows, n_knots - order, in), or None
        Row ``0`` of the middle axis is ``silu(x)``, row ``1 + j`` is ``B_j(x)``;
        differentiable with respect to ``x``. None when the grid is not uniform
        (the caller then uses :func:`~sklearn_kan.nn.basis.bspline`).
    """
    args = _fused_args(x, grid, order)
    if args is None:
        return None
    return _SplineFeatures.apply(x.contiguous(), *args)
