"""What one row costs a module: multiply-adds, and inputs of B-spline layers.

Used to decide, from the size of the work, how many threads to use and whether
compiling the B-spline kernels pays (see ``sklearn_kan._threads`` and
:func:`~sklearn_kan.nn.compiling`). Counted with forward hooks during one forward
pass of a couple of rows, so it follows any model built from torch's and the
package's layers.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import KANConv2d, KANLinear, KANLocal2d

__all__ = ["RowCost", "macs_per_output", "row_cost"]

# Seconds per B-spline layer input (forward and backward pass together) that the
# compiled cubic kernels save over the eager ones on the CPU: 25 ms for a
# [784, 64, 10] KAN step at batch 256 (217 k inputs), 0.2 ms for [49, 10, 10] at
# batch 128 (7.5 k inputs), on the 2-core machine of docs/performance.md.
EAGER_SECONDS_PER_INPUT = 5e-8


class RowCost:
    """Multiply-adds and B-spline inputs of one row's forward pass."""

    def __init__(self, macs: float, spline_inputs: float) -> None:
        self.macs = macs
        self.spline_inputs = spline_inputs

    @property
    def compile_saving(self) -> float:
        """Seconds per trained row that compiled B-spline kernels would save."""
        return self.spline_inputs * EAGER_SECONDS_PER_INPUT


def row_cost(module: nn.Module, x, call=None) -> RowCost:
    """Count what one row of ``x`` costs ``module`` (a forward pass without gradients).

    Parameters
    ----------
    module : torch.nn.Module
    x : Tensor or array-like
        A few rows of input (two are enough); converted to the module's device and
        dtype.
    call : callable, optional
        What to run on ``x`` (a method of ``module`` such as a decoder); the
        module's forward pass by default.

    Returns
    -------
    RowCost
    """
    param = next(module.parameters())
    x = torch.as_tensor(x, device=param.device, dtype=param.dtype)
    macs = [0.0]
    inputs = [0.0]

    def count(layer, args, out):
        per_out = macs_per_output(layer)
        if per_out:
            macs[0] += per_out * out.numel()
        if getattr(layer, "basis", None) == "bspline" and getattr(layer, "spline_order", 0) == 3:
            inputs[0] += args[0].numel()

    handles = [m.register_forward_hook(count) for m in module.modules()]
    training = module.training
    try:
        module.eval()  # no batch-norm statistics moved by the probe
        with torch.no_grad():
            (module if call is None else call)(x)
    finally:
        module.train(training)
        for handle in handles:
            handle.remove()
    rows = max(int(x.shape[0]), 1)
    return RowCost(macs[0] / rows, inputs[0] / rows)


def macs_per_output(layer: nn.Module) -> int:
    """Multiply-adds of the product behind one output value of ``layer`` (0 if it has none).

    A KAN layer's product is the dense one it computes: ``in * (n_basis + 1)`` inputs per
    output for ``KANLinear``, ``C_in / groups * (n_basis + 1) * kh * kw`` for a KAN
    convolution. Also the rule of the FLOP counts of ``sklearn_kan.model_selection``.
    """
    if isinstance(layer, KANLinear):
        return layer.in_features * (layer.n_basis + 1)
    if isinstance(layer, KANConv2d):
        kh, kw = layer.kernel_size
        return layer.in_channels // layer.groups * (layer.n_basis + 1) * kh * kw
    if isinstance(layer, KANLocal2d):
        kh, kw = layer.kernel_size
        return layer.in_channels * (layer.n_basis + 1) * kh * kw
    if isinstance(layer, nn.Linear):
        return layer.in_features
    if isinstance(layer, nn.Conv2d):
        kh, kw = layer.kernel_size
        return layer.in_channels // layer.groups * kh * kw
    return 0
