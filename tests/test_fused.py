"""The fused B-spline kernels (sklearn_kan.nn._fused) against the reference Cox-de Boor."""

import copy
import pickle

import pytest
import torch
import torch.nn.functional as F

from sklearn_kan.nn import KAN, KANLinear, _compat, _fused, _native
from sklearn_kan.nn.basis import BASES, bspline, expand

G = 5


@pytest.fixture(autouse=True)
def _restore_kernel_mode():
    mode = _fused._State.mode
    yield
    _fused._State.mode = mode


def _native_or_skip():
    kernels = _native.load()
    if kernels is None:
        pytest.skip(f"no native kernels here: {_native.reason()}")
    return kernels


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


def _features(x, grid, order, mode):
    _fused.set_kernels(mode)
    return _fused._features(x, _uniform_args(grid, order))


@pytest.mark.parametrize("order", [0, 1, 2, 3, 5])
def test_uniform_kernels_match_cox_de_boor(order):
    grid = _grid(order)
    x = _inputs(grid)
    ref = _reference(x, grid, order)
    got = _features(x, grid, order, "eager")
    if order == 0:  # piecewise constant: only the knots themselves may differ (rounding)
        got, ref = got[3:], ref[3:]
    torch.testing.assert_close(got, ref, atol=1e-12, rtol=0)
    if order == 3 and _native.load() is not None:
        torch.testing.assert_close(_features(x, grid, order, "native"), ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("order", [0, 1, 2, 3, 5])
def test_uniform_gradients_match_autograd_of_cox_de_boor(order):
    grid = _grid(order)
    x = _inputs(grid, n=200, requires_grad=True)
    weights = torch.randn(200, grid.shape[1] - order, 3, dtype=torch.float64)
    (expected,) = torch.autograd.grad((_reference(x, grid, order) * weights).sum(), x)
    args = _uniform_args(grid, order)
    _fused.set_kernels("eager")
    got = [_fused._input_grad(x.detach(), weights, args)]
    if order == 3 and _native.load() is not None:
        _fused.set_kernels("native")
        got.append(_fused._input_grad(x.detach(), weights, args))
    # Splines of order <= 1 have no derivative on the knots (rows 0-2): one-sided.
    rows = slice(3, None) if order <= 1 else slice(None)
    for grad in got:
        torch.testing.assert_close(grad[rows], expected[rows], atol=1e-10, rtol=0)


@pytest.mark.parametrize("mode", ["eager", "native"])
def test_gradcheck_of_the_autograd_functions(mode):
    if mode == "native":
        _native_or_skip()
    _fused.set_kernels(mode)
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


@pytest.mark.parametrize("mode", ["native", "eager"])
@pytest.mark.parametrize("blocked", [False, True])
@pytest.mark.parametrize("adapted", [False, True])
def test_prediction_without_autograd_equals_the_reference(monkeypatch, blocked, adapted, mode):
    # Under no_grad (or with nothing requiring grad) the layer skips its autograd
    # function; the values, blocked or not, must not change.
    _fused.set_kernels(mode)
    if blocked:
        monkeypatch.setattr(_fused, "FEATURE_KEEP", 1000)
        monkeypatch.setattr(_fused, "FEATURE_BLOCK", 200)
        monkeypatch.setattr(_fused, "EAGER_PREDICT_BLOCK", 200)
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
    assert _fused.kernel_info()["onednn"] == "available"
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
    assert "different result" in _fused.kernel_info()["onednn"]


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


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 37, 8), (300, 70, 5), (1030, 129, 12)])
def test_native_kernels_equal_the_eager_ones(dtype, shape):
    # Sizes below and above NATIVE_PARALLEL_MIN (one and several threads), vector
    # parts and tails, inputs far outside the grid, infinities and NaN.
    _native_or_skip()
    rows, width, n = shape
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(rows, width, generator=gen, dtype=torch.float64) * 6 - 3).to(dtype)
    x.view(-1)[:3] = torch.tensor([float("inf"), -float("inf"), float("nan")])[: x.numel()]
    start = (torch.rand(width, generator=gen, dtype=torch.float64) - 1.5).to(dtype)
    inv = (torch.rand(width, generator=gen, dtype=torch.float64) * 3 + 1).to(dtype)
    grad = torch.randn(rows, n + 1, width, generator=gen, dtype=torch.float64).to(dtype)
    args = _fused._Args(start, inv, n, 3)
    results = {}
    for mode in ("eager", "native"):
        _fused.set_kernels(mode)
        results[mode] = (_fused._features(x, args), _fused._input_grad(x, grad, args))
    # float32 rounding of sums of n + 1 terms of size up to |grad| * inv_step (~10)
    atol, rtol = (1e-4, 1e-5) if dtype == torch.float32 else (1e-12, 1e-12)
    for got, want in zip(results["native"], results["eager"]):
        torch.testing.assert_close(got, want, atol=atol, rtol=rtol, equal_nan=True)


def test_native_kernels_do_not_depend_on_the_thread_count():
    kernels = _native_or_skip()
    x = torch.rand(512, 300) * 2 - 1
    start, inv = torch.full((300,), -2.2), torch.full((300,), 2.5)
    one, two = torch.empty(512, 9, 300), torch.empty(512, 9, 300)
    kernels.forward(x, start, inv, 8, one, 1)
    kernels.forward(x, start, inv, 8, two, 2)
    assert torch.equal(one, two)


def test_eager_switch_and_kernel_info():
    _fused.set_kernels("eager")
    info = _fused.kernel_info()
    assert info["cpu"] == "eager" and "switched off" in info["reason"]
    _fused.set_kernels("native")
    info = _fused.kernel_info()
    assert info["cpu"] == ("native" if _native.load() is not None else "eager")
    with pytest.raises(ValueError, match="mode must be one of"):
        _fused.set_kernels("compiled")


@pytest.mark.parametrize("passive", [True, False])
def test_eager_cubic_passes_run_on_one_thread_with_passive_waiting(monkeypatch, passive):
    # With passive waiting each parallel pass pays a thread wake-up: the eager cubic
    # kernels run theirs on one thread; the product around them keeps every thread.
    monkeypatch.setattr(_fused, "passive_waiting", lambda: passive)
    seen = []
    for name in ("_cubic_forward_eager", "_cubic_backward_eager"):
        kernel = getattr(_fused, name)

        def spy(*args, _kernel=kernel):
            seen.append(torch.get_num_threads())
            return _kernel(*args)

        monkeypatch.setattr(_fused, name, spy)
    _fused.set_kernels("eager")
    layer = KANLinear(6, 20)
    x = torch.rand(64, 6, requires_grad=True)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        layer(x).sum().backward()
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert after == 2 and len(seen) == 2
    assert seen == ([1, 1] if passive else [2, 2])


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty kernel cache and a process that has loaded nothing yet."""
    monkeypatch.setenv("SKLEARN_KAN_CACHE", str(tmp_path))
    monkeypatch.delenv("SKLEARN_KAN_KERNELS", raising=False)
    _native._reset()
    yield tmp_path
    _native._reset()


def _libraries(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("kernels-"))


def test_kernel_cache_builds_once_then_loads(fresh_cache):
    if _native._compiler() is None:
        pytest.skip("no C compiler here")
    first = _native.load()
    assert first is not None and first.built and first.path.parent == fresh_cache
    assert first.seconds < 5
    _native._reset()
    second = _native.load()
    assert second is not None and not second.built and second.path == first.path
    assert _libraries(fresh_cache) == [first.path.name]


def test_kernel_cache_key_mismatch_rebuilds(fresh_cache, monkeypatch):
    if _native._compiler() is None:
        pytest.skip("no C compiler here")
    first = _native.load()
    _native._reset()
    # Another CPU (or torch version, or flags): the library built here is not loaded.
    monkeypatch.setattr(_native, "_cpu_identity", lambda: "another cpu with other flags")
    second = _native.load()
    assert second.built and second.path != first.path
    assert len(_libraries(fresh_cache)) == 2


def test_corrupt_or_wrong_cache_entry_is_rebuilt(fresh_cache, monkeypatch):
    if _native._compiler() is None:
        pytest.skip("no C compiler here")
    # A file in the cache under the right key that is no library (written whole, as
    # the cache never writes a file in place).
    path = fresh_cache / f"kernels-{_native.cache_key(_native._FLAG_SETS[0])}.so"
    path.write_bytes(b"not a shared library")
    rebuilt = _native.load()
    assert rebuilt is not None and rebuilt.built and rebuilt.path == path
    # A library that loads but computes wrong values fails its check: eager, with a reason.
    _native._reset()
    monkeypatch.setattr(_native, "_check", lambda kernels: False)
    assert _native.load() is None and "failed its check" in _native.reason()
    _fused.set_kernels("native")
    assert _fused.kernel_info()["cpu"] == "eager"
    layer = KANLinear(4, 3)
    x = torch.rand(6, 4, requires_grad=True)
    torch.testing.assert_close(layer(x), _reference_layer_output(layer, x))


def test_no_compiler_means_eager_kernels_with_a_reason(fresh_cache, monkeypatch):
    monkeypatch.setattr(_native, "_compiler", lambda: None)
    assert _native.load() is None
    assert "no C compiler" in _fused.kernel_info()["reason"]
    layer = KANLinear(4, 3)
    x = torch.rand(6, 4, requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is not None


_BUILD_AND_REPORT = """
import sys, torch
from sklearn_kan.nn import KAN, kernel_info
KAN([5, 3])(torch.rand(4, 5))
info = kernel_info()
print(info["cpu"], info["built"])
"""


def test_two_processes_building_at_once_do_not_clash(tmp_path):
    import os
    import subprocess
    import sys

    if _native._compiler() is None:
        pytest.skip("no C compiler here")
    env = {**os.environ, "SKLEARN_KAN_CACHE": str(tmp_path)}
    env.pop("SKLEARN_KAN_KERNELS", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _BUILD_AND_REPORT], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert all(out[0] == "native" for out in outs), outs
    assert len(_libraries(tmp_path)) == 1
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_a_users_torch_compile_traces_the_eager_kernels():
    # dynamo cannot trace a ctypes call: inside torch.compile the eager kernels serve
    # (the grid check on the data is a graph break, not an error).
    torch.manual_seed(0)
    model = KAN([4, 5, 2])
    x = torch.rand(8, 4)
    expected = model(x)
    compiled = torch.compile(model, backend="eager")
    torch.testing.assert_close(compiled(x), expected, atol=1e-6, rtol=1e-6)


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
