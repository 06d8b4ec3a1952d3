"""Forward FLOPs per sample, counted by one rule for KAN, linear and convolution layers.

The rule (also in the user guide, "Reading the comparison report"):

- a multiply-add is 2 FLOPs; any other arithmetic operation or elementary
  function (add, multiply, divide, compare, ``exp``, ``tanh``) is 1 FLOP;
- ``Linear(a, b)``: ``2ab + b`` (the bias); a convolution: ``2 * (C_in / groups)
  * kh * kw + 1`` per output value;
- activations per value: ReLU 1, tanh 1, sigmoid 3, SiLU 4 (``x / (1 + exp(-x))``);
- a normalisation per value: BatchNorm 2 (in evaluation its statistics and
  affine map fold into one scale and shift), LayerNorm 5 (its statistics are
  per sample: mean, centre, square, mean, scale) plus 2 for its affine map;
  a KAN's ``hidden_norm`` map onto the grid adds 2 (after a LayerNorm), 3
  (tanh) or nothing (after a BatchNorm, into whose scale and shift it folds);
- pooling: one FLOP per input value read;
- a KAN layer (``KANLinear``; ``KANConv2d`` / ``KANLocal2d`` per input pixel and
  channel) first expands every input value into its ``n + 1`` features: SiLU (4)
  plus the basis. B-splines of degree ``k`` on a uniform grid: 2 to find the
  interval, then the Cox-de Boor triangle, in which degree ``d = 1..k`` computes
  ``d + 1`` values of 5 FLOPs each (two weights, two products, one sum):
  ``2 + 5 k (k + 3) / 2`` (47 for cubic splines). Gaussian RBFs: 4 per function.
  Chebyshev polynomials: 3 (map and tanh) plus 3 per polynomial after the second.
  Then the product with the weights, counted as the dense product the layer
  computes: ``Linear(in * (n + 1), out)``, or the convolution with ``C_in * (n + 1)``
  input channels;
- the fixed input scaling of the estimators (``x * scale + shift``) is 2 per
  input value; a scaler step of a pipeline too.

Shape-only steps (Flatten, Downsample, dropout) count 0. The output
nonlinearity (softmax in ``predict_proba``) is not counted, for any model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .nn._cost import macs_per_output
from .nn.layers import KANConv2d, KANLinear, KANLocal2d

__all__ = ["count_flops", "expansion_flops"]

_ACTIVATIONS = {nn.ReLU: 1, nn.Tanh: 1, nn.Sigmoid: 3, nn.SiLU: 4, nn.GELU: 8, nn.LeakyReLU: 2}
_SKLEARN_ACTIVATIONS = {"relu": 1, "tanh": 1, "logistic": 3, "identity": 0}
_SILU = 4


def expansion_flops(basis: str, n_basis: int, spline_order: int) -> int:
    """FLOPs to expand one input value into ``[silu(x), B_1(x) .. B_n(x)]``.

    Parameters
    ----------
    basis : {"bspline", "rbf", "chebyshev"}
    n_basis : int
        Number of basis functions.
    spline_order : int
        Degree ``k`` of the B-splines.

    Returns
    -------
    int
    """
    if basis == "bspline":
        k = int(spline_order)
        return _SILU + 2 + 5 * k * (k + 3) // 2
    if basis == "rbf":
        return _SILU + 4 * int(n_basis)
    if basis == "chebyshev":
        return _SILU + 3 + 3 * max(int(n_basis) - 2, 0)
    raise ValueError(f"no FLOP rule for basis {basis!r}.")


def count_flops(obj, X) -> int:
    """Forward FLOPs per sample of a fitted estimator or a torch module.

    Parameters
    ----------
    obj : fitted estimator, Pipeline or torch.nn.Module
        Estimators of this package and transformers with a torch ``module_``
        are counted by running ``X[:1]`` through them with a hook on every
        layer; scikit-learn's ``MLPClassifier`` / ``MLPRegressor``, linear
        models and scalers from their fitted arrays; a pipeline is the sum of
        its steps.
    X : array-like or Tensor
        Inputs as ``obj`` takes them (only the first sample is used).

    Returns
    -------
    int
        FLOPs to compute the outputs of one sample (the rule is in this
        module's docstring and the user guide).

    Raises
    ------
    TypeError
        For a model, or a layer inside one, that has no counting rule.
    """
    if isinstance(obj, nn.Module):
        x = torch.as_tensor(np.asarray(X[:1]) if not isinstance(X, torch.Tensor) else X[:1])
        dtype = next((p.dtype for p in obj.parameters()), torch.float32)
        return _module_flops(obj, lambda: obj(x.to(dtype)))
    if hasattr(obj, "steps"):
        total, Xt = 0, X[:1]
        for i, (_, step) in enumerate(obj.steps):
            if step is None or step == "passthrough":
                continue
            total += count_flops(step, Xt)
            if i < len(obj.steps) - 1:
                Xt = step.transform(Xt)
        return total
    return _estimator_flops(obj, X[:1])


# -- private -------------------------------------------------------------------


def _estimator_flops(est, X) -> int:
    module = getattr(est, "module_", None)
    if isinstance(module, nn.Module):
        method = est.predict if hasattr(est, "predict") else est.transform
        return _module_flops(module, lambda: method(X), copies=True)
    if hasattr(est, "coefs_"):  # scikit-learn's MLP
        act = _SKLEARN_ACTIVATIONS.get(est.activation)
        if act is None:
            raise TypeError(f"no FLOP rule for activation {est.activation!r}.")
        flops = 0
        for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_)):
            flops += 2 * w.size + b.size
            if i < len(est.coefs_) - 1:
                flops += act * b.size
        return int(flops)
    if hasattr(est, "coef_") and hasattr(est, "intercept_"):
        return int(2 * np.size(est.coef_) + np.size(est.intercept_))
    name = type(est).__name__
    if name in ("StandardScaler", "MinMaxScaler", "RobustScaler", "MaxAbsScaler"):
        return 2 * int(est.n_features_in_)
    if name in ("Flatten", "Downsample", "FunctionTransformer"):
        return 0
    raise TypeError(f"count_flops has no rule for {name}.")


def _module_flops(module: nn.Module, run: Callable, copies: bool = False) -> int:
    """Run ``run()`` once with a counting hook on every layer of ``module``.

    ``copies``: the hooks go on the module the estimator holds, which its
    prediction runs.
    """
    # Per layer, the FLOPs and batch size of its largest call: prediction runs the
    # module on fixed-size chunks, after a probe of two rows (see _base._run_module).
    counts: dict[int, tuple[int, int]] = {}
    handles = []
    for layer in module.modules():
        rule = _rule(layer)
        if rule is None:
            continue

        def hook(mod, args, out, rule=rule):
            batch = args[0].shape[0]
            if batch >= counts.get(id(mod), (0, 0))[1]:
                counts[id(mod)] = (rule(mod, args[0], out), batch)

        handles.append(layer.register_forward_hook(hook))
    try:
        with torch.no_grad():
            was = module.training
            module.eval()
            try:
                run()
            finally:
                module.train(was)
    finally:
        for h in handles:
            h.remove()
    return int(round(sum(f / max(b, 1) for f, b in counts.values())))


def _rule(layer: nn.Module):
    """The counting function of a layer, or None for containers and shape-only layers."""
    if isinstance(layer, (KANLinear, KANConv2d, KANLocal2d)):
        return _kan_layer
    if isinstance(layer, (nn.Linear, nn.Conv2d)):
        return _product
    for cls, cost in _ACTIVATIONS.items():
        if isinstance(layer, cls):
            return lambda m, x, y, cost=cost: cost * y.numel()
    if isinstance(layer, nn.modules.batchnorm._BatchNorm):
        # Evaluation mode: statistics and affine map fold into one scale and shift.
        return lambda m, x, y: 2 * y.numel()
    if isinstance(layer, nn.LayerNorm):
        return lambda m, x, y: (5 + (2 if m.elementwise_affine else 0)) * y.numel()
    if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return lambda m, x, y: x.numel()
    if type(layer).__name__ == "_GridNorm":
        # KAN's hidden_norm: the fixed affine map after its LayerNorm child (2), or
        # tanh and that map (3); after a BatchNorm child it folds into the
        # BatchNorm's own scale and shift (0).
        return lambda m, x, y: {"batchnorm": 0, "layernorm": 2, "tanh": 3}[m.kind] * y.numel()
    if hasattr(layer, "scale_inputs") and hasattr(layer, "scale"):
        return lambda m, x, y: 2 * x.numel()
    if isinstance(layer, (nn.Flatten, nn.Identity, nn.Dropout, nn.Unflatten)):
        return None
    if not list(layer.children()) and any(True for _ in layer.parameters(recurse=False)):
        name = type(layer).__name__

        def unknown(m, x, y):
            raise TypeError(f"count_flops has no rule for the layer {name}.")

        return unknown
    return None


def _product(m: nn.Module, x, y) -> int:
    """The layer's product, 2 FLOPs a multiply-add, plus its bias: per output value."""
    per_output = 2 * macs_per_output(m) + (1 if m.bias is not None else 0)
    return per_output * y.numel()


def _kan_layer(m: nn.Module, x, y) -> int:
    """Every input value expanded into its features, then the layer's product."""
    return expansion_flops(m.basis, m.n_basis, m.spline_order) * x.numel() + _product(m, x, y)
