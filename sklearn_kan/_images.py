"""How the package reads an array as images: the one place that decides it.

Every object that takes images (``Flatten``, ``Downsample``, ``ConvFeatures``,
``VAEFeatures``, ``HybridKANClassifier``, ``pixel_importance``, ``pixel_map``) calls
this module, so they all read an input array the same way:

- ``(n_samples, height, width, channels)``: images, channels last (an array that
  reads like channels-first images, ``(n, 1 to 4, > 4, > 4)``, is an error that says
  how to transpose it, unless ``image_shape`` confirms the channels-last reading);
- ``(n_samples, height, width)``: one-channel images;
- flat rows ``(n_samples, n_features)``, in row-major ``(height, width, channels)``
  order (the order of ``images.reshape(n_samples, -1)`` on channels-last images, so a
  channel varies fastest). ``image_shape=(height, width)`` or ``(height, width,
  channels)`` gives their layout (one entry may be ``-1``). Without it, a row whose
  length is a perfect square is a square one-channel image, and a row of any other
  length ``n`` is a ``1 x n`` one-channel image (a one-pixel-high image: tabular
  data works everywhere, and ``Flatten`` passes flat rows through).

Dtypes: float32 input stays float32, anything else (integers, float16, float64)
becomes float64.

Torch modules take ``(N, C, H, W)``; the estimators transpose at the torch boundary,
and :class:`~sklearn_kan.nn.HybridKAN` reads flat rows channels-last as well.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
from sklearn.utils.validation import _check_feature_names, check_array, validate_data

FLOAT_DTYPES = [np.float64, np.float32]
"""The dtype rule: float32 stays float32, anything else becomes float64."""


IMAGE_ATTRS_DOC = """    n_features_in_ : int
        Number of input features, ``height * width * channels`` (also for 3-D and
        4-D input).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X` has feature
        names that are all strings.
    image_shape_ : tuple of int
        ``(height, width, channels)`` of the {} images, channels last.
"""
"""The attributes that every estimator reading images has (numpydoc lines;
``.format("input")`` or ``.format("training")``)."""


def validate_images(estimator, X, *, reset, image_shape=None, dtype=FLOAT_DTYPES):
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
        True in ``fit`` (pass the ``image_shape`` parameter); False afterwards (pass
        the fitted ``(H, W, C)``, so that flat rows are read with it and images must
        match it).
    image_shape : tuple of int, default=None
        Passed to :func:`as_images`.
    dtype : dtype or list of dtypes, default=FLOAT_DTYPES
        As in :func:`~sklearn.utils.check_array`.

    Returns
    -------
    images : ndarray of shape (n_samples, height, width, channels)
    """
    name = type(estimator).__name__
    ndim = input_ndim(X)
    if ndim > 4:
        raise ValueError(_ndim_message(ndim, name))
    if ndim <= 2:
        # 0-D and 1-D input get scikit-learn's own "Expected 2D array" message here.
        X = validate_data(estimator, X, reset=reset, dtype=dtype)
        return as_images(X, image_shape)

    _check_feature_names(estimator, X, reset=reset)
    X = check_array(
        X, allow_nd=True, ensure_2d=False, dtype=dtype, estimator=estimator, input_name="X"
    )
    shape = tuple(int(d) for d in X.shape[1:]) + ((1,) if X.ndim == 3 else ())
    n_features = math.prod(shape)
    if reset:
        images = as_images(X, image_shape)
        estimator.n_features_in_ = n_features
        return images
    if n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {name} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    if image_shape is not None and not _shape_matches(shape, check_image_shape(image_shape)):
        raise ValueError(
            f"X holds images of shape {shape} (height, width, channels), but {name} is "
            f"expecting images of shape {tuple(image_shape)} as input."
        )
    return as_images(X, image_shape)


def as_images(X, image_shape=None) -> np.ndarray:
    """Read an already validated array as a batch of channels-last images.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), (n_samples, height, width) or \
            (n_samples, height, width, channels)
        Validated numeric array. Flat rows are row-major, channels last.
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)``; one entry may be ``-1``.
        For flat rows, ``None`` follows the module's rule (square, else ``1 x n``);
        for 3-D and 4-D ``X`` it is checked against the array's shape.

    Returns
    -------
    images : ndarray of shape (n_samples, height, width, channels)
        ``X`` reshaped: a view whenever numpy can make one.

    Raises
    ------
    ValueError
        If ``X`` has another number of dimensions, if flat rows cannot be read with
        ``image_shape``, if the images do not have shape ``image_shape``, or if,
        without ``image_shape``, a 4-D ``X`` reads like channels-first images
        (``(n, C, H, W)`` with ``C <= 4 < H, W``).
    """
    X = np.asarray(X)
    if X.ndim == 2:
        return X.reshape(X.shape[0], *flat_image_shape(X.shape[1], image_shape))
    if X.ndim in (3, 4):
        images = X if X.ndim == 4 else X[..., np.newaxis]
        shape = tuple(int(d) for d in images.shape[1:])
        if min(shape) < 1:
            raise ValueError(
                f"X holds images of shape {shape}, but every image needs at least one "
                "row, column and channel."
            )
        if image_shape is None and X.ndim == 4 and _looks_channels_first(shape):
            c, h, w = shape
            raise ValueError(
                f"X has shape {X.shape}, which looks like channels-first images (n_samples, "
                f"channels, height, width): {c} channel(s) of {h} x {w}. 4-D arrays are read "
                "channels-last, (n_samples, height, width, channels); pass "
                "X.transpose(0, 2, 3, 1). If they are channels-last images of height "
                f"{c} with {w} channels, say so with image_shape={shape}."
            )
        if image_shape is not None and not _shape_matches(shape, check_image_shape(image_shape)):
            raise ValueError(
                f"X holds images of shape {shape} (height, width, channels), but "
                f"image_shape={tuple(image_shape)!r} was given."
            )
        return images
    raise ValueError(_ndim_message(X.ndim))


def flat_image_shape(n_features: int, image_shape=None) -> tuple[int, int, int]:
    """``(height, width, channels)`` of a flat row of ``n_features`` values.

    ``image_shape`` (one entry may be ``-1``) when given, else a square one-channel
    image for a perfect-square length and a ``1 x n_features`` image otherwise.
    """
    if n_features < 1:
        raise ValueError(f"X has {n_features} features; an image needs at least one pixel.")
    if image_shape is None:
        side = math.isqrt(n_features)
        return (side, side, 1) if side * side == n_features else (1, n_features, 1)
    dims = check_image_shape(image_shape)
    known = math.prod(d for d in dims if d != -1)
    if -1 in dims:
        if n_features % known:
            raise ValueError(
                f"X has {n_features} feature(s), which image_shape={tuple(image_shape)} "
                f"cannot hold: the number of features must be a multiple of {known}."
            )
        return tuple(n_features // known if d == -1 else d for d in dims)
    if known != n_features:
        raise ValueError(
            f"X has {n_features} feature(s), but image_shape={tuple(image_shape)} "
            f"(height, width, channels) needs {known} features."
        )
    return dims


def check_image_shape(image_shape) -> tuple[int, int, int]:
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


def input_ndim(X) -> int:
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


def pixel_names(shape) -> np.ndarray:
    """Feature names of flat rows of ``(height, width, channels)`` images."""
    height, width, channels = shape
    if channels == 1:
        names = [f"px_{i}_{j}" for i in range(height) for j in range(width)]
    else:
        names = [
            f"px_{i}_{j}_c{c}" for i in range(height) for j in range(width) for c in range(channels)
        ]
    return np.asarray(names, dtype=object)


def _looks_channels_first(shape) -> bool:
    """Whether channels-last ``(H, W, C)`` reads like a channels-first ``(C, H, W)`` stack.

    An image at most 4 pixels high with more than 4 columns and more than 4
    channels is rare; 1 to 4 channels of a larger image (grey, RGB, RGBA) stored
    channels-first, as torch and many loaders do, are common.
    """
    first, second, last = shape
    return first <= 4 < min(second, last)


def _shape_matches(shape, wanted) -> bool:
    return all(w in (-1, s) for s, w in zip(shape, wanted, strict=True))


def _ndim_message(ndim, name="This estimator") -> str:
    return (
        f"X has {ndim} dimensions, but {name} expects flat rows (n_samples, n_features), "
        "images (n_samples, height, width) or (n_samples, height, width, channels)."
    )
