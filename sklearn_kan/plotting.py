"""Figures of what a fitted KAN learned and how it trained.

Each figure is a display object in scikit-learn's convention (like
:class:`~sklearn.metrics.ConfusionMatrixDisplay`): ``Display.from_estimator(...)``
computes the data from a fitted estimator and draws it; the display holds that data
as attributes and :meth:`plot` draws it again (``plot(ax=...)``, other axes), setting
``figure_`` and ``axes_``. The functions :func:`plot_activations`,
:func:`plot_pixel_importance`, :func:`plot_pixel_map` and :func:`plot_history` are
shortcuts that return the display's figure.

matplotlib is optional (``pip install "sklearn-kan[plot]"``): it is imported only when
something is drawn, so importing this module never needs it. Nothing calls
``plt.show()``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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
    pixel_map,
)

__all__ = [
    "ActivationsDisplay",
    "HistoryDisplay",
    "PixelImportanceDisplay",
    "PixelMapDisplay",
    "plot_activations",
    "plot_history",
    "plot_pixel_importance",
    "plot_pixel_map",
]

# Panels drawn by default (inputs x outputs) when a layer is larger: the most
# important ones when X is given, else the first ones.
_MAX_DEFAULT = 6


# A Display holds its data as fields (scikit-learn's Display objects take them in
# __init__ and keep them as attributes); no value comparison or repr of arrays.
_display = dataclass(eq=False, repr=False)


@_display
class ActivationsDisplay:
    """The learned edge functions of one KAN layer, as a grid of panels.

    Row ``a`` shows the edges leaving input ``inputs[a]`` of the layer, column ``b``
    the edges entering output ``outputs[b]``. The shaded band of a panel is its
    input's grid range (where the splines live; outside it only the SiLU part of an
    edge varies); with data, a grey histogram behind each curve shows where the data
    falls. Build it with :meth:`from_estimator`.

    Parameters
    ----------
    x : ndarray of shape (n_inputs, n_points)
        Where each input's curves are sampled.
    y : ndarray of shape (n_inputs, n_outputs, n_points)
        ``phi(x)`` of every edge drawn.
    grid_range : ndarray of shape (n_inputs, 2)
        The grid interval of each input, in the units of ``x``.
    input_names, output_names : array-like of str
        Row and column labels.
    layer : int
        Index of the layer, for the title.
    data : ndarray of shape (n_samples, n_inputs), default=None
        The inputs the layer received, for the histograms.
    feature_units : bool, default=False
        Whether ``x`` is in the units of the estimator's features (layer 0) rather
        than as the layer receives it; only changes the axis label.

    Attributes
    ----------
    figure_ : matplotlib Figure
        The figure drawn into by :meth:`plot`.
    axes_ : ndarray of matplotlib Axes of shape (n_inputs, n_outputs)
        One panel per edge.

    See Also
    --------
    sklearn_kan.inspection.activation_curves : The curves as arrays.
    plot_activations : Draw them and return the figure.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_kan import KANRegressor
    >>> from sklearn_kan.plotting import ActivationsDisplay
    >>> X = np.linspace(-1, 1, 100).reshape(-1, 1)
    >>> reg = KANRegressor(hidden_layer_sizes=(2,), max_epochs=5, random_state=0)
    >>> display = ActivationsDisplay.from_estimator(reg.fit(X, X[:, 0] ** 2), X=X)
    >>> display.y.shape, display.axes_.shape  # 1 input x 2 hidden nodes, 200 points
    ((1, 2, 200), (1, 2))
    """

    x: np.ndarray
    y: np.ndarray
    grid_range: np.ndarray
    input_names: Sequence[str]
    output_names: Sequence[str]
    layer: int
    data: np.ndarray | None = None
    feature_units: bool = False

    @classmethod
    def from_estimator(
        cls,
        estimator,
        layer: int = 0,
        inputs: int | Sequence[int] | None = None,
        outputs: int | Sequence[int] | None = None,
        X=None,
        ax=None,
    ) -> ActivationsDisplay:
        """Sample the edge functions of a fitted KAN's layer and draw them.

        The curves come from :func:`~sklearn_kan.inspection.activation_curves`,
        over each input's grid range; for layer 0 the x axis is in the units of the
        estimator's features. With ``X``, the curves are extended to cover the data.

        Parameters
        ----------
        estimator : fitted estimator or Pipeline
            As in :func:`~sklearn_kan.inspection.activation_curves`.
        layer : int, default=0
            As in :func:`~sklearn_kan.inspection.activation_curves`.
        inputs : int, sequence of int or None, default=None
            Input nodes of the layer (rows). None takes all of them for a layer of
            at most 6 inputs, else 6: the most important on ``X``
            (:func:`~sklearn_kan.inspection.input_importance`'s node scores) when
            ``X`` is given, the first 6 otherwise.
        outputs : int, sequence of int or None, default=None
            Output nodes of the layer (columns), chosen like ``inputs``.
        X : array-like, default=None
            Samples as the estimator takes them, to show the data's distribution
            on each input and to choose the nodes.
        ax : matplotlib Axes or array of Axes, default=None
            Passed to :meth:`plot`.

        Returns
        -------
        display : ActivationsDisplay
            Holding the curves (``x``, ``y``, ``grid_range``, ``data``), drawn into
            ``figure_`` and ``axes_``.
        """
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
        out_names = _output_names(view, index)[curves.outputs]
        display = cls(
            xs,
            ys,
            np.stack([grid_lo, grid_hi], axis=1),
            np.asarray(curves.input_names, dtype=object),
            out_names,
            index,
            data=data,
            feature_units=original,
        )
        return display.plot(ax=ax)

    def plot(self, ax=None) -> ActivationsDisplay:
        """Draw the panels.

        Parameters
        ----------
        ax : matplotlib Axes or array of Axes, default=None
            As many axes as panels (any shape, filled row by row). None makes a new
            figure.

        Returns
        -------
        display : ActivationsDisplay
            ``self``, with ``figure_`` and ``axes_`` set.
        """
        plt = _pyplot()
        n_in, n_out = self.y.shape[:2]
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
        for a in range(n_in):
            for b in range(n_out):
                panel = axes[a, b]
                if self.data is not None:
                    # Behind the curve, on its own y scale: where the data falls.
                    hist = panel.twinx()
                    hist.hist(self.data[:, a], bins=30, color="0.6", alpha=0.35)
                    hist.set_yticks([])
                    panel.set_zorder(hist.get_zorder() + 1)
                    panel.patch.set_visible(False)
                panel.axvspan(*self.grid_range[a], color="C0", alpha=0.06, lw=0)
                panel.plot(self.x[a], self.y[a, b], color="C0", lw=1.6)
                panel.axhline(0, color="0.8", lw=0.6, zorder=0)
                panel.tick_params(labelsize=7)
                if a == 0:
                    panel.set_title(f"to {self.output_names[b]}", fontsize=8)
                if b == 0:
                    panel.set_ylabel(f"from {self.input_names[a]}", fontsize=8)
        units = "in feature units" if self.feature_units else "as the layer receives it"
        fig.suptitle(f"Learned edge functions phi of layer {self.layer}", fontsize=10)
        fig.supxlabel(f"input value ({units})", fontsize=9)
        if ax is None:
            fig.tight_layout()
        self.figure_, self.axes_ = fig, axes
        return self


@_display
class PixelImportanceDisplay:
    """Pixel importance maps, one per class or their mean, on one colour scale.

    Build it with :meth:`from_estimator`.

    Parameters
    ----------
    maps : ndarray of shape (n_maps, height, width)
        Importance of each pixel (summed over channels), each map summing to 1.
    names : array-like of str or None, default=None
        A title per map (the class names when ``per_class``), or None.

    Attributes
    ----------
    figure_ : matplotlib Figure
        The figure drawn into by :meth:`plot`.
    axes_ : ndarray of matplotlib Axes
        The axes the maps are in (extra axes given to :meth:`plot` are hidden).
    images_ : list of matplotlib AxesImage
        One image per map.

    See Also
    --------
    sklearn_kan.inspection.pixel_importance : The maps as arrays.
    sklearn_kan.inspection.input_importance : The same scores as a vector.
    plot_pixel_importance : Draw them and return the figure.
    PixelMapDisplay : Pixel maps of any image model.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_kan import KANClassifier
    >>> from sklearn_kan.plotting import PixelImportanceDisplay
    >>> digits = load_digits()
    >>> clf = KANClassifier(hidden_layer_sizes=(8,), max_epochs=5, random_state=0)
    >>> clf = clf.fit(digits.data, digits.target)
    >>> display = PixelImportanceDisplay.from_estimator(clf, digits.data, per_class=True)
    >>> display.maps.shape, display.names[3]
    ((10, 8, 8), 'class 3')
    """

    maps: np.ndarray
    names: Sequence[str] | None = None

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        image_shape: Sequence[int] | None = None,
        per_class: bool = False,
        ax=None,
    ) -> PixelImportanceDisplay:
        """Compute :func:`~sklearn_kan.inspection.pixel_importance` and draw it.

        Parameters
        ----------
        estimator : fitted estimator or Pipeline
            A fitted KAN estimator whose KAN reads the pixels, or a pipeline ending
            in one (through a ``Downsample`` step the map is at the original
            resolution).
        X : array-like
            Images as the estimator (or pipeline) takes them.
        image_shape : tuple of int, default=None
            Passed to :func:`~sklearn_kan.inspection.pixel_importance`.
        per_class : bool, default=False
            One map per class (output) instead of their mean.
        ax : matplotlib Axes or array of Axes, default=None
            Passed to :meth:`plot`.

        Returns
        -------
        display : PixelImportanceDisplay
            Holding the maps, drawn.
        """
        maps = pixel_importance(estimator, X, image_shape, per_class=True)
        if maps.ndim == 4:  # channels: the importance of a pixel is that of its channels
            maps = maps.sum(axis=-1)
        names = None
        if per_class:
            names = _output_names(_locate(estimator), -1)
        else:
            maps = maps.mean(axis=0, keepdims=True)
        return cls(maps, names).plot(ax=ax)

    def plot(self, ax=None, cmap: str = "magma") -> PixelImportanceDisplay:
        """Draw the maps.

        Parameters
        ----------
        ax : matplotlib Axes or array of Axes, default=None
            One axes per map at least (filled in order; extra axes are hidden).
            None makes a new figure, five maps to a row.
        cmap : str, default="magma"
            The colour map.

        Returns
        -------
        display : PixelImportanceDisplay
            ``self``, with ``figure_``, ``axes_`` and ``images_`` set.
        """
        title = "Pixel importance" + (" per class" if self.names is not None else "")
        return _draw_maps(self, ax, cmap, title, "share of output variation")


@_display
class PixelMapDisplay:
    """Pixel maps of any image model, one per class or their mean, on one colour scale.

    The maps of :func:`~sklearn_kan.inspection.pixel_map`: the KAN's own scores,
    integrated gradients, gradient x input or occlusion (see there for what each
    means). Build it with :meth:`from_estimator`.

    Parameters
    ----------
    maps : ndarray of shape (n_maps, height, width)
        Each map's share of each pixel (summed over channels), summing to 1; a map of
        NaN (a class that no sample targets) is drawn blank.
    names : array-like of str or None, default=None
        A title per map (the class names when ``per_class``), or None.
    method : str, default="integrated_gradients"
        The method that made the maps, for the title and the colour bar.

    Attributes
    ----------
    figure_ : matplotlib Figure
        The figure drawn into by :meth:`plot`.
    axes_ : ndarray of matplotlib Axes
        The axes the maps are in (extra axes given to :meth:`plot` are hidden).
    images_ : list of matplotlib AxesImage
        One image per map.

    See Also
    --------
    sklearn_kan.inspection.pixel_map : The maps as arrays, and the attributions.
    PixelImportanceDisplay : The KAN's own scores, as this display draws them.
    plot_pixel_map : Draw them and return the figure.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_kan import HybridKANClassifier
    >>> from sklearn_kan.plotting import PixelMapDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = HybridKANClassifier("linear", max_epochs=3, random_state=0).fit(X / 16, y)
    >>> display = PixelMapDisplay.from_estimator(clf, X[:200] / 16, y[:200], per_class=True)
    >>> display.maps.shape, display.names[3], display.method
    ((10, 8, 8), 'class 3', 'integrated_gradients')
    """

    maps: np.ndarray
    names: Sequence[str] | None = None
    method: str = "integrated_gradients"

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y=None,
        *,
        method: str = "auto",
        per_class: bool = False,
        baseline=0.0,
        n_steps: int = 32,
        patch_size=None,
        image_shape: Sequence[int] | None = None,
        ax=None,
    ) -> PixelMapDisplay:
        """Compute :func:`~sklearn_kan.inspection.pixel_map` and draw it.

        Parameters
        ----------
        estimator : fitted estimator or Pipeline
            Any fitted classifier or single-output regressor that takes images, or a
            pipeline ending in one.
        X : array-like
            Images as the estimator (or pipeline) takes them.
        y : array-like of shape (n_samples,), default=None
            The class to attribute for each image; None takes the predicted class.
        method : {"auto", "kan", "integrated_gradients", "gradient_x_input", \
                "occlusion"}, default="auto"
            Passed to :func:`~sklearn_kan.inspection.pixel_map`.
        per_class : bool, default=False
            One map per class instead of their mean.
        baseline : float, "mean" or array-like, default=0.0
            Passed to :func:`~sklearn_kan.inspection.pixel_map`.
        n_steps : int, default=32
            Passed to :func:`~sklearn_kan.inspection.pixel_map`.
        patch_size : int, (int, int) or None, default=None
            Passed to :func:`~sklearn_kan.inspection.pixel_map`.
        image_shape : tuple of int, default=None
            Passed to :func:`~sklearn_kan.inspection.pixel_map`.
        ax : matplotlib Axes or array of Axes, default=None
            Passed to :meth:`plot`.

        Returns
        -------
        display : PixelMapDisplay
            Holding the maps, drawn.
        """
        result = pixel_map(
            estimator,
            X,
            y,
            method=method,
            baseline=baseline,
            n_steps=n_steps,
            patch_size=patch_size,
            image_shape=image_shape,
        )
        maps = result.maps if per_class else result.average[np.newaxis]
        if maps.ndim == 4:  # channels: a pixel's share is that of its channels
            maps = maps.sum(axis=-1)
        names = None
        if per_class:
            if result.classes is None:
                names = np.asarray(["output 0"], dtype=object)
            else:
                names = np.asarray([f"class {c}" for c in result.classes], dtype=object)
        return cls(maps, names, result.method).plot(ax=ax)

    def plot(self, ax=None, cmap: str = "magma") -> PixelMapDisplay:
        """Draw the maps.

        Parameters
        ----------
        ax : matplotlib Axes or array of Axes, default=None
            One axes per map at least (filled in order; extra axes are hidden).
            None makes a new figure, five maps to a row.
        cmap : str, default="magma"
            The colour map.

        Returns
        -------
        display : PixelMapDisplay
            ``self``, with ``figure_``, ``axes_`` and ``images_`` set.
        """
        title = _METHOD_TITLES.get(self.method, self.method)
        title += " per class" if self.names is not None else ""
        label = "share of output variation" if self.method == "kan" else "share of |attribution|"
        return _draw_maps(self, ax, cmap, title, label)


@_display
class HistoryDisplay:
    """Loss (and accuracy, when recorded) of every training epoch.

    Build it with :meth:`from_estimator`, which reads the skorch ``history_``.

    Parameters
    ----------
    epochs : ndarray of shape (n_epochs,)
        Epoch numbers.
    losses : dict of str to ndarray of shape (n_epochs,)
        Loss curves by history column (``train_loss``, ``valid_loss``).
    accuracies : dict of str to ndarray of shape (n_epochs,), default=None
        Accuracy curves by history column; drawn on a second axes.

    Attributes
    ----------
    figure_ : matplotlib Figure
        The figure drawn into by :meth:`plot`.
    axes_ : ndarray of matplotlib Axes
        The loss axes, then the accuracy axes when accuracies are drawn.

    See Also
    --------
    plot_history : Draw it and return the figure.
    sklearn.metrics.ConfusionMatrixDisplay : The scikit-learn display it is modelled on.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_kan import KANClassifier, plotting
    >>> clf = KANClassifier(max_epochs=5, early_stopping=True, random_state=0)
    >>> clf = clf.fit(*load_iris(return_X_y=True))
    >>> display = plotting.HistoryDisplay.from_estimator(clf)
    >>> display.epochs.tolist(), list(display.losses)  # early stopping validates
    ([1, 2, 3, 4, 5], ['train_loss', 'valid_loss'])
    """

    epochs: np.ndarray
    losses: dict[str, np.ndarray]
    accuracies: dict[str, np.ndarray] | None = None

    @classmethod
    def from_estimator(cls, estimator, ax=None) -> HistoryDisplay:
        """Read a fitted estimator's history and draw it.

        ``train_loss`` is always drawn, ``valid_loss`` when a validation split was
        used (``early_stopping=True``). Accuracy is drawn only for columns the
        history holds whose name contains ``"acc"`` (e.g. from
        ``callbacks=[skorch.callbacks.EpochScoring("accuracy", name="valid_acc")]``);
        nothing is computed after the fact.

        Parameters
        ----------
        estimator : fitted estimator or Pipeline
            A fitted KAN estimator, or a pipeline ending in one.
        ax : matplotlib Axes or pair of Axes, default=None
            Passed to :meth:`plot`.

        Returns
        -------
        display : HistoryDisplay
            Holding the curves (``epochs``, ``losses``, ``accuracies``), drawn into
            ``figure_`` and ``axes_``.
        """
        history = _locate(estimator).estimator.history_
        if len(history) == 0:
            raise ValueError("The estimator's history_ is empty: it has not trained an epoch.")
        epochs = np.array([row.get("epoch", i + 1) for i, row in enumerate(history)])
        losses = _columns(history, lambda k: k.endswith("loss") and "batch" not in k)
        accuracies = _columns(history, lambda k: "acc" in k and not k.endswith("_best"))
        return cls(epochs, losses, accuracies).plot(ax=ax)

    def plot(self, ax=None) -> HistoryDisplay:
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes or pair of Axes, default=None
            One axes for the loss, or two for loss and accuracy (with one axes and
            accuracies to draw, they go on a twin y axis). None makes a new figure.

        Returns
        -------
        display : HistoryDisplay
            ``self``, with ``figure_`` and ``axes_`` set.
        """
        plt = _pyplot()
        accuracies = self.accuracies or {}
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
        for name, values in self.losses.items():
            loss_ax.plot(self.epochs, values, marker=".", label=name)
        loss_ax.set_xlabel("epoch")
        loss_ax.set_ylabel("loss")
        loss_ax.legend(fontsize=8)
        if acc_ax is not None:
            for i, (name, values) in enumerate(accuracies.items()):
                acc_ax.plot(self.epochs, values, marker=".", ls="--", color=f"C{i + 2}", label=name)
            acc_ax.set_ylabel("accuracy")
            acc_ax.legend(fontsize=8, loc="lower right")
            if acc_ax is not loss_ax and acc_ax.get_xlabel() == "":
                acc_ax.set_xlabel("epoch")
        fig.suptitle("Training history", fontsize=10)
        if ax is None:
            fig.tight_layout()
        self.figure_ = fig
        self.axes_ = np.asarray([loss_ax] if acc_ax is None else [loss_ax, acc_ax], dtype=object)
        return self


def plot_activations(
    estimator,
    layer: int = 0,
    inputs: int | Sequence[int] | None = None,
    outputs: int | Sequence[int] | None = None,
    X=None,
    ax=None,
):
    """Plot the learned edge functions of one layer as a grid of panels.

    A shortcut for ``ActivationsDisplay.from_estimator(...).figure_``; see
    :class:`ActivationsDisplay` for what is drawn and the parameters.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure holding the panels.
    """
    return ActivationsDisplay.from_estimator(estimator, layer, inputs, outputs, X, ax).figure_


def plot_pixel_importance(
    estimator,
    X,
    image_shape: Sequence[int] | None = None,
    per_class: bool = False,
    ax=None,
):
    """Show :func:`~sklearn_kan.inspection.pixel_importance` as an image.

    A shortcut for ``PixelImportanceDisplay.from_estimator(...).figure_``; see
    :class:`PixelImportanceDisplay` for the parameters.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure holding the map(s).
    """
    display = PixelImportanceDisplay.from_estimator(estimator, X, image_shape, per_class, ax)
    return display.figure_


def plot_pixel_map(estimator, X, y=None, *, method: str = "auto", per_class: bool = False, ax=None):
    """Show :func:`~sklearn_kan.inspection.pixel_map` as images.

    A shortcut for ``PixelMapDisplay.from_estimator(...).figure_`` with the default
    baseline, steps and patches; see :class:`PixelMapDisplay` for the parameters.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure holding the map(s).
    """
    display = PixelMapDisplay.from_estimator(
        estimator, X, y, method=method, per_class=per_class, ax=ax
    )
    return display.figure_


def plot_history(estimator, ax=None):
    """Plot the loss (and accuracy, when recorded) of every training epoch.

    A shortcut for ``HistoryDisplay.from_estimator(estimator, ax).figure_``; see
    :class:`HistoryDisplay` for what is drawn and the parameters.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure holding the curves.
    """
    return HistoryDisplay.from_estimator(estimator, ax).figure_


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


_METHOD_TITLES = {
    "kan": "Pixel importance (KAN scores)",
    "integrated_gradients": "Integrated gradients",
    "gradient_x_input": "Gradient x input",
    "occlusion": "Occlusion",
}


def _draw_maps(display, ax, cmap: str, title: str, label: str):
    """Draw ``display.maps`` (titled by ``display.names``) on one colour scale."""
    plt = _pyplot()
    maps = np.asarray(display.maps, dtype=float)
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
    finite = maps[np.isfinite(maps)]
    vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    images = []
    for k, panel in enumerate(axes):
        if k >= n_maps:
            panel.set_visible(False)
            continue
        images.append(panel.imshow(maps[k], cmap=cmap, vmin=0, vmax=vmax))
        panel.set_xticks([])
        panel.set_yticks([])
        if display.names is not None:
            name = str(display.names[k])
            if not np.isfinite(maps[k]).any():
                name += " (no samples)"
            panel.set_title(name, fontsize=9)
    fig.colorbar(images[-1], ax=list(axes[:n_maps]), shrink=0.8, label=label)
    fig.suptitle(f"{title} ({maps.shape[1]} x {maps.shape[2]} pixels)", fontsize=10)
    display.figure_, display.axes_, display.images_ = fig, axes[:n_maps], images
    return display


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


# -- the comparison figure (ComparisonReport.plot) -----------------------------


def _curves(estimators) -> list[np.ndarray]:
    """Training loss per epoch of each fold's fitted model, where it has one."""
    curves = []
    for est in estimators:
        if est is None:  # a failed fit
            continue
        last = est.steps[-1][1] if hasattr(est, "steps") else est
        history = getattr(last, "history_", None)
        if history is not None:
            curves.append(np.asarray(history[:, "train_loss"], dtype=float))
        elif getattr(last, "loss_curve_", None) is not None:
            curves.append(np.asarray(last.loss_curve_, dtype=float))
    return curves


def _draw_comparison(report, path):
    """The figure of a :class:`~sklearn_kan.model_selection.ComparisonReport`."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    from ._report import _main_metric, _rows

    rows = _rows(report.table)
    metric = _main_metric(report.table)
    fig = Figure(figsize=(15, 4.4), layout="constrained")
    left, middle, right = fig.subplots(1, 3)
    colors = {r["model"]: f"C{i}" for i, r in enumerate(rows)}
    for r in rows:
        if r["n_flops"] is None:
            continue
        left.errorbar(
            r["n_flops"],
            r[f"{metric}_mean"],
            yerr=r[f"{metric}_std"],
            fmt="o",
            capsize=4,
            color=colors[r["model"]],
        )
        left.annotate(
            r["model"],
            (r["n_flops"], r[f"{metric}_mean"]),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize=8,
        )
    counts = [r["n_flops"] for r in rows if r["n_flops"] is not None]
    if counts and max(counts) > 10 * min(counts):
        left.set_xscale("log")
    elif counts:
        left.set_xlim(0.7 * min(counts), 1.3 * max(counts))
    left.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    left.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    left.set_xlabel("forward FLOPs per sample")
    left.set_ylabel(f"{metric} (mean ± std over fits)")
    left.set_title(f"{report.title}: {metric} vs cost")
    left.grid(alpha=0.3)
    scale = 100 if metric == "accuracy" else 1
    for i, p in enumerate(report.pairs):
        mean, lo, hi = (scale * p[k] for k in ("mean_diff", "ci_low", "ci_high"))
        if not np.isfinite(mean):  # not tested: too few fits finished
            continue
        middle.errorbar(
            mean,
            i,
            xerr=[[mean - lo], [hi - mean]],
            fmt="o",
            capsize=4,
            color=colors[p["model"]],
        )
    middle.axvline(0, color="0.4", linewidth=1)
    middle.set_yticks(range(len(report.pairs)), [p["model"] for p in report.pairs])
    middle.invert_yaxis()
    unit = "points" if metric == "accuracy" else metric
    middle.set_xlabel(f"difference to {report.reference} ({unit}), 95% CI")
    middle.set_title("corrected resampled t-test")
    middle.grid(alpha=0.3)
    drawn = False
    for name, result in report.cv_results.items():
        curves = _curves(result["estimator"])
        if not curves:
            continue
        n = min(len(c) for c in curves)
        stacked = np.stack([c[:n] for c in curves])
        epochs = np.arange(1, n + 1)
        for c in stacked:
            right.plot(epochs, c, color=colors[name], alpha=0.25, linewidth=0.8)
        right.plot(epochs, stacked.mean(0), color=colors[name], label=name, linewidth=2)
        drawn = True
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_xlabel("epoch")
    right.set_ylabel("training loss")
    right.set_yscale("log")
    right.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    right.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    right.set_title("training curves (each fit; mean bold)")
    right.grid(alpha=0.3)
    if drawn:
        right.legend(fontsize=8)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
