"""The baselines (sklearn_kan.baselines): trained by the KANs' loop, with no KAN in them."""

import inspect

import numpy as np
import pytest
import torch
from sklearn.base import is_classifier
from sklearn.datasets import load_digits

from sklearn_kan import HybridKANClassifier, KANClassifier, KANRegressor, _base
from sklearn_kan.baselines import CNNClassifier, TorchMLPClassifier, TorchMLPRegressor
from sklearn_kan.nn import MLP, HybridKAN

BASELINES = [TorchMLPClassifier, TorchMLPRegressor, CNNClassifier]

# What only a KAN has: its parameters (in KANRegressor's signature, not in the
# supervised base's) and its fitted grid.
KAN_ONLY = sorted(
    set(inspect.signature(KANRegressor).parameters)
    - set(_base.BaseSupervised._parameter_constraints)
    - {"hidden_layer_sizes"}
) + ["grid_size_"]


@pytest.fixture(scope="module")
def small():
    X, y = load_digits(return_X_y=True)
    return X[:300], y[:300]


def test_kan_only_names_are_the_kan_parameters():
    assert {"grid_size", "basis", "hidden_norm", "lamb", "grid_schedule"} <= set(KAN_ONLY)
    assert "input_scaling" not in KAN_ONLY and "lr" not in KAN_ONLY


@pytest.mark.parametrize("cls", BASELINES, ids=lambda c: c.__name__)
def test_a_baseline_derives_from_the_supervised_base_not_from_a_kan(cls):
    assert issubclass(cls, _base.BaseSupervised)
    assert not issubclass(cls, (_base.BaseKAN, KANClassifier, KANRegressor, HybridKANClassifier))


@pytest.mark.parametrize("cls", BASELINES, ids=lambda c: c.__name__)
def test_a_baseline_has_no_kan_attribute(cls, small):
    X, y = small
    est = cls(max_epochs=1, random_state=0)
    for name in KAN_ONLY:
        assert not hasattr(cls, name), name
        assert name not in est.get_params()
    est.fit(X, y if is_classifier(est) else y.astype(float))
    for name in KAN_ONLY:
        assert not hasattr(est, name), name


@pytest.mark.parametrize("cls", BASELINES, ids=lambda c: c.__name__)
def test_the_constraints_are_the_signature(cls):
    """Every parameter is constrained, and nothing else is (no filtered stubs)."""
    signature = set(inspect.signature(cls).parameters)
    assert set(cls._parameter_constraints) == signature
    assert set(cls._architecture_params) <= signature


@pytest.mark.parametrize("cls", BASELINES, ids=lambda c: c.__name__)
def test_the_training_parameters_and_defaults_are_the_kans(cls):
    kan = inspect.signature(KANClassifier).parameters
    own = inspect.signature(cls).parameters
    training = set(_base.BaseSupervised._parameter_constraints)
    assert training <= set(own)
    for name in training:
        assert own[name].default == kan[name].default, name


def test_mlp_scales_its_inputs_as_the_kan_does(small):
    X, y = small
    mlp = TorchMLPClassifier((16,), max_epochs=1, random_state=0).fit(X, y)
    kan = KANClassifier((16,), max_epochs=1, random_state=0).fit(X, y)
    assert isinstance(mlp.module_, MLP) and mlp.module_.widths == [64, 16, 10]
    for name in ("shift", "scale", "low", "high"):
        torch.testing.assert_close(getattr(mlp.module_, name), getattr(kan.module_, name))


def test_cnn_reads_and_scales_images_as_the_hybrid_does(small):
    X, y = small
    images = X.reshape(-1, 8, 8) * 3.0  # 0-48 pixels
    cnn = CNNClassifier(conv_channels=(4,), max_epochs=1, random_state=0).fit(images, y)
    hybrid = HybridKANClassifier(conv_channels=(4,), max_epochs=1, random_state=0)
    hybrid.fit(images, y)
    assert isinstance(cnn.module_, HybridKAN)
    assert cnn.image_shape_ == hybrid.image_shape_ == (8, 8, 1)
    for name in ("shift", "scale", "low", "high"):
        torch.testing.assert_close(getattr(cnn.module_, name), getattr(hybrid.module_, name))
    expected = cnn.predict_proba(images)
    np.testing.assert_array_equal(cnn.predict_proba(images.reshape(-1, 64)), expected)
    np.testing.assert_array_equal(cnn.predict_proba(images[..., None]), expected)


def test_cnn_scales_each_channel_over_its_pixels():
    rng = np.random.RandomState(0)
    images = rng.rand(60, 6, 6, 2) * np.array([1.0, 100.0])  # two channels, two ranges
    y = np.arange(60) % 3
    cnn = CNNClassifier(conv_channels=(2,), max_epochs=1, random_state=0).fit(images, y)
    lo, hi = images.reshape(-1, 2).min(0), images.reshape(-1, 2).max(0)
    scaled_lo = lo * cnn.module_.scale.numpy().ravel() + cnn.module_.shift.numpy().ravel()
    scaled_hi = hi * cnn.module_.scale.numpy().ravel() + cnn.module_.shift.numpy().ravel()
    np.testing.assert_allclose(scaled_lo, -1.0, atol=1e-6)
    np.testing.assert_allclose(scaled_hi, 1.0, atol=1e-6)


@pytest.mark.parametrize(
    "make, param, value",
    [
        (lambda: TorchMLPClassifier((8,), max_epochs=1, warm_start=True), "activation", "tanh"),
        (
            lambda: CNNClassifier(conv_channels=(4,), max_epochs=1, warm_start=True),
            "conv_channels",
            (2,),
        ),
    ],
    ids=["mlp", "cnn"],
)
def test_warm_start_refuses_a_changed_architecture(small, make, param, value):
    X, y = small
    est = make().fit(X, y).set_params(**{param: value})
    with pytest.raises(ValueError, match=f"{param} changed from .* warm-started fit"):
        est.fit(X, y)
    est.set_params(**{param: make().get_params()[param]}).fit(X, y)  # set back: continues
    assert len(est.history_) == 2


def test_integer_sample_weight_is_the_same_as_repeating_rows(small):
    # float64, full batch: the weighted loss is then the repeated rows' loss.
    X, y = small
    kw = dict(
        hidden_layer_sizes=(8,), max_epochs=5, batch_size=None, dtype="float64", random_state=0
    )
    w = np.random.RandomState(0).randint(0, 4, size=len(y))
    weighted = TorchMLPClassifier(**kw).fit(X, y, sample_weight=w)
    repeated = TorchMLPClassifier(**kw).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-7)
    plain = TorchMLPClassifier(**kw).fit(X, y)
    assert np.abs(plain.predict_proba(X) - weighted.predict_proba(X)).max() > 1e-3


def test_mlp_regressor_predicts_in_the_targets_units_and_several_at_once():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(300, 2))
    Y = np.c_[1e4 * (X[:, 0] - 2 * X[:, 1]), 5.0 + X[:, 0]]
    reg = TorchMLPRegressor((16,), max_epochs=100, random_state=0).fit(X, Y)
    assert reg.predict(X).shape == (300, 2)
    assert reg.score(X, Y) > 0.9
    assert reg.predict(X)[:, 0].std() > 1e3


def test_a_baseline_trains_with_the_kans_net_and_schedule_but_no_grid_callback(small):
    X, y = small
    kw = dict(max_epochs=2, random_state=0)
    mlp = TorchMLPClassifier((8,), **kw).fit(X, y)
    kan = KANClassifier((8,), grid_update_epochs=(1,), **kw).fit(X, y)
    assert type(mlp.net_) is type(kan.net_)
    names = dict(mlp.net_.callbacks_)
    assert "lr_schedule" in names
    assert "grid_update" not in names and "grid_update" in dict(kan.net_.callbacks_)
    assert mlp.net_.lamb == 0.0
