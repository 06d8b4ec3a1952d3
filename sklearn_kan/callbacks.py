"""skorch callbacks that the KAN estimators add to training.

The grid callbacks act on any module that offers ``update_grid(x, grid_eps)`` /
``extend_grid(new_grid_size)`` (every model of :mod:`sklearn_kan.nn` does). The
learning-rate schedule is skorch's own ``LRScheduler`` with torch's
``CosineAnnealingLR`` (see ``lr_schedule`` of the estimators).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from skorch.callbacks import Callback
from skorch.callbacks import PrintLog as _SkorchPrintLog

from .nn.basis import get_basis

# EpochProgressBar is documented (and listed in __all__) in sklearn_kan.model_selection.
__all__ = ["GridSchedule", "GridUpdate", "PrintLog"]


class GridUpdate(Callback):
    """Re-place the spline grids on the data after chosen epochs.

    Parameters
    ----------
    epochs : sequence of int
        Epoch numbers (1-based) after which the grids are updated, counted from
        the start of each fit (a warm-started fit counts its own epochs), or over
        the net's whole history with ``per_fit=False``.
    grid_eps : float, default=0.02
        Weight of the uniform grid mixed with the data quantiles.
    random_state : int, default=0
        Seed of the subsample of training rows used for the update.
    max_samples : int, default=1024
        Rows of the training data used to place the grid.
    per_fit : bool, default=True
        Whether ``epochs`` count from the start of each fit. ``partial_fit``
        trains one epoch per call; the estimators pass False for it, so that its
        calls count as the network's epochs (``(2,)``: after the second call).
    """

    def __init__(
        self,
        epochs: Sequence[int],
        grid_eps: float = 0.02,
        random_state: int = 0,
        max_samples: int = 1024,
        per_fit: bool = True,
    ) -> None:
        self.epochs = epochs
        self.grid_eps = grid_eps
        self.random_state = random_state
        self.max_samples = max_samples
        self.per_fit = per_fit

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        _check_placeable(net.module_, "grid_update_epochs (update_grid)")
        # The epochs already in the history (a warm start continues it).
        self.first_epoch_ = len(net.history) if self.per_fit else 0
        if isinstance(X, Mapping):  # inputs with sample weights: rows of weight 0 are left out
            X = np.asarray(X["X"])[np.asarray(X["sample_weight"]) > 0]
        X = np.asarray(X)
        rng = np.random.RandomState(self.random_state)
        if len(X) > self.max_samples:
            X = X[np.sort(rng.choice(len(X), self.max_samples, replace=False))]
        self.sample_ = X

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) - self.first_epoch_ in set(self.epochs):
            module = net.module_
            device = next(module.parameters()).device
            with torch.no_grad():
                module.update_grid(torch.as_tensor(self.sample_, device=device), self.grid_eps)


class GridSchedule(Callback):
    """Train on a schedule of grid sizes: the KAN paper's coarse-to-fine grid extension.

    The epochs are split into ``len(grid_sizes) + 1`` equal stages; at the end of
    each stage but the last, every layer's grid is extended to the next size
    (the functions are kept by a least-squares refit) and the optimizer is
    rebuilt for the new parameters. The learning rate reached so far and any
    learning-rate scheduler (e.g. the estimators' cosine schedule) carry over to
    the new optimizer.

    Parameters
    ----------
    grid_sizes : sequence of int
        The grid sizes after the initial one, increasing.
    max_epochs : int
        Total number of epochs of the fit, used to place the stage boundaries.
    """

    def __init__(self, grid_sizes: Sequence[int], max_epochs: int) -> None:
        self.grid_sizes = grid_sizes
        self.max_epochs = max_epochs

    def on_train_begin(self, net, **kwargs):
        _check_placeable(net.module_, "grid_schedule (extend_grid)")
        # The schedule runs once, in the first fit; a warm-started or partial
        # fit continues on the final grid.
        self.switch_at_ = {}
        if len(net.history) == 0:
            n_stages = len(self.grid_sizes) + 1
            bounds = np.linspace(0, self.max_epochs, n_stages + 1)[1:-1]
            self.switch_at_ = {
                max(1, int(round(b))): size for b, size in zip(bounds, self.grid_sizes)
            }

    def on_epoch_end(self, net, **kwargs):
        size = self.switch_at_.get(len(net.history))
        if size is not None:
            net.module_.extend_grid(size)
            old = net.optimizer_
            net.initialize_optimizer()
            for old_group, group in zip(old.param_groups, net.optimizer_.param_groups):
                group.update({k: v for k, v in old_group.items() if k != "params"})
            # skorch's LRScheduler holds a torch scheduler bound to the optimizer.
            for _, cb in net.callbacks_:
                scheduler = getattr(cb, "lr_scheduler_", None)
                if getattr(scheduler, "optimizer", None) is old:
                    scheduler.optimizer = net.optimizer_


class PrintLog(_SkorchPrintLog):
    """skorch's table of epochs, with colour codes only when printing to a terminal.

    skorch colours the best value of each column with ANSI escape codes; in a log
    file, a CI job or captured output they show as ``ESC[36m`` noise. The
    estimators use this class for their ``verbose`` output. The parameters are
    skorch's :class:`skorch.callbacks.PrintLog`'s.
    """

    def format_row(self, row, key, color):
        text = super().format_row(row, key, color)
        if isinstance(text, str) and not _is_terminal(self.sink):
            text = _ANSI.sub("", text)
        return text


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class EpochProgressBar(Callback):
    """skorch callback: a tqdm bar over the epochs of a fit, with the training loss.

    skorch's own ``ProgressBar`` counts the batches of one epoch; a comparison
    wants the epochs of a fit. Shown on a terminal only (tqdm's ``disable=None``).
    """

    def on_train_begin(self, net, **kwargs):
        from tqdm.auto import tqdm

        self.bar_ = tqdm(
            total=net.max_epochs,
            desc="  epochs",
            unit="epoch",
            leave=False,
            file=sys.stderr,
            disable=None,
        )

    def on_epoch_end(self, net, **kwargs):
        self.bar_.update(1)
        self.bar_.set_postfix(train_loss=f"{net.history[-1]['train_loss']:.4f}")

    def on_train_end(self, net, **kwargs):
        # Dropped, not kept: a bar holds its stream, which does not pickle (joblib
        # workers send the fitted estimators back pickled).
        self.bar_.close()
        del self.bar_


def _is_terminal(sink) -> bool:
    # Only print's destination is known; other sinks (loggers) get plain text.
    stream = sys.stdout
    return sink is print and hasattr(stream, "isatty") and stream.isatty()


def _check_placeable(module: torch.nn.Module, what: str) -> None:
    """Refuse, before training, a grid operation on a basis whose grid is learned."""
    for layer in module.modules():
        name = getattr(layer, "basis", None)
        if isinstance(name, str) and hasattr(layer, "grid") and get_basis(name).learnable:
            raise ValueError(
                f"{what} is not available with basis={name!r}: its grid holds coefficients "
                "learned with the weights, not knots placed on the data. Use another basis "
                "or leave it unset."
            )
