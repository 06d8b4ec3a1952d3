"""Stateless image transformers: :class:`Flatten` and :class:`Downsample`.

Both read their input by the package's one rule for images (see
:mod:`sklearn_kan._images` and the user guide's "How images are read"): flat rows,
``(n_samples, height, width)`` or ``(n_samples, height, width, channels)``, channels
last; a flat row of a perfect-square length is a square one-channel image, any other
flat row a ``1 x n`` image unless ``image_shape`` says otherwise. Both return flat
float rows (float32 stays float32, anything else becomes float64), so that they chain
into any scikit-learn estimator; ``output_shape_`` gives the image shape of an output
row, ready to be passed on as another estimator's ``image_shape``.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from ._images import IMAGE_ATTRS_DOC, input_ndim, pixel_names, validate_images

__all__ = ["Downsample", "Flatten"]


class _ImageTransformer(TransformerMixin, BaseEstimator):
    """Images in, flat float rows out: what :class:`Flatten` and :class:`Downsample` share.

    A subclass gives ``_output_shape(X, image_shape)``, the ``(height, width,
    channels)`` of an output image (checking its parameters against the input and
    setting what ``_to_rows`` needs), and ``_to_rows(images)``.
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Record the input image shape (and, to resize, build the weights).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, height, width) \
                or (n_samples, height, width, channels)
            Images; flat rows are read as described in ``image_shape``.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        self._check_params()
        images = validate_images(self, X, reset=True, image_shape=self.image_shape)
        image_shape = tuple(images.shape[1:])
        self.output_shape_ = self._output_shape(X, image_shape)
        self.image_shape_ = image_shape
        return self

    def transform(self, X):
        """Images as flat float rows, resized to ``output_shape_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, height, width) \
                or (n_samples, height, width, channels)
            Images of the shape seen in :meth:`fit`.

        Returns
        -------
        X_new : ndarray of shape (n_samples, out_height * out_width * channels)
            Float rows (float32 input stays float32, anything else becomes float64),
            row-major, channels last, each an image of ``output_shape_``. May share
            memory with a float input when nothing is resized (:class:`Flatten`).
        """
        check_is_fitted(self)
        images = validate_images(self, X, reset=False, image_shape=self.image_shape_)
        return self._to_rows(images)

    def get_feature_names_out(self, input_features=None):
        """Names of the output features: ``px_row_col``, ``px_row_col_c<channel>``.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Only checked against the names seen in :meth:`fit`; output names are
            always the pixel positions in the output image.

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per output column.
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features, generate_names=False)
        return pixel_names(self.output_shape_)

    def _check_params(self) -> None:
        """Check the parameters that do not depend on the input (none by default)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class Flatten(_ImageTransformer):
    __doc__ = (
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
        as a square one-channel image and any other flat row of ``n`` features as a
        ``1 x n`` image, and takes the shape of 3-D and 4-D input from the array.
        When given together with 3-D or 4-D input, the images must have this shape.

    Attributes
    ----------
"""
        + IMAGE_ATTRS_DOC.format("input")
        + """    output_shape_ : tuple of int
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
    )

    _parameter_constraints: dict = {"image_shape": [None, tuple, list]}

    def __init__(self, image_shape=None):
        self.image_shape = image_shape

    def _output_shape(self, X, image_shape: tuple) -> tuple:
        return image_shape

    def _to_rows(self, images: np.ndarray) -> np.ndarray:
        return images.reshape(images.shape[0], -1)


class Downsample(_ImageTransformer):
    __doc__ = (
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
        square one-channel images and other flat rows as ``1 x n`` images.

    Attributes
    ----------
"""
        + IMAGE_ATTRS_DOC.format("input")
        + """    output_shape_ : tuple of int
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
    )

    _parameter_constraints: dict = {
        "size": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "method": [StrOptions({"area", "nearest", "bilinear"})],
        "image_shape": [None, tuple, list],
    }

    def __init__(self, size=7, method="area", image_shape=None):
        self.size = size
        self.method = method
        self.image_shape = image_shape

    def _check_params(self) -> None:
        _check_size(self.size)

    def _output_shape(self, X, image_shape: tuple) -> tuple:
        out_h, out_w = _check_size(self.size)
        height, width, channels = image_shape
        if out_h > height or out_w > width:
            raise ValueError(
                f"size={self.size!r} asks for {out_h} x {out_w} images, but X holds "
                f"images of {height} x {width} pixels ({self.n_features_in_} feature(s)); "
                "Downsample only reduces images: pass a size of at most "
                f"({height}, {width})."
                + (
                    " Flat rows of a non-square length are read as 1 x n images; pass "
                    "image_shape to read them otherwise."
                    if height == 1 and input_ndim(X) <= 2
                    else ""
                )
            )
        weights = _WEIGHTS[self.method]
        self.weights_ = (weights(height, out_h), weights(width, out_w).T)
        return (out_h, out_w, channels)

    def _to_rows(self, images: np.ndarray) -> np.ndarray:
        rows, cols = (w.astype(images.dtype, copy=False) for w in self.weights_)
        # Two tensordots run as two BLAS matrix products over the whole batch:
        # contract the width first, then the height.
        half = np.tensordot(images, cols, axes=([2], [0]))  # (n, H, C, w)
        out = np.tensordot(rows, half, axes=([1], [1]))  # (h, n, C, w)
        out = out.transpose(1, 0, 3, 2)  # (n, h, w, C)
        return np.ascontiguousarray(out).reshape(out.shape[0], -1)


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
