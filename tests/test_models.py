"""Front ends (the FRONTENDS registry), HybridKAN, and the input scaling of the models."""

import copy
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from sklearn_kan.nn import (
    FRONTENDS,
    KAN,
    MLP,
    HybridKAN,
    KANConv2d,
    KANLinear,
    KANLocal2d,
    ScaledKAN,
    make_frontend,
)
from sklearn_kan.nn import models as models_module

SHAPES = [(1, 12, 12), (3, 5, 7), (1, 1, 2), (1, 1, 1)]


@pytest.mark.parametrize("name", sorted(FRONTENDS))
@pytest.mark.parametrize("shape", SHAPES)
def test_every_frontend_maps_images_to_vectors(name, shape):
    torch.manual_seed(0)
    frontend = make_frontend(name, shape, features=6, channels=(2, 3), grid_size=3)
    assert frontend.out_features == 6
    x = torch.randn(4, *shape)
    out = frontend(x)
    assert out.shape == (4, 6) and torch.isfinite(out).all()
    frontend(x[:1])  # a training batch of one sample (BatchNorm has no batch statistics)
    frontend.eval()
    torch.testing.assert_close(frontend(x[:1]), frontend(x)[:1])


def test_kan_frontends_are_made_of_kan_layers():
    kanconv = make_frontend("kanconv", (1, 8, 8), 4, (2, 3), grid_size=7)
    convs = [m for m in kanconv.modules() if isinstance(m, KANConv2d)]
    assert [c.out_channels for c in convs] == [2, 3]
    assert all(c.grid_size == 7 for c in convs)
    assert not any(isinstance(m, nn.ReLU) for m in kanconv.modules())
    conv = make_frontend("conv", (1, 8, 8), 4, (2, 3))
    assert sum(isinstance(m, nn.Conv2d) for m in conv.modules()) == 2


def test_unknown_frontend():
    with pytest.raises(ValueError, match="Unknown frontend 'nope'. Expected one of"):
        make_frontend("nope", (1, 4, 4))


def test_a_new_frontend_is_one_module_and_one_entry(monkeypatch):
    class MeanPool(nn.Module):
        def __init__(self, image_shape, features=64, channels=(), **layer_kwargs):
            super().__init__()
            self.out_features = image_shape[0]

        def forward(self, x):
            return x.mean(dim=(2, 3))

    monkeypatch.setitem(models_module.FRONTENDS, "meanpool", MeanPool)
    net = HybridKAN(make_frontend("meanpool", (3, 4, 4)), KAN([3, 2]), (3, 4, 4))
    assert net(torch.randn(5, 3, 4, 4)).shape == (5, 2)


def _hybrid(name="kanconv", shape=(2, 6, 6)):
    torch.manual_seed(0)
    frontend = make_frontend(name, shape, features=5, channels=(3,), grid_size=4)
    return HybridKAN(
        frontend, KAN([5, 4, 3], grid_size=4), shape, shift=[1.0, -1.0], scale=[0.5, 2.0]
    )


def test_hybrid_scales_per_channel_and_reads_flat_rows():
    net = _hybrid().eval()
    x = torch.randn(3, 2, 6, 6)
    scaled = net.scale_inputs(x)
    torch.testing.assert_close(scaled[:, 0], x[:, 0] * 0.5 + 1)
    torch.testing.assert_close(scaled[:, 1], x[:, 1] * 2 - 1)
    # Flat rows are channels-last, as everywhere in the package: pixel (i, j) of
    # channel c is at column (i * W + j) * C + c.
    flat = x.permute(0, 2, 3, 1).reshape(3, -1)
    torch.testing.assert_close(flat[:, (2 * 6 + 3) * 2 + 1], x[:, 1, 2, 3])
    torch.testing.assert_close(net(flat), net(x))
    assert not torch.allclose(net(x.reshape(3, -1)), net(x))  # not channel-major


@pytest.mark.parametrize("name", ["kanconv", "local", "linear"])
def test_hybrid_update_grid_keeps_outputs_and_follows_the_data(name):
    net = _hybrid(name).double().eval()
    x = torch.rand(64, 2, 6, 6, dtype=torch.float64) * 0.8
    before = net(x)
    net.update_grid(x)
    rel = ((net(x) - before).norm() / before.norm()).item()
    assert rel < 0.05
    first = next(m for m in net.modules() if isinstance(m, KANLinear | KANConv2d | KANLocal2d))
    if name == "linear":  # the head's first layer sees the front end's features
        return
    lo, hi = first._basis.domain(first.grid, first.spline_order)
    scaled = net.scale_inputs(x)
    torch.testing.assert_close(lo, scaled.amin(dim=(0, 2, 3)))
    torch.testing.assert_close(hi, scaled.amax(dim=(0, 2, 3)))


def test_hybrid_update_grid_leaves_training_mode_and_batchnorm_statistics():
    net = _hybrid().train()
    stats = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    net.update_grid(torch.randn(16, 2, 6, 6))
    assert all(m.training for m in net.modules())
    for k, v in stats.items():
        torch.testing.assert_close(net.state_dict()[k], v)


def test_hybrid_extend_grid_reaches_every_kan_layer():
    net = _hybrid()
    net.extend_grid(9)
    layers = [m for m in net.modules() if hasattr(m, "grid_size")]
    assert len(layers) == 3 and all(m.grid_size == 9 for m in layers)
    assert torch.isfinite(net(torch.randn(2, 2, 6, 6))).all()


def test_hybrid_regularization_is_the_sum_over_its_kan_layers():
    net = _hybrid().double().eval()
    x = torch.randn(8, 2, 6, 6, dtype=torch.float64)
    conv = net.frontend.body[0]
    features = net.frontend(net.scale_inputs(x))
    expected = conv.regularization_loss(net.scale_inputs(x), 1.0, 2.0)
    expected = expected + net.head.regularization_loss(features, 1.0, 2.0)
    torch.testing.assert_close(net.regularization_loss(x, 1.0, 2.0), expected)
    net.regularization_loss(x.float().double()).backward()
    assert conv.weight.grad is not None


def test_hybrid_pickles():
    net = _hybrid("local").eval()
    clone = pickle.loads(pickle.dumps(net))
    x = torch.randn(2, 2, 6, 6)
    torch.testing.assert_close(clone(x), net(x))


@pytest.mark.parametrize("kind", ["batchnorm", "layernorm", "tanh"])
def test_hidden_norm_puts_hidden_outputs_on_the_grid(kind):
    torch.manual_seed(0)
    kan = KAN([5, 6, 6, 3], hidden_norm=kind, grid_range=(-2.0, 2.0))
    plain = KAN([5, 6, 6, 3])
    assert sum(p.numel() for p in kan.parameters()) == sum(p.numel() for p in plain.parameters())
    x = 10 * torch.randn(256, 5)
    hidden = kan.layer_inputs(x)[1:]
    for h in hidden:
        if kind == "batchnorm":  # per unit over the batch: mean at the centre, 2 std at the ends
            torch.testing.assert_close(h.mean(0), torch.zeros(6), atol=1e-4, rtol=0)
            torch.testing.assert_close(h.std(0, unbiased=False), torch.ones(6), atol=1e-2, rtol=0)
        elif kind == "layernorm":  # per sample over the units
            torch.testing.assert_close(h.mean(1), torch.zeros(256), atol=1e-4, rtol=0)
        else:
            assert h.abs().max() <= 2.0  # tanh onto the grid range
    # Walking the layers one by one (inspection, pruning) is the forward pass in eval.
    kan.eval()
    y = x
    for i, layer in enumerate(kan.layers):
        y = kan.hidden_input(i - 1, y) if i else y
        y = layer(y)
    torch.testing.assert_close(y, kan(x))


def test_hidden_norm_errors():
    with pytest.raises(ValueError, match="hidden_norm must be one of"):
        KAN([3, 4, 2], hidden_norm="dropout")


@pytest.mark.parametrize(
    "norm, shape",
    [(models_module._BatchNorm1d(3), (5, 3)), (models_module._BatchNorm2d(3), (5, 3, 2, 4))],
)
def test_weighted_batch_norm_counts_a_row_of_weight_k_as_k_rows(norm, shape):
    torch.manual_seed(0)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = torch.randn(*shape, dtype=torch.float64) * 3 + 1
    w = torch.tensor([2.0, 0.0, 1.0, 3.0, 1.0], dtype=torch.float64)
    weighted, repeated = norm.double(), copy.deepcopy(norm.double())
    with models_module.batch_weights(weighted, w):
        out = weighted(x)
    expected = repeated(torch.repeat_interleave(x, w.long(), dim=0))
    # The rows' outputs, and the running statistics prediction will use.
    torch.testing.assert_close(out[w > 0], torch.unique_consecutive(expected, dim=0))
    torch.testing.assert_close(weighted.running_mean, repeated.running_mean)
    torch.testing.assert_close(weighted.running_var, repeated.running_var)
    assert weighted.num_batches_tracked == repeated.num_batches_tracked == 1
    assert weighted.sample_weight is None  # only inside the with block
    # Unweighted rows: torch's own BatchNorm.
    torch.testing.assert_close(
        weighted(x),
        nn.functional.batch_norm(
            x, None, None, weighted.weight, weighted.bias, True, 0.0, weighted.eps
        ),
    )


def test_set_batch_norm_statistics_gives_every_layer_its_inputs_statistics():
    torch.manual_seed(0)
    kan = KAN([4, 5, 3, 2], hidden_norm="batchnorm").double()
    x = torch.randn(300, 4, dtype=torch.float64) * 2
    w = torch.randint(0, 4, (300,)).double()
    inputs = {}
    norms = [n.norm for n in kan.norms if not isinstance(n, nn.Identity)]
    assert len(norms) == 2
    assert models_module.set_batch_norm_statistics(kan, x, w, chunk_rows=64) == 2
    # What each BatchNorm receives in evaluation, the layers before it set.
    hooks = [n.register_forward_pre_hook(lambda m, a: inputs.__setitem__(m, a[0])) for n in norms]
    kan.eval()(x)
    for h in hooks:
        h.remove()
    for norm in norms:
        seen = torch.repeat_interleave(inputs[norm], w.long(), dim=0)
        torch.testing.assert_close(norm.running_mean, seen.mean(0))
        torch.testing.assert_close(norm.running_var, seen.var(0))
    assert models_module.set_batch_norm_statistics(KAN([4, 2]), x.float()) == 0


# -- the input scaling of ScaledKAN, HybridKAN and MLP ---------------------------------


def _scaled_modules(shift=(1.0, 0.0, 0.0)):
    shift, scale, bounds = list(shift), [0.5, 2.0, 0.0], ([-1.2, -1.2, 0.0], [1.2, 1.2, 0.0])
    return {
        "ScaledKAN": ScaledKAN([3, 4, 2], scaler=(shift, scale), input_bounds=bounds),
        "MLP": MLP([3, 4, 2], shift=shift, scale=scale, input_bounds=bounds),
        "HybridKAN": HybridKAN(
            make_frontend("linear", (3, 1, 1), features=4),
            KAN([4, 2]),
            (3, 1, 1),
            shift=shift,
            scale=scale,
            input_bounds=bounds,
        ),
    }


@pytest.mark.parametrize("name", ["ScaledKAN", "MLP", "HybridKAN"])
def test_the_input_scaling_clips_to_its_bounds_and_a_zero_scale_is_a_fixed_point(name):
    module = _scaled_modules()[name].eval()
    x = torch.tensor([[0.2, 0.1, 5.0], [-1e9, 1e9, -1e9], [1e9, -0.3, 255.0]])
    scaled = module.scale_inputs(x).reshape(3, 3)
    expected = torch.tensor([[1.1, 0.2, 0.0], [-1.2, 1.2, 0.0], [1.2, -0.6, 0.0]])
    torch.testing.assert_close(scaled, expected)
    # The third input had scale 0 (constant in training): nothing it takes moves the output.
    out = module(x)
    torch.testing.assert_close(module(torch.cat([x[:, :2], torch.zeros(3, 1)], 1)), out)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["ScaledKAN", "MLP", "HybridKAN"])
def test_the_input_scaling_keeps_float64_values_exactly(name):
    module = _scaled_modules(shift=np.array([1e8 + 0.25, 0.0, 0.0]))[name]
    assert module.double().shift.flatten()[0] == 1e8 + 0.25  # not rounded through float32
    assert module.float().shift.dtype == torch.float32


def test_input_scaling_of_the_wrong_length_is_a_clear_error():
    with pytest.raises(
        ValueError, match=r"ScaledKAN: shift must have shape \(4,\).*got shape \(3,\)"
    ):
        ScaledKAN([4, 2], scaler=([0.0] * 3, [1.0] * 4))
    with pytest.raises(
        ValueError, match=r"ScaledKAN: scale must have shape \(4,\).*got shape \(\)"
    ):
        ScaledKAN([4, 2], scaler=([0.0] * 4, 2.0))
    with pytest.raises(ValueError, match=r"ScaledKAN: high must have shape \(4,\)"):
        ScaledKAN([4, 2], input_bounds=([0.0] * 4, [1.0] * 5))
    with pytest.raises(ValueError, match="low <= high"):
        ScaledKAN([2, 2], input_bounds=([0.0, 1.0], [1.0, 0.0]))
    with pytest.raises(ValueError, match="scale must be finite"):
        MLP([2, 2], scale=[1.0, float("nan")])
    with pytest.raises(
        ValueError, match=r"HybridKAN: shift must have shape \(2,\), one value per input channel"
    ):
        HybridKAN(make_frontend("linear", (2, 3, 3)), KAN([64, 2]), (2, 3, 3), shift=[0.0])


def test_widths_must_be_positive_integers():
    for widths in ([4, True, 3], [4, 2.5, 3], [4, 0, 3]):
        with pytest.raises(ValueError, match="widths must be positive integers"):
            KAN(widths)
    with pytest.raises(ValueError, match="widths must be positive integers"):
        ScaledKAN([4, True, 3])


def test_hybrid_inputs_of_the_wrong_shape_are_a_clear_error():
    net = _hybrid()  # (2, 6, 6) images: flat rows of 72 values
    for bad in (torch.zeros(3, 71), torch.zeros(3, 3, 6, 6), torch.zeros(3, 6, 6, 2)):
        with pytest.raises(ValueError, match=r"HybridKAN expected images of shape \(N, 2, H, W\)"):
            net(bad)
    with pytest.raises(ValueError, match="image_shape must be"):
        HybridKAN(make_frontend("linear", (1, 3, 3)), KAN([64, 2]), (3, 3))


def test_modules_saved_without_input_bounds_load_unclipped():
    module = _scaled_modules()["ScaledKAN"]
    state = {k: v for k, v in module.state_dict().items() if k not in ("low", "high")}
    copy_ = ScaledKAN([3, 4, 2])
    copy_.load_state_dict(state)  # strict: the bounds default to none
    assert torch.isinf(copy_.high).all() and torch.isinf(copy_.low).all()
    old = copy.deepcopy(module)
    del old._buffers["low"], old._buffers["high"]  # as pickled before the bounds existed
    back = pickle.loads(pickle.dumps(old))
    torch.testing.assert_close(
        back.scale_inputs(torch.full((1, 3), 1e9))[0, 0], torch.tensor(5e8 + 1)
    )
