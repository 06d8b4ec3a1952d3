"""How many torch threads a fit or a prediction uses, and why; the one place that sets them.

:func:`plan_threads` chooses the count from the size of the work and
:class:`using_threads` runs a block with it and restores the previous count (grid
updates run with one thread). Both are public names of :mod:`sklearn_kan.nn`.

Two facts decide how fast training feels on a real machine:

* **Waiting.** torch's OpenMP threads spin while they wait for work by default
  (``OMP_WAIT_POLICY`` unset means *active* for GNU OpenMP). With other processes
  on the cores, a spinning thread holds a core that the thread it waits for needs:
  a plain torch MLP step went from 0.55 ms to 55 ms on two cores shared with two
  busy processes, and a KAN fit from 7 s to 144 s. Passive waiting (threads sleep
  on a futex) keeps the cost at about the fair share. OpenMP reads the policy
  once, when torch loads it, so :mod:`sklearn_kan` sets
  ``OMP_WAIT_POLICY=PASSIVE`` when it is imported before torch (a value you set
  yourself is kept). Where torch was loaded first, the policy can no longer be
  changed: fits and predictions then use one thread (and say so once, with a
  warning), unless you choose the number yourself.
* **Size.** Below about :data:`SMALL_WORK_MACS` multiply-adds per step, a second
  thread costs more in wake-ups than it saves, and a single thread is also immune
  to busy neighbours. Fits and predictions of small models therefore use one
  thread; larger ones use torch's current setting.

Your own choice wins: after ``torch.set_num_threads(n)`` (called once
:mod:`sklearn_kan` is imported) or with ``OMP_NUM_THREADS`` in the environment, that
number is used as it is (as the cap for large work; small work still uses one
thread unless you pass the number yourself). Inside joblib and Dask worker processes
``OMP_NUM_THREADS`` is the worker's share of the cores and is applied to torch in
every fit (torch reads it only once, so a reused worker could keep an old setting).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import warnings

import torch

from ._compat import is_compiling

__all__ = [
    "SMALL_WORK_MACS",
    "parallel_products_only",
    "passive_waiting",
    "plan_threads",
    "user_thread_count",
    "using_threads",
]

# Multiply-adds of one training step's (or one prediction chunk's) forward pass
# below which one thread is used. A [49, 10, 10] KAN at batch 128 (0.7 M) trained
# faster on one thread than on two (0.72 vs 1.08 ms a step, 2-core machine);
# [784, 64, 10] at batch 128 (58 M) needs both.
SMALL_WORK_MACS = 1 << 24

# torch's thread count when sklearn_kan was imported: a different count later is the
# user's own torch.set_num_threads, which is then used as it is.
_DEFAULT_THREADS = torch.get_num_threads()


class using_threads:
    """Run a block with ``n`` torch threads and restore the previous count after.

    Parameters
    ----------
    n : int
        torch's intra-op thread count inside the block.

    Examples
    --------
    >>> import torch
    >>> from sklearn_kan.nn import using_threads
    >>> before = torch.get_num_threads()
    >>> with using_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self):
        self._previous = torch.get_num_threads()
        if self.n != self._previous:
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        if torch.get_num_threads() != self._previous:
            torch.set_num_threads(self._previous)
        return False


class _Warned:
    active = False


def passive_waiting() -> bool:
    """Whether torch's OpenMP threads sleep (rather than spin) while they wait."""
    return os.environ.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE"


def user_thread_count() -> int | None:
    """torch's thread count if it is your own choice, else None.

    Your own choice is a ``torch.set_num_threads(n)`` called after
    :mod:`sklearn_kan` was imported; fits and predictions then use ``n`` threads
    for everything, as they are (:func:`plan_threads`).

    Returns
    -------
    int or None
    """
    current = torch.get_num_threads()
    return current if current != _DEFAULT_THREADS else None


def plan_threads(macs: float, *, power_of_two: bool = False) -> int:
    """The number of torch threads for work of ``macs`` multiply-adds per step.

    Parameters
    ----------
    macs : float
        Multiply-adds of the forward pass of one training step or prediction chunk.
    power_of_two : bool, default=False
        Round down to a power of two. Predictions do, so that torch splits every
        tensor into pieces whose vectorised loops end at the same elements whatever
        rows a batch holds (a row's prediction must not depend on its batch).

    Returns
    -------
    int
    """
    own = user_thread_count()
    if own is not None:
        return own  # the user's own torch.set_num_threads
    cap = torch.get_num_threads()
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if multiprocessing.parent_process() is not None and env.isdigit() and int(env) > 0:
        cap = int(env)  # a joblib / Dask worker's share of the cores
    n = 1 if macs < SMALL_WORK_MACS else max(1, cap)
    if power_of_two:
        n = 1 << (n.bit_length() - 1)
    if n > 1 and not passive_waiting():
        # Spinning threads cannot be turned off any more (torch came first): one
        # thread is immune to busy neighbours; say how to get the others back.
        if not _Warned.active:
            _Warned.active = True
            warnings.warn(
                f"sklearn_kan: torch was imported before sklearn_kan without "
                f"OMP_WAIT_POLICY=PASSIVE, so its OpenMP threads spin while they wait, "
                f"which makes training 20-100 times slower when other processes use the "
                f"cores. sklearn_kan therefore trains and predicts with 1 thread instead "
                f"of {n}. To use {n}: import sklearn_kan before torch, or set "
                f"OMP_WAIT_POLICY=PASSIVE in the environment, or choose the count yourself "
                f"with torch.set_num_threads after importing sklearn_kan.",
                RuntimeWarning,
                stacklevel=4,
            )
        n = 1
    return n


class _Products:
    """Threads of the fused KAN layers inside :class:`parallel_products_only` (None: torch's)."""

    threads: int | None = None


class parallel_products_only:
    """Run a block on one torch thread, except the fused B-spline KAN layers.

    With passive waiting (:func:`passive_waiting`) every parallel torch operation
    wakes the sleeping threads (tens of microseconds on a VM), which a small
    operation does not earn back: an input scaling, a BatchNorm over a batch of 128
    rows, the loss, the optimizer's updates. The layers' matrix products and native
    kernels do. Inside this block the small operations run on one thread and the
    forward and backward passes of every :class:`~sklearn_kan.nn.KANLinear` whose
    :attr:`~sklearn_kan.nn.KANLinear.fused` is true on ``n``. No result depends on
    the thread count of an elementwise operation, so only the speed differs from
    ``using_threads(n)``. ``KANClassifier`` and ``KANRegressor`` train so when every
    layer is fused, the fit has no grid updates and no ``lamb``, and it uses more
    than one thread of sklearn_kan's choosing (a count of your own,
    :func:`user_thread_count`, is used for everything); in a loop of your own it
    helps when the network's other operations are small.

    Parameters
    ----------
    n : int
        Threads of the fused layers' products and kernels.

    Examples
    --------
    >>> import torch
    >>> from sklearn_kan.nn import KAN, parallel_products_only
    >>> net = KAN([49, 10, 10])
    >>> with parallel_products_only(2):
    ...     torch.get_num_threads()
    ...     out = net(torch.rand(128, 49))
    1
    >>> out.shape
    torch.Size([128, 10])
    """

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self):
        self._previous = _Products.threads
        _Products.threads = self.n
        self._serial = using_threads(1).__enter__()
        return self

    def __exit__(self, *exc):
        self._serial.__exit__(*exc)
        _Products.threads = self._previous
        return False


def product_threads():
    """The thread count of a fused KAN layer's products here (a context manager)."""
    if _Products.threads is None or is_compiling():
        return contextlib.nullcontext()
    return using_threads(_Products.threads)
