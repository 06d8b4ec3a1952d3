"""Baselines trained by the same loop as the KANs: an MLP and an end-to-end CNN.

A comparison is only fair when the models differ in their architecture and in
nothing else. :class:`TorchMLPClassifier`, :class:`TorchMLPRegressor` and
:class:`CNNClassifier` derive from the supervised base of the KAN estimators
(``sklearn_kan._base.BaseSupervised``), not from a KAN: the same skorch net,
optimizer, learning-rate schedule, mini-batch loader, epochs, early-stopping
rule, seeding, input scaling and device, and no grid, basis or KAN
regularisation. Only ``_build_module`` differs.
"""

from __future__ import annotations

import numbers

from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from ._base import (
    BaseSupervised,
    ImageInputMixin,
    TorchClassifierMixin,
    TorchRegressorMixin,
    _layer_sizes,
)
from .nn.models import MLP, make_frontend

__all__ = ["CNNClassifier", "TorchMLPClassifier", "TorchMLPRegressor"]


class _MLPBaseline(BaseSupervised):
    # What TorchMLPClassifier and TorchMLPRegressor share: the widths, the
    # activation and the module.
    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "activation": [StrOptions({"relu", "tanh", "silu"})],
        **BaseSupervised._parameter_constraints,
    }
    _architecture_params = ("hidden_layer_sizes", "activation", "input_scaling")

    def _build_module(self, shape, n_outputs: int, scaler, bounds) -> nn.Module:
        widths = [shape[0], *_layer_sizes(self.hidden_layer_sizes), n_outputs]
        shift, scale = scaler
        return MLP(widths, self.activation, shift, scale, input_bounds=bounds)

    def _check_hyperparameters(self) -> None:
        _layer_sizes(self.hidden_layer_sizes)
        super()._check_hyperparameters()


class TorchMLPClassifier(TorchClassifierMixin, _MLPBaseline):
    """Multilayer perceptron classifier trained by the KAN estimators' loop.

    The network is ``Linear`` layers with ``activation`` between them
    (:class:`~sklearn_kan.nn.MLP`), behind the same input scaling as
    :class:`~sklearn_kan.KANClassifier`, trained with the same skorch net,
    optimizer, cosine learning-rate schedule, batches, epochs and seeding.
    This is the baseline of :func:`~sklearn_kan.model_selection.matched_mlp`;
    scikit-learn's ``MLPClassifier`` trains differently (constant learning
    rate, its own initialisation and batch loop).

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
    optimizer : {"adam", "adamw", "sgd", "lbfgs"} or torch optimizer class, default="adam"
        Optimizer. ``"lbfgs"`` works (skorch passes the closure); use it with
        ``batch_size=None`` (full batch) and ``lr=1`` as pykan does.
    lr : float, default=0.003
        Initial learning rate.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        ``"cosine"`` decays the learning rate from ``lr`` to 0 over the
        ``max_epochs`` of each ``fit`` (cosine annealing), as for the KAN
        estimators. ``partial_fit`` always uses the constant ``lr``.
    weight_decay : float, default=0.0
        Weight decay passed to the optimizer.
    batch_size : int or None, default=128
        Minibatch size (capped at the number of samples). ``None`` trains on the
        full batch.
    max_epochs : int, default=30
        Number of passes over the training data (the maximum, with early
        stopping).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified for a
        classifier), stop when the validation loss has not improved by ``tol``
        for ``n_iter_no_change`` epochs, and keep the best parameters. Without
        it, all the data is used for training and nothing is held out.
    validation_fraction : float, default=0.1
        Fraction held out by ``early_stopping``.
    n_iter_no_change : int, default=10
        Patience of ``early_stopping``, in epochs.
    tol : float, default=1e-4
        Smallest decrease of the validation loss that counts as an improvement.
    device : {"auto", "cpu", "cuda", "mps"} or str, default="auto"
        Where to train: ``"auto"`` takes CUDA, then MPS, then the CPU.
        ``"cuda:1"`` style names work too.
    dtype : {"float32", "float64"}, default="float32"
        Precision of the network's parameters and of training. ``"float64"``
        (double precision, as pykan uses for its symbolic-regression examples)
        is slower (2 to 5 times on digits) but its results do not depend on float32
        rounding, e.g. on the order of the rows in a batch (so ``sample_weight``
        matches repeated rows to 1e-7). Inputs, targets and the input scaling
        are kept in that precision too (features such as ``1e8 + x`` keep their
        digits; float32 models refuse values beyond the float32 range, float64
        models do not). Prediction runs in the same precision, in chunks of 256
        rows.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the shuffling and the validation split. An
        int makes fits on the CPU reproducible; the caller's global torch and
        numpy random states are left untouched.
    verbose : int, default=0
        ``1`` or more prints skorch's table of epochs (loss, time) while
        training.
    callbacks : list or tuple of skorch callbacks or (name, callback) pairs, default=None
        Extra skorch callbacks, e.g. ``EpochScoring("accuracy", on_train=True)``
        or ``("lr", LRScheduler(...))``; unnamed ones are named after their
        class. They are cloned before each fit, so they are never mutated. A
        ``skorch.callbacks.LRScheduler`` replaces the built-in ``lr_schedule``.
    warm_start : bool, default=False
        Whether ``fit`` continues training the current network for
        ``max_epochs`` more epochs instead of starting afresh. A warm-started
        ``fit`` and ``partial_fit`` use the current values of the training
        parameters (``lr``, ``batch_size``, ``weight_decay``, ``callbacks``,
        ``verbose``, ``early_stopping``...); ``partial_fit`` keeps the
        optimizer's state, a warm-started ``fit`` starts a new one (and a new
        ``lr_schedule`` cycle), as ``MLPClassifier`` does. The parameters that
        fix the network (``hidden_layer_sizes``, ``activation``,
        ``input_scaling``) cannot change between them: a ``ValueError`` says so.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` had string column names.
    net_ : skorch.NeuralNet
        The trained skorch net (history, callbacks, checkpointing).
    module_ : torch.nn.Module
        The trained torch module: a :class:`~sklearn_kan.nn.MLP` (input scaling
        + linear layers), rebuilt from a ``state_dict`` with ``MLP([n_features_in_,
        *hidden_layer_sizes, n_outputs], activation=...)``.
    history_ : skorch.History
        Per-epoch training record (``history_[:, "train_loss"]``; with
        ``early_stopping`` also ``valid_loss`` and, for classifiers, ``valid_acc``).
    n_params_ : int
        Number of trainable parameters.
    n_threads_ : int
        Number of torch threads the last fit used (a joblib or Dask worker's
        share of the cores; see the user guide on parallel searches).
    classes_ : ndarray of shape (n_classes,)
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
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.input_scaling = input_scaling
        self.optimizer = optimizer
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.warm_start = warm_start


class TorchMLPRegressor(TorchRegressorMixin, _MLPBaseline):
    """Multilayer perceptron regressor trained by the KAN estimators' loop.

    :class:`TorchMLPClassifier` with :class:`~sklearn_kan.KANRegressor`'s
    target standardisation and squared-error loss.

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
    optimizer : {"adam", "adamw", "sgd", "lbfgs"} or torch optimizer class, default="adam"
        Optimizer. ``"lbfgs"`` works (skorch passes the closure); use it with
        ``batch_size=None`` (full batch) and ``lr=1`` as pykan does.
    lr : float, default=0.003
        Initial learning rate.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        ``"cosine"`` decays the learning rate from ``lr`` to 0 over the
        ``max_epochs`` of each ``fit`` (cosine annealing), as for the KAN
        estimators. ``partial_fit`` always uses the constant ``lr``.
    weight_decay : float, default=0.0
        Weight decay passed to the optimizer.
    batch_size : int or None, default=128
        Minibatch size (capped at the number of samples). ``None`` trains on the
        full batch.
    max_epochs : int, default=30
        Number of passes over the training data (the maximum, with early
        stopping).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified for a
        classifier), stop when the validation loss has not improved by ``tol``
        for ``n_iter_no_change`` epochs, and keep the best parameters. Without
        it, all the data is used for training and nothing is held out.
    validation_fraction : float, default=0.1
        Fraction held out by ``early_stopping``.
    n_iter_no_change : int, default=10
        Patience of ``early_stopping``, in epochs.
    tol : float, default=1e-4
        Smallest decrease of the validation loss that counts as an improvement.
    device : {"auto", "cpu", "cuda", "mps"} or str, default="auto"
        Where to train: ``"auto"`` takes CUDA, then MPS, then the CPU.
        ``"cuda:1"`` style names work too.
    dtype : {"float32", "float64"}, default="float32"
        Precision of the network's parameters and of training. ``"float64"``
        (double precision, as pykan uses for its symbolic-regression examples)
        is slower (2 to 5 times on digits) but its results do not depend on float32
        rounding, e.g. on the order of the rows in a batch (so ``sample_weight``
        matches repeated rows to 1e-7). Inputs, targets and the input scaling
        are kept in that precision too (features such as ``1e8 + x`` keep their
        digits; float32 models refuse values beyond the float32 range, float64
        models do not). Prediction runs in the same precision, in chunks of 256
        rows.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the shuffling and the validation split. An
        int makes fits on the CPU reproducible; the caller's global torch and
        numpy random states are left untouched.
    verbose : int, default=0
        ``1`` or more prints skorch's table of epochs (loss, time) while
        training.
    callbacks : list or tuple of skorch callbacks or (name, callback) pairs, default=None
        Extra skorch callbacks, e.g. ``EpochScoring("accuracy", on_train=True)``
        or ``("lr", LRScheduler(...))``; unnamed ones are named after their
        class. They are cloned before each fit, so they are never mutated. A
        ``skorch.callbacks.LRScheduler`` replaces the built-in ``lr_schedule``.
    warm_start : bool, default=False
        Whether ``fit`` continues training the current network for
        ``max_epochs`` more epochs instead of starting afresh. A warm-started
        ``fit`` and ``partial_fit`` use the current values of the training
        parameters (``lr``, ``batch_size``, ``weight_decay``, ``callbacks``,
        ``verbose``, ``early_stopping``...); ``partial_fit`` keeps the
        optimizer's state, a warm-started ``fit`` starts a new one (and a new
        ``lr_schedule`` cycle), as ``MLPClassifier`` does. The parameters that
        fix the network (``hidden_layer_sizes``, ``activation``,
        ``input_scaling``) cannot change between them: a ``ValueError`` says so.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` had string column names.
    net_ : skorch.NeuralNet
        The trained skorch net (history, callbacks, checkpointing).
    module_ : torch.nn.Module
        The trained torch module: a :class:`~sklearn_kan.nn.MLP` (input scaling
        + linear layers), rebuilt from a ``state_dict`` with ``MLP([n_features_in_,
        *hidden_layer_sizes, n_outputs], activation=...)``.
    history_ : skorch.History
        Per-epoch training record (``history_[:, "train_loss"]``; with
        ``early_stopping`` also ``valid_loss`` and, for classifiers, ``valid_acc``).
    n_params_ : int
        Number of trainable parameters.
    n_threads_ : int
        Number of torch threads the last fit used (a joblib or Dask worker's
        share of the cores; see the user guide on parallel searches).

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
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.input_scaling = input_scaling
        self.optimizer = optimizer
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.warm_start = warm_start


class CNNClassifier(ImageInputMixin, TorchClassifierMixin, BaseSupervised):
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
    optimizer : {"adam", "adamw", "sgd", "lbfgs"} or torch optimizer class, default="adam"
        Optimizer. ``"lbfgs"`` works (skorch passes the closure); use it with
        ``batch_size=None`` (full batch) and ``lr=1`` as pykan does.
    lr : float, default=0.003
        Initial learning rate.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        ``"cosine"`` decays the learning rate from ``lr`` to 0 over the
        ``max_epochs`` of each ``fit`` (cosine annealing), as for the KAN
        estimators. ``partial_fit`` always uses the constant ``lr``.
    weight_decay : float, default=0.0
        Weight decay passed to the optimizer.
    batch_size : int or None, default=128
        Minibatch size (capped at the number of samples). ``None`` trains on the
        full batch.
    max_epochs : int, default=30
        Number of passes over the training data (the maximum, with early
        stopping).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified for a
        classifier), stop when the validation loss has not improved by ``tol``
        for ``n_iter_no_change`` epochs, and keep the best parameters. Without
        it, all the data is used for training and nothing is held out.
    validation_fraction : float, default=0.1
        Fraction held out by ``early_stopping``.
    n_iter_no_change : int, default=10
        Patience of ``early_stopping``, in epochs.
    tol : float, default=1e-4
        Smallest decrease of the validation loss that counts as an improvement.
    device : {"auto", "cpu", "cuda", "mps"} or str, default="auto"
        Where to train: ``"auto"`` takes CUDA, then MPS, then the CPU.
        ``"cuda:1"`` style names work too.
    dtype : {"float32", "float64"}, default="float32"
        Precision of the network's parameters and of training. ``"float64"``
        (double precision, as pykan uses for its symbolic-regression examples)
        is slower (2 to 5 times on digits) but its results do not depend on float32
        rounding, e.g. on the order of the rows in a batch (so ``sample_weight``
        matches repeated rows to 1e-7). Inputs, targets and the input scaling
        are kept in that precision too (features such as ``1e8 + x`` keep their
        digits; float32 models refuse values beyond the float32 range, float64
        models do not). Prediction runs in the same precision, in chunks of 256
        rows.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the shuffling and the validation split. An
        int makes fits on the CPU reproducible; the caller's global torch and
        numpy random states are left untouched.
    verbose : int, default=0
        ``1`` or more prints skorch's table of epochs (loss, time) while
        training.
    callbacks : list or tuple of skorch callbacks or (name, callback) pairs, default=None
        Extra skorch callbacks, e.g. ``EpochScoring("accuracy", on_train=True)``
        or ``("lr", LRScheduler(...))``; unnamed ones are named after their
        class. They are cloned before each fit, so they are never mutated. A
        ``skorch.callbacks.LRScheduler`` replaces the built-in ``lr_schedule``.
    warm_start : bool, default=False
        Whether ``fit`` continues training the current network for
        ``max_epochs`` more epochs instead of starting afresh. A warm-started
        ``fit`` and ``partial_fit`` use the current values of the training
        parameters (``lr``, ``batch_size``, ``weight_decay``, ``callbacks``,
        ``verbose``, ``early_stopping``...); ``partial_fit`` keeps the
        optimizer's state, a warm-started ``fit`` starts a new one (and a new
        ``lr_schedule`` cycle), as ``MLPClassifier`` does. The parameters that
        fix the network (``image_shape``, ``frontend_features``,
        ``conv_channels``, ``input_scaling``) cannot change between them: a
        ``ValueError`` says so.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` had string column names.
    net_ : skorch.NeuralNet
        The trained skorch net (history, callbacks, checkpointing).
    module_ : torch.nn.Module
        The trained torch module: a :class:`~sklearn_kan.nn.HybridKAN` (input
        scaling + ``"conv"`` front end + ReLU and linear head).
    history_ : skorch.History
        Per-epoch training record (``history_[:, "train_loss"]``; with
        ``early_stopping`` also ``valid_loss`` and, for classifiers, ``valid_acc``).
    n_params_ : int
        Number of trainable parameters.
    n_threads_ : int
        Number of torch threads the last fit used (a joblib or Dask worker's
        share of the cores; see the user guide on parallel searches).
    classes_ : ndarray of shape (n_classes,)
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

    _parameter_constraints: dict = {
        **ImageInputMixin._image_constraints,
        **BaseSupervised._parameter_constraints,
    }
    _architecture_params = ("image_shape", "frontend_features", "conv_channels", "input_scaling")

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
        self.image_shape = image_shape
        self.frontend_features = frontend_features
        self.conv_channels = conv_channels
        self.input_scaling = input_scaling
        self.optimizer = optimizer
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.warm_start = warm_start

    def _build_parts(self, shape, n_outputs: int) -> tuple[nn.Module, nn.Module]:
        """The ``"conv"`` front end and a ReLU + linear head on its features."""
        frontend = make_frontend("conv", shape, self.frontend_features, self._conv_channels())
        head = nn.Sequential(nn.ReLU(), nn.Linear(frontend.out_features, n_outputs))
        return frontend, head
