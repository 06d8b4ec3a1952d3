"""Pure torch building blocks: bases, KAN layers and models. Imports nothing from scikit-learn."""

from .basis import BASES, Basis, get_basis
from .layers import KANConv2d, KANLinear, KANLocal2d, make_contiguous
from .models import FRONTENDS, KAN, MLP, HybridKAN, make_frontend

__all__ = [
    "BASES",
    "FRONTENDS",
    "KAN",
    "Basis",
    "HybridKAN",
    "KANConv2d",
    "KANLinear",
    "KANLocal2d",
    "MLP",
    "get_basis",
    "make_contiguous",
    "make_frontend",
]
