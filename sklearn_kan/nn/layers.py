"""KAN layers: every edge is a learnable function ``phi(x) = w_b silu(x) + sum_j c_j B_j(x)``.

A layer expands each input once into its features ``[silu(x), B_1(x), .., B_n(x)]``
and then computes all edges with ONE dense product against a weight of shape
``(out, in * (n + 1))`` (see DESIGN.md section 2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .basis import expand, get_basis

__all__ = ["KANLinear"]


class KANLinear(nn.Module):
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
    basis : {"bspline", "rbf", "chebyshev"}, default="bspline"
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
    weight : Parameter of shape (out_features, in_features, n_basis + 1)
        ``weight[..., 0]`` is the base weight ``w_b``, ``weight[..., 1:]`` the
        basis coefficients ``c_j``.
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
        if in_features < 1 or out_features < 1:
            raise ValueError(
                f"in_features and out_features must be >= 1, got {in_features} and {out_features}."
            )
        if grid_size < 1:
            raise ValueError(f"grid_size must be >= 1, got {grid_size}.")
        if spline_order < 0:
            raise ValueError(f"spline_order must be >= 0, got {spline_order}.")
        lo, hi = float(grid_range[0]), float(grid_range[1])
        if not lo < hi:
            raise ValueError(f"grid_range must be (low, high) with low < high, got {grid_range}.")
        self.in_features = in_features
        self.out_features = out_features
        self.grid_size = grid_size
        self.spline_order = spline_order
        self.basis = basis
        self.grid_range = (lo, hi)
        self.base_activation = base_activation
        self.n_basis = get_basis(basis).n_basis(grid_size, spline_order)
        grid = self._basis.make_grid(
            torch.full((in_features,), lo), torch.full((in_features,), hi), grid_size, spline_order
        )
        self.register_buffer("grid", grid)
        self.weight = nn.Parameter(torch.empty(out_features, in_features, self.n_basis + 1))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self.scale_base = scale_base
        self.scale_spline = scale_spline
        self.reset_parameters()

    @property
    def _basis(self):
        # Looked up by name, so the module pickles without the registry's functions.
        return get_basis(self.basis)

    # -- forward ---------------------------------------------------------------

    def reset_parameters(self) -> None:
        """Initialise like ``torch.nn.Linear`` on the base branch, small splines."""
        bound = self.scale_base / math.sqrt(self.in_features)
        with torch.no_grad():
            self.weight[..., 0].uniform_(-bound, bound)
            self.weight[..., 1:].uniform_(-1, 1).mul_(bound * self.scale_spline)
            if self.bias is not None:
                self.bias.uniform_(-bound, bound)

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
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"KANLinear expected inputs with {self.in_features} features, got {x.shape[-1]}."
            )
        lead = x.shape[:-1]
        feats = self.expand(x.reshape(-1, self.in_features))
        out = F.linear(
            feats.reshape(feats.shape[0], -1), self.weight.reshape(self.out_features, -1), self.bias
        )
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
        return torch.einsum("bif,oif->bio", self.expand(x), self.weight)

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
        scale = self.edge_activations(x).abs().mean(0)
        total = scale.sum()
        p = scale / (total + 1e-12)
        entropy = -(p * torch.log(p + 1e-12)).sum()
        return lamb_l1 * total + lamb_entropy * entropy

    # -- grid ------------------------------------------------------------------

    @torch.no_grad()
    def update_grid(self, x: Tensor, grid_eps: float = 0.02) -> None:
        """Move the grid to the data and refit the coefficients to keep the function.

        New knots are the sample quantiles of ``x`` mixed with a uniform grid over
        its range (``grid_eps=1`` is fully uniform, ``0`` fully adaptive). The basis
        coefficients are then refit by least squares so that every edge keeps its
        values on ``x``.

        Parameters
        ----------
        x : Tensor of shape (batch, in_features)
            Inputs of this layer; at least ``n_basis`` rows.
        grid_eps : float, default=0.02
            Weight of the uniform grid.
        """
        x = x.reshape(-1, self.in_features)
        target = self._spline_part(x)
        x_sorted = torch.sort(x, dim=0).values
        new_grid = self._basis.adapt_grid(x_sorted, self.grid_size, self.spline_order, grid_eps)
        self._refit(x, target, new_grid)

    @torch.no_grad()
    def extend_grid(self, new_grid_size: int, n_samples: int | None = None) -> None:
        """Change the number of grid intervals, keeping the learned functions.

        The KAN paper's coarse-to-fine extension: the new grid spans the same
        interval (interior knots are interpolated from the old ones, so an
        adapted grid stays adapted) and its coefficients are the least-squares
        fit of the old functions on points spread over that interval.

        Parameters
        ----------
        new_grid_size : int
            Number of intervals of the new grid.
        n_samples : int, optional
            Points per input used by the fit (default: ``4 * n_basis`` of the new
            grid, at least 32).
        """
        if new_grid_size < 1:
            raise ValueError(f"new_grid_size must be >= 1, got {new_grid_size}.")
        n_new = self._basis.n_basis(new_grid_size, self.spline_order)
        n_samples = n_samples or max(32, 4 * n_new)
        lo, hi = self._basis.domain(self.grid, self.spline_order)
        ticks = torch.linspace(0, 1, n_samples, dtype=self.grid.dtype, device=self.grid.device)
        x = lo.unsqueeze(0) + (hi - lo).unsqueeze(0) * ticks.unsqueeze(1)  # (m, in)
        target = self._spline_part(x)
        if self.basis == "bspline":
            new_grid = _interpolate_knots(self.grid, self.spline_order, new_grid_size)
        else:
            new_grid = self._basis.make_grid(lo, hi, new_grid_size, self.spline_order)
        self.grid_size = new_grid_size
        self.n_basis = n_new
        self._refit(x, target, new_grid)

    def _spline_part(self, x: Tensor) -> Tensor:
        # (batch, in, out): the basis part of each edge on x.
        basis = self._basis.evaluate(x, self.grid, self.spline_order)
        return torch.einsum("bij,oij->bio", basis, self.weight[..., 1:])

    def _refit(self, x: Tensor, target: Tensor, new_grid: Tensor) -> None:
        basis = self._basis.evaluate(x, new_grid, self.spline_order)  # (b, in, n)
        coef = _lstsq(basis.transpose(0, 1), target.transpose(0, 1))  # (in, n, out)
        weight = torch.cat([self.weight[..., :1], coef.permute(2, 0, 1).to(self.weight)], dim=-1)
        self.grid = new_grid.to(self.grid)
        # A new Parameter object when the width changes; callers that hold an
        # optimizer must rebuild it (the estimators do).
        if weight.shape == self.weight.shape:
            self.weight.copy_(weight)
        else:
            self.weight = nn.Parameter(weight.contiguous())

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"basis={self.basis!r}, grid_size={self.grid_size}, spline_order={self.spline_order}"
        )


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
