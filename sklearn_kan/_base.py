"""Shared estimator machinery: parameters, validation, seeding, the skorch net, fit and predict.

Every estimator of the package is a thin subclass of :class:`BaseKAN` that says
how targets are encoded (``_encode_y``), which loss to train with
(``_criterion``), how many outputs the network has and which torch module to
build (``_build_module``). Everything else, including the training loop (skorch),
lives here once.
"""

from __future__ import annotations

import copy
import multiprocessing
import numbers
import os
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping
from skorch.dataset import Dataset as SkorchDataset
from skorch.dataset import ValidSplit
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, Subset
from torch.utils.data import Dataset as TorchDataset

from .callbacks import CosineSchedule, GridSchedule, GridUpdate
from .nn.basis import BASES
from .nn.layers import make_contiguous
from .nn.models import KAN

__all__ = ["BaseKAN", "count_params", "resolve_device"]

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "lbfgs": torch.optim.LBFGS,
}


class BaseKAN(BaseEstimator):
    """Base class of the KAN estimators. Not meant to be used directly.

    See :class:`~sklearn_kan.KANClassifier` for the parameters.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "grid_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "spline_order": [Interval(numbers.Integral, 0, None, closed="left")],
        "basis": [StrOptions(set(BASES))],
        "grid_range": ["array-like"],
        "input_scaling": [StrOptions({"minmax", "standard"}), None],
        "hidden_norm": [StrOptions({"batchnorm", "layernorm", "tanh"}), None],
        "grid_update_epochs": ["array-like", None],
        "grid_eps": [Interval(numbers.Real, 0, 1, closed="both")],
        "grid_schedule": ["array-like", None],
        "lamb": [Interval(numbers.Real, 0, None, closed="left")],
        "lamb_l1": [Interval(numbers.Real, 0, None, closed="left")],
        "lamb_entropy": [Interval(numbers.Real, 0, None, closed="left")],
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
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, None],
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        *,
        grid_size=5,
        spline_order=3,
        basis="bspline",
        grid_range=(-1.0, 1.0),
        input_scaling="minmax",
        hidden_norm=None,
        grid_update_epochs=None,
        grid_eps=0.02,
        grid_schedule=None,
        lamb=0.0,
        lamb_l1=1.0,
        lamb_entropy=2.0,
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
        random_state=None,
        verbose=0,
        callbacks=None,
        warm_start=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.grid_size = grid_size
        self.spline_order = spline_order
        self.basis = basis
        self.grid_range = grid_range
        self.input_scaling = input_scaling
        self.hidden_norm = hidden_norm
        self.grid_update_epochs = grid_update_epochs
        self.grid_eps = grid_eps
        self.grid_schedule = grid_schedule
        self.lamb = lamb
        self.lamb_l1 = lamb_l1
        self.lamb_entropy = lamb_entropy
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
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.warm_start = warm_start

    # -- what subclasses provide -------------------------------------------------

    def _encode_y(self, y, reset: bool):  # pragma: no cover - abstract
        """Return ``(y_encoded, n_outputs)``; set fitted target attributes if reset."""
        raise NotImplementedError

    def _criterion(self) -> type[nn.Module]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _validate_X(self, X, reset: bool) -> np.ndarray:
        """Validate ``X`` once and return it as a float32 array of flat rows."""
        X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        return _as_float32(X)

    def _build_module(self, X: np.ndarray, n_outputs: int) -> nn.Module:
        """Input scaling + KAN, widths from the data and ``hidden_layer_sizes``."""
        widths = [X.shape[1], *self._hidden_sizes(), n_outputs]
        return ScaledKAN(
            widths,
            scaler=_fit_scaler(X, self.input_scaling, self._grid_range()),
            hidden_norm=self.hidden_norm,
            **self._layer_kwargs(),
        )

    # -- fit ---------------------------------------------------------------------

    def _fit(self, X, y, *, partial: bool = False, classes=None):
        """Validate, build (or reuse) the skorch net, train, and set fitted attributes."""
        self._validate_params()
        self._check_hyperparameters()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        first = not (partial or self.warm_start) or not hasattr(self, "net_")
        X = self._validate_X(X, reset=first)
        y, n_outputs = self._encode_y(y, reset=first, classes=classes)
        if X.shape[0] != y.shape[0]:  # validate_data(X, y) is not used: X may be images
            raise ValueError(
                f"Found input variables with inconsistent numbers of samples: "
                f"[{X.shape[0]}, {y.shape[0]}]."
            )
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        device = resolve_device(self.device)
        with _seeded(seed, device), _worker_threads():
            self.n_threads_ = torch.get_num_threads()
            if first:
                module = self._build_module(X, n_outputs)
                self.net_ = self._build_net(module, device, seed, n_samples=X.shape[0])
                self.net_.initialize()
            epochs = 1 if partial else self.max_epochs
            for name, cb in self.net_.callbacks_:
                if name == "lr_schedule":
                    cb.active = not partial
                    cb.max_epochs = self.max_epochs
            guard = _DivergenceGuard.attach(self.net_)
            try:
                self.net_.partial_fit(X, y, epochs=epochs)
            except _Diverged as exc:
                guard.restore(self.net_)
                self._set_fitted_attributes()
                raise FloatingPointError(
                    f"{type(self).__name__} diverged: the training loss became {exc.loss} at "
                    f"epoch {exc.epoch}. The model keeps the parameters it had at the start of "
                    f"that epoch (finite). Lower `lr` (now {self.lr}), use a smaller "
                    f"`grid_size`, or enable `input_scaling`."
                ) from None
        self._set_fitted_attributes()
        return self

    def _build_net(self, module: nn.Module, device: str, seed: int, n_samples: int) -> NeuralNet:
        callbacks = []
        if self.lr_schedule == "cosine":
            callbacks.append(("lr_schedule", CosineSchedule(self.max_epochs)))
        if self.grid_update_epochs is not None:
            callbacks.append(
                ("grid_update", GridUpdate(tuple(self.grid_update_epochs), self.grid_eps, seed))
            )
        if self.grid_schedule is not None:
            callbacks.append(
                ("grid_schedule", GridSchedule(tuple(self.grid_schedule), self.max_epochs))
            )
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
        # Clones, so that fitting never mutates the callbacks the user passed.
        for i, cb in enumerate(self.callbacks or []):
            callbacks.append(
                (f"user_{i}", clone(cb) if hasattr(cb, "get_params") else copy.deepcopy(cb))
            )
        optimizer = _OPTIMIZERS.get(self.optimizer, self.optimizer)
        kwargs = {}
        if self.weight_decay:
            kwargs["optimizer__weight_decay"] = self.weight_decay
        return _KANNet(
            module=module,
            criterion=self._criterion(),
            optimizer=optimizer,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=-1 if self.batch_size is None else min(self.batch_size, n_samples),
            iterator_train__shuffle=True,
            train_split=train_split,
            callbacks=callbacks,
            predict_nonlinearity=None,
            warm_start=True,
            verbose=int(self.verbose),
            device=device,
            lamb=self.lamb,
            lamb_l1=self.lamb_l1,
            lamb_entropy=self.lamb_entropy,
            **kwargs,
        )

    def __getstate__(self):
        # The module is pickled once, inside the skorch net, whose own pickling
        # maps CUDA tensors to the CPU on machines without CUDA; pickling
        # ``module_`` by itself (torch's default) would fail to load there.
        state = self.__dict__.copy()
        state.pop("module_", None)
        state.pop("history_", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "net_" in state:
            self._set_fitted_attributes()

    def _set_fitted_attributes(self) -> None:
        self.module_ = self.net_.module_
        self.history_ = self.net_.history
        self.n_params_ = count_params(self.module_)

    # -- predict -----------------------------------------------------------------

    def _forward(self, X) -> np.ndarray:
        """Network outputs for ``X`` as a float64 array (no output nonlinearity).

        On the CPU the forward pass runs in float64 on a copy of the module: float32
        matrix products round differently for different batch sizes, and a sample's
        prediction must not depend on which other samples it is predicted with
        (scikit-learn checks this to 1e-7). On accelerators it stays in float32.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        module = self.net_.module_
        device = next(module.parameters()).device
        dtype = torch.float64 if device.type == "cpu" else torch.float32
        if dtype == torch.float64:
            module = copy.deepcopy(module).to(dtype)
        module.eval()
        batch = self.net_.batch_size if self.net_.batch_size > 0 else len(X)
        outs = []
        with torch.no_grad():
            for start in range(0, len(X), max(batch, 1024)):
                xb = torch.as_tensor(X[start : start + max(batch, 1024)], device=device)
                outs.append(module(xb.to(dtype)).to("cpu", torch.float64))
        if not outs:
            raise ValueError("X has 0 samples; at least one sample is required.")
        return torch.cat(outs).numpy()

    # -- helpers -----------------------------------------------------------------

    _stratify = False

    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral):
            sizes = [sizes]
        sizes = list(sizes)
        if any(not isinstance(s, numbers.Integral) or s < 1 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}."
            )
        return [int(s) for s in sizes]

    def _grid_range(self) -> tuple[float, float]:
        try:
            lo, hi = (float(v) for v in self.grid_range)
        except (TypeError, ValueError):
            raise ValueError(
                f"grid_range must be a pair (low, high), got {self.grid_range!r}."
            ) from None
        if not lo < hi:
            raise ValueError(f"grid_range must have low < high, got {self.grid_range!r}.")
        return lo, hi

    def _layer_kwargs(self) -> dict:
        return {
            "grid_size": int(self.grid_size),
            "spline_order": int(self.spline_order),
            "basis": self.basis,
            "grid_range": self._grid_range(),
        }

    def _check_hyperparameters(self) -> None:
        """Checks that ``_parameter_constraints`` cannot express."""
        self._hidden_sizes()
        self._grid_range()
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


class ScaledKAN(nn.Module):
    """A :class:`~sklearn_kan.nn.KAN` behind a fixed affine input scaling.

    The scaling maps the training range of every input into the grid range, so
    the splines start where the data is. It is stored in buffers, so it moves
    with the module between devices and is saved with it.

    Parameters
    ----------
    widths : sequence of int
        Widths of the KAN, input first.
    scaler : tuple of (shift, scale) arrays or None
        ``x * scale + shift`` is applied to the inputs; ``None`` for identity.
    **layer_kwargs
        Passed to :class:`~sklearn_kan.nn.KAN`.
    """

    def __init__(self, widths: Sequence[int], scaler=None, **layer_kwargs) -> None:
        super().__init__()
        n_in = int(widths[0])
        shift, scale = scaler if scaler is not None else (np.zeros(n_in), np.ones(n_in))
        self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
        self.kan = KAN(widths, **layer_kwargs)

    def scale_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """The inputs as the first KAN layer sees them."""
        return x * self.scale + self.shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.kan(self.scale_inputs(x))

    def update_grid(self, x: torch.Tensor, grid_eps: float = 0.02) -> None:
        self.kan.update_grid(self.scale_inputs(x), grid_eps=grid_eps)

    def extend_grid(self, new_grid_size: int) -> None:
        self.kan.extend_grid(new_grid_size)

    def regularization_loss(self, x: torch.Tensor, lamb_l1: float, lamb_entropy: float):
        return self.kan.regularization_loss(self.scale_inputs(x), lamb_l1, lamb_entropy)


def count_params(obj) -> int:
    """Number of trainable parameters of a torch module or a fitted estimator.

    Parameters
    ----------
    obj : torch.nn.Module or fitted estimator
        A module, an estimator with ``module_`` (or ``n_params_``), or a
        :class:`~sklearn.pipeline.Pipeline` ending in one. scikit-learn's
        ``MLPClassifier`` / ``MLPRegressor`` are counted from ``coefs_`` and
        ``intercepts_``.

    Returns
    -------
    int
    """
    if isinstance(obj, nn.Module):
        n = sum(p.numel() for p in obj.parameters() if p.requires_grad)
        # Edges removed by pruning (sklearn_kan.inspection.prune) stay in the weight
        # tensors, masked to zero: they are not parameters of the model any more.
        for layer in obj.modules():
            mask = getattr(layer, "edge_mask", None)
            if mask is not None:
                n -= int((mask == 0).sum()) * layer.weight.shape[-1]
        return n
    if hasattr(obj, "steps"):
        return count_params(obj.steps[-1][1])
    if hasattr(obj, "module_"):
        return count_params(obj.module_)
    if hasattr(obj, "coefs_"):
        return int(sum(c.size for c in obj.coefs_) + sum(b.size for b in obj.intercepts_))
    raise TypeError(
        f"count_params expects a torch module or a fitted estimator, got {type(obj).__name__}."
    )


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
        if not isinstance(dataset.X, arrays) or not isinstance(dataset.y, (*arrays, type(None))):
            return None
        return cls(dataset.X, dataset.y, rows, len(dataset) if rows is None else len(rows))

    def __len__(self) -> int:
        return self.length

    @staticmethod
    def _take(array, idx: np.ndarray):
        return array[torch.from_numpy(idx)] if isinstance(array, torch.Tensor) else array[idx]

    def __getitem__(self, idx: np.ndarray):
        if self.rows is not None:
            idx = self.rows[idx]
        # skorch's placeholder for a missing target is one 0 per row.
        y = torch.zeros(len(idx), 1) if self.y is None else self._take(self.y, idx)
        return self._take(self.X, idx), y


class _KANNet(NeuralNet):
    """skorch net with the KAN penalty in the loss and a check for non-finite losses."""

    def __init__(self, *args, lamb=0.0, lamb_l1=1.0, lamb_entropy=2.0, **kwargs):
        kwargs.setdefault("iterator_train", _batch_iterator)
        kwargs.setdefault("iterator_valid", _batch_iterator)
        super().__init__(*args, **kwargs)
        self.lamb = lamb
        self.lamb_l1 = lamb_l1
        self.lamb_entropy = lamb_entropy

    def initialize_optimizer(self, *args, **kwargs):
        optimizer = self.optimizer
        if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.LBFGS):
            # LBFGS views parameters and gradients flat; KANLinear stores its weight
            # feature-major (see sklearn_kan.nn.make_contiguous).
            make_contiguous(self.module_)
        return super().initialize_optimizer(*args, **kwargs)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
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


class _worker_threads:
    """Inside a worker process, use the worker's share of the cores for torch.

    joblib's process backends (loky, multiprocessing) and Dask's nannies start
    workers with ``OMP_NUM_THREADS`` set to their share of the cores (joblib:
    ``cpu_count // n_jobs``; Dask: 1 per worker thread). torch reads that variable
    only when it first starts its thread pool, which a reused worker may have done
    under another setting, so it is applied here, in ``fit``, and restored after.
    In the main process the user's torch setting is left alone.
    """

    def __enter__(self):
        self._previous = torch.get_num_threads()
        env = os.environ.get("OMP_NUM_THREADS", "")
        if multiprocessing.parent_process() is not None and env.isdigit() and int(env) > 0:
            torch.set_num_threads(int(env))
        return self

    def __exit__(self, *exc):
        if torch.get_num_threads() != self._previous:
            torch.set_num_threads(self._previous)
        return False


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


def _fit_scaler(X: np.ndarray, method, grid_range):
    if method is None:
        return None
    lo, hi = grid_range
    if method == "minmax":
        xmin, xmax = X.min(axis=0), X.max(axis=0)
        span = xmax - xmin
        span[span <= 0] = 1.0
        scale = (hi - lo) / span
        shift = lo - xmin * scale
    else:  # standard: mean to the centre of the grid, one std to a quarter of its width
        mean, std = X.mean(axis=0), X.std(axis=0)
        std[std <= 0] = 1.0
        scale = (hi - lo) / 4 / std
        shift = (lo + hi) / 2 - mean * scale
    return shift.astype(np.float32), scale.astype(np.float32)


def _as_float32(X: np.ndarray) -> np.ndarray:
    # A fresh, writable, C-contiguous float32 copy: torch.from_numpy warns on
    # read-only arrays (memory maps) and skorch would otherwise share memory.
    return np.array(X, dtype=np.float32, order="C", copy=True)


def _silent(*args, **kwargs) -> None:
    return None
