"""Thread policy (sklearn_kan.nn._threading): passive waiting, thread counts from the work."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from sklearn_kan import KANClassifier
from sklearn_kan.nn import _threading as _threads


def _python(code: str, **env) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    environ.update(env)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, check=True
    )
    return proc.stdout.strip() + proc.stderr


def test_import_before_torch_sets_passive_waiting():
    code = "import os, sklearn_kan; print(os.environ.get('OMP_WAIT_POLICY'))"
    assert _python(code).startswith("PASSIVE")


def test_a_users_wait_policy_is_kept():
    code = "import os, sklearn_kan; print(os.environ.get('OMP_WAIT_POLICY'))"
    assert _python(code, OMP_WAIT_POLICY="ACTIVE").startswith("ACTIVE")


def test_torch_first_means_one_thread_and_one_warning():
    code = (
        "import torch, warnings\n"
        "torch.set_num_threads(2)\n"
        "from sklearn_kan.nn import plan_threads\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    print(plan_threads(1e12), plan_threads(1e12), len(w))\n"
    )
    out = _python(code)
    assert out.startswith("1 1 1"), out  # one thread, warned once


def test_small_work_uses_one_thread_and_large_work_the_current_setting():
    assert _threads.plan_threads(_threads.SMALL_WORK_MACS - 1) == 1
    assert _threads.plan_threads(_threads.SMALL_WORK_MACS) == torch.get_num_threads()


def test_a_users_own_thread_count_wins():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(before + 1)
        assert _threads.plan_threads(1) == before + 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 8])
def test_prediction_thread_counts_are_powers_of_two(monkeypatch, n):
    monkeypatch.setattr(torch, "get_num_threads", lambda: n)
    monkeypatch.setattr(_threads, "_DEFAULT_THREADS", n)
    got = _threads.plan_threads(1e12, power_of_two=True)
    assert got & (got - 1) == 0 and got <= n and 2 * got > n


def test_fit_records_and_restores_the_thread_count():
    rng = np.random.RandomState(0)
    X, y = rng.rand(60, 5), rng.randint(0, 2, 60)
    before = torch.get_num_threads()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        clf = KANClassifier((4,), max_epochs=2, random_state=0).fit(X, y)
    assert clf.n_threads_ == 1  # a tiny model: one thread
    assert torch.get_num_threads() == before


def test_using_threads_restores_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(ZeroDivisionError), _threads.using_threads(1):
        assert torch.get_num_threads() == 1
        1 / 0  # noqa: B018
    assert torch.get_num_threads() == before


def _spy_threads(monkeypatch):
    """Record torch's thread count in the fused layers and the input scaling of training
    batches (not in the two-row pass that counts a network's multiply-adds)."""
    from sklearn_kan.nn import _fused, models

    seen = {"layers": set(), "scaling": set()}
    layer_forward, scaled = _fused._layer_forward, models._InputScaling._scaled

    def spy_layer(x, *args):
        if len(x) > 2:
            seen["layers"].add(torch.get_num_threads())
        return layer_forward(x, *args)

    def spy_scaled(self, x):
        if len(x) > 2:
            seen["scaling"].add(torch.get_num_threads())
        return scaled(self, x)

    monkeypatch.setattr(_fused, "_layer_forward", spy_layer)
    monkeypatch.setattr(models._InputScaling, "_scaled", spy_scaled)
    return seen


def _two_threads(monkeypatch):
    from sklearn_kan import _base

    monkeypatch.setattr(_base, "plan_threads", lambda macs, power_of_two=False: 2)


def test_a_flat_kan_fit_runs_only_the_fused_layers_in_parallel(monkeypatch):
    # Small operations (scaling, norms, loss, optimizer) on one thread, the fused
    # layers on the planned two; the same model as with two threads everywhere.
    from sklearn_kan import _base

    _two_threads(monkeypatch)
    rng = np.random.RandomState(0)
    X, y = rng.rand(300, 12).astype(np.float32), rng.randint(0, 3, 300)
    before = torch.get_num_threads()
    seen = _spy_threads(monkeypatch)
    split = KANClassifier((8,), max_epochs=2, batch_size=100, random_state=0).fit(X, y)
    assert seen == {"layers": {2}, "scaling": {1}}
    assert split.n_threads_ == 2 and torch.get_num_threads() == before
    monkeypatch.setattr(_base.BaseKAN, "_fit_threads", _base.BaseTorchEstimator._fit_threads)
    seen = _spy_threads(monkeypatch)
    everywhere = KANClassifier((8,), max_epochs=2, batch_size=100, random_state=0).fit(X, y)
    assert seen == {"layers": {2}, "scaling": {2}}
    np.testing.assert_allclose(
        split.predict_proba(X), everywhere.predict_proba(X), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("params", [{"grid_update_epochs": (1,)}, {"lamb": 0.01}, {"basis": "rbf"}])
def test_fits_with_large_work_outside_the_fused_layers_keep_every_thread(monkeypatch, params):
    _two_threads(monkeypatch)
    rng = np.random.RandomState(0)
    X, y = rng.rand(300, 12).astype(np.float32), rng.randint(0, 3, 300)
    seen = _spy_threads(monkeypatch)
    KANClassifier((8,), max_epochs=2, batch_size=100, random_state=0, **params).fit(X, y)
    assert seen["scaling"] == {2}


def test_a_thread_count_of_the_users_own_is_used_for_everything(monkeypatch):
    # As if torch.set_num_threads had been called after importing sklearn_kan.
    _two_threads(monkeypatch)
    monkeypatch.setattr(_threads, "_DEFAULT_THREADS", torch.get_num_threads() + 1)
    assert _threads.user_thread_count() == torch.get_num_threads()
    rng = np.random.RandomState(0)
    X, y = rng.rand(300, 12).astype(np.float32), rng.randint(0, 3, 300)
    seen = _spy_threads(monkeypatch)
    KANClassifier((8,), max_epochs=2, batch_size=100, random_state=0).fit(X, y)
    assert seen["scaling"] == {2}
