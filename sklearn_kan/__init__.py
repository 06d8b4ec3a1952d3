"""sklearn-kan: Kolmogorov-Arnold Networks for computer vision, as scikit-learn estimators."""

import os as _os
import sys as _sys

# OpenMP threads that spin while they wait make torch 20-100x slower on a machine
# where other processes run; the runtime reads the policy once, when torch loads it,
# so it is set here, before torch is imported (a value set by the user is kept).
# See sklearn_kan.nn.plan_threads.
if "torch" not in _sys.modules:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ._counting import count_params
from .classifier import HybridKANClassifier, KANClassifier
from .regressor import KANRegressor

__version__ = "0.1.0"

__all__ = ["HybridKANClassifier", "KANClassifier", "KANRegressor", "__version__", "count_params"]
