"""Stateless image transformers: :class:`Flatten` and :class:`Downsample`.

Both accept images in three layouts and return flat float rows, so that they chain
into any scikit-learn estimator:

- flat rows ``(n_samples, n_features)``: a row whose length is a perfect square is read
  as a square one-channel image; any other layout is given by ``image_shape``;
- ``(n_samples, height, width)``: one-channel images;
- ``(n_samples, height, width, channels)``: channels last.

Flat rows are always in row-major ``(height, width, channels)`` order, the order of
``images.reshape(n_samples, -1)`` on a channels-last array, so a channel varies fastest.
Output rows follow the same convention; ``output_shape_`` gives their image shape, ready
to be passed on as another estimator's ``image_shape``.

The private helpers :func:`_as_images` and :func:`_validate_images` are shared with the
estimators that read images (``HybridKANClassifier``) so that every object in the
package interprets an input array the same way.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    FLOAT_DTYPES,
    _check_feature_names,
    _check_feature_names_in,
    check_array,
    check_is_fitted,
    validate_data,
)

__all__ = ["Downsample", "Flatten"]


class Flatten(TransformerMixin, BaseEstimator):
    """Flatten images to rows of pixels.

    Turns ``(n_samples, height, width)`` or ``(n_samples, height, width, channels)``
    arrays into ``(n_samples, height * width * channels)`` float rows so that any
    scikit-learn estimator can take them. Flat input passes through unchanged apart
    from the conversion to float, but it is still read as images, which fixes the
    output feature names (``px_row_col``) and ``image_shape_``.

    The transformer learns nothing from the data; :meth:`fit` only records the shape
    that :meth:`transform` will then require.

    Parameters
    ----------
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of flat input rows, in
        row-major, channels-last order. One entry may be ``-1``, inferred from the
        number of features as in :func:`numpy.reshape`; ``(1, -1)`` reads any row as
        a one-pixel-high image. ``None`` reads a flat row of a perfect-square length
        as a square one-channel image, and takes the shape of 3-D and 4-D input from
        the array. When given together with 3-D or 4-D input, the images must have
        this shape.

    Attributes
    ----------
    n_features_in_ : int
        Number of input features, ``height * width * channels`` (also for 3-D and
        4-D input).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X` has feature
        names that are all strings.
    image_shape_ : tuple of int
        ``(height, width, channels)`` of the input images, channels last.
    output_shape_ : tuple of int
        ``(height, width, channels)`` of the image that an output row holds; equal
        to ``image_shape_``.

    See Also
    --------
    Downsample : Reduce the image size, also returning flat rows.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_kan.preprocessing import Flatten
    >>> images = load_digits().images
    >>> images.shape
    (1797, 8, 8)
    >>> flatten = Flatten().fit(images)
    >>> flatten.transform(images).shape
    (1797, 64)
    >>> flatten.image_shape_
    (8, 8, 1)
    >>> flatten.get_feature_names_out()[:3].tolist()
    ['px_0_0', 'px_0_1', 'px_0_2']
    """

    _parameter_constraints: dict = {"image_shape": [None, tuple, list]}

    def __init__(self, image_shape=None):
        self.image_shape = image_shape

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Record the input image shape.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, height, width) \
                or (n_samples, height, width, channels)
            Images. Flat rows need a perfect-square length or ``image_shape``.
        y : None
            Ignored.

        Returns
        -------
        self : Flatten
            The fitted transformer.
        """
        images = _validate_images(self, X, reset=True, image_shape=self.image_shape)
        self.image_shape_ = images.shape[1:]
        self.output_shape_ = self.image_shape_
        return self

    def transform(self, X):
        """Flatten images to float rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, height, width) \
                or (n_samples, height, width, channels)
            Images of the shape seen in :meth:`fit`.

        Returns
        -------
        X_flat : ndarray of shape (n_samples, height * width * channels)
            Float rows (float32 input stays float32, anything else becomes float64),
            row-major, channels last. May share memory with a float input.
        """
        check_is_fitted(self)
        images = _validate_images(self, X, reset=False, image_shape=self.image_shape_)
        return images.reshape(images.shape[0], -1)

    def get_feature_names_out(self, input_features=None):
        """Names of the output features: ``px_row_col``, ``px_row_col_c<channel>``.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Only checked against the names seen in :meth:`fit`; output names are
            always pixel positions.

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per output column.
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features, generate_names=False)
        return _pixel_names(self.output_shape_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class Downsample(TransformerMixin, BaseEstimator):
    """Reduce images to a smaller size, returning flat rows.

    Each channel of each image is resized as ``A @ image @ B`` with two small fixed
    weight matrices: ``A`` of shape ``(out_height, height)`` and ``B`` of shape
    ``(width, out_width)``, every output pixel a convex combination of input pixels
    (the rows of ``A`` and the columns of ``B`` sum to one). The whole data set costs
    two dense matrix products.

    Parameters
    ----------
    size : int or tuple of (int, int), default=7
        Output ``(height, width)``; an int gives a square output. It may not exceed
        the input size in either direction (this transformer only reduces).
    method : {"area", "nearest", "bilinear"}, default="area"
        - ``"area"``: each output pixel is the mean of the input area it covers.
          When the size divides evenly this is exact block averaging; otherwise
          input pixels on a block boundary count with the fraction of their area
          inside the block (28 -> 10 averages 2.8 x 2.8 pixel blocks). Keeps the
          total ink and does not alias; the usual choice.
        - ``"nearest"``: the input pixel under each output pixel's centre (as PIL
          and ``torch``'s ``"nearest-exact"``).
        - ``"bilinear"``: linear interpolation at each output pixel's centre
          (half-pixel centres, as ``torch``'s ``align_corners=False`` without
          antialiasing); it samples only a few pixels, so it aliases when shrinking
          by more than 2.
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of flat input rows; see
        :class:`Flatten`. ``None`` reads flat rows of a perfect-square length as
        square one-channel images.

    Attributes
    ----------
    n_features_in_ : int
        Number of input features, ``height * width * channels`` (also for 3-D and
        4-D input).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X` has feature
        names that are all strings.
    image_shape_ : tuple of int
        ``(height, width, channels)`` of the input images, channels last.
    output_shape_ : tuple of int
        ``(out_height, out_width, channels)``: the image held by each output row.
    weights_ : tuple of ndarray
        ``(A, B)``, the row weights of shape ``(out_height, height)`` and the column
        weights of shape ``(width, out_width)``.

    See Also
    --------
    Flatten : Flatten images without resizing them.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_kan.preprocessing import Downsample
    >>> X = load_digits().data  # flat rows of 64 pixels: read as 8 x 8 images
    >>> down = Downsample(4).fit(X)
    >>> down.transform(X).shape
    (1797, 16)
    >>> down.image_shape_, down.output_shape_
    ((8, 8, 1), (4, 4, 1))
    >>> import numpy as np
    >>> bool(np.isclose(down.transform(X).mean(), X.mean()))  # "area" keeps the mean
    True
    """

    _parameter_constraints: dict = {
        "size": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "method": [StrOptions({"area", "nearest", "bilinear"})],
        "image_shape": [None, tuple, list],
    }

    def __init__(self, size=7, method="area", image_shape=None):
        self.size = size
        self.method = method
        self.image_shape = image_shape

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Record the input image shape and build the resizing weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, height, width) \
                or (n_samples, height, width, channels)
            Images. Flat rows need a perfect-square length or ``image_shape``.
        y : None
            Ignored.

        Returns
        -------
        self : Downsample
            The fitted transformer.
        """
        out_h, out_w = _check_size(self.size)
        images = _validate_images(self, X, reset=True, image_shape=self.image_shape)
        height, width, channels = images.shape[1:]
        if out_h > height or out_w > width:
            raise ValueError(
                f"size={self.size!r} asks for {out_h} x {out_w} images, but X holds "
                f"images of {height} x {width} pixels ({self.n_features_in_} feature(s)); "
                "Downsample only reduces images: pass a size of at most "
                f"({height}, {width})."
            )
        weights = _WEIGHTS[self.method]
        self.image_shape_ = (height, width, channels)
        self.output_shape_ = (out_h, out_w, channels)
        self.weights_ = (weights(height, out_h), weights(width, out_w).T)
        return self

    def transform(self, X):
        """Resize images and flatten them to float rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, height, width) \
                or (n_samples, height, width, channels)
            Images of the shape seen in :meth:`fit`.

        Returns
        -------
        X_small : ndarray of shape (n_samples, out_height * out_width * channels)
            Float rows (float32 input stays float32, anything else becomes float64),
            row-major, channels last.
        """
        check_is_fitted(self)
        images = _validate_images(self, X, reset=False, image_shape=self.image_shape_)
        rows, cols = (w.astype(images.dtype, copy=False) for w in self.weights_)
        # Two tensordots run as two BLAS matrix products over the whole batch:
        # contract the width first, then the height.
        half = np.tensordot(images, cols, axes=([2], [0]))  # (n, H, C, w)
        out = np.tensordot(rows, half, axes=([1], [1]))  # (h, n, C, w)
        out = out.transpose(1, 0, 3, 2)  # (n, h, w, C)
        return np.ascontiguousarray(out).reshape(out.shape[0], -1)

    def get_feature_names_out(self, input_features=None):
        """Names of the output features: ``px_row_col``, ``px_row_col_c<channel>``.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Only checked against the names seen in :meth:`fit`; output names are
            the pixel positions in the reduced image.

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per output column.
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features, generate_names=False)
        return _pixel_names(self.output_shape_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _as_images(X, image_shape=None):
    """Read an already validated array as a batch of channels-last images.

    The one place that decides how an array is read as images; estimators that take
    images (``HybridKANClassifier``) call it after their own validation.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), (n_samples, height, width) or \
            (n_samples, height, width, channels)
        Validated numeric array. Flat rows are row-major, channels last.
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)``; one entry may be ``-1``.
        Required for flat rows whose length is not a perfect square; for 3-D and 4-D
        ``X`` it is checked against the array's shape.

    Returns
    -------
    images : ndarray of shape (n_samples, height, width, channels)
        ``X`` reshaped: a view whenever numpy can make one.
    shape : tuple of int
        ``(height, width, channels)``.

    Raises
    ------
    ValueError
        If ``X`` has another number of dimensions, if flat rows cannot be read as
        images, or if the images do not have shape ``image_shape``.
    """
    X = np.asarray(X)
    wanted = None if image_shape is None else _check_image_shape(image_shape)
    if X.ndim == 2:
        n_features = X.shape[1]
        if wanted is None:
            side = math.isqrt(n_features)
            if side * side != n_features or n_features == 0:
                raise ValueError(
                    f"X has {n_features} feature(s), which is not a perfect square, so "
                    "its rows cannot be read as square one-channel images. Pass "
                    "image_shape=(height, width) or (height, width, channels), or give "
                    "X as images of shape (n_samples, height, width[, channels])."
                )
            shape = (side, side, 1)
        else:
            shape = _resolve_image_shape(wanted, n_features)
        return X.reshape(X.shape[0], *shape), shape
    if X.ndim in (3, 4):
        images = X if X.ndim == 4 else X[..., np.newaxis]
        shape = tuple(int(d) for d in images.shape[1:])
        if min(shape) < 1:
            raise ValueError(
                f"X holds images of shape {shape}, but every image needs at least one "
                "row, column and channel."
            )
        if wanted is not None and not _shape_matches(shape, wanted):
            raise ValueError(
                f"X holds images of shape {shape} (height, width, channels), but "
                f"image_shape={tuple(image_shape)!r} was given."
            )
        return images, shape
    raise ValueError(_ndim_message(X.ndim))


def _validate_images(estimator, X, *, reset, image_shape=None, dtype=FLOAT_DTYPES):
    """Validate ``X`` for ``estimator`` and return it as channels-last images.

    Flat 2-D input goes through scikit-learn's ``validate_data`` so that feature
    names and ``n_features_in_`` are handled the usual way. 3-D and 4-D input goes
    through ``check_array(allow_nd=True)``, which skips that bookkeeping, so it is done
    here: ``n_features_in_`` is ``height * width * channels`` and a later call with
    another size gets scikit-learn's own "X has N features, but ... is expecting M
    features as input" message.

    Parameters
    ----------
    estimator : estimator instance
        Receives ``n_features_in_`` (and ``feature_names_in_``) when ``reset``.
    X : array-like
        Flat rows, ``(n, H, W)`` or ``(n, H, W, C)``; dense and finite.
    reset : bool
        True in ``fit``; False afterwards, when ``image_shape`` should be the fitted
        ``(H, W, C)`` so that flat rows are read with it and images must match it.
    image_shape : tuple of int, default=None
        Passed to :func:`_as_images`.
    dtype : dtype or list of dtypes, default=FLOAT_DTYPES
        As in :func:`~sklearn.utils.check_array`.

    Returns
    -------
    images : ndarray of shape (n_samples, height, width, channels)
    """
    name = type(estimator).__name__
    ndim = _input_ndim(X)
    if ndim > 4:
        raise ValueError(_ndim_message(ndim, name))
    if ndim <= 2:
        # 0-D and 1-D input get scikit-learn's own "Expected 2D array" message here.
        X = validate_data(estimator, X, reset=reset, dtype=dtype)
        return _as_images(X, image_shape)[0]

    _check_feature_names(estimator, X, reset=reset)
    X = check_array(
        X, allow_nd=True, ensure_2d=False, dtype=dtype, estimator=estimator, input_name="X"
    )
    shape = tuple(int(d) for d in X.shape[1:]) + ((1,) if X.ndim == 3 else ())
    n_features = math.prod(shape)
    if reset:
        images, shape = _as_images(X, image_shape)
        estimator.n_features_in_ = n_features
        return images
    if n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {name} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    if image_shape is not None and not _shape_matches(shape, _check_image_shape(image_shape)):
        raise ValueError(
            f"X holds images of shape {shape} (height, width, channels), but {name} is "
            f"expecting images of shape {tuple(image_shape)} as input."
        )
    return _as_images(X)[0]


def _check_image_shape(image_shape):
    """Validate an ``image_shape`` parameter; return it as ``(H, W, C)``, -1 kept."""
    message = (
        "image_shape must be (height, width) or (height, width, channels) of positive "
        f"integers, one of which may be -1; got {image_shape!r}."
    )
    if not isinstance(image_shape, tuple | list) or len(image_shape) not in (2, 3):
        raise ValueError(message)
    dims = tuple(image_shape) + ((1,) if len(image_shape) == 2 else ())
    if any(isinstance(d, bool) or not isinstance(d, Integral) for d in dims):
        raise ValueError(message)
    dims = tuple(int(d) for d in dims)
    if any(d < 1 and d != -1 for d in dims) or dims.count(-1) > 1:
        raise ValueError(message)
    return dims


def _resolve_image_shape(dims, n_features):
    """Fill in a ``-1`` of ``dims`` from the number of features, and check the total."""
    known = math.prod(d for d in dims if d != -1)
    if -1 in dims:
        if n_features % known or n_features == 0:
            raise ValueError(
                f"X has {n_features} feature(s), which image_shape={dims} cannot hold: "
                f"the number of features must be a positive multiple of {known}."
            )
        dims = tuple(n_features // known if d == -1 else d for d in dims)
    elif known != n_features:
        raise ValueError(
            f"X has {n_features} feature(s), but image_shape={dims} (height, width, "
            f"channels) needs {known} features."
        )
    return dims


def _shape_matches(shape, wanted):
    return all(w in (-1, s) for s, w in zip(shape, wanted, strict=True))


def _check_size(size):
    """Validate ``size``; return ``(out_height, out_width)``."""
    if isinstance(size, Integral):
        return int(size), int(size)
    if (
        len(size) == 2
        and all(isinstance(s, Integral) and not isinstance(s, bool) for s in size)
        and min(size) >= 1
    ):
        return int(size[0]), int(size[1])
    raise ValueError(
        f"size must be a positive int or a pair (height, width) of positive ints; got {size!r}."
    )


def _input_ndim(X):
    """Number of dimensions of ``X`` without converting it (lists are measured)."""
    ndim = getattr(X, "ndim", None)
    if ndim is not None:
        return int(ndim)
    try:
        return np.ndim(X)
    except (ValueError, TypeError):
        # Ragged nested lists, or array-likes that refuse numpy's functions: the 2-D
        # path's check_array converts them or gives its own message.
        return 2


def _ndim_message(ndim, name="This estimator"):
    return (
        f"X has {ndim} dimensions, but {name} expects flat rows (n_samples, n_features), "
        "images (n_samples, height, width) or (n_samples, height, width, channels)."
    )


def _pixel_names(shape):
    height, width, channels = shape
    if channels == 1:
        names = [f"px_{i}_{j}" for i in range(height) for j in range(width)]
    else:
        names = [
            f"px_{i}_{j}_c{c}" for i in range(height) for j in range(width) for c in range(channels)
        ]
    return np.asarray(names, dtype=object)


def _area_weights(n_in, n_out):
    """Fraction of each input pixel inside each output pixel, over the output's area.

    In units of ``1 / n_out`` input pixels, input pixel ``k`` spans
    ``[k * n_out, (k + 1) * n_out)`` and output pixel ``i`` spans
    ``[i * n_in, (i + 1) * n_in)``; their overlaps are integers, so the weights are
    exact and each row sums to one.
    """
    out_lo = np.arange(n_out)[:, np.newaxis] * n_in
    in_lo = np.arange(n_in)[np.newaxis, :] * n_out
    overlap = np.minimum(out_lo + n_in, in_lo + n_out) - np.maximum(out_lo, in_lo)
    return np.clip(overlap, 0, None) / n_in


def _nearest_weights(n_in, n_out):
    """One-hot rows picking the input pixel under each output pixel's centre."""
    # floor((i + 1/2) * n_in / n_out) in integers, so that no rounding can shift it.
    source = ((2 * np.arange(n_out) + 1) * n_in) // (2 * n_out)
    weights = np.zeros((n_out, n_in))
    weights[np.arange(n_out), source] = 1.0
    return weights


def _bilinear_weights(n_in, n_out):
    """Linear interpolation at the output pixel centres (half-pixel convention)."""
    source = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    left = np.minimum(np.floor(source).astype(int), n_in - 1)
    right = np.minimum(left + 1, n_in - 1)
    frac = source - left
    weights = np.zeros((n_out, n_in))
    # add.at: at the last pixel left == right and both parts land on it.
    np.add.at(weights, (np.arange(n_out), left), 1.0 - frac)
    np.add.at(weights, (np.arange(n_out), right), frac)
    return weights


_WEIGHTS = {"area": _area_weights, "nearest": _nearest_weights, "bilinear": _bilinear_weights}
