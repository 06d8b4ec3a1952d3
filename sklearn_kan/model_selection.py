"""Fair comparisons: matched baselines, repeated cross-validation, tests, the report.

A KAN is only interesting next to the network it replaces, trained the same way,
compared at the same number of trainable parameters or of FLOPs, on the same
folds repeated over several seeds, with a test that says whether a difference is
real. :func:`matched_mlp` builds that network (trained by the package's own loop,
:class:`~sklearn_kan.baselines.TorchMLPClassifier`), :func:`compare` runs the
comparison with :func:`sklearn.model_selection.cross_validate`,
:func:`paired_tests` compares every model with a reference model (Nadeau and
Bengio's corrected resampled t-test) and :class:`ComparisonReport` writes the
table, ``report.md`` and the figure.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import sys
import time
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone, is_classifier, is_regressor
from sklearn.exceptions import FitFailedWarning, NotFittedError
from sklearn.model_selection import check_cv, cross_validate
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback
from threadpoolctl import threadpool_limits

from ._base import count_params
from ._flops import count_flops
from ._stats import PairedComparison, corrected_resampled_ttest
from .preprocessing import Flatten

__all__ = [
    "ComparisonReport",
    "EpochProgressBar",
    "PairedComparison",
    "compare",
    "corrected_resampled_ttest",
    "count_flops",
    "count_params",
    "matched_mlp",
    "mlp_n_flops",
    "mlp_n_params",
    "paired_tests",
    "total_params",
]


def matched_mlp(
    estimator: BaseEstimator,
    X_shape: int | Sequence[int] | None = None,
    n_outputs: int | None = None,
    *,
    match: str = "params",
    n_hidden_layers: int = 1,
    baseline: str = "torch",
    tol: float = 0.05,
    **mlp_params,
) -> Pipeline:
    """An MLP with as many trainable parameters, or forward FLOPs, as a KAN.

    The hidden width is solved for, not searched. An MLP with ``L`` hidden layers
    of width ``h`` between ``n`` inputs and ``m`` output units has
    ``(L - 1) h^2 + (n + m + L) h + m`` parameters (:func:`mlp_n_params`) and
    costs :func:`mlp_n_flops` FLOPs per sample; both increase with ``h``, so the
    width is the integer whose count is nearest to the KAN's. FLOPs are counted
    by :func:`count_flops`'s rule, the same for KAN, linear and convolution
    layers (see the user guide).

    With ``baseline="torch"`` (the default) the MLP is a
    :class:`~sklearn_kan.baselines.TorchMLPClassifier` (or ``TorchMLPRegressor``)
    trained by the KAN's own loop with the KAN's settings: optimizer, learning
    rate and its schedule, weight decay, batch size, epochs, early stopping,
    input scaling, device and ``random_state``. ``baseline="sklearn"`` gives
    scikit-learn's :class:`~sklearn.neural_network.MLPClassifier` with the
    nearest equivalent settings (it has no cosine schedule and initialises and
    batches its own way), behind a scaler that maps the inputs as the KAN does.

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
    match : {"params", "flops"}, default="params"
        Match the number of trainable parameters or the forward FLOPs per sample.
    n_hidden_layers : int, default=1
        Number of hidden layers of the MLP, all of the same width.
    baseline : {"torch", "sklearn"}, default="torch"
        Which MLP: trained by this package's loop, or scikit-learn's.
    tol : float, default=0.05
        Largest accepted relative difference of the two counts.
    **mlp_params
        Passed to the MLP, overriding the settings copied from the KAN, e.g.
        ``activation="tanh"`` (or ``alpha=1e-4`` for scikit-learn's).

    Returns
    -------
    estimator : Pipeline
        ``Pipeline([..., mlp])``, unfitted; the MLP is the last step, named
        ``"mlp"`` (``count_params`` of the pipeline counts it). scikit-learn's
        MLP has a scaler step in front of it unless the KAN has
        ``input_scaling=None``.

    Raises
    ------
    ValueError
        When no MLP width gives a count within ``tol`` (a KAN smaller than an
        MLP of width 1), or when ``X_shape`` / ``n_outputs`` are missing.

    See Also
    --------
    mlp_n_params, mlp_n_flops : The counts this function inverts.
    compare : Cross-validate the KAN and its matched MLP side by side.

    Examples
    --------
    >>> from sklearn_kan import KANClassifier
    >>> from sklearn_kan.model_selection import matched_mlp, mlp_n_params
    >>> kan = KANClassifier(hidden_layer_sizes=(10,), grid_size=5)
    >>> by_params = matched_mlp(kan, X_shape=(100, 49), n_outputs=10)
    >>> by_params[-1]
    TorchMLPClassifier(hidden_layer_sizes=(89,))
    >>> mlp_n_params(49, (89,), 10)
    5350
    >>> matched_mlp(kan, X_shape=(100, 49), n_outputs=10, match="flops")[-1]
    TorchMLPClassifier(hidden_layer_sizes=(114,))
    """
    if match not in ("params", "flops"):
        raise ValueError(f"match must be 'params' or 'flops', got {match!r}.")
    if baseline not in ("torch", "sklearn"):
        raise ValueError(f"baseline must be 'torch' or 'sklearn', got {baseline!r}.")
    if not isinstance(n_hidden_layers, Integral) or n_hidden_layers < 1:
        raise ValueError(f"n_hidden_layers must be an integer >= 1, got {n_hidden_layers!r}.")
    if not 0 < tol < 1:
        raise ValueError(f"tol must be in (0, 1), got {tol!r}.")
    measured = _measure(estimator, X_shape, n_outputs)
    n_features, n_out = measured.n_features, measured.n_outputs
    # Settings come from the estimator as given, not from the copy fitted to size it.
    head = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    front = measured.front
    classifier = is_classifier(head)
    sklearn = baseline == "sklearn"
    # scikit-learn's MLPClassifier has one logistic output unit for two classes.
    units = (1 if n_out == 2 else n_out) if classifier and sklearn else n_out
    layers = int(n_hidden_layers)
    scaler = _scaler(head) if sklearn else None
    scaled = scaler is not None or (not sklearn and getattr(head, "input_scaling", None))
    if match == "params":
        target = measured.n_params
        width = _solve_width(target, n_features, units, layers)

        def count(h):
            return mlp_n_params(n_features, (h,) * layers, units)

    else:
        target = measured.n_flops
        activation = mlp_params.get("activation", "relu")

        def count(h):
            return mlp_n_flops(
                n_features, (h,) * layers, units, activation=activation, scaling=bool(scaled)
            )

        width = _nearest_width(count, target)
    got = count(width)
    if abs(got - target) > tol * target:
        raise ValueError(
            f"No MLP with {n_hidden_layers} hidden layer(s) has {target} {match} within "
            f"tol={tol}: the nearest has {got} (the smallest, of width 1, has {count(1)})."
        )
    sizes = (width,) * layers
    if sklearn:
        mlp_cls = MLPClassifier if classifier else MLPRegressor
        mlp = mlp_cls(hidden_layer_sizes=sizes, **{**_sklearn_settings(head), **mlp_params})
    else:
        from .baselines import TorchMLPClassifier, TorchMLPRegressor

        mlp_cls = TorchMLPClassifier if classifier else TorchMLPRegressor
        mlp = mlp_cls(hidden_layer_sizes=sizes, **{**_torch_settings(head, mlp_cls), **mlp_params})
    steps = list(front)
    if not steps and X_shape is not None and np.ndim(X_shape) == 1 and len(X_shape) > 2:
        # An image model reads (n, H, W); the MLP reads the same pixels as flat rows.
        steps.append(("flatten", Flatten()))
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
    n_params : int
        Weights plus biases of every layer.

    Examples
    --------
    >>> from sklearn_kan.model_selection import mlp_n_params
    >>> mlp_n_params(64, (576,), 10)
    43210
    """
    widths = [int(n_features), *(int(h) for h in hidden_layer_sizes), int(n_outputs)]
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


def mlp_n_flops(
    n_features: int,
    hidden_layer_sizes: Sequence[int],
    n_outputs: int,
    *,
    activation: str = "relu",
    scaling: bool = True,
) -> int:
    """Forward FLOPs per sample of a fully connected network, by :func:`count_flops`'s rule.

    Each ``Linear(a, b)`` costs ``2ab + b``, each hidden unit its activation
    (ReLU and tanh 1, SiLU 4), and the input scaling 2 per input.

    Parameters
    ----------
    n_features, hidden_layer_sizes, n_outputs
        The network, as in :func:`mlp_n_params`.
    activation : {"relu", "tanh", "silu", "logistic"}, default="relu"
        Activation of the hidden layers.
    scaling : bool, default=True
        Whether the inputs are scaled (``x * scale + shift``) first.

    Returns
    -------
    n_flops : int
        Floating-point operations of one sample's forward pass.

    Examples
    --------
    >>> from sklearn_kan.model_selection import mlp_n_flops
    >>> mlp_n_flops(49, (10,), 10)  # 98 + (980 + 10) + 10 + (200 + 10)
    1308
    """
    costs = {"relu": 1, "tanh": 1, "silu": 4, "logistic": 3, "identity": 0}
    if activation not in costs:
        raise ValueError(f"activation must be one of {sorted(costs)}, got {activation!r}.")
    widths = [int(n_features), *(int(h) for h in hidden_layer_sizes), int(n_outputs)]
    flops = 2 * widths[0] if scaling else 0
    flops += sum(2 * a * b + b for a, b in zip(widths[:-1], widths[1:]))
    return flops + costs[activation] * sum(widths[1:-1])


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


def compare(
    estimators: Mapping[str, BaseEstimator],
    X,
    y,
    *,
    cv=5,
    scoring=None,
    n_jobs: int | None = None,
    groups=None,
    n_threads: int | None = None,
    verbose: int = 0,
    error_score=np.nan,
    return_cv_results: bool = False,
):
    """Cross-validate several estimators on the same splits and tabulate the results.

    The splits are drawn once and every estimator is fitted on exactly the same
    ones; give a repeated splitter (e.g.
    :class:`~sklearn.model_selection.RepeatedStratifiedKFold`) for several seeds
    x folds, which :func:`paired_tests` needs to tell real differences from
    noise. Every fit runs under the same thread cap (torch's threads and, through
    threadpoolctl, the BLAS and OpenMP pools), so that times compare. The first
    fit of each model is timed apart: it carries one-off costs (kernel
    compilation, caches), which the steady ``fit_time`` leaves out.

    Parameters
    ----------
    estimators : dict of str to estimator
        The models to compare, by name; the table keeps this order.
    X : array-like of shape (n_samples, ...)
        Data.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Targets.
    cv : int, cross-validation generator or iterable, default=5
        As in :func:`~sklearn.model_selection.cross_validate`. An int means
        stratified folds for classifiers, plain folds otherwise (unshuffled:
        give a splitter with ``shuffle=True, random_state=...`` to shuffle).
    scoring : str, callable, list or dict, default=None
        As in :func:`~sklearn.model_selection.cross_validate`. ``None`` means
        ``"accuracy"`` when every estimator is a classifier and ``"r2"`` when
        every one is a regressor.
    n_jobs : int, default=None
        Folds trained in parallel, per estimator (joblib; the estimators of this
        package give each worker its share of the cores, and the thread cap
        applies to ``n_jobs=1`` only).
    groups : array-like of shape (n_samples,), default=None
        Group labels for group splitters.
    n_threads : int, default=None
        Thread cap of every fit; ``None`` uses torch's current number of threads
        (``torch.get_num_threads()``) for every library. Restored afterwards.
    verbose : int, default=0
        ``1`` or more shows a progress bar per model on stderr (tqdm) and each
        model's result when it is done.
    error_score : "raise" or float, default=np.nan
        As in :func:`~sklearn.model_selection.cross_validate`: the score of a
        fit that fails. ``"raise"`` raises the first error. With a number, a
        failed fit is recorded and the comparison goes on with the other splits
        and models: its scores are ``error_score`` (so a metric's mean is NaN
        with the default), a :class:`~sklearn.exceptions.FitFailedWarning` says
        which fits failed and why, the table counts them (``n_failed_fits``) and
        :func:`paired_tests` pairs only the fits that both models finished.
        Only when every fit of every model fails is it an error (a
        ``ValueError``, as in scikit-learn).
    return_cv_results : bool, default=False
        Also return the raw ``cross_validate`` results of each estimator, with
        the fitted estimators of every split (``"estimator"``, ``None`` for a
        failed fit), the errors (``"errors"``: one per split, ``None`` or the
        error's type and message), the train and test sizes (``"n_train"``,
        ``"n_test"``) and the split indices (``"splits"``).

    Returns
    -------
    table : pandas.DataFrame or numpy structured array
        One row per estimator (index ``model``), with the columns
        ``<metric>_mean`` and ``<metric>_std`` for every metric (``score`` for a
        callable ``scoring``), ``first_fit_time``, ``fit_time_mean`` and
        ``fit_time_std`` (seconds per fit, the first fit left out when there are
        several; failed fits are not timed), ``score_time_mean``, ``n_params``
        (:func:`total_params`) and ``n_flops`` (:func:`count_flops`, forward
        FLOPs per sample), both of the model fitted on the first split that
        succeeded and missing for models without a counting rule, and
        ``n_failed_fits``. The DataFrame's ``attrs["machine"]`` records the machine
        (cores, load average before and after, thread cap). A structured array,
        with a ``model`` field and ``-1`` for missing counts, when pandas is
        not installed.
    cv_results : dict of str to dict
        Only with ``return_cv_results=True``.

    See Also
    --------
    paired_tests : Which differences between the models are real.
    ComparisonReport : The table, ``report.md`` and figure from these results.

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
    >>> list(table.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['accuracy_mean', 'accuracy_std', 'first_fit_time', 'fit_time_mean', 'fit_time_std',
     'score_time_mean', 'n_params', 'n_flops', 'n_failed_fits']
    >>> table["n_params"].tolist()
    [5346, 5335]
    """
    if not isinstance(estimators, Mapping) or not estimators:
        raise ValueError("estimators must be a non-empty dict of name to estimator.")
    if scoring is None:
        scoring = _default_scoring(estimators)
    if n_threads is not None and (not isinstance(n_threads, Integral) or n_threads < 1):
        raise ValueError(f"n_threads must be a positive integer or None, got {n_threads!r}.")
    if not (isinstance(error_score, Real) or error_score == "raise"):
        raise ValueError(
            "error_score must be the string 'raise' or a numeric value. (Hint: if using "
            f"'raise', please make sure that it has been spelled correctly.) Got {error_score!r}."
        )
    metrics = _metric_names(scoring)
    classifier = all(is_classifier(e) for e in estimators.values())
    splits = list(check_cv(cv, y, classifier=classifier).split(X, y, groups))
    n_train = np.array([len(train) for train, _ in splits])
    n_test = np.array([len(test) for _, test in splits])
    threads = int(n_threads or torch.get_num_threads())
    machine = {"load_before": os.getloadavg() if hasattr(os, "getloadavg") else None}
    rows, raw = [], {}
    with _thread_cap(threads):
        for i, (name, estimator) in enumerate(estimators.items(), start=1):
            start = time.perf_counter()
            with _progress(f"{name} ({i}/{len(estimators)})", len(splits), verbose) as bar:
                result = _cross_validate(
                    estimator, X, y, groups, splits, scoring, n_jobs, error_score, bar
                )
            result.update(n_train=n_train, n_test=n_test, splits=splits, metrics=metrics)
            raw[name] = result
            failed = np.array([e is not None for e in result["errors"]])
            row = {"model": name}
            for metric in metrics:
                key = "test_score" if len(metrics) == 1 else f"test_{metric}"
                row[f"{metric}_mean"] = float(np.mean(result[key]))
                row[f"{metric}_std"] = float(np.std(result[key]))
            fits = np.asarray(result["fit_time"])[~failed]
            steady = fits[1:] if len(fits) > 1 else fits
            row["first_fit_time"] = float(fits[0]) if len(fits) else np.nan
            row["fit_time_mean"] = float(np.mean(steady)) if len(fits) else np.nan
            row["fit_time_std"] = float(np.std(steady)) if len(fits) else np.nan
            row["score_time_mean"] = (
                float(np.mean(np.asarray(result["score_time"])[~failed])) if len(fits) else np.nan
            )
            ok = np.flatnonzero(~failed)
            fitted = [result["estimator"][i] for i in ok]
            row["n_params"] = _first_count(fitted)
            row["n_flops"] = _first_flops(fitted, X, splits[ok[0]][1]) if len(ok) else None
            row["n_failed_fits"] = int(failed.sum())
            rows.append(row)
            if verbose:
                scores = ", ".join(
                    f"{m} {row[f'{m}_mean']:.4f} +/- {row[f'{m}_std']:.4f}" for m in metrics
                )
                _report(
                    f"{name}: {scores}; fit {row['fit_time_mean']:.2f} s (first "
                    f"{row['first_fit_time']:.2f} s); {time.perf_counter() - start:.1f} s in all"
                )
        machine.update(_machine(threads, n_jobs))
    if all(row["n_failed_fits"] == len(splits) for row in rows):
        n_fits = len(splits) * len(rows)
        counts = Counter((name, e) for name, result in raw.items() for e in result["errors"])
        details = "\n".join(
            f"{name} ({n} {'fit' if n == 1 else 'fits'}): {error}"
            for (name, error), n in counts.items()
        )
        raise ValueError(
            f"All the {n_fits} fits failed. It is very likely that the models are "
            f"misconfigured. You can try to debug the error by setting error_score='raise'."
            f"\nThe errors:\n{details}"
        )
    for name, result in raw.items():
        if any(e is not None for e in result["errors"]):
            _warn_failed(name, result["errors"], error_score)
    table = _to_table(rows)
    if hasattr(table, "attrs"):
        table.attrs["machine"] = machine
        table.attrs["metrics"] = metrics
    return (table, raw) if return_cv_results else table


def paired_tests(
    cv_results: Mapping[str, Mapping],
    reference: str | None = None,
    *,
    metric: str | None = None,
    confidence: float = 0.95,
    alpha: float = 0.05,
):
    """Every model against a reference: mean difference, CI and p-value of the scores.

    Uses Nadeau and Bengio's corrected resampled t-test
    (:func:`corrected_resampled_ttest`): the scores of the splits of a
    (repeated) cross-validation are correlated, because the training sets
    overlap, and the ordinary paired t-test, which assumes them independent,
    finds differences that are not there. The correction inflates the variance
    of the mean difference by ``n_test / n_train``.

    Parameters
    ----------
    cv_results : dict of str to dict
        The second result of ``compare(..., return_cv_results=True)``.
    reference : str, default=None
        The model the others are compared with; ``None`` takes the first.
    metric : str, default=None
        Which score, for several metrics (``None``: the first).
    confidence : float, default=0.95
        Level of the confidence intervals.
    alpha : float, default=0.05
        A difference with ``p < alpha`` is called significant (no correction
        for the number of pairs is made; with many pairs, compare the p-values
        with ``alpha / n_pairs``, Bonferroni).

    Returns
    -------
    pairs : list of dict
        One per model other than the reference: ``model``, ``reference``,
        ``metric``, ``mean_diff`` (model minus reference), ``ci_low``,
        ``ci_high``, ``p_value``, ``n_fits``, ``significant`` and
        ``sentence``, the result in one plain sentence. The test pairs the fits
        that finished for both models (a failed fit of :func:`compare` is left
        out, and so is a non-finite score); with fewer than two, the numbers
        are NaN and the sentence says why.
    """
    if not cv_results:
        raise ValueError("cv_results is empty.")
    names = list(cv_results)
    reference = names[0] if reference is None else reference
    if reference not in cv_results:
        raise ValueError(f"reference {reference!r} is not one of the models {names}.")
    ref = cv_results[reference]
    key, metric = _score_key(ref, metric)
    pairs = []
    for name in names:
        if name == reference:
            continue
        result = cv_results[name]
        both = _finished(result, key) & _finished(ref, key)
        pair = {"model": name, "reference": reference, "metric": metric}
        if both.sum() < 2:
            pairs.append(
                {
                    **pair,
                    **dict.fromkeys(("mean_diff", "ci_low", "ci_high", "p_value"), np.nan),
                    "n_fits": int(both.sum()),
                    "significant": False,
                    "sentence": f"{name} cannot be tested against {reference}: only "
                    f"{both.sum()} of the {both.size} fits finished for both (the test needs 2).",
                }
            )
            continue
        test = corrected_resampled_ttest(
            np.asarray(result[key])[both],
            np.asarray(ref[key])[both],
            float(np.mean(np.asarray(ref["n_train"])[both])),
            float(np.mean(np.asarray(ref["n_test"])[both])),
            confidence=confidence,
        )
        sentence = _sentence(name, reference, metric, test, alpha)
        if not both.all():
            sentence = (
                f"{sentence[:-1]} (over the {both.sum()} of the {both.size} fits that "
                "finished for both; the others failed)."
            )
        pairs.append(
            {
                **pair,
                "mean_diff": test.mean,
                "ci_low": test.ci_low,
                "ci_high": test.ci_high,
                "p_value": test.p_value,
                "n_fits": test.n_fits,
                "significant": bool(test.p_value < alpha),
                "sentence": sentence,
            }
        )
    return pairs


@dataclass
class ComparisonReport:
    """The comparison as a text table, a Markdown report and a figure.

    Build it from :func:`compare`'s results; :meth:`save` writes ``report.md``
    and ``comparison.png`` into a folder, which is what ``sklearn-kan compare``
    does.

    Parameters
    ----------
    table : pandas.DataFrame
        The first result of ``compare(..., return_cv_results=True)``.
    cv_results : dict
        The second result.
    reference : str, default=None
        The model the others are tested against (:func:`paired_tests`);
        ``None`` takes the first.
    title : str, default="comparison"
        Name of the data set, for the headings.
    command : str, default=None
        The command that produced the results, shown first in the report.
    settings : dict, default=None
        Extra ``setting: value`` rows for the report (data, folds, epochs...).
    descriptions : dict of str to str, default=None
        One line per model, for the report's list of models.

    Attributes
    ----------
    pairs : list of dict
        :func:`paired_tests` of every model against ``reference``.
    failures : list of dict
        Every failed fit (``compare`` with a numeric ``error_score``):
        ``model``, ``split`` and ``error``; the report lists them.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import RepeatedStratifiedKFold
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from sklearn_kan.model_selection import ComparisonReport, compare
    >>> X, y = load_digits(return_X_y=True)
    >>> cv = RepeatedStratifiedKFold(n_splits=3, n_repeats=2, random_state=0)
    >>> models = {"logreg": LogisticRegression(max_iter=500), "nb": GaussianNB()}
    >>> table, raw = compare(models, X, y, cv=cv, return_cv_results=True)
    >>> report = ComparisonReport(table, raw)
    >>> print(report.pairs[0]["sentence"])  # doctest: +ELLIPSIS
    nb is ... points less accurate than logreg, 95% CI [...]; the difference is significant ...
    """

    table: object
    cv_results: dict
    reference: str | None = None
    title: str = "comparison"
    command: str | None = None
    settings: dict | None = None
    descriptions: dict | None = None
    pairs: list = field(init=False)

    def __post_init__(self) -> None:
        first = next(iter(self.cv_results))
        self.reference = first if self.reference is None else self.reference
        enough = len(next(iter(self.cv_results.values()))["fit_time"]) >= 2
        self.pairs = paired_tests(self.cv_results, self.reference) if enough else []

    def to_text(self) -> str:
        """The table as aligned text (what the command prints)."""
        return _render(self.table, markdown=False, n_fits=_n_fits(self.cv_results))

    @property
    def failures(self) -> list[dict]:
        """Every failed fit: ``model``, ``split`` (its index) and ``error``."""
        return [
            {"model": name, "split": i, "error": error}
            for name, result in self.cv_results.items()
            for i, error in enumerate(result.get("errors") or ())
            if error is not None
        ]

    def to_markdown(self, figure: str | None = "comparison.png") -> str:
        """The whole report: command, table, figure, significance, settings, machine."""
        return _markdown(self, figure)

    def plot(self, path=None):
        """Accuracy vs FLOPs, the differences with their intervals, training curves.

        Parameters
        ----------
        path : str or Path, default=None
            Where to save the figure (PNG); ``None`` only returns it.

        Returns
        -------
        matplotlib.figure.Figure
        """
        return _draw(self, path)

    def save(self, out) -> dict:
        """Write ``report.md`` and, when matplotlib is installed, ``comparison.png``.

        Parameters
        ----------
        out : str or Path
            Folder (created if needed).

        Returns
        -------
        dict
            Paths written, keys ``"report"`` and ``"figure"`` (None without
            matplotlib).
        """
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        figure = out / "comparison.png"
        try:
            self.plot(figure)
        except ImportError:
            figure = None
        report = out / "report.md"
        report.write_text(self.to_markdown(figure.name if figure else None))
        return {"report": report, "figure": figure}


# -- private -------------------------------------------------------------------


def _default_scoring(estimators: Mapping) -> str:
    kinds = {
        "classifier" if is_classifier(e) else "regressor" if is_regressor(e) else "other"
        for e in estimators.values()
    }
    if kinds == {"classifier"}:
        return "accuracy"
    if kinds == {"regressor"}:
        return "r2"
    raise ValueError(
        "scoring=None picks 'accuracy' for classifiers and 'r2' for regressors, but the "
        f"estimators are a mix ({', '.join(sorted(kinds))}); pass scoring explicitly."
    )


def _cross_validate(estimator, X, y, groups, splits, scoring, n_jobs, error_score, bar):
    """``cross_validate`` on the given splits, one split per call, failures kept.

    One ``cross_validate`` call per split (in joblib workers when ``n_jobs`` > 1)
    lets the progress bar move when a fit ends, and keeps a failed fit from
    taking the others with it: scikit-learn raises "All the 1 fits failed" for a
    call of one split, whatever ``error_score`` says. A failed split is recorded
    here as scikit-learn records one in a call of many (its scores are
    ``error_score``), with its error.
    """
    args = (groups, scoring, error_score)
    if n_jobs in (None, 1):  # in this process, also inside a joblib backend's context
        results = (_one_split(estimator, X, y, split, *args) for split in splits)
    else:
        jobs = (delayed(_one_split)(estimator, X, y, split, *args) for split in splits)
        results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    parts = []
    for part in results:
        parts.append(part)
        bar.update(1)
    done = [p for p in parts if p["errors"][0] is None]
    test_keys = (
        [k for k in done[0] if k.startswith("test_")]
        if done
        else ["test_score"]
        if len(_metric_names(scoring)) == 1
        else [f"test_{m}" for m in _metric_names(scoring)]
    )
    for part in parts:
        if part["errors"][0] is not None:
            part.update({key: np.array([error_score], dtype=float) for key in test_keys})
    lists = ("estimator", "errors")
    return {
        key: [e for p in parts for e in p[key]]
        if key in lists
        else np.concatenate([p[key] for p in parts])
        for key in ["fit_time", "score_time", *test_keys, *lists]
    }


def _one_split(estimator, X, y, split, groups, scoring, error_score) -> dict:
    """``cross_validate`` on one split; a failure (unless ``"raise"``) as a record."""
    start = time.perf_counter()
    try:
        result = cross_validate(
            estimator,
            X,
            y,
            cv=[split],
            groups=groups,
            scoring=scoring,
            return_estimator=True,
            error_score="raise",
        )
    except Exception as exc:
        if error_score == "raise":
            raise
        error = f"{type(exc).__name__}: {' '.join(str(exc).split())}".rstrip(": ")
        return {
            "fit_time": np.array([time.perf_counter() - start]),
            "score_time": np.array([0.0]),
            "estimator": [None],
            "errors": [error],
        }
    result["errors"] = [None]
    return result


def _warn_failed(name: str, errors: list, error_score) -> None:
    """scikit-learn's ``FitFailedWarning`` for the failed fits of one model."""
    failed = [(i, e) for i, e in enumerate(errors) if e is not None]
    details = "\n".join(f"split {i}: {e}" for i, e in failed)
    warnings.warn(
        f"{len(failed)} of the {len(errors)} fits of {name!r} failed. The scores on these "
        f"train-test splits are set to error_score={error_score}; the other splits and "
        "models are kept. If these failures are not expected, you can try to debug them "
        f"by setting error_score='raise'.\n{details}",
        FitFailedWarning,
        stacklevel=3,
    )


@contextmanager
def _progress(label: str, total: int, verbose: int):
    """A tqdm bar over the fits of one model (skorch draws its bars with tqdm too)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=label, unit="fit", file=sys.stderr, disable=not verbose)
    try:
        yield bar
    finally:
        bar.close()


class EpochProgressBar(Callback):
    """skorch callback: a tqdm bar over the epochs of a fit, with the training loss.

    skorch's own ``ProgressBar`` counts the batches of one epoch; a comparison
    wants the epochs of a fit. Shown on a terminal only (tqdm's ``disable=None``).
    """

    def on_train_begin(self, net, **kwargs):
        from tqdm.auto import tqdm

        self.bar_ = tqdm(
            total=net.max_epochs,
            desc="  epochs",
            unit="epoch",
            leave=False,
            file=sys.stderr,
            disable=None,
        )

    def on_epoch_end(self, net, **kwargs):
        self.bar_.update(1)
        self.bar_.set_postfix(train_loss=f"{net.history[-1]['train_loss']:.4f}")

    def on_train_end(self, net, **kwargs):
        # Dropped, not kept: a bar holds its stream, which does not pickle (joblib
        # workers send the fitted estimators back pickled).
        self.bar_.close()
        del self.bar_


@contextmanager
def _thread_cap(n: int):
    """torch, BLAS and OpenMP limited to ``n`` threads; the previous settings restored."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        torch.set_num_threads(previous)


def _machine(threads: int, n_jobs) -> dict:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        usable = os.cpu_count()
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable,
        "load_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "thread_cap": threads,
        "n_jobs": n_jobs,
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _score_key(result: Mapping, metric: str | None) -> tuple[str, str]:
    metrics = list(result.get("metrics", ["score"]))
    metric = metrics[0] if metric is None else metric
    if metric not in metrics:
        raise ValueError(f"metric {metric!r} is not one of {metrics}.")
    return ("test_score" if len(metrics) == 1 else f"test_{metric}"), metric


def _finished(result: Mapping, key: str) -> np.ndarray:
    """Which fits of a model finished: not failed, with a finite score."""
    scores = np.asarray(result[key], dtype=float)
    errors = result.get("errors") or [None] * len(scores)
    return np.isfinite(scores) & np.array([e is None for e in errors])


def _sentence(name: str, ref: str, metric: str, test: PairedComparison, alpha: float) -> str:
    level = f"{round(100 * test.confidence)}% CI"
    if metric == "accuracy":
        d, lo, hi = 100 * test.mean, 100 * test.ci_low, 100 * test.ci_high
        if d < 0:
            what = f"{-d:.1f} points less accurate than {ref}, {level} [{-hi:.1f}, {-lo:.1f}]"
        else:
            what = f"{d:.1f} points more accurate than {ref}, {level} [{lo:.1f}, {hi:.1f}]"
        text = f"{name} is {what}"
    else:
        d, lo, hi = test.mean, test.ci_low, test.ci_high
        side = "lower" if d < 0 else "higher"
        text = (
            f"{name}'s {metric} is {abs(d):.3g} {side} than {ref}'s, {level} "
            f"[{lo:.3g}, {hi:.3g}] (difference {name} - {ref})"
        )
    p = "p < 0.001" if test.p_value < 0.001 else f"p = {test.p_value:.3f}"
    if test.p_value < alpha:
        return f"{text}; the difference is significant ({p})."
    return f"{text}; the difference is not significant ({p}): these fits cannot tell them apart."


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


def _first_flops(fitted, X, test) -> int | None:
    from sklearn.utils import _safe_indexing

    if not len(fitted) or isinstance(fitted[0], str):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return count_flops(fitted[0], _safe_indexing(X, test[:1]))
    except (TypeError, AttributeError, ValueError):
        return None


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
    counts = ("n_params", "n_flops")
    pd = _pandas()
    if pd is None:
        names = [k for k in rows[0] if k != "model" and k not in counts]
        width = max(len(r["model"]) for r in rows)
        dtype = [("model", f"U{width}"), *((k, "f8") for k in names), *((k, "i8") for k in counts)]
        values = [
            (
                r["model"],
                *(r[k] for k in names),
                *(-1 if r[k] is None else r[k] for k in counts),
            )
            for r in rows
        ]
        return np.array(values, dtype=dtype)
    table = pd.DataFrame(rows).set_index("model")
    for key in counts:
        table[key] = table[key].astype("Int64")
    return table


def _pandas():
    """pandas if it is installed (it is optional), else None."""
    try:
        import pandas
    except ImportError:
        return None
    return pandas


@dataclass
class _Measured:
    front: list
    n_features: int
    n_outputs: int
    n_params: int
    n_flops: int


def _measure(estimator, X_shape, n_outputs) -> _Measured:
    """The steps before the model to match, its input width, outputs and counts."""
    front = []
    head = estimator
    if isinstance(estimator, Pipeline):
        front = [(name, clone(step)) for name, step in estimator.steps[:-1]]
        head = estimator.steps[-1][1]
    if not _is_fitted(head):
        if X_shape is None:
            raise ValueError(
                "X_shape (or n_features) is needed to size an MLP for an unfitted estimator."
            )
        shape = (32, int(X_shape)) if isinstance(X_shape, Integral) else tuple(X_shape)
        if len(shape) < 2:
            raise ValueError(
                "X_shape must be the shape of the data, (n_samples, n_features) or "
                f"(n_samples, height, width), or an int n_features; got {X_shape!r}."
            )
        if n_outputs is None:
            if is_classifier(head):
                raise ValueError("n_outputs (the number of classes) is needed for a classifier.")
            n_outputs = 1
        estimator = _fit_tiny(estimator, shape, int(n_outputs))
        head = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    n_features = getattr(head, "n_features_in_", None)
    if n_features is None:
        raise ValueError(f"{type(head).__name__} has no n_features_in_ after fit.")
    # FLOPs do not depend on the values: one row of zeros in the head's input space.
    n_flops = count_flops(head, np.zeros((1, int(n_features)), dtype=np.float32))
    if not front and X_shape is not None and not isinstance(X_shape, Integral):
        # An image model sees (n, H, W) but an MLP needs flat rows of the same pixels.
        n_features = math.prod(int(d) for d in tuple(X_shape)[1:])
    if is_classifier(head):
        n_out = len(head.classes_)
    else:
        n_out = int(getattr(head, "n_outputs_", n_outputs or 1))
    return _Measured(front, int(n_features), n_out, count_params(head), n_flops)


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


def _nearest_width(count, target: int) -> int:
    """Smallest ``h`` whose ``count(h)`` is nearest to ``target`` (count increases with h)."""
    lo, hi = 1, 2
    while count(hi) < target:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(mid) < target else (lo, mid)
    return min((lo, hi), key=lambda h: (abs(count(h) - target), h))


def _torch_settings(head, mlp_cls) -> dict:
    """The KAN's settings that the same-loop MLP shares (all its training settings)."""
    params = head.get_params(deep=False)
    accepted = mlp_cls().get_params(deep=False)
    shared = {k: v for k, v in params.items() if k in accepted and k != "hidden_layer_sizes"}
    # Its own callbacks (progress, scoring) are not the KAN's business.
    shared.pop("callbacks", None)
    return shared


def _sklearn_settings(head) -> dict:
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


# -- the report ----------------------------------------------------------------


def _rows(table) -> list[dict]:
    if hasattr(table, "reset_index"):
        records = table.reset_index().to_dict("records")
    else:
        records = [dict(zip(table.dtype.names, row)) for row in table.tolist()]
    for r in records:
        r["n_params"] = _count(r.get("n_params"))
        r["n_flops"] = _count(r.get("n_flops"))
    return records


def _count(value) -> int | None:
    """An int, or None for a missing count (None, NaN, pandas' NA, -1)."""
    try:
        return int(value) if value is not None and value >= 0 else None
    except (TypeError, ValueError):  # NA and NaN do not compare or convert
        return None


def _main_metric(table) -> str:
    names = table.columns if hasattr(table, "columns") else table.dtype.names
    return next(n[: -len("_mean")] for n in names if n.endswith("_mean"))


def _render(table, *, markdown: bool, n_fits: int | None = None) -> str:
    """The comparison table as aligned text or as a Markdown table.

    A column ``failed`` (failed fits of ``n_fits``) is shown when a fit failed.
    """
    rows = _rows(table)
    metric = _main_metric(table)
    pm = "±" if markdown else "+/-"
    head = [
        "model",
        metric,
        "params",
        "FLOPs/sample",
        "first fit (s)",
        "fit (s)",
        "predict (s)",
    ]
    body = [
        [
            r["model"],
            f"{r[f'{metric}_mean']:.4f} {pm} {r[f'{metric}_std']:.4f}",
            "?" if r["n_params"] is None else f"{r['n_params']:,}",
            "?" if r["n_flops"] is None else f"{r['n_flops']:,}",
            f"{r['first_fit_time']:.2f}",
            f"{r['fit_time_mean']:.2f} {pm} {r['fit_time_std']:.2f}",
            f"{r['score_time_mean']:.3f}",
        ]
        for r in rows
    ]
    failed = [int(r.get("n_failed_fits") or 0) for r in rows]
    if any(failed):
        head.append("failed")
        for cells, n in zip(body, failed):
            cells.append(f"{n}/{n_fits}" if n_fits else str(n))
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]

    def fmt(cells):
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        )

    return "\n".join([fmt(head), *(fmt(row) for row in body)])


def _markdown(report: ComparisonReport, figure: str | None) -> str:
    table, raw = report.table, report.cv_results
    n_fits = _n_fits(raw)
    metric = _main_metric(table)
    lines = [f"# sklearn-kan compare: {report.title}", ""]
    if report.command:
        lines += ["Command:", "", "```bash", report.command, "```", ""]
    lines += [
        "## Results",
        "",
        f"{metric} over {n_fits} fits (every model on the same train/test splits; mean ± "
        "std). params: trainable parameters; FLOPs/sample: forward FLOPs to predict one "
        "sample, by the package's counting rule (see the user guide); both of the model "
        "fitted on the first split. first fit: seconds of the first fit, which carries "
        "one-off costs (compilation); fit: seconds per fit over the other fits; predict: "
        "seconds to score one test split (mean over all fits, the first included).",
        "",
        _render(table, markdown=True, n_fits=n_fits),
        "",
    ]
    if report.failures:
        lines += [
            "## Failed fits",
            "",
            "Their scores are the `error_score` of `compare` in the table; the tests below "
            "pair only the fits that finished for both models.",
            "",
            "| model | split | error |",
            "|---|---|---|",
        ]
        lines += [
            f"| {f['model']} | {f['split']} | {f['error'].replace('|', '/')} |"
            for f in report.failures
        ]
        lines += [""]
    if figure:
        lines += [f"![{metric} vs FLOPs, differences and training curves]({figure})", ""]
    if report.settings:
        lines += ["## Settings", "", "| setting | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in report.settings.items()]
        lines += [""]
    machine = table.attrs.get("machine", {}) if hasattr(table, "attrs") else {}
    if machine:
        lines += ["## Machine", "", "| | |", "|---|---|"]
        lines += [f"| {k} | {_fmt_machine(v)} |" for k, v in machine.items()]
        lines += [""]
    lines += ["## Models", ""]
    for name, result in raw.items():
        help_ = (report.descriptions or {}).get(name)
        lines += [f"- **{name}**" + (f": {help_}" if help_ else ""), ""]
        est = next((e for e in result.get("estimator") or () if e is not None), None)
        if est is not None and not isinstance(est, str):
            lines += ["  ```", f"  {_describe(est)}", "  ```", ""]
    lines += ["## Versions", "", "| package | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in _versions().items()]
    lines += ["", f"## Is the difference real? (each model against {report.reference})", ""]
    if not report.pairs:
        lines += ["One fit per model: no test is possible (use several folds or repeats).", ""]
    else:
        pairs = report.pairs
        unit = " (points)" if metric == "accuracy" else ""
        scale = 100 if metric == "accuracy" else 1
        lines += [
            f"Nadeau and Bengio's corrected resampled t-test over the {pairs[0]['n_fits']} "
            "paired fits (the ordinary paired t-test is too liberal here: the training sets "
            "of the splits overlap, so their scores are correlated); the interval is the "
            f"95% confidence interval of the mean difference, model minus {report.reference}; "
            "significant means p < 0.05, with no correction for the number of pairs.",
            "",
            f"| model | difference{unit} | 95% CI | p-value | significant |",
            "|---|---|---|---|---|",
        ]
        for p in pairs:
            lines.append(
                f"| {p['model']} | {scale * p['mean_diff']:+.2f} | "
                f"[{scale * p['ci_low']:+.2f}, {scale * p['ci_high']:+.2f}] | "
                f"{p['p_value']:.3g} | {'yes' if p['significant'] else 'no'} |"
            )
        lines += [""] + [p["sentence"] for p in pairs]
    return "\n".join(lines) + "\n"


def _n_fits(cv_results: Mapping) -> int:
    return len(next(iter(cv_results.values()))["fit_time"])


def _fmt_machine(value) -> str:
    if isinstance(value, tuple | list) and value and isinstance(value[0], float):
        return " / ".join(f"{v:.2f}" for v in value) + " (1, 5, 15 min)"
    return str(value)


def _versions() -> dict:
    from . import __version__

    versions = {"sklearn-kan": __version__, "python": platform.python_version()}
    for label, module in (
        ("torch", "torch"),
        ("scikit-learn", "sklearn"),
        ("skorch", "skorch"),
        ("numpy", "numpy"),
        ("scipy", "scipy"),
    ):
        try:
            versions[label] = __import__(module).__version__
        except ImportError:  # pragma: no cover - all are dependencies
            continue
    return versions


def _describe(estimator) -> str:
    """One-line repr without the callbacks (progress bars are not part of the model)."""
    est = clone(estimator)
    steps = est.steps if hasattr(est, "steps") else [(None, est)]
    for _, step in steps:
        if "callbacks" in step.get_params(deep=False):
            step.set_params(callbacks=None)
    return " ".join(repr(est).split())


def _curves(estimators) -> list[np.ndarray]:
    """Training loss per epoch of each fold's fitted model, where it has one."""
    curves = []
    for est in estimators:
        if est is None:  # a failed fit
            continue
        last = est.steps[-1][1] if hasattr(est, "steps") else est
        history = getattr(last, "history_", None)
        if history is not None:
            curves.append(np.asarray(history[:, "train_loss"], dtype=float))
        elif getattr(last, "loss_curve_", None) is not None:
            curves.append(np.asarray(last.loss_curve_, dtype=float))
    return curves


def _draw(report: ComparisonReport, path):
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    rows = _rows(report.table)
    metric = _main_metric(report.table)
    fig = Figure(figsize=(15, 4.4), layout="constrained")
    left, middle, right = fig.subplots(1, 3)
    colors = {r["model"]: f"C{i}" for i, r in enumerate(rows)}
    for r in rows:
        if r["n_flops"] is None:
            continue
        left.errorbar(
            r["n_flops"],
            r[f"{metric}_mean"],
            yerr=r[f"{metric}_std"],
            fmt="o",
            capsize=4,
            color=colors[r["model"]],
        )
        left.annotate(
            r["model"],
            (r["n_flops"], r[f"{metric}_mean"]),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize=8,
        )
    counts = [r["n_flops"] for r in rows if r["n_flops"] is not None]
    if counts and max(counts) > 10 * min(counts):
        left.set_xscale("log")
    elif counts:
        left.set_xlim(0.7 * min(counts), 1.3 * max(counts))
    left.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    left.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    left.set_xlabel("forward FLOPs per sample")
    left.set_ylabel(f"{metric} (mean ± std over fits)")
    left.set_title(f"{report.title}: {metric} vs cost")
    left.grid(alpha=0.3)
    scale = 100 if metric == "accuracy" else 1
    for i, p in enumerate(report.pairs):
        mean, lo, hi = (scale * p[k] for k in ("mean_diff", "ci_low", "ci_high"))
        if not np.isfinite(mean):  # not tested: too few fits finished
            continue
        middle.errorbar(
            mean,
            i,
            xerr=[[mean - lo], [hi - mean]],
            fmt="o",
            capsize=4,
            color=colors[p["model"]],
        )
    middle.axvline(0, color="0.4", linewidth=1)
    middle.set_yticks(range(len(report.pairs)), [p["model"] for p in report.pairs])
    middle.invert_yaxis()
    unit = "points" if metric == "accuracy" else metric
    middle.set_xlabel(f"difference to {report.reference} ({unit}), 95% CI")
    middle.set_title("corrected resampled t-test")
    middle.grid(alpha=0.3)
    drawn = False
    for name, result in report.cv_results.items():
        curves = _curves(result["estimator"])
        if not curves:
            continue
        n = min(len(c) for c in curves)
        stacked = np.stack([c[:n] for c in curves])
        epochs = np.arange(1, n + 1)
        for c in stacked:
            right.plot(epochs, c, color=colors[name], alpha=0.25, linewidth=0.8)
        right.plot(epochs, stacked.mean(0), color=colors[name], label=name, linewidth=2)
        drawn = True
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_xlabel("epoch")
    right.set_ylabel("training loss")
    right.set_yscale("log")
    right.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    right.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    right.set_title("training curves (each fit; mean bold)")
    right.grid(alpha=0.3)
    if drawn:
        right.legend(fontsize=8)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
