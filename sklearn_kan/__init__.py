"""sklearn-kan: Kolmogorov-Arnold Networks for computer vision, as scikit-learn estimators."""

from ._base import count_params
from .classifier import HybridKANClassifier, KANClassifier
from .regressor import KANRegressor

__version__ = "0.1.0"

__all__ = ["HybridKANClassifier", "KANClassifier", "KANRegressor", "__version__", "count_params"]
