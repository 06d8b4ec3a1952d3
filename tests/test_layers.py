import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sklearn_kan.nn import KAN, KANLinear
from sklearn_kan.nn.basis import BASES


def _slow_edges(layer: KANLinear, x: torch.Tensor) -> torch.Tensor:
    """phi_{o,i}(x_i) edge by edge, the obvious way."""
    basis = BASES[layer.basis]
    out = torch.zeros(x.shape[0], layer.in_features, layer.out_features, dtype=x.dtype)
    for i in range(layer.in_features):
        b = basis.evaluate(x[:, i : i + 1], layer.grid[i : i + 1], layer.spline_order)[:, 0]
        for o in range(layer.out_features):
            w = layer.edge_weights()[o, i]
            out[:, i, o] = w[0] * F.silu(x[:, i]) + b @ w[1:]
    return out


@pytest.mark.parametrize("basis", sorted(BASES))
def test_forward_equals_sum_of_edge_functions(basis):
    torch.manual_seed(0)
    layer = KANLinear(4, 3, basis=basis).double()
    with torch.no_grad():
        layer.weight.normal_()
    x = torch.randn(20, 4, dtype=torch.float64)
    edges = _slow_edges(layer, x)
    torch.testing.assert_close(layer.edge_activations(x), edges)
    torch.testing.assert_close(layer(x), edges.sum(1) + layer.bias)


@pytest.mark.parametrize("basis", sorted(BASES))
def test_gradcheck_float64(basis):
    torch.manual_seed(1)
    layer = KANLinear(3, 2, basis=basis).double()
    x = (torch.rand(8, 3, dtype=torch.float64) * 2.4 - 1.2).requires_grad_(True)
    assert torch.autograd.gradcheck(layer, (x,))
    w = layer.weight

    def of_weight(weight):
        feats = layer.expand(x.detach())
        return torch.einsum("bif,ofi->bo", feats, weight)

    assert torch.autograd.gradcheck(of_weight, (w.detach().clone().requires_grad_(True),))


def _smooth_layer(in_features=3, out_features=2, **kwargs) -> KANLinear:
    """A layer whose edges are smooth functions (as trained edges are)."""
    layer = KANLinear(in_features, out_features, **kwargs).double()
    centres = torch.linspace(-1, 1, layer.n_basis, dtype=torch.float64)
    with torch.no_grad():
        for o in range(out_features):
            for i in range(in_features):
                layer.edge_weights()[o, i, 1:] = torch.sin(2 * centres + o + i)
    return layer


def test_update_grid_keeps_outputs_and_follows_the_data():
    torch.manual_seed(0)
    layer = _smooth_layer()
    x = torch.rand(2000, 3, dtype=torch.float64) ** 2 * 1.6 - 0.8  # skewed, inside the grid
    before = layer(x)
    layer.update_grid(x)
    after = layer(x)
    rel = ((after - before).norm() / before.norm()).item()
    assert rel < 0.01
    lo, hi = BASES["bspline"].domain(layer.grid, layer.spline_order)
    torch.testing.assert_close(lo, x.min(0).values)
    torch.testing.assert_close(hi, x.max(0).values)
    # adaptive: more knots where the data is dense (near -0.8)
    interior = layer.grid[0, 3:-3]
    assert (interior < 0).sum() > (interior > 0).sum()


@pytest.mark.parametrize("basis", ["bspline", "rbf"])
def test_update_grid_is_finite_with_constant_inputs(basis):
    layer = KANLinear(2, 2, basis=basis)
    x = torch.zeros(64, 2)
    x[:, 1] = torch.linspace(-1, 1, 64)
    layer.update_grid(x)
    assert torch.isfinite(layer.grid).all() and torch.isfinite(layer.weight).all()
    assert torch.isfinite(layer(x)).all()


@pytest.mark.parametrize("basis", ["bspline", "chebyshev", "gram", "fourier"])
def test_extend_grid_keeps_the_function(basis):
    layer = _smooth_layer(basis=basis)
    x = torch.linspace(-1, 1, 200, dtype=torch.float64).unsqueeze(1).expand(-1, 3)
    before = layer(x)
    layer.extend_grid(10)
    assert layer.grid_size == 10 and layer.edge_weights().shape == (2, 3, 10 + 3 + 1)
    torch.testing.assert_close(layer(x), before, atol=1e-6, rtol=1e-6)


def test_extend_grid_after_update_keeps_adapted_knots():
    layer = _smooth_layer()
    x = torch.rand(1000, 3, dtype=torch.float64) ** 3 * 2 - 1
    layer.update_grid(x)
    before = layer(x)
    layer.extend_grid(10)
    rel = ((layer(x) - before).norm() / before.norm()).item()
    # The interpolated knots are not a refinement of the adapted ones (the old
    # spline is not exactly in the new space), but ten intervals fit it closely.
    assert rel < 1e-3


def test_regularization_loss_matches_the_paper_formula():
    torch.manual_seed(0)
    layer = KANLinear(3, 2).double()
    x = torch.randn(50, 3, dtype=torch.float64)
    scale = _slow_edges(layer, x).abs().mean(0)
    p = scale / scale.sum()
    expected = 1.0 * scale.sum() + 2.0 * -(p * torch.log(p)).sum()
    torch.testing.assert_close(layer.regularization_loss(x), expected)
    net = KAN([3, 4, 2]).double()
    assert net.regularization_loss(x) > 0


def test_kan_stack_and_grid_methods():
    torch.manual_seed(0)
    net = KAN([5, 7, 3], grid_size=4)
    x = torch.randn(100, 5)
    assert net(x).shape == (100, 3)
    inputs = net.layer_inputs(x)
    assert [t.shape[1] for t in inputs] == [5, 7]
    net.update_grid(x)
    net.extend_grid(8)
    assert all(layer.grid_size == 8 for layer in net.layers)
    assert torch.isfinite(net(x)).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"grid_size": 0}, "grid_size must be >= 1"),
        ({"spline_order": -1}, "spline_order must be >= 0"),
        ({"grid_range": (1, -1)}, "low < high"),
        ({"basis": "nope"}, "Unknown basis"),
    ],
)
def test_bad_layer_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KANLinear(2, 2, **kwargs)


def test_wrong_input_width():
    with pytest.raises(ValueError, match="expected inputs with 2 features, got 3"):
        KANLinear(2, 2)(torch.zeros(1, 3))


def test_layer_pickles():
    import pickle

    layer = KANLinear(2, 2)
    clone = pickle.loads(pickle.dumps(layer))
    x = torch.randn(3, 2)
    np.testing.assert_array_equal(clone(x).detach().numpy(), layer(x).detach().numpy())


def test_inference_mode_forward_then_training():
    # A prediction under inference_mode must not leave cached tensors that a later
    # training step cannot save for backward.
    layer = KANLinear(4, 3)
    x = torch.randn(5, 4)
    with torch.inference_mode():
        layer(x)
    layer(x).sum().backward()
    assert layer.weight.grad is not None
