import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline

from sklearn_kan import KANClassifier, KANRegressor
from sklearn_kan.preprocessing import Downsample

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sklearn_kan.plotting import (  # noqa: E402
    plot_activations,
    plot_history,
    plot_pixel_importance,
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
    path = tmp_path / f"{name}.png"
    fig.savefig(path)
    assert path.stat().st_size > 1000
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
    _saved(fig, tmp_path, "regressor")


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
