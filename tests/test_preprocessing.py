"""Tests for sklearn_kan.preprocessing: Flatten and Downsample."""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_kan import preprocessing
from sklearn_kan.preprocessing import Downsample, Flatten


def _area_reference(image, h, w):
    """Slow obvious area resize: upsample by an integer factor, then block-average.

    Repeating every pixel ``lcm(H, h) / H`` times makes the output blocks whole pixels
    of the enlarged image, so a plain mean over each block is the exact area average.
    """
    height, width = image.shape[:2]
    fh, fw = math.lcm(height, h) // height, math.lcm(width, w) // width
    big = image.repeat(fh, axis=0).repeat(fw, axis=1)
    bh, bw = big.shape[0] // h, big.shape[1] // w
    return big.reshape(h, bh, w, bw, -1).mean(axis=(1, 3))


@pytest.fixture(scope="module")
def images():
    """Twelve random 28 x 28 one-channel images, as integers 0-255 in float64."""
    return np.random.default_rng(0).integers(0, 256, size=(12, 28, 28)).astype(float)


# Default instances are checked in test_estimator_checks.py; these read the checks'
# flat rows with an explicit image_shape (one row or one column of pixels), so the
# -1 inference and every method also run through scikit-learn's checks.
@parametrize_with_checks(
    [
        Flatten(image_shape=(1, -1)),
        Flatten(image_shape=(-1, 1)),
        Downsample(size=(1, 1), image_shape=(1, -1)),
        Downsample(size=1, method="nearest", image_shape=(-1, 1)),
        Downsample(size=(1, 1), method="bilinear", image_shape=(1, -1)),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# --- the resizing arithmetic -------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "size"),
    [
        ((28, 28), (10, 10)),
        ((28, 28), (7, 7)),
        ((28, 21), (10, 8)),
        ((7, 5), (3, 2)),
        ((9, 9), (4, 4)),
        ((5, 6), (5, 6)),
        ((13, 11), (1, 1)),
    ],
)
def test_area_matches_reference(shape, size):
    rng = np.random.default_rng(1)
    imgs = rng.random((3, *shape, 2))
    out = Downsample(size=size).fit_transform(imgs).reshape(3, *size, 2)
    for image, small in zip(imgs, out):
        assert_allclose(small, _area_reference(image, *size), rtol=1e-12, atol=1e-12)


def test_area_is_block_average_when_size_divides(images):
    out = Downsample(7).fit_transform(images)
    blocks = images.reshape(12, 7, 4, 7, 4).mean(axis=(2, 4)).reshape(12, -1)
    assert_allclose(out, blocks, rtol=1e-12)


@pytest.mark.parametrize("method", ["area", "nearest", "bilinear"])
@pytest.mark.parametrize(("n_in", "n_out"), [(28, 10), (28, 7), (5, 5), (9, 2), (3, 1)])
def test_weights_are_convex(method, n_in, n_out):
    weights = preprocessing._WEIGHTS[method](n_in, n_out)
    assert weights.shape == (n_out, n_in)
    assert (weights >= 0).all()
    assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-12)
    if n_in == n_out:
        assert_array_equal(weights, np.eye(n_in))


def test_area_weights_28_to_10():
    # Output pixel 0 covers input [0, 2.8): pixels 0 and 1 whole, 80 % of pixel 2.
    weights = preprocessing._area_weights(28, 10)
    assert_allclose(weights[0, :4], np.array([1, 1, 0.8, 0]) / 2.8)
    assert_allclose(weights[1, 2:6], np.array([0.2, 1, 1, 0.6]) / 2.8)
    # Every input pixel is spent exactly once, so the total ink is kept.
    assert_allclose(weights.sum(axis=0) * 2.8, 1.0)


@pytest.mark.parametrize(
    ("method", "mode"), [("bilinear", "bilinear"), ("nearest", "nearest-exact")]
)
@pytest.mark.parametrize(("shape", "size"), [((28, 28), (10, 10)), ((28, 20), (7, 6))])
def test_interpolation_matches_torch(method, mode, shape, size):
    torch = pytest.importorskip("torch")
    imgs = np.random.default_rng(2).random((4, *shape))
    out = Downsample(size=size, method=method).fit_transform(imgs).reshape(4, *size)
    kwargs = {"align_corners": False, "antialias": False} if mode == "bilinear" else {}
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(imgs)[:, None], size=size, mode=mode, **kwargs
    )[:, 0].numpy()
    assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


@settings(max_examples=40, deadline=None, database=None)
@given(
    height=st.integers(1, 12),
    width=st.integers(1, 12),
    data=st.data(),
)
def test_area_keeps_mean_and_range(height, width, data):
    h = data.draw(st.integers(1, height))
    w = data.draw(st.integers(1, width))
    seed = data.draw(st.integers(0, 2**16))
    imgs = np.random.default_rng(seed).random((2, height, width))
    out = Downsample(size=(h, w)).fit_transform(imgs)
    assert_allclose(out.mean(axis=1), imgs.mean(axis=(1, 2)), rtol=1e-10)
    assert out.min() >= imgs.min() - 1e-12
    assert out.max() <= imgs.max() + 1e-12


# --- layouts, shapes and dtypes ------------------------------------------------------


@pytest.mark.parametrize("method", ["area", "nearest", "bilinear"])
def test_layouts_agree(images, method):
    down = Downsample(10, method=method)
    expected = down.fit_transform(images.reshape(12, -1))
    assert expected.shape == (12, 100)
    assert_array_equal(down.fit_transform(images), expected)
    assert_array_equal(down.fit_transform(images[..., None]), expected)
    assert down.image_shape_ == (28, 28, 1)
    assert down.output_shape_ == (10, 10, 1)
    assert down.n_features_in_ == 784


def test_channels_are_resized_independently(images):
    rgb = np.stack([images, 255 - images, images / 2], axis=-1)
    down = Downsample(size=(7, 10)).fit(rgb)
    out = down.transform(rgb)
    assert out.shape == (12, 7 * 10 * 3)
    assert down.output_shape_ == (7, 10, 3)
    per_channel = [Downsample(size=(7, 10)).fit_transform(rgb[..., c]) for c in range(3)]
    assert_allclose(out.reshape(12, 70, 3), np.stack(per_channel, axis=-1))
    # Flat rows with image_shape are read channels last, exactly like the 4-D array.
    flat = Downsample(size=(7, 10), image_shape=(28, 28, 3)).fit(rgb.reshape(12, -1))
    assert_array_equal(flat.transform(rgb.reshape(12, -1)), out)
    assert_array_equal(flat.transform(rgb), out)


def test_flatten(images):
    flatten = Flatten().fit(images)
    assert flatten.image_shape_ == flatten.output_shape_ == (28, 28, 1)
    assert flatten.n_features_in_ == 784
    assert_array_equal(flatten.transform(images), images.reshape(12, -1))
    assert_array_equal(flatten.transform(images.reshape(12, -1)), images.reshape(12, -1))
    rgb = np.zeros((2, 3, 4, 3))
    assert Flatten().fit_transform(rgb).shape == (2, 36)
    assert Flatten(image_shape=[3, 4, 3]).fit(rgb.reshape(2, -1)).image_shape_ == (3, 4, 3)
    assert Flatten(image_shape=(-1, 4, 3)).fit(rgb).image_shape_ == (3, 4, 3)


@pytest.mark.parametrize("Transformer", [Flatten, Downsample])
def test_dtypes(images, Transformer):
    est = Transformer() if Transformer is Flatten else Transformer(4)
    assert est.fit_transform(images.astype(np.uint8)).dtype == np.float64
    assert est.fit_transform(images.astype(np.float32)).dtype == np.float32
    assert est.fit_transform(images.astype(np.float32)[..., None]).dtype == np.float32
    # The documented rule: only float32 is kept; float16 becomes float64 like integers.
    assert est.fit_transform(images.astype(np.float16)).dtype == np.float64
    flat16 = images.reshape(len(images), -1).astype(np.float16)
    assert est.fit_transform(flat16).dtype == np.float64


def test_image_shape_with_minus_one():
    X = np.arange(2 * 6 * 4, dtype=float).reshape(2, 24)
    down = Downsample(size=(3, 2), image_shape=(6, -1)).fit(X)
    assert down.image_shape_ == (6, 4, 1)
    assert_allclose(down.transform(X), X.reshape(2, 3, 2, 2, 2).mean(axis=(2, 4)).reshape(2, -1))


# --- scikit-learn integration ------------------------------------------------------


def test_feature_names(images):
    down = Downsample(size=(5, 7)).fit(images)
    names = down.get_feature_names_out()
    assert names.dtype == object
    assert len(names) == 35
    assert names[0] == "px_0_0" and names[3 * 7 + 4] == "px_3_4" and names[-1] == "px_4_6"
    rgb_names = Downsample(2).fit(np.zeros((1, 4, 4, 3))).get_feature_names_out()
    assert rgb_names[:4].tolist() == ["px_0_0_c0", "px_0_0_c1", "px_0_0_c2", "px_0_1_c0"]
    assert len(rgb_names) == 12
    assert Flatten().fit(images).get_feature_names_out()[29] == "px_1_1"


def test_set_output_pandas(images):
    pd = pytest.importorskip("pandas")
    down = Downsample(7).set_output(transform="pandas")
    frame = down.fit_transform(images)
    assert isinstance(frame, pd.DataFrame)
    assert frame.shape == (12, 49)
    assert frame.columns[10] == "px_1_3"
    flat = Flatten().set_output(transform="pandas").fit_transform(images)
    assert list(flat.columns[:2]) == ["px_0_0", "px_0_1"]


def test_dataframe_input_keeps_names(images):
    pd = pytest.importorskip("pandas")
    columns = [f"px_{i}_{j}" for i in range(28) for j in range(28)]
    frame = pd.DataFrame(images.reshape(12, -1), columns=columns)
    down = Downsample(14).fit(frame)
    assert_array_equal(down.feature_names_in_, columns)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        assert_array_equal(down.transform(images), down.transform(frame))
    with pytest.raises(ValueError, match="input_features is not equal to feature_names_in_"):
        down.get_feature_names_out(["a"] * 784)


def test_pipeline_and_clone():
    digits = load_digits()
    model = make_pipeline(Downsample(4), StandardScaler(), LogisticRegression())
    model.fit(digits.data[:1000], digits.target[:1000])
    assert model.score(digits.data[1000:], digits.target[1000:]) > 0.8
    down = Downsample(size=[4, 2], method="nearest", image_shape=[8, 8])
    copy = clone(down)
    assert copy.get_params() == {"size": [4, 2], "method": "nearest", "image_shape": [8, 8]}
    copy.fit(digits.images)
    assert not hasattr(down, "n_features_in_")  # stored as given, nothing else
    assert copy.get_params()["size"] == [4, 2]


# --- errors ----------------------------------------------------------------------


def test_non_square_flat_rows_are_one_row_of_pixels():
    # The package's one rule: a flat row of a non-square length n is a 1 x n image.
    X = np.arange(30.0).reshape(3, 10)
    flatten = Flatten().fit(X)
    assert flatten.image_shape_ == (1, 10, 1)
    assert_array_equal(flatten.transform(X), X)
    assert flatten.get_feature_names_out()[-1] == "px_0_9"
    down = Downsample((1, 5)).fit(X)
    assert down.image_shape_ == (1, 10, 1)
    assert_allclose(down.transform(X), X.reshape(3, 5, 2).mean(axis=2))
    with pytest.raises(ValueError, match=r"only reduces images.*read as 1 x n images"):
        Downsample(2).fit(X)
    with pytest.raises(ValueError, match=r"image_shape=\(3, 3\) .* needs 9 features"):
        Downsample(2, image_shape=(3, 3)).fit(X)
    with pytest.raises(ValueError, match="multiple of 3"):
        Downsample(1, image_shape=(3, -1)).fit(X)


def test_size_larger_than_image():
    with pytest.raises(ValueError, match=r"size=9 asks for 9 x 9 images, but X holds .* 8 x 8"):
        Downsample(9).fit(np.zeros((2, 64)))
    with pytest.raises(ValueError, match="only reduces"):
        Downsample(size=(2, 5)).fit(np.zeros((2, 4, 4)))


@pytest.mark.parametrize("shape", [(2, 3, 4, 5, 6), (2, 2, 2, 2, 2, 2)])
def test_wrong_number_of_dimensions(shape):
    with pytest.raises(ValueError, match=f"X has {len(shape)} dimensions, but Downsample"):
        Downsample(1).fit(np.zeros(shape))


def test_one_dimensional_input_gets_sklearn_message():
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        Flatten().fit(np.zeros(16))


def test_different_size_at_transform(images):
    down = Downsample(7).fit(images.reshape(12, -1))
    msg = "X has 100 features, but Downsample is expecting 784 features as input"
    with pytest.raises(ValueError, match=msg):
        down.transform(np.zeros((2, 100)))
    with pytest.raises(ValueError, match=msg):
        down.transform(np.zeros((2, 10, 10)))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "X holds images of shape (14, 56, 1) (height, width, channels), but Downsample "
            "is expecting images of shape (28, 28, 1) as input"
        ),
    ):
        down.transform(np.zeros((2, 14, 56)))
    with pytest.raises(ValueError, match="X has 1568 features, but Flatten is expecting 784"):
        Flatten().fit(images).transform(np.zeros((2, 28, 28, 2)))


def test_images_must_match_image_shape():
    with pytest.raises(ValueError, match=r"shape \(4, 4, 1\) .* but image_shape=\(2, 8\)"):
        Flatten(image_shape=(2, 8)).fit(np.zeros((3, 4, 4)))


@pytest.mark.parametrize(
    "image_shape", [(28,), (0, 28), (-1, -1), (2.0, 3), (True, 3), (1, 2, 3, 4)]
)
def test_bad_image_shape(image_shape):
    with pytest.raises(ValueError, match="image_shape must be"):
        Flatten(image_shape=image_shape).fit(np.zeros((2, 4)))


@pytest.mark.parametrize("size", [(2, 3, 4), (0, 2), (2.5, 2), [True, 2]])
def test_bad_size(size):
    with pytest.raises(ValueError, match="size must be"):
        Downsample(size=size).fit(np.zeros((2, 16)))


def test_bad_params_use_sklearn_validation():
    with pytest.raises(InvalidParameterError, match="'method' parameter of Downsample"):
        Downsample(method="lanczos").fit(np.zeros((2, 16)))
    with pytest.raises(InvalidParameterError, match="'size' parameter of Downsample"):
        Downsample(size=0).fit(np.zeros((2, 16)))
    with pytest.raises(InvalidParameterError, match="'image_shape' parameter of Flatten"):
        Flatten(image_shape="28x28").fit(np.zeros((2, 16)))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("shape", [(3, 16), (3, 4, 4), (3, 4, 4, 2)])
def test_non_finite_rejected(bad, shape):
    X = np.zeros(shape)
    X[(1,) * len(shape)] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        Downsample(2).fit(X)
    fitted = Downsample(2).fit(np.zeros(shape))
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        fitted.transform(X)


def test_sparse_rejected():
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="dense data is required"):
        Flatten().fit(sparse.csr_matrix(np.eye(4)))


# --- the shared helper ------------------------------------------------------------
