"""HybridKANClassifier: images in every layout, front ends, shapes, errors, devices."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_kan import HybridKANClassifier, KANClassifier
from sklearn_kan.nn import FRONTENDS, HybridKAN

# Small networks; batches of 32 give a few hundred steps on 600 digits.
SMALL = {
    "frontend_features": 16,
    "conv_channels": (4, 8),
    "hidden_layer_sizes": (16,),
    "batch_size": 32,
}


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.images[:600], d.target[:600], d.images[600:900], d.target[600:900]


@pytest.fixture(scope="module")
def fitted(digits):
    X, y, _, _ = digits
    return HybridKANClassifier(max_epochs=8, random_state=0, **SMALL).fit(X, y)


def test_learns_digits_from_raw_images(fitted, digits):
    _, _, X_test, y_test = digits
    assert fitted.image_shape_ == (8, 8, 1)
    assert fitted.n_features_in_ == 64
    assert isinstance(fitted.module_, HybridKAN)
    assert fitted.module_.image_shape == (1, 8, 8)
    # The 0-16 pixels were mapped onto the grid range by the fitted scaling.
    torch.testing.assert_close(fitted.module_.scale.flatten(), torch.tensor([2 / 16]))
    assert fitted.score(X_test, y_test) > 0.85  # 600 training digits: it overfits a little
    assert fitted.predict_proba(X_test).shape == (300, 10)


def test_flat_rows_3d_and_4d_inputs_agree(fitted, digits):
    _, _, X_test, _ = digits
    proba = fitted.predict_proba(X_test)
    np.testing.assert_allclose(fitted.predict_proba(X_test.reshape(-1, 64)), proba)
    np.testing.assert_allclose(fitted.predict_proba(X_test[..., None]), proba)


@pytest.mark.parametrize("frontend", sorted(FRONTENDS))
def test_every_frontend_trains(frontend, digits):
    X, y, X_test, y_test = digits
    clf = HybridKANClassifier(frontend, max_epochs=3, random_state=0, **SMALL)
    clf.fit(X.reshape(-1, 64), y)
    assert clf.score(X_test, y_test) > 0.5
    assert clf.n_params_ == sum(p.numel() for p in clf.module_.parameters())


def test_image_shape_is_channels_last():
    rng = np.random.RandomState(0)
    images = rng.uniform(0, 255, size=(40, 5, 6, 3))
    y = np.arange(40) % 2
    flat = images.reshape(40, -1)  # row-major, a channel varies fastest
    clf = HybridKANClassifier(image_shape=(5, 6, 3), max_epochs=1, random_state=0, **SMALL)
    clf.fit(flat, y)
    assert clf.image_shape_ == (5, 6, 3) and clf.module_.image_shape == (3, 5, 6)
    np.testing.assert_allclose(clf.predict_proba(images), clf.predict_proba(flat))
    # Each channel has its own scaling, from its own pixels.
    expected = 2 / (images.max(axis=(0, 1, 2)) - images.min(axis=(0, 1, 2)))
    np.testing.assert_allclose(clf.module_.scale.flatten().numpy(), expected, rtol=1e-6)
    # 4-D input with the same layout fits the same network.
    other = HybridKANClassifier(max_epochs=1, random_state=0, **SMALL).fit(images, y)
    np.testing.assert_allclose(other.predict_proba(flat), clf.predict_proba(flat), rtol=1e-5)


def test_non_square_rows():
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(30, 24)), np.arange(30) % 3
    given = HybridKANClassifier(image_shape=(4, -1), max_epochs=1, **SMALL).fit(X, y)
    assert given.image_shape_ == (4, 6, 1)
    # Without image_shape, a non-square row is a 1 x n image (tabular data works).
    default = HybridKANClassifier(max_epochs=1, **SMALL).fit(X, y)
    assert default.image_shape_ == (1, 24, 1)
    assert default.predict(X).shape == (30,)


def test_wrong_image_size_at_predict(fitted):
    with pytest.raises(
        ValueError, match="X has 49 features, but HybridKANClassifier is expecting 64"
    ):
        fitted.predict(np.zeros((2, 7, 7)))
    with pytest.raises(
        ValueError, match="X has 49 features, but HybridKANClassifier is expecting 64"
    ):
        fitted.predict(np.zeros((2, 49)))
    with pytest.raises(ValueError, match=r"expecting images of shape \(8, 8, 1\)"):
        fitted.predict(np.zeros((2, 4, 16)))
    with pytest.raises(ValueError, match="X has 5 dimensions"):
        fitted.predict(np.zeros((2, 8, 8, 1, 1)))


def test_bad_shapes_and_parameters_at_fit():
    X, y = np.zeros((4, 8, 8)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"image_shape=\(4, 16\) was given"):
        HybridKANClassifier(image_shape=(4, 16)).fit(X, y)
    with pytest.raises(ValueError, match="needs 60 features"):
        HybridKANClassifier(image_shape=(6, 10)).fit(X.reshape(4, -1), y)
    with pytest.raises(ValueError, match="image_shape must be"):
        HybridKANClassifier(image_shape=(0, 8)).fit(X, y)
    with pytest.raises(InvalidParameterError, match="frontend"):
        HybridKANClassifier("nope").fit(X, y)
    with pytest.raises(ValueError, match="conv_channels must be a sequence of positive"):
        HybridKANClassifier(conv_channels=(4, 0)).fit(X, y)


def test_parameters_are_kanclassifiers_plus_the_frontend_ones():
    params = set(HybridKANClassifier().get_params())
    extra = {"frontend", "image_shape", "frontend_features", "conv_channels"}
    assert params == set(KANClassifier().get_params()) | extra
    clf = clone(HybridKANClassifier("local", conv_channels=(3,), lr=0.1))
    assert clf.frontend == "local" and clf.conv_channels == (3,) and clf.lr == 0.1


def test_raw_and_rescaled_pixels_give_the_same_network(digits):
    X, y, X_test, _ = digits
    a = HybridKANClassifier("linear", max_epochs=2, random_state=0, **SMALL).fit(X, y)
    b = HybridKANClassifier("linear", max_epochs=2, random_state=0, **SMALL).fit(X / 16, y)
    np.testing.assert_allclose(
        a.predict_proba(X_test), b.predict_proba(X_test / 16), rtol=1e-3, atol=1e-4
    )


def test_kan_training_options_reach_the_frontend(digits):
    X, y, _, _ = digits
    clf = HybridKANClassifier(
        "kanconv",
        grid_size=3,
        grid_update_epochs=(1,),
        grid_schedule=(5,),
        lamb=1e-3,
        max_epochs=2,
        random_state=0,
        **SMALL,
    ).fit(X[:200], y[:200])
    grids = [m.grid_size for m in clf.module_.modules() if hasattr(m, "grid_size")]
    assert grids == [5] * 4
    assert np.isfinite(clf.history_[:, "train_loss"]).all()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("frontend", sorted(FRONTENDS))
def test_cuda(frontend, digits):
    X, y, X_test, y_test = digits
    clf = HybridKANClassifier(
        frontend, device="cuda", max_epochs=3, grid_update_epochs=(1,), lamb=1e-4, **SMALL
    ).fit(X, y)
    assert next(clf.module_.parameters()).is_cuda
    assert clf.score(X_test, y_test) > 0.5


def test_one_image_to_predict_says_it_needs_a_batch(fitted, digits):
    _, _, X_test, _ = digits
    with pytest.raises(ValueError, match=r"shape \(8, 8\) of one image.*X\[np.newaxis\]"):
        fitted.predict(X_test[0])
    assert fitted.predict(X_test[0][np.newaxis]).shape == (1,)


def test_warm_start_refuses_a_changed_front_end(digits):
    X, y, _, _ = digits
    clf = HybridKANClassifier(max_epochs=1, warm_start=True, random_state=0, **SMALL).fit(X, y)
    clf.set_params(conv_channels=(4,))
    with pytest.raises(ValueError, match="conv_channels changed from"):
        clf.fit(X, y)


def test_sample_and_class_weights(digits):
    X, y, _, _ = digits
    kw = dict(max_epochs=2, random_state=0, **{**SMALL, "batch_size": None})
    w = np.ones(len(y))
    w[::4] = 0
    weighted = HybridKANClassifier(**kw).fit(X, y, sample_weight=w)
    dropped = HybridKANClassifier(**kw).fit(X[w > 0], y[w > 0])
    np.testing.assert_allclose(weighted.predict_proba(X), dropped.predict_proba(X), atol=1e-5)
    as_dict = HybridKANClassifier(class_weight={3: 4.0}, **kw).fit(X, y)
    as_weights = HybridKANClassifier(**kw).fit(X, y, sample_weight=np.where(y == 3, 4.0, 1.0))
    np.testing.assert_allclose(as_dict.predict_proba(X), as_weights.predict_proba(X))
