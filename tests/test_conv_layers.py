"""KANConv2d and KANLocal2d against slow, obvious per-edge references."""

import itertools
import pickle

import pytest
import torch
import torch.nn.functional as F

from sklearn_kan.nn import KANConv2d, KANLinear, KANLocal2d
from sklearn_kan.nn.basis import BASES


def _edge_maps(layer, x, o, c_in, c_w, i, j, weight):
    """phi_{o,c,(i,j)} applied to every pixel of input channel ``c_in``."""
    basis = BASES[layer.basis]
    n, _, h, w = x.shape
    v = x[:, c_in].reshape(-1, 1)
    b = basis.evaluate(v, layer.grid[c_in : c_in + 1], layer.spline_order)[:, 0]
    coef = weight[o, c_w, :, i, j]
    return (coef[0] * F.silu(v[:, 0]) + b @ coef[1:]).reshape(n, h, w)


def _slow_layer(layer, x, local: bool, same: bool = False):
    """Sum of edge functions position by position; padded positions add nothing.

    ``same``: padding="same" as torch.nn.Conv2d has it, half of ``d * (k - 1)`` on
    the left and top, the rest on the right and bottom; the output has the input's size.
    """
    kh, kw = layer.kernel_size
    (sh, sw), (dh, dw) = layer.stride, layer.dilation
    n, c_total, h, w = x.shape
    if same:
        ph, pw = dh * (kh - 1) // 2, dw * (kw - 1) // 2
        ho, wo = h, w
    else:
        ph, pw = layer.padding
        ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    groups = getattr(layer, "groups", 1)
    cg, og = c_total // groups, layer.out_channels // groups
    out = torch.zeros(n, layer.out_channels, ho, wo, dtype=x.dtype)
    for o in range(layer.out_channels):
        g = o // og
        for c, i, j in itertools.product(range(cg), range(kh), range(kw)):
            c_in = g * cg + c
            if not local:
                phi = _edge_maps(layer, x, o, c_in, c, i, j, layer.weight)
            for r, s in itertools.product(range(ho), range(wo)):
                y, z = r * sh - ph + i * dh, s * sw - pw + j * dw
                if not (0 <= y < h and 0 <= z < w):
                    continue
                if local:
                    phi = _edge_maps(layer, x, o, c_in, c_in, i, j, layer.weight[r * wo + s])
                out[:, o, r, s] += phi[:, y, z]
    if layer.bias is not None:
        out += layer.bias.reshape(layer.out_channels, -1, 1) if not local else layer.bias
    return out


def _randomise(layer):
    torch.manual_seed(3)
    with torch.no_grad():
        layer.weight.normal_()
        layer.bias.normal_()
    return layer


CONV_CASES = [
    {"kernel_size": 3},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": (2, 3), "padding": (1, 2), "dilation": (2, 1)},
    {"kernel_size": 3, "padding": 1, "groups": 2},
    {"kernel_size": 3, "padding": "same"},
    # An even extent (2 - 1 rows) puts the odd padding row at the bottom.
    {"kernel_size": (2, 3), "padding": "same", "dilation": (1, 2)},
    {"kernel_size": 3, "padding": "valid"},
]


@pytest.mark.parametrize("kwargs", CONV_CASES)
@pytest.mark.parametrize("basis", ["bspline", "rbf", "gram", "fourier", "rational"])
def test_conv_equals_the_sum_of_its_edge_functions(kwargs, basis):
    layer = _randomise(KANConv2d(4, 6, basis=basis, grid_size=3, **kwargs).double())
    x = torch.randn(2, 4, 7, 6, dtype=torch.float64)
    same = kwargs.get("padding") == "same"
    torch.testing.assert_close(layer(x), _slow_layer(layer, x, local=False, same=same))
    if same:
        assert layer(x).shape[-2:] == x.shape[-2:]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel_size": 3},
        {"kernel_size": 3, "stride": 2, "padding": 1},
        {"kernel_size": (2, 3), "padding": (1, 0), "dilation": (1, 2), "stride": (1, 2)},
        {"kernel_size": (2, 3), "padding": "same"},
    ],
)
@pytest.mark.parametrize("basis", ["bspline", "gram", "rational"])
def test_local_equals_the_sum_of_its_edge_functions(kwargs, basis):
    layer = KANLocal2d(2, 3, input_size=(6, 7), grid_size=3, basis=basis, **kwargs)
    layer = _randomise(layer.double())
    x = torch.randn(2, 2, 6, 7, dtype=torch.float64)
    same = kwargs.get("padding") == "same"
    torch.testing.assert_close(layer(x), _slow_layer(layer, x, local=True, same=same))
    if same:
        assert layer.output_size == (6, 7)


def test_local_with_tied_weights_is_the_conv():
    torch.manual_seed(0)
    conv = _randomise(KANConv2d(2, 3, 3, stride=2, padding=1, grid_size=4).double())
    local = KANLocal2d(2, 3, input_size=8, kernel_size=3, stride=2, padding=1, grid_size=4)
    local = local.double()
    with torch.no_grad():
        local.weight.copy_(conv.weight.expand_as(local.weight))
        local.bias.copy_(conv.bias[:, None, None].expand_as(local.bias))
    x = torch.randn(3, 2, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(local(x), conv(x))


def test_1x1_conv_is_a_kan_linear_on_every_pixel():
    conv = _randomise(KANConv2d(3, 5, 1).double())
    linear = KANLinear(3, 5).double()
    with torch.no_grad():
        linear.edge_weights().copy_(conv.weight[..., 0, 0])
        linear.bias.copy_(conv.bias)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    expected = linear(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(conv(x), expected)


@pytest.mark.parametrize("cls", [KANConv2d, KANLocal2d])
def test_gradcheck_float64(cls):
    torch.manual_seed(1)
    extra = {"input_size": 3} if cls is KANLocal2d else {"groups": 1}
    layer = cls(2, 2, kernel_size=2, padding=1, grid_size=3, **extra).double()
    x = (torch.rand(1, 2, 3, 3, dtype=torch.float64) * 2.4 - 1.2).requires_grad_(True)
    assert torch.autograd.gradcheck(layer, (x,))


def _smooth(layer):
    """Smooth edge functions, as trained ones are (refits keep them closely)."""
    layer = layer.double()
    centres = torch.linspace(-1, 1, layer.n_basis, dtype=torch.float64)
    with torch.no_grad():
        shape = [1] * layer.weight.dim()
        dim = 2 if isinstance(layer, KANConv2d) else 3
        shape[dim] = layer.n_basis
        phase = torch.arange(layer.weight.numel() // layer.weight.shape[dim], dtype=torch.float64)
        phase = phase.reshape(*layer.weight.select(dim, 0).shape).unsqueeze(dim)
        layer.weight.narrow(dim, 1, layer.n_basis).copy_(
            torch.sin(2 * centres.reshape(shape) + phase)
        )
    return layer


@pytest.mark.parametrize("cls", [KANConv2d, KANLocal2d])
def test_grid_update_and_extension_keep_the_function(cls):
    extra = {"input_size": 6} if cls is KANLocal2d else {"groups": 2}
    layer = _smooth(cls(2, 4, kernel_size=3, padding=1, **extra))
    torch.manual_seed(0)
    x = torch.rand(20, 2, 6, 6, dtype=torch.float64) ** 2 * 1.6 - 0.8
    before = layer(x)
    layer.update_grid(x)
    rel = ((layer(x) - before).norm() / before.norm()).item()
    assert rel < 0.01
    lo, _ = BASES["bspline"].domain(layer.grid, layer.spline_order)
    torch.testing.assert_close(lo, x.amin(dim=(0, 2, 3)))
    before = layer(x)
    layer.extend_grid(10)
    assert layer.grid_size == 10 and layer.weight.shape[2 if cls is KANConv2d else 3] == 14
    rel = ((layer(x) - before).norm() / before.norm()).item()
    assert rel < 1e-3


def test_conv_regularization_matches_the_paper_formula():
    layer = _randomise(KANConv2d(4, 2, 3, groups=2, grid_size=3).double())
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)  # 50 pixels: all of them are used
    scale = torch.stack(
        [
            _edge_maps(layer, x, o, (o // 1) * 2 + c, c, i, j, layer.weight).abs().mean()
            for o in range(2)
            for c in range(2)
            for i in range(3)
            for j in range(3)
        ]
    )
    p = scale / scale.sum()
    expected = scale.sum() + 2.0 * -(p * torch.log(p)).sum()
    torch.testing.assert_close(layer.regularization_loss(x), expected)


def test_local_regularization_is_the_mean_edge_activation():
    layer = _randomise(KANLocal2d(1, 2, input_size=3, kernel_size=3, grid_size=3).double())
    x = torch.randn(4, 1, 3, 3, dtype=torch.float64)
    # One output position whose kernel covers the whole image: edge (o, i, j)
    # sees pixel (i, j).
    scale = torch.stack(
        [
            _edge_maps(layer, x, o, 0, 0, i, j, layer.weight[0])[:, i, j].abs().mean()
            for o in range(2)
            for i in range(3)
            for j in range(3)
        ]
    )
    p = scale / scale.sum()
    expected = 0.5 * scale.sum() + -(p * torch.log(p)).sum()
    torch.testing.assert_close(layer.regularization_loss(x, 0.5, 1.0), expected)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: KANConv2d(3, 4, 3, groups=2), "groups must be >= 1 and divide"),
        (lambda: KANConv2d(2, 4, 0), "kernel_size must be >= 1"),
        (lambda: KANConv2d(2, 4, 3, stride=(1, 0)), "stride must be >= 1"),
        (lambda: KANConv2d(2, 4, 3, padding=-1), "padding must be >= 0"),
        (lambda: KANConv2d(2, 4, 3, padding="full"), "padding must be an int, a pair"),
        (lambda: KANConv2d(2, 4, 3, stride=2, padding="same"), "padding='same' needs stride=1"),
        (lambda: KANLocal2d(1, 2, 5, 3, stride=2, padding="same"), "needs stride=1"),
        (lambda: KANConv2d(2, 4, (3, 3, 3)), "kernel_size must be an int or a pair"),
        (lambda: KANConv2d(2, 4, 3, grid_range=(1, 0)), "low < high"),
        (lambda: KANConv2d(2, 4, 3, basis="rbf", grid_size=1, spline_order=0), "at least 2"),
        (lambda: KANLocal2d(1, 2, input_size=2, kernel_size=3), "too small"),
    ],
)
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: KANConv2d(2, 4, 2.5), "kernel_size must be an int, got 2.5"),
        (lambda: KANConv2d(2.0, 4, 3), "in_channels must be an int"),
        (lambda: KANLocal2d(1, 2, input_size=5, kernel_size=3, grid_size=2.5), "grid_size"),
    ],
)
def test_arguments_of_the_wrong_type(make, match):
    with pytest.raises(TypeError, match=match):
        make()


@pytest.mark.parametrize("cls", [KANConv2d, KANLocal2d])
def test_empty_batches(cls):
    extra = {"input_size": 5} if cls is KANLocal2d else {}
    layer = cls(2, 3, kernel_size=3, padding=1, **extra)
    empty = torch.zeros(0, 2, 5, 5)
    assert layer(empty).shape == (0, 3, 5, 5)
    with pytest.raises(ValueError, match="regularization_loss needs a batch of at least one"):
        layer.regularization_loss(empty)


def test_wrong_inputs():
    with pytest.raises(ValueError, match=r"expected inputs of shape \(N, 2, H, W\)"):
        KANConv2d(2, 2, 3)(torch.zeros(1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"expected inputs of size \(5, 5\), got \(6, 6\)"):
        KANLocal2d(1, 2, input_size=5, kernel_size=3)(torch.zeros(1, 1, 6, 6))


@pytest.mark.parametrize("cls", [KANConv2d, KANLocal2d])
def test_pickles(cls):
    extra = {"input_size": 5} if cls is KANLocal2d else {}
    layer = cls(1, 2, kernel_size=3, **extra)
    clone = pickle.loads(pickle.dumps(layer))
    x = torch.randn(2, 1, 5, 5)
    torch.testing.assert_close(clone(x), layer(x))
