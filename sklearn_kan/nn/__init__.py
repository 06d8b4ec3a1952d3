"""Pure torch building blocks: bases, KAN layers and models. Imports nothing from scikit-learn."""

from .basis import BASES, Basis, get_basis
from .layers import KANLinear
from .models import KAN

__all__ = ["BASES", "KAN", "Basis", "KANLinear", "get_basis"]
