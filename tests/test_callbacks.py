"""The skorch callbacks of the estimators (sklearn_kan.callbacks)."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from sklearn_kan import KANClassifier


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300], y[:300]


def _grid(clf):
    return clf.module_.kan.layers[0].grid.clone()


def test_grid_updates_count_the_epochs_of_each_fit(digits):
    X, y = digits
    clf = KANClassifier((8,), max_epochs=2, random_state=0).fit(X, y)
    before = _grid(clf)
    # A warm-started fit counts its own epochs: epoch 1 of this fit is epoch 3 overall.
    clf.set_params(warm_start=True, grid_update_epochs=(1,), max_epochs=1).fit(X, y)
    assert len(clf.history_) == 3
    assert not torch.equal(_grid(clf), before)
    # grid_update_epochs=(2,) and a one-epoch fit: no second epoch, no update.
    moved = _grid(clf)
    clf.set_params(grid_update_epochs=(2,)).fit(X, y)
    assert torch.equal(_grid(clf), moved)


def test_partial_fit_counts_its_calls(digits):
    X, y = digits
    clf = KANClassifier((8,), grid_update_epochs=(2,), random_state=0)
    clf.partial_fit(X, y, classes=np.unique(y))
    first = _grid(clf)
    clf.partial_fit(X, y)  # the second call is the network's second epoch
    second = _grid(clf)
    assert not torch.equal(second, first)
    clf.partial_fit(X, y)
    assert torch.equal(_grid(clf), second)


def test_epoch_progress_bar_leaves_a_picklable_estimator(digits):
    import pickle

    from sklearn_kan.callbacks import EpochProgressBar

    X, y = digits
    kan = KANClassifier(hidden_layer_sizes=(4,), max_epochs=2, callbacks=[EpochProgressBar()])
    kan.fit(X, y)
    # joblib workers send fitted estimators back pickled (compare(n_jobs=2)).
    assert pickle.loads(pickle.dumps(kan)).predict(X).shape == y.shape
