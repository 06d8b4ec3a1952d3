"""Quickstart: a KAN classifier on scikit-learn's 8x8 digits, beside an MLP.

Runs offline in a few seconds: ``python examples/quickstart.py``.
"""

import time

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from sklearn_kan import KANClassifier, count_params

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

for name, model in [
    ("KAN [64, 64, 10]", KANClassifier(random_state=0)),
    ("MLP [64, 576, 10]", MLPClassifier((576,), max_iter=300, random_state=0)),
]:
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    print(
        f"{name:18s} accuracy {model.score(X_test, y_test):.4f}  "
        f"params {count_params(model):6d}  fit {seconds:.1f} s"
    )
