import copy
import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_kan
from sklearn_kan import HybridKANClassifier, KANClassifier, KANRegressor
from sklearn_kan.baselines import CNNClassifier
from sklearn_kan.feature_extraction import ConvFeatures, VAEFeatures
from sklearn_kan.inspection import (
    activation_curves,
    edge_importance,
    input_importance,
    pixel_importance,
    pixel_map,
    prune,
)
from sklearn_kan.nn import FRONTENDS
from sklearn_kan.preprocessing import Downsample, Flatten

# -- fitted models shared by the tests (small, seeded) ---------------------------


@pytest.fixture(scope="module")
def regression():
    """y depends on x0 (strongly) and x1 (weakly), not on x2; x3 is constant."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(400, 4))
    X[:, 3] = 0.5
    y = np.sin(3 * X[:, 0]) + 0.5 * X[:, 1]
    reg = KANRegressor(hidden_layer_sizes=(4,), max_epochs=30, random_state=0).fit(X, y)
    return reg, X, y


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    clf = KANClassifier(hidden_layer_sizes=(12,), max_epochs=10, random_state=0)
    clf.fit(X_train, y_train)
    return clf, X_train, X_test, y_train, y_test


@pytest.fixture(scope="module")
def downsampled():
    X, y = load_digits(return_X_y=True)
    model = make_pipeline(
        Downsample(4), KANClassifier(hidden_layer_sizes=(8,), max_epochs=5, random_state=0)
    )
    return model.fit(X, y), X


# -- importance -------------------------------------------------------------------


def test_input_importance_ranks_the_features_the_target_depends_on(regression):
    reg, X, _ = regression
    importance = input_importance(reg, X)
    assert importance.shape == (4,)
    assert importance.sum() == pytest.approx(1.0)
    assert importance[0] > importance[1] > importance[2]
    assert importance[3] == 0  # a constant input carries nothing
    # The paper's uncentred score still ranks the noise below the signal.
    raw = input_importance(reg, X, centered=False)
    assert raw[2] < raw[1] < raw[0]


def test_classifier_importance_on_synthetic_classes():
    rng = np.random.RandomState(1)
    X = rng.normal(size=(300, 3))
    y = (X[:, 1] > 0).astype(int)
    clf = KANClassifier(hidden_layer_sizes=(3,), max_epochs=20, random_state=0).fit(X, y)
    importance = input_importance(clf, X, per_output=True)
    assert importance.shape == (2, 3)
    np.testing.assert_allclose(importance.sum(axis=1), 1.0)
    assert np.all(importance[:, 1] > importance[:, 0])
    assert np.all(importance[:, 1] > importance[:, 2])


def test_edge_importance_is_the_mean_absolute_deviation_of_each_edge(regression):
    reg, X, _ = regression
    scores = edge_importance(reg, X)
    raw = edge_importance(reg, X, centered=False)
    assert [s.shape for s in scores] == [(4, 4), (1, 4)]
    # Slow obvious reference for the first layer.
    layer = reg.module_.kan.layers[0]
    with torch.no_grad():
        x = reg.module_.scale_inputs(torch.as_tensor(X, dtype=torch.float32))
        phi = layer.edge_activations(x).double().numpy()  # (n, in, out)
    np.testing.assert_allclose(scores[0], np.abs(phi - phi.mean(0)).mean(0).T, atol=1e-6)
    np.testing.assert_allclose(raw[0], np.abs(phi).mean(0).T, atol=1e-6)
    np.testing.assert_allclose(scores[0][:, 3], 0, atol=1e-6)  # the constant input


def test_importance_works_through_a_pipeline(regression):
    _, X, y = regression
    model = make_pipeline(
        StandardScaler(), KANRegressor(hidden_layer_sizes=(3,), max_epochs=5, random_state=0)
    ).fit(X, y)
    assert input_importance(model, X).shape == (4,)
    assert len(edge_importance(model, X)) == 2


# -- activation curves --------------------------------------------------------------


@pytest.mark.parametrize("layer", [0, 1, -1])
def test_activation_curves_match_the_layer_forward(digits, layer):
    clf = digits[0]
    curves = activation_curves(clf, layer=layer, n_points=17)
    kan_layer = clf.module_.kan.layers[layer]
    n_in, n_out = kan_layer.in_features, kan_layer.out_features
    assert curves.x.shape == (n_in, 17)
    assert curves.y.shape == (n_in, n_out, 17)
    # Point p of every input at once is one input vector: the edges summed per
    # output plus the bias is the layer's own (dense, one-product) forward pass.
    with torch.no_grad():
        out = kan_layer(torch.as_tensor(curves.x.T, dtype=torch.float32)).double().numpy()
    expected = curves.y.sum(axis=0).T + kan_layer.bias.detach().double().numpy()
    np.testing.assert_allclose(expected, out, atol=1e-4)
    # Sampled over the grid range.
    assert np.all(np.diff(curves.x, axis=1) > 0)


def test_activation_curves_select_edges_and_give_feature_units(digits):
    clf, X_train = digits[0], digits[1]
    full = activation_curves(clf, layer=0)
    some = activation_curves(clf, layer=0, inputs=[20, 3], outputs=5)
    np.testing.assert_array_equal(some.inputs, [20, 3])
    np.testing.assert_allclose(some.y, full.y[[20, 3]][:, [5]], atol=1e-6)
    np.testing.assert_array_equal(some.input_names, ["x20", "x3"])
    # x_original is the inverse of the input scaling: scaling it gives x back, and the
    # grid range [-1, 1] corresponds to the feature's training range. A feature constant
    # in training maps every value to one point: it has no inverse (NaN).
    varying = X_train.max(0) > X_train.min(0)
    assert not varying.all()
    assert np.isnan(full.x_original[~varying]).all()
    assert np.isfinite(full.x_original[varying]).all()
    back = np.where(varying[:, None], full.x_original, 0.0)
    scaled = clf.module_.scale_inputs(torch.as_tensor(back.T, dtype=torch.float32))
    np.testing.assert_allclose(scaled.numpy().T[varying], full.x[varying], atol=1e-5)
    np.testing.assert_allclose(full.x_original[varying, 0], X_train.min(0)[varying], atol=1e-4)
    np.testing.assert_allclose(full.x_original[varying, -1], X_train.max(0)[varying], atol=1e-4)
    assert activation_curves(clf, layer=1).x_original is None


# -- pixel importance ----------------------------------------------------------------


def test_pixel_importance_maps_back_through_downsample(downsampled):
    model, X = downsampled
    small = input_importance(model, X).reshape(4, 4)
    pixels = pixel_importance(model, X)
    assert pixels.shape == (8, 8)
    # Area downsampling 8 -> 4 averages 2 x 2 blocks: each block shares its
    # small pixel's importance equally.
    np.testing.assert_allclose(pixels, np.kron(small, np.ones((2, 2)) / 4), atol=1e-12)
    per_class = pixel_importance(model, X, per_class=True)
    assert per_class.shape == (10, 8, 8)
    np.testing.assert_allclose(per_class.sum(axis=(1, 2)), 1.0)
    np.testing.assert_allclose(per_class.mean(axis=0), pixels)


def test_pixel_importance_of_a_plain_estimator_and_image_shape(digits):
    clf, X_train = digits[0], digits[1]
    square = pixel_importance(clf, X_train)
    assert square.shape == (8, 8)
    assert square[0, 0] == 0  # the corner pixel of the digits is always blank
    wide = pixel_importance(clf, X_train, image_shape=(4, 16))
    np.testing.assert_allclose(wide.ravel(), square.ravel())
    with pytest.raises(ValueError, match="image_shape"):
        pixel_importance(clf, X_train, image_shape=(5, 5))


def test_pixel_importance_reads_a_non_square_input_as_one_row(regression):
    # The package's one rule for flat rows: square, else 1 x n (image_shape wins).
    _, X, y = regression
    reg = KANRegressor(hidden_layer_sizes=(2,), max_epochs=1, random_state=0).fit(X[:, :3], y)
    row = pixel_importance(reg, X[:, :3])
    assert row.shape == (1, 3)
    np.testing.assert_allclose(row, pixel_importance(reg, X[:, :3], image_shape=(1, 3)))
    assert pixel_importance(reg, X[:, :3], image_shape=(3, 1)).shape == (3, 1)
    assert pixel_importance(reg, X[:, :3], image_shape=(1, 1, 3)).shape == (1, 1, 3)


# -- pruning -------------------------------------------------------------------------


def test_prune_keeps_accuracy_on_digits_and_reduces_parameters(digits):
    clf, X_train, X_test, y_train, y_test = digits
    state = copy.deepcopy(clf.module_.state_dict())
    proba = clf.predict_proba(X_test)
    n_params = clf.n_params_

    pruned = prune(clf, X_train, y_train, threshold=0.1)

    report = pruned.pruning_report_
    assert pruned.n_params_ < n_params
    assert report.n_params_before == n_params
    assert report.n_params_after == pruned.n_params_
    assert report.n_edges_after < report.n_edges_before
    # Stated tolerance: at most 2 points of accuracy lost on held-out data.
    assert pruned.score(X_test, y_test) >= clf.score(X_test, y_test) - 0.02
    assert report.score_after >= report.score_before - 0.02
    # The original is untouched.
    assert clf.n_params_ == n_params
    assert not hasattr(clf, "pruning_report_")
    for key, value in clf.module_.state_dict().items():
        torch.testing.assert_close(value, state[key])
    np.testing.assert_allclose(clf.predict_proba(X_test), proba, rtol=1e-9, atol=1e-12)


def test_pruning_constant_edges_is_exact(regression):
    reg, X, y = regression
    # threshold=0 removes only edges that do not vary on X: those of the
    # constant input, whose value moves into the biases.
    pruned = prune(reg, X, threshold=0.0)
    assert pruned.pruning_report_.n_edges_after == 16 + 4 - 4
    assert pruned.pruning_report_.score_after is None
    np.testing.assert_allclose(pruned.predict(X), reg.predict(X), atol=1e-5)
    assert pruned.n_params_ == reg.n_params_ - 4 * (reg.grid_size + reg.spline_order + 1)


def test_prune_removes_dead_nodes_and_keeps_masked_edges_at_zero(digits):
    clf, X_train, _, y_train, _ = digits
    pruned = prune(clf, X_train, threshold=0.9)
    kan = pruned.module_.kan
    widths = pruned.pruning_report_.widths_after
    assert widths[0] == 64 and widths[-1] == 10 and 1 <= widths[1] < 12
    assert [kan.layers[0].in_features, kan.layers[0].out_features] == widths[:2]
    masked = sum(
        int((layer.edge_mask == 0).sum()) * (layer.n_basis + 1)
        for layer in kan.layers
        if hasattr(layer, "edge_mask")
    )
    total = sum(p.numel() for p in pruned.module_.parameters())
    assert pruned.n_params_ == total - masked

    # Further training keeps the removed edges at zero, and the model pickles.
    pruned.set_params(warm_start=True, max_epochs=2, weight_decay=1e-2)
    pruned.fit(X_train, y_train)
    with torch.no_grad():  # the masks are applied before every forward pass
        pruned.module_(torch.as_tensor(X_train[:5], dtype=torch.float32))
    for layer in kan.layers:
        if hasattr(layer, "edge_mask"):
            off = layer.edge_weights().detach() * (1 - layer.edge_mask).unsqueeze(-1)
            assert float(off.abs().max()) == 0
    again = pickle.loads(pickle.dumps(pruned))
    np.testing.assert_allclose(again.predict_proba(X_train), pruned.predict_proba(X_train))
    # Pruning a pruned model keeps its masks.
    twice = prune(pruned, X_train, threshold=0.0)
    assert twice.pruning_report_.n_edges_after <= pruned.pruning_report_.n_edges_after


def test_prune_a_pipeline(downsampled):
    model, X = downsampled
    pruned = prune(model, X, threshold=0.2)
    assert pruned is not model
    assert pruned[-1].n_params_ < model[-1].n_params_
    assert hasattr(pruned, "pruning_report_")
    assert pixel_importance(pruned, X).shape == (8, 8)


# -- bad input -----------------------------------------------------------------------


def test_unfitted_estimator_is_refused():
    X = np.zeros((4, 2))
    for function in (activation_curves, lambda est: input_importance(est, X)):
        with pytest.raises(NotFittedError):
            function(KANClassifier())
    with pytest.raises(NotFittedError):
        prune(make_pipeline(StandardScaler(), KANRegressor()), X)


def test_non_kan_estimators_are_refused(regression):
    _, X, y = regression
    logistic = LogisticRegression().fit(X, y > 0)
    with pytest.raises(TypeError, match="KANClassifier"):
        input_importance(logistic, X)
    with pytest.raises(TypeError, match="KANClassifier"):
        activation_curves(make_pipeline(StandardScaler(), logistic))
    with pytest.raises(TypeError, match="KAN estimator"):
        activation_curves("not an estimator")


def test_bad_arguments_get_clear_errors(regression):
    reg, X, _ = regression
    with pytest.raises(ValueError, match="out of range.*2 layer"):
        activation_curves(reg, layer=2)
    with pytest.raises(TypeError, match="layer must be an integer"):
        activation_curves(reg, layer=0.5)
    with pytest.raises(ValueError, match="inputs=.*out of range"):
        activation_curves(reg, inputs=[0, 7])
    with pytest.raises(ValueError, match="outputs must be"):
        activation_curves(reg, outputs=[])
    with pytest.raises(ValueError, match="n_points"):
        activation_curves(reg, n_points=1)
    with pytest.raises(ValueError, match="threshold"):
        prune(reg, X, threshold=2)
    with pytest.raises(TypeError, match="threshold"):
        prune(reg, X, threshold="high")
    with pytest.raises(ValueError, match="features"):
        input_importance(reg, X[:, :2])


# -- hybrid ---------------------------------------------------------------------------


def test_hybrid_head_is_inspected_and_pruned():
    X, y = load_digits(return_X_y=True)
    X, y = X[:400], y[:400]
    clf = sklearn_kan.HybridKANClassifier(
        frontend="linear",
        frontend_features=8,
        hidden_layer_sizes=(6,),
        max_epochs=10,
        random_state=0,
    ).fit(X, y)
    assert input_importance(clf, X).shape == (8,)  # the front end's features
    curves = activation_curves(clf, layer=0, n_points=5)
    assert curves.y.shape == (8, 6, 5) and curves.x_original is None
    with pytest.raises(ValueError, match="front end"):
        pixel_importance(clf, X)
    pruned = prune(clf, X, y, threshold=0.1)
    assert pruned.n_params_ < clf.n_params_
    assert pruned.pruning_report_.score_before > 0.5
    assert pruned.pruning_report_.score_after >= pruned.pruning_report_.score_before - 0.05


def test_prune_a_kan_with_hidden_norm(regression):
    # The inputs of the second layer go through the BatchNorm of hidden_norm; pruning
    # measures them that way, keeps the statistics of the kept hidden units, and a
    # constant input is still removed exactly.
    reg0, X, y = regression
    reg = KANRegressor(
        hidden_layer_sizes=(4,), hidden_norm="batchnorm", max_epochs=30, random_state=0
    ).fit(X, y)
    pruned = prune(reg, X, threshold=0.0)
    np.testing.assert_allclose(pruned.predict(X), reg.predict(X), atol=1e-5)
    dead = prune(reg, X, threshold=0.9)
    width = dead.pruning_report_.widths_after[1]
    norm = dead.module_.kan.norms[0].norm
    assert width < 4 and norm.running_mean.shape == (width,)
    keep = [i for i in range(4) if i in _kept_units(reg, dead)]
    torch.testing.assert_close(norm.running_var, reg.module_.kan.norms[0].norm.running_var[keep])
    assert np.isfinite(dead.predict(X)).all()


def _kept_units(full, pruned):
    """Hidden units of ``full`` that ``pruned`` kept (matched by their bias)."""
    before = full.module_.kan.layers[0].bias.detach().numpy()
    after = pruned.module_.kan.layers[0].bias.detach().numpy()
    return [int(np.argmin(np.abs(before - b))) for b in after]


# -- pixel maps of any image model ------------------------------------------------------

# 8 x 8 images of noise, uniform in [0, 0.5]; the label is which of three 2 x 2 patches
# is lit (set to 1), so only those 12 of the 64 pixels (19%) carry it.
PATCHES = [(1, 1), (1, 5), (5, 3)]
KNOWN = np.zeros((8, 8), dtype=bool)
for _i, _j in PATCHES:
    KNOWN[_i : _i + 2, _j : _j + 2] = True
IMAGE_MODELS = [*sorted(FRONTENDS), "cnn", "kan", "convfeatures", "vaefeatures"]
FIT = {"max_epochs": 20, "random_state": 0}


def _patch_images(n, seed, channels=1):
    rng = np.random.RandomState(seed)
    X = rng.uniform(0, 0.5, size=(n, 8, 8, channels))
    y = rng.randint(3, size=n)
    for k, (i, j) in enumerate(PATCHES):
        X[y == k, i : i + 2, j : j + 2, 0] = 1.0  # channel 0 only
    return X, y


def _image_model(name):
    small = {"frontend_features": 16, "conv_channels": (8,)}
    head = {"hidden_layer_sizes": (8,), **FIT}
    if name in FRONTENDS:
        return HybridKANClassifier(name, **small, **head)
    if name == "cnn":
        return CNNClassifier(**small, **FIT)
    if name == "kan":
        return make_pipeline(Flatten(), KANClassifier(**head))
    if name == "convfeatures":
        return make_pipeline(ConvFeatures(8, channels=(8,), **FIT), KANClassifier(**head))
    if name == "vaefeatures":
        return make_pipeline(VAEFeatures(8, **FIT), KANClassifier(**head))
    if name == "convfeatures+logistic":  # a scikit-learn step: no torch form
        return make_pipeline(ConvFeatures(8, channels=(8,), **FIT), LogisticRegression())
    raise KeyError(name)


@pytest.fixture(scope="module")
def patch_data():
    X, y = _patch_images(600, 0)
    X_test, y_test = _patch_images(60, 1)
    return X, y, X_test, y_test


@pytest.fixture(scope="module")
def image_model(patch_data):
    """``image_model(name)``: the model fitted on the patch images (each fitted once)."""
    X, y = patch_data[:2]
    fitted = {}

    def get(name):
        if name not in fitted:
            fitted[name] = _image_model(name).fit(X, y)
        return fitted[name]

    return get


def _mass_on_known(maps):
    return maps[..., KNOWN].sum(axis=-1)


@pytest.mark.parametrize("name", [*IMAGE_MODELS, "convfeatures+logistic"])
def test_pixel_maps_put_most_of_their_mass_on_the_pixels_that_carry_the_label(
    image_model, patch_data, name
):
    model = image_model(name)
    X_test, y_test = patch_data[2:]
    assert model.score(X_test, y_test) == 1.0
    auto = pixel_map(model, X_test, y_test)
    expected = {"kan": "kan", "convfeatures+logistic": "occlusion"}
    assert auto.method == expected.get(name, "integrated_gradients")
    methods = ["auto", "occlusion"]
    if name != "convfeatures+logistic":
        methods.append("integrated_gradients")
    for method in methods:
        result = pixel_map(model, X_test, y_test, method=method)
        assert result.maps.shape == (3, 8, 8) and result.average.shape == (8, 8)
        np.testing.assert_allclose(result.maps.sum(axis=(1, 2)), 1.0)
        # Every class's map and their mean: more than half of the mass on 19% of pixels.
        assert _mass_on_known(result.maps).min() > 0.5, method
        assert _mass_on_known(result.average) > 0.5, method
    if name != "convfeatures+logistic":
        # Gradient x input is the roughest map (a saturated output has small
        # gradients): it is only asked to put more than twice the fair share there.
        rough = pixel_map(model, X_test, y_test, method="gradient_x_input")
        assert _mass_on_known(rough.average) > 2 * KNOWN.mean()


def test_pixel_maps_keep_the_channels(patch_data):
    # A second channel of pure noise: the maps have a channel axis, and the known
    # pixels of the first channel (12 of 128 values, 9%) get more than 40% of the mass.
    X, y = _patch_images(600, 0, channels=2)
    X_test, y_test = _patch_images(60, 1, channels=2)
    clf = _image_model("conv").fit(X, y)
    result = pixel_map(clf, X_test, y_test, return_attributions=True)
    assert result.maps.shape == (3, 8, 8, 2) and result.average.shape == (8, 8, 2)
    assert result.attributions.shape == (60, 8, 8, 2) and result.baseline.shape == (8, 8, 2)
    assert result.maps[:, KNOWN, 0].sum(axis=1).min() > 0.4
    flat = pixel_map(clf, X_test.reshape(60, -1), y_test)  # flat rows: the fitted shape
    np.testing.assert_allclose(flat.maps, result.maps)


@pytest.mark.parametrize("name", [n for n in IMAGE_MODELS if n != "kan"] + ["kan"])
def test_integrated_gradients_add_up_to_the_output_difference(image_model, patch_data, name):
    """Completeness: the attributions of a sample sum to its output difference.

    The stated tolerance: with 128 steps, within 2% of the difference (plus 1e-3) for
    every model, also those with ReLU and max-pooling kinks, where the midpoint rule
    converges slowest; with 32 steps, within 1% for the smooth ones (the plain KAN
    and the linear front end).
    """
    model = image_model(name)
    X_test, y_test = patch_data[2:]
    baseline = np.full((8, 8, 1), 0.1)
    result = pixel_map(
        model,
        X_test,
        y_test,
        method="integrated_gradients",
        n_steps=128,
        baseline=baseline,
        return_attributions=True,
    )
    # The difference is that of the model's own log-probabilities.
    log_proba = model.predict_log_proba(np.concatenate([X_test, baseline[np.newaxis]]))
    t = result.targets
    np.testing.assert_array_equal(t, y_test)  # the classes are 0, 1, 2
    expected = log_proba[np.arange(60), t] - log_proba[-1, t]
    np.testing.assert_allclose(result.output_difference, expected, rtol=1e-4, atol=1e-4)
    total = result.attributions.sum(axis=(1, 2))
    np.testing.assert_allclose(result.delta, total - result.output_difference)
    assert np.all(np.abs(result.delta) <= 0.02 * np.abs(expected) + 1e-3)
    coarse = pixel_map(model, X_test, y_test, method="integrated_gradients", n_steps=8)
    assert np.abs(coarse.delta).mean() > np.abs(result.delta).mean()
    if name in ("kan", "linear"):
        fine = pixel_map(model, X_test, y_test, method="integrated_gradients")
        assert np.all(np.abs(fine.delta) <= 0.01 * np.abs(fine.output_difference) + 1e-3)


@pytest.fixture(scope="module")
def float64_kan(patch_data):
    """A plain KAN on flat rows in float64: finite differences are accurate on it."""
    X, y = patch_data[:2]
    clf = KANClassifier(hidden_layer_sizes=(8,), dtype="float64", **FIT)
    return clf.fit(X.reshape(len(X), -1), y), X[:3].reshape(3, -1)


def _gradients(clf, rows, target, eps=1e-3):
    """Central differences of the target's log-probability, one row per point."""
    n, d = rows.shape
    steps = np.eye(d) * eps
    plus = (rows[:, None, :] + steps).reshape(-1, d)
    minus = (rows[:, None, :] - steps).reshape(-1, d)
    lp = clf.predict_log_proba(np.concatenate([plus, minus]))[:, target]
    return (lp[: n * d] - lp[n * d :]).reshape(n, d) / (2 * eps)


@pytest.mark.slow  # the reference is a per-pixel loop (4 s)
def test_integrated_gradients_match_a_slow_reference(float64_kan):
    # 300 steps: more than one pass of rows per sample.
    clf, X = float64_kan
    baseline = np.linspace(0.0, 0.3, 64)
    result = pixel_map(
        clf,
        X,
        method="integrated_gradients",
        n_steps=300,
        baseline=baseline,
        return_attributions=True,
    )
    assert result.method == "integrated_gradients"
    for n in range(len(X)):
        target = result.targets[n]
        alphas = (np.arange(300) + 0.5) / 300
        points = baseline + alphas[:, None] * (X[n] - baseline)
        reference = (X[n] - baseline) * _gradients(clf, points, target).mean(axis=0)
        np.testing.assert_allclose(result.attributions[n].ravel(), reference, atol=1e-5)


def test_gradient_x_input_and_occlusion_match_slow_references(float64_kan):
    clf, X = float64_kan
    grad = pixel_map(clf, X, method="gradient_x_input", baseline=0.2, return_attributions=True)
    for n in range(len(X)):
        reference = (X[n] - 0.2) * _gradients(clf, X[n : n + 1], grad.targets[n])[0]
        np.testing.assert_allclose(grad.attributions[n].ravel(), reference, atol=1e-5)

    # Tiles of 2 x 3 pixels (the last column of tiles is 2 wide): each tile set to the
    # baseline, the drop of the log-probability shared by its pixels.
    occ = pixel_map(clf, X, method="occlusion", patch_size=(2, 3), return_attributions=True)
    images = X.reshape(-1, 8, 8)
    lp = clf.predict_log_proba(X)
    for n in range(len(X)):
        t = occ.targets[n]
        for top in range(0, 8, 2):
            for left in range(0, 8, 3):
                covered = images[n].copy()
                covered[top : top + 2, left : left + 3] = 0.0
                drop = lp[n, t] - clf.predict_log_proba(covered.reshape(1, -1))[0, t]
                tile = occ.attributions[n, top : top + 2, left : left + 3]
                np.testing.assert_allclose(tile, drop / tile.size, atol=1e-9)
    np.testing.assert_allclose(occ.delta, occ.attributions.sum(axis=(1, 2)) - occ.output_difference)


def test_pixel_maps_are_deterministic_and_do_not_depend_on_the_other_samples(patch_data):
    X, y, X_test, y_test = patch_data
    first = _image_model("kanconv").fit(X, y)
    second = _image_model("kanconv").fit(X, y)  # the same random_state
    before = first.predict_proba(X_test)
    first.module_.train()  # as a user may leave it: pixel_map evaluates, then restores
    for method in ("integrated_gradients", "occlusion"):
        a = pixel_map(first, X_test, method=method, return_attributions=True)
        b = pixel_map(second, X_test, method=method, return_attributions=True)
        np.testing.assert_array_equal(a.maps, b.maps)
        np.testing.assert_array_equal(a.attributions, b.attributions)
        part = pixel_map(first, X_test[5:13], method=method, return_attributions=True)
        np.testing.assert_array_equal(part.attributions, a.attributions[5:13])
    # The maps ran on a copy with its BatchNorms folded; the model is as it was.
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in first.module_.modules())
    assert first.module_.training
    np.testing.assert_array_equal(first.predict_proba(X_test), before)


def test_pixel_maps_run_in_fixed_chunks(image_model, patch_data):
    # Memory is bounded by the chunk: every forward pass sees exactly 256 rows,
    # however many images and steps there are.
    model = image_model("conv")
    X_test = patch_data[2]
    passes = []

    def record(module, args):
        passes.append((len(args[0]), torch.is_grad_enabled()))

    handle = model.module_.register_forward_pre_hook(record)
    try:
        pixel_map(model, X_test, method="integrated_gradients", n_steps=300)
        pixel_map(model, X_test[:7], method="gradient_x_input")
        pixel_map(model, X_test, method="occlusion", patch_size=1)
    finally:
        handle.remove()
    # (Prediction's own probes of the model's cost run one or two rows.)
    assert max(rows for rows, _ in passes) == 256
    differentiated = {rows for rows, grad in passes if grad}
    assert differentiated == {256}
    assert sum(rows == 256 for rows, grad in passes if grad) >= 60 * 300 // 256


def test_pixel_map_of_a_kan_is_its_pixel_importance(image_model, patch_data):
    model = image_model("kan")
    X_test = patch_data[2]
    result = pixel_map(model, X_test)
    np.testing.assert_allclose(result.maps, pixel_importance(model, X_test, per_class=True))
    np.testing.assert_allclose(result.average, pixel_importance(model, X_test))
    assert result.targets is None and result.attributions is None
    np.testing.assert_array_equal(result.counts, [60, 60, 60])
    np.testing.assert_array_equal(result.classes, [0, 1, 2])
    # Through scalers and Downsample too; a PCA step has no torch form: occlusion.
    X, y = patch_data[:2]
    flat = X.reshape(len(X), -1)
    scaled = make_pipeline(
        StandardScaler(), Downsample(4), KANClassifier(max_epochs=2, random_state=0)
    ).fit(flat, y)
    assert pixel_map(scaled, X_test.reshape(60, -1)).method == "kan"
    both = pixel_map(scaled, X_test.reshape(60, -1), method="integrated_gradients")
    assert both.maps.shape == (3, 8, 8)
    pca = make_pipeline(PCA(8), KANClassifier(max_epochs=2, random_state=0)).fit(flat, y)
    assert pixel_map(pca, X_test.reshape(60, -1)).method == "occlusion"


def test_pixel_map_targets_counts_and_classes_without_samples(image_model, patch_data):
    model = image_model("linear")
    X_test, y_test = patch_data[2:]
    predicted = pixel_map(model, X_test)
    np.testing.assert_array_equal(predicted.targets, model.predict(X_test))
    only = y_test < 2
    result = pixel_map(model, X_test[only], y_test[only])
    np.testing.assert_array_equal(result.counts, [np.sum(y_test == 0), np.sum(y_test == 1), 0])
    assert np.isnan(result.maps[2]).all() and np.isfinite(result.maps[:2]).all()
    np.testing.assert_allclose(result.average, result.maps[:2].mean(axis=0))
    # Attributing another class than the true one gives another map.
    other = pixel_map(model, X_test, (y_test + 1) % 3)
    assert not np.allclose(other.maps, pixel_map(model, X_test, y_test).maps)
    mean = pixel_map(model, X_test, baseline="mean")
    np.testing.assert_allclose(mean.baseline, X_test.mean(axis=0)[..., 0])


def test_pixel_map_of_a_regressor():
    # Independent uniform pixels; the target is the mean of a 2 x 2 patch. Each of the
    # other 60 pixels gets a little (the fit is not exact), so the test is that every
    # patch pixel gets more than any other pixel.
    X = np.random.RandomState(0).uniform(size=(600, 64))
    patch = np.zeros((8, 8), dtype=bool)
    patch[1:3, 1:3] = True
    target = X[:, patch.ravel()].mean(axis=1)
    reg = KANRegressor(hidden_layer_sizes=(8,), **FIT).fit(X, target)
    for method in ("auto", "integrated_gradients", "gradient_x_input", "occlusion"):
        result = pixel_map(reg, X[:50], method=method)
        assert result.maps.shape == (1, 8, 8) and result.classes is None
        assert result.method == ("kan" if method == "auto" else method)
        assert result.average[patch].min() > result.average[~patch].max(), method
    ig = pixel_map(reg, X[:50], method="integrated_gradients", n_steps=64)
    expected = reg.predict(X[:50]) - reg.predict(np.zeros((1, 64)))[0]
    np.testing.assert_allclose(ig.output_difference, expected, rtol=1e-4, atol=1e-4)
    assert np.all(np.abs(ig.delta) <= 0.01 * np.abs(expected) + 1e-3)
    with pytest.raises(ValueError, match="regressor"):
        pixel_map(reg, X[:5], target[:5])
    two = KANRegressor(max_epochs=2, random_state=0).fit(X, np.c_[target, target])
    with pytest.raises(ValueError, match="2 targets"):
        pixel_map(two, X[:5], method="occlusion")


def test_pixel_map_errors(image_model, patch_data):
    hybrid = image_model("conv")
    X_test, y_test = patch_data[2:]
    with pytest.raises(ValueError, match="method must be one of"):
        pixel_map(hybrid, X_test, method="saliency")
    with pytest.raises(ValueError, match="front end"):
        pixel_map(hybrid, X_test, method="kan")
    with pytest.raises(ValueError, match="holds no KAN"):
        pixel_map(image_model("cnn"), X_test, method="kan")
    with pytest.raises(ValueError, match="LogisticRegression is not one of .*occlusion"):
        pixel_map(image_model("convfeatures+logistic"), X_test, method="integrated_gradients")
    flat = X_test.reshape(60, -1)
    pca = make_pipeline(PCA(4), KANClassifier(max_epochs=1, random_state=0)).fit(flat, y_test)
    with pytest.raises(ValueError, match="the pipeline step PCA has no torch form"):
        pixel_map(pca, flat, method="gradient_x_input")
    with pytest.raises(ValueError, match="n_steps must be a positive integer"):
        pixel_map(hybrid, X_test, n_steps=0)
    with pytest.raises(ValueError, match="patch_size"):
        pixel_map(hybrid, X_test, method="occlusion", patch_size=(2, 0))
    with pytest.raises(ValueError, match="baseline has shape"):
        pixel_map(hybrid, X_test, baseline=np.zeros(5))
    with pytest.raises(ValueError, match="baseline must be"):
        pixel_map(hybrid, X_test, baseline="median")
    with pytest.raises(ValueError, match=r"labels the classifier does not know: \[7\]"):
        pixel_map(hybrid, X_test[:2], [0, 7])
    with pytest.raises(ValueError, match="y has 3 samples"):
        pixel_map(hybrid, X_test[:2], [0, 1, 2])
    with pytest.raises(ValueError, match="X has 49 features, but HybridKANClassifier"):
        pixel_map(hybrid, X_test[:, :7, :7])
    with pytest.raises(ValueError, match="patch_size"):
        pixel_map(hybrid, X_test, patch_size=-1)  # checked whatever the method
    with pytest.raises(NotFittedError):
        pixel_map(HybridKANClassifier(), X_test)
    features = image_model("convfeatures")[0]
    with pytest.raises(TypeError, match="ConvFeatures does not predict"):
        pixel_map(features, X_test)


def test_pixel_map_refuses_a_torch_form_that_disagrees_with_the_model(
    image_model, patch_data, monkeypatch
):
    import sklearn_kan.inspection as inspection

    model = image_model("convfeatures")
    right = inspection._step_as_torch

    def shifted(*args):
        function = right(*args)
        return lambda x: function(x) + 1.0

    monkeypatch.setattr(inspection, "_step_as_torch", shifted)
    with pytest.raises(RuntimeError, match="does not give its predictions"):
        pixel_map(model, patch_data[2], method="integrated_gradients")


@pytest.mark.parametrize("function", [input_importance, edge_importance, prune])
def test_importance_needs_samples_that_vary(regression, function):
    reg, X, _ = regression
    with pytest.raises(
        ValueError, match=r"Found array with 1 sample\(s\).*minimum of 2 is required"
    ):
        function(reg, X[:1])
    with pytest.raises(ValueError, match="needs samples that differ"):
        function(reg, np.repeat(X[:1], 5, axis=0))
    assert len(reg.history_) == 30  # nothing was modified on the way


def test_uncentred_scores_take_a_single_sample(regression):
    reg, X, _ = regression
    importance = input_importance(reg, X[:1], centered=False)
    assert importance.shape == (4,) and np.isclose(importance.sum(), 1.0)
