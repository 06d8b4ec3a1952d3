"""Basis functions of KAN edges, and the registry that names them.

A basis maps inputs ``x`` of shape ``(..., in)`` to features of shape
``(..., in, n_basis)``, given a per-input ``grid`` tensor of shape ``(in, n_grid)``
whose meaning the basis defines (knots, centres or a range). Each basis is one
:class:`Basis` entry in :data:`BASES`; a layer only ever talks to that entry.

Adding a basis is one evaluation function plus one ``BASES`` entry.

The grid is the basis's state. For most bases it is placed, not learned (knots,
centres, a range), and kept in a buffer. The ``"rational"`` basis is the one
*learnable* basis: its grid holds the denominator coefficients that KAT's
group-rational functions learn, and the layers register it as a parameter
(``Basis.learnable``). This keeps one registry and one layer design, "features
then one product": every basis, the rational included, maps ``x`` to
``n_basis`` features per input and the layer multiplies them by its weights.
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ._fused import expand_features

__all__ = [
    "BASES",
    "Basis",
    "bspline",
    "chebyshev",
    "expand",
    "fourier",
    "get_basis",
    "gram",
    "is_exporting",
    "rational",
    "rbf",
]


@dataclass(frozen=True)
class Basis:
    """A family of basis functions usable on every KAN edge.

    Parameters
    ----------
    name : str
        Registry name.
    evaluate : callable
        ``evaluate(x, grid, order) -> features``: ``x`` is ``(..., in)``, ``grid`` is
        ``(in, n_grid)``, the result ``(..., in, n_basis)``.
    n_basis : callable
        ``n_basis(grid_size, order) -> int``, the number of functions per edge.
    make_grid : callable
        ``make_grid(lo, hi, grid_size, order) -> grid``, with ``lo`` and ``hi`` of
        shape ``(in,)``: the grid that covers ``[lo, hi]`` uniformly.
    domain : callable
        ``domain(grid, order) -> (lo, hi)``: the interval the grid covers, on which
        refits (grid extension) sample the function.
    adapt_grid : callable
        ``adapt_grid(x_sorted, grid_size, order, grid_eps) -> grid``: a grid placed
        from data, ``x_sorted`` of shape ``(n_samples, in)`` sorted along samples.
    learnable : bool, default=False
        Whether the grid holds coefficients learned with the weights (the
        layers register it as a ``torch.nn.Parameter`` instead of a buffer).
        Such a grid is not placed on data: ``adapt_grid`` and ``domain`` raise
        a ``ValueError`` naming the basis, so ``update_grid`` and
        ``extend_grid`` refuse it clearly.
    min_n_basis : int, default=1
        The fewest functions per edge that the basis is defined with (the
        ``"rbf"`` and ``"fourier"`` grids need two points to span a range:
        with one, their functions divide by zero). :meth:`check_size` and every
        layer refuse fewer.
    """

    name: str
    evaluate: Callable[[Tensor, Tensor, int], Tensor]
    n_basis: Callable[[int, int], int]
    make_grid: Callable[[Tensor, Tensor, int, int], Tensor]
    domain: Callable[[Tensor, int], tuple[Tensor, Tensor]]
    adapt_grid: Callable[[Tensor, int, int, float], Tensor]
    learnable: bool = False
    min_n_basis: int = 1

    def check_size(self, grid_size: int, order: int) -> None:
        """Raise a ``ValueError`` if ``grid_size`` and ``order`` give too few functions.

        Parameters
        ----------
        grid_size : int
            Number of grid intervals.
        order : int
            Spline order (``spline_order``).
        """
        n = self.n_basis(grid_size, order)
        if n < self.min_n_basis:
            raise ValueError(
                f"basis={self.name!r} needs at least {self.min_n_basis} functions per edge "
                f"(grid_size + spline_order), got {n} (grid_size={grid_size}, spline_order="
                f"{order}): with one grid point there is no range to spread its functions over."
            )


def bspline(x: Tensor, grid: Tensor, order: int) -> Tensor:
    """B-spline basis of degree ``order`` on per-input knot vectors.

    Only ``order + 1`` functions are non-zero at any ``x``. They are computed
    with the local Cox-de Boor recursion on the knot interval that holds ``x``
    (``O(order**2)`` operations per input rather than per basis function), then
    placed into the dense feature tensor. Works for any non-decreasing knots; on
    a uniform grid this equals the cardinal B-spline closed form.

    Parameters
    ----------
    x : Tensor of shape (..., in)
        Inputs.
    grid : Tensor of shape (in, n_knots)
        Knots per input, non-decreasing, ``n_knots = grid_size + 2 * order + 1``.
    order : int
        Spline degree ``k`` (3 is cubic).

    Returns
    -------
    Tensor of shape (..., in, n_knots - order - 1)
        ``B_j(x)`` for each input and basis index ``j``; zero outside the knots.
    """
    n_in, n_knots = grid.shape
    n_basis = n_knots - order - 1
    lead = x.shape[:-1]
    x2 = x.reshape(-1, n_in)
    # Interval i such that grid[i] <= x < grid[i + 1], clamped so that inputs
    # outside the knots fall on an interval whose functions all lie outside the
    # kept range (they come out as zeros).
    idx = torch.searchsorted(grid.contiguous(), x2.t().contiguous(), right=True).t() - 1
    idx = idx.clamp(-1, n_knots - 1)
    # Knots around the interval: t[m] = grid[i + m] for m in -order..order + 1.
    padded = torch.cat(
        [grid[:, :1].expand(n_in, order + 1), grid, grid[:, -1:].expand(n_in, order + 1)], 1
    )
    offs = torch.arange(-order, order + 2, device=x.device)
    gidx = (idx + order + 1).unsqueeze(-1) + offs  # (B, in, 2k+2)
    knots = torch.gather(padded.unsqueeze(0).expand(x2.shape[0], -1, -1), 2, gidx)

    def t(m: int) -> Tensor:
        return knots[..., m + order]

    inside = (idx >= 0) & (idx < n_knots - 1)
    values = [inside.to(x.dtype)]
    for d in range(1, order + 1):
        new = []
        for r in range(d + 1):
            # b_d[r] is the degree-d function starting at knot i - d + r.
            acc = torch.zeros_like(x2)
            if r >= 1:
                left, right = t(r - d), t(r)
                acc = acc + _safe_div(x2 - left, right - left) * values[r - 1]
            if r < d:
                left, right = t(r - d + 1), t(r + 1)
                acc = acc + _safe_div(right - x2, right - left) * values[r]
            new.append(acc)
        values = new
    return _place_local(values, idx, order, n_basis).reshape(*lead, n_in, n_basis)


_RANGE_GRID_DOC = (
    "``grid[:, 0]`` and ``grid[:, -1]`` give the range; the width gives the number of {}."
)


def _evaluate_doc(grid_shape: str, grid: str) -> Callable:
    """Append the Parameters and Returns of a basis without ``order`` to its docstring."""

    def document(fn: Callable) -> Callable:
        grid_lines = textwrap.fill(grid, 80, initial_indent=" " * 8, subsequent_indent=" " * 8)
        fn.__doc__ = fn.__doc__.rstrip() + (
            "\n\n    Parameters\n    ----------\n    x : Tensor of shape (..., in)\n"
            f"    grid : Tensor of shape ({grid_shape})\n{grid_lines}\n"
            "    order : int\n        Unused.\n\n"
            "    Returns\n    -------\n    Tensor of shape (..., in, n_basis)\n    "
        )
        return fn

    return document


def _to_unit(x: Tensor, grid: Tensor) -> Tensor:
    """``x`` mapped linearly from the grid range ``[grid[:, 0], grid[:, -1]]`` onto ``[-1, 1]``."""
    lo, hi = grid[:, 0], grid[:, -1]
    return (2 * x - lo - hi) / (hi - lo)


@_evaluate_doc("in, n_basis", "Centres per input, increasing.")
def rbf(x: Tensor, grid: Tensor, order: int) -> Tensor:
    """Gaussian radial basis functions (FastKAN), one per grid centre.

    ``phi_j(x) = exp(-((x - c_j) / h) ** 2)`` with ``h`` the mean spacing of the
    centres of that input. ``order`` is unused (accepted for a uniform signature).
    """
    del order
    width = (grid[:, -1] - grid[:, 0]) / max(grid.shape[1] - 1, 1)
    z = (x.unsqueeze(-1) - grid) / width.unsqueeze(-1)
    return torch.exp(-z * z)


@_evaluate_doc("in, n_basis", _RANGE_GRID_DOC.format("polynomials"))
def chebyshev(x: Tensor, grid: Tensor, order: int) -> Tensor:
    """Chebyshev polynomials ``T_0 .. T_{n-1}`` of the input mapped onto ``[-1, 1]``.

    The input is mapped linearly from the grid range ``[lo, hi]`` to ``[-1, 1]``
    and squashed by ``tanh`` (as ChebyKAN does), so inputs far outside the range
    stay bounded. The grid holds ``n_basis`` equally spaced points; only its
    first and last columns (the range) and its width (the number of
    polynomials) are used.
    """
    del order
    t = torch.tanh(_to_unit(x, grid))
    n_basis = grid.shape[1]
    polys = [torch.ones_like(t), t]
    for _ in range(2, n_basis):
        polys.append(2 * t * polys[-1] - polys[-2])
    return torch.stack(polys[:n_basis], dim=-1)


@_evaluate_doc("in, n_basis", _RANGE_GRID_DOC.format("polynomials"))
def gram(x: Tensor, grid: Tensor, order: int) -> Tensor:
    """Gram polynomials (discrete Chebyshev polynomials), the basis of KAGN layers.

    The Gram polynomials ``p_0 .. p_{n-1}`` are the polynomials orthonormal on
    ``n`` equally spaced points of ``[-1, 1]`` (``mean_i p_j(t_i) p_k(t_i) =
    delta_jk``), computed with their three-term recurrence
    ``p_{k+1} = t p_k - beta_k p_{k-1}``, ``beta_k = k^2 (n^2 - k^2) / ((n - 1)^2
    (4 k^2 - 1))`` (monic form, normalised afterwards). As in torch-conv-kan's
    KAGN layers and ChebyKAN, the input is mapped from the grid range to
    ``[-1, 1]`` and squashed by ``tanh`` (so it stays bounded); the residual
    ``silu`` branch is the layer's, as for every basis. KAGN also passes the
    polynomials through a SiLU and normalises the layer's output; here the
    features are the polynomials themselves, and normalisation is left to the
    model (the front ends' BatchNorm).
    """
    del order
    t = torch.tanh(_to_unit(x, grid))
    n_basis = grid.shape[1]
    betas, norms = _gram_constants(n_basis)
    polys = [torch.ones_like(t), t]
    for k in range(1, n_basis - 1):
        polys.append(t * polys[-1] - betas[k] * polys[-2])
    return torch.stack([p / norm for p, norm in zip(polys, norms)], dim=-1)


@_evaluate_doc("in, n_basis", _RANGE_GRID_DOC.format("features"))
def fourier(x: Tensor, grid: Tensor, order: int) -> Tensor:
    """Sines and cosines of the input (FourierKAN).

    With ``u`` the input mapped linearly from the grid range ``[lo, hi]`` to
    ``[-1, 1]``, feature ``j`` is ``cos(k pi u / 2)`` for even ``j`` and
    ``sin(k pi u / 2)`` for odd ``j``, with frequency ``k = j // 2 + 1``: a
    Fourier series whose period is twice the grid range, so that the two ends
    of the range are not identified. There is no constant term (the node's bias
    is one).
    """
    del order
    u = _to_unit(x, grid)
    n_basis = grid.shape[1]
    # One cosine and one sine per frequency, interleaved (and cut to n_basis).
    k = torch.arange(1, (n_basis + 1) // 2 + 1, device=x.device, dtype=x.dtype)
    angle = u.unsqueeze(-1) * (k * (math.pi / 2))
    return torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1).flatten(-2)[..., :n_basis]


@_evaluate_doc(
    "in, n_basis - 1", "Denominator coefficients ``b_1 .. b_{n_basis-1}`` of every input."
)
def rational(x: Tensor, grid: Tensor, order: int) -> Tensor:
    """Rational features ``t^j / (1 + |Q_i(t)|)``, ``t = tanh(x)``, with a learned denominator.

    The group-rational functions of the Kolmogorov-Arnold Transformer (KAT)
    are ``F(x) = P(x) / (1 + |Q(x)|)``, ``Q(x) = b_1 x + .. + b_m x^m``, with the
    coefficients shared by a group of channels. Here the group of an input is
    every edge it feeds: input ``i`` has one denominator ``Q_i``, whose
    coefficients ``grid[i]`` are learned with the weights and shared by all its
    ``out`` edges (and, in :class:`~sklearn_kan.nn.KANConv2d`, by every kernel
    offset and output channel of its channel). Each edge has its own
    numerator: the layer's weights are the coefficients of ``P``, so that
    ``phi(x) = w_b silu(x) + P_edge(t) / (1 + |Q_i(t)|)``; KAT's edge ``w F(x)``
    is the special case of proportional numerators. ``1 + |Q|`` is at least 1,
    so there are no poles.

    Unlike KAT (whose inputs are layer-normalised), the rational function is
    taken of ``t = tanh(x)``, as ChebyKAN and KAGN squash their polynomials'
    input: a KAN's hidden values are not normalised, and ``x^7`` of a hidden
    value of 5 would be 78125. The ``silu`` branch carries the linear growth.

    The denominators are initialised (``make_grid``) to those of the
    least-squares fit of SiLU on the grid range by ``P(t) / (1 + |Q(t)|)`` of
    this degree, so that the features span SiLU there at initialisation (to
    2e-3 for the default 8 features).
    """
    del order
    t = torch.tanh(x)
    powers = [torch.ones_like(t)]
    for _ in range(grid.shape[1]):
        powers.append(powers[-1] * t)
    num = torch.stack(powers, dim=-1)  # (..., in, n): 1, t, .., t^(n-1)
    q = (num[..., 1:] * grid).sum(-1)
    return num / (1 + q.abs()).unsqueeze(-1)


def expand(x: Tensor, grid: Tensor, basis: str, order: int) -> Tensor:
    """Edge features ``[silu(x), B_1(x), .., B_n(x)]`` of every input.

    This is the one expansion every KAN layer (dense, convolutional, local)
    multiplies by its weights; making it fast makes them all fast.

    Parameters
    ----------
    x : Tensor of shape (..., in)
    grid : Tensor of shape (in, n_grid)
    basis : str
        Name in :data:`BASES`.
    order : int
        Spline degree.

    Returns
    -------
    Tensor of shape (..., in, n_basis + 1)
        For B-splines on uniform grids this is a non-contiguous view (the fused
        kernels write the features feature-major, see :mod:`sklearn_kan.nn._fused`).
    """
    if basis == "bspline" and is_exporting():
        # Traced for export (ONNX): every op elementwise, no searchsorted or scatter.
        values = _bspline_dense(x, grid, order)
        return torch.cat([torch.nn.functional.silu(x).unsqueeze(-1), values], dim=-1)
    if basis == "bspline":
        lead = x.shape[:-1]
        feats = expand_features(x.reshape(-1, x.shape[-1]), grid, order)
        if feats is not None:
            return feats.transpose(1, 2).reshape(*lead, x.shape[-1], feats.shape[1])
    values = get_basis(basis).evaluate(x, grid, order)
    return torch.cat([torch.nn.functional.silu(x).unsqueeze(-1), values], dim=-1)


def is_exporting() -> bool:
    """Whether the module is being traced for export (``torch.onnx.export``, ``torch.jit.trace``).

    Then the layers compute in plain torch operators that every exporter knows
    (:func:`expand` with a dense Cox-de Boor recursion for B-splines), not with the
    fused kernels of :mod:`sklearn_kan.nn._fused` (custom autograd functions,
    compiled code, data-dependent branches).
    """
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


def get_basis(name: str) -> Basis:
    """Return the registered :class:`Basis` called ``name``.

    Raises
    ------
    ValueError
        If no basis of that name is registered.
    """
    try:
        return BASES[name]
    except KeyError:
        raise ValueError(f"Unknown basis {name!r}. Expected one of {sorted(BASES)}.") from None


# -- grids ---------------------------------------------------------------------


def _bspline_grid(lo: Tensor, hi: Tensor, grid_size: int, order: int) -> Tensor:
    step = (hi - lo) / grid_size
    ticks = torch.arange(-order, grid_size + order + 1, dtype=lo.dtype, device=lo.device)
    return lo.unsqueeze(-1) + step.unsqueeze(-1) * ticks


def _bspline_domain(grid: Tensor, order: int) -> tuple[Tensor, Tensor]:
    # The interior knots; the ``order`` knots on each side only extend supports.
    return grid[:, order], grid[:, grid.shape[1] - order - 1]


def _bspline_adapt(x_sorted: Tensor, grid_size: int, order: int, grid_eps: float) -> Tensor:
    n = x_sorted.shape[0]
    pos = torch.linspace(0, n - 1, grid_size + 1, device=x_sorted.device)
    lower = pos.floor().long()
    upper = pos.ceil().long()
    frac = (pos - lower).to(x_sorted.dtype).unsqueeze(-1)
    adaptive = (x_sorted[lower] * (1 - frac) + x_sorted[upper] * frac).t()  # (in, G+1)
    lo, hi = x_sorted[0], x_sorted[-1]
    same = hi - lo < 1e-6
    hi = torch.where(same, lo + 1e-3, hi)
    lo = torch.where(same, lo - 1e-3, lo)
    adaptive = torch.where(same.unsqueeze(-1), _bspline_grid(lo, hi, grid_size, 0), adaptive)
    uniform = _bspline_grid(lo, hi, grid_size, 0)
    interior = grid_eps * uniform + (1 - grid_eps) * adaptive
    # Knots must increase strictly for the recursion; repeated quantiles (for
    # example many zero pixels) are spread to a small minimum gap.
    min_gap = (hi - lo).unsqueeze(-1) * 1e-3 / grid_size
    interior = (
        torch.cummax(
            interior - torch.arange(grid_size + 1, device=interior.device) * min_gap, dim=1
        ).values
        + torch.arange(grid_size + 1, device=interior.device) * min_gap
    )
    step = (interior[:, -1] - interior[:, 0]) / grid_size
    ext = torch.arange(1, order + 1, dtype=interior.dtype, device=interior.device)
    left = interior[:, :1] - step.unsqueeze(-1) * ext.flip(0)
    right = interior[:, -1:] + step.unsqueeze(-1) * ext
    return torch.cat([left, interior, right], dim=1)


def _n_basis(grid_size: int, order: int) -> int:
    return grid_size + order


def _centres_grid(lo: Tensor, hi: Tensor, grid_size: int, order: int) -> Tensor:
    n = grid_size + order
    ticks = torch.linspace(0, 1, n, dtype=lo.dtype, device=lo.device)
    return lo.unsqueeze(-1) + (hi - lo).unsqueeze(-1) * ticks


def _centres_domain(grid: Tensor, order: int) -> tuple[Tensor, Tensor]:
    return grid[:, 0], grid[:, -1]


def _centres_adapt(x_sorted: Tensor, grid_size: int, order: int, grid_eps: float) -> Tensor:
    n = grid_size + order
    uniform = _centres_grid(x_sorted[0], x_sorted[-1], grid_size, order)
    pos = torch.linspace(0, x_sorted.shape[0] - 1, n, device=x_sorted.device).round().long()
    adaptive = x_sorted[pos].t()
    grid = grid_eps * uniform + (1 - grid_eps) * adaptive
    same = (grid[:, -1] - grid[:, 0]) < 1e-6
    fallback = _centres_grid(grid[:, 0] - 1e-3, grid[:, 0] + 1e-3, grid_size, order)
    return torch.where(same.unsqueeze(-1), fallback, grid)


def _range_adapt(x_sorted: Tensor, grid_size: int, order: int, grid_eps: float) -> Tensor:
    del grid_eps
    lo, hi = x_sorted[0], x_sorted[-1]
    same = hi - lo < 1e-6
    return _centres_grid(
        torch.where(same, lo - 1e-3, lo), torch.where(same, hi + 1e-3, hi), grid_size, order
    )


def _gram_constants(n: int) -> tuple[list[float], list[float]]:
    """Recurrence coefficients ``beta_k`` and norms of the monic Gram polynomials."""
    return _gram_constants_cached(int(n))


@functools.lru_cache(maxsize=64)
def _gram_constants_cached(n: int) -> tuple[list[float], list[float]]:
    betas = [0.0] + [
        k * k * (n * n - k * k) / ((n - 1) ** 2 * (4 * k * k - 1)) for k in range(1, n)
    ]
    # Norms from the values on the n nodes (exact: a k-point polynomial identity).
    nodes = [-1.0 + 2.0 * i / (n - 1) for i in range(n)] if n > 1 else [0.0]
    values = [[1.0] * n, list(nodes)]
    for k in range(1, n - 1):
        values.append([t * a - betas[k] * b for t, a, b in zip(nodes, values[-1], values[-2])])
    norms = [math.sqrt(sum(v * v for v in row) / n) for row in values[:n]]
    return betas, norms


def _rational_grid(lo: Tensor, hi: Tensor, grid_size: int, order: int) -> Tensor:
    n = grid_size + order
    coef = _silu_denominator(n, float(lo.min()), float(hi.max()))
    return torch.tensor(coef, dtype=lo.dtype, device=lo.device).expand(lo.shape[0], -1).clone()


@functools.lru_cache(maxsize=32)
def _silu_denominator(n: int, lo: float, hi: float) -> tuple[float, ...]:
    """Denominator ``b_1 .. b_{n-1}`` of the fit of SiLU by ``P(t) / (1 + |Q(t)|)``.

    Solved by the Sanathanan-Koerner iteration: each step is a linear least
    squares problem in ``(a, b)`` for ``P(x) - y sign(Q) Q(x) = y``, weighted by
    the previous step's ``1 / (1 + |Q|)``. In float64 on the CPU, once per degree
    and range (cached), so building a layer stays cheap.
    """
    with torch.inference_mode(False), torch.no_grad():
        x = torch.linspace(lo, hi, 401, dtype=torch.float64)
        y = torch.nn.functional.silu(x)
        num = torch.tanh(x).unsqueeze(1) ** torch.arange(n, dtype=torch.float64)
        den = num[:, 1:]
        sign, weight = torch.ones_like(x), torch.ones_like(x)
        b = torch.zeros(n - 1, dtype=torch.float64)
        for _ in range(15):
            a_mat = torch.cat([num, -(y * sign).unsqueeze(1) * den], 1) / weight.unsqueeze(1)
            sol = torch.linalg.lstsq(a_mat, (y / weight).unsqueeze(1), driver="gelsd").solution
            b = sol[n:, 0]
            q = den @ b
            sign = torch.where(q >= 0, 1.0, -1.0).to(torch.float64)
            weight = 1 + q.abs()
    return tuple(float(v) for v in b)


def _no_grid(name: str) -> Callable:
    def refuse(*args, **kwargs):
        raise ValueError(
            f"basis={name!r} has no grid to place on data or to extend: its 'grid' holds the "
            "denominator coefficients that are learned with the weights. update_grid and "
            "extend_grid (the estimators' grid_update_epochs and grid_schedule) do not apply "
            "to it; choose the number of features with grid_size and spline_order instead."
        )

    return refuse


def _bspline_dense(x: Tensor, grid: Tensor, order: int) -> Tensor:
    """:func:`bspline` by the Cox-de Boor recursion over all knots at once.

    ``O(n_knots * order)`` work per input instead of ``O(order**2)``, but only
    comparisons and arithmetic, which every exporter (ONNX) expresses. Equal to
    :func:`bspline` for strictly increasing knots (all grids this package makes).
    """
    t = grid  # (in, n_knots)
    xe = x.unsqueeze(-1)
    values = ((xe >= t[:, :-1]) & (xe < t[:, 1:])).to(x.dtype)
    for d in range(1, order + 1):
        left = (xe - t[:, : -(d + 1)]) / (t[:, d:-1] - t[:, : -(d + 1)]) * values[..., :-1]
        right = (t[:, d + 1 :] - xe) / (t[:, d + 1 :] - t[:, 1:-d]) * values[..., 1:]
        values = left + right
    return values


def _safe_div(num: Tensor, den: Tensor) -> Tensor:
    # Repeated knots give 0/0 in Cox-de Boor; by convention that term is 0.
    return torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), 0.0)


def _place_local(values: list[Tensor], idx: Tensor, order: int, n_basis: int) -> Tensor:
    """Scatter the ``order + 1`` local values into dense ``(B, in, n_basis)``.

    Local value ``r`` belongs to basis ``idx - order + r``. Positions outside
    ``[0, n_basis)`` land in padding that is cut off.
    """
    local = torch.stack(values, dim=-1)  # (B, in, k+1)
    width = n_basis + 2 * order + 2
    pos = (idx + 1).clamp(0, n_basis + order + 1).unsqueeze(-1) + torch.arange(
        order + 1, device=idx.device
    )
    dense = local.new_zeros(*idx.shape, width)
    dense = dense.scatter(-1, pos, local)
    return dense[..., order + 1 : order + 1 + n_basis]


def _basis(
    name: str,
    evaluate: Callable,
    make_grid: Callable = _centres_grid,
    domain: Callable = _centres_domain,
    adapt_grid: Callable = _range_adapt,
    learnable: bool = False,
    min_n_basis: int = 1,
) -> Basis:
    # The package's bases all have ``grid_size + order`` functions per edge, and
    # most a grid of centres that spans the data's range.
    return Basis(name, evaluate, _n_basis, make_grid, domain, adapt_grid, learnable, min_n_basis)


BASES: dict[str, Basis] = {
    basis.name: basis
    for basis in (
        _basis("bspline", bspline, _bspline_grid, _bspline_domain, _bspline_adapt),
        _basis("rbf", rbf, adapt_grid=_centres_adapt, min_n_basis=2),
        _basis("chebyshev", chebyshev),
        _basis("gram", gram),
        _basis("fourier", fourier, min_n_basis=2),
        _basis(
            "rational",
            rational,
            _rational_grid,
            _no_grid("rational"),
            _no_grid("rational"),
            learnable=True,
        ),
    )
}
"""Registered bases by name. ``n_basis = grid_size + order`` for all of them, so
that the parameter count of a layer does not depend on the basis (the rational
basis adds its ``n_basis - 1`` learned denominator coefficients per input)."""
