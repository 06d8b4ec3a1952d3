"""The corrected resampled t-test, against a worked example computed by hand."""

import math

import numpy as np
import pytest
from scipy import stats

from sklearn_kan._stats import corrected_resampled_ttest


def test_worked_example():
    # 2 repeats x 3 folds of 900 samples: 600 train, 300 test per split.
    a = np.array([0.95, 0.96, 0.94, 0.97, 0.95, 0.96])
    b = np.array([0.93, 0.95, 0.94, 0.94, 0.93, 0.95])
    # d = a - b = [.02, .01, 0, .03, .02, .01]; mean 0.015
    # sample variance: sum((d - .015)^2) / 5 = (.000025*2 + .000025*2 + .000225 + .000225) / 5
    #                = 0.00055 / 5 = 0.00011
    # corrected variance of the mean: (1/6 + 300/600) * 0.00011 = 0.0000733...
    mean, var = 0.015, 0.00011
    se = math.sqrt((1 / 6 + 0.5) * var)
    t = mean / se  # 1.7516
    result = corrected_resampled_ttest(a, b, n_train=600, n_test=300)
    assert result.mean == pytest.approx(mean)
    assert result.t == pytest.approx(t)
    assert result.t == pytest.approx(1.75162, abs=1e-4)
    assert result.df == 5
    assert result.p_value == pytest.approx(2 * stats.t.sf(t, 5))
    assert result.p_value == pytest.approx(0.1403, abs=1e-3)
    half = stats.t.ppf(0.975, 5) * se
    assert (result.ci_low, result.ci_high) == pytest.approx((mean - half, mean + half))
    # The naive paired t-test (no correction) is more confident on the same data.
    naive = stats.ttest_rel(a, b)
    assert naive.pvalue < result.p_value
    assert naive.statistic == pytest.approx(mean / math.sqrt(var / 6))


def test_signs_and_symmetry():
    rng = np.random.default_rng(0)
    a = rng.random(10)
    b = a - 0.05 + 0.01 * rng.standard_normal(10)
    ab = corrected_resampled_ttest(a, b, 90, 10)
    ba = corrected_resampled_ttest(b, a, 90, 10)
    assert ab.mean > 0 and ba.mean == pytest.approx(-ab.mean)
    assert ab.p_value == pytest.approx(ba.p_value)
    assert ab.ci_low > 0  # a clear, consistent difference is significant
    assert ab.p_value < 0.01


def test_identical_differences():
    same = corrected_resampled_ttest([1, 1, 1], [1, 1, 1], 2, 1)
    assert same.mean == 0 and same.p_value == 1.0
    shifted = corrected_resampled_ttest([2, 2, 2], [1, 1, 1], 2, 1)
    assert shifted.p_value == 0.0 and shifted.ci_low == shifted.ci_high == 1.0


@pytest.mark.parametrize(
    "args, message",
    [
        (([1], [1], 2, 1), "at least 2"),
        (([1, 2], [1], 2, 1), "same length"),
        (([1, 2], [1, 2], 0, 1), "positive"),
    ],
)
def test_errors(args, message):
    with pytest.raises(ValueError, match=message):
        corrected_resampled_ttest(*args)
