"""Figures of what a fitted KAN learned and how it trained.

matplotlib is optional (``pip install "sklearn-kan[plot]"``): it is imported inside
each function, so importing this module never needs it. Every function draws into
new axes (or the ``ax`` given), returns the matplotlib
:class:`~matplotlib.figure.Figure`, and never calls ``plt.show()``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from .inspection import (
    _attribution,
    _check_layer,
    _check_nodes,
    _edge_scores,
    _forward_batched,
    _locate,
    _node_names,
    _sample_edges,
    activation_curves,
    pixel_importance,
)

__all__ = ["plot_activations", "plot_history", "plot_pixel_importance"]

# Panels drawn by default (inputs x outputs) when a layer is larger: the most
# important ones when X is given, else the first ones.
_MAX_DEFAULT = 6


def plot_activations(
    estimator,
    layer: int = 0,
    inputs: int | Sequence[int] | None = None,
    outputs: int | Sequence[int] | None = None,
    X=None,
    ax=None,
):
    """Plot the learned edge functions of one layer as a grid of panels.

    Row ``a`` shows the edges leaving input ``inputs[a]`` of the layer, column ``b``
    the edges entering output ``outputs[b]``. Each curve is sampled over its input's
    grid range by :func:`~sklearn_kan.inspection.activation_curves`; for layer 0 the
    x axis is in the units of the estimator's features. The shaded band is the grid
    range (where the splines live; outside it only the SiLU part of an edge
    varies). With ``X``, a grey histogram behind each curve shows where the data
    falls, and the curves are extended to cover it.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        A fitted KAN estimator, or a pipeline ending in one.
    layer : int, default=0
        Index of the KAN layer (negative values count from the end).
    inputs : int, sequence of int or None, default=None
        Input nodes of the layer (rows). None takes all of them for a layer of at
        most 6 inputs, else 6: the most important on ``X``
        (:func:`~sklearn_kan.inspection.input_importance`'s node scores) when ``X``
        is given, the first 6 otherwise.
    outputs : int, sequence of int or None, default=None
        Output nodes of the layer (columns), chosen like ``inputs``.
    X : array-like, default=None
        Samples as the estimator takes them, to show the data's distribution on
        each input and to choose the nodes.
    ax : matplotlib Axes or array of Axes, default=None
        Where to draw: as many axes as panels (any shape, filled row by row). None
        makes a new figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure holding the panels.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_kan import KANClassifier
    >>> from sklearn_kan.plotting import plot_activations
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = KANClassifier(hidden_layer_sizes=(3,), max_epochs=5, random_state=0).fit(X, y)
    >>> fig = plot_activations(clf, layer=0, X=X)  # doctest: +SKIP
    >>> fig.savefig("activations.png")  # doctest: +SKIP
    """
    plt = _pyplot()
    view = _locate(estimator)
    index = _check_layer(view, layer)
    kan_layer = view.kan.layers[index]
    x_layer = None
    node_scores = None
    if X is not None:
        x_kan = view.kan_inputs(X)
        x_layer = x_kan
        with torch.no_grad():
            for i, previous in enumerate(view.kan.layers[:index]):
                x_layer = view.kan.hidden_input(i, _forward_batched(previous, x_layer))
        if inputs is None or outputs is None:
            nodes, _ = _attribution(_edge_scores(view.kan, x_kan, centered=True))
            node_scores = [n.mean(axis=0) for n in nodes]
    inputs = _default_nodes(inputs, kan_layer.in_features, node_scores, index, "inputs")
    outputs = _default_nodes(outputs, kan_layer.out_features, node_scores, index + 1, "outputs")
    curves = activation_curves(view.owner, index, inputs, outputs, n_points=200)
    n_in, n_out = len(curves.inputs), len(curves.outputs)
    xs, ys = curves.x, curves.y
    grid_lo, grid_hi = xs[:, 0].copy(), xs[:, -1].copy()
    data = None
    if x_layer is not None:
        data = x_layer[:, torch.as_tensor(curves.inputs)].cpu().double().numpy()
        # Data outside the grid still reaches the edge (through its SiLU part):
        # draw the function wherever the data is too.
        lo = np.minimum(grid_lo, data.min(axis=0))
        hi = np.maximum(grid_hi, data.max(axis=0))
        xs, ys = _sample_edges(kan_layer, curves.inputs, curves.outputs, lo, hi, 200)
    original = curves.x_original is not None
    if original:
        xs = view.to_feature_units(xs, curves.inputs)
        grid_lo = view.to_feature_units(grid_lo, curves.inputs)
        grid_hi = view.to_feature_units(grid_hi, curves.inputs)
        if data is not None:
            data = view.to_feature_units(data.T, curves.inputs).T

    if ax is None:
        fig, axes = plt.subplots(
            n_in, n_out, figsize=(2.3 * n_out + 0.5, 1.8 * n_in + 0.6), squeeze=False
        )
    else:
        axes = np.asarray(ax, dtype=object)
        if axes.size != n_in * n_out:
            raise ValueError(
                f"ax holds {axes.size} axes, but {n_in} inputs x {n_out} outputs = "
                f"{n_in * n_out} panels are drawn."
            )
        axes = axes.reshape(n_in, n_out)
        fig = axes[0, 0].figure

    out_names = _output_names(view, index)
    for a in range(n_in):
        for b in range(n_out):
            panel = axes[a, b]
            if data is not None:
                # Behind the curve, on its own y scale: where the data falls.
                hist = panel.twinx()
                hist.hist(data[:, a], bins=30, color="0.6", alpha=0.35)
                hist.set_yticks([])
                panel.set_zorder(hist.get_zorder() + 1)
                panel.patch.set_visible(False)
            panel.axvspan(grid_lo[a], grid_hi[a], color="C0", alpha=0.06, lw=0)
            panel.plot(xs[a], ys[a, b], color="C0", lw=1.6)
            panel.axhline(0, color="0.8", lw=0.6, zorder=0)
            panel.tick_params(labelsize=7)
            if a == 0:
                panel.set_title(f"to {out_names[curves.outputs[b]]}", fontsize=8)
            if b == 0:
                panel.set_ylabel(f"from {curves.input_names[a]}", fontsize=8)
    units = "in feature units" if original else "as the layer receives it"
    fig.suptitle(f"Learned edge functions phi of layer {index}", fontsize=10)
    fig.supxlabel(f"input value ({units})", fontsize=9)
    if ax is None:
        fig.tight_layout()
    return fig


def plot_pixel_importance(
    estimator,
    X,
    image_shape: Sequence[int] | None = None,
    per_class: bool = False,
    ax=None,
):
    """Show :func:`~sklearn_kan.inspection.pixel_importance` as an image.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        A fitted KAN estimator whose KAN reads the pixels, or a pipeline ending in
        one (through a ``Downsample`` step the map is at the original resolution).
    X : array-like
        Images as the estimator (or pipeline) takes them.
    image_shape : tuple of int, default=None
        Passed to :func:`~sklearn_kan.inspection.pixel_importance`.
    per_class : bool, default=False
        One map per class (output), on a common colour scale, instead of one map.
    ax : matplotlib Axes or array of Axes, default=None
        One axes, or with ``per_class`` at least one per class (filled in order;
        extra axes are hidden). None makes a new figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure holding the map(s).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_kan import KANClassifier
    >>> from sklearn_kan.plotting import plot_pixel_importance
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = KANClassifier(hidden_layer_sizes=(8,), max_epochs=5, random_state=0).fit(X, y)
    >>> fig = plot_pixel_importance(clf, X, per_class=True)  # doctest: +SKIP
    """
    plt = _pyplot()
    maps = pixel_importance(estimator, X, image_shape, per_class=True)
    n_outputs = maps.shape[0]
    if maps.ndim == 4:  # channels: the importance of a pixel is that of its channels
        maps = maps.sum(axis=-1)
    if not per_class:
        maps = maps.mean(axis=0, keepdims=True)
    n_maps = len(maps)
    if ax is None:
        cols = min(n_maps, 5)
        rows = math.ceil(n_maps / cols)
        fig, axes = plt.subplots(
            rows, cols, figsize=(2.2 * cols + 1.8, 2.2 * rows + 0.6), layout="constrained"
        )
        axes = np.atleast_1d(axes).ravel()
    else:
        axes = np.atleast_1d(np.asarray(ax, dtype=object)).ravel()
        if len(axes) < n_maps:
            raise ValueError(f"ax holds {len(axes)} axes, but {n_maps} maps are drawn.")
        fig = axes[0].figure
    vmax = float(maps.max()) or 1.0
    names = _output_names(_locate(estimator), -1)
    image = None
    for k, panel in enumerate(axes):
        if k >= n_maps:
            panel.set_visible(False)
            continue
        image = panel.imshow(maps[k], cmap="magma", vmin=0, vmax=vmax)
        panel.set_xticks([])
        panel.set_yticks([])
        if per_class:
            panel.set_title(str(names[k]) if k < n_outputs else "", fontsize=9)
    fig.colorbar(image, ax=list(axes[:n_maps]), shrink=0.8, label="share of output variation")
    title = "Pixel importance" + (" per class" if per_class else "")
    fig.suptitle(f"{title} ({maps.shape[1]} x {maps.shape[2]} pixels)", fontsize=10)
    return fig


def plot_history(estimator, ax=None):
    """Plot the loss (and accuracy, when recorded) of every training epoch.

    Reads the skorch ``history_`` of the fitted estimator: ``train_loss``, and
    ``valid_loss`` when a validation split was used (``early_stopping=True``).
    Accuracy is plotted only for columns the history holds whose name contains
    ``"acc"`` (e.g. from ``callbacks=[skorch.callbacks.EpochScoring("accuracy",
    name="valid_acc")]``); nothing is computed after the fact.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        A fitted KAN estimator, or a pipeline ending in one.
    ax : matplotlib Axes or pair of Axes, default=None
        Where to draw: one axes for the loss, or two for loss and accuracy (with
        one axes and a recorded accuracy, the accuracy goes on a twin y axis). None
        makes a new figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure holding the curves.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_kan import KANClassifier
    >>> from sklearn_kan.plotting import plot_history
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = KANClassifier(hidden_layer_sizes=(3,), max_epochs=5, random_state=0).fit(X, y)
    >>> fig = plot_history(clf)  # doctest: +SKIP
    """
    plt = _pyplot()
    history = _locate(estimator).estimator.history_
    if len(history) == 0:
        raise ValueError("The estimator's history_ is empty: it has not trained an epoch.")
    epochs = np.array([row.get("epoch", i + 1) for i, row in enumerate(history)])
    losses = _columns(history, lambda k: k.endswith("loss") and "batch" not in k)
    accuracies = _columns(history, lambda k: "acc" in k and not k.endswith("_best"))

    if ax is None:
        n_panels = 2 if accuracies else 1
        fig, axes = plt.subplots(1, n_panels, figsize=(4.5 * n_panels, 3.4), squeeze=False)
        loss_ax = axes[0, 0]
        acc_ax = axes[0, 1] if accuracies else None
    else:
        axes = np.atleast_1d(np.asarray(ax, dtype=object)).ravel()
        loss_ax = axes[0]
        acc_ax = None
        if accuracies:
            acc_ax = axes[1] if len(axes) > 1 else loss_ax.twinx()
        fig = loss_ax.figure
    for name, values in losses.items():
        loss_ax.plot(epochs, values, marker=".", label=name)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.legend(fontsize=8)
    if acc_ax is not None:
        for i, (name, values) in enumerate(accuracies.items()):
            acc_ax.plot(epochs, values, marker=".", ls="--", color=f"C{i + 2}", label=name)
        acc_ax.set_ylabel("accuracy")
        acc_ax.legend(fontsize=8, loc="lower right")
        if acc_ax is not loss_ax and acc_ax.get_xlabel() == "":
            acc_ax.set_xlabel("epoch")
    fig.suptitle("Training history", fontsize=10)
    if ax is None:
        fig.tight_layout()
    return fig


# -- private --------------------------------------------------------------------


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "sklearn_kan.plotting needs matplotlib, which is not installed. Install the "
            'plotting extra: pip install "sklearn-kan[plot]"'
        ) from exc
    return plt


def _default_nodes(nodes, n: int, node_scores, position: int, name: str) -> np.ndarray:
    """The given nodes, or all of a small layer, or the most important / first ones."""
    if nodes is not None:
        return _check_nodes(nodes, n, name)
    if n <= _MAX_DEFAULT:
        return np.arange(n)
    if node_scores is None:
        return np.arange(_MAX_DEFAULT)
    # The most important, shown in their natural order.
    return np.sort(np.argsort(node_scores[position])[::-1][:_MAX_DEFAULT])


def _output_names(view, layer: int) -> np.ndarray:
    """Names of the output nodes of ``layer``: classes for a classifier's last layer."""
    n_layers = len(view.kan.layers)
    index = layer % n_layers
    n = view.kan.layers[index].out_features
    if index == n_layers - 1:
        classes = getattr(view.estimator, "classes_", None)
        if classes is not None and len(classes) == n:
            return np.asarray([f"class {c}" for c in classes], dtype=object)
        return np.asarray([f"output {o}" for o in range(n)], dtype=object)
    return _node_names(view, index + 1)


def _columns(history, keep) -> dict[str, np.ndarray]:
    """History columns whose name passes ``keep`` and that every epoch recorded."""
    names = [k for k in history[-1] if keep(k)]
    columns = {}
    for name in names:
        values = [row.get(name) for row in history]
        if all(isinstance(v, int | float | np.floating | np.integer) for v in values):
            columns[name] = np.asarray(values, dtype=float)
    return columns
