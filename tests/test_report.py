"""The comparison report (sklearn_kan._report) and its figure (sklearn_kan.plotting)."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_digits
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold
from sklearn.naive_bayes import GaussianNB

from sklearn_kan.model_selection import ComparisonReport, compare


@pytest.fixture(scope="module")
def results():
    X, y = load_digits(return_X_y=True)
    cv = RepeatedStratifiedKFold(n_splits=3, n_repeats=2, random_state=0)
    models = {"logreg": LogisticRegression(max_iter=300), "nb": GaussianNB()}
    return compare(models, X[:600], y[:600], cv=cv, return_cv_results=True)


def test_report_writes_the_table_the_tests_and_the_figure(results, tmp_path):
    table, raw = results
    report = ComparisonReport(table, raw, title="digits", command="python example.py")
    assert report.reference == "logreg" and len(report.pairs) == 1
    paths = report.save(tmp_path)
    text = paths["report"].read_text()
    assert "python example.py" in text and "FLOPs/sample" in text
    assert "corrected resampled t-test" in text
    assert "## Machine" in text and "## Versions" in text
    assert text.rstrip().endswith(report.pairs[0]["sentence"])  # the sentences come last
    assert paths["figure"].stat().st_size > 0
    lines = report.to_text().splitlines()
    assert lines[0].split()[:3] == ["model", "accuracy", "params"]
    assert [line.split()[0] for line in lines[1:]] == ["logreg", "nb"]
    assert "| model | accuracy |" in report.to_markdown(figure=None)


def test_report_of_one_fit_has_no_test(results):
    table, raw = results
    one = {name: {**r, "fit_time": r["fit_time"][:1]} for name, r in raw.items()}
    report = ComparisonReport(table, one)
    assert report.pairs == []
    assert "no test is possible" in report.to_markdown()


class _FailsOn(ClassifierMixin, BaseEstimator):
    """Logistic regression whose fit fails on training sets of ``n_rows`` rows."""

    def __init__(self, n_rows=-1):
        self.n_rows = n_rows

    def fit(self, X, y):
        if len(X) == self.n_rows:
            raise ValueError("this fold fails")
        self.model_ = LogisticRegression(max_iter=100).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)


def test_report_lists_the_failed_fits():
    X, y = load_digits(return_X_y=True)
    X, y = X[:300], y[:300]
    splits = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    train, test = splits[1]
    splits[1] = (train[10:], test)
    models = {"logreg": LogisticRegression(max_iter=100), "flaky": _FailsOn(len(train) - 10)}
    with pytest.warns(FitFailedWarning):
        table, raw = compare(models, X, y, cv=splits, return_cv_results=True)
    report = ComparisonReport(table, raw)
    assert report.failures == [
        {"model": "flaky", "split": 1, "error": "ValueError: this fold fails"}
    ]
    text = report.to_markdown()
    assert "Failed fits" in text and "ValueError: this fold fails" in text
    assert "1/3" in report.to_text()
    assert np.isnan(table.loc["flaky", "accuracy_mean"])
