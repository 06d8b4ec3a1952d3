"""Parameters and FLOPs of every model, by one rule.

:func:`count_params` counts the trainable parameters of a torch module or of the
model an estimator holds, :func:`total_params` those of every step of a pipeline,
:func:`count_flops` the forward FLOPs per sample and :func:`row_macs` the
multiply-adds one row costs a module (what the estimators choose their thread
count from, :func:`sklearn_kan.nn.plan_threads`).

The FLOP rule (also in the user guide, "Reading the comparison report"):

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
from sklearn.pipeline import Pipeline
from torch import nn

from .nn import KANConv2d, KANLinear, KANLocal2d

__all__ = [
    "count_flops",
    "count_params",
    "expansion_flops",
    "macs_per_output",
    "row_macs",
    "total_params",
]


def count_params(obj) -> int:
    """Number of trainable parameters of a torch module or a fitted estimator.

    Parameters
    ----------
    obj : torch.nn.Module or fitted estimator
        A module, an estimator with ``module_`` (or ``n_params_``), or a
        :class:`~sklearn.pipeline.Pipeline` ending in one. scikit-learn's
        ``MLPClassifier`` / ``MLPRegressor`` are counted from ``coefs_`` and
        ``intercepts_``.

    Returns
    -------
    int
    """
    if isinstance(obj, nn.Module):
        n = sum(p.numel() for p in obj.parameters() if p.requires_grad)
        # Edges removed by pruning (sklearn_kan.inspection.prune) stay in the weight
        # tensors, masked to zero: they are not parameters of the model any more.
        for layer in obj.modules():
            mask = getattr(layer, "edge_mask", None)
            if mask is not None:
                n -= int((mask == 0).sum()) * (layer.n_basis + 1)
        return n
    if hasattr(obj, "steps"):
        return count_params(obj.steps[-1][1])
    if hasattr(obj, "module_"):
        return count_params(obj.module_)
    if hasattr(obj, "coefs_"):
        return int(sum(c.size for c in obj.coefs_) + sum(b.size for b in obj.intercepts_))
    raise TypeError(
        f"count_params expects a torch module or a fitted estimator, got {type(obj).__name__}."
    )


def total_params(estimator) -> int:
    """Trainable parameters of a fitted estimator, summed over a pipeline's steps.

    :func:`count_params` counts the last step of a pipeline (the model a
    transformer feeds); this counts every step that has parameters, so a
    ``make_pipeline(VAEFeatures(), KANClassifier())`` includes the VAE.

    Parameters
    ----------
    estimator : fitted estimator or torch.nn.Module
        Anything :func:`count_params` accepts, a fitted linear model
        (``coef_`` and ``intercept_``), or a pipeline of them; steps without
        trainable parameters (scalers,
        :class:`~sklearn_kan.preprocessing.Downsample`) count zero.

    Returns
    -------
    int

    Raises
    ------
    TypeError
        When no part of ``estimator`` has countable parameters.
    """
    if isinstance(estimator, Pipeline):
        counts = [_maybe_count(step) for _, step in estimator.steps]
        if all(c is None for c in counts):
            raise TypeError("No step of the pipeline has countable parameters.")
        return sum(c for c in counts if c is not None)
    linear = _linear_count(estimator)
    return count_params(estimator) if linear is None else linear


def _maybe_count(estimator) -> int | None:
    try:
        return total_params(estimator)
    except (TypeError, AttributeError):
        return None


def _linear_count(estimator) -> int | None:
    """Weights and intercepts of a fitted linear model (a CNN's logistic head)."""
    coef = getattr(estimator, "coef_", None)
    if coef is None or not hasattr(estimator, "intercept_"):
        return None
    return int(np.size(coef) + np.size(estimator.intercept_))


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
    convolution. Also the product rule of :func:`count_flops`.
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
