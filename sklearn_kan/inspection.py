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
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn

from ._base import BaseKAN, count_params
from ._images import flat_image_shape
from .nn.basis import get_basis
from .nn.layers import KANLinear
from .nn.models import KAN, ScaledKAN

__all__ = [
    "activation_curves",
    "edge_importance",
    "input_importance",
    "pixel_importance",
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
            "input_importance for the importance of those features."
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
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

    shape = None
    for step in reversed(view.pre):
        if hasattr(step, "weights_") and hasattr(step, "output_shape_"):  # Downsample
            rows, cols = step.weights_  # (h, H) and (W, w)
            h, w, c = step.output_shape_
            maps = importance.reshape(len(importance), h, w, c)
            # Each small pixel is a weighted mean of original pixels (weights summing
            # to one), so its importance is spread with the same weights.
            maps = np.einsum("ik,nijc,lj->nklc", rows, maps, cols)
            importance = maps.reshape(len(importance), -1)
            shape = tuple(step.image_shape_)
        elif hasattr(step, "image_shape_"):  # Flatten: same pixels, known shape
            shape = tuple(step.image_shape_)
        elif isinstance(step, StandardScaler | MinMaxScaler | MaxAbsScaler | RobustScaler):
            continue
        else:
            raise ValueError(
                f"pixel_importance cannot map importance back through the pipeline step "
                f"{type(step).__name__}: it supports Downsample, Flatten, 'passthrough' and "
                "per-feature scalers. Use input_importance for the importance of the "
                "features that the KAN receives."
            )
    return importance, shape


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
