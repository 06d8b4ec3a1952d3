"""Tests of sklearn_kan.model_selection: matched MLPs and cross-validated comparisons."""

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_regression
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler

from sklearn_kan import KANClassifier, KANRegressor, model_selection
from sklearn_kan.model_selection import (
    compare,
    count_params,
    matched_mlp,
    mlp_n_params,
    total_params,
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
def test_matched_mlp_is_within_five_percent(kan, n_features, n_classes, n_hidden_layers):
    mlp = matched_mlp(kan, (50, n_features), n_classes, n_hidden_layers=n_hidden_layers)
    rng = np.random.default_rng(0)
    X = rng.random((40, n_features))
    y = np.arange(40) % n_classes
    fitted_kan = KANClassifier(**{**kan.get_params(), "max_epochs": kan.max_epochs}).fit(X, y)
    target = count_params(fitted_kan)
    head = mlp[-1]
    assert isinstance(head, MLPClassifier)
    assert len(head.hidden_layer_sizes) == n_hidden_layers
    units = 1 if n_classes == 2 else n_classes
    predicted = mlp_n_params(n_features, head.hidden_layer_sizes, units)
    assert abs(predicted - target) <= 0.05 * target
    # ... and the count of the fitted MLP is the one the formula promised.
    assert count_params(mlp.set_params(mlp__max_iter=1).fit(X, y)) == predicted


def test_matched_mlp_width_is_the_rounded_root():
    kan = KANClassifier(hidden_layer_sizes=(10,))
    # [49, 10, 10] with 5 + 3 B-splines and silu per edge: 10*49*9 + 10 + 10*10*9 + 10
    target = 5330
    mlp = matched_mlp(kan, 49, 10)
    assert mlp[-1].hidden_layer_sizes == (round((target - 10) / (49 + 1 + 10)),)


def test_matched_mlp_copies_the_training_budget_and_scaling():
    kan = KANClassifier(lr=3e-3, batch_size=64, max_epochs=7, random_state=4, grid_range=(-2, 2))
    mlp = matched_mlp(kan, (100, 64), 10, alpha=1e-3)
    scaler, head = mlp[-2], mlp[-1]
    assert isinstance(scaler, MinMaxScaler) and scaler.feature_range == (-2.0, 2.0)
    assert head.learning_rate_init == 3e-3
    assert head.batch_size == 64
    assert head.max_iter == 7
    assert head.n_iter_no_change > 7  # trains every epoch, as the KAN does
    assert head.random_state == 4
    assert head.alpha == 1e-3  # keyword arguments win
    assert kan.max_epochs == 7  # the estimator given is left alone
    no_scaling = matched_mlp(KANClassifier(input_scaling=None), 64, 10)
    assert [name for name, _ in no_scaling.steps] == ["mlp"]


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
    matched = matched_mlp(small, X.shape, 10).set_params(mlp__max_iter=2).fit(X, y)
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
    mlp = matched_mlp(pipe, X.shape, 3).set_params(mlp__max_iter=1)
    assert mlp.fit(X, y).predict(X).shape == (30,)


def test_matched_mlp_regressor():
    X, y = make_regression(60, 5, n_targets=2, random_state=0)
    kan = KANRegressor(hidden_layer_sizes=(4,), max_epochs=1)
    mlp = matched_mlp(kan, X.shape, 2)
    fitted = KANRegressor(hidden_layer_sizes=(4,), max_epochs=1).fit(X, y)
    predicted = mlp_n_params(5, mlp[-1].hidden_layer_sizes, 2)
    assert abs(predicted - fitted.n_params_) <= 0.05 * fitted.n_params_
    assert type(mlp[-1]).__name__ == "MLPRegressor"


def test_matched_mlp_hybrid_matches_the_total_count():
    from sklearn_kan import classifier

    if not hasattr(classifier, "HybridKANClassifier"):
        pytest.skip("HybridKANClassifier is not in this version")
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
        ({"X_shape": 49, "n_outputs": 10, "tol": 1e-4}, "within tol"),
        ({"X_shape": 49, "n_outputs": 10, "n_hidden_layers": 0}, "n_hidden_layers"),
        ({"X_shape": 49, "n_outputs": 10, "tol": 2.0}, "tol"),
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
        "fit_time_mean",
        "fit_time_std",
        "score_time_mean",
        "score_time_std",
        "n_params",
    ]
    assert table.loc["kan", "n_params"] == count_params(raw["kan"]["estimator"][0])
    assert (
        abs(table.loc["mlp", "n_params"] - table.loc["kan", "n_params"])
        <= 0.05 * (table.loc["kan", "n_params"])
    )
    assert table.loc["logreg", "n_params"] == 64 * 10 + 10
    assert np.allclose(table.loc["kan", "accuracy_mean"], raw["kan"]["test_score"].mean())
    assert ((table["accuracy_mean"] > 0) & (table["accuracy_mean"] <= 1)).all()
    err = capsys.readouterr().err
    for line in ("kan (1/3): fold 1/2", "kan (1/3): fold 2/2", "mlp (2/3): fold 2/2", "logreg:"):
        assert line in err


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


def test_compare_without_pandas(digits, monkeypatch):
    X, y = digits
    monkeypatch.setattr(model_selection, "_pandas", lambda: None)
    table = compare(
        {
            "logreg": LogisticRegression(max_iter=50),
            "tiny": make_pipeline(MinMaxScaler(), MLPClassifier((3,), max_iter=5)),
        },
        X,
        y,
        cv=2,
    )
    assert isinstance(table, np.ndarray)
    assert table["model"].tolist() == ["logreg", "tiny"]
    assert table["n_params"].tolist() == [650, mlp_n_params(64, (3,), 10)]


def test_compare_rejects_empty():
    with pytest.raises(ValueError, match="non-empty"):
        compare({}, np.zeros((4, 2)), np.arange(4))


def test_total_params_sums_the_steps(digits):
    X, y = digits
    pipe = Pipeline(
        [
            ("scale", MinMaxScaler()),
            ("mlp1", _Transforming((5,))),
            ("kan", KANClassifier(hidden_layer_sizes=(3,), max_epochs=1)),
        ]
    ).fit(X, y)
    assert total_params(pipe) == count_params(pipe["mlp1"]) + count_params(pipe["kan"])
    assert count_params(pipe) == count_params(pipe["kan"])
    with pytest.raises(TypeError):
        total_params(make_pipeline(MinMaxScaler()).fit(X))
    table = compare({"scale": make_pipeline(MinMaxScaler(), _NoParams())}, X, y, cv=2)
    assert table["n_params"].isna().all()


class _NoParams(LogisticRegression):
    """A classifier whose parameters cannot be counted."""

    def fit(self, X, y):
        super().fit(X, y)
        self.weights_ = self.coef_
        del self.coef_
        return self

    def decision_function(self, X):
        return X @ self.weights_.T + self.intercept_


class _Transforming(MLPClassifier):
    """An MLP used as a transformer step (its predicted probabilities)."""

    def __init__(self, hidden_layer_sizes=(5,)):
        super().__init__(hidden_layer_sizes, max_iter=5)

    def transform(self, X):
        return self.predict_proba(X)
