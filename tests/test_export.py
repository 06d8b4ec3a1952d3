"""ONNX export: onnxruntime must give the estimator's labels and probabilities."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_kan import HybridKANClassifier, KANClassifier, KANRegressor
from sklearn_kan.nn import BASES
from sklearn_kan.preprocessing import Downsample, Flatten

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from sklearn_kan.export import to_onnx  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600]  # enough to train a little; keeps the suite fast


def _run(model, X):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"X": np.asarray(X, dtype=np.float32)})


def _assert_same_predictions(estimator, X):
    model = to_onnx(estimator, X[:3])
    labels, proba = _run(model, X)
    np.testing.assert_array_equal(labels, estimator.predict(X))
    np.testing.assert_allclose(proba, estimator.predict_proba(X), atol=1e-5, rtol=0)


def _fast_first(values):
    """The first value in the default run, the others marked slow (each is an export)."""
    return [v if i == 0 else pytest.param(v, marks=pytest.mark.slow) for i, v in enumerate(values)]


def _slow(values):
    return [pytest.param(v, marks=pytest.mark.slow) for v in values]


# Each round trip is a torch.onnx (dynamo) export of 3-20 s: the default run keeps a
# classifier and a regressor (and the module's examples, in tests/test_docs.py);
# `-m slow` runs the sweeps.
@pytest.mark.parametrize("basis", _fast_first(sorted(BASES, key=lambda b: b != "bspline")))
def test_classifier_of_every_basis_round_trips(digits, basis):
    X, y = digits
    clf = KANClassifier((8,), basis=basis, max_epochs=2, random_state=0).fit(X, y)
    _assert_same_predictions(clf, X)


@pytest.mark.parametrize("first", _slow(["downsample", "flatten", "scaler"]))
def test_whole_pipeline_takes_raw_pixels(digits, first, tmp_path):
    X, y = digits
    images = X.reshape(-1, 8, 8)
    step = {"downsample": Downsample(4), "flatten": Flatten(), "scaler": StandardScaler()}[first]
    inputs = X if first == "scaler" else images
    pipe = Pipeline([("pre", step), ("kan", KANClassifier((8,), max_epochs=2, random_state=0))])
    pipe.fit(inputs, y)
    path = tmp_path / "model.onnx"
    to_onnx(pipe, inputs[:3], path)
    labels, proba = _run(onnx.load(path), inputs)
    np.testing.assert_array_equal(labels, pipe.predict(inputs))
    np.testing.assert_allclose(proba, pipe.predict_proba(inputs), atol=1e-5, rtol=0)


@pytest.mark.parametrize("frontend", _slow(["linear", "conv", "kanconv", "local"]))
def test_hybrid_round_trips(digits, frontend):
    X, y = digits
    images = X.reshape(-1, 8, 8)
    basis = "rational" if frontend == "kanconv" else "bspline"
    clf = HybridKANClassifier(
        frontend, basis=basis, conv_channels=(4, 8), max_epochs=1, random_state=0
    ).fit(images, y)
    _assert_same_predictions(clf, images)
    _assert_same_predictions(clf, X)  # flat rows, read as the training images


def test_regressor_and_string_labels(digits):
    X, y = digits
    reg = KANRegressor((8,), max_epochs=2, random_state=0).fit(X, np.c_[y, -y] * 1.5)
    (pred,) = _run(to_onnx(reg, X[:3]), X)
    np.testing.assert_allclose(pred, reg.predict(X), atol=1e-4 * np.abs(y).max(), rtol=0)
    clf = KANClassifier((4,), max_epochs=1, random_state=0).fit(X, np.array(list("ab"))[y % 2])
    with pytest.raises(ValueError, match="numeric class labels only"):
        to_onnx(clf, X[:3])
    y_float = (y * 2 + 3).astype(float)  # float labels come back as floats
    clf = KANClassifier((4,), max_epochs=1, random_state=0).fit(X, y_float)
    labels, _ = _run(to_onnx(clf, X[:3]), X)
    np.testing.assert_array_equal(labels, clf.predict(X))


def test_bad_inputs_are_refused(digits):
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.svm import SVC

    X, y = digits
    with pytest.raises(TypeError, match="expects a fitted KANClassifier"):
        to_onnx(SVC().fit(X[:100], y[:100]), X[:3])
    square = FunctionTransformer(np.square)
    pipe = Pipeline([("sq", square), ("kan", KANClassifier((4,), max_epochs=1))]).fit(X, y)
    with pytest.raises(ValueError, match="'sq'.*not an affine map"):
        to_onnx(pipe, X[:3])
    with pytest.raises(ValueError, match="at least one row"):
        to_onnx(pipe[-1], X[:0])


@pytest.mark.slow
def test_mnist_test_rows_round_trip():
    # Real data: the 10,000 MNIST test images through the whole pipeline.
    from sklearn_kan.datasets import fetch_mnist

    train = fetch_mnist(subset="train", download_if_missing=False, data_home=_data_home())
    test = fetch_mnist(subset="test", download_if_missing=False, data_home=_data_home())
    X = train.images[:10000].reshape(10000, -1)
    pipe = Pipeline(
        [("down", Downsample(7)), ("kan", KANClassifier((10,), max_epochs=5, random_state=0))]
    ).fit(X, train.target[:10000])
    X_test = test.images.reshape(len(test.images), -1)
    labels, proba = _run(to_onnx(pipe, X_test[:3]), X_test)
    np.testing.assert_array_equal(labels, pipe.predict(X_test))
    np.testing.assert_allclose(proba, pipe.predict_proba(X_test), atol=1e-5, rtol=0)
    hybrid = HybridKANClassifier("kanconv", max_epochs=1, random_state=0)
    hybrid.fit(train.images[:2000], train.target[:2000])
    labels, proba = _run(to_onnx(hybrid, test.images[:3]), test.images)
    np.testing.assert_array_equal(labels, hybrid.predict(test.images))
    np.testing.assert_allclose(proba, hybrid.predict_proba(test.images), atol=1e-5, rtol=0)


def _data_home():
    from pathlib import Path

    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    return str(shared) if shared.is_dir() else None


@pytest.mark.slow  # tests/test_docs.py runs every module's examples, this one's too
def test_docstring_example_runs():
    import doctest

    from sklearn_kan import export

    result = doctest.testmod(export)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    "step",
    [
        "imputer",
        "clipping-minmax",
        "normalizer",
        "abs",
    ],
)
def test_preprocessing_not_known_to_be_affine_is_refused(digits, step):
    # Each agrees with an affine map on these digits (no NaN, nothing out of range,
    # no negative pixel), so the sample rows cannot reveal them: they are refused
    # by what they are. Exported, the imputer gave NaN probabilities on rows with NaN.
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, Normalizer

    X, y = digits
    pre = {
        "imputer": SimpleImputer(),
        "clipping-minmax": MinMaxScaler(clip=True),
        "normalizer": Normalizer(),
        "abs": FunctionTransformer(np.abs),
    }[step]
    pipe = Pipeline([("pre", pre), ("kan", KANClassifier((4,), max_epochs=1, random_state=0))])
    pipe.fit(X, y)
    with pytest.raises(ValueError, match="'pre'.*not an affine map that to_onnx knows"):
        to_onnx(pipe, X[:3])


@pytest.mark.parametrize("step", _slow(["minmax", "maxabs", "robust", "pca"]))
def test_known_affine_steps_round_trip_also_out_of_range(digits, step):
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler

    X, y = digits
    pre = {
        "minmax": MinMaxScaler(),
        "maxabs": MaxAbsScaler(),
        "robust": RobustScaler(),
        "pca": PCA(12, whiten=True, random_state=0),
    }[step]
    pipe = Pipeline([("pre", pre), ("kan", KANClassifier((8,), max_epochs=2, random_state=0))])
    pipe.fit(X, y)
    rows = np.concatenate([X[:50], 3 * X[:50] + 20, -X[:50]])  # beyond the training range
    labels, proba = _run(to_onnx(pipe, X[:3]), rows)
    np.testing.assert_array_equal(labels, pipe.predict(rows))
    np.testing.assert_allclose(proba, pipe.predict_proba(rows), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "labels",
    _slow(
        [
            np.array([-(2**62) - 7, 2**62 + 3, 5], dtype=np.int64),
            np.array([2**63, 2**64 - 1, 2**63 + 12345], dtype=np.uint64),
            np.array([-2.0, 2.0**24 + 1, 2.0**60 + 256]),  # whole numbers; float32 rounds two
        ]
    ),
    ids=["int64", "uint64", "float64"],
)
def test_class_labels_come_back_exactly(digits, labels):
    X, y = digits
    target = labels[y % 3]
    clf = KANClassifier((4,), max_epochs=1, random_state=0).fit(X, target)
    out, _ = _run(to_onnx(clf, X[:3]), X)
    assert out.dtype == clf.classes_.dtype
    np.testing.assert_array_equal(out, clf.predict(X))


def test_sample_rows_of_the_wrong_shape_are_refused(digits):
    X, y = digits
    clf = KANClassifier((4,), max_epochs=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="X has 10 features, but KANClassifier is expecting 64"):
        to_onnx(clf, X[:, :10])
    pipe = Pipeline([("down", Downsample(4)), ("kan", KANClassifier((4,), max_epochs=1))])
    pipe.fit(X, y)
    with pytest.raises(ValueError, match="X_sample"):
        to_onnx(pipe, X[:3, :49])


@pytest.mark.slow
def test_one_row_and_many_rows(digits):
    X, y = digits
    clf = KANClassifier((4,), max_epochs=1, random_state=0).fit(X, y)
    model = to_onnx(clf, X[:3])
    for rows in (X[:1], X):
        labels, proba = _run(model, rows)
        np.testing.assert_array_equal(labels, clf.predict(rows))
        np.testing.assert_allclose(proba, clf.predict_proba(rows), atol=1e-5, rtol=0)
