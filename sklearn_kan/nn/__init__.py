"""Pure torch building blocks: bases, KAN layers and models. Imports nothing from scikit-learn."""

from ._fused import kernel_info, set_kernels
from ._threading import SMALL_WORK_MACS as SMALL_WORK_MACS  # a setting, not API reference
from ._threading import (
    parallel_products_only,
    passive_waiting,
    plan_threads,
    user_thread_count,
    using_threads,
)
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
    "parallel_products_only",
    "passive_waiting",
    "plan_threads",
    "set_batch_norm_statistics",
    "set_kernels",
    "user_thread_count",
    "using_threads",
]
