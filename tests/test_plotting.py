import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline

from sklearn_kan import HybridKANClassifier, KANClassifier, KANRegressor
from sklearn_kan.preprocessing import Downsample

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sklearn_kan.inspection import activation_curves, pixel_importance, pixel_map  # noqa: E402
from sklearn_kan.plotting import (  # noqa: E402
    ActivationsDisplay,
    HistoryDisplay,
    PixelImportanceDisplay,
    PixelMapDisplay,
    plot_activations,
    plot_history,
    plot_pixel_importance,
    plot_pixel_map,
)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X, y = X[:600], y[:600]
    model = make_pipeline(
        Downsample(4),
        KANClassifier(
            hidden_layer_sizes=(8,),
            max_epochs=4,
            early_stopping=True,  # records valid_loss and valid_acc
            random_state=0,
        ),
    )
    return model.fit(X, y), X, y


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _saved(fig, tmp_path, name):
    """Save ``fig``; the file must be a PNG of the figure's size (it rendered)."""
    path = tmp_path / f"{name}.png"
    fig.savefig(path)
    image = plt.imread(path)
    width, height = fig.get_size_inches() * fig.dpi
    assert image.shape[:2] == (round(height), round(width))
    assert image[..., :3].std() > 0  # something was drawn
    return path


def test_plot_activations_renders_a_grid(digits, tmp_path):
    model, X, _ = digits
    fig = plot_activations(model, layer=0, X=X)
    _saved(fig, tmp_path, "activations")
    # 16 inputs and 8 outputs: the 6 x 6 most important panels by default.
    panels = [ax for ax in fig.axes if ax.lines]
    assert len(panels) == 36
    fig = plot_activations(model, layer=1, inputs=[0, 2], outputs=[1])
    assert len([ax for ax in fig.axes if ax.lines]) == 2
    assert fig.axes[0].get_title() == "to class 1"
    _saved(fig, tmp_path, "layer1")


def test_plot_activations_draws_into_given_axes(digits):
    model, X, _ = digits
    fig, axes = plt.subplots(2, 3)
    assert plot_activations(model, inputs=[0, 5], outputs=[0, 1, 2], X=X, ax=axes) is fig
    with pytest.raises(ValueError, match="panels"):
        plot_activations(model, inputs=[0], outputs=[0, 1], ax=axes)


def test_plot_activations_of_a_regressor_without_data(tmp_path):
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(100, 2))
    reg = KANRegressor(hidden_layer_sizes=(2,), max_epochs=2, random_state=0)
    fig = plot_activations(reg.fit(X, X[:, 0] ** 2), layer=-1)
    # The last layer: 2 hidden nodes into 1 output, no histogram without data.
    panels = [ax for ax in fig.axes if ax.lines]
    assert len(panels) == 2 and len(fig.axes) == 2
    curves = activation_curves(reg, layer=-1, n_points=200)
    for a, panel in enumerate(panels):
        np.testing.assert_allclose(panel.lines[0].get_ydata(), curves.y[a, 0], atol=1e-6)
    assert fig.axes[0].get_title() == "to output 0"
    _saved(fig, tmp_path, "regressor")


def test_displays_hold_the_data_and_redraw_into_given_axes(digits):
    model, X, _ = digits
    act = ActivationsDisplay.from_estimator(model, layer=1, inputs=[0, 2], outputs=[1])
    curves = activation_curves(model, layer=1, inputs=[0, 2], outputs=[1], n_points=200)
    np.testing.assert_allclose(act.y, curves.y)
    assert act.axes_.shape == (2, 1) and act.output_names.tolist() == ["class 1"]
    fig, axes = plt.subplots(2, 1)
    assert act.plot(ax=axes).figure_ is fig
    assert act.axes_[1, 0] is axes[1]
    np.testing.assert_allclose(axes[1].lines[0].get_ydata(), curves.y[1, 0])

    pix = PixelImportanceDisplay.from_estimator(model, X, per_class=True)
    np.testing.assert_allclose(pix.maps, pixel_importance(model, X, per_class=True))
    assert len(pix.images_) == 10 and pix.names[0] == "class 0"
    fig, axes = plt.subplots(3, 4)  # two axes too many: hidden
    pix.plot(ax=axes, cmap="gray")
    assert pix.figure_ is fig and sum(ax.get_visible() for ax in axes.ravel()) == 10
    np.testing.assert_allclose(pix.images_[4].get_array(), pix.maps[4])

    hist = HistoryDisplay.from_estimator(model)
    history = model[-1].history_
    np.testing.assert_allclose(hist.losses["valid_loss"], history[:, "valid_loss"])
    np.testing.assert_allclose(hist.accuracies["valid_acc"], history[:, "valid_acc"])
    np.testing.assert_array_equal(hist.epochs, history[:, "epoch"])
    fig, ax = plt.subplots()
    hist.plot(ax=ax)  # one axes: the accuracy goes on a twin y axis
    assert hist.figure_ is fig and len(hist.axes_) == 2 and hist.axes_[0] is ax


def test_plot_pixel_importance(digits, tmp_path):
    model, X, _ = digits
    fig = plot_pixel_importance(model, X)
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (8, 8)  # mapped back through Downsample(4)
    _saved(fig, tmp_path, "pixels")
    fig = plot_pixel_importance(model, X, per_class=True)
    maps = [ax for ax in fig.axes if ax.images]
    assert len(maps) == 10
    assert maps[3].get_title() == "class 3"
    _saved(fig, tmp_path, "pixels_per_class")
    fig, ax = plt.subplots()
    assert plot_pixel_importance(model, X, ax=ax) is fig


@pytest.fixture(scope="module")
def two_channel_hybrid():
    """A "conv" hybrid on 8 x 8 two-channel images, three classes."""
    rng = np.random.RandomState(0)
    X = rng.uniform(0, 0.5, size=(300, 8, 8, 2))
    y = rng.randint(3, size=300)
    for k in range(3):
        X[y == k, 2 * k : 2 * k + 2, 3:5, 0] = 1.0
    clf = HybridKANClassifier("conv", frontend_features=16, conv_channels=(8,), max_epochs=5)
    return clf.set_params(random_state=0).fit(X, y), X[:40], y[:40]


def test_pixel_map_display_holds_the_maps_and_draws_them(two_channel_hybrid, tmp_path):
    clf, X, y = two_channel_hybrid
    display = PixelMapDisplay.from_estimator(clf, X, y, per_class=True)
    result = pixel_map(clf, X, y)
    # A pixel's share is the sum of its channels' shares.
    np.testing.assert_allclose(display.maps, result.maps.sum(axis=-1))
    assert display.method == "integrated_gradients" and display.names[2] == "class 2"
    assert len(display.images_) == 3
    np.testing.assert_allclose(display.images_[1].get_array(), display.maps[1])
    assert display.figure_.axes[-1].get_ylabel() == "share of |attribution|"  # colour bar
    title = "Integrated gradients per class (8 x 8 pixels)"
    assert title in [text.get_text() for text in display.figure_.texts]  # the suptitle
    _saved(display.figure_, tmp_path, "pixel_map")
    fig, axes = plt.subplots(2, 2)  # one axes too many: hidden
    display.plot(ax=axes, cmap="gray")
    assert display.figure_ is fig and sum(ax.get_visible() for ax in axes.ravel()) == 3
    with pytest.raises(ValueError, match="ax holds 2 axes, but 3 maps"):
        display.plot(ax=axes[0])
    mean = PixelMapDisplay.from_estimator(clf, X, method="occlusion", patch_size=2)
    assert mean.maps.shape == (1, 8, 8) and mean.names is None
    assert "Occlusion (8 x 8 pixels)" in [text.get_text() for text in mean.figure_.texts]


def test_pixel_map_display_of_a_class_without_samples_and_the_kan_scores(digits, tmp_path):
    model, X, y = digits
    display = PixelMapDisplay.from_estimator(model, X[y < 9], y[y < 9], per_class=True)
    assert display.method == "kan"  # the KAN reads the pixels (through Downsample)
    np.testing.assert_allclose(display.maps, pixel_importance(model, X[y < 9], per_class=True))
    assert display.figure_.axes[-1].get_ylabel() == "share of output variation"
    ig = PixelMapDisplay.from_estimator(
        model, X[y < 9], y[y < 9], method="integrated_gradients", per_class=True
    )
    assert np.isnan(ig.maps[9]).all() and ig.axes_[9].get_title() == "class 9 (no samples)"
    _saved(ig.figure_, tmp_path, "no_samples")
    fig = plot_pixel_map(model, X, method="gradient_x_input")
    assert fig.axes[0].images[0].get_array().shape == (8, 8)
    fig, ax = plt.subplots()
    assert plot_pixel_map(model, X, ax=ax) is fig


def test_plot_history_with_and_without_accuracy(digits, tmp_path):
    model, X, y = digits
    fig = plot_history(model)
    loss_ax, acc_ax = fig.axes[:2]
    assert {line.get_label() for line in loss_ax.lines} == {"train_loss", "valid_loss"}
    assert [line.get_label() for line in acc_ax.lines] == ["valid_acc"]
    _saved(fig, tmp_path, "history")

    plain = KANClassifier(hidden_layer_sizes=(4,), max_epochs=3, random_state=0).fit(X, y)
    fig = plot_history(plain)
    assert len(fig.axes) == 1  # no accuracy recorded: loss only, nothing made up
    assert [line.get_label() for line in fig.axes[0].lines] == ["train_loss"]
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), plain.history_[:, "train_loss"])
    _saved(fig, tmp_path, "history_plain")


def test_missing_matplotlib_names_the_extra(digits, monkeypatch):
    model, X, _ = digits
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    for plot in (lambda: plot_history(model), lambda: plot_pixel_importance(model, X)):
        with pytest.raises(ImportError, match=r"sklearn-kan\[plot\]"):
            plot()


def test_plots_refuse_unfitted_and_non_kan_estimators():
    from sklearn.exceptions import NotFittedError
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(NotFittedError):
        plot_history(KANClassifier())
    X, y = load_digits(return_X_y=True)
    with pytest.raises(TypeError, match="KANClassifier"):
        plot_activations(LogisticRegression(max_iter=50).fit(X[:100], y[:100]))
