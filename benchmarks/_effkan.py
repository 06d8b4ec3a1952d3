"""An efficient-kan-style KAN layer, re-implemented here as the benchmark's reference.

Credit: the design follows Blealtan's *efficient-kan*
(https://github.com/Blealtan/efficient-kan, MIT licence), the usual "fast" KAN
baseline: a SiLU branch through its own ``F.linear``, plus all B-splines evaluated
densely by the Cox-de Boor recursion over every knot interval (a ``(batch, in,
n_intervals)`` tensor per level, with divisions) and one ``F.linear`` over them.
This file is an independent re-implementation of that algorithm written for the
benchmark; no code was copied. Its splines are scaled by a per-edge factor
(efficient-kan's default ``enable_standalone_scale_spline``), which gives it
``in * out`` more parameters than :class:`sklearn_kan.nn.KANLinear`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def dense_cox_de_boor(x: Tensor, grid: Tensor, order: int) -> Tensor:
    """All B-splines of ``x`` (batch, in) on knots ``grid`` (in, n_knots), densely.

    Returns ``(batch, in, n_knots - order - 1)``. Every level of the recursion
    materialises a full tensor over all knot intervals, as efficient-kan does.
    """
    x = x.unsqueeze(-1)
    bases = ((x >= grid[:, :-1]) & (x < grid[:, 1:])).to(x.dtype)
    for d in range(1, order + 1):
        left = (x - grid[:, : -(d + 1)]) / (grid[:, d:-1] - grid[:, : -(d + 1)]) * bases[..., :-1]
        right = (grid[:, d + 1 :] - x) / (grid[:, d + 1 :] - grid[:, 1:-d]) * bases[..., 1:]
        bases = left + right
    return bases


def effkan_expand(x: Tensor, grid: Tensor, order: int) -> Tensor:
    """``[silu(x), B_1..B_n]`` (batch, in, n + 1) the efficient-kan way (for the expansion row)."""
    return torch.cat([F.silu(x).unsqueeze(-1), dense_cox_de_boor(x, grid, order)], -1)


class EffKANLinear(nn.Module):
    """``F.linear(silu(x), W_b) + F.linear(B(x), W_s * scaler)`` with dense Cox-de Boor."""

    def __init__(self, n_in: int, n_out: int, grid_size: int = 5, order: int = 3) -> None:
        super().__init__()
        self.order = order
        h = 2.0 / grid_size
        knots = torch.arange(-order, grid_size + order + 1, dtype=torch.float32) * h - 1.0
        self.register_buffer("grid", knots.expand(n_in, -1).contiguous())
        bound = 1 / math.sqrt(n_in)
        self.base_weight = nn.Parameter(torch.empty(n_out, n_in).uniform_(-bound, bound))
        self.spline_weight = nn.Parameter(
            torch.empty(n_out, n_in, grid_size + order).uniform_(-0.1 * bound, 0.1 * bound)
        )
        self.spline_scaler = nn.Parameter(torch.ones(n_out, n_in))

    def forward(self, x: Tensor) -> Tensor:
        base = F.linear(F.silu(x), self.base_weight)
        bases = dense_cox_de_boor(x, self.grid, self.order)
        weight = self.spline_weight * self.spline_scaler.unsqueeze(-1)
        return base + F.linear(bases.reshape(x.shape[0], -1), weight.reshape(weight.shape[0], -1))


class EffKAN(nn.Module):
    def __init__(self, widths, grid_size: int = 5, order: int = 3) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            EffKANLinear(a, b, grid_size, order) for a, b in zip(widths[:-1], widths[1:])
        )

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x
