"""KAN layers: every edge is a learnable function ``phi(x) = w_b silu(x) + sum_j c_j B_j(x)``.

A layer expands each input once into its features ``[silu(x), B_1(x), .., B_n(x)]``
and then computes all edges with ONE dense product (a matrix product for
:class:`KANLinear`, a convolution for :class:`KANConv2d`, a batched product over
positions for :class:`KANLocal2d`). What the three share (the per-input grid, its
update from data and its extension, the least-squares refit that keeps the
learned functions) lives once, in :class:`_GridLayer`.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._fused import grid_spacing, kan_linear, predict_product
from ._threading import using_threads
from .basis import expand, get_basis, is_exporting

__all__ = ["KANConv2d", "KANLinear", "KANLocal2d"]


class _GridLayer(nn.Module):
    """A layer whose edges are combinations of a basis on a per-input grid.

    Subclasses store their basis coefficients in their own layout and expose them
    grouped by input (``_coefficients`` / ``_set_coefficients``), and say which
    samples of each input a grid update sees (``_grid_samples``).
    """

    def _init_grid(
        self, n_in: int, grid_size: int, spline_order: int, basis: str, grid_range
    ) -> None:
        grid_size = _check_int("grid_size", grid_size, 1)
        spline_order = _check_int("spline_order", spline_order, 0)
        try:
            lo, hi = (float(v) for v in grid_range)
        except (TypeError, ValueError):
            raise ValueError(
                f"grid_range must be a pair (low, high), got {grid_range!r}."
            ) from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(
                f"grid_range must be (low, high) of finite numbers with low < high, got "
                f"{grid_range!r}."
            )
        get_basis(basis).check_size(grid_size, spline_order)
        self.grid_size = grid_size
        self.spline_order = spline_order
        self.basis = basis
        self.grid_range = (lo, hi)
        self.n_basis = get_basis(basis).n_basis(grid_size, spline_order)
        grid = self._basis.make_grid(
            torch.full((n_in,), lo), torch.full((n_in,), hi), grid_size, spline_order
        )
        if self._basis.learnable:  # the rational basis: its grid is learned, not placed
            self.grid = nn.Parameter(grid)
        else:
            self.register_buffer("grid", grid)

    @property
    def _basis(self):
        # Looked up by name, so the module pickles without the registry's functions.
        return get_basis(self.basis)

    @torch.no_grad()
    def update_grid(self, x: Tensor, grid_eps: float = 0.02) -> None:
        """Move the grid to the data and refit the coefficients to keep the functions.

        New knots are the sample quantiles of every input mixed with a uniform grid
        over its range (``grid_eps=1`` is fully uniform, ``0`` fully adaptive). The
        basis coefficients are then refit by least squares so that every edge
        keeps its values on those samples, and, more weakly (1% of the weight),
        on points spread evenly between the smallest and the largest sample, so
        that the functions stay bounded in the gaps between samples (a mostly
        blank pixel column has samples at a few values only); a small ridge term
        keeps the coefficients bounded where the new functions are nearly
        collinear.

        An adaptive grid cannot always hold the old functions: where most samples
        share one value (blank pixels), most quantiles coincide and the few
        other samples fall into one wide interval. So each input gets the most
        adaptive of the mixes ``grid_eps``, 0.25, 0.5 and 1 (uniform) whose
        refit changes every edge of that input, on the samples, by at most 1% of
        the largest basis term (``sum_j c_j B_j``) of its edges there. Where none
        does (samples spread far beyond the grid, which then holds more detail
        than the same number of functions can over the wider range), the mix
        that changes them least is taken.

        Parameters
        ----------
        x : Tensor
            Inputs of this layer, shaped as for ``forward``: ``(batch, in_features)``
            for :class:`KANLinear`, ``(N, C, H, W)`` for the image layers (up to
            16384 pixels of each channel are used, drawn with a fixed seed). At
            least ``n_basis`` samples (rows, or pixels of each channel), all finite.
        grid_eps : float, default=0.02
            Weight of the uniform grid in the first (most adaptive) mix tried.

        Raises
        ------
        ValueError
            If ``x`` does not have the shape ``forward`` takes, has fewer than
            ``n_basis`` samples, or holds non-finite values.
        """
        samples = self._grid_samples(x)
        if samples.shape[0] < self.n_basis:
            raise ValueError(
                f"update_grid needs at least n_basis={self.n_basis} samples of every input to "
                f"place the grid, got {samples.shape[0]}."
            )
        if not bool(torch.isfinite(samples).all()):
            raise ValueError("update_grid got inputs that contain NaN or infinity.")
        # Many small least-squares systems: a second thread does not help, and one
        # thread is immune to spinning threads on a busy machine (a [784, 64, 10]
        # update took 20 s instead of under one with torch's two threads spinning).
        with using_threads(1):
            grid, proj = _GridRefit(self, samples).best(grid_eps)
            self._set_grid(grid, proj, self.grid_size)

    @torch.no_grad()
    def extend_grid(self, new_grid_size: int, n_samples: int | None = None) -> None:
        """Change the number of grid intervals, keeping the learned functions.

        The KAN paper's coarse-to-fine extension: the new grid spans the same
        interval (interior knots are interpolated from the old ones, so an
        adapted grid stays adapted and a uniform one uniform) and its
        coefficients are the least-squares fit of the old functions on points
        spread over that interval.

        The number of basis functions changes, so ``weight`` changes shape. It
        stays the same :class:`~torch.nn.Parameter` object, resized in place (its
        gradient cleared), so an optimizer built before keeps training the layer.
        Optimizers with per-parameter state of the old shape (Adam's moments,
        SGD's momentum) raise a size mismatch at their next step: build a new
        one after ``extend_grid``, as the estimators' ``grid_schedule`` does.

        Parameters
        ----------
        new_grid_size : int
            Number of intervals of the new grid.
        n_samples : int, optional
            Points per input used by the fit (default: ``4 * n_basis`` of the new
            grid, at least 32).
        """
        new_grid_size = _check_int("new_grid_size", new_grid_size, 1)
        self._basis.check_size(new_grid_size, self.spline_order)
        n_new = self._basis.n_basis(new_grid_size, self.spline_order)
        n_samples = n_samples or max(32, 4 * n_new)
        lo, hi = self._basis.domain(self.grid, self.spline_order)
        ticks = torch.linspace(0, 1, n_samples, dtype=self.grid.dtype, device=self.grid.device)
        x = lo.unsqueeze(0) + (hi - lo).unsqueeze(0) * ticks.unsqueeze(1)  # (m, in)
        if self.basis == "bspline":
            new_grid = _interpolate_knots(self.grid, self.spline_order, new_grid_size)
        else:
            new_grid = self._basis.make_grid(lo, hi, new_grid_size, self.spline_order)
        with using_threads(1):  # as in update_grid
            self._refit(x, new_grid, new_grid_size)

    def _refit(self, x: Tensor, new_grid: Tensor, new_grid_size: int) -> None:
        # Every edge of input i is B_old(x) @ coef; its least-squares fit on the new
        # basis is P @ coef with P = argmin ||B_new P - B_old||: one small
        # (n_new, n_old) system per input instead of one per edge.
        old = self._basis.evaluate(x, self.grid, self.spline_order).transpose(0, 1)
        new = self._basis.evaluate(x, new_grid, self.spline_order).transpose(0, 1)
        self._set_grid(new_grid, _lstsq(new, old), new_grid_size)

    def _set_grid(self, new_grid: Tensor, proj: Tensor, new_grid_size: int) -> None:
        """Take ``new_grid``, with the coefficients mapped by ``proj`` (in, n_new, n_old)."""
        coef = torch.einsum("cij,cjm->cim", proj, self._coefficients().to(proj))
        self.grid = new_grid.to(self.grid)
        self.grid_size = new_grid_size
        self.n_basis = coef.shape[1]
        self._set_coefficients(coef)

    def _replace_weight(self, weight: Tensor) -> None:
        # The same Parameter object, resized in place when the width changes: an
        # optimizer built before keeps updating it (a new Parameter would leave it
        # stepping a tensor the layer no longer uses, silently).
        weight = weight.to(self.weight)
        if weight.shape == self.weight.shape:
            self.weight.copy_(weight)
        else:
            self.weight.data = weight.contiguous()
            self.weight.grad = None  # of the old shape

    def _grid_samples(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Samples of every input, ``(n_samples, in)``."""
        raise NotImplementedError

    def _coefficients(self) -> Tensor:  # pragma: no cover - abstract
        """Basis coefficients grouped by input, ``(in, n_basis, edges per input)``."""
        raise NotImplementedError

    def _set_coefficients(self, coef: Tensor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class KANLinear(_GridLayer):
    """Fully connected KAN layer.

    Parameters
    ----------
    in_features : int
        Number of inputs.
    out_features : int
        Number of outputs.
    grid_size : int, default=5
        Number of grid intervals on the grid range.
    spline_order : int, default=3
        Degree of the B-splines (ignored by bases that have no order).
    basis : {"bspline", "rbf", "chebyshev", "gram", "fourier", "rational"}, default="bspline"
        Name of the basis in :data:`sklearn_kan.nn.basis.BASES`.
    grid_range : tuple of float, default=(-1, 1)
        Initial interval covered by the grid.
    bias : bool, default=True
        Whether each output node adds a learnable bias.
    scale_base : float, default=1.0
        Scale of the initial SiLU weights (relative to ``torch.nn.Linear``'s).
    scale_spline : float, default=0.1
        Scale of the initial spline coefficients (relative to the base weights).
    base_activation : callable, default=torch.nn.functional.silu
        The residual function ``b(x)`` of each edge.

    Attributes
    ----------
    weight : Parameter of shape (out_features, n_basis + 1, in_features)
        ``weight[:, 0]`` holds the base weights ``w_b`` of every edge
        ``(out, in)``, ``weight[:, 1 + j]`` the coefficients of basis function
        ``j``. This is the matrix ``(out, (n_basis + 1) * in)`` that the layer's
        one product uses, stored contiguously; :meth:`edge_weights` gives the
        per-edge view ``(out, in, n_basis + 1)``.
    bias : Parameter of shape (out_features,) or None
    grid : buffer of shape (in_features, n_grid)
        The grid of every input (knots for B-splines, centres for RBFs).

    Examples
    --------
    >>> import torch
    >>> from sklearn_kan.nn import KANLinear
    >>> layer = KANLinear(4, 3)
    >>> layer(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    >>> layer.weight.shape, layer.edge_weights().shape
    (torch.Size([3, 9, 4]), torch.Size([3, 4, 9]))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        grid_size: int = 5,
        spline_order: int = 3,
        basis: str = "bspline",
        grid_range: tuple[float, float] = (-1.0, 1.0),
        bias: bool = True,
        scale_base: float = 1.0,
        scale_spline: float = 0.1,
        base_activation=F.silu,
    ) -> None:
        super().__init__()
        in_features = _check_int("in_features", in_features, 1)
        out_features = _check_int("out_features", out_features, 1)
        self._init_grid(in_features, grid_size, spline_order, basis, grid_range)
        self.in_features = in_features
        self.out_features = out_features
        self.base_activation = base_activation
        self.weight = nn.Parameter(torch.empty(out_features, self.n_basis + 1, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self.scale_base = scale_base
        self.scale_spline = scale_spline
        self.reset_parameters()

    # -- forward ---------------------------------------------------------------

    def reset_parameters(self) -> None:
        """Initialise like ``torch.nn.Linear`` on the base branch, small splines."""
        bound = self.scale_base / math.sqrt(self.in_features)
        with torch.no_grad():
            self.weight[:, 0].uniform_(-bound, bound)
            self.weight[:, 1:].uniform_(-1, 1).mul_(bound * self.scale_spline)
            if self.bias is not None:
                self.bias.uniform_(-bound, bound)

    @property
    def fused(self) -> bool:
        """Whether :meth:`forward` runs the fused B-spline kernels (on inputs of its dtype).

        True for the B-spline basis with the SiLU base on a uniform grid: every grid
        the layer makes, and :meth:`extend_grid` keeps it uniform. After
        :meth:`update_grid` the knots follow the data and the reference recursion
        serves instead. See :func:`sklearn_kan.nn.kernel_info` for which fused
        kernels (native or eager) run.
        """
        return (
            self.basis == "bspline"
            and self.base_activation is F.silu
            and grid_spacing(self.grid) is not None
        )

    def edge_weights(self) -> Tensor:
        """The weights per edge, a view of :attr:`weight` of shape ``(out, in, n_basis + 1)``.

        ``edge_weights()[o, i]`` are the ``n_basis + 1`` coefficients of the edge
        from input ``i`` to output ``o`` (the base weight first). In-place changes
        of the view change the layer.
        """
        return self.weight.transpose(1, 2)

    def expand(self, x: Tensor) -> Tensor:
        """Features ``[b(x), B_1(x), .., B_n(x)]`` of each input.

        Parameters
        ----------
        x : Tensor of shape (..., in_features)

        Returns
        -------
        Tensor of shape (..., in_features, n_basis + 1)
        """
        if self.base_activation is F.silu:
            return expand(x, self.grid, self.basis, self.spline_order)
        basis = self._basis.evaluate(x, self.grid, self.spline_order)
        return torch.cat([self.base_activation(x).unsqueeze(-1), basis], dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        lead = x.shape[:-1]
        x = x.reshape(-1, self.in_features)
        w_mat = self.weight.view(self.out_features, -1)
        if x.shape[0] == 0:  # no rows, no features: torch.nn.Linear's (0, out) result
            return F.linear(x.new_zeros(0, w_mat.shape[1]), w_mat, self.bias).reshape(
                *lead, self.out_features
            )
        out = None
        if not is_exporting() and self.fused:
            # Fused features and product (see sklearn_kan.nn._fused); None for inputs
            # of another dtype than the weight.
            out = kan_linear(x, self.weight, self.bias, self.grid, self.spline_order)
        if out is None:
            feats = self.expand(x).transpose(1, 2)  # (rows, n + 1, in), like the weight
            feats = feats.reshape(feats.shape[0], -1)
            if torch.is_grad_enabled():
                out = F.linear(feats, w_mat, self.bias)
            else:
                out = predict_product(feats, w_mat, self.bias)
        return out.reshape(*lead, self.out_features)

    def edge_activations(self, x: Tensor) -> Tensor:
        """Value of every edge function on a batch, ``phi_{o,i}(x_i)`` (bias excluded).

        Parameters
        ----------
        x : Tensor of shape (batch, in_features)

        Returns
        -------
        Tensor of shape (batch, in_features, out_features)
        """
        return torch.einsum("bif,ofi->bio", self.expand(x), self.weight)

    def regularization_loss(
        self, x: Tensor, lamb_l1: float = 1.0, lamb_entropy: float = 2.0
    ) -> Tensor:
        """The KAN paper's sparsity penalty on a batch of inputs.

        ``lamb_l1 * sum(|phi|) + lamb_entropy * entropy(|phi| / sum(|phi|))``, with
        ``|phi|`` the mean absolute activation of each edge on ``x``.

        Parameters
        ----------
        x : Tensor of shape (batch, in_features)
            Inputs of this layer.
        lamb_l1, lamb_entropy : float
            Weights of the L1 and entropy terms.

        Returns
        -------
        Tensor
            A scalar.
        """
        self._check_input(x)
        _check_not_empty(x, "regularization_loss")
        return _l1_entropy(self.edge_activations(x).abs().mean(0), lamb_l1, lamb_entropy)

    # -- grid ------------------------------------------------------------------

    def _check_input(self, x: Tensor) -> None:
        if x.dim() < 1 or x.shape[-1] != self.in_features:
            got = x.shape[-1] if x.dim() else "a scalar"
            raise ValueError(
                f"KANLinear expected inputs with {self.in_features} features, got {got}."
            )

    def _grid_samples(self, x: Tensor) -> Tensor:
        self._check_input(x)
        return x.reshape(-1, self.in_features)

    def _coefficients(self) -> Tensor:
        return self.weight[:, 1:].permute(2, 1, 0)  # (in, n, out)

    def _set_coefficients(self, coef: Tensor) -> None:
        coef = coef.permute(2, 1, 0).to(self.weight)  # (out, n, in)
        self._replace_weight(torch.cat([self.weight[:, :1], coef], dim=1))

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"basis={self.basis!r}, grid_size={self.grid_size}, spline_order={self.spline_order}"
        )


class _GridRefit:
    """The grid update of one layer: candidate grids, their refits and how much they keep.

    Each input's samples are reduced to their distinct values and how often each
    occurs (a pixel column has at most 256): every sum over samples is a weighted
    sum over those, and the change of a function is the same at equal values. The
    least squares is solved in float64 on the CPU, by its normal equations: the
    samples, the points between them (evenly spread over the samples' range, and
    the midpoints of the candidate grid's intervals inside it, so that every new
    function has some) at ``between_weight``, and a ridge term.
    """

    #: Most a refit may change an edge on the samples, relative to the largest
    #: basis term of that input's edges there.
    tolerance = 0.01
    #: Total weight of the points between the samples, relative to the samples'.
    between_weight = 0.01
    #: Ridge weight, relative to the trace of each system's matrix (it keeps the
    #: coefficients bounded where new functions are nearly collinear, and the
    #: systems' condition below about 1e8, harmless in float64).
    ridge = 1e-8
    #: The mixes tried after the caller's ``grid_eps``, more uniform each time.
    mixes = (0.25, 0.5, 1.0)

    def __init__(self, layer: _GridLayer, samples: Tensor) -> None:
        self.layer = layer
        self.n_samples = samples.shape[0]
        self.sorted = torch.sort(samples, dim=0).values
        self.lo, self.hi = self.sorted[0], self.sorted[-1]
        # Distinct values of every input (padded with its largest one) and their counts.
        first = torch.ones_like(self.sorted, dtype=torch.bool)
        first[1:] = self.sorted[1:] != self.sorted[:-1]
        rank = torch.cumsum(first, 0) - 1
        n_values = int(rank[-1].max()) + 1
        self.values = self.sorted[-1:].repeat(n_values, 1).scatter_(0, rank, self.sorted)
        counts = torch.zeros(n_values, samples.shape[1], dtype=torch.float64)
        counts.scatter_add_(0, rank.cpu(), torch.ones_like(counts[:1]).expand_as(rank))
        self.counts = counts.t().unsqueeze(-1)  # (in, values, 1)
        ticks = torch.linspace(
            0, 1, max(32, 4 * layer.n_basis), dtype=samples.dtype, device=samples.device
        )
        self.points = self.lo + (self.hi - self.lo) * ticks.unsqueeze(1)  # (points, in)
        self.coef = layer._coefficients().detach().to("cpu", torch.float64)  # (in, n, edges)
        self.old = self._basis_on(self.values, layer.grid)  # (in, values, n_basis)
        self.scale = _max_abs_product(self.old, self.coef)

    def best(self, grid_eps: float) -> tuple[Tensor, Tensor]:
        """The grid of every input (see ``update_grid``) and its coefficient map."""
        layer, device = self.layer, self.values.device
        # The inputs still to place, as CPU indices (of the float64 refits); grids and
        # samples live on the layer's device.
        todo = torch.arange(self.values.shape[1])
        grid = proj = change = previous = None
        for eps in [grid_eps, *(m for m in self.mixes if m > grid_eps)]:
            full = layer._basis.adapt_grid(self.sorted, layer.grid_size, layer.spline_order, eps)
            if previous is not None and torch.equal(full, previous):
                continue  # a basis whose grid does not depend on the mix
            previous, cand = full, full[todo.to(device)]
            cand_proj, cand_change = self._refit(cand, todo)
            if grid is None:
                grid, proj, change = cand.clone(), cand_proj, cand_change
            else:
                better = cand_change < change[todo]
                rows = todo[better]
                grid[rows.to(device)] = cand[better.to(device)]
                proj[rows] = cand_proj[better]
                change[rows] = cand_change[better]
            todo = torch.nonzero(change > self.tolerance).flatten()
            if len(todo) == 0:
                break
        return grid, proj

    def _refit(self, grid: Tensor, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """Coefficient map onto ``grid`` (of ``inputs``, CPU indices) and the change it makes."""
        layer = self.layer
        on_device = inputs.to(self.values.device)
        mids = ((grid[:, 1:] + grid[:, :-1]) / 2).t()
        lo, hi = self.lo[on_device], self.hi[on_device]
        points = torch.cat([self.points[:, on_device], torch.minimum(torch.maximum(mids, lo), hi)])
        weight = self.between_weight * self.n_samples / points.shape[0]
        old, old_points = self.old[inputs], self._basis_on(points, layer.grid[on_device])
        new, new_points = (
            self._basis_on(self.values[:, on_device], grid),
            self._basis_on(points, grid),
        )
        weighted = new * self.counts[inputs]
        gram = weighted.mT @ new + weight * new_points.mT @ new_points
        lam = self.ridge * gram.diagonal(dim1=1, dim2=2).sum(1).clamp_min(1e-300)
        gram = gram + lam[:, None, None] * torch.eye(gram.shape[-1], dtype=gram.dtype)
        proj = torch.linalg.solve(gram, weighted.mT @ old + weight * new_points.mT @ old_points)
        residual = new @ proj - old
        scale = self.scale[inputs]
        # |residual_s . c_e| <= |residual_s| |c_e|: where that bound is within the
        # tolerance (the new basis reproduces the old one), the exact change is not needed.
        bound = residual.norm(dim=2).amax(1) * self.coef[inputs].norm(dim=1).amax(1)
        exact = torch.nonzero(bound > self.tolerance * scale).flatten()
        change = bound.clone()
        if len(exact):
            change[exact] = _max_abs_product(residual[exact], self.coef[inputs][exact])
        return proj, torch.where(scale > 0, change / scale, 0.0)

    def _basis_on(self, x: Tensor, grid: Tensor) -> Tensor:
        features = self.layer._basis.evaluate(x, grid, self.layer.spline_order)
        return features.transpose(0, 1).to("cpu", torch.float64)


def _max_abs_product(a: Tensor, b: Tensor, block: int = 2**22) -> Tensor:
    """``(a @ b).abs().amax(dim=(1, 2))`` for ``a`` (k, n, m) and ``b`` (k, m, e), in blocks
    of at most ``block`` values (a conv layer has thousands of edges per input)."""
    # In float32: a tolerance of 1% needs no more, and it halves the time.
    a, b = a.float(), b.float()
    k, n, _ = a.shape
    e = max(1, b.shape[2])
    out = a.new_zeros(k)
    rows = max(1, min(n, block // e))
    inputs = max(1, block // (rows * e))
    for i in range(0, k, inputs):
        for r in range(0, n, rows):
            part = torch.bmm(a[i : i + inputs, r : r + rows], b[i : i + inputs])
            low, high = torch.aminmax(part.reshape(part.shape[0], -1), dim=1)
            out[i : i + inputs] = torch.maximum(out[i : i + inputs], torch.maximum(-low, high))
    return out.double()


def _lstsq(a: Tensor, b: Tensor) -> Tensor:
    """Batched least squares ``min ||a c - b||``, robust on every device.

    Solved in float64 on the CPU with the SVD-based driver: GPU and MPS lstsq
    drivers assume full rank and return NaN on the rank-deficient systems that
    grid updates produce (inputs that never reach some knot interval). The sizes
    are small (one system per input), so the copy costs little.
    """
    sol = torch.linalg.lstsq(
        a.detach().to("cpu", torch.float64), b.detach().to("cpu", torch.float64), driver="gelsd"
    ).solution
    return sol.to(b.device)


def _interpolate_knots(grid: Tensor, order: int, new_grid_size: int) -> Tensor:
    """A B-spline knot vector with ``new_grid_size`` intervals following ``grid``."""
    interior = grid[:, order : grid.shape[1] - order]  # (in, G+1)
    old = interior.shape[1] - 1
    pos = torch.linspace(0, old, new_grid_size + 1, dtype=grid.dtype, device=grid.device)
    left = pos.floor().long().clamp(max=old - 1)
    frac = pos - left
    new = interior[:, left] * (1 - frac) + interior[:, left + 1] * frac
    step = (new[:, -1] - new[:, 0]) / new_grid_size
    ext = torch.arange(1, order + 1, dtype=grid.dtype, device=grid.device)
    return torch.cat(
        [new[:, :1] - step[:, None] * ext.flip(0), new, new[:, -1:] + step[:, None] * ext], dim=1
    )


# The grid parameters of KANConv2d and KANLocal2d (numpydoc lines, ending with
# the ``bias`` parameter's name line: each layer says what its bias adds to).
_PIXEL_GRID_PARAMS_DOC = """    **grid
        The edge functions, by keyword, as in :class:`KANLinear`:
        ``grid_size`` (int, default=5: number of grid intervals),
        ``spline_order`` (int, default=3: degree of the B-splines), ``basis``
        (str, default="bspline": a name in :data:`sklearn_kan.nn.basis.BASES`)
        and ``grid_range`` (tuple of float, default=(-1, 1): initial interval
        covered by every channel's grid).
"""


class _KANPixelLayer(_GridLayer):
    """What :class:`KANConv2d` and :class:`KANLocal2d` share.

    Every input channel has its own grid; a pixel value of channel ``c`` is
    expanded into ``[silu(x), B_1(x), .., B_n(x)]`` on that grid, so an image
    ``(N, C, H, W)`` becomes ``(N, C * (n + 1), H, W)`` and each edge function
    is a linear combination of those feature maps. Subclasses say how the
    weights are laid out (``_coefficients`` / ``_set_coefficients``) and how
    the feature maps are combined (``forward``, ``_edge_scale``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride,
        padding,
        dilation,
        *,
        grid_size: int = 5,
        spline_order: int = 3,
        basis: str = "bspline",
        grid_range: tuple[float, float] = (-1.0, 1.0),
    ) -> None:
        super().__init__()
        in_channels = _check_int("in_channels", in_channels, 1)
        out_channels = _check_int("out_channels", out_channels, 1)
        self.kernel_size = _check_pair("kernel_size", kernel_size, 1)
        self.stride = _check_pair("stride", stride, 1)
        self.dilation = _check_pair("dilation", dilation, 1)
        self.padding, self._extra_padding = self._resolve_padding(padding)
        self._init_grid(in_channels, grid_size, spline_order, basis, grid_range)
        self.in_channels = in_channels
        self.out_channels = out_channels

    # The right and bottom padding beyond ``padding`` that padding="same" needs when
    # a kernel spans an even number of pixels, as (left, right, top, bottom).
    _extra_padding: tuple[int, int, int, int] | None = None

    def _resolve_padding(self, padding) -> tuple[tuple[int, int], tuple | None]:
        """``padding`` as symmetric (rows, columns) amounts, and any extra right/bottom padding."""
        if isinstance(padding, str):
            if padding == "valid":
                return (0, 0), None
            if padding != "same":
                raise ValueError(
                    f"padding must be an int, a pair of ints, 'same' or 'valid', got {padding!r}."
                )
            if self.stride != (1, 1):
                raise ValueError(
                    f"padding='same' needs stride=1 (the output then has the input's size), "
                    f"got stride={self.stride}."
                )
            # As torch.nn.Conv2d: half of d * (k - 1) on each side, the odd pixel right/bottom.
            total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            extra = (0, total[1] % 2, 0, total[0] % 2)
            return (total[0] // 2, total[1] // 2), (extra if any(extra) else None)
        return _check_pair("padding", padding, 0), None

    def _pad(self, feats: Tensor) -> Tensor:
        return feats if self._extra_padding is None else F.pad(feats, self._extra_padding)

    @property
    def _n_kernel(self) -> int:
        return self.kernel_size[0] * self.kernel_size[1]

    def expand_pixels(self, x: Tensor) -> Tensor:
        """Per-pixel edge features of every channel.

        Parameters
        ----------
        x : Tensor of shape (N, in_channels, H, W)

        Returns
        -------
        Tensor of shape (N, in_channels * (n_basis + 1), H, W)
            Channel ``c * (n_basis + 1) + j`` holds feature ``j`` of input channel
            ``c`` (``j = 0`` is ``silu``), the layout the weights follow.
        """
        self._check_input(x)
        n, c, h, w = x.shape
        feats = expand(x.permute(0, 2, 3, 1), self.grid, self.basis, self.spline_order)
        return feats.permute(0, 3, 4, 1, 2).reshape(n, c * (self.n_basis + 1), h, w)

    def regularization_loss(
        self, x: Tensor, lamb_l1: float = 1.0, lamb_entropy: float = 2.0
    ) -> Tensor:
        """The KAN paper's sparsity penalty, one edge per (input channel, kernel offset, output).

        Same formula as :meth:`KANLinear.regularization_loss`, with ``|phi|`` the
        mean absolute value of each edge function on the pixels of ``x`` (see the
        subclass for which pixels).

        Parameters
        ----------
        x : Tensor of shape (N, in_channels, H, W)
            Inputs of this layer.
        lamb_l1, lamb_entropy : float
            Weights of the L1 and entropy terms.

        Returns
        -------
        Tensor
            A scalar.
        """
        self._check_input(x)
        _check_not_empty(x, "regularization_loss")
        return _l1_entropy(self._edge_scale(x), lamb_l1, lamb_entropy)

    # -- grid ------------------------------------------------------------------

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expected inputs of shape (N, {self.in_channels}, H, W), "
                f"got {tuple(x.shape)}."
            )

    def _grid_samples(self, x: Tensor) -> Tensor:
        # The pixels of a channel (all positions of all images) are its samples.
        self._check_input(x)
        return _subsample(x.permute(0, 2, 3, 1).reshape(-1, self.in_channels), 16384)

    def _edge_scale(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
            f"basis={self.basis!r}, grid_size={self.grid_size}, spline_order={self.spline_order}"
        )


class KANConv2d(_KANPixelLayer):
    __doc__ = (
        """2-D convolution whose every edge is a learnable KAN function.

    Output channel ``o`` at a position sums, over the input channels ``c`` of its
    group and the kernel offsets ``p``, ``phi_{o,c,p}(x_c[position + p])`` with
    ``phi(x) = w_b silu(x) + sum_j c_j B_j(x)``, plus a bias. The same functions
    are used at every position (weight sharing, as in a convolution).

    It is computed exactly as the per-pixel expansion of every channel on its
    grid, ``(N, C, H, W) -> (N, C * (n_basis + 1), H, W)``, followed by ONE
    ordinary :func:`torch.nn.functional.conv2d` (see :doc:`/architecture`).

    Parameters
    ----------
    in_channels : int
        Number of input channels.
    out_channels : int
        Number of output channels.
    kernel_size : int or tuple of int
        Size of the kernel.
    stride, dilation : int or tuple of int, default=1
        As in :class:`torch.nn.Conv2d`.
    padding : int, tuple of int, "same" or "valid", default=0
        As in :class:`torch.nn.Conv2d`: ``"same"`` (with ``stride=1``) pads so
        that the output has the input's size, the odd pixel of an even kernel
        extent on the right and bottom; ``"valid"`` is no padding. Padded
        positions contribute nothing to a sum (the expanded features are padded
        with zeros), as zero padding does in a convolution; they do not
        contribute ``phi(0)``.
    groups : int, default=1
        As in :class:`torch.nn.Conv2d`; divides both channel counts.
    bias : bool, default=True
        Whether each output channel adds a learnable bias.
"""
        + _PIXEL_GRID_PARAMS_DOC
        + """
    Attributes
    ----------
    weight : Parameter of shape (out_channels, in_channels // groups, n_basis + 1, kh, kw)
        ``weight[:, :, 0]`` are the base (SiLU) weights, ``weight[:, :, 1:]`` the
        basis coefficients of every edge.
    bias : Parameter of shape (out_channels,) or None
    grid : buffer of shape (in_channels, n_grid)
        The grid of every input channel.

    Examples
    --------
    >>> import torch
    >>> from sklearn_kan.nn import KANConv2d
    >>> conv = KANConv2d(3, 8, kernel_size=3, padding=1)
    >>> conv(torch.zeros(2, 3, 16, 16)).shape
    torch.Size([2, 8, 16, 16])
"""
    )

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        **grid,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, **grid)
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(
                f"groups must be >= 1 and divide in_channels ({in_channels}) and "
                f"out_channels ({out_channels}), got {groups}."
            )
        self.groups = groups
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels // groups, self.n_basis + 1, *self.kernel_size)
        )
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise the base weights like ``torch.nn.Conv2d``; small spline coefficients."""
        fan_in = self.in_channels // self.groups * self._n_kernel
        _init_kan_weight(self.weight, self.bias, fan_in, feature_dim=2)

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight.reshape(self.out_channels, -1, *self.kernel_size)
        return F.conv2d(
            self._pad(self.expand_pixels(x)),
            weight,
            self.bias,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
        )

    def _edge_scale(self, x: Tensor) -> Tensor:
        # Mean |phi| of every edge over (up to 1024) pixels of its input channel:
        # a convolution applies the same function at every position, so the
        # distribution of a channel's pixels is what each of its edges sees
        # (up to border and stride effects, which a regulariser can ignore).
        g = self.groups
        pixels = _subsample(x.permute(0, 2, 3, 1).reshape(-1, self.in_channels), 1024)
        feats = expand(pixels, self.grid, self.basis, self.spline_order)  # (M, C, F)
        feats = feats.reshape(feats.shape[0], g, self.in_channels // g, -1)
        weight = self.weight.reshape(g, self.out_channels // g, *self.weight.shape[1:3], -1)
        return torch.einsum("mgcf,gocfk->mgcok", feats, weight).abs().mean(0)

    def _coefficients(self) -> Tensor:
        g, o, cg = self.groups, self.out_channels // self.groups, self.in_channels // self.groups
        coef = self.weight[:, :, 1:].reshape(g, o, cg, self.n_basis, self._n_kernel)
        return coef.permute(0, 2, 3, 1, 4).reshape(self.in_channels, self.n_basis, -1)

    def _set_coefficients(self, coef: Tensor) -> None:
        g, o, cg = self.groups, self.out_channels // self.groups, self.in_channels // self.groups
        n = coef.shape[1]
        coef = coef.reshape(g, cg, n, o, *self.kernel_size).permute(0, 3, 1, 2, 4, 5)
        coef = coef.reshape(self.out_channels, cg, n, *self.kernel_size)
        self._replace_weight(torch.cat([self.weight[:, :, :1], coef.to(self.weight)], dim=2))

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", groups={self.groups}" if self.groups != 1 else "")


class KANLocal2d(_KANPixelLayer):
    __doc__ = (
        """Locally connected KAN layer: a :class:`KANConv2d` without weight sharing.

    Every output position has its own edge functions (and its own bias), as in
    a locally connected layer. The input size is therefore fixed at
    construction.

    It is computed as the per-pixel expansion of every channel, unfolded into
    patches (:func:`torch.nn.functional.unfold`), and ONE batched product over
    the output positions (no Python loop).

    Parameters
    ----------
    in_channels : int
        Number of input channels.
    out_channels : int
        Number of output channels.
    input_size : int or tuple of int
        ``(H, W)`` of the inputs.
    kernel_size : int or tuple of int
        Size of the receptive field of an output position.
    stride, dilation : int or tuple of int, default=1
        As in :class:`torch.nn.Conv2d`.
    padding : int, tuple of int, "same" or "valid", default=0
        As in :class:`KANConv2d`; padded positions contribute nothing.
    bias : bool, default=True
        Whether each output (channel, position) adds a learnable bias.
"""
        + _PIXEL_GRID_PARAMS_DOC
        + """
    Attributes
    ----------
    output_size : tuple of int
        ``(H_out, W_out)``.
    weight : Parameter of shape (H_out * W_out, out_channels, in_channels, n_basis + 1, kh, kw)
        The edges of every output position; ``[..., 0, :, :]`` are base weights.
    bias : Parameter of shape (out_channels, H_out, W_out) or None
    grid : buffer of shape (in_channels, n_grid)
        The grid of every input channel (shared by all positions).

    Examples
    --------
    >>> import torch
    >>> from sklearn_kan.nn import KANLocal2d
    >>> local = KANLocal2d(1, 4, input_size=8, kernel_size=3, stride=2, padding=1)
    >>> local.output_size  # fixed by input_size, like the weights of every position
    (4, 4)
    >>> local(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 4, 4, 4])
"""
    )

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        input_size,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        bias: bool = True,
        **grid,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, **grid)
        self.input_size = _check_pair("input_size", input_size, 1)
        extra = self._extra_padding or (0, 0, 0, 0)
        self.output_size = tuple(
            (n + 2 * p + e - d * (k - 1) - 1) // s + 1
            for n, k, s, p, d, e in zip(
                self.input_size,
                self.kernel_size,
                self.stride,
                self.padding,
                self.dilation,
                (extra[3], extra[1]),
            )
        )
        if min(self.output_size) < 1:
            raise ValueError(
                f"KANLocal2d: inputs of size {self.input_size} are too small for "
                f"kernel_size={self.kernel_size} with padding={self.padding} and "
                f"dilation={self.dilation}."
            )
        n_pos = self.output_size[0] * self.output_size[1]
        self.weight = nn.Parameter(
            torch.empty(n_pos, out_channels, in_channels, self.n_basis + 1, *self.kernel_size)
        )
        self.bias = nn.Parameter(torch.empty(out_channels, *self.output_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise the base weights like a convolution's; small spline coefficients."""
        _init_kan_weight(self.weight, self.bias, self.in_channels * self._n_kernel, feature_dim=3)

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-2:]) != self.input_size:
            raise ValueError(
                f"KANLocal2d expected inputs of size {self.input_size}, got {tuple(x.shape[-2:])}."
            )
        patches = self._patches(x)  # (N, C*F*K, L)
        weight = self.weight.reshape(self.weight.shape[0], self.out_channels, -1)
        out = torch.einsum("nkl,lok->nol", patches, weight)
        out = out.reshape(x.shape[0], self.out_channels, *self.output_size)
        return out if self.bias is None else out + self.bias

    def _patches(self, x: Tensor) -> Tensor:
        return F.unfold(
            self._pad(self.expand_pixels(x)),
            self.kernel_size,
            dilation=self.dilation,
            padding=self.padding,
            stride=self.stride,
        )

    def _edge_scale(self, x: Tensor) -> Tensor:
        # Exact mean |phi| of every edge on the patches it sees, on up to 64
        # images (the cost grows with positions * outputs * inputs * kernel).
        x = x[:64]
        n_pos, k = self.weight.shape[0], self._n_kernel
        patches = self._patches(x).reshape(x.shape[0], self.in_channels, -1, k, n_pos)
        weight = self.weight.reshape(n_pos, self.out_channels, self.in_channels, -1, k)
        return torch.einsum("ncfkl,locfk->nlock", patches, weight).abs().mean(0)

    def _coefficients(self) -> Tensor:
        coef = self.weight[:, :, :, 1:].flatten(4)  # (L, O, C, n, K)
        return coef.permute(2, 3, 0, 1, 4).reshape(self.in_channels, self.n_basis, -1)

    def _set_coefficients(self, coef: Tensor) -> None:
        n_pos, n = self.weight.shape[0], coef.shape[1]
        coef = coef.reshape(self.in_channels, n, n_pos, self.out_channels, *self.kernel_size)
        coef = coef.permute(2, 3, 0, 1, 4, 5)
        self._replace_weight(torch.cat([self.weight[:, :, :, :1], coef.to(self.weight)], dim=3))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", input_size={self.input_size}"


def _init_kan_weight(weight: Tensor, bias: Tensor | None, fan_in: int, feature_dim: int) -> None:
    """``torch.nn.Conv2d``'s bound on the base weights, splines a tenth of it."""
    bound = 1 / math.sqrt(fan_in)
    with torch.no_grad():
        weight.select(feature_dim, 0).uniform_(-bound, bound)
        weight.narrow(feature_dim, 1, weight.shape[feature_dim] - 1).uniform_(-1, 1).mul_(
            0.1 * bound
        )
        if bias is not None:
            bias.uniform_(-bound, bound)


def _check_int(name: str, value, low: int) -> int:
    """``value`` as an int ``>= low``; a ``TypeError`` / ``ValueError`` naming ``name`` if not."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} of type {type(value).__name__}.")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}.")
    return int(value)


def _check_pair(name: str, value, low: int) -> tuple[int, int]:
    """An int or a pair of ints ``>= low`` (torch's ``_pair`` convention), checked."""
    pair = value if isinstance(value, tuple | list) else (value, value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}.")
    return tuple(_check_int(name, v, low) for v in pair)


def _check_not_empty(x: Tensor, what: str) -> None:
    if x.shape[0] == 0:
        raise ValueError(
            f"{what} needs a batch of at least one sample (it averages the edges' activations "
            "over the batch), got an empty batch."
        )


def _l1_entropy(scale: Tensor, lamb_l1: float, lamb_entropy: float) -> Tensor:
    """``lamb_l1 * sum(scale) + lamb_entropy * entropy(scale / sum(scale))``."""
    total = scale.sum()
    p = scale / (total + 1e-12)
    entropy = -(p * torch.log(p + 1e-12)).sum()
    return lamb_l1 * total + lamb_entropy * entropy


def _subsample(rows: Tensor, k: int) -> Tensor:
    """At most ``k`` rows, drawn with a fixed seed (the global RNG is left alone)."""
    if rows.shape[0] <= k:
        return rows
    gen = torch.Generator().manual_seed(0)
    return rows[torch.randperm(rows.shape[0], generator=gen)[:k].to(rows.device)]
