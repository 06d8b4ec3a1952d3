"""Is a difference between two cross-validated models real? The corrected resampled t-test.

Scores from the folds of (repeated) cross-validation are not independent: any
two training sets share most of their samples, so the models, and their
scores, are correlated. The ordinary paired t-test ignores that, underestimates
the variance of the mean difference and finds differences that are not there
(Dietterich 1998; Nadeau and Bengio 2003). Nadeau and Bengio's correction
inflates the variance by the fraction of the data each test set holds relative
to its training set:

    var(mean d) = (1 / J + n_test / n_train) * s^2

where ``d`` are the ``J`` paired differences (one per fit, seeds x folds) and
``s^2`` their sample variance; ``t = mean(d) / sqrt(var)`` has ``J - 1``
degrees of freedom. It is the test scikit-learn's own example "Statistical
comparison of models using grid search" uses; scipy has no function for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["PairedComparison", "corrected_resampled_ttest"]


@dataclass(frozen=True)
class PairedComparison:
    """Result of :func:`corrected_resampled_ttest` (differences are ``a - b``)."""

    mean: float
    ci_low: float
    ci_high: float
    p_value: float
    t: float
    df: int
    n_fits: int
    confidence: float


def corrected_resampled_ttest(
    scores_a, scores_b, n_train: float, n_test: float, *, confidence: float = 0.95
) -> PairedComparison:
    """Nadeau and Bengio's corrected resampled t-test for paired CV scores.

    Parameters
    ----------
    scores_a, scores_b : array-like of shape (n_fits,)
        Scores of two models on the same splits (same order), one per fit of a
        (repeated) cross-validation.
    n_train, n_test : float
        Number of training and test samples per split (the mean, if they vary).
    confidence : float, default=0.95
        Level of the confidence interval of the mean difference.

    Returns
    -------
    PairedComparison
        Mean difference ``a - b``, its confidence interval, the two-sided
        p-value, the t statistic and its degrees of freedom.

    Raises
    ------
    ValueError
        With fewer than two fits, scores of different lengths, or sizes that
        are not positive.
    """
    a = np.asarray(scores_a, dtype=float).ravel()
    b = np.asarray(scores_b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(
            f"scores_a and scores_b must have the same length, got {a.size} and {b.size}."
        )
    if a.size < 2:
        raise ValueError(f"the test needs at least 2 paired scores, got {a.size}.")
    if not (n_train > 0 and n_test > 0):
        raise ValueError(f"n_train and n_test must be positive, got {n_train} and {n_test}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}.")
    d = a - b
    j = d.size
    mean = float(d.mean())
    se = math.sqrt((1 / j + n_test / n_train) * float(d.var(ddof=1)))
    df = j - 1
    half = float(stats.t.ppf((1 + confidence) / 2, df)) * se
    if se > 0:
        t = mean / se
        p = float(2 * stats.t.sf(abs(t), df))
    else:  # every fit gave the same difference: no spread to test against
        t = math.copysign(math.inf, mean) if mean else 0.0
        p = 0.0 if mean else 1.0
    return PairedComparison(mean, mean - half, mean + half, p, float(t), df, j, confidence)
