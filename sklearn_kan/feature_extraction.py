"""Learned image features: :class:`ConvFeatures` and :class:`VAEFeatures`.

Both are scikit-learn transformers with a small torch network inside, trained in
``fit`` through skorch, so that "features, then a KAN" is one pipeline::

    Pipeline([("vae", VAEFeatures(16)), ("kan", KANClassifier())])

They read their input by the package's one rule for images (see
:mod:`sklearn_kan._images` and the user guide): ``(n, H, W)`` and ``(n, H, W, C)``
arrays are images, channels last; a flat row of a perfect-square length is a square
one-channel image, any other flat row of ``n`` features a ``1 x n`` image unless
``image_shape`` gives its layout, so both transformers also take plain tabular data.
The networks are built so that such tiny images work: a pooling step only halves a
side that is at least 2 pixels long.

Pixels are scaled into ``[0, 1]`` with the minimum and maximum of the training data
(one pair for the whole image, so relative intensities are kept; values beyond that
range at ``transform`` are clipped to it), and reconstructions
are trained with a Bernoulli likelihood (binary cross-entropy on those scaled pixels),
the usual choice for MNIST-like images whose pixels sit mostly at the two ends.

``transform`` runs as the estimators' ``predict`` does (see :mod:`sklearn_kan._base`):
in the network's precision, on chunks of exactly 256 rows, so a sample's features
do not depend on the batch it comes in.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import (
    FLOAT_DTYPES,
    check_array,
    check_is_fitted,
    column_or_1d,
)
from torch import nn

from ._base import BaseTorchEstimator
from ._images import validate_images

__all__ = ["ConvFeatures", "VAEFeatures"]

_COMMON_CONSTRAINTS: dict = {
    "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
    "image_shape": [None, tuple, list],
    "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
    "batch_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
    "lr": [Interval(numbers.Real, 0, None, closed="neither")],
    "device": [StrOptions({"auto", "cpu", "cuda", "mps"}), str],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


class _LearnedFeatures(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseTorchEstimator):
    """Reading images and training through skorch, shared by both transformers.

    The training plumbing (seeding, threads, the skorch net, the divergence check,
    pickling, chunked prediction) is :class:`~sklearn_kan._base.BaseTorchEstimator`'s,
    shared with the KAN estimators. A subclass builds its torch module and chooses
    the training target and loss in ``fit`` and passes them to :meth:`_train_module`,
    and says with ``_trained_module`` which part of the trained module ``transform``
    uses.
    """

    def _images(self, X, *, reset: bool) -> np.ndarray:
        """Validate ``X`` and return it as ``(n, H, W, C)`` pixels scaled by the training range."""
        if not reset:
            check_is_fitted(self)
        images = validate_images(
            self, X, reset=reset, image_shape=self.image_shape if reset else self.image_shape_
        )
        if reset:
            self.image_shape_ = tuple(int(d) for d in images.shape[1:])
            self.data_min_ = float(images.min())
            self.data_max_ = float(images.max())
        span = self.data_max_ - self.data_min_
        scaled = (images.astype(np.float64) - self.data_min_) / (span if span > 0 else 1.0)
        # Values beyond the training range (a 255 for a model trained on 0-16 images)
        # are clipped to it, as the pixels the encoder and decoder were trained on.
        return np.clip(scaled, 0.0, 1.0)

    def _train_module(
        self, build: Callable[[], nn.Module], criterion, X: np.ndarray, y: np.ndarray, **kwargs
    ) -> None:
        """Train the module that ``build`` makes on ``(X, y)`` with Adam, all epochs at ``lr``."""
        X = self._as_float32(X)
        n_samples = X.shape[0]

        def make_net(seed: int, device: str):
            # The net of the KAN estimators, without its penalty (lamb=0).
            return self._make_net(
                module=build(),
                criterion=criterion,
                optimizer=torch.optim.Adam,
                lr=self.lr,
                max_epochs=self.max_epochs,
                batch_size=-1 if self.batch_size is None else min(self.batch_size, n_samples),
                iterator_train__shuffle=True,
                train_split=None,  # all the data trains; nothing is silently held out
                predict_nonlinearity=None,
                verbose=int(self.verbose),
                device=device,
                **kwargs,
            )

        self._train(make_net, X, y)

    def transform(self, X):
        """Features of ``X``: the encoder's outputs (:class:`VAEFeatures`: the posterior means).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, height, width) \
                or (n_samples, height, width, channels)
            Images of the shape seen in :meth:`fit`.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            The features, float64.
        """
        x = self._net_input(self._images(X, reset=False))
        return self._run_module(self.module_, self._transform_method, x)[0]

    # What ``transform`` calls: the trained module's method, on ``_net_input(images)``.
    _transform_method = "forward"

    def _net_input(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @property
    def _n_features_out(self) -> int:
        return self.n_components

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


class ConvFeatures(_LearnedFeatures):
    """Features from a small convolutional network trained in ``fit``.

    The network is a stack of blocks (3 x 3 convolution with padding, ReLU, 2 x 2
    max pooling), an adaptive average pooling to at most 4 x 4 positions (so the
    size of the next layer does not grow with the image), and a linear layer to
    ``n_components`` features (no activation after it, so that no feature can die
    into a constant). How it is trained depends on ``y``:

    - ``fit(X, y)`` with class labels (the usual case in a pipeline, which passes
      ``y`` on): supervised, with a linear classification head on the features and a
      cross-entropy loss. The head is then discarded; the features are what the
      network learned to separate the classes with. A continuous ``y`` trains a
      linear regression head with a squared loss on the standardised targets.
    - ``fit(X)`` or ``fit(X, None)``: a convolutional autoencoder; a mirrored
      decoder (upsampling and convolutions) reconstructs the image from the
      features, trained with binary cross-entropy on pixels scaled into ``[0, 1]``.

    Parameters
    ----------
    n_components : int, default=32
        Number of output features.
    channels : sequence of int, default=(16, 32)
        Number of channels of each convolution block; each block halves the
        height and width (a side of 1 pixel is kept).

    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of flat input rows,
        row-major and channels last; one entry may be ``-1``. ``None`` reads flat
        rows of a perfect-square length as square one-channel images and any other
        length as ``1 x n_features`` images; 3-D and 4-D input carries its shape.
    max_epochs : int, default=10
        Number of passes over the training data.
    batch_size : int or None, default=128
        Minibatch size (capped at the number of samples); ``None`` trains on the
        full batch.
    lr : float, default=0.001
        Learning rate of the Adam optimizer.
    device : {"auto", "cpu", "cuda", "mps"} or str, default="auto"
        Where to train: ``"auto"`` takes CUDA, then MPS, then the CPU.
        ``transform`` runs on the same device, in the network's float32.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and the shuffling (and the VAE's sampling). An
        int makes fits on the CPU reproducible; the caller's global torch and
        numpy random states are left untouched.
    verbose : int, default=0
        ``1`` or more prints skorch's table of epochs (loss, time) while training.

    Attributes
    ----------
    n_features_in_ : int
        Number of input features, ``height * width * channels`` (also for 3-D and
        4-D input).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X` has feature
        names that are all strings.
    image_shape_ : tuple of int
        ``(height, width, channels)`` of the training images, channels last.
    data_min_, data_max_ : float
        Smallest and largest training pixel; they map pixels onto ``[0, 1]``.
    net_ : skorch.NeuralNet
        The skorch net that trained the network (history, callbacks).
    history_ : skorch.History
        Per-epoch training record (``history_[:, "train_loss"]``).
    objective_ : {"classification", "regression", "autoencoder"}
        How the network was trained.
    classes_ : ndarray of shape (n_classes,)
        Class labels, for ``objective_ == "classification"``.
    module_ : torch.nn.Module
        The trained encoder (image to features), without the head or decoder.
    n_params_ : int
        Number of trainable parameters of ``module_``.

    See Also
    --------
    VAEFeatures : Unsupervised features from a variational autoencoder.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_kan import KANClassifier
    >>> from sklearn_kan.feature_extraction import ConvFeatures
    >>> X, y = load_digits(return_X_y=True)  # rows of 64 pixels: 8 x 8 images
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    >>> conv = ConvFeatures(n_components=16, random_state=0)
    >>> conv.fit(X_train, y_train).transform(X_test).shape
    (450, 16)
    >>> model = make_pipeline(conv, KANClassifier(max_epochs=20, random_state=0))
    >>> bool(model.fit(X_train, y_train).score(X_test, y_test) > 0.9)  # features, then a KAN
    True
    """

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "channels": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_components=32,
        *,
        image_shape=None,
        channels=(16, 32),
        max_epochs=10,
        batch_size=128,
        lr=1e-3,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.image_shape = image_shape
        self.channels = channels
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the network: supervised on ``y``, or as an autoencoder without it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, height, width) \
                or (n_samples, height, width, channels)
            Training images.
        y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
            Class labels or continuous targets; ``None`` trains an autoencoder.

        Returns
        -------
        self : ConvFeatures
            The fitted transformer.
        """
        channels = _positive_ints(self.channels, "channels")
        images = self._images(X, reset=True)
        x = self._net_input(images)
        shape = self.image_shape_
        if y is None:
            self.objective_ = "autoencoder"
            self._train_module(
                lambda: _ConvAutoencoder(_ConvEncoder(shape, channels, self.n_components)),
                nn.BCEWithLogitsLoss,
                x,
                self._as_float32(x),  # an autoencoder's target is its own input
            )
        else:
            target, n_outputs, criterion = self._encode_target(y, len(x))
            self._train_module(
                lambda: nn.Sequential(
                    _ConvEncoder(shape, channels, self.n_components),
                    nn.Linear(self.n_components, n_outputs),
                ),
                criterion,
                x,
                target,
            )
        return self

    def _net_input(self, images: np.ndarray) -> np.ndarray:
        return images.transpose(0, 3, 1, 2)  # convolutions take channels first

    def _trained_module(self, module: nn.Module) -> nn.Module:
        # Only the encoder is kept: the head or decoder served the training.
        return module.encoder if self.objective_ == "autoencoder" else module[0]

    def _encode_target(self, y, n_samples: int):
        """Target array, number of head outputs and loss for a supervised fit."""
        kind = type_of_target(y, input_name="y", raise_unknown=True)
        if kind in ("binary", "multiclass"):
            y = column_or_1d(y, warn=True)
            encoder = LabelEncoder().fit(y)
            self.objective_ = "classification"
            self.classes_ = encoder.classes_
            if len(self.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes to train on "
                    f"labels, but y contains only one class: {self.classes_[0]!r}. Fit "
                    "without y to train an autoencoder."
                )
            target = encoder.transform(y).astype(np.int64)
            n_outputs, criterion = len(self.classes_), nn.CrossEntropyLoss
        elif kind in ("continuous", "continuous-multioutput"):
            target = np.asarray(y, dtype=np.float64).reshape(n_samples, -1)
            std = target.std(axis=0)
            # Standardised so that the squared loss has the scale of the
            # cross-entropy whatever the units of y.
            target = self._as_float32((target - target.mean(axis=0)) / np.where(std > 0, std, 1.0))
            self.objective_ = "regression"
            n_outputs, criterion = target.shape[1], nn.MSELoss
        else:
            raise ValueError(
                f"{type(self).__name__} trains on class labels or continuous targets, but y "
                f"is {kind!r}. Fit without y to train an autoencoder."
            )
        if len(target) != n_samples:
            raise ValueError(
                "Found input variables with inconsistent numbers of samples: "
                f"[{n_samples}, {len(target)}]."
            )
        return target, n_outputs, criterion


class VAEFeatures(_LearnedFeatures):
    """Latent features of a variational autoencoder trained in ``fit``.

    Encoder and decoder are multilayer perceptrons on the flattened image (pixels
    scaled into ``[0, 1]`` with the training minimum and maximum). The encoder gives
    the mean and log-variance of a diagonal Gaussian posterior over
    ``n_components`` latent variables with a standard normal prior; the decoder
    gives a Bernoulli probability per pixel. Training minimises the negative
    evidence lower bound per image,
    ``binary_cross_entropy(x, decoder(z)).sum() + beta * KL(q(z | x) || N(0, I))``,
    with ``z`` drawn by the reparameterisation trick. Unsupervised: ``y`` is ignored.

    :meth:`transform` returns the posterior means (deterministic), and
    :meth:`inverse_transform` decodes latent vectors back to images.

    Parameters
    ----------
    n_components : int, default=16
        Number of latent variables, the output features.
    hidden : sequence of int, default=(256,)
        Widths of the hidden layers of the encoder (the decoder mirrors them).
    beta : float, default=1.0
        Weight of the KL term (``beta``-VAE); 1 is the true evidence lower bound,
        larger values give smoother, more disentangled latents and blurrier
        reconstructions.

    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of flat input rows,
        row-major and channels last; one entry may be ``-1``. ``None`` reads flat
        rows of a perfect-square length as square one-channel images and any other
        length as ``1 x n_features`` images; 3-D and 4-D input carries its shape.
    max_epochs : int, default=20
        Number of passes over the training data.
    batch_size : int or None, default=128
        Minibatch size (capped at the number of samples); ``None`` trains on the
        full batch.
    lr : float, default=0.001
        Learning rate of the Adam optimizer.
    device : {"auto", "cpu", "cuda", "mps"} or str, default="auto"
        Where to train: ``"auto"`` takes CUDA, then MPS, then the CPU.
        ``transform`` runs on the same device, in the network's float32.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and the shuffling (and the VAE's sampling). An
        int makes fits on the CPU reproducible; the caller's global torch and
        numpy random states are left untouched.
    verbose : int, default=0
        ``1`` or more prints skorch's table of epochs (loss, time) while training.

    Attributes
    ----------
    n_features_in_ : int
        Number of input features, ``height * width * channels`` (also for 3-D and
        4-D input).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X` has feature
        names that are all strings.
    image_shape_ : tuple of int
        ``(height, width, channels)`` of the training images, channels last.
    data_min_, data_max_ : float
        Smallest and largest training pixel; they map pixels onto ``[0, 1]``.
    net_ : skorch.NeuralNet
        The skorch net that trained the network (history, callbacks).
    history_ : skorch.History
        Per-epoch training record (``history_[:, "train_loss"]``).
    module_ : torch.nn.Module
        The trained VAE (``encode`` and ``decode`` methods).
    n_params_ : int
        Number of trainable parameters of ``module_`` (encoder and decoder).

    See Also
    --------
    ConvFeatures : Convolutional features, supervised or from an autoencoder.
    sklearn.decomposition.PCA : The linear counterpart.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_kan.feature_extraction import VAEFeatures
    >>> X = load_digits().data  # pixels 0..16 in rows of 64: 8 x 8 images
    >>> vae = VAEFeatures(n_components=8, max_epochs=10, random_state=0).fit(X)
    >>> Z = vae.transform(X)
    >>> Z.shape
    (1797, 8)
    >>> X_back = vae.inverse_transform(Z)  # in the input's pixel scale
    >>> X_back.shape, bool(X_back.min() >= 0 and X_back.max() <= 16)
    ((1797, 64), True)
    """

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "hidden": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "beta": [Interval(numbers.Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=16,
        *,
        image_shape=None,
        hidden=(256,),
        beta=1.0,
        max_epochs=20,
        batch_size=128,
        lr=1e-3,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.image_shape = image_shape
        self.hidden = hidden
        self.beta = beta
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the VAE on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, height, width) \
                or (n_samples, height, width, channels)
            Training images.
        y : None
            Ignored.

        Returns
        -------
        self : VAEFeatures
            The fitted transformer.
        """
        hidden = _positive_ints(self.hidden, "hidden")
        x = self._net_input(self._images(X, reset=True))
        self._train_module(
            lambda: _VAE(x.shape[1], hidden, self.n_components),
            _NegativeELBO,
            x,
            self._as_float32(x),  # an autoencoder's target is its own input
            criterion__beta=self.beta,
        )
        return self

    def inverse_transform(self, X):
        """Decode latent vectors to images, in the pixel scale of the training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Latent vectors, e.g. from :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in_)
            The decoder's pixel probabilities mapped back onto
            ``[data_min_, data_max_]``, as flat rows (row-major, channels last;
            ``reshape(-1, *image_shape_)`` gives images).
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=FLOAT_DTYPES)
        if Z.shape[1] != self.n_components:
            raise ValueError(
                f"X has {Z.shape[1]} features, but {type(self).__name__}.inverse_transform "
                f"is expecting {self.n_components} latent features as input."
            )
        pixels = self._run_module(self.module_, "decode", Z)[0]
        return self.data_min_ + pixels * (self.data_max_ - self.data_min_)

    def _trained_module(self, module: nn.Module) -> nn.Module:
        return module

    _transform_method = "encode"

    def _net_input(self, images: np.ndarray) -> np.ndarray:
        return images.reshape(images.shape[0], -1)


# -- torch modules -------------------------------------------------------------


class _ConvEncoder(nn.Module):
    """Convolution blocks, adaptive average pooling and a linear layer to the features.

    The sizes are fixed from ``image_shape`` when the module is built: each block
    halves a side only when it is at least 2 pixels long, so that 1 x n and 2 x 2
    images go through, and ``stage_sizes`` records the map size before each pooling
    for a decoder that mirrors it.
    """

    def __init__(self, image_shape, channels, n_components: int) -> None:
        super().__init__()
        height, width, in_channels = image_shape
        blocks, self.stage_sizes = [], []
        for out_channels in channels:
            pool = (2 if height >= 2 else 1, 2 if width >= 2 else 1)
            blocks += [
                nn.Conv2d(in_channels, out_channels, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(pool),
            ]
            self.stage_sizes.append((height, width))
            height, width, in_channels = height // pool[0], width // pool[1], out_channels
        self.blocks = nn.Sequential(*blocks)
        self.map_shape = (in_channels, height, width)
        pooled = (min(height, 4), min(width, 4))
        self.pool = nn.AdaptiveAvgPool2d(pooled)
        self.linear = nn.Linear(in_channels * math.prod(pooled), n_components)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.pool(self.blocks(x)).flatten(1))


class _ConvAutoencoder(nn.Module):
    """An encoder and a decoder that mirrors its blocks; outputs pixel logits."""

    def __init__(self, encoder: _ConvEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        channels, height, width = encoder.map_shape
        self.map_shape = encoder.map_shape
        self.linear = nn.Linear(encoder.linear.out_features, channels * height * width)
        stage_channels = [blk.in_channels for blk in encoder.blocks if isinstance(blk, nn.Conv2d)]
        layers = []
        for size, out in zip(reversed(encoder.stage_sizes), reversed(stage_channels)):
            layers += [nn.Upsample(size=size), nn.Conv2d(channels, out, 3, padding=1), nn.ReLU()]
            channels = out
        # Ends with the image's channels; logits, so no ReLU after the last layer.
        self.decoder = nn.Sequential(*layers[:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.relu(self.linear(self.encoder(x)))
        return self.decoder(z.view(-1, *self.map_shape))


class _VAE(nn.Module):
    """Gaussian encoder and Bernoulli decoder, both multilayer perceptrons."""

    def __init__(self, n_features: int, hidden, n_components: int) -> None:
        super().__init__()
        self.encoder = _mlp([n_features, *hidden, 2 * n_components])
        self.decoder = _mlp([n_components, *reversed(hidden), n_features])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance."""
        mean, log_var = self.encoder(x).chunk(2, dim=1)
        return mean, log_var

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities."""
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor):
        mean, log_var = self.encode(x)
        z = mean
        if self.training:  # reparameterisation: the sample stays differentiable
            z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        return self.decoder(z), mean, log_var


class _NegativeELBO(nn.Module):
    """Bernoulli reconstruction loss plus ``beta`` times the KL term, summed per image."""

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = beta

    def forward(self, outputs, x: torch.Tensor) -> torch.Tensor:
        logits, mean, log_var = outputs
        reconstruction = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp())
        return (reconstruction + self.beta * kl) / len(x)


# -- helpers -------------------------------------------------------------------


def _mlp(widths) -> nn.Sequential:
    layers = []
    for n_in, n_out in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def _positive_ints(value, name: str) -> list[int]:
    values = [value] if isinstance(value, numbers.Integral) else list(value)
    if not values or any(
        isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in values
    ):
        raise ValueError(f"{name} must be positive integers, got {value!r}.")
    return [int(v) for v in values]
