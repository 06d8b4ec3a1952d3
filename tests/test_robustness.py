"""Bad input, persistence, out-of-range inputs and a fuzz test of the public estimators."""

import os
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError

from sklearn_kan import HybridKANClassifier, KANClassifier, KANRegressor
from sklearn_kan.baselines import CNNClassifier, TorchMLPClassifier
from sklearn_kan.preprocessing import Downsample, Flatten

FAST = dict(hidden_layer_sizes=(8,), max_epochs=2, random_state=0)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300], y[:300]


@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    return {
        "classifier": KANClassifier(**FAST).fit(X, y),
        "regressor": KANRegressor(**FAST).fit(X, y.astype(float)),
        "downsample": Downsample(4).fit(X),
        "flatten": Flatten().fit(X),
    }


# -- bad input: one test each, raised before any training ----------------------


@pytest.mark.parametrize("Est", [KANClassifier, KANRegressor])
@pytest.mark.parametrize(
    "bad, match",
    [
        (np.nan, "Input X contains NaN"),
        (np.inf, "Input X contains infinity"),
    ],
)
def test_nan_or_inf_in_X(digits, Est, bad, match):
    X, y = digits
    X = X.copy()
    X[3, 5] = bad
    est = Est(**FAST)
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)
    assert not hasattr(est, "net_")


def test_empty_X():
    with pytest.raises(ValueError, match="0 sample"):
        KANClassifier(**FAST).fit(np.empty((0, 4)), np.empty(0))


def test_string_or_object_X(digits):
    _, y = digits
    X = np.array([["a", "b"]] * len(y), dtype=object)
    with pytest.raises(ValueError, match="could not convert string to float"):
        KANClassifier(**FAST).fit(X, y)


def test_wrong_number_of_features_at_predict(fitted, digits):
    X, _ = digits
    with pytest.raises(ValueError, match="X has 63 features, but KANClassifier is expecting 64"):
        fitted["classifier"].predict(X[:, :63])


def test_one_dimensional_X(digits):
    X, y = digits
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        KANClassifier(**FAST).fit(X[:, 0], y)


def test_images_of_the_wrong_size_for_a_fitted_downsample(fitted):
    with pytest.raises(ValueError, match="X has 100 features, but Downsample is expecting 64"):
        fitted["downsample"].transform(np.zeros((2, 100)))
    with pytest.raises(ValueError, match="images of shape"):
        fitted["downsample"].transform(np.zeros((2, 4, 16)))


def test_y_with_one_class(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="only one class"):
        KANClassifier(**FAST).fit(X, np.ones(len(X)))


@pytest.mark.parametrize("Est", [KANClassifier, KANRegressor])
def test_y_with_nan(digits, Est):
    X, y = digits
    y = y.astype(float)
    y[4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Est(**FAST).fit(X, y)


@pytest.mark.parametrize("Est", [KANClassifier, KANRegressor])
def test_y_of_a_different_length(digits, Est):
    X, y = digits
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[300, 299\]"):
        Est(**FAST).fit(X, y[:-1])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"hidden_layer_sizes": (-3,)}, "hidden_layer_sizes"),
        ({"hidden_layer_sizes": (True,)}, "hidden_layer_sizes must be positive integers"),
        ({"hidden_layer_sizes": True}, "hidden_layer_sizes must be positive integers"),
        ({"grid_size": 0}, "grid_size"),
        ({"grid_size": 2.5}, "grid_size"),
        # One function per edge: the Gaussians' width and the Fourier period are 0/0.
        ({"basis": "rbf", "grid_size": 1, "spline_order": 0}, "needs at least 2 functions"),
        ({"basis": "fourier", "grid_size": 1, "spline_order": 0}, "needs at least 2 functions"),
        ({"grid_range": (-np.inf, 1.0)}, "grid_range must be finite"),
        ({"grid_range": (0.0, np.nan)}, "grid_range must be finite"),
        ({"spline_order": -1}, "spline_order"),
        ({"basis": "wavelet"}, "basis"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"validation_fraction": 1.5}, "validation_fraction"),
    ],
)
def test_invalid_hyperparameters(digits, params, match):
    X, y = digits
    est = KANClassifier(**params)
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)
    assert not hasattr(est, "net_")


# -- persistence ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["classifier", "regressor", "downsample", "flatten"])
def test_pickle_and_joblib_round_trips(fitted, digits, tmp_path, name):
    X, _ = digits
    est = fitted[name]
    method = (
        "predict_proba"
        if name == "classifier"
        else ("predict" if name == "regressor" else "transform")
    )
    expected = getattr(est, method)(X)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(getattr(back, method)(X), expected)
    joblib.dump(est, tmp_path / "model.joblib")
    back = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(getattr(back, method)(X), expected)


def test_unpickled_model_keeps_training(fitted, digits):
    X, y = digits
    back = pickle.loads(pickle.dumps(fitted["classifier"]))
    back.partial_fit(X, y)
    assert len(back.history_) == len(fitted["classifier"].history_) + 1
    assert back.module_ is back.net_.module_


# -- out of range and divergence ---------------------------------------------------


@pytest.mark.parametrize("name", ["classifier", "regressor"])
def test_far_out_of_range_inputs_give_finite_outputs(fitted, digits, name):
    X, _ = digits
    est = fitted[name]
    for scale in (-1e9, 1e9):
        out = est.predict_proba(X * scale) if name == "classifier" else est.predict(X * scale)
        assert np.isfinite(out).all()


def _light_unseen_pixels(X_train, X, value):
    """``X`` with the pixels that are blank in every training image set to ``value``."""
    X = X.copy()
    X[:, X_train.max(0) == X_train.min(0)] = value
    return X


@pytest.mark.parametrize(
    "make",
    [
        lambda: KANClassifier(**FAST),
        lambda: KANRegressor(**FAST),
        lambda: TorchMLPClassifier(hidden_layer_sizes=(8,), max_epochs=2, random_state=0),
    ],
    ids=["KANClassifier", "KANRegressor", "TorchMLPClassifier"],
)
def test_a_pixel_blank_in_training_changes_nothing_when_lit(digits, make):
    X, y = digits
    assert (X.max(0) == X.min(0)).sum() >= 3  # digits has always-blank pixels
    est = make().fit(X, y)
    method = est.predict_proba if hasattr(est, "predict_proba") else est.predict
    expected = method(X)
    for value in (16.0, 255.0, 1e9):
        np.testing.assert_array_equal(method(_light_unseen_pixels(X, X, value)), expected)


@pytest.mark.parametrize(
    "make",
    [
        lambda: KANClassifier(**FAST),
        lambda: KANClassifier(**FAST, input_scaling="standard"),
        lambda: KANClassifier(**FAST, input_scaling=None),
        lambda: KANRegressor(**FAST),
        lambda: HybridKANClassifier(frontend="kanconv", conv_channels=(4,), **FAST),
        lambda: CNNClassifier(conv_channels=(4,), max_epochs=2, random_state=0),
    ],
    ids=["minmax", "standard", "unscaled", "KANRegressor", "HybridKANClassifier", "CNN"],
)
def test_values_far_beyond_the_training_range_are_clipped_near_it(digits, make):
    X, y = digits
    est = make().fit(X, y)
    method = est.predict_proba if hasattr(est, "predict_proba") else est.predict
    # Every input is clipped a little beyond the training range (and the grid range):
    # 1e4 and 1e9 both reach the network as that bound, so they predict alike.
    rows = X[:20].copy()
    rows[:, 30:34] = 1e4
    far = rows.copy()
    far[:, 30:34] = 1e9
    np.testing.assert_allclose(method(far), method(rows), rtol=1e-6, atol=1e-6)


def _mnist_home():
    """The shared copy of MNIST ($SKLEARN_KAN_DATA or ../shared/data), or None."""
    for folder in (os.environ.get("SKLEARN_KAN_DATA"), Path(__file__).parents[2] / "shared/data"):
        files = ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz")
        if folder and all((Path(folder) / "mnist" / f).is_file() for f in files):
            return str(folder)
    return None


@pytest.mark.slow
@pytest.mark.skipif(_mnist_home() is None, reason="no MNIST in $SKLEARN_KAN_DATA or ../shared/data")
def test_mnist_pixel_blank_in_training_lit_at_255_changes_no_prediction():
    from sklearn_kan.datasets import fetch_mnist

    home = _mnist_home()
    X, y = fetch_mnist(data_home=home, download_if_missing=False, return_X_y=True)
    X_test, _ = fetch_mnist(
        data_home=home, subset="test", download_if_missing=False, return_X_y=True
    )
    X, y, X_test = X[:8000].reshape(8000, -1), y[:8000], X_test[:2000].reshape(2000, -1)
    clf = KANClassifier(random_state=0).fit(X, y)  # the defaults: 30 epochs, (64,)
    expected = clf.predict(X_test)
    blank = np.flatnonzero(X.max(0) == 0)
    assert len(blank) > 100
    lit = X_test.copy()
    lit[:, blank[len(blank) // 2]] = 255  # mapped to 509 on a grid of [-1, 1], were it not fixed
    np.testing.assert_array_equal(clf.predict(lit), expected)


def test_the_exported_model_clips_as_the_estimator_does(digits):
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    from sklearn_kan.export import to_onnx

    X, y = digits
    clf = KANClassifier(**FAST).fit(X, y)
    lit = _light_unseen_pixels(X, X, 255.0)
    lit[:, 30] = 1e6
    session = ort.InferenceSession(
        to_onnx(clf, X[:3]).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    labels, proba = session.run(None, {"X": lit.astype(np.float32)})
    np.testing.assert_allclose(proba, clf.predict_proba(lit), atol=1e-5)
    np.testing.assert_array_equal(labels, clf.predict(lit))


@pytest.mark.parametrize("Est", [KANClassifier, KANRegressor])
def test_a_diverged_fit_leaves_the_estimator_unfitted(digits, Est):
    X, y = digits
    est = Est(optimizer="sgd", lr=1e30, max_epochs=3, random_state=0)
    with pytest.raises(FloatingPointError, match="diverged.*It is left unfitted"):
        est.fit(X * 1e3, y)
    assert not [name for name in vars(est) if name.endswith("_")]
    with pytest.raises(NotFittedError):
        est.predict(X)
    est.set_params(lr=1e-3, optimizer="adam").fit(X, y)  # and it fits again
    assert np.isfinite(est.predict(X)).all()


def test_a_diverged_warm_start_keeps_the_last_finite_model(digits):
    X, y = digits
    reg = KANRegressor(**FAST).fit(X, y.astype(float))
    reg.set_params(warm_start=True, optimizer="sgd", lr=1e30)
    with pytest.raises(FloatingPointError, match="keeps the parameters it had at the start"):
        reg.fit(X * 1e3, y.astype(float))
    assert np.isfinite(reg.predict(X)).all()


def test_a_continued_fit_that_predicts_nan_is_left_unfitted(digits):
    X, y = digits
    clf = KANClassifier(**FAST).fit(X, y)
    with torch.no_grad():
        clf.module_.kan.layers[0].weight[0, 0, 0] = float("nan")  # a corrupted model
    with pytest.raises(FloatingPointError, match="do not predict finite values either"):
        clf.partial_fit(X, y)
    with pytest.raises(NotFittedError):
        clf.predict(X)  # rather than NaN scores, i.e. class 0 for every row


# -- fuzz ------------------------------------------------------------------------

_ALLOWED = (ValueError, TypeError)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    X=arrays(
        np.float64,
        st.tuples(st.integers(1, 12), st.integers(1, 20)),
        elements=st.floats(-1e6, 1e6, width=32) | st.sampled_from([np.nan, np.inf, -np.inf]),
    ),
    n_classes=st.integers(1, 3),
)
def test_fuzz_estimators(X, n_classes):
    y = np.arange(len(X)) % n_classes
    for est in (
        KANClassifier(hidden_layer_sizes=(3,), max_epochs=1, random_state=0),
        KANRegressor(hidden_layer_sizes=(3,), max_epochs=1, random_state=0),
    ):
        try:
            est.fit(X, y)
        except _ALLOWED:
            continue
        out = est.predict(X)
        assert out.shape[0] == len(X)
        assert np.isfinite(out).all()


@settings(max_examples=60, deadline=None)
@given(
    X=arrays(
        np.float64,
        st.tuples(st.integers(1, 4), st.sampled_from([1, 4, 9, 16, 17, 36, 64])),
        elements=st.floats(-1e3, 1e3, width=32) | st.just(np.nan),
    ),
    size=st.integers(-1, 8),
)
def test_fuzz_transformers(X, size):
    for tr in (Flatten(), Downsample(size)):
        try:
            out = clone(tr).fit_transform(X)
        except _ALLOWED:
            continue
        assert out.shape[0] == len(X)
        assert np.isfinite(out).all()
