"""Torch models built from KAN layers: the plain :class:`KAN` stack."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .layers import KANLinear

__all__ = ["KAN"]


class KAN(nn.Module):
    """A stack of :class:`~sklearn_kan.nn.KANLinear` layers.

    Parameters
    ----------
    widths : sequence of int
        Width of every layer, input first, output last: ``[784, 64, 10]`` is a
        784-input, 10-output KAN with one hidden layer of 64 nodes.
    **layer_kwargs
        Passed to every :class:`~sklearn_kan.nn.KANLinear` (``grid_size``,
        ``spline_order``, ``basis``, ``grid_range``, ...).

    Examples
    --------
    >>> import torch
    >>> from sklearn_kan.nn import KAN
    >>> net = KAN([4, 8, 3], grid_size=5)
    >>> net(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(self, widths: Sequence[int], **layer_kwargs) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) < 2:
            raise ValueError(f"widths needs at least an input and an output width, got {widths}.")
        self.widths = widths
        self.layers = nn.ModuleList(
            KANLinear(a, b, **layer_kwargs) for a, b in zip(widths[:-1], widths[1:])
        )

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def layer_inputs(self, x: Tensor) -> list[Tensor]:
        """Input of every layer for a batch ``x`` (the first one is ``x`` itself)."""
        inputs = []
        for layer in self.layers:
            inputs.append(x)
            x = layer(x)
        return inputs

    @torch.no_grad()
    def update_grid(self, x: Tensor, grid_eps: float = 0.02) -> None:
        """Update every layer's grid from a batch, first layer first.

        Each layer is updated on the inputs it receives after the layers before
        it were updated (their functions are kept, so those inputs barely move).
        """
        for layer in self.layers:
            layer.update_grid(x, grid_eps=grid_eps)
            x = layer(x)

    @torch.no_grad()
    def extend_grid(self, new_grid_size: int) -> None:
        """Refine every layer's grid to ``new_grid_size`` intervals (coarse to fine)."""
        for layer in self.layers:
            layer.extend_grid(new_grid_size)

    def regularization_loss(
        self, x: Tensor, lamb_l1: float = 1.0, lamb_entropy: float = 2.0
    ) -> Tensor:
        """Sum of the layers' :meth:`KANLinear.regularization_loss` on a batch ``x``."""
        total = x.new_zeros(())
        for layer in self.layers:
            total = total + layer.regularization_loss(x, lamb_l1, lamb_entropy)
            x = layer(x)
        return total
