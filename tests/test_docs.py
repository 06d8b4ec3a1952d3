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

    scikit-learn wants every estimator to spell out its parameters, and each
    estimator's docstring is written out in full: a default changed in a signature
    but not in its docs fails here.
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


# -- the README: short, the two commands, no measurement ---------------------------

README = ROOT / "README.md"

# What a measurement looks like in prose: a date or a clock time, a load average, an
# accuracy, a percentage, a duration, a ratio, a memory size, a difference in points.
_MEASUREMENT = re.compile(
    r"\b20[0-9]{2}-[0-9]{2}-[0-9]{2}\b"
    r"|\b[0-9]{1,2}:[0-9]{2}\s*UTC\b"
    r"|\bload\s+average"
    r"|\b0\.[0-9]{2,}\b"
    r"|\b[0-9]+(?:\.[0-9]+)?\s*%"
    r"|\b[0-9]+(?:\.[0-9]+)?\s*(?:ms|s|sec|seconds?|min|minutes?|h|hours?)\b"
    r"|\b[0-9]+(?:\.[0-9]+)?x\b"
    r"|\b[0-9]+(?:\.[0-9]+)?\s*(?:KB|MB|GB|KiB|MiB|GiB)\b"
    r"|\bpoints?\s+(?:more|less|ahead|behind)\b",
    re.IGNORECASE,
)


def _found(pattern: re.Pattern, path: Path) -> list[str]:
    text = path.read_text(errors="replace")
    return [
        f"{path.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}: {m.group(0)!r}"
        for m in pattern.finditer(text)
    ]


def test_readme_is_short():
    # What it is, the two commands, a ten-line example, what it offers, where to
    # read on: everything else lives in docs/.
    assert len(README.read_text().splitlines()) <= 150


def test_the_measurement_pattern_catches_numbers_and_spares_settings():
    for phrase in [
        "0.9711",
        "17 s",
        "0.33 ms",
        "2.37x",
        "179 MB",
        "2026-11-29",
        "19:27 UTC",
        "load average 1.4",
        "2.0 points more accurate",
        "63%",
    ]:
        assert _MEASUREMENT.search(phrase), phrase
    for phrase in [
        "torch==2.13.0",
        "8 x 8 digits",
        "5-fold",
        "torch from 2.2 to 2.x",
        "Downsample(4)",
        "KAN [64, 64, 10]",
        "3x3 convolutions",
        "Python 3.11",
    ]:
        assert not _MEASUREMENT.search(phrase), phrase


def test_readme_holds_no_measurement():
    # Numbers live on docs/results.rst and docs/performance.md, each dated once in
    # its header; the README only says where to find them.
    assert _found(_MEASUREMENT, README) == []


def test_docs_pages_date_no_measurement_outside_the_measurement_pages():
    # Only the results and performance pages carry measurements, and so dates and
    # load averages; the other pages point to them.
    dated = re.compile(
        r"\b20[0-9]{2}-[0-9]{2}-[0-9]{2}\b|\bload\s+average\s+[0-9]|\b[0-9]{1,2}:[0-9]{2}\s*UTC\b",
        re.IGNORECASE,
    )
    pages = [p for p in sorted(DOCS.glob("*.rst")) if p.name != "results.rst"]
    assert [hit for page in pages for hit in _found(dated, page)] == []


def test_readme_gives_the_two_commands():
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    commands = [line.strip() for block in blocks for line in block.splitlines() if line.strip()]
    # The tests: exactly what CI runs.
    ci = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip().startswith("pip install")
    ]
    assert ci == ['pip install torch==2.13.0 && pip install -e ".[test]" && python -m pytest']
    assert ci[0] in commands
    # The comparison: the same CPU wheel of torch first, then the package, then the command.
    compare = [c for c in commands if c.endswith("sklearn-kan compare")]
    assert compare == ["pip install torch==2.13.0 && pip install -e . && sklearn-kan compare"]
    text = README.read_text()
    assert "CPU wheel" in text
    for output in ("compare_out/report.md", "compare_out/comparison.png"):
        assert output in text


def test_readme_links_point_to_files_in_the_repository():
    links = re.findall(r"\]\(([^)#\s]+)\)", README.read_text())
    local = [link for link in links if "://" not in link]
    assert {"docs/user_guide.rst", "docs/api.rst", "docs/results.rst"} <= set(local)
    assert {"docs/performance.md", "docs/architecture.rst", "examples/"} <= set(local)
    assert [link for link in local if not (ROOT / link).exists()] == []


def test_results_page_dates_its_measurements_once_in_its_header():
    text = (DOCS / "results.rst").read_text()
    first_section = re.search(r"\n([^\n]+)\n-{3,}\n", text)
    header, body = text[: first_section.start()], text[first_section.start() :]
    assert "benchmarks/results_page.sh" in header
    assert re.search(r"\b20[0-9]{2}-[0-9]{2}-[0-9]{2}\b", header)
    assert re.search(r"\b[0-9]+-core\b", header)  # the machine
    dated = re.compile(
        r"\b20[0-9]{2}-[0-9]{2}-[0-9]{2}\b|\bload\s+average\s+[0-9]|\bUTC\b", re.IGNORECASE
    )
    assert dated.findall(body) == []


# -- the docs and the code speak of the product as it is ---------------------------

# Words that tell the history of the product, its internal targets, or how it was
# made, rather than what it is. Each is written with \s+ and character classes so
# that this file does not match its own patterns.
_PROCESS_WORDS = [
    # how it was made
    r"\bsessions?\s+[0-9]+",
    r"\bprevious\s+sessions?\b",
    r"\b(?:that|this|last)\s+session['’]s\b",
    r"\bissues?\s+#?[0-9]+",
    r"\bthe\s+issue['’]s\b",
    r"\bfrom\s+the\s+issue\b",
    r"\bfinal\s+code\b",
    r"\bthis\s+VM\b",
    r"\bmain\s+job\b",
    r"\bheadline\s+job\b",
    r"\bseed\s+experiment\b",
    # internal goals; a regression's y, Thread(target=...) and .target stay legitimate
    r"\btargets?\s+[0-9.]*[0-9]",
    r"\btargets?\s*(?:<=|>=|<|>)\s*[0-9]",
    r"\(targets?\)",
    r"""["']targets?["']\s*:\s*[0-9]""",
    r"\b(?:all|were|was|not)\s+met\b",
    r"\bmet\s+(?:its|their|the)\s+(?:target|bound)s?\b",
    r"(?-i:\bMISS(?:ED)\b)",
    # history
    r"\bbefore\s+this\s+work\b",
    r"\ban\s+earlier\s+run\b",
    r"\bthe\s+default\s+until\b",
    r"\buntil\s+20[0-9]{2}-[0-9]{2}",
    r"\bprevious\s+(?:version|run|code)s?\b",
    r"\bwhen\s+this\s+(?:guide|page)\s+was\s+written\b",
    r"\bsince\s+the\s+runs?\s+of\b",
]
_PROCESS = re.compile("|".join(_PROCESS_WORDS), re.IGNORECASE)


def _prose_and_code_files() -> list[Path]:
    """The README, the docs (with the published reports), the benchmarks, tests and examples."""
    generated = {"_build", "auto_examples", "gen_modules"}
    files = [README]
    for folder, suffixes in [
        (DOCS, {".rst", ".md", ".txt", ".py"}),
        (ROOT / "benchmarks", {".py", ".sh", ".md", ".rst", ".txt"}),
        (ROOT / "tests", {".py", ".md", ".rst", ".txt"}),
        (ROOT / "examples", {".py", ".rst", ".md", ".txt"}),
    ]:
        files += [
            path
            for path in sorted(folder.rglob("*"))
            if path.is_file()
            and path.suffix in suffixes
            and not generated & set(path.relative_to(ROOT).parts)
        ]
    return files


def test_the_process_word_patterns_catch_what_they_are_for():
    # Written with "_" for spaces and "~" for nothing (put back below), so that
    # this file does not match its own examples.
    for phrase in [
        "the_final_code_of_that_day",
        "linear_0.9766_(target_0.975)",
        "ratio_(target~)",
        '"target":_0.99',
        "bounds:_all_met",
        "an_earlier_run_(session_3)",
        "the_default_until_2026-11-29",
        "before_this_work",
        "the_issue's_command",
        "#_--_issue_13:_the_contract",
        "the_README's_main_job",
        "The_headline_job_compares",
        "the_seed_experiment's_KAN",
        "this_VM's_variation",
        "status_MISSED",
    ]:
        assert _PROCESS.search(phrase.replace("_", " ").replace("~", "")), phrase
    for phrase in [
        "y, the regression target",
        "target = count_params(model)",
        "round((target - 10) / 60)",
        "threading.Thread(target=serve, daemon=True)",
        "train.target[:n]",
        "KANRegressor standardises targets of any magnitude",
        "session = ort.InferenceSession(path)",
        "In the user's session",
        "benchmarks/session.py",
        "the knots are no longer uniform",
        "a missed deadline",
        "the issue tracker",
    ]:
        assert not _PROCESS.search(phrase), phrase


def test_docs_and_code_speak_of_the_product_as_it_is():
    files = _prose_and_code_files()
    assert any("_static" in f.parts for f in files)  # the published reports are read
    assert any(f.parent.name == "benchmarks" for f in files)
    found = [hit for path in files for hit in _found(_PROCESS, path)]
    assert found == [], "\n".join(found)
