import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline

from sklearn_kan.nn.basis import BASES, bspline, get_basis

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
