"""Tests of sklearn_kan.model_selection: matched MLPs and cross-validated comparisons."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_digits, make_regression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from sklearn_kan import KANClassifier, KANRegressor
from sklearn_kan.baselines import TorchMLPClassifier, TorchMLPRegressor
from sklearn_kan.model_selection import (
    compare,
    count_flops,
    count_params,
    matched_mlp,
    mlp_n_flops,
    mlp_n_params,
    paired_tests,
)
from sklearn_kan.preprocessing import Downsample

# The MLPs train for a fixed, tiny number of epochs on tiny folds, on purpose.
pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore:Got `batch_size`:UserWarning"),
]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:240] / 16.0, y[:240]


@pytest.mark.parametrize(
    "n_features, sizes, n_out", [(64, (576,), 10), (5, (3, 7), 1), (784, (10, 20, 30), 10)]
)
def test_mlp_n_params_counts_what_scikit_learn_fits(n_features, sizes, n_out):
    rng = np.random.default_rng(0)
    X = rng.random((30, n_features))
    y = np.arange(30) % max(n_out, 2)
    mlp = MLPClassifier(sizes, max_iter=1).fit(X, y)
    assert count_params(mlp) == mlp_n_params(n_features, sizes, 1 if n_out <= 2 else n_out)


@pytest.mark.parametrize(
    "kan, n_features, n_classes",
    [
        (KANClassifier(), 64, 10),
        (KANClassifier(hidden_layer_sizes=(10,)), 49, 10),
        (KANClassifier(hidden_layer_sizes=(16, 8), grid_size=8), 784, 10),
        (KANClassifier(basis="chebyshev", spline_order=4), 30, 3),
        (KANClassifier(hidden_layer_sizes=(4,)), 12, 2),
        (KANClassifier(grid_size=3, grid_schedule=(5, 10), max_epochs=4), 20, 4),
    ],
)
@pytest.mark.parametrize("n_hidden_layers", [1, 2])
@pytest.mark.parametrize("match", ["params", "flops"])
def test_matched_mlp_is_within_five_percent(kan, n_features, n_classes, n_hidden_layers, match):
    mlp = matched_mlp(
        kan, (50, n_features), n_classes, n_hidden_layers=n_hidden_layers, match=match
    )
    rng = np.random.default_rng(0)
    X = rng.random((40, n_features))
    y = np.arange(40) % n_classes
    fitted_kan = KANClassifier(**{**kan.get_params(), "max_epochs": kan.max_epochs}).fit(X, y)
    head = mlp[-1]
    assert isinstance(head, TorchMLPClassifier)
    assert len(head.hidden_layer_sizes) == n_hidden_layers
    fitted = mlp.set_params(mlp__max_epochs=1).fit(X, y)
    if match == "params":
        target, got = count_params(fitted_kan), count_params(fitted)
        assert got == mlp_n_params(n_features, head.hidden_layer_sizes, n_classes)
    else:
        target, got = count_flops(fitted_kan, X), count_flops(fitted, X)
        assert got == mlp_n_flops(n_features, head.hidden_layer_sizes, n_classes)
    assert abs(got - target) <= 0.05 * target


def test_matched_mlp_width_is_the_rounded_root():
    kan = KANClassifier(hidden_layer_sizes=(10,))
    # [49, 10, 10] with 5 + 3 B-splines and silu per edge: 10*49*9 + 10 + 10*10*9 + 10
    target = 5330
    mlp = matched_mlp(kan, 49, 10)
    assert mlp[-1].hidden_layer_sizes == (round((target - 10) / (49 + 1 + 10)),)


def test_matched_mlp_by_flops_is_the_nearest_width():
    kan = KANClassifier(hidden_layer_sizes=(10,))
    # KAN: 2 * 49 scaling + 49 * 51 + 2 * 441 * 10 + 10 + 10 * 51 + 2 * 90 * 10 + 10
    target = 98 + 49 * 51 + 8820 + 10 + 510 + 1800 + 10
    width = matched_mlp(kan, 49, 10, match="flops")[-1].hidden_layer_sizes[0]
    errors = {h: abs(mlp_n_flops(49, (h,), 10) - target) for h in (width - 1, width, width + 1)}
    assert min(errors, key=errors.get) == width


def test_matched_mlp_shares_the_training_loop_settings():
    kan = KANClassifier(
        lr=1e-2,
        lr_schedule="constant",
        batch_size=64,
        max_epochs=7,
        weight_decay=1e-4,
        early_stopping=True,
        n_iter_no_change=3,
        input_scaling="standard",
        device="cpu",
        random_state=4,
    )
    mlp = matched_mlp(kan, (100, 64), 10, activation="tanh")[-1]
    for key in (
        "lr",
        "lr_schedule",
        "batch_size",
        "max_epochs",
        "weight_decay",
        "early_stopping",
        "n_iter_no_change",
        "input_scaling",
        "device",
        "random_state",
    ):
        assert mlp.get_params()[key] == kan.get_params()[key], key
    assert mlp.activation == "tanh"  # keyword arguments win
    assert kan.max_epochs == 7  # the estimator given is left alone


def test_matched_mlp_sklearn_copies_the_training_budget_and_scaling():
    kan = KANClassifier(lr=3e-3, batch_size=64, max_epochs=7, random_state=4, grid_range=(-2, 2))
    mlp = matched_mlp(kan, (100, 64), 10, baseline="sklearn", alpha=1e-3)
    scaler, head = mlp[-2], mlp[-1]
    assert isinstance(head, MLPClassifier)
    assert isinstance(scaler, MinMaxScaler) and scaler.feature_range == (-2.0, 2.0)
    assert head.learning_rate_init == 3e-3
    assert head.batch_size == 64
    assert head.max_iter == 7
    assert head.n_iter_no_change > 7  # trains every epoch, as the KAN does
    assert head.random_state == 4
    assert head.alpha == 1e-3  # keyword arguments win
    no_scaling = matched_mlp(KANClassifier(input_scaling=None), 64, 10, baseline="sklearn")
    assert [name for name, _ in no_scaling.steps] == ["mlp"]
    # scikit-learn's classifier has one output unit for two classes
    two = matched_mlp(KANClassifier(hidden_layer_sizes=(4,)), 12, 2, baseline="sklearn")
    fitted_kan = KANClassifier(hidden_layer_sizes=(4,), max_epochs=1).fit(
        np.random.default_rng(0).random((20, 12)), np.arange(20) % 2
    )
    got = mlp_n_params(12, two[-1].hidden_layer_sizes, 1)
    assert abs(got - fitted_kan.n_params_) <= 0.05 * fitted_kan.n_params_


def test_matched_mlp_of_a_pipeline_sees_what_the_pipeline_feeds(digits):
    X, y = digits
    pipe = make_pipeline(Downsample(7), KANClassifier(hidden_layer_sizes=(10,)))
    mlp = matched_mlp(pipe, (100, 784), 10)
    assert isinstance(mlp.steps[0][1], Downsample)
    assert (
        mlp[-1].hidden_layer_sizes
        == matched_mlp(KANClassifier((10,)), 49, 10)[-1].hidden_layer_sizes
    )
    # 8 x 8 digits downsampled to 4 x 4: 16 inputs
    small = make_pipeline(Downsample(4), KANClassifier(hidden_layer_sizes=(6,), max_epochs=2))
    matched = matched_mlp(small, X.shape, 10).set_params(mlp__max_epochs=2).fit(X, y)
    assert matched[-1].n_features_in_ == 16


def test_matched_mlp_of_a_fitted_estimator_needs_no_shape(digits):
    X, y = digits
    kan = KANClassifier(hidden_layer_sizes=(8,), max_epochs=1, random_state=0).fit(X, y)
    mlp = matched_mlp(kan)
    assert abs(mlp_n_params(64, mlp[-1].hidden_layer_sizes, 10) - kan.n_params_) <= 0.05 * (
        kan.n_params_
    )


def test_matched_mlp_of_images_flattens_first():
    rng = np.random.default_rng(0)
    X = rng.random((30, 8, 8))
    y = np.arange(30) % 3
    pipe = make_pipeline(Downsample(4), KANClassifier(hidden_layer_sizes=(4,), max_epochs=1))
    mlp = matched_mlp(pipe, X.shape, 3).set_params(mlp__max_epochs=1)
    assert mlp.fit(X, y).predict(X).shape == (30,)
    from sklearn_kan import HybridKANClassifier

    hybrid = HybridKANClassifier(frontend="linear", max_epochs=1)
    flat = matched_mlp(hybrid, X.shape, 3)
    assert [name for name, _ in flat.steps] == ["flatten", "mlp"]
    assert flat.set_params(mlp__max_epochs=1).fit(X, y).predict(X).shape == (30,)


def test_matched_mlp_regressor():
    X, y = make_regression(60, 5, n_targets=2, random_state=0)
    kan = KANRegressor(hidden_layer_sizes=(4,), max_epochs=1)
    mlp = matched_mlp(kan, X.shape, 2)
    fitted = KANRegressor(hidden_layer_sizes=(4,), max_epochs=1).fit(X, y)
    predicted = mlp_n_params(5, mlp[-1].hidden_layer_sizes, 2)
    assert abs(predicted - fitted.n_params_) <= 0.05 * fitted.n_params_
    assert isinstance(mlp[-1], TorchMLPRegressor)
    assert type(matched_mlp(kan, X.shape, 2, baseline="sklearn")[-1]).__name__ == "MLPRegressor"


def test_matched_mlp_hybrid_matches_the_total_count():
    from sklearn_kan import classifier

    hybrid = classifier.HybridKANClassifier(frontend="linear", max_epochs=1)
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 64)), np.arange(40) % 10
    target = count_params(classifier.HybridKANClassifier(frontend="linear", max_epochs=1).fit(X, y))
    mlp = matched_mlp(hybrid, X.shape, 10)
    assert abs(mlp_n_params(64, mlp[-1].hidden_layer_sizes, 10) - target) <= 0.05 * target


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "X_shape"),
        ({"X_shape": 64}, "n_outputs"),
        ({"X_shape": (784,), "n_outputs": 10}, "X_shape must be the shape of the data"),
        ({"X_shape": 49, "n_outputs": 10, "tol": 1e-4}, "within tol"),
        ({"X_shape": 49, "n_outputs": 10, "n_hidden_layers": 0}, "n_hidden_layers"),
        ({"X_shape": 49, "n_outputs": 10, "tol": 2.0}, "tol"),
        ({"X_shape": 49, "n_outputs": 10, "match": "time"}, "match must be"),
        ({"X_shape": 49, "n_outputs": 10, "baseline": "keras"}, "baseline must be"),
    ],
)
def test_matched_mlp_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        matched_mlp(KANClassifier(hidden_layer_sizes=(10,)), **kwargs)


def test_compare_table(digits, capsys):
    X, y = digits
    kan = KANClassifier(hidden_layer_sizes=(4,), max_epochs=2, random_state=0)
    models = {
        "kan": kan,
        "mlp": matched_mlp(kan, X.shape, 10),
        "logreg": LogisticRegression(max_iter=200),
    }
    table, raw = compare(models, X, y, cv=2, verbose=1, return_cv_results=True)
    assert list(table.index) == ["kan", "mlp", "logreg"]
    assert list(table.columns) == [
        "accuracy_mean",
        "accuracy_std",
        "first_fit_time",
        "fit_time_mean",
        "fit_time_std",
        "score_time_mean",
        "n_params",
        "n_flops",
        "n_failed_fits",
    ]
    assert table.loc["kan", "n_params"] == count_params(raw["kan"]["estimator"][0])
    assert table.loc["kan", "n_flops"] == count_flops(raw["kan"]["estimator"][0], X)
    assert (
        abs(table.loc["mlp", "n_params"] - table.loc["kan", "n_params"])
        <= 0.05 * (table.loc["kan", "n_params"])
    )
    assert table.loc["logreg", "n_params"] == 64 * 10 + 10
    assert table.loc["logreg", "n_flops"] == 2 * 64 * 10 + 10
    assert np.allclose(table.loc["kan", "accuracy_mean"], raw["kan"]["test_score"].mean())
    # The first fit is timed apart; the steady time is over the others.
    assert table.loc["kan", "first_fit_time"] == raw["kan"]["fit_time"][0]
    assert table.loc["kan", "fit_time_mean"] == raw["kan"]["fit_time"][1]
    assert ((table["accuracy_mean"] > 0) & (table["accuracy_mean"] <= 1)).all()
    assert raw["kan"]["n_train"].tolist() == [120, 120]
    err = capsys.readouterr().err
    for text in ("kan (1/3)", "2/2", "mlp (2/3)", "logreg (3/3)", "[compare] logreg: accuracy"):
        assert text in err
    machine = table.attrs["machine"]
    assert machine["thread_cap"] >= 1 and machine["cpu_count"] >= 1
    assert len(machine["load_before"]) == 3


class _ThreadsSeen(ClassifierMixin, BaseEstimator):
    """Records torch's thread count during fit."""

    def fit(self, X, y):
        import torch

        self.threads_ = torch.get_num_threads()
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def test_compare_caps_and_restores_threads(digits):
    import torch

    X, y = digits
    before = torch.get_num_threads()
    table, raw = compare({"t": _ThreadsSeen()}, X, y, cv=2, n_threads=1, return_cv_results=True)
    assert [e.threads_ for e in raw["t"]["estimator"]] == [1, 1]
    assert torch.get_num_threads() == before
    assert table.attrs["machine"]["thread_cap"] == 1
    with pytest.raises(ValueError, match="n_threads"):
        compare({"t": _ThreadsSeen()}, X, y, cv=2, n_threads=0)


def test_compare_default_scoring_follows_the_estimators(digits):
    X, y = make_regression(60, 3, random_state=0)
    from sklearn.linear_model import Ridge

    table = compare({"ridge": Ridge()}, X, y, cv=2)
    assert "r2_mean" in table.columns
    Xd, yd = digits
    with pytest.raises(ValueError, match="mix"):
        compare({"ridge": Ridge(), "logreg": LogisticRegression()}, Xd, yd, cv=2)


def test_paired_tests(digits):
    from sklearn.naive_bayes import GaussianNB

    X, y = digits
    cv = RepeatedStratifiedKFold(n_splits=3, n_repeats=2, random_state=0)
    models = {"logreg": LogisticRegression(max_iter=300), "nb": GaussianNB()}
    table, raw = compare(models, X, y, cv=cv, return_cv_results=True)
    assert len(raw["nb"]["test_score"]) == 6
    (pair,) = paired_tests(raw)
    d = raw["nb"]["test_score"] - raw["logreg"]["test_score"]
    assert pair["mean_diff"] == pytest.approx(d.mean())
    assert pair["ci_low"] < pair["mean_diff"] < pair["ci_high"]
    assert pair["reference"] == "logreg" and pair["n_fits"] == 6
    assert pair["sentence"].startswith("nb is ")
    assert pair["significant"] == (pair["p_value"] < 0.05)
    # The other way round: the same test, mirrored.
    (back,) = paired_tests(raw, reference="nb")
    assert back["mean_diff"] == pytest.approx(-pair["mean_diff"])
    assert back["p_value"] == pytest.approx(pair["p_value"])
    with pytest.raises(ValueError, match="reference"):
        paired_tests(raw, reference="svm")


def test_compare_uses_the_same_folds(digits):
    X, y = digits
    models = {"a": LogisticRegression(max_iter=50), "b": LogisticRegression(max_iter=50)}
    table = compare(models, X, y, cv=3)
    assert table.loc["a", "accuracy_mean"] == table.loc["b", "accuracy_mean"]


def test_compare_several_metrics_and_regression():
    X, y = make_regression(80, 4, random_state=0)
    table = compare(
        {"kan": KANRegressor(hidden_layer_sizes=(3,), max_epochs=1, random_state=0)},
        X,
        y,
        cv=2,
        scoring=["r2", "neg_mean_squared_error"],
    )
    assert {"r2_mean", "r2_std", "neg_mean_squared_error_mean"} <= set(table.columns)


def test_compare_needs_pandas(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        compare({"logreg": LogisticRegression()}, np.zeros((4, 2)), np.arange(4) % 2)


def test_compare_rejects_empty():
    with pytest.raises(ValueError, match="non-empty"):
        compare({}, np.zeros((4, 2)), np.arange(4))


class _FailsOn(ClassifierMixin, BaseEstimator):
    """Logistic regression whose fit fails on training sets of ``n_rows`` rows."""

    def __init__(self, n_rows=-1):
        self.n_rows = n_rows

    def fit(self, X, y):
        if len(X) == self.n_rows:
            raise ValueError("this fold fails")
        self.model_ = LogisticRegression(max_iter=100).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)


def _uneven_splits(n):
    """Three splits; the second trains on 10 rows fewer (which _FailsOn(150) fails on)."""
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    splits = list(folds.split(np.zeros(n), np.arange(n) % 10))
    train, test = splits[1]
    splits[1] = (train[10:], test)
    return splits


# n_jobs=2 starts joblib workers (5-7 s); tests/test_parallel.py covers them by default.
@pytest.mark.parametrize("n_jobs", [None, pytest.param(2, marks=pytest.mark.slow)])
def test_compare_keeps_every_model_when_a_fit_fails(digits, n_jobs):
    from sklearn.exceptions import FitFailedWarning

    X, y = digits
    splits = _uneven_splits(len(y))
    assert len(splits[1][0]) == 150
    models = {"logreg": LogisticRegression(max_iter=100), "flaky": _FailsOn(150)}
    with pytest.warns(FitFailedWarning, match=r"1 of the 3 fits of 'flaky' failed"):
        table, raw = compare(models, X, y, cv=splits, n_jobs=n_jobs, return_cv_results=True)
    assert list(table.index) == ["logreg", "flaky"]
    assert table["n_failed_fits"].tolist() == [0, 1]
    scores = raw["flaky"]["test_score"]
    assert np.isnan(scores[1]) and np.isfinite(scores[[0, 2]]).all()
    assert np.isnan(table.loc["flaky", "accuracy_mean"])  # error_score=np.nan, as scikit-learn
    assert raw["flaky"]["errors"] == [None, "ValueError: this fold fails", None]
    assert raw["flaky"]["estimator"][1] is None
    assert np.isfinite(raw["logreg"]["test_score"]).all()
    # The test pairs the fits that both models finished.
    (pair,) = paired_tests(raw)
    assert pair["n_fits"] == 2 and "2 of the 3 fits" in pair["sentence"]
    d = raw["flaky"]["test_score"] - raw["logreg"]["test_score"]
    assert pair["mean_diff"] == pytest.approx(np.nanmean(d))


def test_compare_honours_error_score(digits):
    from sklearn.exceptions import FitFailedWarning

    X, y = digits
    splits = _uneven_splits(len(y))
    models = {"logreg": LogisticRegression(max_iter=100), "flaky": _FailsOn(150)}
    with pytest.warns(FitFailedWarning, match="set to error_score=0"):
        table, raw = compare(models, X, y, cv=splits, error_score=0, return_cv_results=True)
    assert raw["flaky"]["test_score"][1] == 0
    assert table.loc["flaky", "accuracy_mean"] == pytest.approx(raw["flaky"]["test_score"].mean())
    with pytest.raises(ValueError, match="this fold fails"):
        compare(models, X, y, cv=splits, error_score="raise")
    with pytest.raises(ValueError, match="error_score must be"):
        compare(models, X, y, cv=splits, error_score="zero")
    # A model whose every fit fails is one row of the table; the others are kept.
    with pytest.warns(FitFailedWarning, match="3 of the 3 fits of 'broken' failed"):
        table, raw = compare(
            {"logreg": LogisticRegression(max_iter=100), "broken": _FailsOn(len(splits[0][0]))},
            X,
            y,
            cv=[splits[0]] * 3,
            return_cv_results=True,
        )
    assert table["n_failed_fits"].tolist() == [0, 3]
    assert np.isfinite(table.loc["logreg", "accuracy_mean"])
    (pair,) = paired_tests(raw)
    assert np.isnan(pair["p_value"]) and "cannot be tested" in pair["sentence"]
    # Nothing to keep when every fit of every model fails: scikit-learn's error.
    with pytest.raises(ValueError, match="All the 3 fits failed"):
        compare({"broken": _FailsOn(len(splits[0][0]))}, X, y, cv=[splits[0]] * 3)
