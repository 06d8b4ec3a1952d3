"""The fused B-spline kernels (sklearn_kan.nn._fused) against the reference Cox-de Boor."""

import copy
import pickle
import warnings

import pytest
import torch
import torch.nn.functional as F

from sklearn_kan.nn import KAN, KANLinear, _compat, _fused
from sklearn_kan.nn.basis import BASES, bspline, expand

G = 5


@pytest.fixture(autouse=True)
def _restore_compile_state():
    state = _fused._State
    mode = state.mode
    saved = [dict(d) for d in (state.kernels, state.seconds, state.failed)]
    yield
    state.mode = mode
    for d, before in zip((state.kernels, state.seconds, state.failed), saved):
        d.clear()
        d.update(before)


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
    return _fused._Args(spacing.start, spacing.inv_step, grid.shape[1] - order - 1, order)


def _eager(x, grid, order):
    _fused.set_compile("never")
    return _fused._features(x, _uniform_args(grid, order))


@pytest.mark.parametrize("order", [0, 1, 2, 3, 5])
def test_uniform_kernels_match_cox_de_boor(order):
    grid = _grid(order)
    x = _inputs(grid)
    ref = _reference(x, grid, order)
    got = _eager(x, grid, order)
    if order == 0:  # piecewise constant: only the knots themselves may differ (rounding)
        got, ref = got[3:], ref[3:]
    torch.testing.assert_close(got, ref, atol=1e-12, rtol=0)
    if order == 3:  # the expression that inductor compiles, run eagerly
        args = _uniform_args(grid, order)
        fused = _fused._cubic_forward(x, args.start, args.inv_step, _fused._offsets(args.n, x))
        torch.testing.assert_close(fused, ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("order", [0, 1, 2, 3, 5])
def test_uniform_gradients_match_autograd_of_cox_de_boor(order):
    _fused.set_compile("never")
    grid = _grid(order)
    x = _inputs(grid, n=200, requires_grad=True)
    weights = torch.randn(200, grid.shape[1] - order, 3, dtype=torch.float64)
    (expected,) = torch.autograd.grad((_reference(x, grid, order) * weights).sum(), x)
    args = _uniform_args(grid, order)
    got = [_fused._input_grad(x.detach(), weights, args)]
    if order == 3:
        off = _fused._offsets(args.n, x)
        got.append(_fused._cubic_backward(x.detach(), weights, args.start, args.inv_step, off))
    # Splines of order <= 1 have no derivative on the knots (rows 0-2): one-sided.
    rows = slice(3, None) if order <= 1 else slice(None)
    for grad in got:
        torch.testing.assert_close(grad[rows], expected[rows], atol=1e-10, rtol=0)


def test_gradcheck_of_the_autograd_functions():
    _fused.set_compile("never")
    grid = _grid(3)
    a, b, n, order = _uniform_args(grid, 3)
    x = _inputs(grid, n=12, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: _fused._SplineFeatures.apply(t, a, b, n, order), (x,))
    weight = torch.randn(2, n + 1, 3, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t, w, c: _fused._KANLinearFunction.apply(t, w, c, a, b, n, order), (x, weight, bias)
    )


def test_adapted_grids_take_the_reference_path():
    grid = _adapted_grid(3)
    x = _inputs(grid)
    assert _fused.expand_features(x, grid, 3) is None
    got = expand(x, grid, "bspline", 3)
    torch.testing.assert_close(got.transpose(1, 2), _reference(x, grid, 3), atol=0, rtol=0)


def test_grid_spacing_detects_uniform_grids_and_follows_changes():
    grid = _grid(3)
    spacing = _fused.grid_spacing(grid)
    torch.testing.assert_close(spacing.start, grid[:, 0])
    torch.testing.assert_close(spacing.inv_step, 1 / (grid[:, 1] - grid[:, 0]))
    assert _fused.grid_spacing(_adapted_grid(3)) is None
    # float32 knots are not uniform at float64 precision: the exact reference path
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
    return F.linear(feats.flatten(1), layer.edge_weights().flatten(1), layer.bias)


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


def _layer_node(out):
    node = out.grad_fn
    while "KANLinearFunction" not in type(node).__name__:
        node = node.next_functions[0][0]
    return node


def test_first_layer_keeps_only_x_for_backward():
    layer = KANLinear(6, 2)
    out = layer(torch.rand(8, 6))  # x needs no gradient: the weight is not kept
    node = _layer_node(out)
    x_saved, w_mat, start, inv_step = node.saved_tensors
    spacing = _fused.grid_spacing(layer.grid)
    assert w_mat is None and start is spacing.start and inv_step is spacing.inv_step
    out.sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.shape == layer.weight.shape


@pytest.mark.parametrize("needs_x", [False, True])
def test_blocked_features_are_recomputed_not_stored(monkeypatch, needs_x):
    monkeypatch.setattr(_fused, "FEATURE_KEEP", 1000)  # 9 features x 3 inputs x 50 rows
    monkeypatch.setattr(_fused, "FEATURE_BLOCK", 200)  # blocks of 8 rows
    layer = _float64_layer()
    x = (torch.rand(50, 3, dtype=torch.float64) * 3 - 1.5).requires_grad_(needs_x)
    out = layer(x)
    node = _layer_node(out)
    assert node.saved_tensors[0] is not None and (node.saved_tensors[1] is not None) == needs_x
    assert len(node.blocks) > 1 and node.feats is None
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
def test_onednn_product_equals_blas_and_a_failed_check_falls_back(monkeypatch):
    torch.manual_seed(0)
    layer = KANLinear(20, 7)
    x = (torch.rand(33, 20) * 2 - 1).requires_grad_(True)
    expected = layer(x)
    (gx_blas, gw_blas) = torch.autograd.grad(expected.square().sum(), (x, layer.weight))
    monkeypatch.setattr(_fused, "ONEDNN_MIN_MACS", 0)  # every float32 CPU product
    monkeypatch.setattr(_compat._OneDNN, "status", None)
    calls = []
    real = torch.ops.mkldnn._linear_pointwise

    def counting(*args):
        calls.append(args[0].shape)
        return real(*args)

    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", counting)
    out = layer(x)
    assert len(calls) >= 2, "oneDNN's linear was not checked and used"
    assert _fused.compile_info()["onednn"] == "available"
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    gx, gw = torch.autograd.grad(out.square().sum(), (x, layer.weight))
    torch.testing.assert_close(gx, gx_blas, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(gw, gw_blas, atol=1e-4, rtol=1e-5)

    def wrong(a, w, b, *rest):  # a result that differs from addmm fails the check
        return real(a, w, b, *rest) + 1

    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", wrong)
    monkeypatch.setattr(_compat._OneDNN, "status", None)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), expected.detach(), atol=1e-5, rtol=1e-5)
    assert "different result" in _fused.compile_info()["onednn"]


def test_pickle_float64_and_inference_mode():
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
    # Training after an inference-mode forward (cached grid facts must not be inference tensors)
    layer(x.requires_grad_(True)).sum().backward()


def test_auto_mode_compiles_nothing_outside_compiling(monkeypatch):
    _fused.set_compile("auto")
    _fused.reset_compiled()

    def forbidden(fn, examples):
        raise AssertionError("compiled outside compiling()")

    monkeypatch.setattr(_compat, "standalone_compile", forbidden)
    layer = KANLinear(40, 5)
    x = torch.rand(4096, 40, requires_grad=True)  # large: the old rule compiled it
    layer(x).sum().backward()
    assert _fused.compile_info()["compiled"] == {}
    with _fused.compiling(False):
        layer(x).sum().backward()
    assert _fused.compile_info()["compiled"] == {}


def test_compile_failure_warns_once_falls_back_and_oom_propagates(monkeypatch):
    _fused.reset_compiled()

    def broken(fn, examples):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(_compat, "standalone_compile", broken)
    layer = KANLinear(4, 3)
    x = torch.rand(10, 4, requires_grad=True)
    expected = _reference_layer_output(layer, x)
    with _fused.compiling(), pytest.warns(RuntimeWarning, match="no compiler here"):
        out = layer(x)
    torch.testing.assert_close(out, expected)
    assert "no compiler here" in _fused.compile_info()["failed"]["cubic/cpu/float32"]
    with _fused.compiling(), warnings.catch_warnings():
        warnings.simplefilter("error")  # remembered: no second try, no second warning
        layer(x).sum().backward()
    _fused.reset_compiled()
    assert _fused.compile_info()["failed"] == {}

    def out_of_memory(fn, examples):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(_compat, "standalone_compile", out_of_memory)
    with _fused.compiling(), pytest.raises(torch.OutOfMemoryError):
        layer(x)
    assert _fused.compile_info()["failed"] == {}  # not taken for a compile failure


def test_compiled_kernels_equal_eager_and_serve_every_grid_size():
    # The one test that compiles (seconds): inductor's standalone compile on the CPU.
    _fused.reset_compiled()
    torch.manual_seed(0)
    layer = KANLinear(7, 3)
    x = (torch.rand(20, 7) * 2.4 - 1.2).requires_grad_(True)
    _fused.set_compile("never")
    expected = layer(x)
    (gx_expected,) = torch.autograd.grad(expected.square().sum(), x)
    _fused.set_compile("auto")
    with _fused.compiling():
        out = layer(x)
        (gx,) = torch.autograd.grad(out.square().sum(), x)
    info = _fused.compile_info()
    if info["failed"]:
        pytest.skip(f"no compiler here: {info['failed']}")
    assert set(info["compiled"]) == {"cubic/cpu/float32", "cubic_backward/cpu/float32"}
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(gx, gx_expected, atol=1e-6, rtol=1e-6)
    layer.extend_grid(9)  # another number of basis functions: the same kernels serve
    _fused.set_compile("never")
    expected = layer(x)
    _fused.set_compile("auto")
    torch.testing.assert_close(layer(x), expected, atol=1e-6, rtol=1e-6)
    assert set(_fused.compile_info()["compiled"]) == set(info["compiled"])


def test_set_compile_modes():
    _fused.set_compile(False)
    assert _fused.compile_info()["mode"] == "never"
    _fused.set_compile("1")
    assert _fused.compile_info()["mode"] == "always"
    with pytest.raises(ValueError, match="mode must be"):
        _fused.set_compile("sometimes")


def test_second_backward_with_retain_graph_recomputes_the_freed_features():
    layer = KANLinear(5, 3)
    x = torch.rand(7, 5)
    out = layer(x).square().sum()
    (first,) = torch.autograd.grad(out, layer.weight, retain_graph=True)
    (second,) = torch.autograd.grad(out, layer.weight)
    torch.testing.assert_close(first, second)


def test_weight_is_stored_as_the_product_reads_it():
    layer = KANLinear(5, 3)
    assert layer.weight.shape == (3, layer.n_basis + 1, 5) and layer.weight.is_contiguous()
    assert layer.edge_weights().shape == (3, 5, layer.n_basis + 1)
    layer(torch.rand(7, 5)).sum().backward()
    assert layer.weight.grad.is_contiguous() and layer.weight.grad.shape == layer.weight.shape


def test_lbfgs_trains_a_bare_kan():
    # LBFGS views parameters and gradients flat: they must be contiguous.
    torch.manual_seed(0)
    model = KAN([3, 4, 1])
    torch.nn.utils.parameters_to_vector(model.parameters())
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
