"""Run a block with a given number of torch threads.

The one place that changes torch's intra-op thread count and restores it: grid
updates use it with one thread, the estimators (``sklearn_kan._threads``) with the
count they choose for a fit or a prediction.
"""

from __future__ import annotations

import torch

__all__ = ["using_threads"]


class using_threads:
    """Run a block with ``n`` torch threads and restore the previous count after."""

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
