"""Shared estimator machinery (sklearn_kan._base): prediction in fixed chunks, input scaling."""

import numpy as np
import pytest
import torch

from sklearn_kan import HybridKANClassifier, KANClassifier, KANRegressor, _base
from sklearn_kan.nn import compile_info


@pytest.fixture(scope="module")
def wide_classifier():
    # Large enough for two threads and oneDNN's product (>= 2**26 multiply-adds a chunk).
    rng = np.random.RandomState(0)
    X = rng.rand(300, 200)
    y = (X[:, :3].sum(1) > 1.5).astype(int)
    return KANClassifier((150,), max_epochs=1, random_state=0).fit(X, y), rng.rand(300, 200)


def test_a_rows_prediction_does_not_depend_on_its_batch(wide_classifier):
    clf, X = wide_classifier
    full = clf.predict_proba(X)
    for rows in (slice(0, 1), slice(37, 38), slice(5, 260), slice(255, 300)):
        np.testing.assert_array_equal(clf.predict_proba(X[rows]), full[rows])
    perm = np.random.RandomState(1).permutation(len(X))
    np.testing.assert_array_equal(clf.predict_proba(X[perm]), full[perm])


def test_prediction_runs_in_float32_chunks_of_fixed_size(monkeypatch, wide_classifier):
    clf, X = wide_classifier
    expected = clf.predict_proba(X)
    monkeypatch.setattr(_base, "PREDICT_CHUNK", 64)
    seen = []
    hook = clf.module_.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    try:
        got = clf.predict_proba(X)
    finally:
        hook.remove()
    # 300 rows: four full chunks and a padded fifth; nothing in float64.
    assert [tuple(x.shape) for x in seen if x.shape[0] != 2] == [(64, 200)] * 5
    assert all(x.dtype == torch.float32 for x in seen)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_prediction_compiles_nothing():
    rng = np.random.RandomState(0)
    X, y = rng.rand(50, 4), rng.rand(50)
    before = dict(compile_info()["compiled"])
    reg = KANRegressor((3,), max_epochs=1, random_state=0).fit(X, y)
    reg.predict(rng.rand(5000, 4))
    assert compile_info()["compiled"] == before


def test_prediction_on_no_rows_is_a_clear_error(wide_classifier):
    clf, X = wide_classifier
    with pytest.raises(ValueError, match="0 sample"):
        clf.predict(X[:0])


@pytest.mark.parametrize("frontend", ["linear", "conv", "kanconv"])
def test_a_hybrids_prediction_does_not_depend_on_its_batch(frontend):
    from sklearn.datasets import load_digits

    from sklearn_kan import HybridKANClassifier

    X, y = load_digits(return_X_y=True)
    clf = HybridKANClassifier(frontend=frontend, max_epochs=1, random_state=0).fit(X[:300], y[:300])
    full = clf.predict_proba(X[:300])
    for rows in (slice(0, 1), slice(37, 38), slice(5, 260)):
        np.testing.assert_array_equal(clf.predict_proba(X[rows]), full[rows])


# -- input scaling --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["minmax", "standard", None])
def test_fit_scaler_maps_a_constant_column_to_a_fixed_point_and_bounds_the_rest(method):
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.uniform(0, 16, 100), np.zeros(100), np.full(100, 7.0)])
    (shift, scale), (low, high) = _base._fit_scaler(X, method, (-1.0, 1.0))
    if method is not None:
        # Constant columns: every value maps where the training value did (-1 for
        # minmax, the centre for standard), so a value never seen changes nothing.
        np.testing.assert_array_equal(scale[1:], 0.0)
        np.testing.assert_allclose(shift[1:], -1.0 if method == "minmax" else 0.0)
    scaled = X * scale + shift
    # The bounds hold the training data and the grid range, and a tenth of its width more.
    np.testing.assert_allclose(low, np.minimum(scaled.min(0), -1) - 0.2)
    np.testing.assert_allclose(high, np.maximum(scaled.max(0), 1) + 0.2)
    if method == "minmax":
        np.testing.assert_allclose([low[0], high[0]], [-1.2, 1.2])


@pytest.mark.parametrize("method", ["minmax", "standard"])
@pytest.mark.parametrize("size", [1e300, 1e-300])
def test_fit_scaler_neither_overflows_nor_underflows(method, size):
    X = np.linspace(-1, 1, 11)[:, None] * size
    (shift, scale), _ = _base._fit_scaler(X, method, (-1.0, 1.0))
    scaled = X[:, 0] * scale[0] + shift[0]
    expected = np.linspace(-1, 1, 11) if method == "minmax" else np.linspace(-1, 1, 11) / 2 / 0.6325
    np.testing.assert_allclose(scaled, expected, rtol=1e-3, atol=1e-12)


# -- precision --------------------------------------------------------------------------


def test_float64_models_read_their_inputs_in_float64():
    X = 1e8 + np.linspace(0, 100, 2000)[:, None]  # 13 distinct values in float32
    y = np.sin(X[:, 0] - 1e8)
    reg = KANRegressor((4,), max_epochs=1, dtype="float64", random_state=0).fit(X, y)
    seen = reg._validate_X(X, reset=False)
    assert seen.dtype == np.float64 and len(np.unique(seen)) == 2000
    scaled = reg.module_.scale_inputs(torch.as_tensor(seen)).numpy()
    np.testing.assert_allclose(scaled[:, 0], np.linspace(-1, 1, 2000), atol=1e-9)
    # float32 models read float32, and refuse what float32 cannot hold.
    assert (
        KANRegressor((4,), max_epochs=1).fit(X, y)._validate_X(X, reset=False).dtype == np.float32
    )
    huge = np.array([[1e39], [2e39], [3e39]])
    with pytest.raises(ValueError, match="beyond the float32 range"):
        KANRegressor((4,), max_epochs=1).fit(huge, [0.0, 1.0, 2.0])
    big = KANRegressor((4,), max_epochs=1, dtype="float64", random_state=0).fit(
        huge, [0.0, 1.0, 2.0]
    )
    assert np.isfinite(big.predict(huge)).all()


def test_float64_hybrids_read_their_images_in_float64():
    rng = np.random.RandomState(0)
    X = 1e8 + rng.rand(40, 4, 4)
    y = np.arange(40) % 2
    clf = HybridKANClassifier("linear", max_epochs=1, dtype="float64", random_state=0).fit(X, y)
    seen = clf._validate_X(X, reset=False)
    assert seen.dtype == np.float64 and len(np.unique(seen)) == X.size
