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


def _pixel_columns(n: int = 1000) -> torch.Tensor:
    """Columns like scaled image pixels: mostly blank (-1), a few grey levels.

    Column 0 is lit in 2% of the rows, column 1 in 10%, both at the 17 levels of
    a 0-16 image scaled onto [-1, 1]; column 2 only ever reaches the dark levels
    (up to -0.5); column 3 is lit once.
    """
    gen = torch.Generator().manual_seed(0)
    levels = torch.randint(1, 17, (n, 4), generator=gen).double() / 8 - 1
    levels[:, 2] = torch.randint(1, 5, (n,), generator=gen).double() / 8 - 1
    lit = torch.rand(n, 4, generator=gen) < torch.tensor([0.02, 0.1, 0.1, 0.0])
    lit[0, 3] = True
    return torch.where(lit, levels, torch.tensor(-1.0, dtype=torch.float64))


def _smooth_data(n: int = 1000) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(n, 4, generator=gen, dtype=torch.float64) ** 2 * 1.6 - 0.8


@pytest.mark.parametrize("data", [_smooth_data, _pixel_columns], ids=["smooth", "pixels"])
@pytest.mark.parametrize("basis", ["bspline", "rbf", "chebyshev", "gram", "fourier"])
def test_update_grid_keeps_every_function_on_its_samples_and_between_them(basis, data):
    layer = _smooth_layer(in_features=4, out_features=3, basis=basis)
    x = data()
    lo, hi = x.amin(0), x.amax(0)
    between = lo + (hi - lo) * torch.linspace(0, 1, 401, dtype=torch.float64).unsqueeze(1)
    before, before_between = layer(x), layer(between)
    largest_weight = layer.weight.abs().max()
    layer.update_grid(x)
    spread = before.amax(0) - before.amin(0)
    # On the samples the update refits to: every output within 2% of its spread.
    assert ((layer(x) - before).abs().amax(0) / spread).max() < 0.02
    # Between the samples (the gaps of blank-heavy columns) the change stays bounded,
    # and so do the weights (an ill-conditioned refit gave weights of 1e8).
    assert ((layer(between) - before_between).abs().amax(0) / spread).max() < 0.05
    assert layer.weight.abs().max() < 100 * largest_weight


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
        ({"grid_range": (-np.inf, 1)}, "finite numbers"),
        ({"grid_range": (0, np.nan)}, "finite numbers"),
        ({"grid_range": (0, 1, 2)}, "grid_range must be a pair"),
        ({"basis": "nope"}, "Unknown basis"),
        # One function: no range for the Gaussians' width or the Fourier period (0/0).
        ({"basis": "rbf", "grid_size": 1, "spline_order": 0}, "needs at least 2 functions"),
        ({"basis": "fourier", "grid_size": 1, "spline_order": 0}, "needs at least 2 functions"),
    ],
)
def test_bad_layer_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KANLinear(2, 2, **kwargs)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((2, 2), {"grid_size": 2.5}, "grid_size must be an int, got 2.5"),
        ((2, 2), {"grid_size": True}, "grid_size must be an int"),
        ((2, 2), {"spline_order": 1.5}, "spline_order must be an int"),
        ((2.0, 2), {}, "in_features must be an int"),
        ((2, True), {}, "out_features must be an int"),
    ],
)
def test_layer_arguments_of_the_wrong_type(args, kwargs, match):
    with pytest.raises(TypeError, match=match):
        KANLinear(*args, **kwargs)


@pytest.mark.parametrize("basis", ["bspline", "chebyshev", "gram", "rational"])
def test_one_function_per_edge_is_finite_where_the_basis_allows_it(basis):
    layer = KANLinear(2, 2, basis=basis, grid_size=1, spline_order=0)
    assert torch.isfinite(layer(torch.randn(5, 2))).all()


def test_extend_grid_refuses_a_size_that_is_not_an_int():
    layer = KANLinear(2, 2)
    with pytest.raises(TypeError, match="new_grid_size must be an int, got 2.5"):
        layer.extend_grid(2.5)
    with pytest.raises(ValueError, match="new_grid_size must be >= 1"):
        layer.extend_grid(0)


@pytest.mark.parametrize("basis", sorted(BASES))
def test_an_empty_batch_gives_empty_outputs_as_torch_linear_does(basis):
    layer = KANLinear(4, 3, basis=basis)
    out = layer(torch.randn(0, 4))
    assert out.shape == torch.nn.Linear(4, 3)(torch.randn(0, 4)).shape == (0, 3)
    out.sum().backward()  # part of the graph, as an ordinary layer's output
    assert layer(torch.randn(2, 0, 4)).shape == (2, 0, 3)
    with torch.no_grad():
        assert layer(torch.randn(0, 4)).shape == (0, 3)


def test_regularization_loss_on_an_empty_batch_is_a_clear_error():
    with pytest.raises(ValueError, match="regularization_loss needs a batch of at least one"):
        KANLinear(4, 3).regularization_loss(torch.randn(0, 4))
    with pytest.raises(ValueError, match="regularization_loss needs a batch of at least one"):
        KAN([4, 5, 3]).regularization_loss(torch.randn(0, 4))


@pytest.mark.parametrize(
    "x, match",
    [
        (torch.rand(100, 3), "expected inputs with 2 features, got 3"),
        (torch.rand(100, 4).reshape(200, 2)[:, :1], "expected inputs with 2 features, got 1"),
        (torch.rand(7, 2), "at least n_basis=8 samples of every input"),
        (torch.tensor([[0.1, float("nan")]] * 20), "NaN or infinity"),
    ],
)
def test_update_grid_refuses_inputs_it_cannot_place_a_grid_on(x, match):
    layer = KANLinear(2, 2)
    grid = layer.grid.clone()
    with pytest.raises(ValueError, match=match):
        layer.update_grid(x)
    torch.testing.assert_close(layer.grid, grid)  # nothing changed


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


def _step(layer, optimizer, x, y):
    optimizer.zero_grad()
    ((layer(x) - y) ** 2).mean().backward()
    optimizer.step()


def test_extend_grid_keeps_an_optimizer_built_before_it_training_the_layer():
    torch.manual_seed(0)
    layer = KANLinear(3, 2)
    x, y = torch.randn(64, 3), torch.randn(64, 2)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    _step(layer, optimizer, x, y)
    weight = layer.weight
    layer.extend_grid(8)
    assert layer.weight is weight and weight.shape == (2, 8 + 3 + 1, 3)  # resized in place
    before = layer.weight.detach().clone()
    _step(layer, optimizer, x, y)
    assert not torch.equal(layer.weight, before)  # the optimizer still trains the layer


def test_extend_grid_with_an_optimizer_holding_state_of_the_old_shape_fails_loudly():
    torch.manual_seed(0)
    layer = KANLinear(3, 2)
    x, y = torch.randn(64, 3), torch.randn(64, 2)
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.01)
    _step(layer, optimizer, x, y)
    layer.extend_grid(8)
    with pytest.raises(RuntimeError, match="size"):  # Adam's moments have the old shape
        _step(layer, optimizer, x, y)
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.01)  # the documented remedy
    before = layer.weight.detach().clone()
    _step(layer, optimizer, x, y)
    assert not torch.equal(layer.weight, before)
