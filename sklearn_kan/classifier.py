"""KAN classifiers. Only what differs from the shared machinery in ``_base``."""

from __future__ import annotations

import numpy as np
from scipy.special import softmax
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d
from torch import nn

from ._base import BaseKAN

__all__ = ["KANClassifier"]

_PARAMS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(64,)
        Width of each hidden layer, as in ``MLPClassifier``. The input width is
        the number of features and the output width the number of classes
        (one for a regressor's single target). ``()`` gives a one-layer KAN.
    grid_size : int, default=5
        Number of grid intervals of every edge's spline.
    spline_order : int, default=3
        Degree of the B-splines (3 is cubic).
    basis : {"bspline", "rbf", "chebyshev"}, default="bspline"
        Basis of the edge functions: B-splines (the KAN paper), Gaussian radial
        basis functions (FastKAN) or Chebyshev polynomials (ChebyKAN). All have
        ``grid_size + spline_order`` functions per edge, so the parameter count
        does not depend on the basis.
    grid_range : tuple of float, default=(-1.0, 1.0)
        Interval covered by the initial grids.
    input_scaling : {"minmax", "standard"} or None, default="minmax"
        How inputs are mapped into ``grid_range`` before the first layer:
        ``"minmax"`` maps each feature's training range onto it, ``"standard"``
        puts each feature's mean at the centre and two standard deviations at the
        ends, ``None`` feeds the inputs unchanged. The scaling is part of the
        fitted module (``module_.scale`` and ``module_.shift``).
    grid_update_epochs : sequence of int or None, default=None
        Epochs (1-based) after which every grid is re-placed on the data (up to
        1024 training rows) and its coefficients refit so the functions are kept.
    grid_eps : float, default=0.02
        Weight of a uniform grid mixed with the data quantiles by a grid update
        (1 is fully uniform, 0 fully adaptive).
    grid_schedule : sequence of int or None, default=None
        Grid sizes to extend to during training, coarse to fine (the KAN
        paper's grid extension): with ``grid_size=3, grid_schedule=(5, 10)`` the
        epochs are split into three equal stages on grids of 3, 5 and 10
        intervals. Each extension keeps the functions (least squares) and
        rebuilds the optimizer.
    lamb : float, default=0.0
        Strength of the KAN paper's sparsity regularisation (L1 of the mean
        absolute activation of each edge plus its entropy). 0 disables it; it
        costs one extra pass over each batch when enabled.
    lamb_l1 : float, default=1.0
        Weight of the L1 term inside the regularisation.
    lamb_entropy : float, default=2.0
        Weight of the entropy term inside the regularisation.
    optimizer : {"adam", "adamw", "sgd", "lbfgs"} or torch optimizer class, default="adam"
        Optimizer. ``"lbfgs"`` works (skorch passes the closure); use it with
        ``batch_size=None`` (full batch) and ``lr=1`` as pykan does.
    lr : float, default=0.01
        Learning rate.
    weight_decay : float, default=0.0
        Weight decay passed to the optimizer.
    batch_size : int or None, default=128
        Minibatch size (capped at the number of samples). ``None`` trains on the
        full batch.
    max_epochs : int, default=30
        Number of passes over the training data (the maximum, with early
        stopping).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified for a
        classifier), stop when the validation loss has not improved by ``tol``
        for ``n_iter_no_change`` epochs, and keep the best parameters. Without
        it, all the data is used for training and nothing is held out.
    validation_fraction : float, default=0.1
        Fraction held out by ``early_stopping``.
    n_iter_no_change : int, default=10
        Patience of ``early_stopping``, in epochs.
    tol : float, default=1e-4
        Smallest decrease of the validation loss that counts as an improvement.
    device : {"auto", "cpu", "cuda", "mps"} or str, default="auto"
        Where to train: ``"auto"`` takes CUDA, then MPS, then the CPU.
        ``"cuda:1"`` style names work too.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the shuffling and the validation split. An
        int makes fits on the CPU reproducible; the caller's global torch and
        numpy random states are left untouched.
    verbose : int, default=0
        ``1`` or more prints skorch's table of epochs (loss, time) while
        training.
    callbacks : list of skorch callbacks or None, default=None
        Extra skorch callbacks (cloned before each fit, so they are never
        mutated), e.g. ``skorch.callbacks.LRScheduler``.
    warm_start : bool, default=False
        Whether ``fit`` continues training the current network for
        ``max_epochs`` more epochs instead of starting afresh.
"""

_ATTRS_DOC = """
    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` had string column names.
    net_ : skorch.NeuralNet
        The trained skorch net (history, callbacks, checkpointing).
    module_ : torch.nn.Module
        The trained torch module (input scaling + KAN).
    history_ : skorch.History
        Per-epoch training record (``history_[:, "train_loss"]``).
    n_params_ : int
        Number of trainable parameters.
    n_threads_ : int
        Number of torch threads the last fit used (a joblib or Dask worker's
        share of the cores; see the user guide on parallel searches).
"""


class KANClassifier(ClassifierMixin, BaseKAN):
    __doc__ = (
        """Kolmogorov-Arnold Network classifier.

    A KAN puts a learnable function on every edge: each edge computes
    ``phi(x) = w_b * silu(x) + sum_j c_j * B_j(x)`` with B-splines ``B_j`` on a
    grid, and each node sums its incoming edges. The network is trained with a
    cross-entropy loss through skorch; the fitted net is kept in ``net_``.
"""
        + _PARAMS_DOC
        + _ATTRS_DOC
        + """    classes_ : ndarray of shape (n_classes,)
        Class labels.

    See Also
    --------
    KANRegressor : The same network for regression.
    sklearn.neural_network.MLPClassifier : The multilayer perceptron it replaces.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn_kan import KANClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    >>> clf = KANClassifier(max_epochs=5, random_state=0).fit(X_train, y_train)
    >>> clf.predict_proba(X_test).shape
    (450, 10)
    >>> bool(clf.score(X_test, y_test) > 0.9)
    True
"""
    )

    _stratify = True

    def fit(self, X, y):
        """Train the network on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : KANClassifier
            The fitted classifier.
        """
        return self._fit(X, y)

    def partial_fit(self, X, y, classes=None):
        """Train for one epoch on ``(X, y)``, continuing from the current network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), default=None
            All the classes; required on the first call, as in
            ``MLPClassifier.partial_fit``.

        Returns
        -------
        self : KANClassifier
            The updated classifier.
        """
        if not hasattr(self, "classes_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._fit(X, y, partial=True, classes=classes)

    def predict_proba(self, X):
        """Class probabilities (softmax of the network's outputs).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``.
        """
        return softmax(self._forward(X), axis=1)

    def predict(self, X):
        """Most probable class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,)
            Predicted labels.
        """
        scores = self._forward(X)
        return self.classes_[np.argmax(scores, axis=1)]

    def _encode_y(self, y, reset, classes=None):
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if reset:
            self._label_encoder = LabelEncoder().fit(y if classes is None else classes)
            self.classes_ = self._label_encoder.classes_
            if len(self.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes in the data, "
                    f"but the data contains only one class: {self.classes_[0]!r}."
                )
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(
                f"y contains labels {unseen.tolist()} that were not seen in the classes "
                f"{self.classes_.tolist()}."
            )
        return self._label_encoder.transform(y).astype(np.int64), len(self.classes_)

    def _criterion(self):
        # Logits into CrossEntropyLoss (skorch's default NLLLoss expects
        # probabilities); predict_proba applies the softmax.
        return nn.CrossEntropyLoss

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags
