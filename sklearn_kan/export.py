"""Export fitted KAN estimators and pipelines to ONNX, for inference without Python.

:func:`to_onnx` turns a fitted :class:`~sklearn_kan.KANClassifier`,
:class:`~sklearn_kan.KANRegressor`, :class:`~sklearn_kan.HybridKANClassifier`, or a
:class:`~sklearn.pipeline.Pipeline` of affine preprocessing steps
(:class:`~sklearn_kan.preprocessing.Flatten`,
:class:`~sklearn_kan.preprocessing.Downsample`, ``StandardScaler``, ...) ending in
one, into ONE ONNX model that takes the raw inputs (pixels) and returns what
``predict`` and ``predict_proba`` return. Run it with onnxruntime (or any ONNX
runtime) where neither torch nor scikit-learn is installed.

How: the pipeline becomes one torch module, exported by ``torch.onnx.export``
(TorchScript tracing, ``dynamo=False``; it needs no ``onnxscript``):

- each preprocessing step, which must be an affine map of its input, becomes one
  matrix product: its matrix is read by transforming the identity (so the step's
  own code defines it) and checked on ``X_sample``;
- the fitted torch module (input scaling, front end, KAN) is traced as it is; while
  tracing, the KAN layers use plain torch operators instead of their fused kernels
  (see :func:`sklearn_kan.nn.basis.is_exporting`);
- a classifier ends in a softmax, an argmax and a look-up of the class labels; a
  regressor undoes its target scaling.

Every basis exports (B-splines through a dense Cox-de Boor recursion, the others as
written). Needs the ``onnx`` extra: ``pip install "sklearn-kan[onnx]"``.
"""

from __future__ import annotations

import copy
import io
import os
import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn

from ._base import BaseKAN

__all__ = ["to_onnx"]

# Largest input width whose affine preprocessing steps are probed with the identity
# (a D x D matrix): 3 x 128 x 128 images.
_MAX_PROBE = 3 * 128 * 128


def to_onnx(estimator, X_sample, path: str | os.PathLike | None = None, *, opset: int = 17):
    """Export a fitted KAN estimator or pipeline to one ONNX model.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        A fitted :class:`~sklearn_kan.KANClassifier`,
        :class:`~sklearn_kan.KANRegressor` or
        :class:`~sklearn_kan.HybridKANClassifier`, or a fitted ``Pipeline`` whose
        last step is one of them and whose other steps are affine maps of their
        input (``Flatten``, ``Downsample``, ``StandardScaler``, ``"passthrough"``).
    X_sample : array-like of shape (n_samples, ...)
        A few rows of the raw inputs, as passed to ``estimator.predict``; they fix
        the input's shape (all but the number of rows, which stays free) and are
        used to check the exported preprocessing against the estimator's.
    path : str or path-like, default=None
        Where to write the model (``.onnx``). Nothing is written when None.
    opset : int, default=17
        ONNX opset version.

    Returns
    -------
    model : onnx.ModelProto
        One input, ``"X"`` (float32, the shape of ``X_sample`` with any number of
        rows). Classifiers have the outputs ``"label"`` (the predicted class
        labels, as ``predict``) and ``"probabilities"`` (float32, as
        ``predict_proba``); regressors ``"prediction"`` (float32, as ``predict``).

    Raises
    ------
    ValueError
        If a preprocessing step is not an affine map, or the class labels are not
        numbers (ONNX tensors made by torch hold numbers only).
    TypeError
        If the final step is not a fitted KAN estimator.

    Notes
    -----
    The model computes in float32, as the estimators' own prediction does (with
    the default ``dtype="float32"``). Probabilities agree to about 1e-6 (tested:
    1e-5 and equal labels on MNIST and digits).

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_kan import KANClassifier
    >>> from sklearn_kan.export import to_onnx
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = KANClassifier((8,), max_epochs=2, random_state=0).fit(X, y)
    >>> model = to_onnx(clf, X[:5])
    >>> session = ort.InferenceSession(model.SerializeToString())
    >>> labels, proba = session.run(None, {"X": X[:5].astype(np.float32)})
    >>> bool((labels == clf.predict(X[:5])).all())
    True
    """
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "to_onnx needs the onnx package: pip install 'sklearn-kan[onnx]'."
        ) from exc
    steps = list(estimator.steps) if hasattr(estimator, "steps") else [("model", estimator)]
    final = steps[-1][1]
    if not isinstance(final, BaseKAN):
        raise TypeError(
            "to_onnx expects a fitted KANClassifier, KANRegressor or HybridKANClassifier, or "
            f"a Pipeline ending in one; got {type(final).__name__}."
        )
    check_is_fitted(final)
    X_sample = np.asarray(X_sample, dtype=np.float64)
    if X_sample.ndim < 2 or len(X_sample) == 0:
        raise ValueError(
            f"X_sample must hold at least one row of the raw inputs, got shape {X_sample.shape}."
        )
    pre, x = [], X_sample
    for name, step in steps[:-1]:
        if step is None or step == "passthrough":
            continue
        affine = _Affine.probe(name, step, x)
        pre.append(affine)
        x = step.transform(x)
    wrapper = _Exported(pre, final, X_sample.shape[1:]).eval()
    dummy = torch.as_tensor(X_sample[:2], dtype=torch.float32)
    _fix_adaptive_pools(wrapper, dummy)
    outputs = ["label", "probabilities"] if wrapper.is_classifier else ["prediction"]
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # The shape checks of the layers become constants of the trace: right, as
        # everything but the number of rows is fixed by the fitted estimator.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            wrapper,
            (dummy,),
            buffer,
            input_names=["X"],
            output_names=outputs,
            dynamic_axes={"X": {0: "n"}, **{out: {0: "n"} for out in outputs}},
            opset_version=opset,
            dynamo=False,
        )
    model = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(model)
    if path is not None:
        onnx.save(model, os.fspath(path))
    return model


class _Affine(nn.Module):
    """A preprocessing step as ``flat(x) @ matrix + offset``, reshaped like its output."""

    def __init__(self, matrix: np.ndarray, offset: np.ndarray, out_shape: tuple) -> None:
        super().__init__()
        identity = matrix.shape[0] == matrix.shape[1] and np.array_equal(
            matrix, np.eye(matrix.shape[0])
        )
        # A step that only reshapes (Flatten of flat rows) needs no product.
        self.register_buffer(
            "matrix", None if identity else torch.as_tensor(matrix, dtype=torch.float32)
        )
        self.register_buffer(
            "offset", None if not offset.any() else torch.as_tensor(offset, dtype=torch.float32)
        )
        self.out_shape = tuple(int(d) for d in out_shape)

    @classmethod
    def probe(cls, name: str, step, X: np.ndarray) -> _Affine:
        width = int(np.prod(X.shape[1:]))
        if width > _MAX_PROBE:
            raise ValueError(
                f"Pipeline step {name!r}: inputs of {width} values are too wide to export "
                f"(at most {_MAX_PROBE})."
            )
        try:
            offset_rows = step.transform(np.zeros((1, *X.shape[1:])))
            basis = step.transform(np.eye(width).reshape(width, *X.shape[1:]))
        except Exception as exc:
            raise ValueError(
                f"Pipeline step {name!r} ({type(step).__name__}) could not be exported: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        offset_rows, basis = np.asarray(offset_rows), np.asarray(basis)
        out_shape = basis.shape[1:]
        offset = offset_rows.reshape(-1)
        matrix = basis.reshape(width, -1) - offset
        expected = np.asarray(step.transform(X)).reshape(len(X), -1)
        got = X.reshape(len(X), -1) @ matrix + offset
        if not np.allclose(got, expected, rtol=1e-6, atol=1e-6 * (1 + np.abs(expected).max())):
            raise ValueError(
                f"Pipeline step {name!r} ({type(step).__name__}) is not an affine map of its "
                "input, which is what to_onnx can export before the estimator (Flatten, "
                "Downsample, StandardScaler, ...)."
            )
        return cls(matrix, offset, out_shape)

    def forward(self, x: Tensor) -> Tensor:
        x = x.reshape(x.shape[0], -1)
        if self.matrix is not None:
            x = x @ self.matrix
        if self.offset is not None:
            x = x + self.offset
        return x.reshape(x.shape[0], *self.out_shape)


class _Exported(nn.Module):
    """Raw inputs to the estimator's outputs, as one traceable module."""

    def __init__(self, pre: list[_Affine], estimator: BaseKAN, in_shape: tuple) -> None:
        super().__init__()
        self.pre = nn.ModuleList(pre)
        self.in_shape = tuple(int(d) for d in in_shape)
        module = estimator.net_.module_
        self.module = _cpu_float32_copy(module)
        image_shape = getattr(estimator, "image_shape_", None)
        # HybridKANClassifier reads rows as channels-last images (H, W, C).
        self.image_shape = None if image_shape is None else tuple(int(d) for d in image_shape)
        self.is_classifier = hasattr(estimator, "classes_")
        if self.is_classifier:
            classes = np.asarray(estimator.classes_)
            if classes.dtype.kind not in "biuf":
                raise ValueError(
                    "to_onnx exports numeric class labels only (ONNX tensors made by torch "
                    f"hold numbers); got labels of dtype {classes.dtype}. Encode them as "
                    "integers (sklearn.preprocessing.LabelEncoder) before fitting."
                )
            dtype = torch.int64 if classes.dtype.kind in "biu" else torch.float32
            self.register_buffer("classes", torch.as_tensor(classes, dtype=dtype))
        else:
            scale = np.asarray(estimator._y_scale, dtype=np.float32)
            mean = np.asarray(estimator._y_mean, dtype=np.float32)
            self.register_buffer("y_scale", torch.as_tensor(scale))
            self.register_buffer("y_mean", torch.as_tensor(mean))
            self.y_1d = bool(estimator._y_1d)

    def forward(self, X: Tensor):
        x = X
        for step in self.pre:
            x = step(x)
        if self.image_shape is None:
            x = x.reshape(x.shape[0], -1)
        else:
            x = x.reshape(x.shape[0], *self.image_shape).permute(0, 3, 1, 2)
        out = self.module(x)
        if not self.is_classifier:
            out = out * self.y_scale + self.y_mean
            return out[:, 0] if self.y_1d else out
        proba = torch.softmax(out, dim=1)
        return self.classes[torch.argmax(proba, dim=1)], proba


def _cpu_float32_copy(module: nn.Module) -> nn.Module:
    module = copy.deepcopy(module).to("cpu", torch.float32).eval()
    for param in module.parameters():
        param.requires_grad_(False)
    return module


def _fix_adaptive_pools(wrapper: nn.Module, dummy: Tensor) -> None:
    """Replace every ``AdaptiveAvgPool2d`` by the fixed pooling it does on these inputs.

    ONNX's exporter needs the input size of an adaptive pooling, which tracing loses
    after the KAN convolutions' reshapes. The image size is fixed by the fitted
    estimator, so each adaptive pooling is a fixed one: the identity, an
    ``AvgPool2d``, or (sizes that do not divide) a fixed linear map.
    """
    sizes: dict[str, tuple[int, int]] = {}

    def record(name: str):
        def hook(module, args) -> None:
            sizes[name] = tuple(int(d) for d in args[0].shape[-2:])

        return hook

    handles = [
        module.register_forward_pre_hook(record(name))
        for name, module in wrapper.named_modules()
        if isinstance(module, nn.AdaptiveAvgPool2d)
    ]
    try:
        with torch.no_grad():
            wrapper(dummy)
    finally:
        for handle in handles:
            handle.remove()
    for name, (h, w) in sizes.items():
        pool = wrapper.get_submodule(name)
        oh, ow = (
            (pool.output_size, pool.output_size)
            if isinstance(pool.output_size, int)
            else pool.output_size
        )
        oh, ow = oh or h, ow or w
        if (h, w) == (oh, ow):
            fixed = nn.Identity()
        elif h % oh == 0 and w % ow == 0:
            fixed = nn.AvgPool2d((h // oh, w // ow))
        else:
            fixed = _PoolMatrix(pool, h, w)
        parent, _, child = name.rpartition(".")
        setattr(wrapper.get_submodule(parent) if parent else wrapper, child, fixed)


class _PoolMatrix(nn.Module):
    """An adaptive average pooling of fixed ``(h, w)`` inputs as one matrix product."""

    def __init__(self, pool: nn.Module, h: int, w: int) -> None:
        super().__init__()
        with torch.no_grad():
            basis = pool(torch.eye(h * w).reshape(h * w, 1, h, w))
        self.out_hw = tuple(basis.shape[-2:])
        self.register_buffer("matrix", basis.reshape(h * w, -1))

    def forward(self, x: Tensor) -> Tensor:
        n, c = x.shape[:2]
        out = x.reshape(n, c, -1) @ self.matrix
        return out.reshape(n, c, *self.out_hw)
