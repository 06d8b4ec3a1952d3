"""Torch models built from KAN layers: the plain :class:`KAN` stack, image front ends
(:data:`FRONTENDS`) and :class:`HybridKAN` (a front end followed by a KAN head)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import KANConv2d, KANLinear, KANLocal2d, _KANPixelLayer

__all__ = [
    "FRONTENDS",
    "KAN",
    "ConvFrontend",
    "HybridKAN",
    "KANConvFrontend",
    "LinearFrontend",
    "LocalFrontend",
    "MLP",
    "ScaledKAN",
    "make_frontend",
    "set_batch_norm_statistics",
]


class KAN(nn.Module):
    """A stack of :class:`~sklearn_kan.nn.KANLinear` layers.

    Parameters
    ----------
    widths : sequence of int
        Width of every layer, input first, output last: ``[784, 64, 10]`` is a
        784-input, 10-output KAN with one hidden layer of 64 nodes.
    hidden_norm : {"batchnorm", "layernorm", "tanh"} or None, default=None
        What maps a hidden layer's outputs onto the next layer's grid. A hidden
        KAN layer's outputs are sums of edge functions with no bound, so they
        can drift off the ``grid_range`` the next layer's splines cover (where
        only its SiLU term is left). ``"batchnorm"`` standardises each hidden
        unit with batch statistics (running statistics in evaluation),
        ``"layernorm"`` standardises each sample over its hidden units, and both
        then put two standard deviations at the grid's ends; ``"tanh"``
        squashes into the grid range. None of them has trainable parameters.
        ``None`` feeds the outputs on unchanged.
    **layer_kwargs
        Passed to every :class:`~sklearn_kan.nn.KANLinear` (``grid_size``,
        ``spline_order``, ``basis``, ``grid_range``, ...).

    Examples
    --------
    >>> import torch
    >>> from sklearn_kan.nn import KAN
    >>> net = KAN([4, 8, 3], grid_size=5)
    >>> net(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self, widths: Sequence[int], hidden_norm: str | None = None, **layer_kwargs
    ) -> None:
        super().__init__()
        widths = _check_widths(widths)
        _check_option("hidden_norm", hidden_norm, HIDDEN_NORMS)
        self.widths = widths
        self.hidden_norm = hidden_norm
        self.layers = nn.ModuleList(
            KANLinear(a, b, **layer_kwargs) for a, b in zip(widths[:-1], widths[1:])
        )
        grid_range = layer_kwargs.get("grid_range", (-1.0, 1.0))
        # One (parameter-free) map in front of every layer but the first.
        self.norms = nn.ModuleList(
            _GridNorm(hidden_norm, w, grid_range) if hidden_norm else nn.Identity()
            for w in widths[1:-1]
        )

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            if i:
                x = self.norms[i - 1](x)
            x = layer(x)
        return x

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        if "norms" not in self._modules:  # pickled before hidden_norm existed
            self.hidden_norm = None
            self.norms = nn.ModuleList(nn.Identity() for _ in self.widths[1:-1])

    def hidden_input(self, index: int, y: Tensor) -> Tensor:
        """Input of layer ``index + 1`` given the output ``y`` of layer ``index``.

        The ``hidden_norm`` map in evaluation mode (running statistics, nothing
        updated), for code that walks the layers one by one (inspection, pruning).
        """
        if index >= len(self.norms):
            return y
        norm = self.norms[index]
        training = norm.training
        norm.eval()
        try:
            return norm(y)
        finally:
            norm.train(training)

    def layer_inputs(self, x: Tensor) -> list[Tensor]:
        """Input of every layer for a batch ``x`` (the first one is ``x`` itself)."""
        inputs = []
        for i, layer in enumerate(self.layers):
            if i:
                x = self.norms[i - 1](x)
            inputs.append(x)
            x = layer(x)
        return inputs

    @torch.no_grad()
    def update_grid(self, x: Tensor, grid_eps: float = 0.02) -> None:
        """Update every layer's grid from a batch, first layer first.

        Each layer is updated on the inputs it receives after the layers before
        it were updated (their functions are kept, so those inputs barely move).
        """
        for i, layer in enumerate(self.layers):
            if i:
                x = self.norms[i - 1](x)
            layer.update_grid(x, grid_eps=grid_eps)
            x = layer(x)

    @torch.no_grad()
    def extend_grid(self, new_grid_size: int) -> None:
        """Refine every layer's grid to ``new_grid_size`` intervals (coarse to fine).

        The weights are resized in place (see :meth:`KANLinear.extend_grid`): an
        optimizer with per-parameter state (Adam) must be built anew afterwards.
        """
        for layer in self.layers:
            layer.extend_grid(new_grid_size)

    def regularization_loss(
        self, x: Tensor, lamb_l1: float = 1.0, lamb_entropy: float = 2.0
    ) -> Tensor:
        """Sum of the layers' :meth:`KANLinear.regularization_loss` on a batch ``x``."""
        total = x.new_zeros(())
        for layer, inp in zip(self.layers, self.layer_inputs(x)):
            total = total + layer.regularization_loss(inp, lamb_l1, lamb_entropy)
        return total


class _InputScaling:
    """The fixed input map of :class:`ScaledKAN`, :class:`HybridKAN` and :class:`MLP`.

    ``min(max(x * scale + shift, low), high)`` per feature (or channel), with the
    four vectors in buffers (so they move with the module and are saved in its
    ``state_dict``). The clipping keeps values never seen in training bounded (a
    pixel blank in every training image and lit at predict time); it is part of
    ``forward``, so an exported (traced) module clips too. The buffers are float64
    when built, so that ``module.to(torch.float64)`` keeps them exact; the module
    computes in the dtype of its input.
    """

    def _register_scaling(self, n: int, shape, shift, scale, bounds, owner: str) -> None:
        low, high = (None, None) if bounds is None else bounds
        values = {"shift": (shift, 0.0), "scale": (scale, 1.0)}
        values.update({"low": (low, -math.inf), "high": (high, math.inf)})
        for name, (value, default) in values.items():
            if value is None:
                tensor = torch.full((n,), default, dtype=torch.float64)
            else:
                tensor = torch.as_tensor(value).detach().to("cpu", torch.float64).clone()
                if tensor.shape != (n,):
                    raise ValueError(
                        f"{owner}: {name} must have shape ({n},), one value per input "
                        f"{'channel' if shape != (n,) else 'feature'}, got shape "
                        f"{tuple(tensor.shape)}."
                    )
            if name in ("shift", "scale") and not bool(torch.isfinite(tensor).all()):
                raise ValueError(f"{owner}: {name} must be finite.")
            self.register_buffer(name, tensor.reshape(shape))
        if bool(torch.isnan(self.low).any() | torch.isnan(self.high).any()) or bool(
            (self.low > self.high).any()
        ):
            raise ValueError(f"{owner}: input_bounds must be (low, high) with low <= high.")

    def _scaled(self, x: Tensor) -> Tensor:
        # Two whole-batch operations (each parallel one wakes the waiting threads).
        dtype = x.dtype
        x = torch.addcmul(self.shift.to(dtype), x, self.scale.to(dtype))
        return x.clamp_(self.low.to(dtype), self.high.to(dtype))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # A state_dict without bounds (saved by a module that did not clip) loads unclipped.
        for name in ("low", "high"):
            state_dict.setdefault(prefix + name, getattr(self, name).clone())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        buffers = self.__dict__["_buffers"]
        for name, value in (("low", -math.inf), ("high", math.inf)):
            if name not in buffers:  # pickled without bounds: unclipped, as trained
                buffers[name] = torch.full_like(buffers["shift"], value)


class ScaledKAN(_InputScaling, nn.Module):
    """A :class:`KAN` behind a fixed input scaling: the module of ``KANClassifier``.

    :class:`~sklearn_kan.KANClassifier` and :class:`~sklearn_kan.KANRegressor`
    train this module (``module_``). The scaling maps the training range of every
    input into the grid range, so the splines start where the data is, and clips
    it to ``input_bounds``, so that values never seen in training stay near the
    grid. It is stored in buffers, so it moves with the module between devices
    and is saved in its ``state_dict``. A saved module is rebuilt from the
    estimator's parameters and fitted attributes::

        module = ScaledKAN(
            [est.n_features_in_, *est.hidden_layer_sizes, n_outputs],
            grid_size=est.grid_size_,  # the final grid (grid_schedule changes it)
            spline_order=est.spline_order, basis=est.basis, grid_range=est.grid_range,
        )
        module.load_state_dict(state_dict)

    Parameters
    ----------
    widths : sequence of int
        Widths of the KAN, input first.
    scaler : tuple of (shift, scale) array-likes of shape (widths[0],) or None, default=None
        ``x * scale + shift`` is applied to the inputs; ``None`` for the identity
        (the values of a loaded ``state_dict`` replace it). A scale of 0 maps
        every value of that input to its shift (the estimators do this for a
        feature that is constant in training).
    input_bounds : tuple of (low, high) array-likes of shape (widths[0],) or None, \
            default=None
        The scaled inputs are clipped to ``[low, high]``; ``None`` does not clip
        (the values of a loaded ``state_dict`` replace it).
    **layer_kwargs
        Passed to :class:`KAN` (``grid_size``, ``spline_order``, ``basis``,
        ``grid_range``).

    Examples
    --------
    >>> import torch
    >>> from sklearn_kan.nn import ScaledKAN
    >>> module = ScaledKAN(
    ...     [4, 8, 3], scaler=([0.0] * 4, [0.5] * 4), input_bounds=([-1.2] * 4, [1.2] * 4)
    ... )
    >>> module(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    >>> module.scale_inputs(torch.tensor([[1.0, 2.0, 3.0, 1e9]]))  # clipped to 1.2
    tensor([[0.5000, 1.0000, 1.2000, 1.2000]])
    >>> copy = ScaledKAN([4, 8, 3])
    >>> _ = copy.load_state_dict(module.state_dict())
    >>> bool(copy.scale[0] == 0.5)
    True
    """

    def __init__(
        self, widths: Sequence[int], scaler=None, input_bounds=None, **layer_kwargs
    ) -> None:
        super().__init__()
        widths = _check_widths(widths)
        shift, scale = (None, None) if scaler is None else scaler
        self._register_scaling(widths[0], (widths[0],), shift, scale, input_bounds, "ScaledKAN")
        self.kan = KAN(widths, **layer_kwargs)

    def scale_inputs(self, x: Tensor) -> Tensor:
        """The inputs as the first KAN layer sees them (scaled and clipped)."""
        return self._scaled(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.kan(self.scale_inputs(x))

    def update_grid(self, x: Tensor, grid_eps: float = 0.02) -> None:
        """Re-place every grid on the (scaled) batch ``x``; see :meth:`KAN.update_grid`."""
        self.kan.update_grid(self.scale_inputs(x), grid_eps=grid_eps)

    def extend_grid(self, new_grid_size: int) -> None:
        """Refine every layer's grid to ``new_grid_size`` intervals (coarse to fine)."""
        self.kan.extend_grid(new_grid_size)

    def regularization_loss(
        self, x: Tensor, lamb_l1: float = 1.0, lamb_entropy: float = 2.0
    ) -> Tensor:
        """:meth:`KAN.regularization_loss` on the scaled batch ``x``."""
        return self.kan.regularization_loss(self.scale_inputs(x), lamb_l1, lamb_entropy)


# -- image front ends ------------------------------------------------------------


class _Frontend(nn.Module):
    """What every front end shares: the constructor of :data:`FRONTENDS`, ``out_features``
    and ``forward = body``; a subclass says what its body is (:meth:`_layers`)."""

    def __init__(
        self,
        image_shape: Sequence[int],
        features: int = 64,
        channels: Sequence[int] = (16, 32),
        **layer_kwargs,
    ) -> None:
        super().__init__()
        self.out_features = int(features)
        self.body = nn.Sequential(
            *self._layers(tuple(image_shape), int(features), tuple(channels), **layer_kwargs)
        )

    def _layers(self, image_shape, features, channels, **layer_kwargs) -> list[nn.Module]:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class LinearFrontend(_Frontend):
    """Flatten the image, one linear map to ``features``, LayerNorm.

    The cheapest front end: the KAN head then sees ``features`` learned linear
    combinations of the pixels, normalised per sample (LayerNorm needs no
    batch statistics, so any batch size works).

    Parameters
    ----------
    image_shape, features, channels, **layer_kwargs
        As for every front end (:data:`FRONTENDS`): ``(C, H, W)`` and the output
        width; ``channels`` and ``layer_kwargs`` are accepted so that every front end
        has the same signature, and unused.
    """

    def _layers(self, image_shape, features, channels, **layer_kwargs):
        del channels, layer_kwargs
        return [nn.Flatten(), nn.Linear(math.prod(image_shape), features), nn.LayerNorm(features)]


class _BlockFrontend(_Frontend):
    """Blocks, one per entry of ``channels``, then :func:`_to_vector` to ``features``.

    The shared body of the block front ends: a subclass only says what one block is
    (:meth:`_block`).
    """

    def _layers(self, image_shape, features, channels, **layer_kwargs):
        c, h, w = image_shape
        modules: list[nn.Module] = []
        for out in channels:
            block, (h, w) = self._block(c, out, (h, w), **layer_kwargs)
            modules += block
            c = out
        return [*modules, *_to_vector(c, h, w, features)]

    @staticmethod
    def _block(in_channels: int, out_channels: int, size: tuple[int, int], **layer_kwargs):
        """The modules of one block and the ``(height, width)`` they output."""
        raise NotImplementedError


class ConvFrontend(_BlockFrontend):
    """A small CNN: per entry of ``channels``, conv 3x3, BatchNorm, ReLU, max-pool 2.

    The feature maps are then average-pooled to at most 7 x 7 (a no-op on
    MNIST-sized images), flattened and mapped linearly to ``features``
    (BatchNorm). Pooling rounds up, so images of any size work, down to
    1 x 1 and to 1 x n rows of tabular data.

    Built as every front end of :data:`FRONTENDS` (``layer_kwargs`` are unused: no
    KAN layer here).
    """

    @staticmethod
    def _block(in_channels, out_channels, size, **layer_kwargs):
        del layer_kwargs
        block = [
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            _BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.MaxPool2d(2, ceil_mode=True),
        ]
        return block, (_half(size[0]), _half(size[1]))


class KANConvFrontend(_BlockFrontend):
    """:class:`ConvFrontend` with :class:`~sklearn_kan.nn.KANConv2d` for the convolutions.

    Per entry of ``channels``: KAN convolution 3x3 (its edges are the
    nonlinearity, so there is no ReLU), BatchNorm (which also keeps the next
    layer's inputs on its grid), max-pool 2. Then the same pooling, flattening
    and linear map to ``features`` as :class:`ConvFrontend`.

    Built as every front end of :data:`FRONTENDS`; ``layer_kwargs`` (``grid_size``,
    ...) go to every :class:`~sklearn_kan.nn.KANConv2d`.
    """

    @staticmethod
    def _block(in_channels, out_channels, size, **layer_kwargs):
        block = [
            KANConv2d(in_channels, out_channels, 3, padding=1, bias=False, **layer_kwargs),
            _BatchNorm2d(out_channels),
            nn.MaxPool2d(2, ceil_mode=True),
        ]
        return block, (_half(size[0]), _half(size[1]))


class LocalFrontend(_BlockFrontend):
    """Locally connected KAN blocks: :class:`~sklearn_kan.nn.KANLocal2d` 3x3, stride 2, BatchNorm.

    Each position has its own edge functions, so the parameter count grows with
    the image area: keep ``channels`` small (e.g. ``(8,)``). Then the same
    pooling, flattening and linear map to ``features`` as :class:`ConvFrontend`.

    Built as every front end of :data:`FRONTENDS`, with ``layer_kwargs`` for every
    :class:`~sklearn_kan.nn.KANLocal2d`.
    """

    @staticmethod
    def _block(in_channels, out_channels, size, **layer_kwargs):
        local = KANLocal2d(
            in_channels, out_channels, size, 3, stride=2, padding=1, bias=False, **layer_kwargs
        )
        return [local, _BatchNorm2d(out_channels)], tuple(local.output_size)


FRONTENDS: dict[str, type[nn.Module]] = {
    "linear": LinearFrontend,
    "conv": ConvFrontend,
    "kanconv": KANConvFrontend,
    "local": LocalFrontend,
}
"""Image front ends by name. Each is built as ``cls(image_shape, features, channels,
**layer_kwargs)``: ``image_shape = (C, H, W)`` of the input images, ``features`` the
width of the output vector (default 64), ``channels`` the output channels of its blocks
(default ``(16, 32)``) and ``layer_kwargs`` the options of its KAN layers. It maps
``(N, C, H, W)`` images to ``(N, features)`` vectors and has an ``out_features``
attribute. A new front end is one module here plus one entry (a block front end only
says what one block is)."""


def make_frontend(
    name: str,
    image_shape: Sequence[int],
    features: int = 64,
    channels: Sequence[int] = (16, 32),
    **layer_kwargs,
) -> nn.Module:
    """Build the front end registered as ``name`` in :data:`FRONTENDS`.

    Parameters
    ----------
    name : str
        Key of :data:`FRONTENDS`.
    image_shape : tuple of int
        ``(C, H, W)`` of the input images.
    features : int, default=64
        Width of the feature vector it outputs.
    channels : sequence of int, default=(16, 32)
        Channels of its blocks (ignored by ``"linear"``).
    **layer_kwargs
        KAN layer options (``grid_size``, ``spline_order``, ``basis``,
        ``grid_range``) for the front ends made of KAN layers.

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    ValueError
        If no front end of that name is registered.
    """
    try:
        cls = FRONTENDS[name]
    except KeyError:
        raise ValueError(
            f"Unknown frontend {name!r}. Expected one of {sorted(FRONTENDS)}."
        ) from None
    return cls(tuple(int(d) for d in image_shape), int(features), tuple(channels), **layer_kwargs)


class HybridKAN(_InputScaling, nn.Module):
    """An image front end followed by a KAN head, behind a fixed per-channel input scaling.

    ``forward`` computes ``head(frontend(min(max(x * scale + shift, low), high)))``
    on ``(N, C, H, W)`` images. Flat rows ``(N, H * W * C)`` are read channels-last,
    as the rest of the package writes them (``images.reshape(N, -1)`` of ``(N, H, W,
    C)`` images; see :mod:`sklearn_kan._images`), and transposed to ``(N, C, H, W)``
    first.

    The KAN layers inside (in the front end and in the head) are found by type,
    so :meth:`update_grid`, :meth:`extend_grid` and
    :meth:`regularization_loss` work for any front end.

    Parameters
    ----------
    frontend : torch.nn.Module
        Maps ``(N, C, H, W)`` images to ``(N, F)`` vectors (see :data:`FRONTENDS`).
    head : torch.nn.Module
        Maps ``(N, F)`` to the outputs, typically a :class:`KAN`.
    image_shape : tuple of int
        ``(C, H, W)``.
    shift, scale : array-like of shape (C,), optional
        Per-channel affine input scaling (identity by default). Stored in
        buffers, so it moves with the module and is saved with it.
    input_bounds : tuple of (low, high) array-likes of shape (C,), optional
        The scaled pixels of each channel are clipped to ``[low, high]``
        (default: not clipped).

    Examples
    --------
    >>> import torch
    >>> from sklearn_kan.nn import KAN, HybridKAN, make_frontend
    >>> frontend = make_frontend("conv", (1, 8, 8), features=16, channels=(4, 8))
    >>> net = HybridKAN(frontend, KAN([16, 10]), image_shape=(1, 8, 8))
    >>> net(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        frontend: nn.Module,
        head: nn.Module,
        image_shape: Sequence[int],
        shift=None,
        scale=None,
        input_bounds=None,
    ) -> None:
        super().__init__()
        self.image_shape = tuple(int(d) for d in image_shape)
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(
                f"HybridKAN: image_shape must be (channels, height, width) of positive "
                f"integers, got {tuple(image_shape)!r}."
            )
        n_channels = self.image_shape[0]
        self._register_scaling(
            n_channels, (n_channels, 1, 1), shift, scale, input_bounds, "HybridKAN"
        )
        self.frontend = frontend
        self.head = head

    def scale_inputs(self, x: Tensor) -> Tensor:
        """The images as the front end sees them, ``(N, C, H, W)``."""
        channels, height, width = self.image_shape
        if x.dim() == 2 and x.shape[1] == channels * height * width:
            x = x.reshape(x.shape[0], height, width, channels).permute(0, 3, 1, 2)
        elif x.dim() != 4 or x.shape[1] != channels:
            # (Images of another height and width pass: the convolutional front ends
            # take any size.)
            raise ValueError(
                f"HybridKAN expected images of shape (N, {channels}, H, W) (image_shape "
                f"{self.image_shape}) or flat rows of {channels * height * width} values "
                f"(height, width, channels), got shape {tuple(x.shape)}."
            )
        return self._scaled(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.frontend(self.scale_inputs(x)))

    @torch.no_grad()
    def update_grid(self, x: Tensor, grid_eps: float = 0.02) -> None:
        """Update every KAN layer's grid on the inputs it receives, first layer first.

        One forward pass in evaluation mode (BatchNorm uses, and does not
        update, its running statistics) in which each KAN layer re-places its
        grid on its input just before it is applied, so later layers see the
        outputs of the already updated ones.
        """

        def update(layer, args):
            layer.update_grid(args[0], grid_eps=grid_eps)

        with _pre_hooks(self, update), _eval_mode(self):
            self(x)

    @torch.no_grad()
    def extend_grid(self, new_grid_size: int) -> None:
        """Refine every KAN layer's grid to ``new_grid_size`` intervals (coarse to fine)."""
        for layer in _kan_layers(self):
            layer.extend_grid(new_grid_size)

    def regularization_loss(
        self, x: Tensor, lamb_l1: float = 1.0, lamb_entropy: float = 2.0
    ) -> Tensor:
        """Sum of every KAN layer's ``regularization_loss`` on the inputs it receives.

        Costs one extra forward pass of ``x`` (in the current mode: in training,
        BatchNorm's running statistics take one more update from it).
        """
        inputs = []
        with _pre_hooks(self, lambda layer, args: inputs.append((layer, args[0]))):
            self(x)
        total = x.new_zeros((), dtype=torch.float32 if x.dtype != torch.float64 else x.dtype)
        for layer, inp in inputs:
            total = total + layer.regularization_loss(inp, lamb_l1, lamb_entropy)
        return total


class MLP(_InputScaling, nn.Module):
    """A multilayer perceptron behind a fixed per-feature input scaling.

    The baseline a KAN is compared with: ``Linear`` layers with an activation
    between them, computing ``mlp(min(max(x * scale + shift, low), high))``, the
    same input scaling as the KAN estimators' modules.

    Parameters
    ----------
    widths : sequence of int
        Width of every layer, input first, output last.
    activation : {"relu", "tanh", "silu"}, default="relu"
        Activation after every hidden layer.
    shift, scale : array-like of shape (widths[0],), optional
        Affine input scaling (identity by default), stored in buffers.
    input_bounds : tuple of (low, high) array-likes of shape (widths[0],), optional
        The scaled inputs are clipped to ``[low, high]`` (default: not clipped).

    Examples
    --------
    >>> import torch
    >>> from sklearn_kan.nn import MLP
    >>> MLP([4, 8, 3])(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        widths: Sequence[int],
        activation: str = "relu",
        shift=None,
        scale=None,
        input_bounds=None,
    ) -> None:
        super().__init__()
        widths = _check_widths(widths)
        _check_option("activation", activation, _MLP_ACTIVATIONS)
        self.widths = widths
        n_in = widths[0]
        self._register_scaling(n_in, (n_in,), shift, scale, input_bounds, "MLP")
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            if i:
                layers.append(_MLP_ACTIVATIONS[activation]())
            layers.append(nn.Linear(a, b))
        self.layers = nn.Sequential(*layers)

    def scale_inputs(self, x: Tensor) -> Tensor:
        """The inputs as the first layer sees them (scaled and clipped)."""
        return self._scaled(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(self.scale_inputs(x))


_MLP_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "silu": nn.SiLU}


# -- private -------------------------------------------------------------------


def _check_widths(widths: Sequence[int]) -> list[int]:
    """``widths`` as a list of int: an input, hidden and output widths (at least two)."""
    widths = list(widths)
    if any(isinstance(w, bool) or not isinstance(w, numbers.Integral) or w < 1 for w in widths):
        raise ValueError(f"widths must be positive integers, got {widths!r}.")
    if len(widths) < 2:
        raise ValueError(f"widths needs at least an input and an output width, got {widths}.")
    return [int(w) for w in widths]


def _check_option(name: str, value, options) -> None:
    """The ``ValueError`` of a constructor argument that is not one of ``options``."""
    if value not in options:
        names = sorted(o for o in options if o is not None)
        also = " or None" if None in options else ""
        raise ValueError(f"{name} must be one of {names}{also}, got {value!r}.")


def _half(n: int) -> int:
    # Output size of MaxPool2d(2, ceil_mode=True).
    return (n + 1) // 2


def _to_vector(c: int, h: int, w: int, features: int) -> list[nn.Module]:
    """Maps ``(N, c, h, w)`` to ``(N, features)``: pool to at most 7 x 7, flatten, linear."""
    h, w = min(h, 7), min(w, 7)
    return [
        nn.AdaptiveAvgPool2d((h, w)),
        nn.Flatten(),
        nn.Linear(c * h * w, features, bias=False),
        _BatchNorm1d(features),
    ]


HIDDEN_NORMS = (None, "batchnorm", "layernorm", "tanh")


class _GridNorm(nn.Module):
    """Parameter-free map of hidden outputs onto the grid range (see ``KAN``)."""

    def __init__(self, kind: str, width: int, grid_range) -> None:
        super().__init__()
        lo, hi = float(grid_range[0]), float(grid_range[1])
        self.kind = kind
        self.centre, self.half = (lo + hi) / 2, (hi - lo) / 2
        if kind == "batchnorm":
            self.norm = _BatchNorm1d(width, affine=False)
        elif kind == "layernorm":
            self.norm = nn.LayerNorm(width, elementwise_affine=False)

    def subset(self, keep) -> _GridNorm:
        """The same map for the hidden units ``keep`` only (pruning)."""
        if self.kind == "layernorm":
            raise ValueError(
                "hidden units cannot be removed from a KAN with hidden_norm='layernorm': "
                "the normalisation of the others depends on them."
            )
        new = _GridNorm(self.kind, len(keep), (self.centre - self.half, self.centre + self.half))
        if self.kind == "batchnorm":
            keep = torch.as_tensor(keep, dtype=torch.long, device=self.norm.running_mean.device)
            new.norm.running_mean.copy_(self.norm.running_mean[keep])
            new.norm.running_var.copy_(self.norm.running_var[keep])
            new.norm.num_batches_tracked.copy_(self.norm.num_batches_tracked)
            new.to(self.norm.running_mean.device)
        return new

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "tanh":
            return torch.tanh(x) * self.half + self.centre
        # Two standard deviations to the grid's ends, as input_scaling="standard".
        return self.norm(x) * (self.half / 2) + self.centre


class _OneSampleSafe:
    # A training batch with a single value per channel (a trailing batch of one
    # sample, e.g. 129 samples in batches of 128) has no batch statistics, and
    # torch's BatchNorm raises; normalise it with the running statistics instead.
    #
    # ``sample_weight`` (set by ``batch_weights`` for one forward pass) makes the
    # batch statistics weighted averages: a row of integer weight k counts as k
    # repeated rows, in the normalisation and in the running statistics, so a
    # weighted fit is the fit on the repeated rows (scikit-learn's meaning of
    # sample weights). Without weights this is torch's BatchNorm unchanged.
    sample_weight: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self.training and x.numel() <= x.shape[1]:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        if self.training and self.sample_weight is not None:
            return self._weighted_forward(x, self.sample_weight)
        return super().forward(x)

    def _weighted_forward(self, x: Tensor, weight: Tensor) -> Tensor:
        dims = [0, *range(2, x.ndim)]
        shape = [1, -1] + [1] * (x.ndim - 2)
        w = weight.to(x.dtype).reshape(-1, *[1] * (x.ndim - 1))
        count = weight.sum().to(x.dtype) * (x[0, 0].numel())  # values per channel
        mean = (x * w).sum(dims) / count
        centred = x - mean.reshape(shape)
        var = (centred.square() * w).sum(dims) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum
                if momentum is None:  # cumulative average, as torch's BatchNorm
                    momentum = 1.0 / float(self.num_batches_tracked)
                unbiased = var * (count / (count - 1)) if count > 1 else var
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(unbiased.detach(), momentum)
        out = centred * torch.rsqrt(var + self.eps).reshape(shape)
        if self.affine:
            out = out * self.weight.reshape(shape) + self.bias.reshape(shape)
        return out


@contextmanager
def batch_weights(module: nn.Module, sample_weight: Tensor | None):
    """Weigh the batch statistics of ``module``'s BatchNorm layers by ``sample_weight``.

    For the forward passes inside the ``with`` block (training mode only);
    ``None`` changes nothing.
    """
    norms = (
        []
        if sample_weight is None
        else [m for m in module.modules() if isinstance(m, _OneSampleSafe)]
    )
    if not norms:
        yield
        return
    for m in norms:
        m.sample_weight = sample_weight
    try:
        yield
    finally:
        for m in norms:
            m.sample_weight = None


class _Captured(Exception):
    pass


def _batch_norms(module: nn.Module) -> list[nn.Module]:
    return [
        m
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


def has_batch_norm(module: nn.Module) -> bool:
    """Whether ``module`` has BatchNorm layers with running statistics."""
    return bool(_batch_norms(module))


@torch.no_grad()
# Not torch.optim.swa_utils.update_bn, which does the same job for unweighted data,
# because it cannot give these statistics:
# - it runs the whole model once in training mode, so every BatchNorm layer
#   normalises with the batch statistics of the current chunk, and a later layer
#   sees inputs that prediction (evaluation mode, the earlier layers at their final
#   statistics) never feeds it; here each layer is set in forward order with the
#   layers before it already set, and an update_bn per layer is not possible, as
#   each call resets every layer's statistics and puts the whole model in training;
# - its momentum=None running average is the mean of the chunks' means and of
#   their unbiased variances, each chunk counted once: the variance misses the
#   spread between the chunks' means and a short last chunk weighs as a full one;
#   here they are the mean and unbiased variance over all the rows;
# - its loader gives the model inputs only, so sample weights would have to reach
#   the batch statistics through a side channel (``batch_weights`` per chunk).
def set_batch_norm_statistics(
    module: nn.Module, X, sample_weight=None, *, chunk_rows: int = 256
) -> int:
    """Set the running statistics of ``module``'s BatchNorm layers to those of ``X``.

    Each layer gets the (weighted) mean and unbiased variance of its inputs over
    all rows of ``X`` (the module's input), with the layers before it already
    set, as prediction will see them. This replaces the running averages of
    training, which lag behind the final weights, and after a short training
    (a few dozen steps) are still close to their initial values. Returns the
    number of layers set.

    Parameters
    ----------
    module : torch.nn.Module
        Module whose BatchNorm layers (torch's ``BatchNorm1d``/``2d``/``3d``, as
        in the ``FRONTENDS`` and ``KAN``'s ``hidden_norm="batchnorm"``) are set.
    X : ndarray or Tensor
        Inputs of ``module``, one row per sample.
    sample_weight : ndarray or Tensor of shape (n_samples,), default=None
        Weight of each row (an integer ``k`` counts it ``k`` times).
    chunk_rows : int, default=256
        Rows per forward pass (bounds the memory; larger chunks are slower on
        the CPU once a KAN layer's expanded inputs no longer fit in the cache).
    """
    norms = _batch_norms(module)
    if not norms:
        return 0
    param = next(module.parameters())
    X = torch.as_tensor(X)
    weight = None if sample_weight is None else torch.as_tensor(sample_weight)
    # The layers in the order the forward pass reaches them.
    order: list[nn.Module] = []
    handles = [
        m.register_forward_pre_hook(lambda m, args: order.append(m) if m not in order else None)
        for m in norms
    ]
    with _eval_mode(module):
        try:
            module(X[:2].to(param.device, param.dtype))
        finally:
            for handle in handles:
                handle.remove()
        for norm in order:
            seen = {}

            def capture(m, args, seen=seen):
                seen["x"] = args[0]
                raise _Captured  # the layers after it are not needed

            handle = norm.register_forward_pre_hook(capture)
            n, s1, s2 = 0.0, 0.0, 0.0
            try:
                for start in range(0, len(X), chunk_rows):
                    rows = X[start : start + chunk_rows]
                    try:
                        module(rows.to(param.device, param.dtype))
                    except _Captured:
                        pass
                    x = seen["x"].double()
                    dims = [0, *range(2, x.ndim)]
                    w = (
                        torch.ones(len(rows), dtype=torch.float64)
                        if weight is None
                        else weight[start : start + chunk_rows].double()
                    )
                    n += float(w.sum()) * x[0, 0].numel()  # values per channel
                    w = w.to(x.device).reshape(-1, *[1] * (x.ndim - 1))
                    s1 = s1 + (x * w).sum(dims)
                    s2 = s2 + (x.square() * w).sum(dims)
            finally:
                handle.remove()
            mean = s1 / n
            var = (s2 / n - mean.square()).clamp_min(0.0) * (n / (n - 1) if n > 1 else 1.0)
            norm.running_mean.copy_(mean)
            norm.running_var.copy_(var)
    return len(order)


class _BatchNorm1d(_OneSampleSafe, nn.BatchNorm1d):
    pass


class _BatchNorm2d(_OneSampleSafe, nn.BatchNorm2d):
    pass


def _kan_layers(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, KANLinear | _KANPixelLayer)]


@contextmanager
def _pre_hooks(module: nn.Module, hook):
    handles = [layer.register_forward_pre_hook(hook) for layer in _kan_layers(module)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def _eval_mode(module: nn.Module):
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training
