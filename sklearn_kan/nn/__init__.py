"""Pure torch building blocks: bases, KAN layers and models. Imports nothing from scikit-learn."""

from ._fused import kernel_info, set_kernels

# The thread policy that the estimators use: public names, outside __all__ (which
# is what the API reference lists).
from ._threading import SMALL_WORK_MACS as SMALL_WORK_MACS
from ._threading import passive_waiting as passive_waiting
from ._threading import plan_threads as plan_threads
from ._threading import using_threads as using_threads
from .basis import BASES, Basis, get_basis
from .layers import KANConv2d, KANLinear, KANLocal2d
from .models import (
    FRONTENDS,
    KAN,
    MLP,
    HybridKAN,
    ScaledKAN,
    make_frontend,
    set_batch_norm_statistics,
)

__all__ = [
    "BASES",
    "FRONTENDS",
    "KAN",
    "MLP",
    "Basis",
    "HybridKAN",
    "KANConv2d",
    "KANLinear",
    "KANLocal2d",
    "ScaledKAN",
    "get_basis",
    "kernel_info",
    "make_frontend",
    "set_batch_norm_statistics",
    "set_kernels",
]
