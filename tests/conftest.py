"""Test-session setup.

OpenMP threads that spin while waiting make torch 10-40x slower when the cores are
shared (measured here with other jobs running: 2 spinning threads against 1). The
test session, and the joblib/Dask workers it starts, wait passively instead. Set
before torch is imported (OpenMP reads it once); a value the caller set wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402

# The per-test timeout of pyproject.toml (120 s) is the default run's budget; the
# slow tests (real data, the docs build that runs the examples) get 30 minutes.
SLOW_TIMEOUT = 1800


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT))
