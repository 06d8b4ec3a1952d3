"""Shared estimator machinery: parameters, validation, seeding, the skorch net, fit and predict.

The estimators are built in layers, each adding one job::

    BaseTorchEstimator        seeding, threads, the skorch net, pickling, batched prediction
    |-- BaseSupervised        training parameters, input scaling, _fit, sample weights,
    |   |                     warm starts, the net's callbacks
    |   `-- BaseKAN           grid, basis, hidden_norm, regularisation, grid callbacks
    `-- (feature_extraction)  ConvFeatures, VAEFeatures

    TorchClassifierMixin      classes, class weights, predict_proba / predict, the loss
    TorchRegressorMixin       target standardisation, predict, the loss
    ImageInputMixin           image_shape, reading images, per-channel scaling, HybridKAN

:class:`~sklearn_kan.KANClassifier` is ``TorchClassifierMixin + BaseKAN``,
:class:`~sklearn_kan.HybridKANClassifier` adds ``ImageInputMixin`` to it, and the
baselines of :mod:`sklearn_kan.baselines` are the mixins on ``BaseSupervised``: they
have no KAN parameter. Each concrete estimator spells out its own ``__init__``, as
scikit-learn needs, and says which torch module to build (``_build_module``).
"""

from __future__ import annotations

import copy
import numbers
import warnings
from collections.abc import Callable, Mapping

import numpy as np
import torch
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
    column_or_1d,
    validate_data,
)
from skorch import NeuralNet, NeuralNetClassifier, NeuralNetRegressor
from skorch.callbacks import Callback, EarlyStopping, LRScheduler
from skorch.callbacks.scoring import ScoringBase
from skorch.dataset import Dataset as SkorchDataset
from skorch.dataset import ValidSplit
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingLR
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, Subset
from torch.utils.data import Dataset as TorchDataset

from ._counting import count_params, row_macs
from ._images import input_ndim, validate_images
from .callbacks import GridSchedule, GridUpdate, PrintLog
from .nn import (
    kernel_info,
    parallel_products_only,
    plan_threads,
    user_thread_count,
    using_threads,
)
from .nn.basis import BASES, get_basis
from .nn.layers import KANConv2d, KANLinear, KANLocal2d
from .nn.models import (
    HybridKAN,
    ScaledKAN,
    batch_weights,
    has_batch_norm,
    set_batch_norm_statistics,
)

__all__ = [
    "PREDICT_CHUNK",
    "BaseKAN",
    "BaseSupervised",
    "BaseTorchEstimator",
    "ImageInputMixin",
    "TorchClassifierMixin",
    "TorchRegressorMixin",
    "count_params",
    "resolve_device",
]

# Rows per forward pass in prediction: bounds its memory, and a fixed shape keeps a
# row's prediction independent of the other rows (see BaseTorchEstimator._run_module).
PREDICT_CHUNK = 256

# Rows (at most) whose statistics the BatchNorm layers take after the last epoch of
# a fit (the standard error of a mean is then below 1% of a standard deviation;
# torch's running averages, momentum 0.1, weigh about 10 batches: 1,280 rows at
# batch_size=128), and after the other epochs when the network is scored during
# training (a validation split, skorch's scoring callbacks): fewer, as this pass
# then runs every epoch and costs about a third of an epoch's forward passes on
# these rows.
NORM_STATISTICS_ROWS = 2**14
NORM_STATISTICS_ROWS_EPOCH = 2**12

# How far (a fraction of the grid range's width) beyond the training range, or the
# grid range where that reaches further, the modules let a scaled input go before
# clipping it (see _fit_scaler): a little extrapolation (10% beyond a feature's
# training range with minmax scaling), never the far values that swamp the splines
# (a 255 on a pixel scaled for 0-16). On digits, lighting the 8 rarely lit pixels at
# 255 changed 10% of a KANClassifier's predictions clipped here, 9% clipped at the
# training range itself, 23% at a whole grid width beyond it.
INPUT_MARGIN = 0.1

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "lbfgs": torch.optim.LBFGS,
}


class BaseTorchEstimator(BaseEstimator):
    """Base of every estimator that trains a torch module through skorch. Not public.

    A subclass gives its training data and a function that builds the skorch net
    (:meth:`_make_net` makes the package's net) to :meth:`_train`, which seeds
    from ``random_state`` (the caller's random state is left untouched), uses a
    joblib or Dask worker's share of the cores, stops with a clear
    ``FloatingPointError`` when the loss becomes non-finite (see :meth:`_diverged`),
    lets a ``KeyboardInterrupt`` propagate (after undoing the interrupted fit, see
    ``_Undo``) and sets ``net_``, ``module_``, ``history_``,
    ``n_params_`` and ``n_threads_``. Pickling stores the module once, inside
    the net. :meth:`_run_module` predicts in batches.

    Subclasses have the parameters ``device``, ``random_state``, ``lr`` and
    ``verbose``, and may override :meth:`_trained_module` (the part of the
    trained module that ``module_`` holds) and :meth:`_divergence_advice`.
    """

    def _net_class(self) -> type[NeuralNet]:
        return _KANNet

    @staticmethod
    def _as_float32(X, name: str = "X") -> np.ndarray:
        """A fresh float32 copy of ``X`` for the net; beyond float32's range is an error."""
        return _as_float32(X, name)

    def _make_net(self, **kwargs) -> NeuralNet:
        """The skorch net of the package: fast batch loader, divergence check, penalty."""
        return self._net_class()(**kwargs)

    def _train(
        self,
        make_net: Callable[[int, str], NeuralNet],
        X,
        y,
        *,
        epochs: int | None = None,
        first: bool = True,
    ) -> None:
        """Build a net with ``make_net(seed, device)`` and train it on ``(X, y)``.

        ``make_net`` is called inside the block seeded from ``random_state``, so
        that the initial weights are reproducible too, not only the shuffling.
        ``epochs=None`` trains for the net's ``max_epochs``. ``first`` says that
        the net is a new one (not a warm start or ``partial_fit`` continuing a
        fitted one): if it diverges, the estimator is left unfitted (see
        :meth:`_diverged`).
        """
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        device = resolve_device(self.device)
        with _seeded(seed, device):
            net = make_net(seed, device)
            if not net.initialized_:
                net.initialize()
            rows = X["X"] if isinstance(X, Mapping) else X
            threads = self._plan_fit(net, rows)
            self.n_threads_ = threads
            guard = _DivergenceGuard.attach(net)
            undo = _Undo(self, net)
            try:
                with self._fit_threads(net, threads):
                    net.partial_fit(X, y, epochs=epochs)
            except _Interrupted as exc:
                undo()
                raise exc.interrupt from None
            except _Diverged as exc:
                raise self._diverged(exc, net, guard, rows, first) from None
        self.net_ = net
        self._set_fitted_attributes()

    def _plan_fit(self, net: NeuralNet, X: np.ndarray) -> int:
        """Torch threads for this fit, from the size of the work.

        One thread below ``SMALL_WORK_MACS`` multiply-adds per step (see
        :func:`sklearn_kan.nn.plan_threads`). ``verbose`` prints the choice and which B-spline
        kernels serve (:func:`sklearn_kan.nn.kernel_info`).
        """
        macs = row_macs(net.module_, X[:2])
        batch = len(X) if net.batch_size in (None, -1) else min(net.batch_size, len(X))
        threads = plan_threads(macs * batch)
        if self.verbose:
            info = kernel_info()
            kernels = info["cpu"] if info["reason"] is None else f"eager ({info['reason']})"
            print(
                f"[{type(self).__name__}] {threads} torch thread(s) for "
                f"{macs * batch:.3g} multiply-adds a step; B-spline kernels on the CPU: "
                f"{kernels}"
            )
        return threads

    def _fit_threads(self, net: NeuralNet, threads: int):
        """The thread setting a fit trains in: ``threads`` for everything."""
        return using_threads(threads)

    def _divergence_advice(self) -> str:
        return f"Lower `lr` (now {self.lr})."

    # Fitted state whose name does not end in "_" (scikit-learn's mark of fitted
    # attributes), removed with the rest when a fit fails.
    _private_fit_attributes: tuple[str, ...] = ()

    def _diverged(self, exc: _Diverged, net: NeuralNet, guard, rows, first: bool):
        """The ``FloatingPointError`` of a diverged fit, the estimator left in a sound state.

        A failed new fit leaves the estimator unfitted, as every scikit-learn
        estimator whose ``fit`` raised. A warm start or ``partial_fit`` continued a
        fitted model: it keeps the parameters of the start of the diverging epoch
        (finite, and trained), if they predict finite values on the training rows;
        otherwise it is left unfitted too, never fitted and predicting NaN.
        """
        guard.restore(net)
        keep = not first and self._predicts_finite(net.module_, rows)
        if keep:
            self.net_ = net
            self._set_fitted_attributes()
            state = (
                "It keeps the parameters it had at the start of that epoch (they predict "
                "finite values)."
            )
        else:
            self._forget_fit()
            state = (
                "It is left unfitted."
                if first
                else (
                    "The parameters of the start of that epoch do not predict finite values "
                    "either, so it is left unfitted."
                )
            )
        return FloatingPointError(
            f"{type(self).__name__} diverged: the training loss became {exc.loss} at epoch "
            f"{exc.epoch}. {state} {self._divergence_advice()}"
        )

    def _predicts_finite(self, module: nn.Module, rows) -> bool:
        out = self._run_module(module, "forward", np.asarray(rows[:PREDICT_CHUNK]))
        return all(np.isfinite(o).all() for o in out)

    def _forget_fit(self) -> None:
        """Remove every fitted attribute: the estimator is as it was before its first fit."""
        params = self.get_params(deep=False)
        for name in list(vars(self)):
            fitted = name.endswith("_") and not name.startswith("__")
            if name not in params and (fitted or name in self._private_fit_attributes):
                delattr(self, name)

    def _trained_module(self, module: nn.Module) -> nn.Module:
        """The part of the trained module that ``module_`` holds (all of it by default)."""
        return module

    def _set_fitted_attributes(self) -> None:
        self.module_ = self._trained_module(self.net_.module_)
        self.history_ = self.net_.history
        self.n_params_ = count_params(self.module_)

    def __getstate__(self):
        # The module is pickled once, inside the skorch net, whose own pickling
        # maps CUDA tensors to the CPU on machines without CUDA; pickling
        # ``module_`` by itself (torch's default) would fail to load there. A
        # copy: BaseEstimator may hand back the instance's own __dict__.
        state = dict(super().__getstate__())
        state.pop("module_", None)
        state.pop("history_", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "net_" in state:
            self._set_fitted_attributes()

    @staticmethod
    def _run_module(module: nn.Module, method: str, X: np.ndarray) -> tuple[np.ndarray, ...]:
        """Call ``module.<method>`` on ``X``; its outputs as float64 arrays.

        The module runs in its own dtype (float32 unless ``dtype="float64"``) on
        chunks of exactly :data:`PREDICT_CHUNK` rows (the last one padded), with a
        thread count fixed by the model's size: every product and elementwise loop
        then has the same shape and the same split whatever rows a call holds, so
        a row's output does not depend on the other rows (scikit-learn checks this)
        and memory stays bounded by the chunk, not by ``len(X)`` or the training
        ``batch_size``.
        """
        if len(X) == 0:
            raise ValueError("X has 0 samples; at least one sample is required.")
        param = next(module.parameters())
        device, dtype = param.device, param.dtype
        rows = PREDICT_CHUNK
        # module(...) rather than module.forward(...): forward hooks run (pruning's).
        fn = module if method == "forward" else getattr(module, method)
        threads = plan_threads(row_macs(module, X[:2], fn) * rows, power_of_two=True)
        training = module.training
        module.eval()
        chunk = torch.zeros((rows, *X.shape[1:]), dtype=dtype, device=device)
        outs = None
        try:
            with torch.no_grad(), using_threads(threads):
                for start in range(0, len(X), rows):
                    part = torch.as_tensor(X[start : start + rows])
                    chunk[: len(part)] = part
                    out = fn(chunk)
                    out = out if isinstance(out, tuple) else (out,)
                    if outs is None:
                        outs = [
                            torch.empty((len(X), *o.shape[1:]), dtype=torch.float64) for o in out
                        ]
                    for dest, o in zip(outs, out):
                        dest[start : start + len(part)] = o[: len(part)].to("cpu", torch.float64)
        finally:
            module.train(training)
        return tuple(o.numpy() for o in outs)


class BaseSupervised(BaseTorchEstimator):
    """Base of the supervised estimators: the training parameters, ``_fit``, the net.

    Not meant to be used directly. It has no ``__init__``: scikit-learn reads an
    estimator's parameters from its own signature, so each concrete estimator
    spells its parameters out. What every supervised estimator of the package
    has: the training parameters (``optimizer`` .. ``warm_start``) and
    ``input_scaling``, their constraints, validation of ``X``, sample weights,
    warm starts and ``partial_fit``, the input scaling fitted on the training
    data, the skorch net and batched prediction. A subclass says how targets
    are encoded (``_encode_y``, see :class:`TorchClassifierMixin` and
    :class:`TorchRegressorMixin`), which loss to train with (``_criterion``),
    which skorch net to use (``_net_class``) and which torch module to build
    around the fitted input scaling (``_build_module``).
    """

    _parameter_constraints: dict = {
        "input_scaling": [StrOptions({"minmax", "standard"}), None],
        "optimizer": [StrOptions(set(_OPTIMIZERS)), type],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"cosine", "constant"})],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "device": [StrOptions({"auto", "cpu", "cuda", "mps"}), str],
        "dtype": [StrOptions({"float32", "float64"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, tuple, None],
        "warm_start": ["boolean"],
    }

    # -- what subclasses provide -------------------------------------------------

    # Set by _encode_y (classifier: the label encoder; regressor: the target scaling).
    _private_fit_attributes = ("_label_encoder", "_y_mean", "_y_scale", "_y_1d")

    # Parameters fixed by the network once it is built: a warm-started fit or
    # partial_fit refuses to continue when one of them changed (see _fit).
    _architecture_params: tuple[str, ...] = ("input_scaling", "dtype")

    # Whether the validation split of early_stopping is stratified (classifiers).
    _stratify = False

    def _encode_y(self, y, reset: bool, classes=None, sample_weight=None):  # pragma: no cover
        """Return ``(y_encoded, n_outputs)``; set fitted target attributes if reset.

        Float targets may be float64: ``_fit`` casts them to the network's precision.
        """
        raise NotImplementedError

    def _criterion(self) -> type[nn.Module]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_module(self, shape, n_outputs: int, scaler, bounds) -> nn.Module:  # pragma: no cover
        """The torch module for inputs of ``shape`` (one row's, as the net sees it).

        ``scaler`` (``(shift, scale)``) and ``bounds`` (``(low, high)``) are the
        input scaling fitted on the training data (see :func:`_fit_scaler`).
        """
        raise NotImplementedError

    def _weight_classes(self, y: np.ndarray, sample_weight, partial: bool):
        """Fold class weights into the sample weights (classifiers; identity here)."""
        return sample_weight

    def _scaling_range(self) -> tuple[float, float]:
        """The interval ``input_scaling`` maps the training data onto."""
        return (-1.0, 1.0)

    def _check_X(self, X, reset: bool) -> np.ndarray:
        """Validate ``X`` once: flat rows, float64 (float32 stays float32), not copied."""
        ndim = input_ndim(X)
        if ndim > 2:
            raise ValueError(
                f"{type(self).__name__} takes flat rows of shape (n_samples, n_features), "
                f"but X has {ndim} dimensions (shape {np.shape(X)}), like images. Flatten "
                "them with sklearn_kan.preprocessing.Flatten() or shrink them with "
                "Downsample() in a pipeline, or use HybridKANClassifier, which takes images."
            )
        return validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])

    def _fit_input_scaler(self, X: np.ndarray, sample_weight):
        """The input scaling of validated training ``X``: one shift and scale per feature."""
        return _fit_scaler(X, self.input_scaling, self._scaling_range(), sample_weight)

    def _net_input(self, X: np.ndarray, reset: bool) -> np.ndarray:
        """Validated ``X`` as the network reads it: a fresh copy in its precision.

        float32 (with the check that it holds the values), or float64 for a
        ``dtype="float64"`` network: the precision of the fitted module once there
        is one, of ``dtype`` for the fit that builds it.
        """
        if reset or not hasattr(self, "net_"):
            double = self.dtype == "float64"
        else:
            double = next(self.net_.module_.parameters()).dtype == torch.float64
        if double:
            return np.array(X, dtype=np.float64, order="C", copy=True)
        return _as_float32(X)

    def _validate_X(self, X, reset: bool) -> np.ndarray:
        """Validate ``X`` and return it as the network reads it (see :meth:`_net_input`)."""
        return self._net_input(self._check_X(X, reset=reset), reset)

    # -- fit ---------------------------------------------------------------------

    def _fit(self, X, y, *, sample_weight=None, partial: bool = False, classes=None):
        """Validate, build (or continue) the skorch net, train, and set fitted attributes.

        The first fit builds the network. A warm-started ``fit`` or a
        ``partial_fit`` continues training it under the current parameters: the
        skorch net is rebuilt from them (learning rate, batch size, weight decay,
        penalty, callbacks, verbosity, early stopping...) around the trained
        module and its history. ``partial_fit`` also keeps the optimizer's state
        (e.g. Adam's moments), a warm-started ``fit`` starts a fresh one, as
        ``MLPClassifier`` does. Parameters of ``_architecture_params`` cannot
        change without a new network: that is an error.

        ``X`` is validated once, in its own precision; the input scaling is
        fitted on it as it is (images channels last), and then it becomes the
        network's input in one copy (:meth:`_net_input`).
        """
        self._validate_params()
        self._check_hyperparameters()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        first = not (partial or self.warm_start) or not hasattr(self, "net_")
        if not first:
            self._check_architecture_unchanged(partial)
        X = self._check_X(X, reset=first)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        y, n_outputs = self._encode_y(y, reset=first, classes=classes, sample_weight=sample_weight)
        if X.shape[0] != y.shape[0]:  # validate_data(X, y) is not used: X may be images
            raise ValueError(
                f"Found input variables with inconsistent numbers of samples: "
                f"[{X.shape[0]}, {y.shape[0]}]."
            )
        sample_weight = self._weight_classes(y, sample_weight, partial)
        if sample_weight is not None and not (sample_weight > 0).all():
            # Rows of weight 0 are left out, not only of the loss: then they also
            # stay out of batch statistics (BatchNorm in a front end), the grid
            # updates and the validation split, as if they had not been passed.
            keep = sample_weight > 0
            X, y, sample_weight = X[keep], y[keep], sample_weight[keep]
        if sample_weight is not None and np.ptp(sample_weight) == 0:
            # Equal weights are no weights (the loss is scaled to mean 1 anyway);
            # then the fit is bitwise the unweighted one, also in float32, where
            # the weighted BatchNorm statistics round differently from torch's.
            sample_weight = None
        scaling = self._fit_input_scaler(X, sample_weight) if first else None
        X = self._net_input(X, reset=first)
        self._warn_lbfgs_minibatches(X.shape[0])
        if self.early_stopping:
            self._check_validation_split(y, sample_weight)
        if y.dtype.kind == "f":  # the regressor's targets (class indices stay integers)
            y = y.astype(X.dtype)
        fit_X, weight_scale = X, None
        if sample_weight is not None:
            # The weights travel with the rows (a dict X, which skorch's Dataset,
            # its validation split and the fast batch loader all index row-wise);
            # _KANNet.get_loss weighs the per-sample losses with them, scaled to
            # mean 1 so that the loss and its gradients keep their scale, and the
            # BatchNorm layers weigh their batch statistics with them as they are
            # (a row of weight k counts as k rows there).
            fit_X = {"X": X, "sample_weight": sample_weight.astype(X.dtype)}
            weight_scale = float(1.0 / sample_weight.mean())

        def make_net(seed: int, device: str) -> NeuralNet:
            if first:
                module = self._build_module(X.shape[1:], n_outputs, *scaling)
                module = module.to(getattr(torch, self.dtype))
                return self._build_net(module, device, seed, X.shape[0], partial, weight_scale)
            old = self.net_
            net = self._build_net(old.module_, device, seed, X.shape[0], partial, weight_scale)
            net.initialize()
            net.history = old.history
            if partial:
                _carry_optimizer_state(old, net)
            return net

        self._train(make_net, fit_X, y, epochs=1 if partial else self.max_epochs, first=first)
        if first:
            self._architecture_ = self._architecture()
        return self

    def _build_net(
        self,
        module: nn.Module,
        device: str,
        seed: int,
        n_samples: int,
        partial: bool = False,
        weight_scale: float | None = None,
    ) -> NeuralNet:
        user_callbacks = self._user_callbacks()
        callbacks = []
        # A user's LRScheduler replaces the built-in schedule rather than
        # multiplying with it; partial_fit trains at the constant lr.
        user_schedule = any(
            isinstance(cb[1] if isinstance(cb, tuple) else cb, LRScheduler) for cb in user_callbacks
        )
        if self.lr_schedule == "cosine" and not partial and not user_schedule:
            schedule = LRScheduler(CosineAnnealingLR, T_max=self.max_epochs, last_epoch=-1)
            callbacks.append(("lr_schedule", schedule))
        callbacks += self._training_callbacks(seed, partial)
        train_split = None
        if self.early_stopping:
            train_split = ValidSplit(
                self.validation_fraction, stratified=self._stratify, random_state=seed
            )
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(
                        monitor="valid_loss",
                        patience=self.n_iter_no_change,
                        threshold=self.tol,
                        threshold_mode="abs",
                        load_best=True,
                        sink=print if self.verbose else _silent,
                    ),
                )
            )
        optimizer = _OPTIMIZERS.get(self.optimizer, self.optimizer)
        kwargs = {}
        defaults = {name for name, _ in self._net_class()(module=module)._default_callbacks}
        for cb in user_callbacks:
            if isinstance(cb, tuple) and cb[0] in defaults:
                # ("valid_acc", cb), ("print_log", cb)...: replaces skorch's default.
                kwargs[f"callbacks__{cb[0]}"] = cb[1]
            else:
                callbacks.append(cb)
        if self.weight_decay:
            kwargs["optimizer__weight_decay"] = self.weight_decay
        if weight_scale is not None:  # a weighted fit: one loss per sample
            kwargs["criterion__reduction"] = "none"
            kwargs["weight_scale"] = weight_scale
        kwargs.update(self._net_kwargs())
        return self._make_net(
            module=module,
            criterion=self._criterion(),
            optimizer=optimizer,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=-1 if self.batch_size is None else min(self.batch_size, n_samples),
            iterator_train__shuffle=True,
            train_split=train_split,
            callbacks=callbacks,
            warm_start=True,
            verbose=int(self.verbose),
            device=device,
            # partial_fit keeps torch's running averages: one call may hold a handful
            # of rows.
            norm_statistics=None
            if partial
            else ("epoch" if self.early_stopping or _scores(user_callbacks) else "end"),
            **kwargs,
        )

    def _training_callbacks(self, seed: int, partial: bool) -> list:
        """Named callbacks that the estimator's own parameters add (the KANs' grid ones)."""
        return []

    def _net_kwargs(self) -> dict:
        """Extra arguments of the skorch net (the classifier passes its classes)."""
        return {"predict_nonlinearity": None}

    def _divergence_advice(self) -> str:
        return f"Lower `lr` (now {self.lr}), or enable `input_scaling`."

    def _user_callbacks(self) -> list:
        """``callbacks`` as fresh clones, unnamed ones as they are, named ones as pairs.

        Clones, so that fitting never mutates the callbacks the user passed, and
        fresh ones for every fit, warm-started or partial, so that a changed
        ``callbacks`` is honoured. Unnamed callbacks are named by skorch (their
        class name, numbered when several share it).
        """
        callbacks = []
        for cb in self.callbacks or ():
            name = None
            if isinstance(cb, tuple):
                name, cb = cb
            cb = clone(cb) if hasattr(cb, "get_params") else copy.deepcopy(cb)
            callbacks.append(cb if name is None else (name, cb))
        return callbacks

    def _architecture(self) -> dict:
        params = self.get_params(deep=False)
        return {name: _comparable(params[name]) for name in self._architecture_params}

    def _check_architecture_unchanged(self, partial: bool) -> None:
        built = getattr(self, "_architecture_", None)
        if built is None:  # an estimator pickled by an older version
            return
        how = "partial_fit" if partial else "a warm-started fit (warm_start=True)"
        for name, value in self._architecture().items():
            if value != built[name]:
                raise ValueError(
                    f"{name} changed from {built[name]!r} to {value!r} since the network was "
                    f"built, but {how} continues training the same network, and {name} fixes "
                    f"its architecture. Set {name} back, or train a new network with "
                    "warm_start=False and fit."
                )

    def _warn_lbfgs_minibatches(self, n_samples: int) -> None:
        optimizer = _OPTIMIZERS.get(self.optimizer, self.optimizer)
        if (
            isinstance(optimizer, type)
            and issubclass(optimizer, torch.optim.LBFGS)
            and self.batch_size is not None
            and self.batch_size < n_samples
        ):
            warnings.warn(
                f"optimizer='lbfgs' with batch_size={self.batch_size} takes a full "
                f"line-search step on each mini-batch of the {n_samples} samples, which "
                "usually diverges or stalls. Use batch_size=None (full batch, with lr=1 as "
                "pykan does), or a first-order optimizer such as 'adam' for mini-batches.",
                UserWarning,
                stacklevel=4,
            )

    def _check_validation_split(self, y: np.ndarray, sample_weight) -> None:
        """The error skorch's validation split would give, in terms of our parameters."""
        n = len(y)
        splitter = StratifiedShuffleSplit if self._stratify else ShuffleSplit
        try:
            next(
                splitter(n_splits=1, test_size=self.validation_fraction).split(np.zeros((n, 1)), y)
            )
        except ValueError as exc:
            per_class = " with every class in both parts" if self._stratify else ""
            raise ValueError(
                f"early_stopping=True holds out validation_fraction={self.validation_fraction} "
                f"of the {n} training samples, which cannot be split{per_class}: {exc} Pass "
                "more samples, change validation_fraction, or set early_stopping=False."
            ) from None

    def _check_hyperparameters(self) -> None:
        """Checks that ``_parameter_constraints`` cannot express."""
        _check_callbacks(self.callbacks)
        if isinstance(self.optimizer, type) and not issubclass(
            self.optimizer, torch.optim.Optimizer
        ):
            raise TypeError(
                f"optimizer must be one of {sorted(_OPTIMIZERS)} or a torch.optim.Optimizer "
                f"subclass, got {self.optimizer!r}."
            )
        if isinstance(self.device, str) and self.device not in {"auto", "cpu", "cuda", "mps"}:
            try:
                torch.device(self.device)
            except RuntimeError:
                raise ValueError(
                    f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {self.device!r}."
                ) from None

    # -- predict -----------------------------------------------------------------

    def _forward(self, X) -> np.ndarray:
        """Network outputs for ``X`` as a float64 array (no output nonlinearity).

        See :meth:`BaseTorchEstimator._run_module`: chunks of a fixed size, float32,
        the same output for a row whatever rows it comes with.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._run_module(self.net_.module_, "forward", X)[0]


class BaseKAN(BaseSupervised):
    """Base class of the KAN estimators. Not meant to be used directly.

    What :class:`BaseSupervised` has, and the KAN's own parameters: the widths,
    the grid, the basis, ``hidden_norm``, the regularisation and the grid
    callbacks (``grid_update_epochs``, ``grid_schedule``), with their
    constraints. The flat KAN module (input scaling + KAN,
    :class:`~sklearn_kan.nn.ScaledKAN`) is built here; the hybrid builds its own.
    See :class:`~sklearn_kan.KANClassifier` for the parameters' docs.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "grid_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "spline_order": [Interval(numbers.Integral, 0, None, closed="left")],
        "basis": [StrOptions(set(BASES))],
        "grid_range": ["array-like"],
        "hidden_norm": [StrOptions({"batchnorm", "layernorm", "tanh"}), None],
        "grid_update_epochs": ["array-like", None],
        "grid_eps": [Interval(numbers.Real, 0, 1, closed="both")],
        "grid_schedule": ["array-like", None],
        "lamb": [Interval(numbers.Real, 0, None, closed="left")],
        "lamb_l1": [Interval(numbers.Real, 0, None, closed="left")],
        "lamb_entropy": [Interval(numbers.Real, 0, None, closed="left")],
        **BaseSupervised._parameter_constraints,
    }

    _architecture_params: tuple[str, ...] = (
        "hidden_layer_sizes",
        "grid_size",
        "spline_order",
        "basis",
        "grid_range",
        "input_scaling",
        "hidden_norm",
        "grid_schedule",
        "dtype",
    )

    def _build_module(self, shape, n_outputs: int, scaler, bounds) -> nn.Module:
        """Input scaling + KAN, widths from the data and ``hidden_layer_sizes``."""
        return ScaledKAN(
            [shape[0], *self._hidden_sizes(), n_outputs],
            scaler=scaler,
            input_bounds=bounds,
            hidden_norm=self.hidden_norm,
            **self._layer_kwargs(),
        )

    def _fit(self, X, y, **kwargs):
        super()._fit(X, y, **kwargs)
        self.grid_size_ = _module_grid_size(self.module_, self.grid_size)
        return self

    def _scaling_range(self) -> tuple[float, float]:
        return self._grid_range()

    def _fit_threads(self, net: NeuralNet, threads: int):
        """Parallel products only, for a flat KAN whose every layer runs fused.

        A flat B-spline KAN on uniform grids spends its parallel work in the fused
        layers (:class:`~sklearn_kan.nn.parallel_products_only`): the
        scaling, the hidden norms, the loss and the optimizer then run on one thread
        instead of paying a thread wake-up in every small operation. Grid updates
        (the reference recursion on data-placed knots) and the regularisation (edge
        activations) have large operations outside those layers and keep
        ``threads`` for everything, as do the hybrids, the baselines and a thread
        count the user chose (:func:`~sklearn_kan.nn.user_thread_count`).
        """
        module = net.module_
        if (
            threads > 1
            and user_thread_count() is None  # a count of the user's own is used as it is
            and isinstance(module, ScaledKAN)
            and self.grid_update_epochs is None
            and self.lamb == 0
            and all(layer.fused for layer in module.modules() if isinstance(layer, KANLinear))
        ):
            return parallel_products_only(threads)
        return super()._fit_threads(net, threads)

    def _training_callbacks(self, seed: int, partial: bool) -> list:
        callbacks = []
        if self.grid_update_epochs is not None:
            update = GridUpdate(
                tuple(self.grid_update_epochs), self.grid_eps, seed, per_fit=not partial
            )
            callbacks.append(("grid_update", update))
        if self.grid_schedule is not None:
            callbacks.append(
                ("grid_schedule", GridSchedule(tuple(self.grid_schedule), self.max_epochs))
            )
        return callbacks

    def _net_kwargs(self) -> dict:
        return {
            **super()._net_kwargs(),
            "lamb": self.lamb,
            "lamb_l1": self.lamb_l1,
            "lamb_entropy": self.lamb_entropy,
        }

    def _divergence_advice(self) -> str:
        return f"Lower `lr` (now {self.lr}), use a smaller `grid_size`, or enable `input_scaling`."

    def _hidden_sizes(self) -> list[int]:
        return _layer_sizes(self.hidden_layer_sizes)

    def _grid_range(self) -> tuple[float, float]:
        try:
            lo, hi = (float(v) for v in self.grid_range)
        except (TypeError, ValueError):
            raise ValueError(
                f"grid_range must be a pair (low, high), got {self.grid_range!r}."
            ) from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(
                f"grid_range must be finite numbers with low < high, got {self.grid_range!r}."
            )
        return lo, hi

    def _layer_kwargs(self) -> dict:
        return {
            "grid_size": int(self.grid_size),
            "spline_order": int(self.spline_order),
            "basis": self.basis,
            "grid_range": self._grid_range(),
        }

    def _check_hyperparameters(self) -> None:
        self._hidden_sizes()
        self._grid_range()
        # rbf and fourier need two functions per edge (one gives 0/0: a NaN model).
        get_basis(self.basis).check_size(self.grid_size, self.spline_order)
        if self.grid_update_epochs is not None:
            epochs = list(self.grid_update_epochs)
            if any(not isinstance(e, numbers.Integral) or e < 1 for e in epochs):
                raise ValueError(
                    "grid_update_epochs must be epoch numbers >= 1, got "
                    f"{self.grid_update_epochs!r}."
                )
        if self.grid_schedule is not None:
            sizes = [self.grid_size, *self.grid_schedule]
            if any(not isinstance(s, numbers.Integral) for s in sizes) or any(
                b <= a for a, b in zip(sizes[:-1], sizes[1:])
            ):
                raise ValueError(
                    "grid_schedule must list increasing grid sizes larger than grid_size="
                    f"{self.grid_size}, got {self.grid_schedule!r}."
                )
            if len(sizes) > self.max_epochs:
                raise ValueError(
                    f"grid_schedule has {len(sizes)} stages but max_epochs={self.max_epochs}: "
                    "each stage needs at least one epoch."
                )
        super()._check_hyperparameters()


class TorchClassifierMixin(ClassifierMixin):
    """What a supervised estimator of the package adds to be a classifier.

    Mixed in before :class:`BaseSupervised` (or :class:`BaseKAN`): the classes,
    ``fit`` / ``partial_fit`` with ``classes``, ``predict_proba``,
    ``predict_log_proba`` and ``predict`` from the network's logits, the
    cross-entropy loss, the classifier's skorch net, a stratified validation
    split, the class weights (for estimators with a ``class_weight``
    parameter, see :meth:`_class_weight`) and the tags.
    """

    _stratify = True

    def fit(self, X, y, sample_weight=None):
        """Train the network on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or images
            Training data (the image classifiers also take ``(n_samples, height,
            width)`` and ``(n_samples, height, width, channels)`` arrays).
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss (non-negative; 0 leaves a sample
            out, an integer ``k`` counts it about ``k`` times). Routed by
            scikit-learn's metadata routing (``set_fit_request``). BatchNorm
            layers (``hidden_norm="batchnorm"``, the image front ends) weigh
            their batch statistics the same way.

        Returns
        -------
        self : object
            The fitted classifier.
        """
        return self._fit(X, y, sample_weight=sample_weight)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch on ``(X, y)``, continuing from the current network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or images
            Subset of the training data (one batch, or all of it).
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), default=None
            All the classes; required on the first call, as in
            ``MLPClassifier.partial_fit``, and the same (or omitted) later.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss, as in :meth:`fit`.

        Returns
        -------
        self : object
            The updated classifier.
        """
        if not hasattr(self, "classes_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if hasattr(self, "net_") and classes is not None:
            if not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
                raise ValueError(
                    f"`classes={np.asarray(classes).tolist()!r}` is not the same as on the "
                    f"first call to partial_fit, was: {self.classes_.tolist()!r}."
                )
        return self._fit(X, y, sample_weight=sample_weight, partial=True, classes=classes)

    def predict_proba(self, X):
        """Class probabilities (softmax of the network's outputs).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or images
            Samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``.
        """
        return softmax(self._forward(X), axis=1)

    def predict_log_proba(self, X):
        """Logarithm of the class probabilities (log-softmax of the network's outputs).

        Computed from the outputs directly, so it stays finite where
        ``np.log(predict_proba(X))`` would give ``-inf``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or images
            Samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Log-probability of each class, in the order of ``classes_``.
        """
        return log_softmax(self._forward(X), axis=1)

    def predict(self, X):
        """Most probable class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or images
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,)
            Predicted labels.
        """
        scores = self._forward(X)
        return self.classes_[np.argmax(scores, axis=1)]

    def _encode_y(self, y, reset, classes=None, sample_weight=None):
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if reset:
            self._label_encoder = LabelEncoder().fit(y if classes is None else classes)
            self.classes_ = self._label_encoder.classes_
            if len(self.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes in the data, "
                    f"but the data contains only one class: {self.classes_[0]!r}."
                )
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(
                f"y contains labels {unseen.tolist()} that were not seen in the classes "
                f"{self.classes_.tolist()}."
            )
        return self._label_encoder.transform(y).astype(np.int64), len(self.classes_)

    def _class_weight(self):
        """The ``class_weight`` parameter: ``None`` for classifiers that have none.

        The baselines have no ``class_weight`` (a matched baseline copies only the
        parameters it has from the KAN it is matched to); the KAN classifiers
        return theirs.
        """
        return None

    def _weight_classes(self, y, sample_weight, partial):
        weights = sample_weight
        class_weight = self._class_weight()
        if class_weight is not None:
            if isinstance(class_weight, str) and partial:
                raise ValueError(
                    "class_weight='balanced' is not supported by partial_fit, which sees "
                    "one batch at a time. Compute the weights on all the data with "
                    "sklearn.utils.class_weight.compute_class_weight and pass them as a dict."
                )
            per_class = compute_class_weight(
                class_weight, classes=self.classes_, y=self.classes_[y]
            )
            bad = ~(np.isfinite(per_class) & (per_class >= 0))
            if bad.any():
                # A negative weight would flip the class's gradient, NaN poison the
                # loss; _fit leaves the rows of weight <= 0 out, so either would
                # silently remove the class. Refused, as negative sample_weight is.
                values = {k.item(): float(w) for k, w in zip(self.classes_[bad], per_class[bad])}
                raise ValueError(
                    f"class_weight must hold non-negative and finite weights, got {values}. "
                    "A weight of 0 leaves a class out of training."
                )
            weights = per_class[y] if weights is None else weights * per_class[y]
        if weights is None:
            return None
        if not (weights > 0).any():
            raise ValueError(
                "Sample weights must contain at least one non-zero number (after class_weight)."
            )
        present = np.unique(y[weights > 0])
        if len(present) < 2 and not partial:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes with non-zero "
                f"weight, but only class {self.classes_[present[0]]!r} has any."
            )
        return weights

    def _net_class(self):
        return _KANClassifierNet

    def _net_kwargs(self):
        # skorch's predict_proba applies the softmax to the logits ("auto" for
        # CrossEntropyLoss) and predict returns the class index, which is what
        # EpochScoring compares with the encoded targets.
        return {
            **super()._net_kwargs(),
            "classes": np.arange(len(self.classes_)),
            "predict_nonlinearity": "auto",
        }

    def _criterion(self):
        # Logits into CrossEntropyLoss (skorch's default NLLLoss expects
        # probabilities); predict_proba applies the softmax.
        return nn.CrossEntropyLoss

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags


class TorchRegressorMixin(RegressorMixin):
    """What a supervised estimator of the package adds to be a regressor.

    Targets standardised for training and mapped back in ``predict`` (in
    float64, without overflow or underflow), one or several of them, a squared
    error loss and the regressor's skorch net.
    """

    def fit(self, X, y, sample_weight=None):
        """Train the network on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss (non-negative; 0 leaves a sample
            out, an integer ``k`` counts it about ``k`` times). Routed by
            scikit-learn's metadata routing (``set_fit_request``).

        Returns
        -------
        self : object
            The fitted regressor.
        """
        return self._fit(X, y, sample_weight=sample_weight)

    def partial_fit(self, X, y, sample_weight=None):
        """Train for one epoch on ``(X, y)``, continuing from the current network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Subset of the training data (one batch, or all of it).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss, as in :meth:`fit`.

        Returns
        -------
        self : object
            The updated regressor.
        """
        return self._fit(X, y, sample_weight=sample_weight, partial=True)

    def predict(self, X):
        """Predicted targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predictions, in the units of the training targets.
        """
        out = self._forward(X) * self._y_scale + self._y_mean
        return out[:, 0] if self._y_1d else out

    def _encode_y(self, y, reset, classes=None, sample_weight=None):
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D, got an array of shape {y.shape}.")
        y2 = y.reshape(len(y), -1)
        if reset:
            self._y_1d = y.ndim == 1
            # Weighted, so that a weight of 0 is the same as leaving the row out, and
            # computed without overflow (targets of 1e160) or underflow (1e-200).
            weights = (
                sample_weight
                if sample_weight is not None and len(sample_weight) == len(y2)
                else None
            )
            self._y_mean, scale = _mean_std(y2, weights)
            # A constant target is measured in its own magnitude (1 for zeros), so that
            # the network's small residual is small relative to it.
            scale = np.where(scale > 0, scale, np.abs(self._y_mean))
            scale[~(scale > 0)] = 1.0
            self._y_scale = scale
        elif y2.shape[1] != self._y_mean.shape[0]:
            raise ValueError(
                f"y has {y2.shape[1]} targets, but {type(self).__name__} was fitted with "
                f"{self._y_mean.shape[0]}."
            )
        return (y2 - self._y_mean) / self._y_scale, y2.shape[1]

    def _net_class(self):
        return _KANRegressorNet

    def _criterion(self):
        return nn.MSELoss

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class ImageInputMixin:
    """What the image classifiers share: reading images, the per-channel scaling, the parts.

    Mixed in before :class:`BaseSupervised` (or :class:`BaseKAN`) by
    :class:`~sklearn_kan.HybridKANClassifier` and
    :class:`~sklearn_kan.baselines.CNNClassifier`, which have the parameters
    ``image_shape``, ``frontend_features`` and ``conv_channels``. ``X`` is read
    as channels-last images (:func:`sklearn_kan._images.validate_images`), the
    input scaling is fitted on them per channel, over all their pixels, and then
    they become the ``(n, C, H, W)`` tensors torch convolutions take. The module
    is a :class:`~sklearn_kan.nn.HybridKAN`: the front end and the head that
    :meth:`_build_parts` makes, behind the scaling.
    """

    _image_constraints: dict = {
        "image_shape": [tuple, list, None],
        "frontend_features": [Interval(numbers.Integral, 1, None, closed="left")],
        "conv_channels": ["array-like"],
    }

    def _build_parts(
        self, shape, n_outputs: int
    ) -> tuple[nn.Module, nn.Module]:  # pragma: no cover
        """The front end for ``(C, H, W)`` images and the head on its features."""
        raise NotImplementedError

    def _check_X(self, X, reset: bool) -> np.ndarray:
        """Validate ``X`` and return it as channels-last images ``(n, H, W, C)``, not copied."""
        try:
            images = validate_images(
                self, X, reset=reset, image_shape=self.image_shape if reset else self.image_shape_
            )
        except ValueError as exc:
            shape = np.shape(X) if not reset and np.ndim(X) in (2, 3) else None
            if shape is not None:
                h, w, c = self.image_shape_
                if shape in {(h, w), (h, w, c)}:
                    raise ValueError(
                        f"{type(self).__name__} predicts on a batch of images, but X has the "
                        f"shape {shape} of one image. Pass X[np.newaxis] (a batch of one)."
                    ) from exc
            raise
        if reset:
            self.image_shape_ = tuple(int(d) for d in images.shape[1:])
        return images

    def _fit_input_scaler(self, images: np.ndarray, sample_weight):
        """One shift and scale per channel, from all the pixels of the training images."""
        n, height, width, channels = images.shape
        if sample_weight is not None:
            sample_weight = np.repeat(sample_weight, height * width)
        pixels = images.reshape(-1, channels)
        return _fit_scaler(pixels, self.input_scaling, self._scaling_range(), sample_weight)

    def _net_input(self, images: np.ndarray, reset: bool) -> np.ndarray:
        # Channels-last images become the (n, C, H, W) tensors torch convolutions take,
        # in the same copy that gives them the network's precision.
        return super()._net_input(images.transpose(0, 3, 1, 2), reset)

    def _build_module(self, shape, n_outputs: int, scaler, bounds) -> nn.Module:
        """Front end + head, behind the per-channel input scaling."""
        frontend, head = self._build_parts(tuple(shape), n_outputs)
        shift, scale = scaler
        return HybridKAN(frontend, head, tuple(shape), shift, scale, input_bounds=bounds)

    def _conv_channels(self) -> tuple[int, ...]:
        channels = self.conv_channels
        if isinstance(channels, numbers.Integral):
            channels = (channels,)
        channels = tuple(channels)
        if any(
            isinstance(c, bool) or not isinstance(c, numbers.Integral) or c < 1 for c in channels
        ):
            raise ValueError(
                "conv_channels must be a sequence of positive integers, got "
                f"{self.conv_channels!r}."
            )
        return tuple(int(c) for c in channels)

    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        self._conv_channels()


def resolve_device(device: str) -> str:
    """Turn ``"auto"`` into the best available device; check the others exist.

    Parameters
    ----------
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    Returns
    -------
    str
    """
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    kind = torch.device(device).type
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available here.")
    if kind == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ValueError(f"device={device!r} was requested but MPS is not available here.")
    return device


# -- private -------------------------------------------------------------------


def _batch_iterator(dataset, batch_size: int, shuffle: bool = False, **kwargs) -> DataLoader:
    """A ``DataLoader`` that fetches each mini-batch with one indexing of the arrays.

    torch's default loader fetches ``batch_size`` single rows from skorch's
    ``Dataset`` and stacks them (and skorch indexes a batch through a Python list),
    which for MNIST rows took about as long per step as the KAN layers' own
    overhead. The batches (indices, order and the random numbers drawn for
    shuffling) are the same as the default loader's, so training is unchanged.
    Datasets other than skorch's own ``Dataset`` of arrays (or a ``Subset`` of
    one) get the default loader.
    """
    arrays = _ArrayBatches.wrap(dataset)
    if arrays is None or {"sampler", "batch_sampler", "collate_fn"} & set(kwargs):
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, **kwargs)
    sampler = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)
    batches = _IndexArrays(sampler, batch_size, kwargs.pop("drop_last", False))
    return DataLoader(arrays, sampler=batches, batch_size=None, **kwargs)


class _IndexArrays(BatchSampler):
    """The batches of ``BatchSampler`` as integer arrays."""

    def __iter__(self):
        for batch in super().__iter__():
            yield np.asarray(batch, dtype=np.intp)


class _ArrayBatches(TorchDataset):
    """Rows ``idx`` (an integer array) of a skorch ``Dataset``'s arrays in one take."""

    def __init__(self, X, y, rows: np.ndarray | None, length: int) -> None:
        self.X, self.y, self.rows, self.length = X, y, rows, length

    @classmethod
    def wrap(cls, dataset) -> _ArrayBatches | None:
        rows = None
        if isinstance(dataset, Subset):
            rows, dataset = np.asarray(dataset.indices, dtype=np.intp), dataset.dataset
        # Only skorch's own class: a subclass may transform its rows.
        if type(dataset) is not SkorchDataset or dataset.X_is_ndframe:
            return None
        arrays = (np.ndarray, torch.Tensor)
        # A dict of arrays is how the estimators pass sample weights along with X.
        Xs = dataset.X.values() if isinstance(dataset.X, Mapping) else [dataset.X]
        if not all(isinstance(x, arrays) for x in Xs) or not isinstance(
            dataset.y, (*arrays, type(None))
        ):
            return None
        return cls(dataset.X, dataset.y, rows, len(dataset) if rows is None else len(rows))

    def __len__(self) -> int:
        return self.length

    @classmethod
    def _take(cls, array, idx: np.ndarray):
        if isinstance(array, Mapping):
            return {key: cls._take(value, idx) for key, value in array.items()}
        return array[torch.from_numpy(idx)] if isinstance(array, torch.Tensor) else array[idx]

    def __getitem__(self, idx: np.ndarray):
        if self.rows is not None:
            idx = self.rows[idx]
        # skorch's placeholder for a missing target is one 0 per row.
        y = torch.zeros(len(idx), 1) if self.y is None else self._take(self.y, idx)
        return self._take(self.X, idx), y


def _scores(callbacks) -> bool:
    """Whether one of ``callbacks`` scores the network (skorch's EpochScoring, BatchScoring)."""
    return any(isinstance(cb[1] if isinstance(cb, tuple) else cb, ScoringBase) for cb in callbacks)


class _KANNet(NeuralNet):
    """skorch net with the KAN penalty in the loss and a check for non-finite losses.

    ``X`` may be a dict ``{"X": inputs, "sample_weight": weights}``: the module
    sees only the inputs (its BatchNorm layers weigh their batch statistics by
    ``weights`` in training) and the loss is the mean of the per-sample losses
    times ``weights * weight_scale`` (the criterion then has ``reduction="none"``).

    After the last training epoch of a fit (``norm_statistics="end"``) or after
    every one (``"epoch"``), before the validation pass and the epoch's
    callbacks, the module's BatchNorm layers get the statistics of the training
    rows (up to ``NORM_STATISTICS_ROWS`` evenly spaced ones after the last epoch,
    ``NORM_STATISTICS_ROWS_EPOCH`` after the others) under the current weights, in
    place of torch's running averages, which lag behind the weights and after a
    short training are still close to their initial values. Training itself uses
    batch statistics and is unchanged; scores, early stopping and prediction see
    the statistics the network has. ``None`` keeps torch's running averages.
    """

    def __init__(
        self,
        *args,
        lamb=0.0,
        lamb_l1=1.0,
        lamb_entropy=2.0,
        weight_scale=1.0,
        norm_statistics=None,
        **kwargs,
    ):
        kwargs.setdefault("iterator_train", _batch_iterator)
        kwargs.setdefault("iterator_valid", _batch_iterator)
        super().__init__(*args, **kwargs)
        self.lamb = lamb
        self.lamb_l1 = lamb_l1
        self.lamb_entropy = lamb_entropy
        self.weight_scale = weight_scale
        self.norm_statistics = norm_statistics
        self._norm_batches = None
        self._last_epoch = 0

    @property
    def _default_callbacks(self):
        # skorch's table of epochs, without colour codes when they would end up
        # as escape sequences in a log file or a notebook's captured output.
        return [
            (name, PrintLog() if name == "print_log" else cb)
            for name, cb in super()._default_callbacks
        ]

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        self._last_epoch = len(self.history) + (self.max_epochs if epochs is None else epochs)
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt as exc:
            if _stops_early(exc):
                raise  # skorch's EarlyStopping ends training so; skorch ends it quietly
            # skorch's partial_fit also ends training quietly on Ctrl-C and returns
            # as if it were complete; a scikit-learn estimator lets it propagate.
            # skorch's callbacks still see the end of training, as skorch has them.
            self.notify("on_train_end", X=X, y=y)
            raise _Interrupted(exc) from None

    def get_split_datasets(self, X, y=None, **fit_params):
        train, valid = super().get_split_datasets(X, y, **fit_params)
        self._norm_batches = None
        if self.norm_statistics and has_batch_norm(self.module_):
            self._norm_batches = _ArrayBatches.wrap(train)
        return train, valid

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        if not training or self._norm_batches is None:
            return
        last = len(self.history) >= self._last_epoch
        if last or self.norm_statistics == "epoch":
            n = len(self._norm_batches)
            most = NORM_STATISTICS_ROWS if last else NORM_STATISTICS_ROWS_EPOCH
            idx = np.linspace(0, n - 1, most).astype(np.intp) if n > most else np.arange(n)
            rows, _ = self._norm_batches[idx]
            weights = rows.get("sample_weight") if isinstance(rows, Mapping) else None
            rows = rows["X"] if isinstance(rows, Mapping) else rows
            set_batch_norm_statistics(self.module_, rows, weights)

    def infer(self, x, **fit_params):
        if not isinstance(x, Mapping):
            return super().infer(x, **fit_params)
        weights = x.get("sample_weight") if self.module_.training else None
        if weights is not None:
            weights = torch.as_tensor(weights, device=self.device)
        with batch_weights(self.module_, weights):
            return super().infer(x["X"], **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        weights = X.get("sample_weight") if isinstance(X, Mapping) else None
        X = X["X"] if isinstance(X, Mapping) else X
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        if loss.ndim > 0:  # reduction="none": one loss per sample (and output)
            loss = loss.reshape(len(loss), -1).mean(dim=1)
            if weights is not None:
                loss = loss * (torch.as_tensor(weights, device=loss.device) * self.weight_scale)
            loss = loss.mean()
        if training and self.lamb > 0 and hasattr(self.module_, "regularization_loss"):
            Xt = torch.as_tensor(X, device=y_pred.device)
            loss = loss + self.lamb * self.module_.regularization_loss(
                Xt, self.lamb_l1, self.lamb_entropy
            )
        return loss

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = batch
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        if not torch.isfinite(loss):
            raise _Diverged(loss.item(), len(self.history))
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}


class _KANClassifierNet(_KANNet, NeuralNetClassifier):
    """The classifier's net: ``predict_proba`` is the softmax of the logits and
    ``predict`` the class index, so skorch's ``EpochScoring("accuracy")``,
    ``EpochScoring("neg_log_loss")`` and the default ``valid_acc`` (recorded
    when there is a validation split) score the encoded targets correctly."""


class _KANRegressorNet(_KANNet, NeuralNetRegressor):
    """The regressor's net (scikit-learn sees a regressor, so ``"r2"`` scoring works)."""


class _Interrupted(BaseException):
    """A ``KeyboardInterrupt`` in training, carried past skorch's ``except KeyboardInterrupt``."""

    def __init__(self, interrupt: KeyboardInterrupt) -> None:
        super().__init__("KeyboardInterrupt during training")
        self.interrupt = interrupt


def _stops_early(interrupt: KeyboardInterrupt) -> bool:
    """Whether skorch's ``EarlyStopping`` raised it: its way to end training."""
    tb = interrupt.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code is EarlyStopping.on_epoch_end.__code__


class _Undo:
    """What an interrupted fit undoes: the estimator as it was, or unfitted.

    A fit that continues the fitted network (``partial_fit``, ``warm_start=True``)
    trains that module in place: its parameters, statistics, history and the
    optimizer's state are put back as they were before the call. A fit that builds
    a new network has already replaced the fitted attributes of the data
    (``n_features_in_``, ``classes_``...): the estimator is left unfitted.
    """

    def __init__(self, estimator: BaseTorchEstimator, net: NeuralNet) -> None:
        self.estimator = estimator
        old = getattr(estimator, "net_", None)
        self.old = old if old is not None and old.module_ is net.module_ else None
        if self.old is not None:
            self.module_state = copy.deepcopy(old.module_.state_dict())
            self.optimizer_state = copy.deepcopy(old.optimizer_.state_dict())
            self.n_epochs = len(old.history)

    def __call__(self) -> None:
        if self.old is None:
            for name in [n for n in vars(self.estimator) if n.endswith("_")]:
                if not name.startswith("__"):
                    delattr(self.estimator, name)
            return
        self.old.module_.load_state_dict(self.module_state)
        self.old.optimizer_.load_state_dict(self.optimizer_state)
        del self.old.history[self.n_epochs :]


class _Diverged(Exception):
    def __init__(self, loss: float, epoch: int) -> None:
        super().__init__(f"non-finite loss {loss} at epoch {epoch}")
        self.loss = loss
        self.epoch = epoch


class _DivergenceGuard(Callback):
    """Keeps a copy of the parameters at the start of every epoch."""

    @classmethod
    def attach(cls, net: NeuralNet) -> _DivergenceGuard:
        for name, cb in net.callbacks_:
            if name == "divergence_guard":
                return cb
        guard = cls()
        net.callbacks_.append(("divergence_guard", guard))
        return guard

    def on_epoch_begin(self, net, **kwargs):
        self.state_ = copy.deepcopy(net.module_.state_dict())

    def restore(self, net: NeuralNet) -> None:
        if hasattr(self, "state_"):
            net.module_.load_state_dict(self.state_)


class _seeded:
    """Seed torch inside a block and restore the caller's RNG state afterwards."""

    def __init__(self, seed: int, device: str) -> None:
        self.seed = seed
        devices = []
        if torch.device(device).type == "cuda":
            devices = [torch.device(device).index or 0]
        self._fork = torch.random.fork_rng(devices=devices)

    def __enter__(self):
        self._fork.__enter__()
        torch.manual_seed(self.seed)
        return self

    def __exit__(self, *exc):
        return self._fork.__exit__(*exc)


def _fit_scaler(X: np.ndarray, method, grid_range, sample_weight=None):
    """``((shift, scale), (low, high))``: the input scaling and the bounds of its output.

    From the rows of positive weight, in float64, one value per column:

    - ``x * scale + shift`` maps the column into ``grid_range`` (``"minmax"``: its
      range onto the grid range; ``"standard"``: its mean to the centre, two standard
      deviations to the ends; ``None``: the identity). A column constant in training
      gets ``scale = 0``: every value maps to the point its training value mapped to,
      so a value never seen there (a pixel blank in every training image, lit at
      predict time) changes nothing.
    - ``[low, high]``, where the modules clip the scaled inputs: the scaled training
      range or the grid range, whichever reaches further, widened on each side by
      :data:`INPUT_MARGIN` of the grid range's width.

    Weighted, so that a weight of 0 is the same as leaving the row out; computed
    without overflow or underflow (columns of 1e300 or 1e-300 are scaled, not lost).
    """
    lo, hi = grid_range
    X = np.asarray(X)
    if sample_weight is not None:
        keep = sample_weight > 0
        X, sample_weight = X[keep], sample_weight[keep]
    # Extremes in X's own dtype (exact, and no float64 copy of X), then in float64.
    xmin = X.min(axis=0).astype(np.float64)
    xmax = X.max(axis=0).astype(np.float64)
    if method is None:
        shift, scale = np.zeros(X.shape[1]), np.ones(X.shape[1])
    elif method == "minmax":
        # Halves: the span of columns near the float64 limit does not overflow (and
        # halving is exact, so the scale is the one (hi - lo) / span gives).
        half_span = xmax / 2 - xmin / 2
        constant = ~(half_span > 0)
        scale = np.where(constant, 0.0, (hi - lo) / 2 / np.where(constant, 1.0, half_span))
        shift = lo - xmin * scale
    else:  # standard: mean to the centre of the grid, one std to a quarter of its width
        mean, std = _mean_std(X, sample_weight)
        constant = ~(std > 0)
        scale = np.where(constant, 0.0, (hi - lo) / 4 / np.where(constant, 1.0, std))
        shift = (lo + hi) / 2 - mean * scale
    margin = INPUT_MARGIN * (hi - lo)
    low = np.minimum(xmin * scale + shift, lo) - margin
    high = np.maximum(xmax * scale + shift, hi) + margin
    return (shift, scale), (low, high)


def _mean_std(A: np.ndarray, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and standard deviation of every column of ``A``, in float64.

    Computed on the columns divided by their largest magnitude, so that squares
    neither overflow (values of 1e160) nor underflow (values of 1e-200).
    """
    A = np.asarray(A, dtype=np.float64)
    size = np.max(np.abs(A), axis=0)
    size = np.where(size > 0, size, 1.0)
    unit = A / size
    mean = np.average(unit, axis=0, weights=weights)
    std = np.sqrt(np.average((unit - mean) ** 2, axis=0, weights=weights))
    return mean * size, std * size


def _as_float32(X: np.ndarray, name: str = "X") -> np.ndarray:
    """A fresh, writable, C-contiguous float32 copy of finite ``X``.

    A copy: torch.from_numpy warns on read-only arrays (memory maps) and skorch
    would otherwise share memory. The networks compute in float32, so values
    finite in float64 but beyond float32's range (|x| > 3.4e38) are an error here
    rather than infinities that would turn into NaN predictions (``dtype="float64"``
    networks read float64 and have no such limit).
    """
    with np.errstate(over="ignore"):  # overflow is the error below, not a warning
        X32 = np.array(X, dtype=np.float32, order="C", copy=True)
    if not np.isfinite(X32).all() and np.isfinite(np.asarray(X)).all():
        raise ValueError(
            f"{name} contains values beyond the float32 range (largest magnitude "
            f"{float(np.max(np.abs(X))):.3g} > {float(np.finfo(np.float32).max):.3g}); the "
            f"network computes in float32. Rescale {name}, e.g. with "
            "sklearn.preprocessing.StandardScaler."
        )
    return X32


def _check_callbacks(callbacks) -> None:
    """``callbacks``: skorch callbacks or ``(name, callback)`` pairs, in a list or tuple."""
    if callbacks is None:
        return
    for cb in callbacks:
        if isinstance(cb, tuple) and len(cb) == 2 and isinstance(cb[0], str):
            cb = cb[1]
        if not isinstance(cb, Callback):
            raise TypeError(
                "callbacks must be a list of skorch callbacks (skorch.callbacks.Callback "
                "instances) or (name, callback) pairs, but it holds "
                f"{cb!r} of type {type(cb).__name__}."
            )


def _comparable(value):
    """Sequences as tuples, so that (64,), [64] and np.array([64]) compare equal."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(_comparable(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _layer_sizes(sizes) -> list[int]:
    """``hidden_layer_sizes`` as a list of positive ints (an int is one layer)."""
    original = sizes
    if isinstance(sizes, numbers.Integral):
        sizes = [sizes]
    sizes = list(sizes)
    if any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in sizes):
        raise ValueError(f"hidden_layer_sizes must be positive integers, got {original!r}.")
    return [int(s) for s in sizes]


def _module_grid_size(module: nn.Module, default: int) -> int:
    """Grid size of the module's KAN layers (after any grid extension)."""
    for layer in module.modules():
        if isinstance(layer, (KANLinear, KANConv2d, KANLocal2d)):
            return int(layer.grid_size)
    return int(default)


def _carry_optimizer_state(old: NeuralNet, new: NeuralNet) -> None:
    """Give ``new`` the optimizer state of ``old`` (Adam's moments...) under ``new``'s settings.

    The hyperparameters (``lr``, ``weight_decay``...) stay those ``new`` was built
    with, so that changed parameters are honoured. A different optimizer class
    starts afresh.
    """
    if type(old.optimizer_) is not type(new.optimizer_):
        return
    settings = [{k: v for k, v in g.items() if k != "params"} for g in new.optimizer_.param_groups]
    try:
        new.optimizer_.load_state_dict(old.optimizer_.state_dict())
    except ValueError:  # the parameters differ (e.g. a pruned or extended module)
        return
    for group, setting in zip(new.optimizer_.param_groups, settings):
        group.update(setting)


def _silent(*args, **kwargs) -> None:
    return None
