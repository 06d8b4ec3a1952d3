"""Test-session setup.

OpenMP threads that spin while waiting make torch 10-40x slower when the cores are
shared (measured here with other jobs running: 2 spinning threads against 1). The
test session, and the joblib/Dask workers it starts, wait passively instead. Set
before torch is imported (OpenMP reads it once); a value the caller set wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
