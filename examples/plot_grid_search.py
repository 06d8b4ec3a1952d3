"""
Tuning a KAN with GridSearchCV
==============================

:class:`~sklearn_kan.KANClassifier` keeps every hyperparameter as an explicit
``__init__`` parameter, so scikit-learn's searches work on it unchanged, also
inside a :class:`~sklearn.pipeline.Pipeline`. This example searches the grid size,
the basis functions (B-splines as in the KAN paper, Gaussian radial basis
functions as in FastKAN, Chebyshev polynomials as in ChebyKAN) and the hidden
layer sizes of a ``Downsample(7)`` + KAN pipeline, with 3-fold cross-validation,
then scores the best model on held-out data.

MNIST (a 10,000 image subset for the search, the 10,000 test images for the final
score) is read from ``$SKLEARN_KAN_DATA`` when it is there; with
``SKLEARN_KAN_EXAMPLES_SMALL=1`` (the documentation build) or without it,
scikit-learn's 8 x 8 digits are used.

With MNIST it runs in about 2 minutes on a 2-core CPU (measured); on the digits, in seconds.
"""

# %%
# The data
# --------
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

from sklearn_kan import KANClassifier
from sklearn_kan.preprocessing import Downsample

SMALL = os.environ.get("SKLEARN_KAN_EXAMPLES_SMALL", "0") not in ("", "0")


def load_data():
    """A 10,000 image MNIST subset and the test set, or the 8 x 8 digits."""
    if not SMALL:
        try:
            from sklearn_kan.datasets import fetch_mnist

            train = fetch_mnist(subset="train", download_if_missing=False)
            test = fetch_mnist(subset="test", download_if_missing=False)
            keep = np.random.default_rng(0).choice(len(train.data), 10_000, replace=False)
            return (
                "MNIST",
                train.data[keep] / 255.0,
                test.data / 255.0,
                train.target[keep],
                test.target,
            )
        except OSError as exc:
            print(f"MNIST is not on disk ({type(exc).__name__}); using the 8 x 8 digits.")
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.25, stratify=y, random_state=0
    )
    return "digits", X_train, X_test, y_train, y_test


name, X_train, X_test, y_train, y_test = load_data()
print(f"{name}: {len(X_train)} images for the search, {len(X_test)} held out")

# %%
# The search
# ----------
# 3 grid sizes x 3 bases x 2 hidden layer sizes = 18 candidates, each fitted on 3
# folds. Parameters of a pipeline step are named ``<step>__<parameter>``.
pipe = Pipeline(
    [
        ("down", Downsample(7)),
        ("kan", KANClassifier(max_epochs=10, random_state=0)),
    ]
)
grid = {
    "kan__grid_size": [3, 5, 8],
    "kan__basis": ["bspline", "rbf", "chebyshev"],
    "kan__hidden_layer_sizes": [(8,), (16,)],
}
search = GridSearchCV(pipe, grid, cv=StratifiedKFold(3, shuffle=True, random_state=0))
search.fit(X_train, y_train)

print("best parameters:", search.best_params_)
print(f"best cross-validated accuracy: {search.best_score_:.4f}")
print(f"held-out accuracy of the refitted best model: {search.score(X_test, y_test):.4f}")
print(f"its trainable parameters: {search.best_estimator_[-1].n_params_}")

# %%
# All the candidates
# ------------------
# ``cv_results_`` as a table, best first, with the mean fit time of each.
results = search.cv_results_
order = np.argsort(results["rank_test_score"])
print(f"{'basis':10s} {'grid':>4s} {'hidden':>7s} {'accuracy':>14s} {'fit (s)':>8s}")
for i in order:
    params = results["params"][i]
    print(
        f"{params['kan__basis']:10s} {params['kan__grid_size']:4d} "
        f"{str(params['kan__hidden_layer_sizes']):>7s} "
        f"{results['mean_test_score'][i]:.4f} +/- {results['std_test_score'][i]:.4f} "
        f"{results['mean_fit_time'][i]:8.2f}"
    )

# %%
# Accuracy by grid size and basis
# -------------------------------
# One panel per hidden layer size; each cell is the mean cross-validated accuracy.
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained", sharey=True)
for ax, hidden in zip(axes, grid["kan__hidden_layer_sizes"]):
    cells = np.zeros((len(grid["kan__basis"]), len(grid["kan__grid_size"])))
    for params, score in zip(results["params"], results["mean_test_score"]):
        if params["kan__hidden_layer_sizes"] == hidden:
            row = grid["kan__basis"].index(params["kan__basis"])
            col = grid["kan__grid_size"].index(params["kan__grid_size"])
            cells[row, col] = score
    image = ax.imshow(cells, cmap="viridis", vmin=results["mean_test_score"].min(), vmax=1)
    for (r, c), value in np.ndenumerate(cells):
        ax.text(c, r, f"{value:.3f}", ha="center", va="center", color="w", fontsize=9)
    ax.set_xticks(range(len(grid["kan__grid_size"])), grid["kan__grid_size"])
    ax.set_yticks(range(len(grid["kan__basis"])), grid["kan__basis"])
    ax.set_xlabel("grid_size")
    ax.set_title(f"hidden_layer_sizes={hidden}")
fig.colorbar(image, ax=axes, label="mean CV accuracy")
plt.show()
