"""Tests of the ``sklearn-kan`` command (in-process through ``main`` and one real process)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sklearn_kan import cli

FAST = ["--cv", "2", "--max-epochs", "1", "--n-samples", "120", "--hidden", "4"]

# The MLPs train for one epoch on tiny folds, on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Got `batch_size`:UserWarning")


def _shared_data():
    """The repository's shared copy of MNIST, when this checkout has one beside it."""
    env = os.environ.get("SKLEARN_KAN_DATA")
    for folder in [env, Path(__file__).resolve().parents[2] / "shared" / "data"]:
        if folder and (Path(folder) / "mnist" / "train-images-idx3-ubyte.gz").is_file():
            return str(folder)
    return None


def _check_outputs(out: Path, models):
    report = (out / "report.md").read_text()
    assert (out / "comparison.png").stat().st_size > 1000
    assert "| model | accuracy | params | FLOPs/sample | first fit (s) |" in report
    for name in models:
        assert f"| {name} | " in report
    assert "sklearn-kan compare" in report  # the command line
    assert "| torch |" in report and "| scikit-learn |" in report
    return report


def test_compare_digits_in_process(tmp_path, capsys):
    out = tmp_path / "run"
    status = cli.main(["compare", "--models", "kan,mlp", "--out", str(out), *FAST])
    assert status == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split()[:4] == ["model", "accuracy", "params", "FLOPs/sample"]
    assert [line.split()[0] for line in lines[1:3]] == ["kan", "mlp"]
    # one plain sentence per pair, printed and at the end of the report
    assert lines[3].startswith("mlp is ") and "95% CI" in lines[3]
    assert "kan (1/2)" in captured.err and "2/2" in captured.err
    report = _check_outputs(out, ["kan", "mlp"])
    assert f"--out {out}" in report
    assert report.rstrip().endswith(lines[3])
    assert "TorchMLPClassifier(" in report  # the same-loop MLP by default


def test_compare_match_repeats_and_reference(tmp_path, capsys):
    from sklearn_kan.model_selection import mlp_n_flops

    out = tmp_path / "flops"
    argv = ["compare", "--models", "kan,mlp,sk-mlp", "--match", "flops", "--repeats", "2"]
    assert cli.main([*argv, "--reference", "mlp", "--out", str(out), *FAST]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[1:4]}
    # model, accuracy mean, +/-, std, params, FLOPs
    kan_flops = int(rows["kan"][5].replace(",", ""))
    mlp_flops = int(rows["mlp"][5].replace(",", ""))
    assert abs(mlp_flops - kan_flops) <= 0.05 * kan_flops
    assert mlp_flops == mlp_n_flops(64, (_width(out),), 10)
    assert lines[4].startswith("kan is ") and "than mlp" in lines[4]
    assert lines[5].startswith("sk-mlp is ") and "than mlp" in lines[5]
    report = (out / "report.md").read_text()
    assert "2 x 2 folds" in report and "MLP matched by | flops" in report
    assert "over the 4 paired fits" in report


def _width(out):
    import re

    text = (out / "report.md").read_text()
    return int(re.search(r"TorchMLPClassifier\(hidden_layer_sizes=\((\d+),\)", text).group(1))


def test_compare_as_a_module_in_a_real_process(tmp_path):
    out = tmp_path / "proc"
    proc = subprocess.run(
        [sys.executable, "-m", "sklearn_kan", "compare", "--models", "kan", "--out", str(out)]
        + FAST,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1].startswith("kan")
    _check_outputs(out, ["kan"])
    # The figure is written as the command says (matplotlib is a dependency).
    assert f"wrote {out / 'report.md'} and {out / 'comparison.png'}" in proc.stderr


def test_compare_npz_images_with_downsample(tmp_path, capsys):
    rng = np.random.default_rng(0)
    images = rng.random((60, 6, 6)).astype(np.float32)
    y = np.arange(60) % 3
    images[y == 1, :3] += 1.0  # something to learn
    path = tmp_path / "toy.npz"
    np.savez(path, images=images, y=y)
    out = tmp_path / "npz"
    args = ["compare", "--dataset", str(path), "--models", "kan,mlp", "--downsample", "3"]
    status = cli.main([*args, "--out", str(out), "--cv", "2", "--max-epochs", "2"])
    assert status == 0
    report = _check_outputs(out, ["kan", "mlp"])
    assert "Downsample(" in report and "size=3" in report
    assert "60 x 36" in report


@pytest.mark.slow  # real data, outside the repository
@pytest.mark.skipif(
    _shared_data() is None, reason="no MNIST in $SKLEARN_KAN_DATA or ../shared/data"
)
def test_compare_mnist_from_data_home(tmp_path, capsys):
    out = tmp_path / "mnist"
    args = ["compare", "--dataset", "mnist", "--data-home", _shared_data(), "--no-download"]
    status = cli.main([*args, "--models", "kan,mlp", "--downsample", "7", "--out", str(out), *FAST])
    assert status == 0
    report = _check_outputs(out, ["kan", "mlp"])
    assert "120 x 784" in report


def _one_line_error(capsys, argv, status=1):
    assert cli.main(argv) == status
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("sklearn-kan: error: ")
    assert "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--dataset", "cifar"], "unknown dataset 'cifar'"),
        (["--models", "kan,transformer"], "unknown model 'transformer'"),
        (["--models", "kan,kan"], "twice"),
        (["--models", ","], "empty"),
        (["--dataset", "missing.npz"], "no such file"),
        (["--n-samples", "100000"], "more than the 1797 samples"),
        (["--models", "kan,mlp", "--reference", "cnn"], "--reference 'cnn'"),
    ],
)
def test_bad_arguments_end_in_one_line(capsys, tmp_path, argv, message):
    line = _one_line_error(capsys, ["compare", "--out", str(tmp_path), *argv])
    assert message in line


def test_npz_without_the_arrays(capsys, tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, data=np.zeros((4, 2)))
    line = _one_line_error(capsys, ["compare", "--dataset", str(path), "--out", str(tmp_path)])
    assert "'X' (or 'images') and 'y'" in line


def test_missing_mnist_files(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["compare", "--dataset", "fashion-mnist", "--data-home", str(empty), "--no-download"]
    _one_line_error(capsys, [*argv, "--out", str(tmp_path / "o")])
    argv = ["compare", "--dataset", "mnist", "--data-home", str(tmp_path / "nowhere")]
    assert "not a folder" in _one_line_error(capsys, [*argv, "--out", str(tmp_path / "o")])


def test_missing_model_class_is_a_clear_error(capsys, tmp_path, monkeypatch):
    from sklearn_kan import classifier

    monkeypatch.delattr(classifier, "HybridKANClassifier", raising=False)
    argv = ["compare", "--models", "kan,hybrid-conv", "--out", str(tmp_path), *FAST]
    line = _one_line_error(capsys, argv)
    assert "hybrid-conv" in line and "HybridKANClassifier" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["--cv", "1"],
        ["--max-epochs", "0"],
        ["--max-epochs", "ten"],
        ["--n-samples", "-5"],
        ["--lr", "-1"],
        ["--hidden", "4,x"],
        ["--seed", "-1"],
        ["--n-jobs", "0"],
        ["--match", "time"],
        ["--repeats", "0"],
        ["--threads", "0"],
    ],
)
def test_invalid_numbers_are_argparse_errors(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        cli.main(["compare", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error: argument" in err and "Traceback" not in err


def test_no_command_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([])
    assert exc.value.code == 2


def test_every_default_model_is_known():
    assert set(cli.DEFAULT_MODELS) <= set(cli.MODELS)


def _has(module, name):
    import importlib

    try:
        return hasattr(importlib.import_module(f"sklearn_kan.{module}"), name)
    except ImportError:
        return False


@pytest.mark.parametrize(
    "models, needs",
    [
        ("hybrid-linear,hybrid-conv", ("classifier", "HybridKANClassifier")),
        ("vae-kan,conv-kan,conv-logreg", ("feature_extraction", "VAEFeatures")),
        ("cnn,sk-mlp,mlp-params,mlp-flops,kan-plain", ("baselines", "CNNClassifier")),
    ],
)
def test_compare_other_models(tmp_path, capsys, models, needs):
    if not _has(*needs):
        pytest.skip(f"sklearn_kan.{needs[0]}.{needs[1]} is not in this version")
    out = tmp_path / "other"
    assert cli.main(["compare", "--models", models, "--out", str(out), *FAST]) == 0
    _check_outputs(out, models.split(","))


def test_help_lists_the_models(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["compare", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out.replace("-\n", "-").replace("\n", " ") for name in ("kan", "cnn"))
    assert "compare_out" in out


def _no_fit(monkeypatch):
    """Make any comparison fail loudly: these errors must come before the first fit."""
    from sklearn_kan import model_selection

    def compare(*args, **kwargs):
        raise AssertionError("compare() ran")

    monkeypatch.setattr(model_selection, "compare", compare)


@pytest.mark.parametrize("where", ["under_a_file", "a_file"])
def test_unwritable_out_is_refused_before_any_fit(capsys, tmp_path, monkeypatch, where):
    _no_fit(monkeypatch)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    out = blocker / "out" if where == "under_a_file" else blocker
    line = _one_line_error(capsys, ["compare", "--out", str(out), *FAST])
    assert f"--out {out}" in line and "compare() ran" not in line


def test_out_is_created_before_the_fits(tmp_path, monkeypatch, capsys):
    _no_fit(monkeypatch)
    out = tmp_path / "new" / "deeper"
    assert cli.main(["compare", "--out", str(out), *FAST]) == 1
    # The check passed and the comparison started.
    assert capsys.readouterr().err.splitlines()[-1] == "sklearn-kan: error: compare() ran"
    assert out.is_dir() and list(out.iterdir()) == []  # the write probe left nothing


def _npz(tmp_path, name, **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"X": np.arange(60.0), "y": np.arange(60) % 3}, "X has shape (60,)"),
        ({"X": np.zeros((0, 4)), "y": np.zeros(0)}, "no samples"),
        ({"X": np.zeros((10, 0)), "y": np.arange(10) % 2}, "no features"),
        ({"X": np.zeros((10, 4)), "y": np.arange(9) % 2}, "10 rows but y has 9"),
        ({"X": np.zeros((10, 4)), "y": np.zeros((10, 2))}, "y has shape (10, 2)"),
        ({"X": np.array([["1", "a"]] * 10), "y": np.arange(10) % 2}, "must hold numbers"),
        ({"X": np.array([[1, "a"]] * 10, dtype=object), "y": np.arange(10)}, "Python objects"),
    ],
    ids=["1d", "empty", "no-features", "lengths", "y-2d", "strings", "objects"],
)
def test_bad_npz_arrays_end_in_one_clear_line(capsys, tmp_path, monkeypatch, arrays, message):
    _no_fit(monkeypatch)
    path = _npz(tmp_path, "bad.npz", **arrays)
    line = _one_line_error(capsys, ["compare", "--dataset", str(path), "--out", str(tmp_path)])
    assert message in line and "compare() ran" not in line


@pytest.mark.parametrize("content", ["text", "npy"])
def test_a_file_that_is_not_npz_is_named(capsys, tmp_path, monkeypatch, content):
    _no_fit(monkeypatch)
    path = tmp_path / "data.npz"
    if content == "text":
        path.write_text("hello")
    else:
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))
    line = _one_line_error(capsys, ["compare", "--dataset", str(path), "--out", str(tmp_path)])
    assert f"{path} is not an .npz archive" in line


def test_missing_data_names_the_flags_not_python_arguments(capsys, tmp_path):
    empty = tmp_path / "empty"
    (empty / "mnist").mkdir(parents=True)
    argv = ["compare", "--dataset", "mnist", "--data-home", str(empty), "--no-download"]
    line = _one_line_error(capsys, [*argv, "--out", str(tmp_path / "o")])
    assert "download_if_missing" not in line and "data_home" not in line
    assert "--no-download" in line and "--data-home" in line
    (empty / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"broken")
    line = _one_line_error(capsys, [*argv, "--out", str(tmp_path / "o")])
    assert "corrupt" in line and "download_if_missing" not in line
    assert "--no-download" in line


def test_a_failed_fit_keeps_the_other_models_and_the_report(capsys, tmp_path, monkeypatch):
    # One model's fits fail (a grid too fine for one epoch is not the point: any error).
    from sklearn_kan.baselines import TorchMLPClassifier

    def broken_fit(self, X, y, sample_weight=None):
        raise RuntimeError("the MLP broke")

    monkeypatch.setattr(TorchMLPClassifier, "fit", broken_fit)
    out = tmp_path / "run"
    status = cli.main(["compare", "--models", "kan,mlp", "--out", str(out), *FAST])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.out.splitlines()[1].split()[0] == "kan"  # the table is printed
    report = (out / "report.md").read_text()
    assert "## Failed fits" in report and "RuntimeError: the MLP broke" in report
    assert (out / "comparison.png").is_file()
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("sklearn-kan: error: 2 of the 4 fits failed")
    assert "mlp" in last and str(out / "report.md") in last


def test_the_readmes_main_command_installs_what_the_figure_needs():
    # The README's comparison command promises compare_out/comparison.png: the packages its
    # install command brings must include matplotlib.
    import re

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    command = next(
        line
        for line in re.findall(r"```bash\n(.*?)```", readme, re.S)
        if line.strip().endswith("sklearn-kan compare")
    )
    (spec,) = re.findall(r"pip install -e (\S+)", command)
    extras = re.findall(r"\[([^\]]*)\]", spec)
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    installed = list(project["dependencies"])
    for extra in (e.strip() for group in extras for e in group.split(",")):
        installed += project["optional-dependencies"][extra]
    assert any(re.match(r"matplotlib\b", req) for req in installed), command
    assert "comparison.png" in readme


@pytest.mark.parametrize("device", ["foo", "cuda:99"])
def test_an_unavailable_device_is_refused_before_any_fit(capsys, tmp_path, monkeypatch, device):
    _no_fit(monkeypatch)
    line = _one_line_error(capsys, ["compare", "--device", device, "--out", str(tmp_path)])
    assert f"--device {device}:" in line and "compare() ran" not in line
