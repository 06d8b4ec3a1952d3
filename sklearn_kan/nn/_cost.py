"""What one row costs a module: the multiply-adds of its forward pass.

Used to decide, from the size of the work, how many threads to use (see
``sklearn_kan._threads``). Counted with forward hooks during one forward
pass of a couple of rows, so it follows any model built from torch's and the
package's layers.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import KANConv2d, KANLinear, KANLocal2d

__all__ = ["macs_per_output", "row_macs"]


def row_macs(module: nn.Module, x, call=None) -> float:
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
    float
        Multiply-adds per row.
    """
    param = next(module.parameters())
    x = torch.as_tensor(x, device=param.device, dtype=param.dtype)
    macs = [0.0]

    def count(layer, args, out):
        per_out = macs_per_output(layer)  # 0 for containers, whose output may be a tuple
        if per_out:
            macs[0] += per_out * out.numel()

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
    return macs[0] / max(int(x.shape[0]), 1)


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
