"""The documentation: the API reference is complete, and the Sphinx build passes."""

import ast
import doctest
import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
MODULES = [
    "sklearn_kan",
    "sklearn_kan.preprocessing",
    "sklearn_kan.feature_extraction",
    "sklearn_kan.baselines",
    "sklearn_kan.model_selection",
    "sklearn_kan.datasets",
    "sklearn_kan.inspection",
    "sklearn_kan.export",
    "sklearn_kan.plotting",
    "sklearn_kan.callbacks",
    "sklearn_kan.nn",
    "sklearn_kan.cli",
]


def _documented() -> dict[str, set[str]]:
    """The names listed under each module's ``currentmodule`` in docs/api.rst."""
    names: dict[str, set[str]] = {}
    module = None
    for line in (DOCS / "api.rst").read_text().splitlines():
        match = re.match(r"\.\. currentmodule:: (\S+)", line)
        if match:
            module = match.group(1)
            names.setdefault(module, set())
        elif module and re.match(r"   [A-Za-z_]\w*$", line):
            names[module].add(line.strip())
    return names


@pytest.mark.parametrize("module_name", MODULES)
def test_api_reference_lists_every_public_class_and_function(module_name):
    module = importlib.import_module(module_name)
    public = {
        name
        for name in module.__all__
        if inspect.isclass(getattr(module, name)) or inspect.isfunction(getattr(module, name))
    }
    assert public - _documented().get(module_name, set()) == set()


def test_every_public_module_is_in_the_reference():
    import pkgutil

    import sklearn_kan

    modules = {
        f"sklearn_kan.{m.name}"
        for m in pkgutil.iter_modules(sklearn_kan.__path__)
        if not m.name.startswith("_") and m.name not in {"classifier", "regressor"}
    }
    # classifier and regressor are documented through the package, which re-exports them.
    assert modules - set(MODULES) == set()


def _modules_with_examples() -> list[str]:
    """Every module of the package whose docstrings show an example (``>>>``)."""
    import pkgutil

    import sklearn_kan

    found = []
    for info in pkgutil.walk_packages(sklearn_kan.__path__, "sklearn_kan."):
        if info.name.endswith("__main__"):  # importing it runs the command
            continue
        spec = importlib.util.find_spec(info.name)
        if ">>>" in Path(spec.origin).read_text():
            found.append(info.name)
    return found


@pytest.mark.parametrize("module_name", _modules_with_examples())
def test_docstring_examples_give_the_results_they_show(module_name, monkeypatch, tmp_path):
    """The doctests of every module that shows results (what ``--doctest-modules`` runs)."""
    pytest.importorskip("matplotlib").use("Agg")
    monkeypatch.chdir(tmp_path)  # an example that saves a file writes it here
    module = importlib.import_module(module_name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} example(s) of {module_name} failed (see stdout)"


def _estimators() -> list[type]:
    """Every public estimator class of the package."""
    from sklearn.base import BaseEstimator

    found = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isclass(obj) and issubclass(obj, BaseEstimator):
                found[obj.__qualname__] = obj
    return [found[name] for name in sorted(found)]


@pytest.mark.parametrize("estimator", _estimators(), ids=lambda cls: cls.__name__)
def test_documented_parameters_are_the_signature_with_its_defaults(estimator):
    """Each ``__init__`` parameter is documented, with the default the signature has.

    scikit-learn wants every estimator to spell out its parameters, so the KAN
    estimators and the baselines repeat theirs while sharing one text of their docs
    (``_PARAMS_DOC`` and the parts made from it): a default changed in one
    signature but not in the others, or not in the docs, fails here.
    """
    docscrape = pytest.importorskip("numpydoc.docscrape")
    documented = {}
    for param in docscrape.NumpyDocString(inspect.getdoc(estimator))["Parameters"]:
        match = re.search(r"default=(.+)$", param.type)
        for name in param.name.split(","):
            documented[name.strip()] = match.group(1) if match else None
    signature = inspect.signature(estimator.__init__).parameters
    assert set(documented) == set(signature) - {"self"}
    for name, param in signature.items():
        if name != "self":
            assert documented[name] is not None, f"{name}: no default= in the docs"
            assert ast.literal_eval(documented[name]) == param.default, (
                f"{name}: the docs say default={documented[name]}, the signature {param.default!r}"
            )


def _missing_docs_tools() -> str | None:
    for module in ("sphinx", "numpydoc", "sphinx_gallery", "myst_parser", "matplotlib"):
        try:
            importlib.import_module(module)
        except ImportError:
            return module
    return None


def _build(out: Path, *options: str) -> str:
    """Build the HTML site into ``out`` with warnings as errors; return the index page."""
    env = {**os.environ, "SKLEARN_KAN_EXAMPLES_SMALL": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", *options, str(DOCS), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    for page in (
        "index",
        "user_guide",
        "architecture",
        "api",
        "results",
        "performance",
        "auto_examples/index",
    ):
        assert (out / f"{page}.html").is_file(), page
    api = (out / "api.html").read_text()
    assert "matched_mlp" in api and "KANClassifier" in api
    return (out / "index.html").read_text()


needs_docs_tools = pytest.mark.skipif(
    _missing_docs_tools() is not None,
    reason=f"the docs build needs {_missing_docs_tools()} (pip install -e '.[test]')",
)


@pytest.mark.slow  # 15-20 s on 2 cores: over the default run's share
@pytest.mark.docs
@needs_docs_tools
def test_sphinx_build_passes_with_warnings_as_errors(tmp_path):
    # The examples' pages are generated but not run (plot_gallery=0);
    # test_sphinx_build_runs_the_examples runs them.
    index = _build(tmp_path, "-D", "plot_gallery=0")
    assert "architecture.html" in index


@pytest.mark.slow
@pytest.mark.docs
@needs_docs_tools
def test_sphinx_build_runs_the_examples(tmp_path):
    _build(tmp_path)
    page = (tmp_path / "auto_examples" / "plot_kan_interpretability.html").read_text()
    assert ".png" in page  # the example ran and its figures are on the page


def test_user_facing_files_cite_nothing_outside_the_repository():
    # A user's clone has no ../shared (the development machines' data and design
    # notes): the README, the docs and the published reports must not point there.
    root = DOCS.parent
    files = [root / "README.md", *DOCS.rglob("*.rst"), *DOCS.rglob("*.md")]
    files = [f for f in files if "_build" not in f.parts and "gen_modules" not in f.parts]
    assert any("_static" in f.parts for f in files)  # the results' reports are read too
    citing = [str(f.relative_to(root)) for f in files if "../shared" in f.read_text()]
    assert citing == []


# -- the code examples of the README and the docs run as written -------------------

ROOT = DOCS.parent
# A block that is not meant to run (a fragment, or one that needs a cluster) is
# marked on the line before it: ``<!-- skip-test: why -->`` in Markdown,
# ``.. skip-test: why`` (an RST comment) in reStructuredText. Both are invisible in
# the rendered page.
_SKIP = re.compile(r"(?:<!--|\.\.)\s*skip-test:\s*(.*?)\s*(?:-->)?\s*$")


def _markdown_blocks(text: str) -> list[tuple[int, str, str | None]]:
    """``(line, code, skip reason)`` of every fenced ``python`` block."""
    blocks, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        match = re.match(r"(\s*)```python\s*$", lines[i])
        if not match:
            i += 1
            continue
        indent, start = len(match.group(1)), i
        body = []
        i += 1
        while not lines[i].strip().startswith("```"):
            body.append(lines[i][indent:])
            i += 1
        blocks.append((start + 1, "\n".join(body), _skip_reason(lines, start)))
        i += 1
    return blocks


def _rst_blocks(text: str) -> list[tuple[int, str, str | None]]:
    """``(line, code, skip reason)`` of every Python block of a reStructuredText page.

    ``.. code-block:: python`` blocks, and ``::`` literal blocks whose text is Python
    (shell commands are not), so that no Python example escapes the test.
    """
    blocks, lines = [], text.splitlines()
    for start, line in enumerate(lines):
        explicit = re.match(r"\s*\.\. code-block:: python\s*$", line)
        literal = line.rstrip().endswith("::") and not line.lstrip().startswith("..")
        if not (explicit or literal):
            continue
        i = start + 1
        while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith(":")):
            i += 1  # the directive's options and the blank line
        body = []
        base = len(line) - len(line.lstrip())
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > base
        ):
            body.append(lines[i])
            i += 1
        code = _dedent("\n".join(body)).strip("\n")
        if literal and not _is_python(code):
            continue
        blocks.append((start + 1, code, _skip_reason(lines, start)))
    return blocks


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text)


def _is_python(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return bool(code.strip())


def _skip_reason(lines: list[str], start: int) -> str | None:
    for line in reversed(lines[:start]):
        if line.strip():
            match = _SKIP.match(line.strip())
            return match.group(1) if match else None
    return None


def _pages() -> list[Path]:
    pages = [ROOT / "README.md", *sorted(DOCS.glob("*.rst")), *sorted(DOCS.glob("*.md"))]
    return [page for page in pages if page.is_file()]


def _blocks(page: Path):
    text = page.read_text()
    return _markdown_blocks(text) if page.suffix == ".md" else _rst_blocks(text)


def _pages_fast_first() -> list:
    """The README's examples (about 30 s of training on 2 cores) run with ``-m slow``."""
    return [
        pytest.param(page, marks=pytest.mark.slow) if page.name == "README.md" else page
        for page in _pages()
    ]


@pytest.mark.parametrize("page", _pages_fast_first(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_code_examples_run_as_written(page, tmp_path, monkeypatch):
    """Every Python block of the page, in order, in one namespace (as a reader runs them).

    Each block runs as written, in a fresh folder (what an example saves lands
    there), with scikit-learn's configuration restored afterwards.
    """
    import warnings

    import sklearn
    from sklearn.exceptions import FitFailedWarning

    blocks = [b for b in _blocks(page) if b[2] is None]
    if not blocks:
        pytest.skip(f"{page.name} has no Python example to run")
    pytest.importorskip("matplotlib").use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    for line, code, _ in blocks:
        with sklearn.config_context(), warnings.catch_warnings():
            # An example whose fits or scores fail gives NaN with only a warning.
            warnings.simplefilter("error", FitFailedWarning)
            warnings.filterwarnings("error", "Scoring failed", UserWarning)
            warnings.filterwarnings("error", ".*non-finite", UserWarning)
            try:
                exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(
                    f"the example at {page.relative_to(ROOT)}:{line} failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc


def test_the_examples_that_do_not_run_are_few_and_marked():
    skipped = [
        (page.name, line, reason)
        for page in _pages()
        for line, _, reason in _blocks(page)
        if reason
    ]
    assert all(reason for _, _, reason in skipped)
    assert len(skipped) <= 3, skipped
    assert sum(len(_blocks(page)) for page in _pages()) >= 10  # the extraction finds them


def test_prose_builds_pipelines_as_scikit_learn_accepts():
    # Pipeline([Downsample(7), KANClassifier()]) is refused by scikit-learn (steps
    # are (name, estimator) pairs): write make_pipeline(...) or named steps.
    bad = re.compile(r"Pipeline\(\[\s*[A-Z]\w*\(")
    files = [
        ROOT / "README.md",
        *sorted(DOCS.glob("*.rst")),
        *sorted((ROOT / "examples").glob("*.py")),
        *sorted((ROOT / "benchmarks").glob("bench_*.py")),
        *sorted((ROOT / "sklearn_kan").rglob("*.py")),
    ]
    found = [
        f"{path.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}"
        for path in files
        for text in [path.read_text()]
        for m in bad.finditer(text)
    ]
    assert found == []
