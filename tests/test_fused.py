"""The fused B-spline kernels (sklearn_kan.nn._fused) against the reference Cox-de Boor."""

import copy
import pickle
import warnings

import pytest
import torch
import torch.nn.functional as F

from sklearn_kan.nn import KAN, KANLinear, _fused, make_contiguous
from sklearn_kan.nn.basis import BASES, bspline, expand

G = 5


@pytest.fixture(autouse=True)
def _restore_compile_state():
    state = _fused._State
    mode, failed, standalone_failed = state.mode, state.failed, state.standalone_failed
    kernels = dict(_fused._State.kernels)
    yield
    state.mode, state.failed, state.standalone_failed = mode, failed, standalone_failed
    _fused._State.kernels.clear()
    _fused._State.kernels.update(kernels)


def _grid(order, dtype=torch.float64, lo=(-1.0, -2.0, 0.0), hi=(1.0, 3.0, 0.5)):
    lo = torch.tensor(lo, dtype=dtype)
    hi = torch.tensor(hi, dtype=dtype)
    return BASES["bspline"].make_grid(lo, hi, G, order)


def _adapted_grid(order):
    torch.manual_seed(0)
    x = torch.sort(torch.rand(400, 3, dtype=torch.float64) ** 3 * 2 - 1, dim=0).values
    x[:200, 2] = 0.0  # many repeated values: knots spread to the minimum gap
    return BASES["bspline"].adapt_grid(x, G, order, 0.02)


def _inputs(grid, n=300, requires_grad=False):
    # Inside, on the extension knots, and far outside the grid of every input.
    torch.manual_seed(1)
    lo, hi = grid[:, 0], grid[:, -1]
    span = hi - lo
    x = lo - 0.3 * span + torch.rand(n, grid.shape[0], dtype=grid.dtype) * 1.6 * span
    x[:3] = grid[:, :3].t()  # exactly on knots
    return x.requires_grad_(requires_grad)


def _reference(x, grid, order):
    return torch.cat([F.silu(x).unsqueeze(1), bspline(x, grid, order).transpose(1, 2)], 1)


def _uniform_args(grid, order):
    spacing = _fused.grid_spacing(grid)
    assert spacing is not None
    return spacing.start, spacing.inv_step, grid.shape[1] - order - 1, order


@pytest.mark.parametrize("order", [0, 1, 2, 3, 5])
def test_uniform_kernels_match_cox_de_boor(order):
    grid = _grid(order)
    x = _inputs(grid)
    ref = _reference(x, grid, order)
    args = _uniform_args(grid, order)
    eager = _fused._uniform_forward_eager(x, *args)
    fused = _fused._uniform_forward_kernel(x, *args)  # the expression torch.compile fuses
    if order == 0:  # piecewise constant: only the knots themselves may differ (rounding)
        eager, fused, ref = eager[3:], fused[3:], ref[3:]
    torch.testing.assert_close(eager, ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(fused, ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("order", [0, 1, 2, 3, 5])
def test_uniform_gradients_match_autograd_of_cox_de_boor(order):
    grid = _grid(order)
    x = _inputs(grid, n=200, requires_grad=True)
    weights = torch.randn(200, grid.shape[1] - order, 3, dtype=torch.float64)
    (expected,) = torch.autograd.grad((_reference(x, grid, order) * weights).sum(), x)
    args = _uniform_args(grid, order)
    for backward in (_fused._uniform_backward_eager, _fused._uniform_backward_kernel):
        got = backward(x.detach(), weights, *args)
        # Splines of order <= 1 have no derivative on the knots (rows 0-2): one-sided.
        rows = slice(3, None) if order <= 1 else slice(None)
        torch.testing.assert_close(got[rows], expected[rows], atol=1e-10, rtol=0)


def test_general_kernels_match_cox_de_boor_on_adapted_knots():
    order = 3
    grid = _adapted_grid(order)
    x = _inputs(grid, requires_grad=True)
    ref = _reference(x, grid, order)
    knots, recips = _fused._general_tables(grid, order)
    n = grid.shape[1] - order - 1
    got = _fused._general_forward_kernel(x.detach(), knots, recips, n, order)
    torch.testing.assert_close(got, ref, atol=1e-12, rtol=0)
    weights = torch.randn_like(ref)
    (expected,) = torch.autograd.grad((ref * weights).sum(), x)
    grad = _fused._general_backward_kernel(x.detach(), weights, knots, recips, n, order)
    torch.testing.assert_close(grad, expected, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("kind", ["uniform", "general"])
def test_gradcheck_of_the_autograd_functions(kind):
    _fused.set_compile("never")
    order = 3
    grid = _grid(order) if kind == "uniform" else _adapted_grid(order)
    n = grid.shape[1] - order - 1
    if kind == "uniform":
        a, b = _fused.grid_spacing(grid)
    else:
        a, b = _fused._general_tables(grid, order)
    x = _inputs(grid, n=12, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t: _fused._SplineFeatures.apply(t, a, b, n, order, kind), (x,)
    )
    weight = torch.randn(2, 3, n + 1, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t, w, c: _fused._KANLinearFunction.apply(t, w, c, a, b, n, order, kind),
        (x, weight, bias),
    )


def test_grid_spacing_detects_uniform_grids_and_follows_changes():
    grid = _grid(3)
    spacing = _fused.grid_spacing(grid)
    torch.testing.assert_close(spacing.start, grid[:, 0])
    torch.testing.assert_close(spacing.inv_step, 1 / (grid[:, 1] - grid[:, 0]))
    assert _fused.grid_spacing(_adapted_grid(3)) is None
    # float32 knots are not uniform at float64 precision: the exact general path
    assert _fused.grid_spacing(_grid(3, torch.float32)) is not None
    assert _fused.grid_spacing(_grid(3, torch.float32).double()) is None
    grid[0, 4] += 0.01  # an in-place change is seen (version counter)
    assert _fused.grid_spacing(grid) is None


def test_public_expand_equals_the_reference_with_leading_dimensions():
    grid = _grid(3)
    x = _inputs(grid, n=24).reshape(2, 4, 3, 3)
    got = expand(x, grid, "bspline", 3)
    ref = torch.cat([F.silu(x).unsqueeze(-1), bspline(x, grid, 3)], -1)
    assert got.shape == (2, 4, 3, 3, G + 3 + 1)
    torch.testing.assert_close(got, ref, atol=1e-12, rtol=0)


def _float64_layer(**kwargs):
    torch.manual_seed(0)
    layer = KANLinear(3, 4, **kwargs).double()
    lo, hi = torch.full((3,), -1.0, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    layer.grid = BASES["bspline"].make_grid(lo, hi, layer.grid_size, layer.spline_order)
    with torch.no_grad():
        layer.weight.normal_()
    return layer


def _reference_layer_output(layer, x):
    feats = torch.cat([F.silu(x).unsqueeze(-1), bspline(x, layer.grid, layer.spline_order)], -1)
    return F.linear(feats.flatten(1), layer.weight.flatten(1), layer.bias)


@pytest.mark.parametrize("adapted", [False, True])
def test_layer_values_and_gradients_equal_the_reference(adapted):
    layer = _float64_layer()
    x = (torch.rand(50, 3, dtype=torch.float64) * 3 - 1.5).requires_grad_(True)
    if adapted:
        layer.update_grid(x.detach() ** 3)
        assert _fused.grid_spacing(layer.grid) is None
    out = layer(x)
    ref = _reference_layer_output(layer, x)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    g = torch.randn_like(out)
    got = torch.autograd.grad(out, (x, layer.weight, layer.bias), g)
    expected = torch.autograd.grad(ref, (x, layer.weight, layer.bias), g)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


def test_first_layer_keeps_only_the_features_for_backward():
    layer = KANLinear(6, 2)
    out = layer(torch.rand(8, 6))  # x needs no gradient: no permuted weight is kept
    node = out.grad_fn
    while "KANLinearFunction" not in type(node).__name__:
        node = node.next_functions[0][0]
    x_saved, w_t, start, inv_step = node.saved_tensors
    spacing = _fused.grid_spacing(layer.grid)
    assert w_t is None and start is spacing.start and inv_step is spacing.inv_step
    out.sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.shape == layer.weight.shape


@pytest.mark.parametrize("needs_x", [False, True])
def test_blocked_features_are_recomputed_not_stored(monkeypatch, needs_x):
    monkeypatch.setattr(_fused, "FEATURE_KEEP", 1000)  # 9 features x 3 inputs x 50 rows
    monkeypatch.setattr(_fused, "FEATURE_BLOCK", 200)  # blocks of 8 rows
    layer = _float64_layer()
    x = (torch.rand(50, 3, dtype=torch.float64) * 3 - 1.5).requires_grad_(needs_x)
    out = layer(x)
    node = out.grad_fn
    while "KANLinearFunction" not in type(node).__name__:
        node = node.next_functions[0][0]
    assert node.saved_tensors[0] is not None and (node.saved_tensors[1] is not None) == needs_x
    ref = _reference_layer_output(layer, x)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    inputs = (x, layer.weight, layer.bias) if needs_x else (layer.weight, layer.bias)
    g = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad(out, inputs, g), torch.autograd.grad(ref, inputs, g)):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)
    if needs_x:
        assert torch.autograd.gradcheck(layer, (x[:20],))


@pytest.mark.parametrize("blocked", [False, True])
@pytest.mark.parametrize("adapted", [False, True])
def test_prediction_without_autograd_equals_the_reference(monkeypatch, blocked, adapted):
    # Under no_grad (or with nothing requiring grad) the layer skips its autograd
    # function; the values, blocked or not, must not change.
    if blocked:
        monkeypatch.setattr(_fused, "FEATURE_KEEP", 1000)
        monkeypatch.setattr(_fused, "FEATURE_BLOCK", 200)
    layer = _float64_layer()
    x = torch.rand(50, 3, dtype=torch.float64) * 3 - 1.5
    if adapted:
        layer.update_grid(x**3)
    ref = _reference_layer_output(layer, x).detach()
    with torch.no_grad():
        out = layer(x)
    assert out.grad_fn is None
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    layer.requires_grad_(False)
    out = layer(x)
    assert out.grad_fn is None
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="needs oneDNN (mkldnn)")
def test_onednn_product_equals_blas_and_its_failure_falls_back(monkeypatch):
    torch.manual_seed(0)
    layer = KANLinear(20, 7)
    x = (torch.rand(33, 20) * 2 - 1).requires_grad_(True)
    expected = layer(x)
    (gx_blas, gw_blas) = torch.autograd.grad(expected.square().sum(), (x, layer.weight))
    monkeypatch.setattr(_fused, "ONEDNN_MIN_MACS", 0)  # every float32 CPU product
    monkeypatch.setattr(_fused._State, "onednn_failed", None)
    calls = []
    real = torch.ops.mkldnn._linear_pointwise

    def counting(*args):
        calls.append(args[0].shape)
        return real(*args)

    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", counting)
    out = layer(x)
    assert calls, "oneDNN's linear was not used"
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    gx, gw = torch.autograd.grad(out.square().sum(), (x, layer.weight))
    torch.testing.assert_close(gx, gx_blas, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(gw, gw_blas, atol=1e-4, rtol=1e-5)

    def broken(*args):
        raise RuntimeError("no oneDNN here")

    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", broken)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), expected.detach(), atol=1e-5, rtol=1e-5)
    assert "no oneDNN here" in _fused.compile_info()["onednn_failed"]


def test_float64_copy_pickle_and_inference_mode():
    layer = KANLinear(4, 3)
    x = torch.rand(16, 4) * 2 - 1
    expected = layer(x).detach()
    clone = pickle.loads(pickle.dumps(layer))
    torch.testing.assert_close(clone(x).detach(), expected, atol=0, rtol=0)
    as64 = copy.deepcopy(layer).to(torch.float64)
    with torch.inference_mode():
        out64 = as64(x.double())
    torch.testing.assert_close(out64, _reference_layer_output(as64, x.double()), atol=1e-12, rtol=0)
    torch.testing.assert_close(out64.float(), expected, atol=1e-5, rtol=1e-5)


def test_compile_failure_warns_once_and_falls_back(monkeypatch):
    _fused.set_compile("always")

    def broken(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no compiler here")

        return run

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setattr(torch._inductor, "standalone_compile", broken, raising=False)
    _fused._State.kernels.clear()
    layer = KANLinear(4, 3)
    x = torch.rand(10, 4)
    with pytest.warns(RuntimeWarning, match="no compiler here"):
        out = layer(x)
    assert "no compiler here" in _fused.compile_info()["failed"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = layer(x)  # remembered: no second warning
    _fused.set_compile("never")
    torch.testing.assert_close(out, layer(x))
    torch.testing.assert_close(again, out)


@pytest.mark.parametrize("examples", [(67, 71, 73), (9, 11, 13)])
def test_standalone_kernels_on_the_cpu_match_the_eager_ones(monkeypatch, examples):
    # Inductor's standalone compile serves the uniform kernels on the CPU (no
    # torch.compile guards per call); it must hold for sizes other than traced,
    # also when an example size equals the number of features (9 here).
    monkeypatch.setattr(_fused, "_EXAMPLE_SIZES", examples)
    _fused.set_compile("always")
    _fused._State.kernels.clear()
    order, grid_size = 3, 5
    lo, hi = torch.tensor([-1.0, -2.0, 0.0]), torch.tensor([1.0, 3.0, 0.5])
    grid = BASES["bspline"].make_grid(lo, hi, grid_size, order)
    start, inv_step, n, _ = _uniform_args(grid, order)
    for rows in (3, 9, 300):
        x = _inputs(grid, n=rows)
        out = _fused._run("uniform", _fused._uniform_forward_kernel, None, x, start, inv_step, n, 3)
        torch.testing.assert_close(
            out, _fused._uniform_forward_eager(x, start, inv_step, n, 3), atol=1e-6, rtol=0
        )
        g = torch.randn(rows, n + 1, 3)
        grad = _fused._run(
            "uniform_backward", _fused._uniform_backward_kernel, None, x, g, start, inv_step, n, 3
        )
        expected = _fused._uniform_backward_eager(x, g, start, inv_step, n, 3)
        torch.testing.assert_close(grad, expected, atol=1e-4, rtol=1e-5)
    info = _fused.compile_info()
    assert info["failed"] is None and info["standalone_failed"] is None
    assert ("uniform", torch.float32, (n, order)) in _fused._State.kernels
    assert ("uniform_backward", torch.float32, (n, order)) in _fused._State.kernels


def test_kernels_compiled_first_under_inference_mode_then_train():
    # The first call may compile inside torch.inference_mode (a user's predict);
    # the kernels must then serve a training step as well.
    _fused.set_compile("always")
    _fused._State.kernels.clear()
    torch.manual_seed(0)
    model = KAN([6, 5, 3])
    x = torch.rand(40, 6) * 2 - 1
    with torch.inference_mode():
        first = model(x)
    assert _fused.compile_info()["standalone_failed"] is None
    loss = model(x).square().sum()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    _fused.set_compile("never")
    torch.testing.assert_close(first, model(x).detach(), atol=1e-5, rtol=1e-5)


def test_standalone_compile_failure_falls_back_to_torch_compile_silently(monkeypatch):
    _fused.set_compile("always")

    def broken(*args, **kwargs):
        raise RuntimeError("no standalone compile here")

    monkeypatch.setattr(torch._inductor, "standalone_compile", broken, raising=False)
    _fused._State.kernels.clear()
    layer = KANLinear(4, 3)
    x = torch.rand(10, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = layer(x)
    info = _fused.compile_info()
    assert "no standalone compile here" in info["standalone_failed"]
    assert info["failed"] is None
    assert "uniform" in _fused._State.kernels  # the torch.compile'd kernel served
    _fused.set_compile("never")
    torch.testing.assert_close(out, layer(x))


def test_set_compile_modes():
    _fused.set_compile(False)
    assert _fused.compile_info()["mode"] == "never"
    _fused.set_compile("1")
    assert _fused.compile_info()["mode"] == "always"
    with pytest.raises(ValueError, match="mode must be"):
        _fused.set_compile("sometimes")


def test_compiled_kernels_equal_the_eager_ones():
    # One compile per kernel (a few seconds each, once per process and machine cache).
    _fused.set_compile("always")
    order = 3
    grid = _grid(order)
    x = _inputs(grid, n=64)
    weights = torch.randn(64, grid.shape[1] - order, 3, dtype=torch.float64)
    args = _uniform_args(grid, order)
    out = _fused._run("uniform", _fused._uniform_forward_kernel, None, x, *args)
    grad = _fused._run("uniform_backward", _fused._uniform_backward_kernel, None, x, weights, *args)
    assert _fused.compile_info()["failed"] is None
    torch.testing.assert_close(out, _fused._uniform_forward_eager(x, *args), atol=1e-12, rtol=0)
    torch.testing.assert_close(
        grad, _fused._uniform_backward_eager(x, weights, *args), atol=1e-10, rtol=0
    )
    adapted = _adapted_grid(order)
    knots, recips = _fused._general_tables(adapted, order)
    xa = _inputs(adapted, n=64)
    n = adapted.shape[1] - order - 1
    got = _fused._run("general", _fused._general_forward_kernel, None, xa, knots, recips, n, order)
    torch.testing.assert_close(got, _reference(xa, adapted, order), atol=1e-12, rtol=0)


def test_auto_mode_compiles_large_inputs_and_then_reuses_the_kernels(monkeypatch):
    _fused.set_compile("auto")
    monkeypatch.setattr(_fused._State, "compile_seconds", {})
    small = torch.zeros(4, 3)
    large = torch.zeros(_fused.AUTO_COMPILE_MIN_NUMEL // 8, 8)
    assert not _fused._use_compiled(small, "uniform")
    assert _fused._use_compiled(large, "uniform")
    _fused._State.compile_seconds[("uniform", "cpu", torch.float32)] = 1.0
    assert _fused._use_compiled(small, "uniform")
    assert _fused._use_compiled(small, "uniform_backward")  # goes with its forward
    assert not _fused._use_compiled(torch.zeros(1, 3), "uniform")  # size 1: recompile
    assert not _fused._use_compiled(small.double(), "uniform")  # not compiled for float64
    _fused.set_compile("never")
    assert not _fused._use_compiled(large, "uniform")


def test_second_backward_with_retain_graph_recomputes_the_freed_features():
    layer = KANLinear(5, 3)
    x = torch.rand(7, 5)
    out = layer(x).square().sum()
    (first,) = torch.autograd.grad(out, layer.weight, retain_graph=True)
    (second,) = torch.autograd.grad(out, layer.weight)
    torch.testing.assert_close(first, second)


def test_weight_is_feature_major_and_its_gradient_needs_no_copy():
    layer = KANLinear(5, 3)
    assert layer.weight.shape == (3, 5, layer.n_basis + 1)
    assert layer.weight.transpose(1, 2).is_contiguous()
    layer(torch.rand(7, 5)).sum().backward()
    assert layer.weight.grad.stride() == layer.weight.stride()


@pytest.mark.parametrize("contiguous", [False, True])
def test_both_weight_layouts_give_the_same_outputs_and_gradients(contiguous):
    torch.manual_seed(0)
    layer = KANLinear(6, 4)
    other = copy.deepcopy(layer)
    if contiguous:
        make_contiguous(other)
        assert other.weight.is_contiguous()
    x = torch.randn(9, 6, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    (layer(x) ** 2).sum().backward()
    (other(x2) ** 2).sum().backward()
    torch.testing.assert_close(layer.weight.grad, other.weight.grad)
    torch.testing.assert_close(x.grad, x2.grad)
    assert other.weight.grad.stride() == other.weight.stride()


def test_make_contiguous_lets_lbfgs_view_parameters_flat():
    torch.manual_seed(0)
    model = KAN([3, 4, 1])
    with pytest.raises(RuntimeError):
        torch.nn.utils.parameters_to_vector(model.parameters())
    params_before = list(model.parameters())
    assert make_contiguous(model) is model
    assert all(a is b for a, b in zip(params_before, model.parameters()))
    x, y = torch.randn(32, 3), torch.randn(32, 1)
    optimizer = torch.optim.LBFGS(model.parameters(), lr=1)

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    first = closure().item()
    for _ in range(3):
        optimizer.step(closure)
    assert closure().item() < first
