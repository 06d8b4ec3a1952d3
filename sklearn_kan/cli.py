"""The ``sklearn-kan`` command.

``sklearn-kan compare`` cross-validates KANs, hybrids, an MLP of matched size and a
CNN (all trained by the same loop) on one data set, prints the table and writes a
report and a figure (:class:`sklearn_kan.model_selection.ComparisonReport`)::

    sklearn-kan compare                                   # digits, offline, ~1 minute
    sklearn-kan compare --dataset mnist --downsample 7 --hidden 10 --match flops \
        --n-samples 10000 --cv 3 --repeats 2 --max-epochs 10

This module only parses arguments and builds the models; the comparison, the
statistics and the report live in :mod:`sklearn_kan.model_selection`.

Every failure the user can cause (an unknown data set or model, a missing file, a
bad number) ends with one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DATASETS", "DEFAULT_MODELS", "MODELS", "main"]

DATASETS = ("digits", "mnist", "fashion-mnist")
DEFAULT_MODELS = ("kan", "mlp", "cnn", "hybrid-linear", "hybrid-conv")
_PROG = "sklearn-kan"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sklearn-kan`` command.

    Parameters
    ----------
    argv : sequence of str, default=None
        Arguments without the program name; ``None`` reads ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 on success, 1 when the run failed (the reason is one line
        on stderr), 2 for bad arguments (argparse's message).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args, argv)
    except KeyboardInterrupt:
        print(f"{_PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the one place that turns any failure into one line
        if args.traceback:
            raise
        print(f"{_PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


# -- the compare command ---------------------------------------------------------


@dataclass
class _Model:
    """One entry of ``--models``: what it is and how to build it."""

    help: str
    build: Callable  # (settings, data) -> estimator


def _compare(args, argv: list[str]) -> int:
    from sklearn.exceptions import ConvergenceWarning, FitFailedWarning
    from sklearn.model_selection import RepeatedStratifiedKFold

    from .model_selection import ComparisonReport, compare

    models = _parse_models(args.models)
    if args.reference is not None and args.reference not in models:
        raise ValueError(f"--reference {args.reference!r} is not one of --models {models}")
    _check_out(args.out)  # before the data and the fits, which a long run would lose
    try:
        _device(args.device)
    except ValueError as exc:
        raise ValueError(f"--device {args.device}: {exc}") from None
    except RuntimeError:  # torch's error for a name that is no device
        raise ValueError(
            f"--device {args.device}: not a device; choose auto, cpu, cuda, cuda:N or mps"
        ) from None
    data = _load(args)
    estimators = {name: MODELS[name].build(args, data) for name in models}
    _say(
        f"{data.name}: {data.X.shape[0]} samples, {data.X.shape[1]} features, "
        f"{len(np.unique(data.y))} classes; {args.repeats} x {args.cv}-fold CV, "
        f"{args.max_epochs} epochs, {args.threads} thread(s); models: {', '.join(models)}"
    )
    cv = RepeatedStratifiedKFold(n_splits=args.cv, n_repeats=args.repeats, random_state=args.seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        # scikit-learn's MLP trains for exactly --max-epochs, like the others, on purpose.
        warnings.simplefilter("ignore", ConvergenceWarning)
        # Both cap the batch at the fold size; scikit-learn also warns about it.
        warnings.filterwarnings("ignore", "Got `batch_size`", UserWarning)
        # Failed fits are reported below, after the table and the report are written.
        warnings.simplefilter("ignore", FitFailedWarning)
        table, raw = compare(
            estimators,
            data.X,
            data.y,
            cv=cv,
            n_jobs=args.n_jobs,
            n_threads=args.threads,
            verbose=1,
            # A failed fit is reported and the other models are kept (--traceback:
            # the first error is raised, with its traceback).
            error_score="raise" if args.traceback else np.nan,
            return_cv_results=True,
        )
    seconds = time.perf_counter() - start
    report = ComparisonReport(
        table,
        raw,
        reference=args.reference,
        title=data.name,
        command=shlex.join([_PROG, *argv]),
        settings=_settings(args, data, seconds),
        descriptions={name: MODELS[name].help for name in models},
    )
    print(report.to_text())
    for pair in report.pairs:
        print(pair["sentence"])
    paths = report.save(args.out)
    figure = paths["figure"]
    _say(
        f"wrote {paths['report']}"
        + (f" and {figure}" if figure else " (no figure: matplotlib missing)")
    )
    _say(f"total {seconds:.1f} s")
    if report.failures:
        n_fits = len(next(iter(raw.values()))["fit_time"]) * len(raw)
        which = sorted({f["model"] for f in report.failures}, key=models.index)
        raise RuntimeError(
            f"{len(report.failures)} of the {n_fits} fits failed ({', '.join(which)}; the "
            f"errors are in {paths['report']}): {report.failures[0]['error']}"
        )
    return 0


def _check_out(out: str) -> None:
    """Create ``--out`` and check that a file can be written in it."""
    import tempfile

    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"--out {out} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OSError(f"--out {out}: cannot write there ({reason})") from None


def _settings(args, data, seconds: float) -> dict:
    return {
        "dataset": f"{data.name} ({data.source})",
        "samples x features": f"{data.X.shape[0]} x {data.X.shape[1]}",
        "classes": len(np.unique(data.y)),
        "splits": f"{args.repeats} x {args.cv} folds (RepeatedStratifiedKFold, "
        f"random_state={args.seed})",
        "epochs per fit": args.max_epochs,
        "downsample": args.downsample or "no",
        "KAN hidden layers / grid": f"{tuple(args.hidden)} / grid_size={args.grid_size}",
        "MLP matched by": args.match,
        "batch size, learning rate": f"{args.batch_size}, "
        + ("each model's default" if args.lr is None else str(args.lr)),
        "device": _device(args.device),
        "total time": f"{seconds:.1f} s",
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG, description="Kolmogorov-Arnold Networks as scikit-learn estimators."
    )
    parser.add_argument("--traceback", action="store_true", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "compare",
        help="cross-validate KANs against an MLP of matched size",
        description=(
            "Cross-validate KANs, hybrids, an MLP with as many parameters (or FLOPs) as the "
            "KAN and a CNN, all trained by the same loop, on the same repeated stratified "
            "folds, and test every difference to the reference model (corrected resampled "
            "t-test). Prints the table, writes OUT/report.md and OUT/comparison.png."
        ),
    )
    for flag, kwargs in _compare_options().items():
        p.add_argument(flag, **kwargs)
    p.set_defaults(run=_compare)
    return parser


def _int_option(low: int, default, metavar: str, help: str) -> dict:
    return {"type": _int_at_least(low), "default": default, "metavar": metavar, "help": help}


def _compare_options() -> dict[str, dict]:
    """The options of ``compare``, in the order of ``--help``: flag -> ``add_argument`` keywords."""
    return {
        "--dataset": {
            "default": "digits",
            "metavar": "NAME",
            "help": "digits (the default: offline, 8x8), mnist, fashion-mnist (their training "
            "sets, 28x28), or a PATH.npz with arrays X (or images) and y",
        },
        "--models": {
            "default": ",".join(DEFAULT_MODELS),
            "metavar": "LIST",
            "help": f"comma-separated, from: {', '.join(MODELS)} (default: %(default)s)",
        },
        "--cv": _int_option(2, 5, "K", "folds (default: 5)"),
        "--repeats": _int_option(
            1,
            1,
            "R",
            "repeat the K folds R times with other shuffles (RepeatedStratifiedKFold; default: 1)",
        ),
        "--match": {
            "choices": ("params", "flops"),
            "default": "params",
            "help": "what the 'mlp' and 'sk-mlp' models match in the 'kan' model: trainable "
            "parameters or forward FLOPs per sample (default: params)",
        },
        "--reference": {
            "default": None,
            "metavar": "MODEL",
            "help": "the model every other is tested against (default: the first of --models)",
        },
        "--threads": _int_option(
            1,
            1,
            "T",
            "thread cap of every fit (torch, BLAS, OpenMP), the same for all models (default: 1)",
        ),
        "--n-samples": _int_option(
            2, None, "N", "a stratified random subset of N samples (default: all)"
        ),
        "--max-epochs": _int_option(1, 20, "E", "epochs of every fit (default: 20)"),
        "--downsample": _int_option(
            1, None, "SIZE", "reduce images to SIZE x SIZE (Downsample) in front of every model"
        ),
        "--hidden": {
            "type": _sizes,
            "default": (32,),
            "metavar": "WIDTHS",
            "help": "hidden layer sizes of the KANs, comma-separated (default: 32)",
        },
        "--grid-size": _int_option(1, 5, "G", "grid intervals of the KANs (default: 5)"),
        "--batch-size": _int_option(1, 128, "B", "minibatch size (default: 128)"),
        "--lr": {
            "type": _positive_float,
            "default": None,
            "help": "learning rate (default: each model's own)",
        },
        "--device": {"default": "auto", "help": "auto (the default), cpu, cuda, cuda:N or mps"},
        "--data-home": {
            "default": None,
            "metavar": "DIR",
            "help": "folder with mnist/ and fashion-mnist/ (default: $SKLEARN_KAN_DATA, else "
            "~/scikit_learn_data)",
        },
        "--no-download": {
            "action": "store_true",
            "help": "fail instead of downloading missing files",
        },
        "--out": {
            "default": "compare_out",
            "metavar": "DIR",
            "help": "folder for report.md and comparison.png (default: compare_out)",
        },
        "--n-jobs": {
            "type": _n_jobs,
            "default": None,
            "metavar": "J",
            "help": "folds trained in parallel (joblib processes; -1: all cores; default: 1)",
        },
        "--seed": {
            "type": _int_at_least(0),
            "default": 0,
            "help": "random seed of folds and models (default: 0)",
        },
    }


# -- models ----------------------------------------------------------------------


def _kan(args):
    from .classifier import KANClassifier

    kan = KANClassifier(
        hidden_layer_sizes=tuple(args.hidden),
        grid_size=args.grid_size,
        max_epochs=args.max_epochs,
        batch_size=args.batch_size,
        device=args.device,
        random_state=args.seed,
    )
    return kan if args.lr is None else kan.set_params(lr=args.lr)


def _build_kan_plain(args, data):
    return _with_front(args, data, _kan(args).set_params(hidden_norm=None))


def _with_front(args, data, model):
    """Put ``Downsample`` in front when asked for, and the epoch progress inside."""
    from sklearn.pipeline import Pipeline, make_pipeline

    steps = model.steps if isinstance(model, Pipeline) else [(None, model)]
    for _, step in steps:
        if "callbacks" in step.get_params(deep=False):
            step.set_params(callbacks=[_epoch_progress()])
    if args.downsample is None:
        return model
    if isinstance(model, Pipeline):
        return Pipeline([("downsample", _downsample(args, data)), *model.steps])
    return make_pipeline(_downsample(args, data), model)


def _downsample(args, data):
    from .preprocessing import Downsample

    return Downsample(args.downsample, image_shape=data.image_shape)


def _build_kan(args, data):
    return _with_front(args, data, _kan(args))


def _matched(match: str | None, baseline: str) -> Callable:
    def build(args, data):
        from sklearn.pipeline import Pipeline

        from .model_selection import matched_mlp

        # Matched to the 'kan' model as built for this run, Downsample included.
        kan = _kan(args)
        if args.downsample is not None:
            kan = Pipeline([("downsample", _downsample(args, data)), ("kan", kan)])
        mlp = matched_mlp(
            kan,
            data.X.shape,
            len(np.unique(data.y)),
            match=match or args.match,
            baseline=baseline,
        )
        if baseline == "torch":
            mlp[-1].set_params(callbacks=[_epoch_progress()])
        return mlp

    return build


def _cnn(args, data):
    from .baselines import CNNClassifier

    return _with_front(args, data, CNNClassifier(**_image_model_kwargs(args, data)))


def _image_model_kwargs(args, data) -> dict:
    """The training settings of an image model (CNN, hybrid) from the command line."""
    kwargs = {
        "max_epochs": args.max_epochs,
        "batch_size": args.batch_size,
        "device": args.device,
        "random_state": args.seed,
    }
    if args.lr is not None:
        kwargs["lr"] = args.lr
    if data.image_shape is not None and args.downsample is None:
        kwargs["image_shape"] = data.image_shape
    return kwargs


def _hybrid(frontend: str) -> Callable:
    def build(args, data):
        cls = _require("classifier", "HybridKANClassifier", f"hybrid-{frontend}")
        params = cls().get_params()
        kwargs = {
            "frontend": frontend,
            "hidden_layer_sizes": tuple(args.hidden),
            "grid_size": args.grid_size,
            **_image_model_kwargs(args, data),
        }
        model = cls(**{k: v for k, v in kwargs.items() if k in params})
        return _with_front(args, data, model)

    return build


def _features_then(extractor: str, head: str, model: str) -> Callable:
    def build(args, data):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline

        cls = _require("feature_extraction", extractor, model)
        params = cls().get_params()
        kwargs = {"max_epochs": args.max_epochs, "device": args.device, "random_state": args.seed}
        if data.image_shape is not None and args.downsample is None:
            kwargs["image_shape"] = data.image_shape
        features = cls(**{k: v for k, v in kwargs.items() if k in params})
        if head == "kan":
            last = _kan(args)
        else:
            last = LogisticRegression(max_iter=1000)
        return _with_front(args, data, Pipeline([("features", features), (head, last)]))

    return build


MODELS: dict[str, _Model] = {
    "kan": _Model("KANClassifier with --hidden, --grid-size", _build_kan),
    "kan-plain": _Model(
        "'kan' with hidden_norm=None: the KAN paper's network (hidden outputs not mapped "
        "onto the next grid)",
        _build_kan_plain,
    ),
    "mlp": _Model(
        "TorchMLPClassifier (same training loop) with as many parameters or FLOPs as 'kan' "
        "(--match; matched_mlp)",
        _matched(None, "torch"),
    ),
    "mlp-params": _Model(
        "TorchMLPClassifier with as many parameters as 'kan'", _matched("params", "torch")
    ),
    "mlp-flops": _Model(
        "TorchMLPClassifier with as many FLOPs per sample as 'kan'", _matched("flops", "torch")
    ),
    "sk-mlp": _Model(
        "scikit-learn's MLPClassifier (its own training loop) matched like 'mlp'",
        _matched(None, "sklearn"),
    ),
    "cnn": _Model(
        "CNNClassifier: the 'conv' front end and a linear head, trained end to end by the "
        "same loop",
        _cnn,
    ),
    "hybrid-linear": _Model("HybridKANClassifier(frontend='linear')", _hybrid("linear")),
    "hybrid-conv": _Model("HybridKANClassifier(frontend='conv')", _hybrid("conv")),
    "hybrid-kanconv": _Model("HybridKANClassifier(frontend='kanconv')", _hybrid("kanconv")),
    "hybrid-local": _Model("HybridKANClassifier(frontend='local')", _hybrid("local")),
    "vae-kan": _Model(
        "VAEFeatures(16) then KANClassifier", _features_then("VAEFeatures", "kan", "vae-kan")
    ),
    "conv-kan": _Model(
        "ConvFeatures(32) then KANClassifier", _features_then("ConvFeatures", "kan", "conv-kan")
    ),
    "conv-logreg": _Model(
        "ConvFeatures (conv blocks trained with a softmax head), then logistic regression",
        _features_then("ConvFeatures", "logreg", "conv-logreg"),
    ),
}


def _require(module: str, name: str, model: str):
    """The class ``name`` of ``sklearn_kan.<module>``, or a clear error if absent."""
    import importlib

    try:
        return getattr(importlib.import_module(f"sklearn_kan.{module}"), name)
    except (ImportError, AttributeError):
        raise RuntimeError(
            f"model {model!r} needs sklearn_kan.{module}.{name}, which this installation "
            "of sklearn-kan does not have"
        ) from None


def _parse_models(spec: str) -> list[str]:
    names = [m.strip() for m in spec.split(",") if m.strip()]
    if not names:
        raise ValueError("--models is empty")
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model {unknown[0]!r}; choose from {', '.join(MODELS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"--models lists a model twice: {spec}")
    return names


# -- data ------------------------------------------------------------------------


@dataclass
class _Data:
    name: str
    X: np.ndarray
    y: np.ndarray
    image_shape: tuple | None
    source: str


def _load(args) -> _Data:
    name = args.dataset
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        data = _Data(name, X / 16.0, y, (8, 8), "sklearn.datasets.load_digits (pixels / 16)")
    elif name in ("mnist", "fashion-mnist"):
        from . import datasets

        fetch = datasets.fetch_mnist if name == "mnist" else datasets.fetch_fashion_mnist
        home = args.data_home
        if home is not None and not Path(home).is_dir():
            raise FileNotFoundError(f"--data-home {home} is not a folder")
        try:
            bunch = fetch(data_home=home, subset="train", download_if_missing=not args.no_download)
        except datasets.MissingDataError as exc:
            raise OSError(_missing_data(exc)) from None
        X = bunch.data.astype(np.float32) / 255.0
        data = _Data(name, X, bunch.target, (28, 28), f"{fetch.__name__}(subset='train') / 255")
    elif name.endswith(".npz"):
        data = _load_npz(name)
    else:
        raise ValueError(
            f"unknown dataset {name!r}; choose digits, mnist, fashion-mnist or a PATH.npz"
        )
    if args.n_samples is not None:
        if args.n_samples > len(data.y):
            raise ValueError(
                f"--n-samples {args.n_samples} is more than the {len(data.y)} samples of {name}"
            )
        if args.n_samples < len(data.y):
            from sklearn.model_selection import train_test_split

            X, _, y, _ = train_test_split(
                data.X,
                data.y,
                train_size=args.n_samples,
                stratify=data.y,
                random_state=args.seed,
            )
            data = _Data(data.name, X, y, data.image_shape, data.source)
    return data


def _missing_data(exc) -> str:
    """The data sets' missing-file error in the words of the command line."""
    if exc.problem is None:
        return (
            f"{exc.path.name} not found in {exc.path.parent} (--no-download). Run without "
            "--no-download to download it, or give --data-home DIR, the folder that holds "
            "mnist/ and fashion-mnist/ (or set SKLEARN_KAN_DATA)."
        )
    return (
        f"{exc.path} is corrupt or incomplete: {exc.problem}. Delete it, or run without "
        "--no-download to download it again."
    )


def _load_npz(path: str) -> _Data:
    import zipfile

    if not Path(path).is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is not an .npz archive (what numpy.savez writes, with arrays X and y)"
        )
    with np.load(path, allow_pickle=False) as npz:
        key = "X" if "X" in npz.files else "images" if "images" in npz.files else None
        if key is None or "y" not in npz.files:
            raise ValueError(
                f"{path} must hold arrays 'X' (or 'images') and 'y'; it has {npz.files}"
            )
        try:
            X, y = np.asarray(npz[key]), np.asarray(npz["y"])
        except ValueError as exc:  # object arrays: loading them would run pickled code
            raise ValueError(
                f"{path}: its arrays hold Python objects, which are not loaded "
                f"(allow_pickle=False); save arrays of numbers ({exc})"
            ) from None
    _check_arrays(path, X, y)
    shape = tuple(X.shape[1:]) if X.ndim > 2 else None
    X = X.reshape(len(X), -1).astype(np.float32)
    return _Data(Path(path).name, X, y, shape, path)


def _check_arrays(path: str, X: np.ndarray, y: np.ndarray) -> None:
    if X.ndim < 2:
        raise ValueError(
            f"{path}: X has shape {X.shape}; it needs one row per sample, (n_samples, "
            "n_features) or images (n_samples, height, width[, channels]) (one feature: "
            "X.reshape(-1, 1))"
        )
    if len(X) == 0:
        raise ValueError(f"{path}: X has no samples (shape {X.shape})")
    if X[0].size == 0:
        raise ValueError(f"{path}: X has no features (shape {X.shape})")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{path}: X must hold numbers, but its dtype is {X.dtype}")
    if y.ndim != 1:
        raise ValueError(f"{path}: y has shape {y.shape}; it must hold one label per sample")
    if len(X) != len(y):
        raise ValueError(f"{path}: X has {len(X)} rows but y has {len(y)} labels")


# -- small helpers ---------------------------------------------------------------


def _epoch_progress():
    from .callbacks import EpochProgressBar

    return EpochProgressBar()


def _device(device: str) -> str:
    from ._base import resolve_device

    resolved = resolve_device(device)
    return resolved if resolved == device else f"{device} ({resolved})"


def _say(message: str) -> None:
    print(f"[{_PROG}] {message}", file=sys.stderr, flush=True)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _parse(text: str, kind: type, what: str):
    """``kind(text)``, or the argparse error that names what ``text`` is not."""
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def _int_at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = _parse(text, int, "an integer")
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is less than {low}")
        return value

    return parse


def _n_jobs(text: str) -> int:
    value = _parse(text, int, "an integer")
    if value == 0:
        raise argparse.ArgumentTypeError("0 jobs: give a positive number, or -1 for all cores")
    return value


def _positive_float(text: str) -> float:
    value = _parse(text, float, "a number")
    if not value > 0 or not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _sizes(text: str) -> tuple[int, ...]:
    parse = _int_at_least(1)
    try:
        sizes = tuple(parse(t) for t in text.split(",") if t.strip())
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"bad layer size in {text!r}: {exc}") from None
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one layer size")
    return sizes
