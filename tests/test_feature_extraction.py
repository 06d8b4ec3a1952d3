"""Tests of the learned feature extractors, ConvFeatures and VAEFeatures."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from sklearn_kan import KANClassifier
from sklearn_kan.feature_extraction import ConvFeatures, VAEFeatures

# Small networks and few epochs wherever only shapes and plumbing are tested.
SMALL = {
    ConvFeatures: {"n_components": 4, "channels": (4,), "max_epochs": 2},
    VAEFeatures: {"n_components": 3, "hidden": (8,), "max_epochs": 2},
}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    # These tiny networks gain nothing from a second thread, and on a busy 2-core
    # machine two threads per process oversubscribe the cores and run 10x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, random_state=0)


def small(cls, **kwargs):
    return cls(**{**SMALL[cls], "random_state": 0, **kwargs})


# -- shapes, layouts, names -----------------------------------------------------


@pytest.mark.parametrize("cls", [ConvFeatures, VAEFeatures])
def test_transform_shape_dtype_and_names(cls, digits):
    X_train, X_test, y_train, _ = digits
    est = small(cls).fit(X_train[:200], y_train[:200])
    Z = est.transform(X_test[:30])
    assert Z.shape == (30, est.n_components)
    assert Z.dtype == np.float64
    assert np.isfinite(Z).all()
    prefix = cls.__name__.lower()
    assert est.get_feature_names_out().tolist() == [f"{prefix}{i}" for i in range(Z.shape[1])]
    assert est.image_shape_ == (8, 8, 1)
    assert est.n_params_ > 0


@pytest.mark.parametrize("cls", [ConvFeatures, VAEFeatures])
def test_flat_and_image_layouts_give_the_same_features(cls, digits):
    X_train = digits[0][:100]
    images = X_train.reshape(-1, 8, 8)
    flat = small(cls).fit(X_train)
    for X in (images, images[..., np.newaxis]):
        est = small(cls).fit(X)
        assert est.n_features_in_ == 64
        assert est.image_shape_ == (8, 8, 1)
        np.testing.assert_allclose(est.transform(X), flat.transform(X_train), atol=1e-12)
        # a fitted estimator takes any layout of the same images
        np.testing.assert_allclose(est.transform(X_train), flat.transform(images), atol=1e-12)


@pytest.mark.parametrize("cls", [ConvFeatures, VAEFeatures])
def test_image_shape_reads_flat_colour_rows(cls):
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(20, 2 * 3 * 3))
    est = small(cls, image_shape=(2, 3, 3)).fit(X)
    assert est.image_shape_ == (2, 3, 3)
    assert est.transform(X.reshape(20, 2, 3, 3)).shape == (20, est.n_components)


@pytest.mark.parametrize("n_features", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("supervised", [True, False])
def test_tiny_and_non_square_inputs(n_features, supervised):
    # Tabular data: a non-square row is a 1 x n image, and a 1 x 1 or 2 x 2 image
    # must go through the pooling and (for the autoencoder) the mirrored decoder.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(12, n_features))
    y = np.arange(12) % 3 if supervised else None
    est = small(ConvFeatures).fit(X, y)
    side = int(np.sqrt(n_features))
    expected = (side, side, 1) if side * side == n_features else (1, n_features, 1)
    assert est.image_shape_ == expected
    assert est.transform(X).shape == (12, 4)


def test_feature_names_in_and_set_output(digits):
    X = pd.DataFrame(digits[0][:100], columns=[f"p{i}" for i in range(64)])
    est = small(ConvFeatures).set_output(transform="pandas").fit(X)
    assert est.feature_names_in_.tolist() == X.columns.tolist()
    out = est.transform(X)
    assert isinstance(out, pd.DataFrame)
    assert out.columns.tolist() == [
        "convfeatures0",
        "convfeatures1",
        "convfeatures2",
        "convfeatures3",
    ]


# -- training modes -------------------------------------------------------------


def test_conv_objective_follows_y(digits):
    X, y = digits[0][:150], digits[2][:150]
    assert small(ConvFeatures).fit(X, y).objective_ == "classification"
    assert small(ConvFeatures).fit(X).objective_ == "autoencoder"
    assert small(ConvFeatures).fit(X, None).objective_ == "autoencoder"
    assert small(ConvFeatures).fit(X, X[:, 20] + 0.5).objective_ == "regression"
    assert small(ConvFeatures).fit(X, X[:, [20, 30]] * 0.1).objective_ == "regression"
    np.testing.assert_array_equal(small(ConvFeatures).fit(X, y).classes_, np.arange(10))


def test_autoencoder_loss_decreases(digits):
    est = ConvFeatures(max_epochs=5, random_state=0).fit(digits[0][:300])
    loss = est.history_[:, "train_loss"]
    assert loss[-1] < loss[0]


def test_vae_ignores_y(digits):
    X, y = digits[0][:100], digits[2][:100]
    np.testing.assert_array_equal(
        small(VAEFeatures).fit(X, y).transform(X), small(VAEFeatures).fit(X).transform(X)
    )


# -- determinism --------------------------------------------------------------


@pytest.mark.parametrize("cls", [ConvFeatures, VAEFeatures])
def test_reproducible_and_global_rngs_untouched(cls, digits):
    X, y = digits[0][:150], digits[2][:150]
    np.random.seed(123)
    torch.manual_seed(123)
    numpy_state, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state()
    est = small(cls)
    first = est.fit(X, y).transform(X)
    second = clone(est).fit(X, y).transform(X)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)
    assert torch.equal(torch.get_rng_state(), torch_state)
    other = small(cls, random_state=1).fit(X, y).transform(X)
    assert not np.allclose(first, other)


@pytest.mark.parametrize("cls", [ConvFeatures, VAEFeatures])
def test_transform_does_not_depend_on_the_batch(cls, digits):
    X = digits[0][:1100]  # more than one internal batch of 1024
    est = small(cls).fit(X[:100])
    full = est.transform(X)
    np.testing.assert_allclose(est.transform(X[1050:1060]), full[1050:1060], rtol=0, atol=1e-12)
    np.testing.assert_allclose(est.transform(X[:1]), full[:1], rtol=0, atol=1e-12)


# -- what the features are worth ------------------------------------------------


def test_supervised_conv_features_separate_digit_classes(digits):
    X_train, X_test, y_train, y_test = digits
    conv = ConvFeatures(random_state=0).fit(X_train, y_train)
    clf = LogisticRegression(max_iter=2000).fit(conv.transform(X_train), y_train)
    assert clf.score(conv.transform(X_test), y_test) > 0.9


def test_vae_reconstructs_better_than_the_mean_image(digits):
    X_train, X_test, _, _ = digits
    vae = VAEFeatures(random_state=0).fit(X_train)
    X_back = vae.inverse_transform(vae.transform(X_test))
    assert X_back.shape == X_test.shape
    # in the input's pixel scale (digits are 0..16)
    assert X_back.min() >= 0 and X_back.max() <= 16 and X_back.max() > 8
    error = np.mean((X_back - X_test) ** 2)
    baseline = np.mean((X_train.mean(axis=0) - X_test) ** 2)
    assert error < 0.8 * baseline


@pytest.mark.parametrize(
    "features, min_score",
    [(VAEFeatures(16, random_state=0), 0.85), (ConvFeatures(random_state=0), 0.9)],
    ids=["vae", "conv"],
)
def test_features_then_kan_pipeline(features, min_score, digits):
    X_train, X_test, y_train, y_test = digits
    model = Pipeline([("features", features), ("kan", KANClassifier(random_state=0))])
    assert model.fit(X_train, y_train).score(X_test, y_test) > min_score


# -- errors -------------------------------------------------------------------


@pytest.mark.parametrize("cls", [ConvFeatures, VAEFeatures])
def test_wrong_image_size_at_transform(cls, digits):
    est = small(cls).fit(digits[0][:50])
    with pytest.raises(ValueError, match=f"X has 16 features, but {cls.__name__} is expecting 64"):
        est.transform(np.zeros((3, 16)))
    with pytest.raises(
        ValueError, match=r"shape \(4, 16, 1\).*expecting images of shape \(8, 8, 1\)"
    ):
        est.transform(np.zeros((3, 4, 16)))


def test_inverse_transform_checks_the_latent_width(digits):
    vae = small(VAEFeatures).fit(digits[0][:50])
    with pytest.raises(ValueError, match="X has 5 features, but .* expecting 3 latent"):
        vae.inverse_transform(np.zeros((2, 5)))


def test_bad_targets_and_parameters(digits):
    X = digits[0][:20]
    with pytest.raises(ValueError, match="at least 2 classes"):
        small(ConvFeatures).fit(X, np.zeros(20, dtype=int))
    with pytest.raises(ValueError, match="multilabel-indicator"):
        small(ConvFeatures).fit(X, np.eye(2, dtype=int)[np.arange(20) % 2])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        small(ConvFeatures).fit(X, np.arange(19) % 2)
    with pytest.raises(ValueError, match="channels must be positive integers"):
        small(ConvFeatures, channels=(4, 0)).fit(X)
    with pytest.raises(ValueError, match="hidden must be positive integers"):
        small(VAEFeatures, hidden=()).fit(X)
    with pytest.raises(ValueError, match="image_shape"):
        small(VAEFeatures, image_shape=(3, 5)).fit(X)


@pytest.mark.parametrize("cls", [ConvFeatures, VAEFeatures])
def test_pixels_beyond_the_training_range_are_clipped_to_it(cls, digits):
    X_train, X_test, y_train, _ = digits
    est = small(cls).fit(X_train[:200], y_train[:200])
    brightest = np.full_like(X_test[:10], X_train[:200].max())
    far = np.full_like(X_test[:10], 255.0)  # a 0-255 image into a model of 0-16 images
    np.testing.assert_array_equal(est.transform(far), est.transform(brightest))
    far[:, :5] = -1e9
    darkest = brightest.copy()
    darkest[:, :5] = X_train[:200].min()
    np.testing.assert_array_equal(est.transform(far), est.transform(darkest))


@pytest.mark.parametrize("cls", [ConvFeatures, VAEFeatures])
def test_divergence_is_an_error(cls, digits):
    X, y = digits[0][:100], digits[2][:100]
    est = cls(max_epochs=3, lr=1e10, random_state=0)
    with pytest.raises(FloatingPointError, match="diverged: the training loss became nan"):
        est.fit(X, y)
    # The shared guard of the KAN estimators: a failed fit leaves the estimator unfitted.
    with pytest.raises(NotFittedError):
        est.transform(X)


@pytest.mark.parametrize("cls", [ConvFeatures, VAEFeatures])
def test_pickle_round_trip(cls, digits):
    X, y = digits[0][:100], digits[2][:100]
    est = small(cls).fit(X, y)
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    # the module is stored once, inside the skorch net, and found there again
    assert any(m is loaded.module_ for m in loaded.net_.module_.modules())
    assert loaded.n_params_ == est.n_params_
