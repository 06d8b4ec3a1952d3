"""Fair comparisons: matched baselines, repeated cross-validation, tests, the report.

A KAN is only interesting next to the network it replaces, trained the same way,
compared at the same number of trainable parameters or of FLOPs, on the same
folds repeated over several seeds, with a test that says whether a difference is
real. :func:`matched_mlp` builds that network (trained by the package's own loop,
:class:`~sklearn_kan.baselines.TorchMLPClassifier`), :func:`compare` runs the
comparison with :func:`sklearn.model_selection.cross_validate`,
:func:`paired_tests` compares every model with a reference model (Nadeau and
Bengio's corrected resampled t-test). :class:`ComparisonReport` (from
``sklearn_kan._report``) writes the table, ``report.md`` and the figure; the counts
(:func:`count_params`, :func:`total_params`, :func:`count_flops`) come from
``sklearn_kan._counting`` and :class:`EpochProgressBar` from
:mod:`sklearn_kan.callbacks`, and are importable from here too.
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
from dataclasses import dataclass
from numbers import Integral, Real

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
from threadpoolctl import threadpool_limits

from ._counting import count_flops, count_params, total_params
from ._report import ComparisonReport
from ._stats import PairedComparison, corrected_resampled_ttest
from .callbacks import EpochProgressBar
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
    table : pandas.DataFrame
        One row per estimator (index ``model``), with the columns
        ``<metric>_mean`` and ``<metric>_std`` for every metric (``score`` for a
        callable ``scoring``), ``first_fit_time``, ``fit_time_mean`` and
        ``fit_time_std`` (seconds per fit, the first fit left out when there are
        several; failed fits are not timed), ``score_time_mean``, ``n_params``
        (:func:`total_params`) and ``n_flops`` (:func:`count_flops`, forward
        FLOPs per sample), both of the model fitted on the first split that
        succeeded and missing for models without a counting rule, and
        ``n_failed_fits``. The DataFrame's ``attrs["machine"]`` records the machine
        (cores, load average before and after, thread cap).
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
    _pandas()  # before any fit: the table needs it
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
    if not len(fitted):
        return None
    try:
        return total_params(fitted[0])
    except (TypeError, AttributeError):
        return None


def _to_table(rows: list[dict]):
    pd = _pandas()
    table = pd.DataFrame(rows).set_index("model")
    for key in ("n_params", "n_flops"):
        table[key] = table[key].astype("Int64")
    return table


def _pandas():
    """pandas, which :func:`compare` needs for its table."""
    try:
        import pandas
    except ImportError:
        raise ImportError(
            "compare returns a pandas DataFrame and needs pandas: pip install pandas"
        ) from None
    return pandas


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
