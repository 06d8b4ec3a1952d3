"""The private torch APIs that :mod:`sklearn_kan.nn` uses, each checked once.

Every private or version-dependent entry point goes through this module, so
that a torch release that moves or changes one of them costs a fallback (and a
reason in :func:`sklearn_kan.nn.kernel_info`), never a crash or a wrong
result:

* ``Tensor._version`` (the in-place modification counter), to cache facts about
  a grid until it changes;
* ``torch.compiler.is_compiling`` (newer than the oldest torch the package
  accepts), to keep what a graph cannot hold out of a user's ``torch.compile``;
* oneDNN's ``torch.ops.mkldnn._linear_pointwise``, a faster float32 product for
  large CPU matrices, checked once against ``torch.addmm`` before it is used.

Nothing here catches an error of a kernel *run*: only the one-time checks fall back.
"""

from __future__ import annotations

import threading

import torch
from torch import Tensor

__all__ = ["is_compiling", "onednn_linear", "onednn_status", "tensor_version"]

_LOCK = threading.Lock()


def is_compiling() -> bool:
    """Whether torch.compile is tracing this call (False where torch cannot say)."""
    check = getattr(getattr(torch, "compiler", None), "is_compiling", None)
    return bool(check is not None and check())


def tensor_version(tensor: Tensor) -> int | None:
    """The in-place modification counter of ``tensor``, or None where it has none.

    Inference tensors (made under ``torch.inference_mode``) have no counter.
    """
    try:
        return tensor._version
    except (AttributeError, RuntimeError):
        return None


class _OneDNN:
    # None: not checked yet; "": available; any other string: why not.
    status: str | None = None


def onednn_status() -> str | None:
    """``None`` before the first use, ``""`` when oneDNN's linear serves, else why not."""
    return _OneDNN.status


def onednn_linear(feats: Tensor, w_mat: Tensor, bias: Tensor | None) -> Tensor | None:
    """``feats @ w_mat.T + bias`` by oneDNN's linear, or None where it cannot serve.

    The first call checks the operator on a small product against ``torch.addmm``;
    a missing operator or a wrong result turns it off for the process.
    """
    if _OneDNN.status is None:
        with _LOCK:
            if _OneDNN.status is None:
                _OneDNN.status = _check_onednn()
    if _OneDNN.status:
        return None
    return torch.ops.mkldnn._linear_pointwise(feats, w_mat, bias, "none", [], "")


def _check_onednn() -> str:
    if not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled):
        return "oneDNN is not available in this torch build"
    gen = torch.Generator().manual_seed(0)
    a, w, b = (torch.randn(shape, generator=gen) for shape in ((33, 70), (17, 70), (17,)))
    try:
        with torch.no_grad():
            got = torch.ops.mkldnn._linear_pointwise(a, w, b, "none", [], "")
    except (AttributeError, RuntimeError, NotImplementedError) as exc:
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    if not torch.allclose(got, torch.addmm(b, a, w.t()), atol=1e-4, rtol=1e-4):
        return "oneDNN's linear gave a different result from torch.addmm"
    return ""
