"""Export fitted KAN estimators and pipelines to ONNX, for inference without Python.

:func:`to_onnx` turns a fitted :class:`~sklearn_kan.KANClassifier`,
:class:`~sklearn_kan.KANRegressor`, :class:`~sklearn_kan.HybridKANClassifier`, or a
:class:`~sklearn.pipeline.Pipeline` of affine preprocessing steps
(:class:`~sklearn_kan.preprocessing.Flatten`,
:class:`~sklearn_kan.preprocessing.Downsample`, ``StandardScaler``, ...) ending in
one, into ONE ONNX model that takes the raw inputs (pixels) and returns what
``predict`` and ``predict_proba`` return. Run it with onnxruntime (or any ONNX
runtime) where neither torch nor scikit-learn is installed.

How: the pipeline becomes one torch module, exported by torch's supported
exporter, ``torch.onnx.export(..., dynamo=True)`` (``torch.export`` and onnxscript):

- each preprocessing step must be a step known to be an affine map of its input
  (:data:`AFFINE_STEPS`: the sample rows alone cannot prove it, as an imputer or a
  clipping scaler agrees with an affine map on every row without NaN or values out
  of range); it becomes one matrix product, whose matrix is read by transforming
  the identity (so the step's own code defines it) and checked on ``X_sample``;
- the fitted torch module (input scaling, front end, KAN) is exported as it is;
  while exporting, the KAN layers use plain torch operators instead of their fused
  kernels (see :func:`sklearn_kan.nn.basis.is_exporting`);
- a classifier ends in a softmax, an argmax and a look-up of the class labels in
  their own dtype (``int64``, ``uint64``, ``float64``...), so every label comes back
  exactly; a regressor undoes its target scaling.

Every basis exports (B-splines through a dense Cox-de Boor recursion, the others as
written). Needs the ``onnx`` extra: ``pip install "sklearn-kan[onnx]"`` (onnx,
onnxruntime and onnxscript).
"""

from __future__ import annotations

import copy
import logging
import os
import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn

from ._base import BaseKAN
from .preprocessing import Downsample, Flatten

__all__ = ["AFFINE_STEPS", "to_onnx"]

#: The pipeline steps that :func:`to_onnx` exports before the estimator, by name:
#: each is an affine map of its input for every input, NaN and values beyond the
#: training range included (``MinMaxScaler`` only with ``clip=False``). Subclasses
#: are not included: they may transform otherwise.
AFFINE_STEPS = (
    "Flatten",
    "Downsample",
    "StandardScaler",
    "MinMaxScaler",
    "MaxAbsScaler",
    "RobustScaler",
    "PCA",
    "TruncatedSVD",
)

# Largest input width whose affine preprocessing steps are probed with the identity
# (a D x D matrix): 3 x 128 x 128 images.
_MAX_PROBE = 3 * 128 * 128


def to_onnx(estimator, X_sample, path: str | os.PathLike | None = None, *, opset: int = 18):
    """Export a fitted KAN estimator or pipeline to one ONNX model.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        A fitted :class:`~sklearn_kan.KANClassifier`,
        :class:`~sklearn_kan.KANRegressor` or
        :class:`~sklearn_kan.HybridKANClassifier`, or a fitted ``Pipeline`` whose
        last step is one of them and whose other steps are affine maps of their
        input: steps of the classes named in :data:`AFFINE_STEPS` (``Flatten``,
        ``Downsample``, ``StandardScaler``, ``MinMaxScaler`` without ``clip``...)
        or ``"passthrough"``.
    X_sample : array-like of shape (n_samples, ...)
        A few rows of the raw inputs, as passed to ``estimator.predict``; they fix
        the input's shape (all but the number of rows, which stays free) and are
        used to check the exported preprocessing against the estimator's.
    path : str or path-like, default=None
        Where to write the model (``.onnx``). Nothing is written when None.
    opset : int, default=18
        ONNX opset version (torch's exporter writes 18 and converts to others).

    Returns
    -------
    model : onnx.ModelProto
        One input, ``"X"`` (float32, the shape of ``X_sample`` with any number of
        rows). Classifiers have the outputs ``"label"`` (the predicted class
        labels, as ``predict``, in the dtype of ``classes_``) and
        ``"probabilities"`` (float32, as ``predict_proba``); regressors
        ``"prediction"`` (float32, as ``predict``).

    Raises
    ------
    ValueError
        If ``X_sample`` does not fit the estimator (scikit-learn's message, e.g.
        "X has 10 features, but KANClassifier is expecting 64 features"), a
        preprocessing step is not one known to be affine, or the class labels
        are not numbers.
    TypeError
        If the final step is not a fitted KAN estimator.

    Notes
    -----
    The model computes in float32, as the estimators' own prediction does (with
    the default ``dtype="float32"``). Probabilities agree to about 1e-6 (tested:
    1e-5 and equal labels on MNIST and digits). The model does not validate its
    input as ``predict`` does: a row with NaN gives NaN probabilities where
    ``predict`` raises a ``ValueError``.

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
    try:
        estimator.predict(X_sample[:2])
    except ValueError as exc:
        raise ValueError(f"X_sample does not fit the estimator: {exc}") from exc
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
    outputs = ["label_index", "probabilities"] if wrapper.is_classifier else ["prediction"]
    with torch.no_grad(), warnings.catch_warnings(), _quiet_exporter():
        # torch's own pytree code warns while exporting; nothing the caller can change.
        warnings.filterwarnings("ignore", ".*LeafSpec", FutureWarning)
        program = torch.onnx.export(
            wrapper,
            (dummy,),
            input_names=["X"],
            output_names=outputs,
            # Any number of rows. (A named Dim("n") trips over an internal
            # assertion of torch.export on some models; DYNAMIC does not.)
            dynamic_shapes=({0: torch.export.Dim.DYNAMIC},),
            opset_version=opset,
            dynamo=True,
            verbose=False,
        )
    model = program.model_proto
    if wrapper.is_classifier:
        _look_up_labels(model, np.asarray(final.classes_))
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
        reason = _not_affine(step)
        if reason is not None:
            raise ValueError(
                f"Pipeline step {name!r} ({type(step).__name__}) is not an affine map that "
                f"to_onnx knows: {reason}. Before the estimator, to_onnx exports the steps of "
                f"{', '.join(AFFINE_STEPS)} and 'passthrough', which are affine for every "
                "input; the sample rows alone cannot prove a step affine (an imputer agrees "
                "with one on rows without NaN)."
            )
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
                "input on X_sample: its matrix, read from the identity, does not give its "
                "transform of the sample rows."
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
                    "to_onnx exports numeric class labels only; got labels of dtype "
                    f"{classes.dtype}. Encode them as integers "
                    "(sklearn.preprocessing.LabelEncoder) before fitting."
                )
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
        # The labels are looked up in the ONNX graph (_look_up_labels), in their
        # own dtype: torch has no uint64 arithmetic and would round float64 ones.
        return torch.argmax(proba, dim=1), proba


def _not_affine(step) -> str | None:
    """Why ``step`` is not known to be affine for every input; None when it is."""
    if type(step).__name__ not in AFFINE_STEPS:
        return "it is not one of the steps known to be affine"
    module = type(step).__module__
    ours = type(step) in (Flatten, Downsample)
    theirs = module.startswith(("sklearn.preprocessing", "sklearn.decomposition"))
    if not (ours or theirs):
        return f"it is {module}.{type(step).__name__}, not the known class of that name"
    if getattr(step, "clip", False):
        return "clip=True clips values beyond the training range, which is not affine"
    return None


def _look_up_labels(model, classes: np.ndarray) -> None:
    """Turn the graph's class indices into the labels: a ``Gather`` from ``classes``."""
    from onnx import helper, numpy_helper

    graph = model.graph
    index = next(out for out in graph.output if out.name == "label_index")
    graph.initializer.append(numpy_helper.from_array(classes, "classes"))
    graph.node.append(helper.make_node("Gather", ["classes", "label_index"], ["label"], axis=0))
    label = copy.deepcopy(index)
    label.name = "label"
    label.type.tensor_type.elem_type = helper.np_dtype_to_tensor_dtype(classes.dtype)
    outputs = [label if out.name == "label_index" else out for out in graph.output]
    del graph.output[:]
    graph.output.extend(outputs)


class _quiet_exporter:
    """Keep torch's exporter from logging what the caller cannot act on.

    It logs a warning per missing optional package (torchvision) and its own
    progress; errors are still logged and raised.
    """

    def __enter__(self):
        self._logger = logging.getLogger("torch.onnx")
        self._level = self._logger.level
        self._logger.setLevel(logging.ERROR)
        return self

    def __exit__(self, *exc):
        self._logger.setLevel(self._level)


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
