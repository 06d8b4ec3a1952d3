"""Native cubic B-spline kernels: built once per machine, cached on disk, loaded in milliseconds.

The two kernels behind :mod:`sklearn_kan.nn._fused` (features of a uniform cubic
B-spline layer, and their input gradient) are about forty lines of C, below. The
first process on a machine that needs them compiles them with the system C
compiler (``$CC``, else ``cc``, ``gcc`` or ``clang``; 0.1-0.3 s) into a shared
library in the cache folder; every later process loads that file with
:mod:`ctypes` (a few milliseconds) and checks it once against the eager kernels.

Why this and not a JIT library or inductor: a C compiler is on every Linux
machine that builds Python packages, the code is short enough to read, it
compiles in a fraction of a second and adds no dependency; inductor's on-disk
cache still costs seconds per fresh process, and its key ignores the CPU's
vector instruction set (code made for AVX-512 was loaded under
``ATEN_CPU_CAPABILITY=avx2``). Numba gives the same speed at the price of a
large dependency and seconds of import and compile. See ``docs/performance.md``.

**The cache key** is a hash of the C source, the compiler flags, the torch
version, the platform and the CPU (its model and instruction-set flags, and
torch's CPU capability): a library built for another CPU, compiler flags or
torch is never loaded, whatever the cache folder holds. A file that cannot be
loaded or fails the check against the eager kernels is rebuilt once; two
processes building at once each write a private file and rename it into place.

**Where**: ``$SKLEARN_KAN_CACHE`` if set, else ``$XDG_CACHE_HOME/sklearn_kan``,
else ``~/.cache/sklearn_kan``; a temporary folder of the process where none is
writable. Whether they are used at all is decided in :mod:`sklearn_kan.nn._fused`
(``set_kernels``, ``SKLEARN_KAN_KERNELS=eager``).

**Threads**: the kernels are parallel over rows with OpenMP, linked against the
OpenMP runtime that torch has already loaded (the same ``libgomp.so.1``), so
they share torch's thread pool and its waiting policy; the caller passes the
thread count (torch's). Every row is computed by the same code whatever the
thread count, so results do not depend on it.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

__all__ = ["NativeKernels", "cache_dir", "load"]

_HEADER = r"""
#include <math.h>
#include <stdint.h>
#include <string.h>

/* sigmoid in float32 with exp by range reduction and Cephes' degree-6 polynomial
   (about 1 ulp): unlike libm's expf it vectorizes, and the SiLU row would otherwise
   cost more than the eight B-spline rows together. 0 where exp(-x) overflows, NaN
   stays NaN (through x in the callers), as torch.sigmoid. */
static inline float sigmoid_f32(float x)
{
    const float a = -x;
    float c = a < 88.0f ? a : 88.0f; /* NaN -> 88 */
    c = c > -88.0f ? c : -88.0f;
    const float n = rintf(c * 1.44269504088896341f);
    const float r = c - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    const float e = (p * r * r + r + 1.0f) * scale;
    return a > 88.0f ? 0.0f : 1.0f / (1.0f + e);
}

static inline double sigmoid_f64(double x) { return 1.0 / (1.0 + exp(-x)); }
"""

_SOURCE = r"""
/* Features of a uniform cubic B-spline layer, feature-major: out[r, 0, i] = silu(x[r, i]),
   out[r, 1 + j, i] = N3(u - j - 2) with u = (x[r, i] - start[i]) * inv[i] and the
   symmetric cardinal form N3(s) = ((2 - |s|)_+^3 - 4 (1 - |s|)_+^3) / 6, written as
   (c (2 - |s|))_+^3 - (d (1 - |s|))_+^3 with c^3 = 1/6 and d^3 = 4/6 (ten operations
   a value, no division). */
void forward_SUFFIX(const REAL *restrict x, int64_t rows, int64_t in,
                    const REAL *restrict start, const REAL *restrict inv, int64_t n,
                    REAL *restrict out, int threads)
{
    const int64_t width = (n + 1) * in;
    const REAL c = (REAL)0.55032120814910446, d = (REAL)0.87358046473629886;
    #pragma omp parallel for schedule(static) num_threads(threads) if(threads > 1)
    for (int64_t r = 0; r < rows; ++r) {
        const REAL *restrict xr = x + r * in;
        REAL *restrict o = out + r * width;
        for (int64_t i = 0; i < in; ++i)
            o[i] = xr[i] * SIGMOID(xr[i]);
        for (int64_t j = 0; j < n; ++j) {
            REAL *restrict oj = o + (j + 1) * in;
            const REAL off = (REAL)(j + 2);
            for (int64_t i = 0; i < in; ++i) {
                const REAL a = FABS((xr[i] - start[i]) * inv[i] - off);
                REAL q = (REAL)2 * c - c * a, p = d - d * a;
                q = q < 0 ? (REAL)0 : q; /* clamp_min(0) that keeps NaN, as torch's */
                p = p < 0 ? (REAL)0 : p;
                oj[i] = q * q * q - p * p * p;
            }
        }
    }
}

/* Input gradient from the feature gradient g (rows, n + 1, in), recomputed from x:
   silu'(x) g0 + inv * sum_j g_{1+j} N3'(u - j - 2), with
   N3'(s) = (2 (1 - |s|)_+^2 - (2 - |s|)_+^2 / 2) sign(s) = (p' - q')(p' + q') sign(s),
   p' = sqrt(2) (1 - |s|)_+, q' = (2 - |s|)_+ / sqrt(2). */
void backward_SUFFIX(const REAL *restrict x, const REAL *restrict g, int64_t rows, int64_t in,
                     const REAL *restrict start, const REAL *restrict inv, int64_t n,
                     REAL *restrict gx, int threads)
{
    const int64_t width = (n + 1) * in;
    const REAL h = (REAL)0.70710678118654752, t = (REAL)1.4142135623730951;
    #pragma omp parallel for schedule(static) num_threads(threads) if(threads > 1)
    for (int64_t r = 0; r < rows; ++r) {
        const REAL *restrict xr = x + r * in;
        const REAL *restrict gr = g + r * width;
        REAL *restrict acc = gx + r * in;
        for (int64_t i = 0; i < in; ++i)
            acc[i] = (REAL)0;
        for (int64_t j = 0; j < n; ++j) {
            const REAL *restrict gj = gr + (j + 1) * in;
            const REAL off = (REAL)(j + 2);
            for (int64_t i = 0; i < in; ++i) {
                const REAL s = (xr[i] - start[i]) * inv[i] - off;
                const REAL a = FABS(s);
                REAL q = (REAL)2 * h - h * a, p = t - t * a;
                q = q < 0 ? (REAL)0 : q;
                p = p < 0 ? (REAL)0 : p;
                const REAL dv = (p - q) * (p + q);
                acc[i] += gj[i] * (s < 0 ? -dv : dv);
            }
        }
        for (int64_t i = 0; i < in; ++i) {
            const REAL v = xr[i];
            const REAL sig = SIGMOID(v);
            acc[i] = gr[i] * (sig * ((REAL)1 + v * ((REAL)1 - sig))) + acc[i] * inv[i];
        }
    }
}
"""


def _c_source() -> str:
    parts = [_HEADER]
    for real, suffix, fns in (("float", "f32", "f"), ("double", "f64", "")):
        parts.append(
            _SOURCE.replace("SUFFIX", suffix)
            .replace("REAL", real)
            .replace("SIGMOID(", f"sigmoid_{suffix}(")
            .replace("FABS(", f"fabs{fns}(")
        )
    return "\n".join(parts)


# Tried in order until one compiles: the CPU's own instruction set (with its widest
# vectors, where it has AVX-512) with OpenMP, then without OpenMP (Apple's clang has
# none), then portable code. No fast-math: the
# kernels must give the eager kernels' values to rounding, infinities and NaN included.
_FLAG_SETS = (
    ("-O3", "-march=native", "-mprefer-vector-width=512", "-fopenmp", "-fno-math-errno"),
    ("-O3", "-march=native", "-fopenmp", "-fno-math-errno"),
    ("-O3", "-march=native", "-fno-math-errno"),
    ("-O3", "-mcpu=native", "-fno-math-errno"),
    ("-O3",),
)

_DTYPES = {torch.float32: "f32", torch.float64: "f64"}


class NativeKernels:
    """The loaded library: ``forward`` and ``backward`` per dtype, and how it was had."""

    def __init__(
        self, lib: ctypes.CDLL, path: Path, flags: tuple[str, ...], seconds: float, built: bool
    ) -> None:
        self.path = path
        self.flags = flags
        self.seconds = seconds
        self.built = built
        self.openmp = "-fopenmp" in flags
        i64, ptr, c_int = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int
        self._forward, self._backward = {}, {}
        for dtype, suffix in _DTYPES.items():
            fwd = getattr(lib, f"forward_{suffix}")
            fwd.argtypes = [ptr, i64, i64, ptr, ptr, i64, ptr, c_int]
            fwd.restype = None
            bwd = getattr(lib, f"backward_{suffix}")
            bwd.argtypes = [ptr, ptr, i64, i64, ptr, ptr, i64, ptr, c_int]
            bwd.restype = None
            self._forward[dtype], self._backward[dtype] = fwd, bwd
        self._lib = lib  # kept alive with the function pointers

    def forward(self, x, start, inv_step, n: int, out, threads: int) -> None:
        """Write the features of ``x`` (rows, in) into ``out`` (rows, n + 1, in)."""
        rows, width = x.shape
        self._forward[x.dtype](
            x.data_ptr(),
            rows,
            width,
            start.data_ptr(),
            inv_step.data_ptr(),
            n,
            out.data_ptr(),
            threads,
        )

    def backward(self, x, grad, start, inv_step, n: int, out, threads: int) -> None:
        """Write the input gradient of ``x`` from the feature gradient ``grad`` into ``out``."""
        rows, width = x.shape
        self._backward[x.dtype](
            x.data_ptr(),
            grad.data_ptr(),
            rows,
            width,
            start.data_ptr(),
            inv_step.data_ptr(),
            n,
            out.data_ptr(),
            threads,
        )


class _Loaded:
    """What this process has: the kernels, or why none (both None until the first use)."""

    kernels: NativeKernels | None = None
    reason: str | None = None
    done = False


_LOCK = threading.Lock()


def cache_dir() -> Path:
    """The folder that holds the built kernels (see the module's docstring)."""
    env = os.environ.get("SKLEARN_KAN_CACHE", "").strip()
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "sklearn_kan"


def _cpu_identity() -> str:
    """The CPU's model and instruction-set flags, as this platform tells them."""
    parts = [platform.machine(), platform.processor(), torch.backends.cpu.get_cpu_capability()]
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        name = line.split(":", 1)[0].strip()
        if name in ("model name", "flags", "Features", "CPU implementer", "CPU part"):
            parts.append(line)
        elif not line.strip() and len(parts) > 3:
            break  # the first processor is enough: all are the same model
    return "\n".join(parts)


def cache_key(flags: tuple[str, ...]) -> str:
    """A hash of everything that decides whether a built library is right for this process."""
    text = "\n".join(
        [_c_source(), " ".join(flags), torch.__version__, sys.platform, _cpu_identity()]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _compiler() -> str | None:
    env = os.environ.get("CC", "").strip()
    if env:
        return shutil.which(env.split()[0])
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _suffix() -> str:
    return ".dll" if sys.platform == "win32" else ".so"


def load() -> NativeKernels | None:
    """The native kernels of this process, built or loaded on the first call; None if none.

    ``reason()`` says why there are none. Never raises: any failure leaves the
    eager kernels to serve.
    """
    if _Loaded.done:
        return _Loaded.kernels
    with _LOCK:
        if not _Loaded.done:
            begin = time.perf_counter()
            try:
                _Loaded.kernels, _Loaded.reason = _prepare(begin)
            except Exception as exc:  # a toolchain or file-system failure: eager kernels
                _Loaded.kernels, _Loaded.reason = None, f"{type(exc).__name__}: {exc}"[:500]
            _Loaded.done = True
    return _Loaded.kernels


def reason() -> str | None:
    """Why no native kernels serve (None while they do, or before the first use)."""
    return _Loaded.reason


def _reset() -> None:
    """Forget what this process loaded (tests): the next :func:`load` starts afresh."""
    with _LOCK:
        _Loaded.kernels, _Loaded.reason, _Loaded.done = None, None, False


def _prepare(begin: float) -> tuple[NativeKernels | None, str | None]:
    folder = _writable(cache_dir())
    # A library built earlier for one of the flag sets (the most specific first).
    for flags in _FLAG_SETS:
        path = folder / f"kernels-{cache_key(flags)}{_suffix()}"
        if path.exists():
            kernels = _open(path, flags, begin, built=False)
            if kernels is not None:
                return kernels, None
            _remove(path)  # corrupt, or wrong: rebuilt below
    cc = _compiler()
    if cc is None:
        return None, "no C compiler found (set CC, or install cc/gcc/clang)"
    errors = []
    for flags in _FLAG_SETS:
        path = folder / f"kernels-{cache_key(flags)}{_suffix()}"
        error = _build(cc, flags, path)
        if error:
            errors.append(error)
            continue
        kernels = _open(path, flags, begin, built=True)
        if kernels is not None:
            return kernels, None
        errors.append(f"the library built with {' '.join(flags)} failed its check")
        _remove(path)
    return None, "; ".join(errors)[:500]


def _writable(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-", delete=True)
        probe.close()
        return folder
    except OSError:
        return Path(tempfile.mkdtemp(prefix="sklearn_kan-"))


def _build(cc: str, flags: tuple[str, ...], path: Path) -> str | None:
    """Compile the kernels into ``path`` (atomically); the compiler's error, or None."""
    with tempfile.TemporaryDirectory(prefix="sklearn_kan-build-") as tmp:
        src = Path(tmp) / "kernels.c"
        src.write_text(_c_source())
        part = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
        cmd = [cc, *flags, "-shared", "-fPIC", "-o", str(part), str(src), "-lm"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"{cc} could not run: {exc}"
        if done.returncode != 0:
            _remove(part)
            return f"{' '.join(flags)}: {done.stderr.strip()[-300:]}"
        os.replace(part, path)  # another process's rename wins or loses whole, never half
    return None


def _open(path: Path, flags, begin: float, built: bool) -> NativeKernels | None:
    try:
        lib = ctypes.CDLL(str(path))
        kernels = NativeKernels(lib, path, flags, 0.0, built)
    except (OSError, AttributeError):
        return None
    if not _check(kernels):
        return None
    kernels.seconds = time.perf_counter() - begin
    return kernels


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _check(kernels: NativeKernels) -> bool:
    """The library's kernels against the eager ones, on sizes with vector parts and tails."""
    from ._fused import _cubic_backward_eager, _cubic_forward_eager, _offsets

    gen = torch.Generator().manual_seed(0)
    for dtype in _DTYPES:
        for rows, width, n in ((3, 37, 8), (2, 1, 1), (5, 70, 5)):
            x = (torch.rand(rows, width, generator=gen, dtype=torch.float64) * 4 - 2).to(dtype)
            x[0, 0] = 10.0
            x[-1, -1] = -10.0
            start = torch.full((width,), -1.7, dtype=dtype)
            inv = torch.full((width,), 2.5, dtype=dtype)
            grad = torch.randn(rows, n + 1, width, generator=gen, dtype=torch.float64).to(dtype)
            off = _offsets(n, x)
            want_f = _cubic_forward_eager(x, start, inv, off)
            want_b = _cubic_backward_eager(x, grad, start, inv, off)
            got_f = torch.empty_like(want_f)
            got_b = torch.empty_like(want_b)
            for threads in (1, 2):
                kernels.forward(x, start, inv, n, got_f, threads)
                kernels.backward(x, grad, start, inv, n, got_b, threads)
                tol = 1e-5 if dtype == torch.float32 else 1e-12
                if not (
                    torch.allclose(got_f, want_f, rtol=tol, atol=tol)
                    and torch.allclose(got_b, want_b, rtol=tol, atol=tol)
                ):
                    return False
    return True
