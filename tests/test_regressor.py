import numpy as np
import pytest
from sklearn.datasets import make_regression

from sklearn_kan import KANRegressor


def test_fits_a_smooth_function():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(400, 2))
    y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2
    # 400 rows are 4 batches an epoch: small data needs more epochs than the default.
    reg = KANRegressor(hidden_layer_sizes=(4,), max_epochs=150, random_state=0).fit(X, y)
    assert reg.score(X, y) > 0.98
    assert reg.predict(X).shape == (400,)


def test_targets_in_original_units_and_multioutput():
    X, y = make_regression(n_samples=300, n_features=4, n_targets=2, noise=1.0, random_state=0)
    y = y * 1000 + 5000
    reg = KANRegressor(hidden_layer_sizes=(8,), max_epochs=60, random_state=0).fit(X, y)
    pred = reg.predict(X)
    assert pred.shape == (300, 2)
    assert reg.score(X, y) > 0.95
    with pytest.raises(ValueError, match="y has 1 targets"):
        reg.partial_fit(X, y[:, 0])


def test_lbfgs_regression():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(200, 1))
    y = np.exp(X[:, 0])
    reg = KANRegressor(
        hidden_layer_sizes=(),
        optimizer="lbfgs",
        lr=1.0,
        batch_size=None,
        max_epochs=10,
        random_state=0,
    ).fit(X, y)
    assert reg.n_params_ == 1 * 9 + 1
    assert reg.score(X, y) > 0.999


def test_nan_target_rejected():
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match="NaN"):
        KANRegressor().fit(X, np.array([1.0, np.nan, 2.0, 3.0, 4.0]))


def test_sample_weight_zero_and_integer_references():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(120, 3))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2]
    kw = dict(hidden_layer_sizes=(4,), batch_size=None, max_epochs=20, lr=0.01, random_state=0)
    w = rng.randint(0, 3, size=len(y))
    weighted = KANRegressor(**kw).fit(X, y, sample_weight=w)
    repeated = KANRegressor(**kw).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    # Zero weights leave rows out of the input and target scaling too.
    np.testing.assert_allclose(weighted._y_mean, repeated._y_mean)
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), atol=1e-5)


def test_r2_epoch_scoring_and_sample_weight_in_partial_fit():
    from skorch.callbacks import EpochScoring

    X, y = make_regression(n_samples=200, n_features=3, noise=0.1, random_state=0)
    reg = KANRegressor(
        hidden_layer_sizes=(4,),
        max_epochs=5,
        callbacks=[EpochScoring("r2", on_train=True, name="train_r2", use_caching=False)],
        random_state=0,
    ).fit(X, y)
    # r2 of the standardised targets is the r2 of the targets.
    assert reg.history_[-1, "train_r2"] == pytest.approx(reg.score(X, y), abs=1e-4)
    reg.partial_fit(X, y, sample_weight=np.ones(len(y)))
    assert len(reg.history_) == 6


def test_float64_fits_features_far_from_zero_as_well_as_near_it():
    # 1e8 + x keeps 13 distinct values of 2000 in float32, all in float64.
    x = np.linspace(0, 100, 2000)[:, None]
    y = np.sin(x[:, 0] / 16)
    params = dict(hidden_layer_sizes=(8,), max_epochs=20, dtype="float64", random_state=0)
    near = KANRegressor(**params).fit(x, y).score(x, y)
    far = KANRegressor(**params).fit(x + 1e8, y).score(x + 1e8, y)
    assert near > 0.99
    assert abs(far - near) < 1e-6


@pytest.mark.parametrize("size", [1e160, 1e-200])
def test_targets_of_any_magnitude_fit_as_their_standardised_values_do(size):
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(200, 2))
    y = np.sin(3 * X[:, 0]) + X[:, 1]
    params = dict(hidden_layer_sizes=(4,), max_epochs=10, random_state=0)
    unit = KANRegressor(**params).fit(X, y)
    scaled = KANRegressor(**params).fit(X, y * size)
    prediction = scaled.predict(X)
    assert np.isfinite(prediction).all()
    # (scikit-learn's r2_score itself overflows at 1e160: compare in unit scale.)
    np.testing.assert_allclose(prediction / size, unit.predict(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("value", [1e-200, -3e150])
def test_a_constant_target_is_predicted_in_its_own_magnitude(value):
    # The network learns the standardised target, 0 here, only approximately (its
    # residual, in units of the target's scale, shrinks with training); the scale
    # of a constant target is its magnitude, so the residual is relative to it.
    X = np.random.RandomState(0).uniform(-1, 1, size=(100, 2))
    reg = KANRegressor(hidden_layer_sizes=(4,), max_epochs=100, random_state=0)
    prediction = reg.fit(X, np.full(100, value)).predict(X)
    np.testing.assert_allclose(prediction, value, rtol=0.1)
