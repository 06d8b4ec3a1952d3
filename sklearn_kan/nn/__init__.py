"""Pure torch building blocks: bases, KAN layers and models. Imports nothing from scikit-learn."""

from ._fused import compile_info, compiling, reset_compiled, set_compile
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
    "compile_info",
    "compiling",
    "get_basis",
    "make_frontend",
    "reset_compiled",
    "set_batch_norm_statistics",
    "set_compile",
]
