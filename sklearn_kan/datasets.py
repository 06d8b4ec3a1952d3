"""MNIST and Fashion-MNIST loaders in scikit-learn's ``fetch_*`` style.

Each data set is four gzip-compressed IDX files with the standard names, kept in
``<data_home>/mnist/`` and ``<data_home>/fashion-mnist/``. A file is downloaded only
when it is missing, with pooch, from the mirrors in :data:`MIRRORS`, tried in order;
every file, downloaded or cached, must match the SHA-256 and size recorded here before
it is read.

``data_home`` defaults to the ``SKLEARN_KAN_DATA`` environment variable when set, else
to :func:`sklearn.datasets.get_data_home`. A folder that already holds valid files is
only read, so a shared read-only copy can be used directly.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import warnings
import zlib
from pathlib import Path

import numpy as np
from sklearn.datasets import get_data_home
from sklearn.utils import Bunch
from sklearn.utils._param_validation import StrOptions, validate_params

__all__ = ["MIRRORS", "MissingDataError", "fetch_fashion_mnist", "fetch_mnist", "load_idx"]

MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
}
"""Base URLs tried in order for each data set; a file's URL is base + file name.

Edit (or monkeypatch) the lists to add a local or institutional mirror.
"""

# (byte size, SHA-256) of the originally published files. The size is checked first
# so that a truncated download gets a plain "expected N bytes" message.
_CHECKSUMS: dict[str, dict[str, tuple[int, str]]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": (
            9912422,
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        "train-labels-idx1-ubyte.gz": (
            28881,
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
        "t10k-images-idx3-ubyte.gz": (
            1648877,
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        "t10k-labels-idx1-ubyte.gz": (
            4542,
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": (
            26421880,
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        ),
        "train-labels-idx1-ubyte.gz": (
            29515,
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        ),
        "t10k-images-idx3-ubyte.gz": (
            4422102,
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        ),
        "t10k-labels-idx1-ubyte.gz": (
            5148,
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        ),
    },
}

_SUBSET_FILES = {
    "train": [("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")],
    "test": [("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")],
}
_SUBSET_FILES["all"] = _SUBSET_FILES["train"] + _SUBSET_FILES["test"]

_TARGET_NAMES = {
    "mnist": [str(digit) for digit in range(10)],
    "fashion-mnist": [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
}

_TIMEOUT = 60.0  # seconds without data before a mirror counts as dead
_CHUNK = 1 << 20

_FETCH_PARAMS = {
    "data_home": [str, os.PathLike, None],
    "subset": [StrOptions({"train", "test", "all"})],
    "download_if_missing": ["boolean"],
    "return_X_y": ["boolean"],
    "as_frame": ["boolean"],
}


@validate_params(_FETCH_PARAMS, prefer_skip_nested_validation=True)
def fetch_mnist(
    data_home: str | os.PathLike | None = None,
    subset: str = "train",
    download_if_missing: bool = True,
    return_X_y: bool = False,
    as_frame: bool = False,
) -> Bunch | tuple:
    """Load the MNIST handwritten digits (70,000 28 x 28 grayscale images).

    =================   ==================================
    Classes                                             10
    Samples             60,000 train + 10,000 test = 70,000
    Features            784 pixels, uint8 in 0 (paper) - 255 (ink)
    =================   ==================================

    The four IDX files (11 MB compressed) are read from ``<data_home>/mnist/`` and
    downloaded there first if missing. Each file's SHA-256 is checked on every load.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder that holds (or will hold) the ``mnist/`` subfolder. ``None`` uses the
        ``SKLEARN_KAN_DATA`` environment variable if set, else
        :func:`sklearn.datasets.get_data_home` (``~/scikit_learn_data``).
    subset : {"train", "test", "all"}, default="train"
        The 60,000 training images, the 10,000 test images, or both (training first),
        each in the original order. Only the files of the subset are read or fetched.
    download_if_missing : bool, default=True
        Download missing files. A cached file whose checksum is wrong is then
        downloaded again (with a warning) and replaced only once the new copy checks
        out. If False, a missing file raises :class:`OSError`, and so does a file with
        a wrong checksum (delete it to fetch it again).
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        Make ``data`` a pandas DataFrame (columns ``feature_names``), ``target`` a
        Series named ``"target"`` and ``frame`` a DataFrame of both. Needs pandas.

    Returns
    -------
    dataset : :class:`~sklearn.utils.Bunch`
        With the fields:

        data : ndarray of shape (n_samples, 784), dtype uint8, or DataFrame
            One image per row, row-major, 0-255. Kept as uint8 (55 MB for all
            70,000 images; float64 would be 440 MB): convert or scale it yourself,
            e.g. ``data / 255.0``, or let an estimator's validation do it.
        images : ndarray of shape (n_samples, 28, 28), dtype uint8
            The same pixels as images (a view of ``data`` unless ``as_frame``).
        target : ndarray of shape (n_samples,), dtype int64, or Series
            The digit, 0-9.
        target_names : ndarray of str
            ``"0"`` to ``"9"``: ``target_names[target]`` is a label.
        feature_names : list of str
            ``"px_<row>_<col>"``, the names :class:`~sklearn_kan.preprocessing.Flatten`
            gives.
        frame : DataFrame of shape (n_samples, 785) or None
            Data and target together when ``as_frame``, else None.
        DESCR : str
            Description of the data set, its license and citation.

    (data, target) : tuple
        If ``return_X_y``.

    Raises
    ------
    OSError
        A file is missing and ``download_if_missing`` is False, a cached file is
        corrupt, or no mirror delivered a valid copy (each mirror and why is listed).
    ValueError
        A file with a valid checksum table entry could not be parsed as IDX.

    See Also
    --------
    fetch_fashion_mnist : The same layout with Zalando article images.
    load_idx : Read one IDX file.

    Examples
    --------
    >>> from sklearn_kan.datasets import fetch_mnist
    >>> mnist = fetch_mnist(subset="test")  # doctest: +SKIP
    >>> mnist.data.shape, mnist.data.dtype  # doctest: +SKIP
    ((10000, 784), dtype('uint8'))
    >>> mnist.images.shape, mnist.target[:5]  # doctest: +SKIP
    ((10000, 28, 28), array([7, 2, 1, 0, 4]))
    """
    return _fetch("mnist", data_home, subset, download_if_missing, return_X_y, as_frame)


@validate_params(_FETCH_PARAMS, prefer_skip_nested_validation=True)
def fetch_fashion_mnist(
    data_home: str | os.PathLike | None = None,
    subset: str = "train",
    download_if_missing: bool = True,
    return_X_y: bool = False,
    as_frame: bool = False,
) -> Bunch | tuple:
    """Load Fashion-MNIST (70,000 28 x 28 grayscale images of Zalando articles).

    =================   ==================================
    Classes                                             10
    Samples             60,000 train + 10,000 test = 70,000
    Features            784 pixels, uint8 in 0 (background) - 255
    =================   ==================================

    A drop-in replacement for MNIST that is harder to classify. The four IDX files
    (30 MB compressed) are read from ``<data_home>/fashion-mnist/`` and downloaded
    there first if missing.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder that holds (or will hold) the ``fashion-mnist/`` subfolder; see
        :func:`fetch_mnist`.
    subset : {"train", "test", "all"}, default="train"
        The 60,000 training images, the 10,000 test images, or both (training first).
    download_if_missing : bool, default=True
        Download missing files (and replace corrupt ones); see :func:`fetch_mnist`.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        Return pandas objects for ``data``, ``target`` and ``frame``. Needs pandas.

    Returns
    -------
    dataset : :class:`~sklearn.utils.Bunch`
        The fields of :func:`fetch_mnist`: ``data`` (n_samples, 784) uint8,
        ``images`` (n_samples, 28, 28) uint8, ``target`` int64 in 0-9,
        ``target_names`` (``"T-shirt/top"``, ``"Trouser"``, ``"Pullover"``,
        ``"Dress"``, ``"Coat"``, ``"Sandal"``, ``"Shirt"``, ``"Sneaker"``, ``"Bag"``,
        ``"Ankle boot"``), ``feature_names``, ``frame`` and ``DESCR``.

    (data, target) : tuple
        If ``return_X_y``.

    Raises
    ------
    OSError
        A file is missing and ``download_if_missing`` is False, a cached file is
        corrupt, or no mirror delivered a valid copy.
    ValueError
        A file could not be parsed as IDX.

    See Also
    --------
    fetch_mnist : The handwritten digits.

    Examples
    --------
    >>> from sklearn_kan.datasets import fetch_fashion_mnist
    >>> X, y = fetch_fashion_mnist(subset="test", return_X_y=True)  # doctest: +SKIP
    >>> X.shape, y.shape  # doctest: +SKIP
    ((10000, 784), (10000,))
    """
    return _fetch("fashion-mnist", data_home, subset, download_if_missing, return_X_y, as_frame)


# IDX type codes (third byte of the magic number) and their big-endian numpy dtypes.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or plain.

    An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
    dimensions), one big-endian uint32 per dimension, then the values in row-major
    order. Compression is recognised from the file's first bytes, not its name.

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    array : ndarray
        Of the shape in the header and the native-endian dtype of the type code
        (uint8, int8, int16, int32, float32 or float64); writable, owns its data.

    Raises
    ------
    ValueError
        If the file is not IDX or is damaged: a bad magic number, an unknown type
        code, a header or payload shorter or longer than the header announces, or a
        broken gzip stream. The message names the file and the problem.

    Examples
    --------
    >>> import gzip, os, struct, tempfile
    >>> from sklearn_kan.datasets import load_idx
    >>> header = struct.pack(">BBBBI", 0, 0, 0x08, 1, 3)  # uint8, 1 dimension of 3
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "labels-idx1-ubyte.gz")
    ...     with gzip.open(path, "wb") as f:
    ...         _ = f.write(header + bytes([7, 2, 1]))
    ...     labels = load_idx(path)
    >>> labels
    array([7, 2, 1], dtype=uint8)
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"{path}: not an IDX file: only {len(raw)} bytes, no header.")
    zero, code, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or code not in _IDX_DTYPES:
        raise ValueError(
            f"{path}: not an IDX file: bad magic number 0x{raw[:4].hex()} (expected "
            "0x0000, a type code among "
            f"{', '.join(f'0x{c:02x}' for c in _IDX_DTYPES)}, then the number of dimensions)."
        )
    if ndim == 0:
        raise ValueError(f"{path}: the IDX header declares 0 dimensions.")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header} bytes, the "
            f"file has {len(raw)}."
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) - header != expected:
        state = "truncated" if len(raw) - header < expected else "too long"
        raise ValueError(
            f"{path}: {state} IDX payload: the header announces shape {shape} of "
            f"{dtype.name} ({expected} bytes) but {len(raw) - header} bytes follow it."
        )
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


class MissingDataError(OSError):
    """A data file is missing or damaged, and ``download_if_missing=False``.

    An :class:`OSError`, so ``except OSError`` catches it; the attributes let a
    caller word its own message (the ``sklearn-kan`` command names its flags).

    Parameters
    ----------
    message : str
        The error message.
    path : path-like
        The file that is missing or damaged.
    problem : str, default=None
        What is wrong with the file that is there (its size or checksum);
        ``None`` when the file is missing.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    problem : str or None
        What is wrong with it; ``None`` when it is missing.
    """

    def __init__(self, message: str, path, problem: str | None = None) -> None:
        super().__init__(message)
        self.path = Path(path)
        self.problem = problem


def _fetch(name, data_home, subset, download_if_missing, return_X_y, as_frame):
    """Shared body of the fetchers: find or download, verify, read, assemble."""
    folder = _data_home(data_home) / name
    images, targets = [], []
    for image_file, label_file in _SUBSET_FILES[subset]:
        image_path = _cached_file(name, folder, image_file, download_if_missing)
        label_path = _cached_file(name, folder, label_file, download_if_missing)
        part_images, part_labels = load_idx(image_path), load_idx(label_path)
        if part_images.ndim != 3 or part_labels.shape != part_images.shape[:1]:
            raise ValueError(
                f"{image_path} holds an array of shape {part_images.shape} and "
                f"{label_path} one of shape {part_labels.shape}; expected (n, rows, cols) "
                "images and n labels."
            )
        images.append(part_images)
        targets.append(part_labels.astype(np.int64))
    images = images[0] if len(images) == 1 else np.concatenate(images)
    target = targets[0] if len(targets) == 1 else np.concatenate(targets)
    n_samples, rows, cols = images.shape
    data = images.reshape(n_samples, rows * cols)  # a view: data and images share pixels
    feature_names = [f"px_{i}_{j}" for i in range(rows) for j in range(cols)]

    frame = None
    if as_frame:
        pd = _import_pandas(name)
        frame = pd.DataFrame(data, columns=feature_names)
        frame["target"] = pd.Series(target, name="target")
        data, target = frame[feature_names], frame["target"]
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        images=images,
        target=target,
        target_names=np.asarray(_TARGET_NAMES[name]),
        feature_names=feature_names,
        frame=frame,
        DESCR=_DESCR[name],
    )


def _data_home(data_home):
    if data_home is not None:
        return Path(data_home).expanduser()
    env = os.environ.get("SKLEARN_KAN_DATA")
    if env:
        return Path(env).expanduser()
    return Path(get_data_home())


def _cached_file(name, folder, filename, download_if_missing):
    """Path of a verified copy of ``filename`` in ``folder``, downloading it if allowed.

    Nothing is written when the file is present and valid.
    """
    path = folder / filename
    size, sha256 = _CHECKSUMS[name][filename]
    if path.exists():
        problem = _check_file(path, size, sha256)
        if problem is None:
            return path
        if not download_if_missing:
            raise MissingDataError(
                f"{path} is corrupt or incomplete: {problem}. Delete it to have it "
                "downloaded again, or call with download_if_missing=True.",
                path,
                problem,
            )
        warnings.warn(
            f"{path} is corrupt or incomplete ({problem}); downloading it again.",
            UserWarning,
            stacklevel=5,  # past _fetch, fetch_*, and validate_params's wrapper
        )
    elif not download_if_missing:
        raise MissingDataError(
            f"{filename} not found in {folder}, and download_if_missing is False. "
            "Pass download_if_missing=True, or set data_home (or the SKLEARN_KAN_DATA "
            "environment variable) to the folder that holds the data sets.",
            path,
        )
    _download(name, folder, filename, size, sha256)
    return path


def _check_file(path, size, sha256):
    """None if the file has the expected size and SHA-256, else what differs."""
    actual_size = path.stat().st_size
    if actual_size != size:
        return f"{actual_size} bytes, expected {size}"
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        return f"SHA-256 {digest.hexdigest()}, expected {sha256}"
    return None


def _download(name, folder, filename, size, sha256):
    """Fetch ``filename`` into ``folder`` from the mirrors in turn, with pooch.

    pooch (the downloader of ``scipy.datasets``) streams each attempt into a temporary
    file in ``folder``, checks its SHA-256 and only then moves it to its name, and
    removes it on any failure (a cut transfer, a wrong hash, Ctrl-C), so the cache never
    holds a partial or unverified file. What stays here is what pooch does not do: a
    list of mirrors per file (pooch takes one URL) with every mirror's failure in the
    error, and the size check of :func:`_check_file` once more after a download. pooch
    does not cap what a mirror sends: a wrong file is caught by its hash once it is in
    the temporary file, and then removed.
    """
    import pooch  # only when downloading: importing it pulls in requests

    downloader = pooch.HTTPDownloader(
        progressbar=False, timeout=_TIMEOUT, headers={"User-Agent": "sklearn-kan"}
    )
    failures = []
    for base in MIRRORS[name]:
        url = base + filename
        try:
            path = pooch.retrieve(
                url, f"sha256:{sha256}", fname=filename, path=folder, downloader=downloader
            )
        except (OSError, ValueError) as exc:
            # requests' errors (refused, timeouts, HTTP errors, cut transfers) are
            # OSErrors; a wrong hash or a malformed URL is a ValueError. Next mirror.
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
            continue
        problem = _check_file(Path(path), size, sha256)
        if problem is None:
            return
        os.remove(path)
        failures.append(f"{url}: {problem}")
    tried = "\n".join(f"  - {failure}" for failure in failures) or "  (no mirror configured)"
    raise OSError(
        f"Could not download {filename} for {name} into {folder}; every mirror failed:\n"
        f"{tried}\nCheck the network, or put the file there by hand (its SHA-256 must be "
        f"{sha256})."
    )


def _read_bytes(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise ValueError(f"{path}: damaged gzip stream ({exc}).") from exc


def _import_pandas(name):
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(
            f"fetch_{name.replace('-', '_')}(as_frame=True) needs pandas; install it "
            "with `pip install pandas`, or call with as_frame=False."
        ) from exc
    return pd


_DESCR = {
    "mnist": """\
.. _mnist_dataset:

MNIST handwritten digits
------------------------

**Data Set Characteristics:**

:Number of Instances: 70,000 (60,000 train, 10,000 test)
:Number of Attributes: 784 (28 x 28 grayscale pixels)
:Attribute Information: uint8, 0 (background) to 255 (full ink), row-major
:Classes: 10 digits, 0-9
:Creator: Yann LeCun, Corinna Cortes, Christopher J.C. Burges
:License: Creative Commons Attribution-Share Alike 3.0 (CC BY-SA 3.0)

Digits written by Census Bureau employees and high-school students, size-normalised
to fit a 20 x 20 box (keeping their aspect ratio), anti-aliased, and centred by centre
of mass in a 28 x 28 image. The test set's writers are disjoint from the training
set's. Samples are in the original order.

Training label counts (0-9): 5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851,
5949; training pixel mean 33.318, standard deviation 78.567.

.. rubric:: References

- Y. LeCun, C. Cortes, C.J.C. Burges. The MNIST database of handwritten digits.
- Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-based learning applied to
  document recognition. Proceedings of the IEEE 86(11), 1998.
""",
    "fashion-mnist": """\
.. _fashion_mnist_dataset:

Fashion-MNIST
-------------

**Data Set Characteristics:**

:Number of Instances: 70,000 (60,000 train, 10,000 test)
:Number of Attributes: 784 (28 x 28 grayscale pixels)
:Attribute Information: uint8, 0 (background) to 255, row-major
:Classes: 10: T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker,
    Bag, Ankle boot
:Creator: Zalando Research (Han Xiao, Kashif Rasul, Roland Vollgraf)
:License: MIT License, Copyright (c) 2017 Zalando SE

Product images from Zalando's catalogue, converted to 28 x 28 grayscale in the
layout of MNIST, as a harder drop-in replacement for it. 6,000 training and 1,000
test images per class; training pixel mean 72.940, standard deviation 90.021.

.. rubric:: References

- H. Xiao, K. Rasul, R. Vollgraf. Fashion-MNIST: a Novel Image Dataset for
  Benchmarking Machine Learning Algorithms. arXiv:1708.07747, 2017.
""",
}
