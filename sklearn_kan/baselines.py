"""Baselines trained by the same loop as the KANs: an MLP and an end-to-end CNN.

A comparison is only fair when the models differ in their architecture and in
nothing else. :class:`TorchMLPClassifier`, :class:`TorchMLPRegressor` and
:class:`CNNClassifier` are the KAN estimators with another torch module: the
same skorch net, optimizer, learning-rate schedule, mini-batch loader, epochs,
early-stopping rule, seeding, input scaling and device. Only
``_build_module`` differs (see ``sklearn_kan._base.BaseKAN``).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from ._base import BaseKAN, _fit_channel_scaler, _fit_scaler, _store_params
from .classifier import _ATTRS_DOC, _PARAMS_DOC, HybridKANClassifier, KANClassifier
from .nn.models import MLP, HybridKAN, make_frontend
from .regressor import KANRegressor

__all__ = ["CNNClassifier", "TorchMLPClassifier", "TorchMLPRegressor"]

# The training parameters (optimizer .. warm_start) are the KAN estimators' own.
_TRAINING_DOC = "    optimizer : " + _PARAMS_DOC.split("    optimizer : ", 1)[1]
_TRAINING = (
    "optimizer",
    "lr",
    "lr_schedule",
    "weight_decay",
    "batch_size",
    "max_epochs",
    "early_stopping",
    "validation_fraction",
    "n_iter_no_change",
    "tol",
    "device",
    "dtype",
    "random_state",
    "verbose",
    "callbacks",
    "warm_start",
)

_MLP_PARAMS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Width of each hidden layer, as in ``MLPClassifier``.
    activation : {"relu", "tanh", "silu"}, default="relu"
        Activation of the hidden layers.
    input_scaling : {"minmax", "standard"} or None, default="minmax"
        The KAN estimators' input scaling, so that both see the same inputs:
        ``"minmax"`` maps each feature's training range onto ``[-1, 1]``,
        ``"standard"`` its mean to 0 and two standard deviations to -1 and 1,
        ``None`` feeds the inputs unchanged; constant features map to one point
        and the scaled inputs are clipped near their training range, as for the
        KAN estimators. Part of the fitted module.
"""


class _NotAKAN:
    # BaseKAN's training code reads these KAN settings; a baseline has no
    # grid, no KAN regularisation and no grid updates, so they are constants
    # here and not parameters (they are not in ``get_params``).
    grid_size = 5
    spline_order = 3
    basis = "bspline"
    grid_range = (-1.0, 1.0)
    hidden_norm = None
    grid_update_epochs = None
    grid_eps = 0.02
    grid_schedule = None
    lamb = 0.0
    lamb_l1 = 1.0
    lamb_entropy = 2.0
    class_weight = None


def _constraints(base: dict, **extra) -> dict:
    keep = {"hidden_layer_sizes", "input_scaling", *_TRAINING}
    return {**{k: v for k, v in base.items() if k in keep}, **extra}


class _MLPBaseline(_NotAKAN):
    # What TorchMLPClassifier and TorchMLPRegressor share: parameters and module.
    # (The classifier's extra constraint, ``class_weight``, is not kept.)
    _parameter_constraints: dict = _constraints(
        BaseKAN._parameter_constraints,
        activation=[StrOptions({"relu", "tanh", "silu"})],
    )
    _architecture_params = ("hidden_layer_sizes", "activation", "input_scaling")

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        *,
        activation="relu",
        input_scaling="minmax",
        optimizer="adam",
        lr=3e-3,
        lr_schedule="cosine",
        weight_decay=0.0,
        batch_size=128,
        max_epochs=30,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        device="auto",
        dtype="float32",
        random_state=None,
        verbose=0,
        callbacks=None,
        warm_start=False,
    ):
        _store_params(self, locals())

    def _build_module(self, X: np.ndarray, n_outputs: int, sample_weight=None) -> nn.Module:
        widths = [X.shape[1], *self._hidden_sizes(), n_outputs]
        (shift, scale), bounds = _fit_scaler(
            X, self.input_scaling, self._grid_range(), sample_weight
        )
        return MLP(widths, self.activation, shift, scale, input_bounds=bounds)


class TorchMLPClassifier(_MLPBaseline, KANClassifier):
    __doc__ = (
        """Multilayer perceptron classifier trained by the KAN estimators' loop.

    The network is ``Linear`` layers with ``activation`` between them
    (:class:`~sklearn_kan.nn.MLP`), behind the same input scaling as
    :class:`~sklearn_kan.KANClassifier`, trained with the same skorch net,
    optimizer, cosine learning-rate schedule, batches, epochs and seeding.
    This is the baseline of :func:`~sklearn_kan.model_selection.matched_mlp`;
    scikit-learn's ``MLPClassifier`` trains differently (constant learning
    rate, its own initialisation and batch loop).
"""
        + _MLP_PARAMS_DOC
        + _TRAINING_DOC
        + _ATTRS_DOC.replace("(input scaling + KAN)", "(:class:`~sklearn_kan.nn.MLP`)")
        + """    classes_ : ndarray of shape (n_classes,)
        Class labels.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : The same network, trained by scikit-learn.
    sklearn_kan.model_selection.matched_mlp : One with as many parameters or FLOPs as a KAN.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_kan.baselines import TorchMLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = TorchMLPClassifier(hidden_layer_sizes=(32,), max_epochs=20, random_state=0)
    >>> bool(clf.fit(X, y).score(X, y) > 0.95)
    True
    >>> clf.n_params_
    2410
"""
    )


class TorchMLPRegressor(_MLPBaseline, KANRegressor):
    __doc__ = (
        """Multilayer perceptron regressor trained by the KAN estimators' loop.

    :class:`TorchMLPClassifier` with :class:`~sklearn_kan.KANRegressor`'s
    target standardisation and squared-error loss.
"""
        + _MLP_PARAMS_DOC
        + _TRAINING_DOC
        + _ATTRS_DOC.replace("(input scaling + KAN)", "(:class:`~sklearn_kan.nn.MLP`)")
        + """
    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_kan.baselines import TorchMLPRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(300, 2))
    >>> y = X[:, 0] - 2 * X[:, 1]
    >>> reg = TorchMLPRegressor((16,), max_epochs=100, random_state=0).fit(X, y)
    >>> bool(reg.score(X, y) > 0.9)
    True
"""
    )


class CNNClassifier(_NotAKAN, HybridKANClassifier):
    __doc__ = (
        """Convolutional network classifier, end to end, trained by the KAN estimators' loop.

    The network is :class:`HybridKANClassifier`'s ``"conv"`` front end (per
    entry of ``conv_channels``: conv 3x3, BatchNorm, ReLU, max-pool 2; then a
    linear map to ``frontend_features`` and BatchNorm) followed by ReLU and a
    linear classifier instead of a KAN head: a plain CNN, trained with the same
    loop, scaling and seeding as the KAN models, so that it is the
    ``hybrid-conv`` model with an MLP head. Images are read as
    :class:`HybridKANClassifier` reads them.

    Parameters
    ----------
    image_shape : tuple of int or None, default=None
        How flat rows are read as images, as in :class:`HybridKANClassifier`.
    frontend_features : int, default=64
        Width of the dense layer after the convolutions.
    conv_channels : sequence of int, default=(16, 32)
        Output channels of the convolution blocks, one block per entry.
    input_scaling : {"minmax", "standard"} or None, default="minmax"
        Per-channel pixel scaling, as in :class:`HybridKANClassifier`.
"""
        + _TRAINING_DOC
        + _ATTRS_DOC.replace("(input scaling + KAN)", "(front end + linear head)")
        + """    classes_ : ndarray of shape (n_classes,)
        Class labels.
    image_shape_ : tuple of int
        ``(height, width, channels)`` of the training images.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_kan.baselines import CNNClassifier
    >>> digits = load_digits()
    >>> clf = CNNClassifier(max_epochs=5, random_state=0).fit(digits.images, digits.target)
    >>> bool(clf.score(digits.images, digits.target) > 0.95)
    True
"""
    )

    hidden_layer_sizes = ()
    frontend = "conv"

    _parameter_constraints: dict = {
        **_constraints(KANClassifier._parameter_constraints),
        "image_shape": [tuple, list, None],
        "frontend_features": [Interval(numbers.Integral, 1, None, closed="left")],
        "conv_channels": ["array-like"],
    }

    def __init__(
        self,
        *,
        image_shape=None,
        frontend_features=64,
        conv_channels=(16, 32),
        input_scaling="minmax",
        optimizer="adam",
        lr=3e-3,
        lr_schedule="cosine",
        weight_decay=0.0,
        batch_size=128,
        max_epochs=30,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        device="auto",
        dtype="float32",
        random_state=None,
        verbose=0,
        callbacks=None,
        warm_start=False,
    ):
        _store_params(self, locals())

    _architecture_params = ("image_shape", "frontend_features", "conv_channels", "input_scaling")

    def fit(self, X, y, sample_weight=None):
        """Train the network on images ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or images
            Training images (see :class:`~sklearn_kan.HybridKANClassifier`).
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss and in the BatchNorm layers' batch
            statistics (an integer ``k`` counts a sample as ``k`` copies).

        Returns
        -------
        self : CNNClassifier
            The fitted classifier.
        """
        return self._fit(X, y, sample_weight=sample_weight)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch on ``(X, y)``, continuing from the current network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or images
            Training images.
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), default=None
            All the classes; required on the first call.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample, as in :meth:`fit`.

        Returns
        -------
        self : CNNClassifier
            The updated classifier.
        """
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)

    def _build_module(self, X: np.ndarray, n_outputs: int, sample_weight=None) -> nn.Module:
        channels, height, width = X.shape[1:]
        frontend = make_frontend(
            "conv", (channels, height, width), self.frontend_features, self._conv_channels()
        )
        head = nn.Sequential(nn.ReLU(), nn.Linear(frontend.out_features, n_outputs))
        (shift, scale), bounds = _fit_channel_scaler(
            X, self.input_scaling, self._grid_range(), sample_weight
        )
        return HybridKAN(
            frontend, head, (channels, height, width), shift, scale, input_bounds=bounds
        )
