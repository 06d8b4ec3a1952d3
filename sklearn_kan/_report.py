"""The comparison report: the table as text or Markdown, ``report.md``, the figure.

:class:`ComparisonReport` turns the results of
:func:`sklearn_kan.model_selection.compare` into what ``sklearn-kan compare``
prints and writes; the figure is drawn in :mod:`sklearn_kan.plotting`.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sklearn.base import clone

__all__ = ["ComparisonReport"]


@dataclass
class ComparisonReport:
    """The comparison as a text table, a Markdown report and a figure.

    Build it from the results of :func:`~sklearn_kan.model_selection.compare`;
    :meth:`save` writes ``report.md`` and ``comparison.png`` into a folder, which is
    what ``sklearn-kan compare`` does.

    Parameters
    ----------
    table : pandas.DataFrame
        The first result of ``compare(..., return_cv_results=True)``.
    cv_results : dict
        The second result.
    reference : str, default=None
        The model the others are tested against
        (:func:`~sklearn_kan.model_selection.paired_tests`); ``None`` takes the first.
    title : str, default="comparison"
        Name of the data set, for the headings.
    command : str, default=None
        The command that produced the results, shown first in the report.
    settings : dict, default=None
        Extra ``setting: value`` rows for the report (data, folds, epochs...).
    descriptions : dict of str to str, default=None
        One line per model, for the report's list of models.

    Attributes
    ----------
    pairs : list of dict
        :func:`~sklearn_kan.model_selection.paired_tests` of every model against
        ``reference``.
    failures : list of dict
        Every failed fit (``compare`` with a numeric ``error_score``):
        ``model``, ``split`` and ``error``; the report lists them.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import RepeatedStratifiedKFold
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from sklearn_kan.model_selection import ComparisonReport, compare
    >>> X, y = load_digits(return_X_y=True)
    >>> cv = RepeatedStratifiedKFold(n_splits=3, n_repeats=2, random_state=0)
    >>> models = {"logreg": LogisticRegression(max_iter=500), "nb": GaussianNB()}
    >>> table, raw = compare(models, X, y, cv=cv, return_cv_results=True)
    >>> report = ComparisonReport(table, raw)
    >>> print(report.pairs[0]["sentence"])  # doctest: +ELLIPSIS
    nb is ... points less accurate than logreg, 95% CI [...]; the difference is significant ...
    """

    table: object
    cv_results: dict
    reference: str | None = None
    title: str = "comparison"
    command: str | None = None
    settings: dict | None = None
    descriptions: dict | None = None
    pairs: list = field(init=False)

    def __post_init__(self) -> None:
        first = next(iter(self.cv_results))
        self.reference = first if self.reference is None else self.reference
        enough = len(next(iter(self.cv_results.values()))["fit_time"]) >= 2
        if enough:
            from .model_selection import paired_tests  # which imports this module

            self.pairs = paired_tests(self.cv_results, self.reference)
        else:
            self.pairs = []

    def to_text(self) -> str:
        """The table as aligned text (what the command prints)."""
        return _render(self.table, markdown=False, n_fits=_n_fits(self.cv_results))

    @property
    def failures(self) -> list[dict]:
        """Every failed fit: ``model``, ``split`` (its index) and ``error``."""
        return [
            {"model": name, "split": i, "error": error}
            for name, result in self.cv_results.items()
            for i, error in enumerate(result.get("errors") or ())
            if error is not None
        ]

    def to_markdown(self, figure: str | None = "comparison.png") -> str:
        """The whole report: command, table, figure, significance, settings, machine."""
        return _markdown(self, figure)

    def plot(self, path=None):
        """Accuracy vs FLOPs, the differences with their intervals, training curves.

        Parameters
        ----------
        path : str or Path, default=None
            Where to save the figure (PNG); ``None`` only returns it.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from .plotting import _draw_comparison

        return _draw_comparison(self, path)

    def save(self, out) -> dict:
        """Write ``report.md`` and, when matplotlib is installed, ``comparison.png``.

        Parameters
        ----------
        out : str or Path
            Folder (created if needed).

        Returns
        -------
        dict
            Paths written, keys ``"report"`` and ``"figure"`` (None without
            matplotlib).
        """
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        figure = out / "comparison.png"
        try:
            self.plot(figure)
        except ImportError:
            figure = None
        report = out / "report.md"
        report.write_text(self.to_markdown(figure.name if figure else None))
        return {"report": report, "figure": figure}


# -- private -------------------------------------------------------------------


def _rows(table) -> list[dict]:
    records = table.reset_index().to_dict("records")
    for r in records:
        r["n_params"] = _count(r.get("n_params"))
        r["n_flops"] = _count(r.get("n_flops"))
    return records


def _count(value) -> int | None:
    """An int, or None for a missing count (None, NaN, pandas' NA, -1)."""
    try:
        return int(value) if value is not None and value >= 0 else None
    except (TypeError, ValueError):  # NA and NaN do not compare or convert
        return None


def _main_metric(table) -> str:
    return next(n[: -len("_mean")] for n in table.columns if n.endswith("_mean"))


def _render(table, *, markdown: bool, n_fits: int | None = None) -> str:
    """The comparison table as aligned text or as a Markdown table.

    A column ``failed`` (failed fits of ``n_fits``) is shown when a fit failed.
    """
    rows = _rows(table)
    metric = _main_metric(table)
    pm = "±" if markdown else "+/-"
    head = [
        "model",
        metric,
        "params",
        "FLOPs/sample",
        "first fit (s)",
        "fit (s)",
        "predict (s)",
    ]
    body = [
        [
            r["model"],
            f"{r[f'{metric}_mean']:.4f} {pm} {r[f'{metric}_std']:.4f}",
            "?" if r["n_params"] is None else f"{r['n_params']:,}",
            "?" if r["n_flops"] is None else f"{r['n_flops']:,}",
            f"{r['first_fit_time']:.2f}",
            f"{r['fit_time_mean']:.2f} {pm} {r['fit_time_std']:.2f}",
            f"{r['score_time_mean']:.3f}",
        ]
        for r in rows
    ]
    failed = [int(r.get("n_failed_fits") or 0) for r in rows]
    if any(failed):
        head.append("failed")
        for cells, n in zip(body, failed):
            cells.append(f"{n}/{n_fits}" if n_fits else str(n))
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]

    def fmt(cells):
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        )

    return "\n".join([fmt(head), *(fmt(row) for row in body)])


def _markdown(report: ComparisonReport, figure: str | None) -> str:
    table, raw = report.table, report.cv_results
    n_fits = _n_fits(raw)
    metric = _main_metric(table)
    lines = [f"# sklearn-kan compare: {report.title}", ""]
    if report.command:
        lines += ["Command:", "", "```bash", report.command, "```", ""]
    lines += [
        "## Results",
        "",
        f"{metric} over {n_fits} fits (every model on the same train/test splits; mean ± "
        "std). params: trainable parameters; FLOPs/sample: forward FLOPs to predict one "
        "sample, by the package's counting rule (see the user guide); both of the model "
        "fitted on the first split. first fit: seconds of the first fit, which carries "
        "one-off costs (compilation); fit: seconds per fit over the other fits; predict: "
        "seconds to score one test split (mean over all fits, the first included).",
        "",
        _render(table, markdown=True, n_fits=n_fits),
        "",
    ]
    if report.failures:
        lines += [
            "## Failed fits",
            "",
            "Their scores are the `error_score` of `compare` in the table; the tests below "
            "pair only the fits that finished for both models.",
            "",
            "| model | split | error |",
            "|---|---|---|",
        ]
        lines += [
            f"| {f['model']} | {f['split']} | {f['error'].replace('|', '/')} |"
            for f in report.failures
        ]
        lines += [""]
    if figure:
        lines += [f"![{metric} vs FLOPs, differences and training curves]({figure})", ""]
    if report.settings:
        lines += ["## Settings", "", "| setting | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in report.settings.items()]
        lines += [""]
    machine = table.attrs.get("machine", {})
    if machine:
        lines += ["## Machine", "", "| | |", "|---|---|"]
        lines += [f"| {k} | {_fmt_machine(v)} |" for k, v in machine.items()]
        lines += [""]
    lines += ["## Models", ""]
    for name, result in raw.items():
        help_ = (report.descriptions or {}).get(name)
        lines += [f"- **{name}**" + (f": {help_}" if help_ else ""), ""]
        est = next((e for e in result.get("estimator") or () if e is not None), None)
        if est is not None and not isinstance(est, str):
            lines += ["  ```", f"  {_describe(est)}", "  ```", ""]
    lines += ["## Versions", "", "| package | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in _versions().items()]
    lines += ["", f"## Is the difference real? (each model against {report.reference})", ""]
    if not report.pairs:
        lines += ["One fit per model: no test is possible (use several folds or repeats).", ""]
    else:
        pairs = report.pairs
        unit = " (points)" if metric == "accuracy" else ""
        scale = 100 if metric == "accuracy" else 1
        lines += [
            f"Nadeau and Bengio's corrected resampled t-test over the {pairs[0]['n_fits']} "
            "paired fits (the ordinary paired t-test is too liberal here: the training sets "
            "of the splits overlap, so their scores are correlated); the interval is the "
            f"95% confidence interval of the mean difference, model minus {report.reference}; "
            "significant means p < 0.05, with no correction for the number of pairs.",
            "",
            f"| model | difference{unit} | 95% CI | p-value | significant |",
            "|---|---|---|---|---|",
        ]
        for p in pairs:
            lines.append(
                f"| {p['model']} | {scale * p['mean_diff']:+.2f} | "
                f"[{scale * p['ci_low']:+.2f}, {scale * p['ci_high']:+.2f}] | "
                f"{p['p_value']:.3g} | {'yes' if p['significant'] else 'no'} |"
            )
        lines += [""] + [p["sentence"] for p in pairs]
    return "\n".join(lines) + "\n"


def _n_fits(cv_results: Mapping) -> int:
    return len(next(iter(cv_results.values()))["fit_time"])


def _fmt_machine(value) -> str:
    if isinstance(value, tuple | list) and value and isinstance(value[0], float):
        return " / ".join(f"{v:.2f}" for v in value) + " (1, 5, 15 min)"
    return str(value)


def _versions() -> dict:
    from . import __version__

    versions = {"sklearn-kan": __version__, "python": platform.python_version()}
    for label, module in (
        ("torch", "torch"),
        ("scikit-learn", "sklearn"),
        ("skorch", "skorch"),
        ("numpy", "numpy"),
        ("scipy", "scipy"),
    ):
        try:
            versions[label] = __import__(module).__version__
        except ImportError:  # pragma: no cover - all are dependencies
            continue
    return versions


def _describe(estimator) -> str:
    """One-line repr without the callbacks (progress bars are not part of the model)."""
    est = clone(estimator)
    steps = est.steps if hasattr(est, "steps") else [(None, est)]
    for _, step in steps:
        if "callbacks" in step.get_params(deep=False):
            step.set_params(callbacks=None)
    return " ".join(repr(est).split())
