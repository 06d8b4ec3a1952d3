import copy
import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_kan
from sklearn_kan import KANClassifier, KANRegressor
from sklearn_kan.inspection import (
    activation_curves,
    edge_importance,
    input_importance,
    pixel_importance,
    prune,
)
from sklearn_kan.preprocessing import Downsample

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
