"""Fair comparisons: parameter counts, an MLP of matched size, cross-validated tables.

A KAN is only interesting next to the network it replaces, compared at the same
number of trainable parameters, on the same folds, with the same training budget.
:func:`matched_mlp` builds that network and :func:`compare` runs the comparison
with :func:`sklearn.model_selection.cross_validate` and returns one table.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import check_cv, cross_validate
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback

from ._base import count_params
from .preprocessing import Flatten

__all__ = ["compare", "count_params", "matched_mlp", "mlp_n_params", "total_params"]


def matched_mlp(
    estimator: BaseEstimator,
    X_shape: int | Sequence[int] | None = None,
    n_outputs: int | None = None,
    *,
    n_hidden_layers: int = 1,
    tol: float = 0.05,
    **mlp_params,
) -> BaseEstimator:
    """A scikit-learn MLP with as many trainable parameters as a KAN, within ``tol``.

    The hidden width is solved for, not searched: an MLP with ``L`` hidden layers
    of width ``h`` between ``n`` inputs and ``m`` output units has
    ``(L - 1) h^2 + (n + m + L) h + m`` parameters, so ``h`` is the root of a
    linear (``L = 1``) or quadratic equation, rounded to the nearer integer.

    The MLP is trained the way the KAN is: the same input scaling (a
    :class:`~sklearn.preprocessing.MinMaxScaler` onto the KAN's ``grid_range``, or a
    :class:`~sklearn.preprocessing.StandardScaler`; neither has parameters), the
    same learning rate, batch size, number of epochs (``max_iter``; it does not
    stop early unless the KAN does) and ``random_state``.

    Parameters
    ----------
    estimator : estimator
        A :class:`~sklearn_kan.KANClassifier`, :class:`~sklearn_kan.KANRegressor`,
        ``HybridKANClassifier`` (its total count, front end included), or a
        :class:`~sklearn.pipeline.Pipeline` ending in one. For a pipeline the MLP
        replaces the last step, is matched to that step, and sees what the
        pipeline feeds it (49 features after ``Downsample(7)``); the other steps
        are cloned in front of it. Fitted or not: an unfitted estimator is fitted
        once for one epoch on a few random samples of ``X_shape`` to learn its size.
    X_shape : int or tuple of int, default=None
        Shape of the data the estimator is given, ``(n_samples, n_features)`` or
        ``(n_samples, height, width)``; an int is ``n_features``. Needed unless the
        estimator is fitted.
    n_outputs : int, default=None
        Number of classes (classifier) or targets (regressor). Needed for an
        unfitted classifier; a regressor defaults to 1.
    n_hidden_layers : int, default=1
        Number of hidden layers of the MLP, all of the same width.
    tol : float, default=0.05
        Largest accepted relative difference of the two parameter counts.
    **mlp_params
        Passed to :class:`~sklearn.neural_network.MLPClassifier` (or
        ``MLPRegressor``), overriding the settings copied from the KAN, e.g.
        ``alpha=1e-4`` or ``activation="tanh"``.

    Returns
    -------
    estimator : Pipeline
        ``Pipeline([..., scaler, mlp])``, unfitted; the MLP is the last step
        (``count_params`` of the pipeline counts it), the scaler is left out when
        the KAN has ``input_scaling=None``.

    Raises
    ------
    ValueError
        When no MLP width gives a count within ``tol`` (a KAN smaller than an
        MLP of width 1), or when ``X_shape`` / ``n_outputs`` are missing.

    See Also
    --------
    mlp_n_params : The parameter count this function inverts.
    compare : Cross-validate the KAN and its matched MLP side by side.

    Examples
    --------
    >>> from sklearn_kan import KANClassifier, count_params
    >>> from sklearn_kan.model_selection import matched_mlp, mlp_n_params
    >>> kan = KANClassifier(hidden_layer_sizes=(10,), grid_size=5)
    >>> mlp = matched_mlp(kan, X_shape=(100, 49), n_outputs=10)
    >>> mlp[-1].hidden_layer_sizes
    (89,)
    >>> mlp_n_params(49, (89,), 10)
    5350
    """
    if not isinstance(n_hidden_layers, Integral) or n_hidden_layers < 1:
        raise ValueError(f"n_hidden_layers must be an integer >= 1, got {n_hidden_layers!r}.")
    if not 0 < tol < 1:
        raise ValueError(f"tol must be in (0, 1), got {tol!r}.")
    head, front, n_features, n_out, target = _measure(estimator, X_shape, n_outputs)
    # Settings come from the estimator as given, not from the copy fitted to size it.
    if isinstance(estimator, Pipeline):
        head = estimator.steps[-1][1]
    else:
        head = estimator
    classifier = is_classifier(head)
    # scikit-learn's MLPClassifier has one logistic output unit for two classes.
    units = (1 if n_out == 2 else n_out) if classifier else n_out
    width = _solve_width(target, n_features, units, int(n_hidden_layers))
    sizes = (width,) * int(n_hidden_layers)
    got = mlp_n_params(n_features, sizes, units)
    if width < 1 or abs(got - target) > tol * target:
        smallest = mlp_n_params(n_features, (1,) * int(n_hidden_layers), units)
        raise ValueError(
            f"No MLP with {n_hidden_layers} hidden layer(s) has {target} parameters within "
            f"tol={tol}: the nearest has {got} (the smallest, of width 1, has {smallest})."
        )
    mlp_cls = MLPClassifier if classifier else MLPRegressor
    mlp = mlp_cls(hidden_layer_sizes=sizes, **{**_training_settings(head), **mlp_params})
    steps = list(front)
    if not steps and X_shape is not None and np.ndim(X_shape) == 1 and len(X_shape) > 2:
        # An image model reads (n, H, W); the MLP reads the same pixels as flat rows.
        steps.append(("flatten", Flatten()))
    scaler = _scaler(head)
    if scaler is not None:
        steps.append(("scaler", scaler))
    steps.append(("mlp", mlp))
    return Pipeline(steps)


def mlp_n_params(n_features: int, hidden_layer_sizes: Sequence[int], n_outputs: int) -> int:
    """Number of parameters (weights and biases) of a fully connected network.

    Parameters
    ----------
    n_features : int
        Number of inputs.
    hidden_layer_sizes : sequence of int
        Widths of the hidden layers.
    n_outputs : int
        Number of output units (scikit-learn's ``MLPClassifier`` has one for two
        classes, ``n_classes`` otherwise).

    Returns
    -------
    int

    Examples
    --------
    >>> from sklearn_kan.model_selection import mlp_n_params
    >>> mlp_n_params(64, (576,), 10)
    43210
    """
    widths = [int(n_features), *(int(h) for h in hidden_layer_sizes), int(n_outputs)]
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


def total_params(estimator) -> int:
    """Trainable parameters of a fitted estimator, summed over a pipeline's steps.

    :func:`count_params` counts the last step of a pipeline (the model a
    transformer feeds); this counts every step that has parameters, so a
    ``Pipeline([VAEFeatures(), KANClassifier()])`` includes the VAE.

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


def compare(
    estimators: Mapping[str, BaseEstimator],
    X,
    y,
    *,
    cv=5,
    scoring="accuracy",
    n_jobs: int | None = None,
    groups=None,
    verbose: int = 0,
    error_score=np.nan,
    return_cv_results: bool = False,
):
    """Cross-validate several estimators on the same folds and tabulate the results.

    Each estimator goes through :func:`sklearn.model_selection.cross_validate`
    with the same splits (an int ``cv`` is resolved once per kind of estimator, so
    classifiers all get the same stratified folds). The number of parameters is
    taken from the estimator fitted on the first fold.

    Parameters
    ----------
    estimators : dict of str to estimator
        The models to compare, by name; the table keeps this order.
    X : array-like of shape (n_samples, ...)
        Data.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Targets.
    cv : int, cross-validation generator or iterable, default=5
        As in :func:`~sklearn.model_selection.cross_validate`. Give a splitter
        with ``shuffle=True, random_state=...`` for shuffled folds.
    scoring : str, callable, list or dict, default="accuracy"
        As in :func:`~sklearn.model_selection.cross_validate`; use e.g. ``"r2"``
        for regressors.
    n_jobs : int, default=None
        Folds trained in parallel, per estimator (joblib; the estimators of this
        package give each worker its share of the cores).
    groups : array-like of shape (n_samples,), default=None
        Group labels for group splitters.
    verbose : int, default=0
        ``1`` or more reports on stderr which model and which fold is being
        trained, and each model's result when it is done.
    error_score : "raise" or float, default=np.nan
        As in :func:`~sklearn.model_selection.cross_validate`.
    return_cv_results : bool, default=False
        Also return the raw ``cross_validate`` results of each estimator, with
        the fitted estimators of every fold (``"estimator"``).

    Returns
    -------
    table : pandas.DataFrame or numpy structured array
        One row per estimator (index ``model``), with the columns
        ``<metric>_mean`` and ``<metric>_std`` for every metric (``score`` for a
        callable ``scoring``), ``fit_time_mean``, ``fit_time_std``,
        ``score_time_mean``, ``score_time_std`` (seconds per fold) and
        ``n_params`` (:func:`total_params`; missing for models without
        countable parameters). A structured array, with a ``model`` field and
        ``-1`` for missing counts, when pandas is not installed.
    cv_results : dict of str to dict
        Only with ``return_cv_results=True``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_kan import KANClassifier
    >>> from sklearn_kan.model_selection import compare, matched_mlp
    >>> X, y = load_digits(return_X_y=True)
    >>> kan = KANClassifier(hidden_layer_sizes=(8,), max_epochs=5, random_state=0)
    >>> table = compare({"kan": kan, "mlp": matched_mlp(kan, X.shape, 10)}, X, y, cv=3)
    >>> list(table.index)
    ['kan', 'mlp']
    >>> bool((table["accuracy_mean"] > 0.5).all())  # both far above chance (0.1)
    True
    """
    if not isinstance(estimators, Mapping) or not estimators:
        raise ValueError("estimators must be a non-empty dict of name to estimator.")
    metrics = _metric_names(scoring)
    rows, raw = [], {}
    for i, (name, estimator) in enumerate(estimators.items(), start=1):
        splitter = check_cv(cv, y, classifier=is_classifier(estimator))
        if verbose:
            splitter = _ReportingSplitter(splitter, f"{name} ({i}/{len(estimators)})")
        start = time.perf_counter()
        result = cross_validate(
            estimator,
            X,
            y,
            groups=groups,
            cv=splitter,
            scoring=scoring,
            n_jobs=n_jobs,
            return_estimator=True,
            error_score=error_score,
        )
        raw[name] = result
        row = {"model": name}
        for metric in metrics:
            key = "test_score" if len(metrics) == 1 else f"test_{metric}"
            row[f"{metric}_mean"] = float(np.mean(result[key]))
            row[f"{metric}_std"] = float(np.std(result[key]))
        for key in ("fit_time", "score_time"):
            row[f"{key}_mean"] = float(np.mean(result[key]))
            row[f"{key}_std"] = float(np.std(result[key]))
        row["n_params"] = _first_count(result["estimator"])
        rows.append(row)
        if verbose:
            scores = ", ".join(
                f"{m} {row[f'{m}_mean']:.4f} +/- {row[f'{m}_std']:.4f}" for m in metrics
            )
            _report(
                f"{name}: {scores}; fit {row['fit_time_mean']:.2f} s/fold; "
                f"{time.perf_counter() - start:.1f} s in all"
            )
    table = _to_table(rows)
    return (table, raw) if return_cv_results else table


# -- private -------------------------------------------------------------------


class _ReportingSplitter:
    """Wraps a splitter to say which fold starts as ``cross_validate`` draws it.

    ``cross_validate`` consumes ``split`` lazily (one fold per dispatched job),
    so the message appears when the fold is handed to a worker.
    """

    def __init__(self, splitter, label: str) -> None:
        self.splitter = splitter
        self.label = label

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return self.splitter.get_n_splits(X, y, groups)

    def split(self, X, y=None, groups=None) -> Iterator:
        n = self.get_n_splits(X, y, groups)
        for k, (train, test) in enumerate(self.splitter.split(X, y, groups), start=1):
            _report(f"{self.label}: fold {k}/{n} ({len(train)} train, {len(test)} test)")
            yield train, test


class _EpochProgress(Callback):
    """skorch callback: a running epoch counter on a terminal, and one line per fit."""

    def on_train_begin(self, net, **kwargs):
        self.start_ = time.perf_counter()

    def on_epoch_end(self, net, **kwargs):
        if sys.stderr.isatty():
            row = net.history[-1]
            print(
                f"\r    epoch {row['epoch']:3d}/{net.max_epochs} "
                f"train_loss {row['train_loss']:.4f}",
                end="",
                file=sys.stderr,
                flush=True,
            )

    def on_train_end(self, net, **kwargs):
        end = "\n" if sys.stderr.isatty() else ""
        n = len(net.history)
        print(
            f"{end}    {n} epoch{'s' * (n != 1)}, train_loss {net.history[-1]['train_loss']:.4f}, "
            f"{time.perf_counter() - self.start_:.1f} s",
            file=sys.stderr,
            flush=True,
        )


def _report(message: str) -> None:
    print(f"[compare] {message}", file=sys.stderr, flush=True)


def _metric_names(scoring) -> list[str]:
    if isinstance(scoring, str):
        return [scoring]
    if scoring is None or callable(scoring):
        return ["score"]
    if isinstance(scoring, Mapping):
        return list(scoring)
    return list(scoring)


def _first_count(fitted) -> int | None:
    return _maybe_count(fitted[0]) if len(fitted) else None


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


def _to_table(rows: list[dict]):
    pd = _pandas()
    if pd is None:
        names = [k for k in rows[0] if k not in ("model", "n_params")]
        width = max(len(r["model"]) for r in rows)
        dtype = [("model", f"U{width}"), *((k, "f8") for k in names), ("n_params", "i8")]
        values = [
            (r["model"], *(r[k] for k in names), -1 if r["n_params"] is None else r["n_params"])
            for r in rows
        ]
        return np.array(values, dtype=dtype)
    table = pd.DataFrame(rows).set_index("model")
    table["n_params"] = table["n_params"].astype("Int64")
    return table


def _pandas():
    """pandas if it is installed (it is optional), else None."""
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def _measure(estimator, X_shape, n_outputs):
    """The model to match, the steps before it, its input width, outputs and count."""
    front = []
    head = estimator
    if isinstance(estimator, Pipeline):
        front = [(name, clone(step)) for name, step in estimator.steps[:-1]]
        head = estimator.steps[-1][1]
    fitted = _is_fitted(head)
    if not fitted:
        if X_shape is None:
            raise ValueError(
                "X_shape (or n_features) is needed to size an MLP for an unfitted estimator."
            )
        shape = (32, int(X_shape)) if isinstance(X_shape, Integral) else tuple(X_shape)
        if n_outputs is None:
            if is_classifier(head):
                raise ValueError("n_outputs (the number of classes) is needed for a classifier.")
            n_outputs = 1
        estimator = _fit_tiny(estimator, shape, int(n_outputs))
        head = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    n_features = getattr(head, "n_features_in_", None)
    if n_features is None:
        raise ValueError(f"{type(head).__name__} has no n_features_in_ after fit.")
    if not front and X_shape is not None and not isinstance(X_shape, Integral):
        # An image model sees (n, H, W) but an MLP needs flat rows of the same pixels.
        n_features = math.prod(int(d) for d in tuple(X_shape)[1:])
    if is_classifier(head):
        n_out = len(head.classes_)
    else:
        n_out = int(getattr(head, "n_outputs_", n_outputs or 1))
    return head, front, int(n_features), n_out, count_params(head)


def _is_fitted(estimator) -> bool:
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


def _fit_tiny(estimator, shape, n_outputs):
    """Fit a clone for one epoch on random data of ``shape``, to learn its size."""
    estimator = clone(estimator)
    head = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    params = head.get_params(deep=False)
    quick = {"verbose": 0, "early_stopping": False}
    if "max_epochs" in params:
        # A grid schedule grows the grid (and the count) once per stage.
        quick["max_epochs"] = 1 + len(params.get("grid_schedule") or ())
    head.set_params(**{k: v for k, v in quick.items() if k in params})
    n = max(2 * n_outputs, 16)
    rng = np.random.default_rng(0)
    X = rng.random((n, *shape[1:]), dtype=np.float32)
    if is_classifier(head):
        y = np.arange(n) % n_outputs
    else:
        y = rng.random(n) if n_outputs == 1 else rng.random((n, n_outputs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X, y)
    return estimator


def _solve_width(n_params: int, n_features: int, n_outputs: int, n_layers: int) -> int:
    """Nearest integer root of ``(L-1) h^2 + (n + m + L) h + m = P``."""
    a = n_layers - 1
    b = n_features + n_outputs + n_layers
    c = n_outputs - n_params
    root = -c / b if a == 0 else (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    # The count is increasing in h, so the best integer is one of the two around the root.
    candidates = {max(1, math.floor(root)), max(1, math.ceil(root))}

    def error(h):
        return abs(mlp_n_params(n_features, (h,) * n_layers, n_outputs) - n_params)

    return min(sorted(candidates), key=error)


def _training_settings(head) -> dict:
    """The KAN's training budget, in ``MLPClassifier``'s words."""
    params = head.get_params(deep=False)
    settings: dict = {"solver": "adam"}
    if params.get("optimizer") == "sgd":
        settings["solver"] = "sgd"
    if "lr" in params:
        settings["learning_rate_init"] = params["lr"]
    if isinstance(params.get("batch_size"), Integral):
        settings["batch_size"] = params["batch_size"]
    # torch's Adam weight_decay adds wd * w to each gradient; scikit-learn's
    # alpha adds alpha * w / batch_size: the same pull needs alpha = wd * batch.
    batch = settings.get("batch_size", 200)
    settings["alpha"] = float(params.get("weight_decay", 0.0)) * batch
    if "max_epochs" in params:
        settings["max_iter"] = params["max_epochs"]
        if params.get("early_stopping"):
            for key in ("early_stopping", "validation_fraction", "n_iter_no_change", "tol"):
                settings[key] = params[key]
        else:
            # scikit-learn stops when the training loss stalls; the KAN trains
            # every epoch, so the MLP must too.
            settings["n_iter_no_change"] = params["max_epochs"] + 1
    if "random_state" in params:
        settings["random_state"] = params["random_state"]
    return settings


def _scaler(head):
    scaling = getattr(head, "input_scaling", None)
    if scaling == "minmax":
        lo, hi = (float(v) for v in getattr(head, "grid_range", (-1.0, 1.0)))
        return MinMaxScaler(feature_range=(lo, hi))
    if scaling == "standard":
        return StandardScaler()
    return None
