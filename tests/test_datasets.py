"""Tests for sklearn_kan.datasets: the IDX reader, the cache and the downloads.

Downloads are only ever made from HTTP servers on 127.0.0.1 started here; an autouse
fixture empties the mirror lists so that no test can reach the internet by accident.
"""

import functools
import gzip
import hashlib
import http.server
import os
import re
import shutil
import socket
import struct
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pooch
import pytest
from numpy.testing import assert_array_equal
from sklearn.utils import Bunch
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_kan import datasets
from sklearn_kan.datasets import fetch_fashion_mnist, fetch_mnist, load_idx

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
ALL_FILES = FILES["train"] + FILES["test"]


def _shared_data():
    """The shared read-only copy of the data sets, or None."""
    for candidate in (
        os.environ.get("SKLEARN_KAN_DATA"),
        Path(__file__).resolve().parents[2] / "shared" / "data",
    ):
        if candidate and all((Path(candidate) / "mnist" / f).is_file() for f in ALL_FILES):
            return Path(candidate)
    return None


SHARED = _shared_data()
# Real-data runs read the data sets outside the repository (../shared/data beside
# this checkout, or $SKLEARN_KAN_DATA): slow, deselected by default, skipped with this
# reason where the files are absent. Run them with `python -m pytest -m slow`.
needs_shared = pytest.mark.skipif(
    SHARED is None,
    reason="real MNIST files not found in $SKLEARN_KAN_DATA or ../shared/data",
)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No internet: no mirrors unless a test sets loopback ones, and no proxies."""
    for name in datasets.MIRRORS:
        monkeypatch.setitem(datasets.MIRRORS, name, [])
    for var in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("SKLEARN_KAN_DATA", raising=False)


def _idx_bytes(array):
    codes = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
    array = np.asarray(array)
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype.str[1:]], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write_idx(path, array, compress=True):
    raw = _idx_bytes(array)
    # mtime=0 makes the gzip bytes, and so the checksums, reproducible.
    Path(path).write_bytes(gzip.compress(raw, mtime=0) if compress else raw)
    return path


def _no_writes(monkeypatch):
    """Make every way the loader could write fail loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"unexpected write: {args}")

    # What a download writes with: pooch's temporary file, folder and final move.
    for module, name in [
        (tempfile, "NamedTemporaryFile"),
        (tempfile, "mkstemp"),
        (shutil, "move"),
        (os, "replace"),
        (os, "rename"),
        (os, "makedirs"),
        (Path, "mkdir"),
    ]:
        monkeypatch.setattr(module, name, refuse)


# --- (a) the real files ---------------------------------------------------------

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def real_mnist():
    if SHARED is None:
        pytest.skip("real MNIST files not found in $SKLEARN_KAN_DATA or ../shared/data")
    return fetch_mnist(data_home=SHARED, subset="all", download_if_missing=False)


@pytest.mark.slow
@needs_shared
def test_real_mnist(real_mnist, monkeypatch):
    _no_writes(monkeypatch)  # the shared copy is read-only: reading must not write
    train = fetch_mnist(data_home=SHARED, download_if_missing=False)
    assert isinstance(train, Bunch)
    assert train.data.shape == (60000, 784) and train.data.dtype == np.uint8
    assert train.images.shape == (60000, 28, 28) and train.images.dtype == np.uint8
    assert train.target.shape == (60000,) and train.target.dtype == np.int64
    assert np.bincount(train.target).tolist() == MNIST_TRAIN_COUNTS
    assert round(float(train.data.mean()), 3) == 33.318
    assert round(float(train.data.std()), 3) == 78.567
    assert train.data.min() == 0 and train.data.max() == 255
    assert_array_equal(train.images[7], train.data[7].reshape(28, 28))
    assert train.feature_names[:2] == ["px_0_0", "px_0_1"] and len(train.feature_names) == 784
    assert train.target_names.tolist() == [str(d) for d in range(10)]
    assert train.frame is None and "MNIST" in train.DESCR

    # "all" is train then test, in the original order.
    assert real_mnist.data.shape == (70000, 784)
    assert_array_equal(real_mnist.data[:60000], train.data)
    assert np.bincount(real_mnist.target[60000:]).tolist() == MNIST_TEST_COUNTS
    assert real_mnist.target[60000:60005].tolist() == [7, 2, 1, 0, 4]


@pytest.mark.slow
@needs_shared
def test_real_mnist_test_subset_frame_and_xy(real_mnist):
    pd = pytest.importorskip("pandas")
    X, y = fetch_mnist(data_home=SHARED, subset="test", download_if_missing=False, return_X_y=True)
    assert_array_equal(X, real_mnist.data[60000:])
    assert_array_equal(y, real_mnist.target[60000:])
    bunch = fetch_mnist(data_home=str(SHARED), subset="test", as_frame=True)
    assert isinstance(bunch.data, pd.DataFrame) and bunch.data.shape == (10000, 784)
    assert isinstance(bunch.target, pd.Series) and bunch.target.name == "target"
    assert bunch.target.dtype == np.int64
    assert bunch.frame.shape == (10000, 785)
    assert list(bunch.frame.columns[[0, 29, -1]]) == ["px_0_0", "px_1_1", "target"]
    assert_array_equal(bunch.data.to_numpy(), X)


@pytest.mark.slow
def test_real_fashion_mnist(monkeypatch):
    if SHARED is None or not (SHARED / "fashion-mnist" / FILES["train"][0]).is_file():
        pytest.skip("real Fashion-MNIST files not found in $SKLEARN_KAN_DATA or ../shared/data")
    _no_writes(monkeypatch)
    monkeypatch.setenv("SKLEARN_KAN_DATA", str(SHARED))  # the default data_home
    fashion = fetch_fashion_mnist(subset="all", download_if_missing=False)
    assert fashion.data.shape == (70000, 784) and fashion.data.dtype == np.uint8
    assert np.bincount(fashion.target[:60000]).tolist() == [6000] * 10
    assert np.bincount(fashion.target[60000:]).tolist() == [1000] * 10
    assert round(float(fashion.data[:60000].mean()), 3) == 72.940
    assert round(float(fashion.data[:60000].std()), 3) == 90.021
    assert fashion.target_names[[0, 9]].tolist() == ["T-shirt/top", "Ankle boot"]


@pytest.mark.slow
def test_checksum_table_matches_readme():
    readme = Path(__file__).resolve().parents[2] / "shared" / "data" / "README.md"
    if not readme.is_file():
        pytest.skip(f"{readme} not found")
    table = {}
    section = None
    for line in readme.read_text().splitlines():
        if line.startswith("## ") and line.rstrip().endswith("/"):
            section = line[3:].strip().rstrip("/")
        cells = [c.strip() for c in line.strip("|").split("|")]
        if section and len(cells) == 6 and cells[0].endswith(".gz"):
            table.setdefault(section, {})[cells[0]] = (int(cells[3]), cells[4])
    assert table == datasets._CHECKSUMS


# --- (b) the IDX reader ---------------------------------------------------------


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("compress", [True, False])
def test_load_idx_round_trip(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    array = (rng.random((3, 4, 5)) * 100 - 50).astype(dtype)
    path = _write_idx(tmp_path / "x.idx", array, compress)
    loaded = load_idx(path)
    assert loaded.shape == (3, 4, 5)
    assert loaded.dtype == np.dtype(dtype).newbyteorder("=")
    assert loaded.flags.writeable and loaded.flags.owndata
    assert_array_equal(loaded, array)


def test_load_idx_one_dimension(tmp_path):
    path = _write_idx(tmp_path / "labels.gz", np.arange(10, dtype=np.uint8))
    assert_array_equal(load_idx(str(path)), np.arange(10))


def test_load_idx_truncated_payload(tmp_path):
    raw = _idx_bytes(np.zeros((4, 28, 28), dtype=np.uint8))
    path = tmp_path / "cut-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(ValueError, match=r"cut-idx3-ubyte.gz: truncated IDX payload.*3036 bytes"):
        load_idx(path)
    path.write_bytes(raw + b"\x00")
    with pytest.raises(ValueError, match=r"too long IDX payload"):
        load_idx(path)


def test_load_idx_truncated_header(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(_idx_bytes(np.zeros((2, 3, 4), dtype=np.uint8))[:10])
    with pytest.raises(ValueError, match=r"short: truncated IDX header: 3 dimensions need 16"):
        load_idx(path)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="no header"):
        load_idx(path)


@pytest.mark.parametrize(
    ("magic", "match"),
    [
        (b"\x01\x00\x08\x01", "bad magic number 0x01000801"),
        (b"\x00\x00\x07\x01", "bad magic number 0x00000701"),
    ],
)
def test_load_idx_bad_magic(tmp_path, magic, match):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(magic + _idx_bytes(np.zeros(3, dtype=np.uint8))[4:]))
    with pytest.raises(ValueError, match=rf"bad\.gz: not an IDX file: {match}"):
        load_idx(path)


def test_load_idx_damaged_gzip(tmp_path):
    path = tmp_path / "damaged.gz"
    packed = gzip.compress(_idx_bytes(np.zeros((50, 28, 28), dtype=np.uint8)))
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ValueError, match=r"damaged\.gz: damaged gzip stream"):
        load_idx(path)


# --- (c) the cache and the downloads --------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Server:
    """A loopback HTTP server in a thread, serving ``root``; records request paths."""

    def __init__(self, root, handler=_QuietHandler):
        requests = self.requests = []

        class Recording(handler):
            def do_GET(self):
                requests.append(self.path)
                super().do_GET()

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Recording, directory=str(root))
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def serve():
    servers = []

    def start(root, handler=_QuietHandler):
        servers.append(_Server(root, handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def dead_url():
    """A loopback URL whose port nothing listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """Tiny but well-formed MNIST and Fashion-MNIST file sets, with checksums in place.

    Returns the server root (holding ``mnist/`` and ``fashion-mnist/``) and the
    arrays written, by data set and subset.
    """
    root = tmp_path / "mirror"
    rng = np.random.default_rng(0)
    arrays = {}
    for name, n_train, n_test in (("mnist", 6, 4), ("fashion-mnist", 5, 3)):
        (root / name).mkdir(parents=True)
        table = {}
        for subset, n in (("train", n_train), ("test", n_test)):
            images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
            labels = rng.integers(0, 10, size=n, dtype=np.uint8)
            arrays[name, subset] = (images, labels)
            for filename, array in zip(FILES[subset], (images, labels)):
                path = _write_idx(root / name / filename, array)
                data = path.read_bytes()
                table[filename] = (len(data), hashlib.sha256(data).hexdigest())
        monkeypatch.setitem(datasets._CHECKSUMS, name, table)
    return root, arrays


def _cache_listing(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_skips_dead_mirror(tiny, serve, dead_url, tmp_path, monkeypatch):
    root, arrays = tiny
    server = serve(root)
    monkeypatch.setitem(datasets.MIRRORS, "mnist", [dead_url, server.url + "mnist/"])
    home = tmp_path / "home"
    bunch = fetch_mnist(data_home=home, subset="all")
    train, test = arrays["mnist", "train"], arrays["mnist", "test"]
    assert_array_equal(bunch.images, np.concatenate([train[0], test[0]]))
    assert_array_equal(bunch.target, np.concatenate([train[1], test[1]]))
    assert bunch.data.shape == (10, 784) and bunch.target.dtype == np.int64
    assert _cache_listing(home / "mnist") == sorted(ALL_FILES)  # and no temporary files
    assert len(server.requests) == 4

    # A second call reads the cache and writes nothing.
    _no_writes(monkeypatch)
    again = fetch_mnist(data_home=home, subset="all", download_if_missing=False)
    assert_array_equal(again.data, bunch.data)
    assert len(server.requests) == 4


def test_download_only_the_subset(tiny, serve, tmp_path, monkeypatch):
    root, arrays = tiny
    server = serve(root)
    monkeypatch.setitem(datasets.MIRRORS, "fashion-mnist", [server.url + "fashion-mnist/"])
    X, y = fetch_fashion_mnist(data_home=tmp_path, subset="test", return_X_y=True)
    assert_array_equal(X, arrays["fashion-mnist", "test"][0].reshape(3, 784))
    assert_array_equal(y, arrays["fashion-mnist", "test"][1])
    assert sorted(server.requests) == sorted("/fashion-mnist/" + f for f in FILES["test"])


def test_corrupt_mirror_leaves_nothing(tiny, serve, tmp_path, monkeypatch):
    root, _ = tiny
    bad_root = tmp_path / "bad"
    (bad_root / "mnist").mkdir(parents=True)
    for filename in ALL_FILES:  # right sizes, wrong bytes
        data = bytearray((root / "mnist" / filename).read_bytes())
        data[-5] ^= 0xFF
        (bad_root / "mnist" / filename).write_bytes(bytes(data))
    bad = serve(bad_root)
    monkeypatch.setitem(datasets.MIRRORS, "mnist", [bad.url + "mnist/"])
    home = tmp_path / "home"
    with pytest.raises(OSError, match=r"every mirror failed") as info:
        fetch_mnist(data_home=home)
    assert f"{bad.url}mnist/train-images-idx3-ubyte.gz: ValueError: SHA256 hash" in str(info.value)
    assert _cache_listing(home / "mnist") == []

    # A good mirror after the corrupt one is used.
    good = serve(root)
    monkeypatch.setitem(datasets.MIRRORS, "mnist", [bad.url + "mnist/", good.url + "mnist/"])
    assert fetch_mnist(data_home=home).data.shape == (6, 784)
    assert _cache_listing(home / "mnist") == sorted(FILES["train"])


def test_every_failure_is_listed(tiny, serve, dead_url, tmp_path, monkeypatch):
    root, _ = tiny
    server = serve(root)
    mirrors = [dead_url, server.url + "missing/", server.url]
    monkeypatch.setitem(datasets.MIRRORS, "mnist", mirrors)
    with pytest.raises(OSError) as info:
        fetch_mnist(data_home=tmp_path, subset="test")
    message = str(info.value)
    assert "Could not download t10k-images-idx3-ubyte.gz for mnist" in message
    assert re.search(
        rf"{re.escape(dead_url)}t10k-images-idx3-ubyte.gz: ConnectionError: .*refused", message
    )
    assert f"{server.url}missing/t10k-images-idx3-ubyte.gz: HTTPError: 404" in message
    assert message.count("\n  - ") == 3


def test_wrong_size_is_reported(tiny, serve, tmp_path, monkeypatch):
    root, _ = tiny
    size, sha = datasets._CHECKSUMS["mnist"][FILES["test"][0]]
    monkeypatch.setitem(
        datasets._CHECKSUMS["mnist"], FILES["test"][0], (size - 10, sha)
    )  # the mirror now sends 10 bytes too many
    server = serve(root)
    monkeypatch.setitem(datasets.MIRRORS, "mnist", [server.url + "mnist/"])
    with pytest.raises(OSError, match=rf"{size} bytes, expected {size - 10}"):
        fetch_mnist(data_home=tmp_path, subset="test")
    assert _cache_listing(tmp_path / "mnist") == []


class _CutHandler(_QuietHandler):
    """Announces the full length, sends half of the file, and hangs up."""

    def do_GET(self):
        data = (Path(self.directory) / self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.close_connection = True


def test_interrupted_transfer_leaves_nothing(tiny, serve, tmp_path, monkeypatch):
    root, _ = tiny
    server = serve(root, _CutHandler)
    monkeypatch.setitem(datasets.MIRRORS, "mnist", [server.url + "mnist/"])
    with pytest.raises(OSError, match="IncompleteRead|only .* bytes"):
        fetch_mnist(data_home=tmp_path, subset="test")
    assert _cache_listing(tmp_path / "mnist") == []


def test_killed_download_leaves_nothing(tiny, serve, tmp_path, monkeypatch):
    root, _ = tiny
    server = serve(root)
    monkeypatch.setitem(datasets.MIRRORS, "mnist", [server.url + "mnist/"])
    real_download = pooch.HTTPDownloader.__call__

    def download_then_die(self, url, output_file, *args, **kwargs):
        real_download(self, url, output_file, *args, **kwargs)
        assert Path(output_file).stat().st_size > 0  # the file is in the temporary file
        raise KeyboardInterrupt

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", download_then_die)
    with pytest.raises(KeyboardInterrupt):
        fetch_mnist(data_home=tmp_path, subset="test")
    assert _cache_listing(tmp_path / "mnist") == []


def test_file_appears_whole_in_one_rename(tiny, serve, tmp_path, monkeypatch):
    root, _ = tiny
    server = serve(root)
    monkeypatch.setitem(datasets.MIRRORS, "mnist", [server.url + "mnist/"])
    real_move = shutil.move
    moves = []

    def checked_move(src, dst):
        src, dst = Path(src), Path(dst)
        assert src.parent == dst.parent  # one folder: the move is a rename
        assert not dst.exists()  # nothing at the final name before the move
        assert src.read_bytes() == (root / "mnist" / dst.name).read_bytes()
        moves.append(dst.name)
        return real_move(src, dst)

    monkeypatch.setattr(shutil, "move", checked_move)
    fetch_mnist(data_home=tmp_path, subset="test")
    assert sorted(moves) == sorted(FILES["test"])


def test_missing_file_without_download(tiny, tmp_path):
    with pytest.raises(OSError, match=r"train-images-idx3-ubyte.gz not found in .*home.mnist"):
        fetch_mnist(data_home=tmp_path / "home", download_if_missing=False)
    assert not (tmp_path / "home").exists()


def test_corrupt_cache(tiny, serve, tmp_path, monkeypatch):
    root, arrays = tiny
    home = tmp_path / "home"
    (home / "mnist").mkdir(parents=True)
    for filename in FILES["test"]:
        (home / "mnist" / filename).write_bytes((root / "mnist" / filename).read_bytes())
    cached = home / "mnist" / FILES["test"][1]
    cached.write_bytes(b"\x00" * cached.stat().st_size)

    # Without downloads: an error that says what is wrong and what to do.
    with pytest.raises(
        OSError, match=r"t10k-labels-idx1-ubyte.gz is corrupt .*SHA-256 .*Delete it"
    ):
        fetch_mnist(data_home=home, subset="test", download_if_missing=False)

    # With downloads and only bad mirrors: an error, and the old file is left alone.
    monkeypatch.setitem(datasets.MIRRORS, "mnist", [])
    with pytest.warns(UserWarning, match="corrupt or incomplete"):
        with pytest.raises(OSError, match="no mirror configured"):
            fetch_mnist(data_home=home, subset="test")
    assert cached.read_bytes() == b"\x00" * cached.stat().st_size

    # With a good mirror: a warning, and a verified replacement.
    server = serve(root)
    monkeypatch.setitem(datasets.MIRRORS, "mnist", [server.url + "mnist/"])
    with pytest.warns(UserWarning, match=r"t10k-labels-idx1-ubyte.gz is corrupt or incomplete"):
        bunch = fetch_mnist(data_home=home, subset="test")
    assert_array_equal(bunch.target, arrays["mnist", "test"][1])
    assert server.requests == ["/mnist/" + FILES["test"][1]]


def test_truncated_cache_reported_by_size(tiny, tmp_path):
    root, _ = tiny
    (tmp_path / "mnist").mkdir()
    for filename in FILES["test"]:
        data = (root / "mnist" / filename).read_bytes()
        (tmp_path / "mnist" / filename).write_bytes(data[:-1])
    with pytest.raises(OSError, match=r"corrupt or incomplete: \d+ bytes, expected \d+"):
        fetch_mnist(data_home=tmp_path, subset="test", download_if_missing=False)


@pytest.mark.slow
@needs_shared
def test_download_real_files(serve, dead_url, tmp_path, monkeypatch, real_mnist):
    """The real checksum table against the real files, through the download path."""
    server = serve(SHARED)
    monkeypatch.setitem(datasets.MIRRORS, "mnist", [dead_url, server.url + "mnist/"])
    bunch = fetch_mnist(data_home=tmp_path, subset="test")
    assert_array_equal(bunch.data, real_mnist.data[60000:])
    for filename in FILES["test"]:
        assert (tmp_path / "mnist" / filename).read_bytes() == (
            SHARED / "mnist" / filename
        ).read_bytes()


# --- parameters, formats and defaults --------------------------------------------


def test_default_data_home(tiny, tmp_path, monkeypatch):
    root, arrays = tiny
    monkeypatch.setenv("SKLEARN_KAN_DATA", str(root))
    assert datasets._data_home(None) == root
    bunch = fetch_fashion_mnist(download_if_missing=False)
    assert_array_equal(bunch.images, arrays["fashion-mnist", "train"][0])
    assert bunch.target_names.tolist()[:2] == ["T-shirt/top", "Trouser"]
    assert "Zalando" in bunch.DESCR
    monkeypatch.delenv("SKLEARN_KAN_DATA")
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "sk"))
    assert datasets._data_home(None) == tmp_path / "sk"
    assert datasets._data_home("~/x") == Path("~/x").expanduser()


def test_as_frame_and_return_x_y(tiny):
    pd = pytest.importorskip("pandas")
    root, arrays = tiny
    images, labels = arrays["mnist", "train"]
    X, y = fetch_mnist(data_home=root, as_frame=True, return_X_y=True)
    assert isinstance(X, pd.DataFrame) and isinstance(y, pd.Series)
    assert X.shape == (6, 784) and X.columns[-1] == "px_27_27"
    assert (X.dtypes == np.uint8).all()
    assert_array_equal(y, labels)
    bunch = fetch_mnist(data_home=root, as_frame=True)
    assert_array_equal(bunch.frame["target"], labels)
    assert_array_equal(bunch.images, images)


def test_as_frame_without_pandas(tiny, monkeypatch):
    root, _ = tiny
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    with pytest.raises(ImportError, match=r"fetch_fashion_mnist\(as_frame=True\) needs pandas"):
        fetch_fashion_mnist(data_home=root, as_frame=True)


def test_data_and_images_share_pixels(tiny):
    root, _ = tiny
    bunch = fetch_mnist(data_home=root, subset="test")
    assert np.shares_memory(bunch.data, bunch.images)
    assert bunch.data.flags.writeable


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"subset": "validation"}, "'subset' parameter of fetch_mnist must be a str among"),
        ({"download_if_missing": "yes"}, "'download_if_missing' parameter"),
        ({"data_home": 3}, "'data_home' parameter"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        fetch_mnist(**kwargs)
