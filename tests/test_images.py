"""Tests for sklearn_kan._images: the package's one rule for reading images."""

import numpy as np
import pytest
import torch

from sklearn_kan import HybridKANClassifier
from sklearn_kan._images import as_images, flat_image_shape
from sklearn_kan.feature_extraction import ConvFeatures, VAEFeatures
from sklearn_kan.preprocessing import Downsample, Flatten


def test_as_images():
    X = np.arange(2 * 36, dtype=float).reshape(2, 36)
    images = as_images(X)
    assert images.shape == (2, 6, 6, 1)
    assert np.shares_memory(images, X)
    assert as_images(X, (3, 4, 3)).shape == (2, 3, 4, 3)
    assert as_images(X, (2, -1, 3)).shape == (2, 2, 6, 3)
    assert as_images(X.reshape(2, 6, 6)).shape == (2, 6, 6, 1)
    assert as_images(X.reshape(2, 3, 4, 3), (3, 4, -1)).shape == (2, 3, 4, 3)
    # Channels last: column (i * W + j) * C + c is pixel (i, j) of channel c.
    assert as_images(X, (3, 4, 3))[1, 2, 1, 0] == X[1, (2 * 4 + 1) * 3 + 0]
    assert as_images(X[:, :35]).shape == (2, 1, 35, 1)
    with pytest.raises(ValueError, match="X has 5 dimensions"):
        as_images(X.reshape(2, 2, 3, 2, 3))
    with pytest.raises(ValueError, match="at least one row"):
        as_images(np.zeros((2, 0, 3)))
    with pytest.raises(ValueError, match="at least one pixel"):
        as_images(np.zeros((2, 0)))


@pytest.mark.parametrize(
    ("n_features", "image_shape", "expected"),
    [
        (64, None, (8, 8, 1)),
        (1, None, (1, 1, 1)),
        (10, None, (1, 10, 1)),
        (12, (2, -1), (2, 6, 1)),
        (12, (-1, 2, 3), (2, 2, 3)),
        (12, (3, 4), (3, 4, 1)),
    ],
)
def test_flat_image_shape(n_features, image_shape, expected):
    assert flat_image_shape(n_features, image_shape) == expected


@pytest.mark.parametrize(
    ("n_features", "image_shape", "expected"),
    [(36, None, (6, 6, 1)), (10, None, (1, 10, 1)), (12, (2, -1, 3), (2, 2, 3))],
)
def test_every_image_consumer_reads_flat_rows_the_same_way(n_features, image_shape, expected):
    # One rule across the package: the transformers, the feature extractors and the
    # hybrid classifier all read the same flat rows as the same images.
    rng = np.random.RandomState(0)
    X, y = rng.uniform(size=(8, n_features)), np.arange(8) % 2
    tiny = dict(max_epochs=1, random_state=0)
    consumers = [
        Flatten(image_shape=image_shape),
        Downsample(size=1, image_shape=image_shape),
        ConvFeatures(n_components=2, channels=(2,), image_shape=image_shape, **tiny),
        VAEFeatures(n_components=2, hidden=(4,), image_shape=image_shape, **tiny),
        HybridKANClassifier(
            image_shape=image_shape,
            frontend_features=4,
            conv_channels=(2,),
            hidden_layer_sizes=(2,),
            **tiny,
        ),
    ]
    for est in consumers:
        est.fit(X, y)
        assert est.image_shape_ == expected, type(est).__name__
        assert est.n_features_in_ == n_features
    # Channels last, for the torch module too: the hybrid's flat-row forward equals its
    # forward on the channels-last images, transposed to (N, C, H, W).
    hybrid = consumers[-1]
    images = as_images(X.astype(np.float32), expected)
    nchw = torch.as_tensor(images).permute(0, 3, 1, 2)
    with torch.no_grad():
        hybrid.module_.eval()
        flat_out = hybrid.module_(torch.as_tensor(X, dtype=torch.float32))
        torch.testing.assert_close(flat_out, hybrid.module_(nchw))


@pytest.mark.parametrize("shape", [(5, 1, 8, 8), (5, 3, 8, 8), (5, 2, 28, 28)])
def test_channels_first_arrays_are_a_clear_error(shape):
    X = np.random.RandomState(0).uniform(size=shape)
    with pytest.raises(ValueError, match=r"looks like channels-first.*X\.transpose\(0, 2, 3, 1\)"):
        as_images(X)
    # Every image consumer reads through that rule, so each refuses it before training.
    y = np.arange(shape[0]) % 2
    tiny = dict(max_epochs=1, random_state=0)
    for est in (
        Flatten(),
        Downsample(size=2),
        ConvFeatures(n_components=2, channels=(2,), **tiny),
        HybridKANClassifier(frontend_features=4, conv_channels=(2,), **tiny),
    ):
        with pytest.raises(ValueError, match="image_shape="):
            est.fit(X, y)
        assert not hasattr(est, "image_shape_")
    # Channels-last images of 1, 2 or 3 rows with many channels exist: image_shape says so.
    assert as_images(X, shape[1:]).shape == shape
    flat = Flatten(image_shape=shape[1:]).fit(X)
    assert flat.transform(X).shape == (shape[0], int(np.prod(shape[1:])))


@pytest.mark.parametrize("shape", [(5, 8, 8, 1), (5, 8, 8, 3), (5, 4, 4, 16), (5, 1, 8, 3)])
def test_channels_last_arrays_are_read_as_they_are(shape):
    assert as_images(np.zeros(shape)).shape == shape
