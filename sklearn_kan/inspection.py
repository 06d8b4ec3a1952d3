"""What a fitted KAN learned: its edge functions, attribution scores, and pruning.

Every function takes a fitted :class:`~sklearn_kan.KANClassifier`,
:class:`~sklearn_kan.KANRegressor` (or any estimator of the package whose torch
module holds a :class:`~sklearn_kan.nn.KAN`, such as the KAN head of a hybrid), or a
:class:`~sklearn.pipeline.Pipeline` ending in one. One private accessor,
:func:`_locate`, finds the KAN inside the fitted estimator and the inputs that reach
it; everything else is written against what it returns, so a new kind of estimator is
supported by teaching that one function about it.

The scores follow the KAN paper (Liu et al., 2024, section 2.5.1). The *score of an
edge* is its mean absolute activation on data; here it is measured around the
edge's mean on that data by default (``centered=True``), because a constant edge
(an always-blank pixel, say) carries no information: its value can be moved into the
bias of the node it feeds, which is exactly what :func:`prune` does. Node scores are
then propagated back from the outputs as pykan's ``attribute`` does; see
:func:`input_importance` for the exact rule.

:func:`pixel_map` covers every model that takes images, also those whose KAN does
not read the pixels itself (the hybrids, the CNN baseline, pipelines with learned
features) and those without a KAN: it differentiates the fitted model as one torch
function of its input pixels (integrated gradients, gradient x input) or, where a
step has no torch form, measures what covering each patch of the image costs the
prediction (occlusion). The KAN's own scores stay its default where they apply.
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import BaseEstimator, is_classifier
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler
from sklearn.utils import Bunch
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d
from torch import Tensor, nn

from ._base import PREDICT_CHUNK, BaseKAN
from ._counting import count_flops, count_params
from ._images import as_images, flat_image_shape
from .feature_extraction import ConvFeatures, VAEFeatures
from .nn import plan_threads, using_threads
from .nn.basis import get_basis
from .nn.layers import KANLinear
from .nn.models import KAN, ScaledKAN
from .preprocessing import Downsample, Flatten

__all__ = [
    "activation_curves",
    "edge_importance",
    "input_importance",
    "pixel_importance",
    "pixel_map",
    "prune",
]


def activation_curves(
    estimator,
    layer: int = 0,
    inputs: int | Sequence[int] | None = None,
    outputs: int | Sequence[int] | None = None,
    n_points: int = 100,
) -> Bunch:
    """Sample the learned function of every chosen edge of one layer.

    Each edge ``phi_{o,i}`` (input ``i`` to output ``o`` of the layer, the node's
    bias excluded) is evaluated at ``n_points`` equally spaced points of its
    input's grid range, where its splines live.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        A fitted KAN estimator, or a pipeline ending in one.
    layer : int, default=0
        Index of the KAN layer (negative values count from the end).
    inputs : int, sequence of int or None, default=None
        Input nodes of the layer to sample (all by default).
    outputs : int, sequence of int or None, default=None
        Output nodes of the layer to sample (all by default).
    n_points : int, default=100
        Number of points per input, at least 2.

    Returns
    -------
    curves : :class:`~sklearn.utils.Bunch`
        With the fields:

        x : ndarray of shape (n_inputs, n_points)
            Sample points of each chosen input, in the units the layer sees (after
            the estimator's input scaling for layer 0).
        y : ndarray of shape (n_inputs, n_outputs, n_points)
            ``y[a, b, p] = phi_{outputs[b], inputs[a]}(x[a, p])``.
        x_original : ndarray of shape (n_inputs, n_points) or None
            For layer 0, ``x`` mapped back to the units of the estimator's features
            (the inverse of its input scaling; NaN for a feature that was constant
            in training, whose values all map to one point); None for later layers
            and when the KAN does not read the features directly (a hybrid's head).
        inputs, outputs : ndarray of int
            The chosen node indices.
        input_names : ndarray of str
            Names of the chosen inputs: feature names for layer 0 when the KAN reads
            the features, otherwise ``"h<layer>_<node>"``.
        layer : int
            The layer, as a non-negative index.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_kan import KANClassifier
    >>> from sklearn_kan.inspection import activation_curves
    >>> X, y = load_iris(return_X_y=True, as_frame=True)  # a DataFrame: named features
    >>> clf = KANClassifier(hidden_layer_sizes=(3,), max_epochs=5, random_state=0).fit(X, y)
    >>> curves = activation_curves(clf, layer=0, n_points=50)
    >>> curves.x.shape, curves.y.shape
    ((4, 50), (4, 3, 50))
    >>> curves.input_names[:2].tolist()
    ['sepal length (cm)', 'sepal width (cm)']
    >>> bool(curves.x_original[0].min() <= X["sepal length (cm)"].min() + 1e-6)  # in cm
    True
    """
    view = _locate(estimator)
    index = _check_layer(view, layer)
    kan_layer = view.kan.layers[index]
    inputs = _check_nodes(inputs, kan_layer.in_features, "inputs")
    outputs = _check_nodes(outputs, kan_layer.out_features, "outputs")
    if isinstance(n_points, bool) or not isinstance(n_points, numbers.Integral) or n_points < 2:
        raise ValueError(f"n_points must be an integer >= 2, got {n_points!r}.")
    basis = get_basis(kan_layer.basis)
    if basis.learnable:
        # No grid range (the rational's grid holds its learned coefficients):
        # the interval the layer was built for, where its inputs were scaled.
        lo = torch.full((kan_layer.in_features,), kan_layer.grid_range[0])
        hi = torch.full((kan_layer.in_features,), kan_layer.grid_range[1])
    else:
        lo, hi = basis.domain(kan_layer.grid, kan_layer.spline_order)
    x, y = _sample_edges(
        kan_layer, inputs, outputs, lo.cpu().numpy()[inputs], hi.cpu().numpy()[inputs], n_points
    )
    x_original = None
    if index == 0 and view.scaler is not None:
        x_original = view.to_feature_units(x, inputs)
    return Bunch(
        x=x,
        y=y,
        x_original=x_original,
        inputs=inputs,
        outputs=outputs,
        input_names=_node_names(view, index)[inputs],
        layer=index,
    )


def edge_importance(estimator, X, *, centered: bool = True) -> list[np.ndarray]:
    """Score of every edge of every layer on data: its mean absolute activation.

    The score of the edge from input ``i`` to output ``o`` of layer ``l`` is the
    KAN paper's L1 norm of the edge on ``X``,
    ``mean_n |phi_{l,o,i}(x_{l,i,n}) - c|``, where ``x_{l,i,n}`` is what input ``i``
    of the layer receives for sample ``n``. With ``centered=True``, ``c`` is the
    edge's mean on ``X`` (the mean absolute deviation: the average change of the
    next node if the edge were replaced by its mean and that mean moved into the
    node's bias); with ``centered=False``, ``c = 0`` (the paper's score as written).

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        A fitted KAN estimator, or a pipeline ending in one.
    X : array-like
        Samples, as the estimator (or pipeline) takes them. A few thousand
        representative rows are enough; with ``centered=True``, at least two that
        give the KAN different inputs (else a ``ValueError``: every score would be 0).
    centered : bool, default=True
        Whether to measure each edge around its mean (see above).

    Returns
    -------
    scores : list of ndarray
        One array per layer, of shape ``(out_features, in_features)`` like the
        layer's weight: ``scores[l][o, i]``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_kan import KANRegressor
    >>> from sklearn_kan.inspection import edge_importance
    >>> X = np.random.RandomState(0).uniform(-1, 1, size=(200, 2))
    >>> X[:, 1] = 0.5  # a constant input
    >>> reg = KANRegressor(hidden_layer_sizes=(3,), max_epochs=5, random_state=0)
    >>> first, second = edge_importance(reg.fit(X, X[:, 0] ** 2), X)
    >>> first.shape, second.shape  # (out, in) per layer: 2 -> 3 -> 1
    ((3, 2), (1, 3))
    >>> bool(first[:, 1].max() < 1e-6)  # centred scores: a constant input's edges score 0
    True
    """
    view = _locate(estimator)
    return _edge_scores(view.kan, _varied_inputs(view, X, centered, "edge_importance"), centered)


def input_importance(
    estimator, X, *, per_output: bool = False, centered: bool = True
) -> np.ndarray:
    """Importance of every input of the KAN, propagated back from its outputs.

    pykan's attribution (``KAN.attribute``). Let ``E_l[o, i]`` be the edge scores of
    :func:`edge_importance`. The *share* of edge ``(l, o, i)`` in node ``o`` is
    ``E_l[o, i] / sum_j E_l[o, j]``: the fraction of the node's variation that flows
    in through that edge (pykan divides by the node's standard deviation instead;
    dividing by the sum of the incoming scores, its triangle-inequality bound, makes
    the scores add up exactly). Node scores are then propagated from the outputs to
    the inputs::

        S_L = identity (output k has score 1 for output k, 0 for the others)
        S_l[k, i] = sum_o S_{l+1}[k, o] * E_l[o, i] / sum_j E_l[o, j]

    so that, for each output ``k``, the input scores ``S_0[k]`` sum to 1 (less the
    flow through nodes that do not vary at all): ``S_0[k, i]`` is the share of output
    ``k``'s variation that comes from input ``i``.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        A fitted KAN estimator, or a pipeline ending in one.
    X : array-like
        Samples, as the estimator (or pipeline) takes them; with ``centered=True``
        at least two that give the KAN different inputs, as for
        :func:`edge_importance`.
    per_output : bool, default=False
        Return the scores of each output (class) separately instead of their mean.
    centered : bool, default=True
        Passed to :func:`edge_importance`.

    Returns
    -------
    importance : ndarray of shape (n_inputs,) or (n_outputs, n_inputs)
        ``S_0`` averaged over the outputs (it sums to 1), or ``S_0`` itself when
        ``per_output``. The inputs are the KAN's: the estimator's features for a
        plain KAN estimator, the front end's features for a hybrid's KAN head.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_kan import KANRegressor
    >>> from sklearn_kan.inspection import input_importance
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(400, 3))
    >>> y = np.sin(3 * X[:, 0]) + 0.5 * X[:, 1]  # X[:, 2] is noise
    >>> reg = KANRegressor(hidden_layer_sizes=(4,), random_state=0).fit(X, y)
    >>> importance = input_importance(reg, X)
    >>> bool(np.isclose(importance.sum(), 1.0)), int(importance.argmin())
    (True, 2)
    """
    view = _locate(estimator)
    x = _varied_inputs(view, X, centered, "input_importance")
    nodes, _ = _attribution(_edge_scores(view.kan, x, centered))
    return nodes[0] if per_output else nodes[0].mean(axis=0)


def pixel_importance(
    estimator,
    X,
    image_shape: Sequence[int] | None = None,
    *,
    per_class: bool = False,
) -> np.ndarray:
    """:func:`input_importance` laid out as an image, at the input's resolution.

    Through a pipeline, the importance of the KAN's inputs is carried back through
    the steps before it: a :class:`~sklearn_kan.preprocessing.Downsample` step
    spreads the importance of each small pixel over the original pixels by its
    resizing weights (for ``method="area"``, the fraction of the small pixel that
    each original pixel covers), which keeps the total;
    :class:`~sklearn_kan.preprocessing.Flatten`, ``"passthrough"`` and per-feature
    scalers (``StandardScaler``, ``MinMaxScaler``, ``MaxAbsScaler``,
    ``RobustScaler``) keep each feature in place.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        A fitted KAN estimator whose KAN reads the pixels, or a pipeline ending
        in one.
    X : array-like
        Images, as the estimator (or pipeline) takes them.
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of the images that the
        importance describes. By default it comes from the first ``Downsample`` or
        ``Flatten`` step of the pipeline, else the package's rule for flat rows
        applies (a square one-channel image for a perfect-square number of
        inputs, else one row of pixels).
    per_class : bool, default=False
        Return one map per output (class for a classifier, in the order of
        ``classes_``) instead of their mean.

    Returns
    -------
    importance : ndarray of shape (height, width[, channels]) or \
            (n_outputs, height, width[, channels])
        The channel axis is present only for images with more than one channel.
        A map sums to 1 (see :func:`input_importance`).

    See Also
    --------
    pixel_map : Pixel maps of any image model, these scores among them.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_kan import KANClassifier
    >>> from sklearn_kan.inspection import pixel_importance
    >>> from sklearn_kan.preprocessing import Downsample
    >>> X, y = load_digits(return_X_y=True)
    >>> model = make_pipeline(
    ...     Downsample(4), KANClassifier(hidden_layer_sizes=(8,), max_epochs=5, random_state=0)
    ... ).fit(X, y)
    >>> pixel_importance(model, X).shape
    (8, 8)
    >>> pixel_importance(model, X, per_class=True).shape
    (10, 8, 8)
    """
    view = _locate(estimator)
    if view.scaler is None:
        raise ValueError(
            f"pixel_importance needs a KAN that reads the pixels, but the KAN of "
            f"{type(view.estimator).__name__} reads the features of its front end. Use "
            "pixel_map for pixel maps of any image model, or input_importance for the "
            "importance of those features."
        )
    importance = input_importance(view.owner, X, per_output=True)
    importance, shape = _to_pixels(view, importance)
    if image_shape is not None or shape is None:
        # The package's one rule for flat rows (square, else 1 x n; image_shape wins).
        shape = flat_image_shape(importance.shape[1], image_shape)
    maps = importance.reshape(importance.shape[0], *shape)
    if shape[2] == 1:
        maps = maps[..., 0]
    return maps if per_class else maps.mean(axis=0)


def pixel_map(
    estimator,
    X,
    y=None,
    *,
    method: str = "auto",
    baseline: float | str | np.ndarray = 0.0,
    n_steps: int = 32,
    patch_size: int | Sequence[int] | None = None,
    image_shape: Sequence[int] | None = None,
    return_attributions: bool = False,
) -> Bunch:
    """Pixel maps of any fitted model that takes images: which pixels its outputs use.

    One function for every image model of the package (a plain KAN, possibly behind
    :class:`~sklearn_kan.preprocessing.Downsample`, :class:`~sklearn_kan.preprocessing.Flatten`
    or scalers; :class:`~sklearn_kan.HybridKANClassifier` with any front end;
    :class:`~sklearn_kan.baselines.CNNClassifier`; pipelines with
    :class:`~sklearn_kan.feature_extraction.ConvFeatures` or
    :class:`~sklearn_kan.feature_extraction.VAEFeatures`) and for any other fitted
    classifier or regressor, or pipeline, that predicts from pixels. The maps are at the
    resolution and with the channels of ``X``.

    Methods (``method``):

    ``"kan"``
        The KAN's own scores (:func:`pixel_importance`): the share of each output's
        variation on ``X`` that flows in from each pixel. Only for a KAN that reads
        the pixels (a plain KAN estimator, possibly behind ``Downsample``,
        ``Flatten`` and per-feature scalers). Map ``k`` is output ``k``'s score on
        all of ``X``; ``y`` is not used.
    ``"integrated_gradients"``
        Integrated gradients (Sundararajan et al., 2017). The model's output for the
        sample's target class is integrated along the straight path from
        ``baseline`` to the image: pixel ``p`` gets ``(x_p - b_p)`` times the mean
        gradient of the output with respect to ``x_p`` at the ``n_steps`` midpoints
        ``b + (j + 1/2) / n_steps * (x - b)``. The attributions of a sample sum to the
        difference of its output between the image and the baseline
        (*completeness*), up to the error of that midpoint rule, which shrinks as
        ``n_steps`` grows; ``output_difference`` holds that difference to check it.
        Needs a model whose every step has a torch form (see below).
    ``"gradient_x_input"``
        The gradient at the image times ``(x - baseline)``: one backward pass, the
        first-order (Taylor) share of each pixel. Cheaper than integrated gradients
        and exact for a model linear in the pixels, but a pixel where the model is
        saturated gets little even when it matters.
    ``"occlusion"``
        Each patch of ``patch_size`` pixels, one channel at a time, is set to the
        baseline, and the drop of the target output is shared equally by the
        patch's pixels (Zeiler and Fergus, 2014). It needs only the model's
        predictions, so it works for every model; it costs a forward pass per patch
        and image, and the attributions do not add up to the output difference
        when pixels interact.
    ``"auto"`` (default)
        ``"kan"`` where it applies, else ``"integrated_gradients"`` where the model
        has a torch form, else ``"occlusion"``.

    The output attributed is the log-probability of the target class for a
    classifier (``predict_log_proba``; the log of ``predict_proba``, or the decision
    function, for a classifier that has no ``predict_log_proba``), and the prediction
    for a regressor. Each sample's target class is ``y`` when it is given, else the
    class the model predicts. The gradient methods run the model as one torch
    function of the pixels: the torch module of the package's estimators and
    transformers, and ``Downsample``, ``Flatten`` and the per-feature scalers of
    scikit-learn (``StandardScaler``, ``MinMaxScaler``, ``MaxAbsScaler``,
    ``RobustScaler``) written in torch; before it is used, this function checks that
    it gives the model's own predictions on the first images. Any other step (a
    scikit-learn classifier after ``ConvFeatures``, ``PCA``, a custom transformer)
    has no torch form, and then ``"auto"`` chooses occlusion.

    The work runs in chunks of a fixed number of rows (the prediction chunk, 256),
    each a forward and a backward pass of the same shape, so memory is bounded by the
    chunk (not by ``len(X)`` or ``n_steps``), and a sample's attributions do not
    depend on the other samples in ``X``. Nothing is random: the same fitted model
    and ``X`` give the same maps.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        A fitted classifier or single-output regressor, or a pipeline ending in one,
        that takes images (flat rows or ``(n, height, width[, channels])`` arrays).
    X : array-like of shape (n_samples, n_features) or images
        Images, as the estimator (or pipeline) takes them.
    y : array-like of shape (n_samples,), default=None
        Classes to attribute, one per sample (classifiers only). None attributes
        each sample's predicted class.
    method : {"auto", "kan", "integrated_gradients", "gradient_x_input", \
            "occlusion"}, default="auto"
        See above.
    baseline : float, "mean" or array-like, default=0.0
        The reference image of integrated gradients, gradient x input and occlusion,
        in the units of ``X``: a value for every pixel (0, black on MNIST-like
        images), ``"mean"`` (the mean image of ``X``) or one image of the shape of
        the images of ``X`` (or a flat row). A pixel equal to its baseline gets no
        attribution. Pick the value that means "no signal" for the data: the
        background.
    n_steps : int, default=32
        Number of points of the path integral of ``"integrated_gradients"``.
    patch_size : int, (int, int) or None, default=None
        Height and width of the occlusion patches (tiles that cover the image; those
        at the right and bottom edges may be smaller). None takes about a seventh of
        the shorter side, at least 1 (4 for 28 x 28 images, 1 for 8 x 8).
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of flat rows. By default
        it comes from the first step that reads images (``Downsample``, ``Flatten``,
        ``ConvFeatures``, ``VAEFeatures``, the hybrid or CNN estimators), else from the
        shape of ``X``, else the package's rule for flat rows (a square one-channel
        image for a perfect-square number of features, else one row of pixels).
    return_attributions : bool, default=False
        Also return the signed attributions of every sample (memory grows with
        ``X``; without them, only one sum per class is kept).

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        With the fields (maps have shape ``(height, width)``, or ``(height, width,
        channels)`` for images with more than one channel):

        maps : ndarray of shape (n_outputs, height, width[, channels])
            One map per class (in the order of ``classes``; one map for a
            regressor). For ``"kan"``, output ``k``'s scores on ``X``; for the other
            methods, the mean absolute attribution of the samples whose target is
            ``k``. Each map sums to 1; a class that no sample targets has a map of
            NaN.
        average : ndarray of shape (height, width[, channels])
            The mean of the maps of the classes that have one.
        method : str
            The method used (what ``"auto"`` chose).
        classes : ndarray or None
            The classifier's ``classes_``; None for a regressor.
        counts : ndarray of int of shape (n_outputs,)
            Number of samples behind each map (all of them for ``"kan"``).
        targets : ndarray of int of shape (n_samples,) or None
            Index (into ``classes``) of the output attributed for each sample; None
            for ``"kan"``.
        output_difference : ndarray of shape (n_samples,) or None
            The target output at the image minus at the baseline, what the
            integrated gradients of a sample sum to; None for ``"kan"``.
        delta : ndarray of shape (n_samples,) or None
            The sum of each sample's attributions minus ``output_difference``: for
            integrated gradients, the error of the midpoint rule (raise ``n_steps``
            when it is large); for the other methods, how far the attributions are
            from adding up. None for ``"kan"``.
        attributions : ndarray of shape (n_samples, height, width[, channels]) or None
            The signed attributions of each sample's target output (in the units of
            that output) with ``return_attributions=True``, else None.
        baseline : ndarray of shape (height, width[, channels]) or None
            The baseline image; None for ``"kan"``.

    See Also
    --------
    pixel_importance : The KAN's own scores as images.
    sklearn_kan.plotting.PixelMapDisplay : Draw the maps.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_kan import HybridKANClassifier
    >>> from sklearn_kan.inspection import pixel_map
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = HybridKANClassifier("conv", max_epochs=3, random_state=0).fit(X / 16, y)
    >>> result = pixel_map(clf, X[:100] / 16, return_attributions=True)
    >>> result.method, result.maps.shape, result.average.shape
    ('integrated_gradients', (10, 8, 8), (8, 8))
    >>> total = result.attributions.sum(axis=(1, 2))  # completeness, to the midpoint rule
    >>> bool(np.allclose(total - result.output_difference, result.delta))
    True
    """
    method = _check_pixel_method(method)
    _check_positive_int(n_steps, "n_steps")
    if not isinstance(return_attributions, bool | np.bool_):
        raise TypeError(f"return_attributions must be a bool, got {return_attributions!r}.")
    steps = _flatten_steps(estimator)
    final = steps[-1]
    check_is_fitted(final)
    if not hasattr(estimator, "predict"):
        raise TypeError(
            f"pixel_map explains predictions, but {type(final).__name__} does not predict: "
            "pass a classifier or regressor, or a pipeline ending in one."
        )
    X = check_array(X, allow_nd=True, dtype=[np.float64, np.float32], input_name="X")
    n_features = math.prod(X.shape[1:])
    expected = getattr(steps[0], "n_features_in_", n_features)
    if n_features != expected:
        raise ValueError(
            f"X has {n_features} features, but {type(steps[0]).__name__} is expecting "
            f"{expected} features as input."
        )
    shape = _input_image_shape(steps, X, image_shape)
    flat = X.reshape(len(X), n_features)
    base = _check_baseline(baseline, flat, shape)
    patch = _check_patch_size(patch_size, shape)
    classifier = is_classifier(final)
    classes = getattr(estimator, "classes_", None) if classifier else None
    if y is not None and not classifier:
        raise ValueError(
            f"y gives the class to attribute, but {type(final).__name__} is a regressor: "
            "its prediction is attributed. Pass y=None."
        )

    if method in ("auto", "kan"):
        reason = _why_not_kan_scores(estimator)
        if reason is None:
            return _kan_pixel_map(estimator, X, shape, classes)
        if method == "kan":
            raise ValueError(
                "method='kan' needs a KAN that reads the pixels (a KAN estimator, possibly "
                f"behind Downsample, Flatten or per-feature scalers), but {reason}. Use "
                "method='integrated_gradients', 'gradient_x_input' or 'occlusion'."
            )
    form, reason = _torch_form(steps)
    if method == "auto":
        method = "integrated_gradients" if form is not None else "occlusion"
    elif method in _GRADIENT_METHODS and form is None:
        raise ValueError(
            f"method={method!r} differentiates the model, but {reason}. Use "
            "method='occlusion', which needs only its predictions."
        )

    if form is not None:
        form.threads = _plan_threads(estimator, X)
    model = _Outputs(estimator, classifier, X.shape[1:], form, flat)
    outputs = model(flat)
    if not classifier and outputs.shape[1] != 1:
        raise ValueError(
            f"pixel_map attributes one output, but {type(final).__name__} predicts "
            f"{outputs.shape[1]} targets. Fit one regressor per target."
        )
    targets = _check_targets(y, classes, outputs)
    rows = np.arange(len(flat))
    at_image = outputs[rows, targets]
    at_baseline = model(base[np.newaxis])[0]
    sums = _MapSums(outputs.shape[1], len(flat), n_features, return_attributions)
    if method == "occlusion":
        units = _occlusion_units(shape, patch)
        _occlusion(model, flat, base, targets, at_image, units, sums)
    else:
        if method == "integrated_gradients":
            alphas = (np.arange(n_steps) + 0.5) / n_steps  # the midpoint rule on [0, 1]
        else:
            alphas = np.ones(1)
        _path_attributions(form, flat, base, targets, alphas, sums)
    maps = sums.maps()
    present = sums.counts > 0
    difference = at_image - at_baseline[targets]
    return Bunch(
        maps=_image_maps(maps, shape),
        average=_image_maps(maps[present].mean(axis=0), shape),
        method=method,
        classes=classes,
        counts=sums.counts,
        targets=targets,
        output_difference=difference,
        delta=sums.sample_sums - difference,
        attributions=None if sums.attributions is None else _image_maps(sums.attributions, shape),
        baseline=_image_maps(base, shape),
    )


def prune(estimator, X, y=None, *, threshold: float = 1e-2):
    """A smaller copy of a fitted KAN without its unimportant edges and nodes.

    Like pykan's ``prune``, with the scores of :func:`input_importance` measured on
    ``X``. Edge ``(l, o, i)`` is kept when its attribution ``S_{l+1}[o] * share`` (its
    part of the output scores, averaged over the outputs) is above ``threshold``
    times the largest in its layer; a hidden node is kept when its score is above
    ``threshold`` times the largest in its layer and it keeps an incoming and an
    outgoing edge. The best edge and node of each layer are always kept. Then, layer
    by layer:

    - every removed edge is replaced by its mean on ``X`` (as it arrives through the
      already pruned layers), added to the bias of the node it fed, so that a
      constant edge is removed exactly;
    - removed hidden nodes are taken out of the network (smaller
      :class:`~sklearn_kan.nn.KANLinear` layers);
    - the remaining removed edges get a zero weight and a mask (the buffer
      ``edge_mask`` of shape ``(out_features, in_features)`` and a forward pre-hook)
      that sets them to zero again before every forward pass, so that further
      training (``warm_start``, ``partial_fit``) keeps them removed.

    The input and output nodes are kept (the estimator's features and outputs do not
    change). The original estimator is not modified.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        A fitted KAN estimator, or a pipeline ending in one.
    X : array-like
        Samples on which the scores and the replacement means are measured,
        usually the training data: at least two that give the KAN different
        inputs (one sample would score every edge 0).
    y : array-like, default=None
        Targets for the report's scores (``estimator.score(X, y)`` before and after).
        Pass held-out data to both ``X`` and ``y`` for an honest comparison.
    threshold : float, default=0.01
        Relative threshold in ``[0, 1]``: 0 removes only the edges that carry
        nothing on ``X`` (constant there, or already masked) and is then exact on
        ``X``; 1 keeps only the most important edge and node of each layer.

    Returns
    -------
    pruned : estimator or Pipeline
        A deep copy of ``estimator``, pruned. Its KAN estimator's ``n_params_``
        counts the weights that are left (masked edges excluded). It has a
        ``pruning_report_`` attribute, a :class:`~sklearn.utils.Bunch` with
        ``threshold``, ``widths_before`` / ``widths_after`` (the layer widths),
        ``n_edges_before`` / ``n_edges_after``, ``n_params_before`` /
        ``n_params_after`` and ``score_before`` / ``score_after`` (None without
        ``y``).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_kan import KANClassifier
    >>> from sklearn_kan.inspection import prune
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = KANClassifier(hidden_layer_sizes=(8,), max_epochs=20, random_state=0).fit(X, y)
    >>> small = prune(clf, X, y, threshold=0.05)
    >>> small.n_params_ <= clf.n_params_
    True
    >>> sorted(small.pruning_report_)[:3]
    ['n_edges_after', 'n_edges_before', 'n_params_after']
    """
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"threshold must be a number in [0, 1], got {threshold!r}.")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}.")
    before = _locate(estimator)
    # The copy's KAN receives the same inputs as the original's.
    x = _varied_inputs(before, X, True, "prune")
    widths_before = _widths(before.kan)
    n_edges_before = _n_edges(before.kan)
    n_params_before = int(before.estimator.n_params_)
    score_before = None if y is None else float(estimator.score(X, y))

    pruned = copy.deepcopy(estimator)
    view = _locate(pruned)
    scores = _edge_scores(view.kan, x, centered=True)
    keep_edges, keep_nodes = _pruning_masks(view.kan, scores, threshold)
    with torch.no_grad():
        _fold_and_mask(view.kan, x, keep_edges)
        _remove_nodes(view.kan, keep_nodes)
    final = view.estimator
    final.n_params_ = _count_unmasked(final.module_)
    optimizer = getattr(final.net_, "optimizer_", None)
    if optimizer is not None:
        # The old optimizer holds the removed parameters and their moments.
        final.net_.initialize_optimizer()

    pruned.pruning_report_ = Bunch(
        threshold=float(threshold),
        widths_before=widths_before,
        widths_after=_widths(view.kan),
        n_edges_before=n_edges_before,
        n_edges_after=_n_edges(view.kan),
        n_params_before=n_params_before,
        n_params_after=int(final.n_params_),
        score_before=score_before,
        score_after=None if y is None else float(pruned.score(X, y)),
    )
    return pruned


# -- the accessor ---------------------------------------------------------------


@dataclass(frozen=True)
class _KANView:
    """Where the KAN sits inside a fitted estimator (see :func:`_locate`).

    Attributes
    ----------
    owner : object
        What the user passed (estimator or pipeline).
    estimator : BaseKAN
        The fitted KAN estimator (the pipeline's last step).
    pre : list of transformers
        The fitted pipeline steps before it, in order (``"passthrough"`` dropped).
    kan : KAN
        The KAN inside ``estimator.module_``.
    scaler : (shift, scale) float64 arrays or None
        When the KAN reads the estimator's features directly, the affine map
        ``feature * scale + shift`` into its first layer; None when something else
        (a front end) feeds it.
    """

    owner: object
    estimator: object
    pre: list
    kan: KAN
    scaler: tuple[np.ndarray, np.ndarray] | None

    def kan_inputs(self, X) -> Tensor:
        """What the KAN's first layer receives for the samples ``X``."""
        for step in self.pre:
            X = step.transform(X)
        X = self.estimator._validate_X(X, reset=False)
        if len(X) == 0:
            raise ValueError("X has 0 samples; at least one sample is required.")
        module = self.estimator.module_
        device = next(module.parameters()).device
        captured: list[Tensor] = []
        # A hook on the KAN itself captures its input whatever feeds it, so that
        # scaled, hybrid and future front ends all need no code here.
        handle = self.kan.register_forward_pre_hook(
            lambda _module, args: captured.append(args[0].detach())
        )
        training = module.training
        module.eval()
        try:
            with torch.no_grad():
                for start in range(0, len(X), _BATCH):
                    module(torch.as_tensor(X[start : start + _BATCH], device=device))
        finally:
            handle.remove()
            module.train(training)
        return torch.cat(captured)

    def to_feature_units(self, values: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        """Map first-layer input values back to feature units (invert the scaling).

        ``values`` has shape ``(len(inputs), ...)``: rows are the chosen inputs. NaN
        for a feature that was constant in training (its scale is 0: every value
        maps to one point, so none maps back).
        """
        shift, scale = (v[inputs].reshape(-1, *[1] * (values.ndim - 1)) for v in self.scaler)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(scale != 0, (values - shift) / scale, np.nan)

    def feature_names(self) -> np.ndarray:
        """Names of the KAN's inputs when they are the estimator's features."""
        n = self.kan.layers[0].in_features
        names = getattr(self.estimator, "feature_names_in_", None)
        if names is None and self.pre:
            try:
                names = self.pre[-1].get_feature_names_out()
            except (AttributeError, ValueError, TypeError):
                names = None
        if names is None or len(names) != n:
            names = [f"x{i}" for i in range(n)]
        return np.asarray(names, dtype=object)


def _varied_inputs(view: _KANView, X, centered: bool, what: str) -> Tensor:
    """The KAN's inputs for ``X``; for centred scores, refuse ``X`` that does not vary.

    A centred score is how much an edge varies over ``X``: one sample, or rows that
    all give the KAN the same inputs, would score every edge 0 (all-zero importances,
    a pruning that removes nothing), silently.
    """
    x = view.kan_inputs(X)
    if centered and len(x) < 2:
        raise ValueError(
            f"Found array with {len(x)} sample(s) (shape={tuple(np.shape(X))}) while a "
            f"minimum of 2 is required by {what}: it measures how much each edge varies "
            "over X, and one sample does not vary. Pass several samples (the training "
            "data, say)."
        )
    if centered and bool((x == x[:1]).all()):
        raise ValueError(
            f"{what} needs samples that differ: the {len(x)} rows of X give the KAN the "
            "same inputs, so no edge varies over them and every score would be 0. Pass "
            "varied samples (the training data, say)."
        )
    return x


def _locate(estimator) -> _KANView:
    """Find the KAN inside a fitted estimator or pipeline and what feeds it.

    This is the one place that knows how the estimators of the package hold their
    KAN: ``estimator.module_`` is searched for a :class:`~sklearn_kan.nn.KAN` (the
    module itself, ``ScaledKAN.kan``, or the one KAN among its submodules, e.g. a
    hybrid's head).
    """
    steps = _flatten_steps(estimator)
    final = steps[-1]
    pre = [s for s in steps[:-1] if s is not None and not (isinstance(s, str))]
    if not hasattr(final, "module_"):
        if isinstance(final, BaseKAN):
            check_is_fitted(final, "module_")
        raise TypeError(
            "Expected a fitted KANClassifier, KANRegressor or HybridKANClassifier, or a "
            f"Pipeline ending in one, got {type(final).__name__}."
        )
    module = final.module_
    kan = _find_kan(module)
    if kan is None:
        raise TypeError(
            f"{type(final).__name__}.module_ ({type(module).__name__}) holds no KAN, so "
            "there is nothing to inspect."
        )
    scaler = None
    if isinstance(module, KAN):
        n = kan.layers[0].in_features
        scaler = (np.zeros(n), np.ones(n))
    elif isinstance(module, ScaledKAN):
        scaler = (
            module.shift.detach().cpu().double().numpy(),
            module.scale.detach().cpu().double().numpy(),
        )
    return _KANView(owner=estimator, estimator=final, pre=pre, kan=kan, scaler=scaler)


def _flatten_steps(estimator) -> list:
    if isinstance(estimator, str) or estimator is None:
        raise TypeError(f"Expected a fitted KAN estimator, got {estimator!r}.")
    if hasattr(estimator, "steps"):
        steps = []
        for _, step in estimator.steps:
            if hasattr(step, "steps"):
                steps.extend(_flatten_steps(step))
            else:
                steps.append(step)
        if not steps:
            raise TypeError("Expected a Pipeline ending in a KAN estimator, got an empty one.")
        return steps
    if not isinstance(estimator, BaseEstimator) and not hasattr(estimator, "module_"):
        raise TypeError(
            f"Expected a fitted KAN estimator or a Pipeline ending in one, got "
            f"{type(estimator).__name__}."
        )
    return [estimator]


def _find_kan(module: nn.Module) -> KAN | None:
    if isinstance(module, KAN):
        return module
    for name in ("kan", "head"):
        sub = getattr(module, name, None)
        if isinstance(sub, KAN):
            return sub
        if sub is not None and isinstance(getattr(sub, "kan", None), KAN):
            return sub.kan
    found = [m for m in module.modules() if isinstance(m, KAN)]
    return found[-1] if found else None


# -- scores ---------------------------------------------------------------------

_BATCH = 4096
# Elements of one (batch, in, out) activation block: bounds the memory of the scores.
_BLOCK = 1 << 22


def _edge_scores(kan: KAN, x: Tensor, centered: bool) -> list[np.ndarray]:
    """Scores of :func:`edge_importance` for the KAN inputs ``x``, one (out, in) per layer."""
    scores = []
    with torch.no_grad():
        for i, layer in enumerate(kan.layers):
            offset = _edge_means(layer, x) if centered else 0.0
            spread = sum(
                (_edge_values(layer, c).double() - offset).abs().sum(0)
                for c in x.split(_edge_rows(layer))
            )
            scores.append((spread / len(x)).t().cpu().numpy())
            x = kan.hidden_input(i, _forward_batched(layer, x))
    return scores


def _edge_means(layer: KANLinear, x: Tensor) -> Tensor:
    """Mean of every edge on ``x``, shape ``(in, out)``, in float64."""
    # Summed in float64: a float32 running sum over many rows loses the small edges.
    total = sum(_edge_values(layer, c).double().sum(0) for c in x.split(_edge_rows(layer)))
    return total / len(x)


def _edge_values(layer: KANLinear, x: Tensor) -> Tensor:
    """``layer.edge_activations(x)`` with the edges that :func:`prune` masked at zero.

    Their stored weights are zeroed only before the next forward pass, so right
    after an optimizer step they may not be zero yet.
    """
    phi = layer.edge_activations(x)
    mask = getattr(layer, "edge_mask", None)
    return phi if mask is None else phi * mask.t().to(phi.dtype)


def _sample_edges(layer: KANLinear, inputs, outputs, lo, hi, n_points: int):
    """Edges ``inputs`` x ``outputs`` at ``n_points`` points from ``lo`` to ``hi`` per input.

    Returns ``x`` of shape ``(len(inputs), n_points)`` and ``y`` of shape
    ``(len(inputs), len(outputs), n_points)``, float64 numpy arrays.
    """
    ticks = np.linspace(0.0, 1.0, int(n_points))
    x = np.asarray(lo, dtype=np.float64)[:, None] + np.subtract(hi, lo)[:, None] * ticks
    # Every input is evaluated (the layer's API is per layer); unused ones stay at 0.
    points = torch.zeros(int(n_points), layer.in_features, dtype=layer.grid.dtype)
    points[:, torch.as_tensor(inputs)] = torch.as_tensor(x.T, dtype=layer.grid.dtype)
    with torch.no_grad():
        phi = _edge_values(layer, points.to(layer.grid.device))  # (n_points, in, out)
    y = phi.permute(1, 2, 0).cpu().double().numpy()[np.ix_(inputs, outputs)]
    return x, y


def _edge_rows(layer: KANLinear) -> int:
    return max(1, _BLOCK // (layer.in_features * layer.out_features))


def _forward_batched(layer: KANLinear, x: Tensor) -> Tensor:
    rows = max(1, _BLOCK // (layer.in_features * (layer.n_basis + 1)))
    return torch.cat([layer(c) for c in x.split(rows)])


def _attribution(scores: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Node and edge scores of every layer, per output (see :func:`input_importance`).

    Returns ``nodes`` (``nodes[l]`` of shape ``(n_outputs, width_l)``, one per layer
    and one for the outputs) and ``edges`` (``edges[l]`` of shape
    ``(n_outputs, out, in)``).
    """
    n_outputs = scores[-1].shape[0]
    node = np.eye(n_outputs)
    nodes, edges = [node], []
    for E in reversed(scores):
        total = E.sum(axis=1, keepdims=True)
        share = np.divide(E, total, out=np.zeros_like(E), where=total > 0)
        edge = node[:, :, None] * share[None]
        node = edge.sum(axis=1)
        nodes.append(node)
        edges.append(edge)
    return nodes[::-1], edges[::-1]


# -- pruning --------------------------------------------------------------------


def _pruning_masks(kan: KAN, scores: list[np.ndarray], threshold: float):
    """Boolean edge masks ``(out, in)`` and node masks (one per width) to keep."""
    nodes, edges = _attribution(scores)
    node_scores = [n.mean(axis=0) for n in nodes]
    attributions = [e.mean(axis=0) for e in edges]
    keep_edges = []
    for layer, attribution in zip(kan.layers, attributions):
        keep = _above(attribution, threshold)
        mask = getattr(layer, "edge_mask", None)
        if mask is not None:
            keep &= mask.detach().cpu().numpy() > 0
        keep_edges.append(keep)
    keep_nodes = [np.ones(len(s), dtype=bool) for s in node_scores]
    for i in range(1, len(node_scores) - 1):
        keep_nodes[i] = _above(node_scores[i], threshold)
    # A node without an incoming or an outgoing edge is dead, and removing it may
    # leave another node without edges: iterate to a fixed point.
    changed = True
    while changed:
        changed = False
        for i, keep in enumerate(keep_edges):
            keep &= keep_nodes[i + 1][:, None] & keep_nodes[i][None, :]
        for i in range(1, len(keep_nodes) - 1):
            alive = keep_nodes[i] & keep_edges[i - 1].any(axis=1) & keep_edges[i].any(axis=0)
            if not alive.any():
                _keep_best_path(i, node_scores, attributions, keep_nodes, keep_edges)
                alive = keep_nodes[i]
            if (alive != keep_nodes[i]).any():
                keep_nodes[i] = alive
                changed = True
    return keep_edges, keep_nodes


def _above(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Scores above ``threshold`` times the largest; the largest is always kept."""
    top = scores.max()
    return (scores > threshold * top) | (scores == top)


def _keep_best_path(i, node_scores, attributions, keep_nodes, keep_edges) -> None:
    """Keep the best node of hidden layer ``i`` and its best edges in and out.

    A layer pruned empty would disconnect the outputs from the inputs.
    """
    best = int(np.argmax(node_scores[i]))
    keep_nodes[i][:] = False
    keep_nodes[i][best] = True
    incoming = np.where(keep_nodes[i - 1], attributions[i - 1][best], -np.inf)
    keep_edges[i - 1][best, int(np.argmax(incoming))] = True
    outgoing = np.where(keep_nodes[i + 1], attributions[i][:, best], -np.inf)
    keep_edges[i][int(np.argmax(outgoing)), best] = True


def _fold_and_mask(kan: KAN, x: Tensor, keep_edges) -> None:
    """Replace removed edges by their mean on the data (into the bias); mask them."""
    for i, (layer, keep) in enumerate(zip(kan.layers, keep_edges)):
        means = _edge_means(layer, x)  # on the inputs of the already pruned layers
        removed = torch.as_tensor(~keep, device=layer.weight.device)
        shift = (means.t() * removed).sum(1).to(layer.weight.dtype)
        if layer.bias is not None:
            layer.bias.add_(shift)
        layer.edge_weights().mul_((~removed).unsqueeze(-1).to(layer.weight.dtype))
        _set_edge_mask(layer, torch.as_tensor(keep, device=layer.weight.device))
        x = kan.hidden_input(i, _forward_batched(layer, x))


def _remove_nodes(kan: KAN, keep_nodes) -> None:
    """Rebuild the layers without their removed hidden nodes."""
    for i, layer in enumerate(kan.layers):
        keep_in = np.flatnonzero(keep_nodes[i])
        keep_out = np.flatnonzero(keep_nodes[i + 1])
        if len(keep_in) == layer.in_features and len(keep_out) == layer.out_features:
            continue
        kan.layers[i] = _sub_layer(layer, keep_out, keep_in)
    # The hidden_norm map after each hidden layer keeps the statistics of its kept units.
    for i, norm in enumerate(kan.norms):
        keep = np.flatnonzero(keep_nodes[i + 1])
        if hasattr(norm, "subset") and len(keep) < kan.widths[i + 1]:
            kan.norms[i] = norm.subset(keep)
    kan.widths = _widths(kan)


def _sub_layer(layer: KANLinear, keep_out: np.ndarray, keep_in: np.ndarray) -> KANLinear:
    new = KANLinear(
        len(keep_in),
        len(keep_out),
        grid_size=layer.grid_size,
        spline_order=layer.spline_order,
        basis=layer.basis,
        grid_range=layer.grid_range,
        bias=layer.bias is not None,
        base_activation=layer.base_activation,
    ).to(device=layer.weight.device, dtype=layer.weight.dtype)
    rows = torch.as_tensor(keep_out, device=layer.weight.device)
    cols = torch.as_tensor(keep_in, device=layer.weight.device)
    with torch.no_grad():  # a buffer, or a parameter for the learnable (rational) basis
        new.grid.copy_(layer.grid[cols])
    new.edge_weights().copy_(layer.edge_weights()[rows][:, cols])
    if layer.bias is not None:
        new.bias.copy_(layer.bias[rows])
    mask = getattr(layer, "edge_mask", None)
    if mask is not None:
        _set_edge_mask(new, mask[rows][:, cols] > 0)
    return new


def _set_edge_mask(layer: KANLinear, keep: Tensor) -> None:
    """Store the edges to keep on the layer and keep the others at zero weight."""
    if bool(keep.all()) and getattr(layer, "edge_mask", None) is None:
        return
    mask = keep.to(layer.weight.dtype)
    if getattr(layer, "edge_mask", None) is None:
        layer.register_buffer("edge_mask", mask)
        layer.register_forward_pre_hook(_ZeroMaskedEdges())
    else:
        layer.edge_mask = mask


class _ZeroMaskedEdges:
    """Forward pre-hook: zero the weights of masked edges before every forward.

    An optimizer step (weight decay, momentum) may move them; zeroing them in place
    before the next use keeps them removed through further training. A class, not a
    closure, so that the module still pickles.
    """

    def __call__(self, layer: KANLinear, args) -> None:
        with torch.no_grad():
            keep = layer.edge_mask.to(layer.weight.dtype).unsqueeze(-1)
            # Only when a step moved them: a second forward in the same step (the
            # regularisation's) must not modify weights that autograd has saved.
            weights = layer.edge_weights()
            if bool((weights * (1 - keep)).any()):
                weights.mul_(keep)


def _count_unmasked(module: nn.Module) -> int:
    # count_params leaves out masked (pruned) edges.
    return count_params(module)


def _widths(kan: KAN) -> list[int]:
    return [kan.layers[0].in_features] + [layer.out_features for layer in kan.layers]


def _n_edges(kan: KAN) -> int:
    total = 0
    for layer in kan.layers:
        mask = getattr(layer, "edge_mask", None)
        total += layer.in_features * layer.out_features if mask is None else int(mask.sum())
    return total


# -- pixels ---------------------------------------------------------------------


def _to_pixels(view: _KANView, importance: np.ndarray):
    """Carry ``(n_outputs, n_features)`` scores back through the pipeline's steps.

    Returns the scores over the pipeline's input and that input's image shape
    ``(height, width, channels)`` when a step knows it, else None.
    """
    shape = None
    for step in reversed(view.pre):
        if not _maps_back(step):
            raise ValueError(
                f"pixel_importance cannot map importance back through the pipeline step "
                f"{type(step).__name__}: it supports Downsample, Flatten, 'passthrough' and "
                "per-feature scalers. Use input_importance for the importance of the "
                "features that the KAN receives, or pixel_map, which covers every model."
            )
        if isinstance(step, Downsample):
            rows, cols = step.weights_  # (h, H) and (W, w)
            h, w, c = step.output_shape_
            maps = importance.reshape(len(importance), h, w, c)
            # Each small pixel is a weighted mean of original pixels (weights summing
            # to one), so its importance is spread with the same weights.
            maps = np.einsum("ik,nijc,lj->nklc", rows, maps, cols)
            importance = maps.reshape(len(importance), -1)
            shape = tuple(step.image_shape_)
        elif isinstance(step, Flatten):  # same pixels, known shape
            shape = tuple(step.image_shape_)
    return importance, shape


def _maps_back(step) -> bool:
    """Whether the KAN's scores of a step's outputs map back onto its inputs."""
    return isinstance(step, (Downsample, Flatten, *_SCALERS))


# -- checks ---------------------------------------------------------------------


def _check_layer(view: _KANView, layer) -> int:
    n = len(view.kan.layers)
    if isinstance(layer, bool) or not isinstance(layer, numbers.Integral):
        raise TypeError(f"layer must be an integer, got {layer!r}.")
    if not -n <= layer < n:
        raise ValueError(
            f"layer={layer} is out of range: this KAN has {n} layer(s), "
            f"indexed 0 to {n - 1} (or -{n} to -1)."
        )
    return int(layer) % n


def _check_nodes(nodes, n: int, name: str) -> np.ndarray:
    if nodes is None:
        return np.arange(n)
    index = np.atleast_1d(np.asarray(nodes))
    if index.ndim != 1 or index.size == 0 or not np.issubdtype(index.dtype, np.integer):
        raise ValueError(
            f"{name} must be an integer or a non-empty list of integers, got {nodes!r}."
        )
    if index.min() < -n or index.max() >= n:
        raise ValueError(f"{name}={nodes!r} is out of range: the layer has {n} {name}.")
    return index % n


def _node_names(view: _KANView, layer: int) -> np.ndarray:
    if layer == 0 and view.scaler is not None:
        return view.feature_names()
    n = view.kan.layers[layer].in_features
    return np.asarray([f"h{layer}_{i}" for i in range(n)], dtype=object)


# -- pixel maps of any image model ------------------------------------------------

_PIXEL_METHODS = ("auto", "kan", "integrated_gradients", "gradient_x_input", "occlusion")
_GRADIENT_METHODS = ("integrated_gradients", "gradient_x_input")
# Rows of one forward (and backward) pass of the torch form: the prediction chunk,
# so that memory is bounded as prediction's is, and every pass has the same shape
# (a row's result then does not depend on the rows it is computed with).
_MAP_ROWS = PREDICT_CHUNK
# Rows per call of a model that has no torch form, and values per block of
# occluded copies: bound the memory of occlusion.
_BLACK_BOX_ROWS = 4096
_OCCLUSION_VALUES = 1 << 22
_SCALERS = (StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler)


def _check_pixel_method(method) -> str:
    if not isinstance(method, str) or method not in _PIXEL_METHODS:
        raise ValueError(
            f"method must be one of {', '.join(map(repr, _PIXEL_METHODS))}; got {method!r}."
        )
    return method


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _input_image_shape(steps, X: np.ndarray, image_shape) -> tuple[int, int, int]:
    """``(height, width, channels)`` of the images in ``X``, as the model reads them."""
    n_features = math.prod(X.shape[1:])
    if image_shape is not None:
        return flat_image_shape(n_features, image_shape)
    for step in steps:
        known = getattr(step, "image_shape_", None)
        if known is not None:
            return tuple(int(d) for d in known)
        if not isinstance(step, _SCALERS):
            break  # past a step that changes the features, a shape describes something else
    if X.ndim in (3, 4):
        return as_images(X[:1]).shape[1:]
    return flat_image_shape(n_features)


def _why_not_kan_scores(estimator) -> str | None:
    """None when the KAN's own scores map onto the pixels, else the reason why not."""
    try:
        view = _locate(estimator)
    except TypeError:
        return f"{type(_flatten_steps(estimator)[-1]).__name__} holds no KAN"
    if view.scaler is None:
        return f"the KAN of {type(view.estimator).__name__} reads the features of its front end"
    for step in view.pre:
        if not _maps_back(step):
            return f"the pipeline step {type(step).__name__} comes before it"
    return None


def _kan_pixel_map(estimator, X: np.ndarray, shape, classes) -> Bunch:
    maps = pixel_importance(estimator, X, shape, per_class=True)
    return Bunch(
        maps=maps,
        average=maps.mean(axis=0),
        method="kan",
        classes=classes,
        counts=np.full(len(maps), len(X)),
        targets=None,
        output_difference=None,
        delta=None,
        attributions=None,
        baseline=None,
    )


class _TorchForm:
    """A fitted model as one torch function of flat rows of its input pixels.

    ``functions`` are applied in order: the torch form of each pipeline step, then
    the final estimator's module and its output map (log-softmax for a classifier,
    the target scaling for a regressor). ``modules`` are the fitted modules inside,
    put in evaluation mode while it runs.
    """

    def __init__(self, functions, modules, dtype, device) -> None:
        self.functions = functions
        self.modules = modules
        self.dtype = dtype
        self.device = device
        self.threads = 1

    def __call__(self, x: Tensor) -> Tensor:
        for function in self.functions:
            x = function(x)
        return x

    @contextlib.contextmanager
    def running(self):
        """Evaluation mode, the planned threads, and no compile stalls."""
        training = [m.training for m in self.modules]
        for m in self.modules:
            m.eval()
        try:
            with using_threads(self.threads):
                yield
        finally:
            for m, was in zip(self.modules, training):
                m.train(was)

    def outputs(self, rows: np.ndarray) -> np.ndarray:
        """The outputs for ``rows``, float64, in chunks of :data:`_MAP_ROWS` rows."""
        chunk = torch.zeros((_MAP_ROWS, rows.shape[1]), dtype=self.dtype, device=self.device)
        result = None
        with self.running(), torch.no_grad():
            for start in range(0, len(rows), _MAP_ROWS):
                part = torch.as_tensor(rows[start : start + _MAP_ROWS])
                chunk[: len(part)] = part
                out = self(chunk)[: len(part)].to("cpu", torch.float64).numpy()
                if result is None:
                    result = np.empty((len(rows), out.shape[1]))
                result[start : start + len(part)] = out
        return result


def _torch_form(steps) -> tuple[_TorchForm | None, str | None]:
    """The torch form of a model (a list of fitted steps), or None and the reason why not."""
    final = steps[-1]
    module = getattr(final, "module_", None)
    if not isinstance(module, nn.Module) or not hasattr(final, "predict"):
        return None, f"{type(final).__name__} is not one of the package's torch estimators"
    param = next(module.parameters())
    dtype, device = param.dtype, param.device
    module = _fold_batch_norms(module)
    functions, modules = [], [module]
    for step in steps[:-1]:
        function = _step_as_torch(step, dtype, device, modules)
        if function is None:
            return None, f"the pipeline step {type(step).__name__} has no torch form"
        functions.append(function)
    if is_classifier(final):
        functions.append(lambda x: torch.log_softmax(module(x.to(dtype)), dim=1))
    else:
        # The regressors learn standardised targets; predict maps them back.
        scale = torch.as_tensor(final._y_scale, dtype=dtype, device=device)
        mean = torch.as_tensor(final._y_mean, dtype=dtype, device=device)
        functions.append(lambda x: module(x.to(dtype)) * scale + mean)
    return _TorchForm(functions, modules, dtype, device), None


def _step_as_torch(step, dtype, device, modules: list):
    """``step.transform`` of flat rows as a torch function, or None where it has none.

    Written from the step's fitted attributes; :class:`_Outputs` checks the whole
    form against the model's predictions before it is used.
    """
    if isinstance(step, Flatten):
        return lambda x: x  # flat rows in, the same flat rows out
    if isinstance(step, Downsample):
        rows, cols = (torch.as_tensor(w, dtype=dtype, device=device) for w in step.weights_)
        height, width, channels = step.image_shape_

        def resize(x: Tensor) -> Tensor:
            images = x.reshape(len(x), height, width, channels)
            return torch.einsum("ik,nklc,lj->nijc", rows, images, cols).reshape(len(x), -1)

        return resize
    if isinstance(step, _SCALERS):
        # Per-feature affine maps: their value at 0 and their slope, read off transform.
        probe = np.vstack([np.zeros(step.n_features_in_), np.ones(step.n_features_in_)])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*feature names", category=UserWarning)
            shift, at_one = step.transform(probe)
        slope = torch.as_tensor(at_one - shift, dtype=dtype, device=device)
        shift = torch.as_tensor(shift, dtype=dtype, device=device)
        return lambda x: x * slope + shift
    if isinstance(step, ConvFeatures | VAEFeatures):
        module = _fold_batch_norms(step.module_)
        modules.append(module)
        own = next(module.parameters())  # the transformer's dtype and device
        height, width, channels = step.image_shape_
        low, span = step.data_min_, step.data_max_ - step.data_min_
        span = span if span > 0 else 1.0
        if isinstance(step, ConvFeatures):

            def features(x: Tensor) -> Tensor:
                images = ((x - low) / span).reshape(len(x), height, width, channels)
                images = images.permute(0, 3, 1, 2).to(own.device, own.dtype)
                return module(images).to(device, dtype)

        else:

            def features(x: Tensor) -> Tensor:
                pixels = ((x - low) / span).to(own.device, own.dtype)
                return module.encode(pixels)[0].to(device, dtype)  # the posterior means

        return features
    return None


_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _fold_batch_norms(module: nn.Module) -> nn.Module:
    """``module``, or a copy of it whose BatchNorms are the affine maps they compute.

    In evaluation mode a BatchNorm is one scale and shift per channel; as such its
    backward pass is one product, where torch's batch-norm backward took a fifth of
    a small CNN's backward pass on the CPU. The fitted module is not modified (hooks
    on it, such as pruning's, are copied along).
    """
    if not any(_foldable(m) for m in module.modules()):
        return module
    module = copy.deepcopy(module)
    for parent in list(module.modules()):
        for name, child in parent.named_children():
            if _foldable(child):
                setattr(parent, name, _EvalAffine(child))
    return module


def _foldable(module: nn.Module) -> bool:
    # Without running statistics a BatchNorm normalises by the batch, also in eval.
    return isinstance(module, _BATCH_NORMS) and module.running_mean is not None


class _EvalAffine(nn.Module):
    """A BatchNorm in evaluation mode: ``x * scale + shift`` per channel (dimension 1)."""

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        with torch.no_grad():
            scale = torch.rsqrt(norm.running_var + norm.eps)
            if norm.weight is not None:
                scale = scale * norm.weight
            shift = -norm.running_mean * scale
            if norm.bias is not None:
                shift = shift + norm.bias
        self.register_buffer("scale", scale.detach().clone())
        self.register_buffer("shift", shift.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return torch.addcmul(self.shift.view(shape), x, self.scale.view(shape))


class _Outputs:
    """The outputs that :func:`pixel_map` attributes, for flat float64 rows of pixels.

    Through the torch form when the model has one (after checking it against the
    model's own predictions on the first rows), else through the model's predictions.
    """

    def __init__(self, owner, classifier: bool, sample_shape, form, rows: np.ndarray) -> None:
        self.owner = owner
        self.classifier = classifier
        self.sample_shape = tuple(sample_shape)
        self.form = form
        if form is not None:
            self._check_form(rows[:8])

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        if self.form is not None:
            return self.form.outputs(rows)
        parts = [
            self._predicted(rows[start : start + _BLACK_BOX_ROWS])
            for start in range(0, len(rows), _BLACK_BOX_ROWS)
        ]
        return np.concatenate(parts)

    def _predicted(self, rows: np.ndarray) -> np.ndarray:
        X = rows.reshape(len(rows), *self.sample_shape)
        owner = self.owner
        if not self.classifier:
            out = owner.predict(X)
        elif hasattr(owner, "predict_log_proba"):
            out = owner.predict_log_proba(X)
        elif hasattr(owner, "predict_proba"):
            out = np.log(np.maximum(owner.predict_proba(X), np.finfo(np.float64).tiny))
        else:
            out = owner.decision_function(X)
            if np.ndim(out) == 1:  # binary: the score of the second class
                out = np.column_stack([-out, out])
        return np.asarray(out, dtype=np.float64).reshape(len(rows), -1)

    def _check_form(self, rows: np.ndarray) -> None:
        ours = self.form.outputs(rows)
        theirs = self._predicted(rows)
        same = ours.shape == theirs.shape
        scale = max(1.0, float(np.abs(theirs).max()))
        if not same or not np.allclose(ours, theirs, rtol=1e-3, atol=1e-3 * scale):
            difference = np.abs(ours - theirs).max() if same else np.inf
            raise RuntimeError(
                "The torch form of the model does not give its predictions (largest "
                f"difference {difference:.3g}), so its gradients would not explain it. "
                "Use method='occlusion', which needs only the predictions."
            )


def _plan_threads(owner, X: np.ndarray) -> int:
    """Threads for the chunks of the torch form: by their cost, as prediction does."""
    try:
        flops = count_flops(owner, X[:1])
    except (TypeError, ValueError):  # no counting rule: assume a large model
        return plan_threads(np.inf, power_of_two=True)
    # A backward pass costs about twice the forward one.
    return plan_threads(3 * flops / 2 * _MAP_ROWS, power_of_two=True)


def _check_baseline(baseline, flat: np.ndarray, shape) -> np.ndarray:
    """The baseline as one flat float64 row of pixels."""
    n_features = flat.shape[1]
    if isinstance(baseline, str):
        if baseline != "mean":
            raise ValueError(f"baseline must be a number, 'mean' or an image; got {baseline!r}.")
        return flat.mean(axis=0, dtype=np.float64)
    if isinstance(baseline, numbers.Real) and not isinstance(baseline, bool):
        base = np.full(n_features, float(baseline))
    else:
        base = np.asarray(baseline, dtype=np.float64)
        height, width, channels = shape
        allowed = {(n_features,), (height, width, channels)}
        if channels == 1:
            allowed.add((height, width))
        if base.shape not in allowed:
            raise ValueError(
                f"baseline has shape {base.shape}, but the images of X have shape "
                f"{(height, width, channels)} (height, width, channels): pass one image "
                f"of that shape, a flat row of {n_features} values, a number or 'mean'."
            )
        base = base.reshape(n_features)
    if not np.isfinite(base).all():
        raise ValueError("baseline must be finite.")
    return base


def _check_targets(y, classes, outputs: np.ndarray) -> np.ndarray:
    """Index of the output to attribute for each sample: ``y``'s class, else the predicted one."""
    if y is None:
        return np.argmax(outputs, axis=1)
    y = column_or_1d(y, warn=True)
    if len(y) != len(outputs):
        raise ValueError(
            f"y has {len(y)} samples, but X has {len(outputs)}; give one class per image."
        )
    lookup = {label: i for i, label in enumerate(np.asarray(classes).tolist())}
    unknown = sorted({label for label in y.tolist() if label not in lookup})
    if unknown:
        raise ValueError(
            f"y contains labels the classifier does not know: {unknown!r}; its classes_ "
            f"are {np.asarray(classes).tolist()!r}."
        )
    return np.asarray([lookup[label] for label in y.tolist()], dtype=np.intp)


def _check_patch_size(patch_size, shape) -> tuple[int, int]:
    height, width, _ = shape
    if patch_size is None:
        side = max(1, round(min(height, width) / 7))
        return min(side, height), min(side, width)
    sizes = (patch_size, patch_size) if isinstance(patch_size, numbers.Integral) else patch_size
    message = (
        "patch_size must be a positive integer or a pair of them (height, width), "
        f"got {patch_size!r}."
    )
    if isinstance(patch_size, bool) or not isinstance(sizes, tuple | list) or len(sizes) != 2:
        raise ValueError(message)
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(message)
    return min(int(sizes[0]), height), min(int(sizes[1]), width)


class _MapSums:
    """Per class, the sum of the absolute attributions of the samples that target it."""

    def __init__(self, n_outputs: int, n_samples: int, n_features: int, keep: bool) -> None:
        self.total = np.zeros((n_outputs, n_features))
        self.counts = np.zeros(n_outputs, dtype=np.intp)
        self.sample_sums = np.zeros(n_samples)
        self.attributions = np.empty((n_samples, n_features)) if keep else None

    def add(self, start: int, targets: np.ndarray, attributions: np.ndarray) -> None:
        for k in np.unique(targets):
            self.total[k] += np.abs(attributions[targets == k]).sum(axis=0)
        self.counts += np.bincount(targets, minlength=len(self.counts))
        self.sample_sums[start : start + len(attributions)] = attributions.sum(axis=1)
        if self.attributions is not None:
            self.attributions[start : start + len(attributions)] = attributions

    def maps(self) -> np.ndarray:
        """Each class's sums as shares of their total; NaN for a class without samples."""
        mass = self.total.sum(axis=1, keepdims=True)
        maps = np.divide(self.total, mass, out=np.zeros_like(self.total), where=mass > 0)
        maps[self.counts == 0] = np.nan
        return maps


def _path_attributions(
    form: _TorchForm, flat, base, targets, alphas: np.ndarray, sums: _MapSums
) -> None:
    """``(x - b)`` times the mean gradient of the target output at ``x - (1 - a) (x - b)``.

    Each pass differentiates exactly :data:`_MAP_ROWS` rows (the last one padded):
    the path points of a few samples, or a part of one sample's path when
    ``len(alphas)`` is larger than that.
    """
    n_steps, n_features = len(alphas), flat.shape[1]
    per_chunk = max(1, _MAP_ROWS // n_steps)
    dtype, device = form.dtype, form.device
    remaining = torch.as_tensor(1.0 - alphas, dtype=dtype, device=device)
    b = torch.as_tensor(base, dtype=dtype, device=device)
    with form.running(), torch.enable_grad():
        for start in range(0, len(flat), per_chunk):
            x = torch.as_tensor(flat[start : start + per_chunk], dtype=dtype, device=device)
            count = len(x)
            points = (x[:, None, :] - remaining[None, :, None] * (x - b)[:, None, :]).reshape(
                count * n_steps, n_features
            )
            chosen = torch.as_tensor(
                np.repeat(targets[start : start + count], n_steps), device=device
            )
            gradients = torch.empty((count * n_steps, n_features), dtype=torch.float64)
            for lo in range(0, len(points), _MAP_ROWS):
                part = points[lo : lo + _MAP_ROWS]
                rows = torch.zeros((_MAP_ROWS, n_features), dtype=dtype, device=device)
                rows[: len(part)] = part
                rows.requires_grad_(True)
                out = form(rows)[: len(part)]
                picked = out.gather(1, chosen[lo : lo + len(part), None]).sum()
                (gradient,) = torch.autograd.grad(picked, rows)
                gradients[lo : lo + len(part)] = gradient[: len(part)].to("cpu", torch.float64)
            mean_gradient = gradients.reshape(count, n_steps, n_features).mean(dim=1).numpy()
            difference = flat[start : start + count] - base
            sums.add(start, targets[start : start + count], mean_gradient * difference)


def _occlusion_units(shape, patch: tuple[int, int]) -> np.ndarray:
    """The occlusion unit of every flat feature: one per patch and channel."""
    height, width, channels = shape
    rows = np.arange(height) // patch[0]
    cols = np.arange(width) // patch[1]
    tiles = rows[:, None] * (cols[-1] + 1) + cols[None, :]
    return (tiles[:, :, None] * channels + np.arange(channels)).reshape(-1)


def _occlusion(
    model: _Outputs, flat, base, targets, at_image, units: np.ndarray, sums: _MapSums
) -> None:
    """The drop of each target output when a unit is set to the baseline, per unit pixel."""
    n_units = int(units.max()) + 1
    sizes = np.bincount(units, minlength=n_units)
    n_features = flat.shape[1]
    per_block = max(1, _OCCLUSION_VALUES // n_features)  # occluded copies at once
    unit_block = min(n_units, per_block)
    per_chunk = max(1, per_block // unit_block)
    for start in range(0, len(flat), per_chunk):
        x = flat[start : start + per_chunk]
        chosen = targets[start : start + len(x)]
        drops = np.empty((len(x), n_units))
        for first in range(0, n_units, unit_block):
            block = np.arange(first, min(first + unit_block, n_units))
            covered = units[None, :] == block[:, None]  # (units of the block, features)
            copies = np.where(covered[None], base[None, None], x[:, None, :])
            out = model(copies.reshape(-1, n_features)).reshape(len(x), len(block), -1)
            drops[:, block] = (
                at_image[start : start + len(x), None]
                - np.take_along_axis(out, chosen[:, None, None], axis=2)[..., 0]
            )
        sums.add(start, chosen, (drops / sizes)[:, units])


def _image_maps(values: np.ndarray, shape) -> np.ndarray:
    """Flat ``(..., features)`` values as ``(..., height, width[, channels])`` images."""
    height, width, channels = shape
    maps = values.reshape(*values.shape[:-1], height, width, channels)
    return maps[..., 0] if channels == 1 else maps
