"""Three ways to a fast cubic B-spline expansion, each timed in fresh processes.

The expansion ``[silu(x), B_1..B_8]`` of a ``(1024, 784)`` float32 batch by

* ``native``: sklearn-kan's native kernel (C, built by the system compiler, loaded
  with ctypes; :mod:`sklearn_kan.nn._native`), in an empty kernel cache first;
* ``numba``: the same loops as a ``numba.njit(parallel=True, cache=True)`` function
  (skipped where numba is not installed: ``pip install numba``);
* ``inductor``: the torch expression compiled by ``torch.compile(dynamic=True)``.

Each runs twice in a new process with a new cache folder: the first process on a
machine (build or compile), then a later one (cache load). Printed: the one-off cost
of each process and the steady time of one expansion (median of 20).

Usage (from the repository root)::

    python benchmarks/bench_kernel_candidates.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

COMMON = """
import statistics, time
t0 = time.perf_counter()
import torch
torch.set_num_threads(2)
x = torch.rand(1024, 784) * 2 - 1
start, inv = torch.full((784,), -2.2), torch.full((784,), 2.5)
"""

NATIVE = (
    COMMON
    + """
from sklearn_kan.nn import _native
t1 = time.perf_counter()
kernels = _native.load()
once = time.perf_counter() - t1
out = torch.empty(1024, 9, 784)
run = lambda: kernels.forward(x, start, inv, 8, out, 2)
"""
)

NUMBA = (
    COMMON
    + """
import numpy as np
from numba import njit, prange

@njit(parallel=True, cache=True)
def forward(x, start, inv, n, out):
    for r in prange(x.shape[0]):
        for i in range(x.shape[1]):
            v = x[r, i]
            out[r, 0, i] = v / (np.float32(1) + np.exp(-v))
        for j in range(n):
            off = np.float32(j + 2)
            for i in range(x.shape[1]):
                a = abs((x[r, i] - start[i]) * inv[i] - off)
                q = max(np.float32(2) - a, np.float32(0))
                p = max(np.float32(1) - a, np.float32(0))
                out[r, j + 1, i] = (q * q * q - np.float32(4) * p * p * p) / np.float32(6)

xn, sn, iv = x.numpy(), start.numpy(), inv.numpy()
out = np.empty((1024, 9, 784), np.float32)
t1 = time.perf_counter()
forward(xn, sn, iv, 8, out)
once = time.perf_counter() - t1
run = lambda: forward(xn, sn, iv, 8, out)
"""
)

INDUCTOR = (
    COMMON
    + """
import torch.nn.functional as F

def cubic(x, start, inv, offsets):
    r = (((x - start) * inv).unsqueeze(1) - offsets).abs()
    q, p = (2 - r).clamp_min(0), (1 - r).clamp_min(0)
    return torch.cat([F.silu(x).unsqueeze(1), (q * q * q - 4 * p * p * p) / 6], 1)

fn = torch.compile(cubic, dynamic=True)
offsets = (torch.arange(8.0) + 2).unsqueeze(1)
t1 = time.perf_counter()
fn(x, start, inv, offsets)
once = time.perf_counter() - t1
run = lambda: fn(x, start, inv, offsets)
"""
)

TIMING = """
times = []
for _ in range(20):
    t = time.perf_counter(); run(); times.append(time.perf_counter() - t)
print(f"{once:.3f} {statistics.median(times) * 1e3:.2f}")
"""


def main() -> int:
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    print(
        f"{'candidate':10s} {'first process (s)':>18s} {'later process (s)':>18s} "
        f"{'steady (ms)':>12s}"
    )
    for name, code in (("native", NATIVE), ("numba", NUMBA), ("inductor", INDUCTOR)):
        with tempfile.TemporaryDirectory() as cache:
            env.update(
                SKLEARN_KAN_CACHE=cache, NUMBA_CACHE_DIR=cache, TORCHINDUCTOR_CACHE_DIR=cache
            )
            script = os.path.join(cache, f"candidate_{name}.py")  # numba caches file-backed code
            with open(script, "w") as fh:
                fh.write(code + TIMING)
            rows = []
            for _ in range(2):
                proc = subprocess.run(
                    [sys.executable, script], env=env, capture_output=True, text=True, check=False
                )
                if proc.returncode != 0:
                    rows = None
                    print(f"{name:10s} unavailable: {proc.stderr.strip().splitlines()[-1]}")
                    break
                rows.append(proc.stdout.split())
            if rows:
                print(f"{name:10s} {rows[0][0]:>18s} {rows[1][0]:>18s} {rows[1][1]:>12s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
