"""KAN regressor. Only what differs from the shared machinery in ``_base``."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.validation import check_array
from torch import nn

from ._base import BaseKAN, _KANRegressorNet, _mean_std, _store_params
from .classifier import _ATTRS_DOC, _PARAMS_DOC

__all__ = ["KANRegressor"]


class KANRegressor(RegressorMixin, BaseKAN):
    __doc__ = (
        """Kolmogorov-Arnold Network regressor.

    The same network as :class:`KANClassifier`, trained with a mean squared
    error loss. Targets are standardised for training and mapped back in
    ``predict`` (in float64, without overflow or underflow: targets of 1e160 or
    1e-200 fit as their standardised values do; a constant target is measured
    in its own magnitude); several targets at once (``y`` of shape ``(n, k)``)
    are supported.
"""
        + _PARAMS_DOC
        + _ATTRS_DOC
        + """
    See Also
    --------
    KANClassifier : The same network for classification.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_kan import KANRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(300, 2))
    >>> y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2
    >>> reg = KANRegressor(hidden_layer_sizes=(4,), max_epochs=150, random_state=0).fit(X, y)
    >>> bool(reg.score(X, y) > 0.9)
    True
"""
    )

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        *,
        grid_size=5,
        spline_order=3,
        basis="bspline",
        grid_range=(-1.0, 1.0),
        input_scaling="minmax",
        hidden_norm="batchnorm",
        grid_update_epochs=None,
        grid_eps=0.02,
        grid_schedule=None,
        lamb=0.0,
        lamb_l1=1.0,
        lamb_entropy=2.0,
        optimizer="adam",
        lr=3e-3,
        lr_schedule="cosine",
        weight_decay=0.0,
        batch_size=128,
        max_epochs=30,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        device="auto",
        dtype="float32",
        random_state=None,
        verbose=0,
        callbacks=None,
        warm_start=False,
    ):
        _store_params(self, locals())

    def fit(self, X, y, sample_weight=None):
        """Train the network on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss (non-negative; 0 leaves a sample
            out, an integer ``k`` counts it about ``k`` times). Routed by
            scikit-learn's metadata routing (``set_fit_request``).

        Returns
        -------
        self : KANRegressor
            The fitted regressor.
        """
        return self._fit(X, y, sample_weight=sample_weight)

    def partial_fit(self, X, y, sample_weight=None):
        """Train for one epoch on ``(X, y)``, continuing from the current network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Subset of the training data (one batch, or all of it).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss, as in :meth:`fit`.

        Returns
        -------
        self : KANRegressor
            The updated regressor.
        """
        return self._fit(X, y, sample_weight=sample_weight, partial=True)

    def predict(self, X):
        """Predicted targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predictions, in the units of the training targets.
        """
        out = self._forward(X) * self._y_scale + self._y_mean
        return out[:, 0] if self._y_1d else out

    def _encode_y(self, y, reset, classes=None, sample_weight=None):
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D, got an array of shape {y.shape}.")
        y2 = y.reshape(len(y), -1)
        if reset:
            self._y_1d = y.ndim == 1
            # Weighted, so that a weight of 0 is the same as leaving the row out, and
            # computed without overflow (targets of 1e160) or underflow (1e-200).
            weights = (
                sample_weight
                if sample_weight is not None and len(sample_weight) == len(y2)
                else None
            )
            self._y_mean, scale = _mean_std(y2, weights)
            # A constant target is measured in its own magnitude (1 for zeros), so that
            # the network's small residual is small relative to it.
            scale = np.where(scale > 0, scale, np.abs(self._y_mean))
            scale[~(scale > 0)] = 1.0
            self._y_scale = scale
        elif y2.shape[1] != self._y_mean.shape[0]:
            raise ValueError(
                f"y has {y2.shape[1]} targets, but {type(self).__name__} was fitted with "
                f"{self._y_mean.shape[0]}."
            )
        return (y2 - self._y_mean) / self._y_scale, y2.shape[1]

    def _net_class(self):
        return _KANRegressorNet

    def _criterion(self):
        return nn.MSELoss

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
