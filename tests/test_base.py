"""Shared estimator machinery (sklearn_kan._base): prediction in fixed chunks, input
scaling, Ctrl-C, seeding, pickling, divergence, the batch loader, the BatchNorm pass."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback

from sklearn_kan import HybridKANClassifier, KANClassifier, KANRegressor, _base
from sklearn_kan.feature_extraction import ConvFeatures


@pytest.fixture(scope="module")
def wide_classifier():
    # Large enough for two threads and oneDNN's product (>= 2**26 multiply-adds a chunk).
    rng = np.random.RandomState(0)
    X = rng.rand(300, 200)
    y = (X[:, :3].sum(1) > 1.5).astype(int)
    return KANClassifier((150,), max_epochs=1, random_state=0).fit(X, y), rng.rand(300, 200)


def test_a_rows_prediction_does_not_depend_on_its_batch(wide_classifier):
    clf, X = wide_classifier
    full = clf.predict_proba(X)
    for rows in (slice(0, 1), slice(37, 38), slice(5, 260), slice(255, 300)):
        np.testing.assert_array_equal(clf.predict_proba(X[rows]), full[rows])
    perm = np.random.RandomState(1).permutation(len(X))
    np.testing.assert_array_equal(clf.predict_proba(X[perm]), full[perm])


def test_prediction_runs_in_float32_chunks_of_fixed_size(monkeypatch, wide_classifier):
    clf, X = wide_classifier
    expected = clf.predict_proba(X)
    monkeypatch.setattr(_base, "PREDICT_CHUNK", 64)
    seen = []
    hook = clf.module_.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    try:
        got = clf.predict_proba(X)
    finally:
        hook.remove()
    # 300 rows: four full chunks and a padded fifth; nothing in float64.
    assert [tuple(x.shape) for x in seen if x.shape[0] != 2] == [(64, 200)] * 5
    assert all(x.dtype == torch.float32 for x in seen)
    np.testing.assert_allclose(got, expected, atol=1e-5)


_FIT_DIGEST = """
import hashlib, sys
import numpy as np
from sklearn.datasets import load_digits
from sklearn_kan import HybridKANClassifier, KANClassifier, KANRegressor

X, y = load_digits(return_X_y=True)
if sys.argv[1] == "busy":  # other models first: larger, another kind, predictions
    KANRegressor((64, 32), max_epochs=2, random_state=3).fit(X, y.astype(float)).predict(X)
    HybridKANClassifier("conv", max_epochs=1, random_state=1).fit(X[:300], y[:300])
    KANClassifier(max_epochs=1, dtype="float64", random_state=2).fit(X, y).predict_proba(X)
clf = KANClassifier((16,), max_epochs=3, random_state=0).fit(X[:800], y[:800])
digest = hashlib.sha256()
for value in clf.module_.state_dict().values():
    digest.update(value.numpy().tobytes())
digest.update(clf.predict_proba(X[800:]).tobytes())
print(digest.hexdigest())
"""


@pytest.mark.slow  # two fresh processes that train, about 20 s on 2 cores
def test_a_fit_does_not_depend_on_what_ran_earlier_in_the_process():
    # Bitwise the same model and predictions in a fresh process and after other fits.
    import subprocess
    import sys

    digests = [
        subprocess.run(
            [sys.executable, "-c", _FIT_DIGEST, mode], capture_output=True, text=True, check=True
        ).stdout.strip()
        for mode in ("fresh", "busy")
    ]
    assert len(digests[0]) == 64 and digests[0] == digests[1]


def test_prediction_on_no_rows_is_a_clear_error(wide_classifier):
    clf, X = wide_classifier
    with pytest.raises(ValueError, match="0 sample"):
        clf.predict(X[:0])


@pytest.mark.parametrize("frontend", ["linear", "conv", "kanconv"])
def test_a_hybrids_prediction_does_not_depend_on_its_batch(frontend):
    from sklearn.datasets import load_digits

    from sklearn_kan import HybridKANClassifier

    X, y = load_digits(return_X_y=True)
    clf = HybridKANClassifier(frontend=frontend, max_epochs=1, random_state=0).fit(X[:300], y[:300])
    full = clf.predict_proba(X[:300])
    for rows in (slice(0, 1), slice(37, 38), slice(5, 260)):
        np.testing.assert_array_equal(clf.predict_proba(X[rows]), full[rows])


class _InterruptAt(Callback):
    """Raises KeyboardInterrupt (what Ctrl-C raises) at the end of epoch ``epoch``."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize(
    "make",
    [
        lambda cb: KANClassifier((8,), max_epochs=5, random_state=0, callbacks=[cb]),
        lambda cb: KANRegressor((8,), max_epochs=5, random_state=0, callbacks=[cb]),
        lambda cb: HybridKANClassifier(
            "conv", conv_channels=(4,), max_epochs=5, random_state=0, callbacks=[cb]
        ),
    ],
    ids=["kan", "regressor", "hybrid"],
)
def test_ctrl_c_during_a_first_fit_propagates_and_leaves_it_unfitted(make):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = X[:200], y[:200]
    est = make(_InterruptAt(2))
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    # Usable: the same estimator fits, and gives what a fresh one gives.
    est.set_params(callbacks=None).fit(X, y)
    fresh = make(None).set_params(callbacks=None).fit(X, y)
    assert len(est.history_) == 5
    np.testing.assert_array_equal(est.predict(X), fresh.predict(X))


def test_ctrl_c_during_a_feature_extractors_fit(monkeypatch):
    # ConvFeatures takes no callbacks: the net itself raises at the end of epoch 2.
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    est = ConvFeatures(4, channels=(4,), max_epochs=5, random_state=0)
    with monkeypatch.context() as patch:
        patch.setattr(_base._KANNet, "on_epoch_end", _InterruptAt(2).on_epoch_end)
        with pytest.raises(KeyboardInterrupt):
            est.fit(X[:200], y[:200])
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    assert est.fit(X[:200], y[:200]).transform(X[:3]).shape == (3, 4)


@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_ctrl_c_while_continuing_a_fit_keeps_the_model_it_had(how):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = X[:300], y[:300]

    def fitted():
        # hidden_norm="batchnorm" (the default): its statistics must come back too.
        return KANClassifier((8,), max_epochs=3, random_state=0).fit(X, y)

    def more(est, callbacks=None):
        if how == "partial_fit":
            return est.set_params(callbacks=callbacks).partial_fit(X, y)
        return est.set_params(callbacks=callbacks, warm_start=True).fit(X, y)

    est = fitted()
    before = est.predict_proba(X)
    state = {k: v.clone() for k, v in est.module_.state_dict().items()}
    with pytest.raises(KeyboardInterrupt):
        more(est, [_InterruptAt(4)])
    assert len(est.history_) == 3
    np.testing.assert_array_equal(est.predict_proba(X), before)
    for key, value in est.module_.state_dict().items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0, msg=key)
    # Training goes on as if the interrupted call had not happened (optimizer state too).
    np.testing.assert_array_equal(more(est).predict_proba(X), more(fitted()).predict_proba(X))


def test_skorchs_early_stopping_still_ends_training_quietly():
    # skorch's EarlyStopping stops a fit by raising KeyboardInterrupt itself.
    from sklearn.datasets import load_digits
    from skorch.callbacks import EarlyStopping

    X, y = load_digits(return_X_y=True)
    stop = EarlyStopping(monitor="train_loss", patience=1, threshold=10.0)
    est = KANClassifier((8,), max_epochs=20, random_state=0, callbacks=[stop]).fit(X, y)
    assert 1 < len(est.history_) < 20
    check_is_fitted(est)
    est = KANClassifier((8,), max_epochs=20, early_stopping=True, n_iter_no_change=1, tol=1.0)
    assert len(est.fit(X, y).history_) < 20


# -- input scaling --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["minmax", "standard", None])
def test_fit_scaler_maps_a_constant_column_to_a_fixed_point_and_bounds_the_rest(method):
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.uniform(0, 16, 100), np.zeros(100), np.full(100, 7.0)])
    (shift, scale), (low, high) = _base._fit_scaler(X, method, (-1.0, 1.0))
    if method is not None:
        # Constant columns: every value maps where the training value did (-1 for
        # minmax, the centre for standard), so a value never seen changes nothing.
        np.testing.assert_array_equal(scale[1:], 0.0)
        np.testing.assert_allclose(shift[1:], -1.0 if method == "minmax" else 0.0)
    scaled = X * scale + shift
    # The bounds hold the training data and the grid range, and a tenth of its width more.
    np.testing.assert_allclose(low, np.minimum(scaled.min(0), -1) - 0.2)
    np.testing.assert_allclose(high, np.maximum(scaled.max(0), 1) + 0.2)
    if method == "minmax":
        np.testing.assert_allclose([low[0], high[0]], [-1.2, 1.2])


@pytest.mark.parametrize("method", ["minmax", "standard"])
@pytest.mark.parametrize("size", [1e300, 1e-300])
def test_fit_scaler_neither_overflows_nor_underflows(method, size):
    X = np.linspace(-1, 1, 11)[:, None] * size
    (shift, scale), _ = _base._fit_scaler(X, method, (-1.0, 1.0))
    scaled = X[:, 0] * scale[0] + shift[0]
    expected = np.linspace(-1, 1, 11) if method == "minmax" else np.linspace(-1, 1, 11) / 2 / 0.6325
    np.testing.assert_allclose(scaled, expected, rtol=1e-3, atol=1e-12)


# -- precision --------------------------------------------------------------------------


def test_float64_models_read_their_inputs_in_float64():
    X = 1e8 + np.linspace(0, 100, 2000)[:, None]  # 13 distinct values in float32
    y = np.sin(X[:, 0] - 1e8)
    reg = KANRegressor((4,), max_epochs=1, dtype="float64", random_state=0).fit(X, y)
    seen = reg._validate_X(X, reset=False)
    assert seen.dtype == np.float64 and len(np.unique(seen)) == 2000
    scaled = reg.module_.scale_inputs(torch.as_tensor(seen)).numpy()
    np.testing.assert_allclose(scaled[:, 0], np.linspace(-1, 1, 2000), atol=1e-9)
    # float32 models read float32, and refuse what float32 cannot hold.
    assert (
        KANRegressor((4,), max_epochs=1).fit(X, y)._validate_X(X, reset=False).dtype == np.float32
    )
    huge = np.array([[1e39], [2e39], [3e39]])
    with pytest.raises(ValueError, match="beyond the float32 range"):
        KANRegressor((4,), max_epochs=1).fit(huge, [0.0, 1.0, 2.0])
    big = KANRegressor((4,), max_epochs=1, dtype="float64", random_state=0).fit(
        huge, [0.0, 1.0, 2.0]
    )
    assert np.isfinite(big.predict(huge)).all()


def test_float64_hybrids_read_their_images_in_float64():
    rng = np.random.RandomState(0)
    X = 1e8 + rng.rand(40, 4, 4)
    y = np.arange(40) % 2
    clf = HybridKANClassifier("linear", max_epochs=1, dtype="float64", random_state=0).fit(X, y)
    seen = clf._validate_X(X, reset=False)
    assert seen.dtype == np.float64 and len(np.unique(seen)) == X.size


# -- seeding, pickling, divergence, the batch loader, the BatchNorm pass -----------------


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0)


@pytest.fixture(scope="module")
def small():
    X, y = load_digits(return_X_y=True)
    return X[:300], y[:300]


def test_random_state_reproducible_and_leaves_global_rngs_alone(digits):
    X_train, X_test, y_train, _ = digits
    torch.manual_seed(123)
    np.random.seed(123)
    expected_torch = torch.rand(3)
    expected_np = np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(123)
    a = KANClassifier(max_epochs=2, random_state=7).fit(X_train, y_train)
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected_torch.numpy())
    np.testing.assert_array_equal(np.random.rand(3), expected_np)
    b = KANClassifier(max_epochs=2, random_state=7).fit(X_train, y_train)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))
    c = KANClassifier(max_epochs=2, random_state=8).fit(X_train, y_train)
    assert not np.array_equal(a.predict_proba(X_test), c.predict_proba(X_test))


def test_random_state_none_varies(digits):
    X_train, X_test, y_train, _ = digits
    a = KANClassifier(max_epochs=1).fit(X_train, y_train).predict_proba(X_test)
    b = KANClassifier(max_epochs=1).fit(X_train, y_train).predict_proba(X_test)
    assert not np.array_equal(a, b)


def test_pickle_round_trip(digits):
    X_train, X_test, y_train, _ = digits
    clf = KANClassifier(max_epochs=1, random_state=0).fit(X_train, y_train)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X_test), clf.predict_proba(X_test))


def test_divergence_stops_with_a_clear_error_and_no_nan_model(digits):
    X_train, X_test, y_train, _ = digits
    clf = KANClassifier(optimizer="sgd", lr=1e30, max_epochs=5, random_state=0)
    with pytest.raises(FloatingPointError, match="diverged.*Lower `lr`"):
        clf.fit(X_train * 1e3, y_train)
    with pytest.raises(NotFittedError):  # a failed fit: unfitted, as in scikit-learn
        clf.predict_proba(X_test)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("kind", ["numpy", "torch", "subset", "no_target"])
def test_batch_loader_yields_the_default_loaders_batches(shuffle, kind):
    # The estimators fetch each batch with one indexing of the arrays; the batches
    # (and the random numbers drawn for shuffling) must be those of torch's default
    # loader over skorch's Dataset, so that training is unchanged.
    from skorch.dataset import Dataset
    from torch.utils.data import DataLoader, Subset

    from sklearn_kan._base import _batch_iterator

    rng = np.random.default_rng(0)
    X = rng.normal(size=(23, 3)).astype(np.float32)
    y = rng.integers(0, 4, size=23)
    if kind == "torch":
        X, y = torch.from_numpy(X), torch.from_numpy(y)
    dataset = Dataset(X, None if kind == "no_target" else y)
    if kind == "subset":
        dataset = Subset(dataset, rng.permutation(23)[:17])
    batches = {}
    for name, make in [("default", DataLoader), ("fast", _batch_iterator)]:
        torch.manual_seed(7)
        batches[name] = list(make(dataset, batch_size=5, shuffle=shuffle))
        batches[name + "_rng"] = torch.rand(1)
    assert len(batches["fast"]) == len(batches["default"]) == -(-len(dataset) // 5)
    for (xa, ya), (xb, yb) in zip(batches["default"], batches["fast"]):
        torch.testing.assert_close(xa, xb)
        torch.testing.assert_close(ya, yb, check_dtype=kind != "no_target")
    torch.testing.assert_close(batches["default_rng"], batches["fast_rng"])


def test_batchnorm_keeps_the_training_rows_statistics_of_the_final_weights(small):
    X, y = small
    clf = KANClassifier(hidden_layer_sizes=(6,), max_epochs=3, random_state=0).fit(X, y)
    assert clf.hidden_norm == "batchnorm"  # the default
    norm = clf.module_.kan.norms[0].norm
    seen = {}
    hook = norm.register_forward_pre_hook(lambda m, args: seen.__setitem__("x", args[0]))
    clf.module_.eval()(torch.as_tensor(X, dtype=torch.float32))
    hook.remove()
    # Not torch's running averages (momentum 0.1 over 9 steps): the statistics of
    # all training rows under the weights the model ended with.
    torch.testing.assert_close(norm.running_mean, seen["x"].mean(0), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(norm.running_var, seen["x"].var(0), rtol=1e-4, atol=1e-5)
    # partial_fit keeps torch's running averages (one call may hold a few rows):
    # they move towards the call's batch by torch's momentum, not onto it.
    clf.partial_fit(X[:5], y[:5])
    hook = norm.register_forward_pre_hook(lambda m, args: seen.__setitem__("x", args[0]))
    clf.module_.eval()(torch.as_tensor(X[:5], dtype=torch.float32))
    hook.remove()
    assert not torch.allclose(norm.running_mean, seen["x"].mean(0), atol=1e-3)


def test_batchnorm_statistics_pass_runs_each_epoch_only_when_the_network_is_scored(
    small, monkeypatch
):
    from skorch.callbacks import Callback, EpochScoring

    import sklearn_kan._base as base

    calls = []
    real = base.set_batch_norm_statistics
    monkeypatch.setattr(
        base, "set_batch_norm_statistics", lambda *a, **k: calls.append(len(a[1])) or real(*a, **k)
    )
    X, y = small
    kw = dict(hidden_layer_sizes=(6,), max_epochs=3, random_state=0)
    KANClassifier(**kw).fit(X, y)
    KANClassifier(callbacks=[Callback()], **kw).fit(X, y)  # reads nothing: once, at the end
    assert calls == [300, 300]
    calls.clear()
    KANClassifier(callbacks=[EpochScoring("accuracy", on_train=True)], **kw).fit(X, y)
    assert calls == [300, 300, 300]
    calls.clear()
    KANClassifier(early_stopping=True, **kw).fit(X, y)  # on the training split only
    assert calls == [270, 270, 270]
    calls.clear()
    KANClassifier(hidden_norm=None, **kw).fit(X, y)  # no BatchNorm
    KANClassifier(**kw).fit(X, y).partial_fit(X, y)  # partial_fit keeps torch's averages
    assert calls == [300]


@pytest.mark.parametrize("weighted", [False, True])
def test_batch_norm_statistics_are_those_of_all_rows_layer_by_layer(small, weighted):
    """Against the obvious reference: each layer in forward order, the ones before it
    set, gets the (weighted) mean and unbiased variance of its inputs over all rows."""
    from sklearn_kan.nn.models import set_batch_norm_statistics

    X, y = small
    clf = HybridKANClassifier(
        "conv",
        conv_channels=(4,),
        hidden_layer_sizes=(6,),
        hidden_norm="batchnorm",
        max_epochs=1,
        random_state=0,
    ).fit(X, y)
    module = clf.module_
    rows = torch.as_tensor(clf._validate_X(X, reset=False))
    w = np.random.RandomState(0).randint(0, 4, len(X)).astype(np.float32) if weighted else None
    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(norms) >= 3
    set_batch_norm_statistics(module, rows, w, chunk_rows=37)  # chunks that do not divide 300
    got = [(m.running_mean.clone(), m.running_var.clone()) for m in norms]
    module.eval()
    for norm, (mean, var) in zip(norms, got):
        seen = {}
        hook = norm.register_forward_pre_hook(
            lambda m, args, seen=seen: seen.__setitem__("x", args[0])
        )
        with torch.no_grad():
            module(rows)
        hook.remove()
        x = seen["x"].double().transpose(0, 1).reshape(norm.num_features, len(rows), -1)
        weights = torch.ones(len(rows), dtype=torch.float64) if w is None else torch.tensor(w)
        weights = weights.double()[:, None].expand(len(rows), x.shape[2])
        n = float(weights.sum())
        ref_mean = (x * weights).sum((1, 2)) / n
        ref_var = (((x - ref_mean[:, None, None]) ** 2) * weights).sum((1, 2)) / (n - 1)
        torch.testing.assert_close(mean.double(), ref_mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(var.double(), ref_var, rtol=1e-4, atol=1e-6)


def test_the_input_scaling_is_fitted_on_the_data_as_given_not_its_float32_copy():
    # 1e8 + 100 is not a float32 (the nearest are 1e8 + 96 and 1e8 + 104): a scaler
    # fitted on the float32 copy of X would map a span of 96 or 104 onto the grid.
    X = 1e8 + np.linspace(0, 100, 50)[:, None]
    y = np.linspace(0, 1, 50)
    reg = KANRegressor((2,), max_epochs=1, random_state=0).fit(X, y)
    assert reg.module_.scale.dtype == torch.float32
    assert reg.module_.scale.item() == np.float32(2 / 100)
