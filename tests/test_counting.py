"""Parameter and FLOP counts (sklearn_kan._counting), against small models counted by hand."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from torch import nn

from sklearn_kan import KANClassifier
from sklearn_kan._counting import (
    count_flops,
    count_params,
    expansion_flops,
    macs_per_output,
    row_macs,
    total_params,
)
from sklearn_kan.baselines import CNNClassifier, TorchMLPClassifier
from sklearn_kan.model_selection import compare, mlp_n_flops, mlp_n_params
from sklearn_kan.nn import KAN, MLP, KANConv2d, KANLinear, KANLocal2d


def test_expansion_cost_of_each_basis():
    # silu 4; cubic B-splines: 2 to locate + 5 * (2 + 3 + 4) for degrees 1, 2, 3
    assert expansion_flops("bspline", 8, 3) == 4 + 2 + 5 * 9 == 51
    assert expansion_flops("bspline", 6, 1) == 4 + 2 + 5 * 2
    assert expansion_flops("rbf", 8, 3) == 4 + 4 * 8
    assert expansion_flops("chebyshev", 8, 3) == 4 + 3 + 3 * 6


def test_kan_linear_by_hand():
    layer = KANLinear(3, 2, grid_size=5, spline_order=3)  # 8 B-splines + silu = 9 features
    # 3 inputs * 51 to expand, then Linear(3 * 9, 2): 2 * 27 * 2 + 2
    assert count_flops(layer, torch.zeros(1, 3)) == 3 * 51 + 2 * 27 * 2 + 2 == 263
    no_bias = KANLinear(3, 2, bias=False)
    assert count_flops(no_bias, torch.zeros(1, 3)) == 263 - 2


def test_linear_conv_and_activations_by_hand():
    mlp = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2), nn.SiLU())
    assert count_flops(mlp, torch.zeros(1, 4)) == (2 * 12 + 3) + 3 + (2 * 6 + 2) + 4 * 2
    conv = nn.Conv2d(2, 3, 3, padding=1)  # 3 x 5 x 5 outputs, each 2 * (2 * 9) + 1
    assert count_flops(conv, torch.zeros(1, 2, 5, 5)) == 75 * 37
    pool = nn.MaxPool2d(2)
    assert count_flops(pool, torch.zeros(1, 3, 4, 4)) == 48  # one per value read


def test_kan_conv_and_local_by_hand():
    conv = KANConv2d(1, 2, 3, padding=1, grid_size=5)  # 9 features per pixel
    # 16 pixels * 51, then per output (2 x 4 x 4) 2 * (1 * 9 * 9) + 1
    assert count_flops(conv, torch.zeros(1, 1, 4, 4)) == 16 * 51 + 32 * 163
    local = KANLocal2d(1, 2, (4, 4), 3, stride=1, padding=0, grid_size=5)
    # outputs 2 x 2 x 2
    assert count_flops(local, torch.zeros(1, 1, 4, 4)) == 16 * 51 + 8 * 163


def test_kan_and_mlp_modules_add_their_scaling():
    kan = KAN([3, 2, 2])
    assert count_flops(kan, torch.zeros(1, 3)) == (3 * 51 + 2 * 27 * 2 + 2) + (
        2 * 51 + 2 * 18 * 2 + 2
    )
    mlp = MLP([49, 10, 10])  # 2 per input for the scaling
    assert count_flops(mlp, torch.zeros(1, 49)) == mlp_n_flops(49, (10,), 10) == 1308
    # Per hidden value: BatchNorm and the map onto the grid, one scale and shift (2);
    # LayerNorm (5) and the map (2); tanh (1) and the map (2).
    for norm, per_value in (("batchnorm", 2), ("layernorm", 7), ("tanh", 3)):
        normed = KAN([3, 2, 2], hidden_norm=norm)
        flops = count_flops(normed, torch.zeros(1, 3))
        assert flops == count_flops(kan, torch.zeros(1, 3)) + 2 * per_value


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:200], y[:200]


def test_estimators_count_their_module(digits):
    X, y = digits
    kan = KANClassifier(hidden_layer_sizes=(3,), max_epochs=1).fit(X, y)
    # Input scaling, KAN layer, hidden_norm="batchnorm" (one scale and shift), KAN layer.
    by_hand = 2 * 64 + (64 * 51 + 2 * 64 * 9 * 3 + 3) + 2 * 3 + (3 * 51 + 2 * 3 * 9 * 10 + 10)
    assert count_flops(kan, X) == by_hand
    mlp = TorchMLPClassifier((5,), max_epochs=1).fit(X, y)
    assert count_flops(mlp, X) == mlp_n_flops(64, (5,), 10)
    sk = make_pipeline(StandardScaler(), MLPClassifier((5,), max_iter=2)).fit(X, y)
    assert count_flops(sk, X) == mlp_n_flops(64, (5,), 10)
    logreg = LogisticRegression(max_iter=50).fit(X, y)
    assert count_flops(logreg, X) == 2 * 640 + 10


def test_cnn_by_hand(digits):
    X, y = digits
    cnn = CNNClassifier(conv_channels=(4,), frontend_features=8, max_epochs=1).fit(
        X.reshape(-1, 8, 8), y
    )
    conv = 4 * 64 * 2 * 9  # no bias (BatchNorm follows)
    expected = (
        2 * 64  # input scaling
        + conv
        + 2 * 256  # BatchNorm2d
        + 256  # ReLU
        + 256  # max-pool reads 4 x 8 x 8
        + 64  # adaptive average pool reads 4 x 4 x 4
        + 2 * 64 * 8  # Linear(64, 8), no bias
        + 2 * 8  # BatchNorm1d
        + 8  # ReLU
        + 2 * 8 * 10
        + 10  # Linear(8, 10)
    )
    assert count_flops(cnn, X[:1].reshape(-1, 8, 8)) == expected


def test_unknown_layers_are_an_error():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(3))

        def forward(self, x):
            return x * self.w

    with pytest.raises(TypeError, match="no rule for the layer Odd"):
        count_flops(Odd(), torch.zeros(1, 3))
    with pytest.raises(TypeError, match="no rule"):
        count_flops(object(), np.zeros((1, 3)))


def test_count_params_of_modules_and_estimators(digits):
    X, y = digits
    layer = KANLinear(3, 2)
    assert count_params(layer) == sum(p.numel() for p in layer.parameters())
    mlp = MLPClassifier((5,), max_iter=5).fit(X, y)
    assert count_params(mlp) == mlp_n_params(64, (5,), 10)
    assert count_params(make_pipeline(StandardScaler(), mlp)) == count_params(mlp)
    with pytest.raises(TypeError, match="count_params expects"):
        count_params(object())


def test_row_macs_counts_the_products_of_one_row():
    kan = KAN([3, 4, 2])
    first, second = kan.layers[0], kan.layers[1]
    assert macs_per_output(first) == 3 * (first.n_basis + 1)
    assert macs_per_output(nn.ReLU()) == 0
    per_row = 4 * 3 * (first.n_basis + 1) + 2 * 4 * (second.n_basis + 1)
    assert row_macs(kan, torch.zeros(2, 3)) == per_row


def test_total_params_sums_the_steps(digits):
    X, y = digits
    pipe = Pipeline(
        [
            ("scale", MinMaxScaler()),
            ("mlp1", _Transforming((5,))),
            ("kan", KANClassifier(hidden_layer_sizes=(3,), max_epochs=1)),
        ]
    ).fit(X, y)
    assert total_params(pipe) == count_params(pipe["mlp1"]) + count_params(pipe["kan"])
    assert count_params(pipe) == count_params(pipe["kan"])
    with pytest.raises(TypeError):
        total_params(make_pipeline(MinMaxScaler()).fit(X))
    table = compare({"scale": make_pipeline(MinMaxScaler(), _NoParams())}, X, y, cv=2)
    assert table["n_params"].isna().all()
    assert table["n_flops"].isna().all()


class _NoParams(LogisticRegression):
    """A classifier whose parameters cannot be counted."""

    def fit(self, X, y):
        super().fit(X, y)
        self.weights_ = self.coef_
        del self.coef_
        return self

    def decision_function(self, X):
        return X @ self.weights_.T + self.intercept_


class _Transforming(MLPClassifier):
    """An MLP used as a transformer step (its predicted probabilities)."""

    def __init__(self, hidden_layer_sizes=(5,)):
        super().__init__(hidden_layer_sizes, max_iter=5)

    def transform(self, X):
        return self.predict_proba(X)
