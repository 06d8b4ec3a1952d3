import math

import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline

from sklearn_kan.nn.basis import BASES, bspline, fourier, get_basis, gram, rational

G, K = 5, 3


def _scipy_basis(x: np.ndarray, knots: np.ndarray, order: int) -> np.ndarray:
    """Every basis element of ``knots`` evaluated by scipy (zero outside its support)."""
    n = len(knots) - order - 1
    cols = [
        np.nan_to_num(BSpline.basis_element(knots[j : j + order + 2], extrapolate=False)(x))
        for j in range(n)
    ]
    return np.stack(cols, axis=-1)


def _uniform_grid(lo, hi, grid_size=G, order=K):
    lo = torch.as_tensor(lo, dtype=torch.float64)
    hi = torch.as_tensor(hi, dtype=torch.float64)
    return BASES["bspline"].make_grid(lo, hi, grid_size, order)


@pytest.mark.parametrize("order", [0, 1, 2, 3, 5])
def test_bspline_matches_scipy_on_uniform_grid(order):
    rng = np.random.RandomState(order)
    grid = _uniform_grid([-1.0, -2.0, 0.0], [1.0, 3.0, 0.5], order=order)
    # Covers the interior, the extension knots and beyond the grid on both sides.
    x = torch.as_tensor(rng.uniform(-4, 5, size=(500, 3)))
    values = bspline(x, grid, order).numpy()
    assert values.shape == (500, 3, G + order)
    for i in range(3):
        ref = _scipy_basis(x[:, i].numpy(), grid[i].numpy(), order)
        np.testing.assert_allclose(values[:, i], ref, atol=1e-12)


def test_bspline_matches_scipy_on_adapted_grid():
    rng = np.random.RandomState(0)
    x_data = torch.as_tensor(rng.standard_normal((400, 2)) ** 3)
    grid = BASES["bspline"].adapt_grid(torch.sort(x_data, 0).values, G, K, 0.02)
    assert torch.all(grid[:, 1:] > grid[:, :-1]), "knots must increase strictly"
    values = bspline(x_data, grid, K).numpy()
    for i in range(2):
        ref = _scipy_basis(x_data[:, i].numpy(), grid[i].numpy(), K)
        np.testing.assert_allclose(values[:, i], ref, atol=1e-12)


def test_bspline_partition_of_unity_inside_the_grid():
    grid = _uniform_grid([-1.0], [1.0])
    x = torch.rand(1000, 1, dtype=torch.float64) * 2 - 1
    np.testing.assert_allclose(bspline(x, grid, K).sum(-1).numpy(), 1.0, atol=1e-12)
    # and every value lies in [0, 1]
    far = torch.linspace(-10, 10, 101, dtype=torch.float64).unsqueeze(1)
    v = bspline(far, grid, K)
    assert torch.all(v >= 0) and torch.all(v <= 1)
    assert torch.all(v[far[:, 0].abs() > 3] == 0)


def test_bspline_keeps_leading_dimensions():
    grid = _uniform_grid([-1.0, -1.0], [1.0, 1.0])
    x = torch.zeros(4, 7, 2, dtype=torch.float64)
    assert bspline(x, grid, K).shape == (4, 7, 2, G + K)


@pytest.mark.parametrize("name", sorted(BASES))
def test_every_basis_has_n_basis_functions_and_gradients(name):
    basis = get_basis(name)
    lo, hi = torch.full((3,), -1.0, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    grid = basis.make_grid(lo, hi, G, K)
    x = (torch.rand(6, 3, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    out = basis.evaluate(x, grid, K)
    assert out.shape == (6, 3, basis.n_basis(G, K))
    assert torch.autograd.gradcheck(lambda t: basis.evaluate(t, grid, K), (x,))
    if basis.learnable:  # no range to report: its grid is learned (see below)
        with pytest.raises(ValueError, match=f"basis='{name}' has no grid"):
            basis.domain(grid, K)
        return
    dlo, dhi = basis.domain(grid, K)
    np.testing.assert_allclose(dlo.numpy(), -1.0)
    np.testing.assert_allclose(dhi.numpy(), 1.0)


def test_rbf_and_chebyshev_values():
    grid = BASES["rbf"].make_grid(torch.tensor([-1.0]), torch.tensor([1.0]), 3, 0)
    x = grid[:, 1:2].t()  # exactly on the second centre
    assert BASES["rbf"].evaluate(x, grid, 0)[0, 0, 1] == pytest.approx(1.0)
    cgrid = BASES["chebyshev"].make_grid(torch.tensor([-2.0]), torch.tensor([2.0]), 3, 1)
    x = torch.tensor([[0.7]], dtype=torch.float64)
    t = np.tanh(0.7 / 2)
    expected = [1, t, 2 * t * t - 1, 4 * t**3 - 3 * t]
    np.testing.assert_allclose(
        BASES["chebyshev"].evaluate(x, cgrid.double(), 1)[0, 0].numpy(), expected, atol=1e-12
    )


def test_unknown_basis_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown basis 'wavelet'.*bspline"):
        get_basis("wavelet")


# -- Gram, Fourier and rational bases against slow, obvious references ---------------


def _range_grid(name, lo, hi, n):
    lo = torch.as_tensor(lo, dtype=torch.float64)
    hi = torch.as_tensor(hi, dtype=torch.float64)
    return BASES[name].make_grid(lo, hi, n, 0)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 12])
def test_gram_polynomials_are_gram_schmidt_of_monomials_on_the_nodes(n):
    # Reference: orthonormalise 1, t, .., t^(n-1) on n equally spaced nodes of
    # [-1, 1] (mean inner product) by a QR factorisation, leading coefficients > 0.
    nodes = np.linspace(-1, 1, n) if n > 1 else np.zeros(1)
    vander = nodes[:, None] ** np.arange(n) / np.sqrt(n)
    r = np.linalg.qr(vander)[1]
    r = r * np.sign(np.diag(r))[:, None]
    coef = np.linalg.inv(r)  # column k: monomial coefficients of p_k
    lo, hi = np.array([-1.0, -3.0]), np.array([2.0, 0.5])
    grid = _range_grid("gram", lo, hi, n) if n > 1 else None
    x = np.random.RandomState(n).uniform(-5, 5, size=(50, 2))
    for i in range(2):
        t = np.tanh((2 * x[:, i] - lo[i] - hi[i]) / (hi[i] - lo[i]))
        expected = (t[:, None] ** np.arange(n)) @ coef
        if grid is None:  # one function: the constant
            np.testing.assert_allclose(expected, 1.0)
            continue
        got = gram(torch.as_tensor(x), grid, 0)[:, i].numpy()
        np.testing.assert_allclose(got, expected, atol=1e-9)


def test_fourier_values_one_by_one():
    grid = _range_grid("fourier", [-1.0, 0.0], [1.0, 4.0], 7)
    x = torch.as_tensor(np.random.RandomState(0).uniform(-3, 6, size=(20, 2)))
    got = fourier(x, grid, 0).numpy()
    for b in range(20):
        for i, (lo, hi) in enumerate([(-1.0, 1.0), (0.0, 4.0)]):
            u = (2 * float(x[b, i]) - lo - hi) / (hi - lo)
            for j in range(7):
                k = j // 2 + 1
                ref = math.cos(k * math.pi * u / 2) if j % 2 == 0 else math.sin(k * math.pi * u / 2)
                assert got[b, i, j] == pytest.approx(ref, abs=1e-12)


def test_rational_values_one_by_one_and_gradients_of_its_coefficients():
    torch.manual_seed(0)
    grid = torch.randn(3, 5, dtype=torch.float64)
    x = torch.randn(10, 3, dtype=torch.float64) * 2
    got = rational(x, grid, 0).numpy()
    for b in range(10):
        for i in range(3):
            t = math.tanh(float(x[b, i]))
            q = sum(float(grid[i, k - 1]) * t**k for k in range(1, 6))
            for j in range(6):
                assert got[b, i, j] == pytest.approx(t**j / (1 + abs(q)), abs=1e-12)
    # Gradients in x and in the learned denominator coefficients.
    xg = x.clone().requires_grad_(True)
    gg = grid.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, c: rational(a, c, 0), (xg, gg))


@pytest.mark.parametrize("grid_size, order", [(5, 3), (3, 1), (8, 2)])
def test_rational_starts_from_a_fit_of_silu(grid_size, order):
    basis = BASES["rational"]
    lo, hi = torch.full((2,), -1.0, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    grid = basis.make_grid(lo, hi, grid_size, order)
    assert grid.shape == (2, grid_size + order - 1)
    x = torch.linspace(-1, 1, 301, dtype=torch.float64).unsqueeze(1).expand(-1, 2)
    feats = basis.evaluate(x, grid, order)[:, 0]
    target = torch.nn.functional.silu(x[:, :1])
    best = torch.linalg.lstsq(feats, target).solution
    # Some numerator reproduces SiLU on the grid range (the default: to 2e-3).
    assert (feats @ best - target).abs().max() < (2e-3 if grid_size + order == 8 else 5e-2)


def test_rational_is_refused_where_it_has_no_grid():
    basis = BASES["rational"]
    grid = basis.make_grid(-torch.ones(2), torch.ones(2), G, K)
    with pytest.raises(ValueError, match="basis='rational' has no grid.*update_grid"):
        basis.adapt_grid(torch.zeros(10, 2), G, K, 0.02)
    with pytest.raises(ValueError, match="basis='rational' has no grid"):
        basis.domain(grid, K)


# -- the new bases in the layers and the estimators ----------------------------------


@pytest.mark.parametrize("name", ["gram", "fourier"])
def test_range_bases_follow_the_data_on_update_grid(name):
    from sklearn_kan.nn import KANLinear

    torch.manual_seed(0)
    layer = KANLinear(3, 2, basis=name).double()
    with torch.no_grad():  # smooth edges, as trained ones are
        layer.edge_weights()[..., 1:] = torch.randn(2, 3, 1, dtype=torch.float64) * torch.linspace(
            1, 0.1, layer.n_basis, dtype=torch.float64
        )
    x = torch.rand(500, 3, dtype=torch.float64) * 1.6 - 0.8
    before = layer(x)
    layer.update_grid(x)
    lo, hi = BASES[name].domain(layer.grid, layer.spline_order)
    torch.testing.assert_close(lo, x.min(0).values)
    torch.testing.assert_close(hi, x.max(0).values)
    rel = ((layer(x) - before).norm() / before.norm()).item()
    assert rel < 0.05


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_rational_denominators_are_learned_and_grid_methods_refused(kind):
    import pickle

    from sklearn_kan.nn import KANConv2d, KANLinear

    if kind == "linear":
        layer, x = KANLinear(4, 3, basis="rational"), torch.randn(16, 4)
    else:
        layer, x = KANConv2d(2, 3, 3, basis="rational"), torch.randn(2, 2, 5, 5)
    assert isinstance(layer.grid, torch.nn.Parameter)
    assert any(p is layer.grid for p in layer.parameters())
    layer(x).square().sum().backward()
    assert layer.grid.grad is not None and layer.grid.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="basis='rational' has no grid.*update_grid"):
        layer.update_grid(x)
    with pytest.raises(ValueError, match="basis='rational' has no grid.*extend_grid"):
        layer.extend_grid(8)
    clone = pickle.loads(pickle.dumps(layer))
    torch.testing.assert_close(clone(x), layer(x))


def test_rational_estimator_refuses_grid_updates_before_training():
    from sklearn.datasets import load_digits
    from skorch.callbacks import Callback

    from sklearn_kan import KANClassifier

    X, y = load_digits(return_X_y=True)
    epochs = []

    class Count(Callback):
        def on_epoch_begin(self, net, **kwargs):
            epochs.append(1)

    for kwargs in ({"grid_update_epochs": (1,)}, {"grid_schedule": (8,)}):
        clf = KANClassifier(basis="rational", max_epochs=2, callbacks=[Count()], **kwargs)
        with pytest.raises(ValueError, match="not available with basis='rational'"):
            clf.fit(X[:50], y[:50])
        assert epochs == [] and not hasattr(clf, "net_")  # refused before the first epoch


def test_grid_search_over_every_basis_and_inspection_of_the_new_ones():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV

    from sklearn_kan import KANClassifier
    from sklearn_kan.inspection import activation_curves, prune

    X, y = load_digits(return_X_y=True)
    X, y = X[:300], y[:300]
    search = GridSearchCV(
        KANClassifier(hidden_layer_sizes=(8,), batch_size=32, max_epochs=8, random_state=0),
        {"basis": ["bspline", "gram", "fourier", "rational"]},
        cv=2,
    ).fit(X, y)
    assert len(search.cv_results_["mean_test_score"]) == 4
    assert np.all(search.cv_results_["mean_test_score"] > 0.6)  # all of them learn
    for name in ("gram", "fourier", "rational"):
        clf = KANClassifier(
            hidden_layer_sizes=(8,), basis=name, batch_size=32, max_epochs=8, random_state=0
        )
        clf.fit(X, y)
        curves = activation_curves(clf, layer=1, n_points=20)
        assert curves.y.shape == (8, 10, 20) and np.isfinite(curves.y).all()
        pruned = prune(clf, X, y, threshold=0.05)
        assert pruned.n_params_ < clf.n_params_
        assert pruned.score(X, y) > clf.score(X, y) - 0.05


def test_pruning_nodes_keeps_the_rational_denominators_of_the_kept_inputs():
    from sklearn_kan.inspection import _sub_layer
    from sklearn_kan.nn import KANLinear

    torch.manual_seed(0)
    layer = KANLinear(4, 3, basis="rational").double()
    with torch.no_grad():
        layer.grid.normal_()
        layer.weight.normal_()
    with torch.no_grad():  # as prune calls it
        sub = _sub_layer(layer, np.array([0, 2]), np.array([1, 3]))
    assert isinstance(sub.grid, torch.nn.Parameter)
    x = torch.randn(10, 4, dtype=torch.float64)
    expected = layer.edge_activations(x)[:, [1, 3]][:, :, [0, 2]]
    torch.testing.assert_close(sub.edge_activations(x[:, [1, 3]]), expected)


@pytest.mark.parametrize("name", ["gram", "rational", "fourier"])
def test_new_bases_fit_digits(name):
    # 8 x 8 digits, 25% held out, otherwise defaults
    # (about 1 s each on one thread).
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from sklearn_kan import KANClassifier

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    clf = KANClassifier(basis=name, random_state=0).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.95
