"""Why BatchNorm layers keep the training rows' statistics: a short fit on digits.

A 3-epoch ``GridSearchCV`` (2 folds of 300 of scikit-learn's digits, offline) of
``make_pipeline(Downsample(4), KANClassifier(max_epochs=3, lr=1e-2))`` with
``hidden_norm=None``, with ``"batchnorm"`` and torch's running averages (the
statistics pass switched off by patching the net), and with ``"batchnorm"`` as it
is. The user guide's "Making the plain KAN better" quotes the three scores.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_short_fit_batchnorm.py`` (seconds).
"""

from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

import sklearn_kan._base as base
from sklearn_kan import KANClassifier
from sklearn_kan.preprocessing import Downsample

X, y = load_digits(return_X_y=True)
X, y = X[:600], y[:600]
orig = base._KANNet.__init__


def no_stats(self, *a, norm_statistics=None, **k):
    orig(self, *a, norm_statistics=None, **k)


for label, hn, patch in [
    ("none", None, False),
    ("batchnorm, running averages", "batchnorm", True),
    ("batchnorm, statistics pass", "batchnorm", False),
]:
    base._KANNet.__init__ = no_stats if patch else orig
    pipe = Pipeline(
        [
            ("down", Downsample(4)),
            ("kan", KANClassifier(max_epochs=3, lr=1e-2, random_state=0, hidden_norm=hn)),
        ]
    )
    print(
        label, round(GridSearchCV(pipe, {"kan__grid_size": [3, 5]}, cv=2).fit(X, y).best_score_, 4)
    )
