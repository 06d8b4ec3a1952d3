"""
Hybrid KANs for images: a front end, then a KAN head
====================================================

A KAN on raw pixels spends a learnable function on every pixel of every hidden
node. :class:`~sklearn_kan.HybridKANClassifier` puts a front end that sees the
image in front of a small KAN head, trained end to end:

- ``frontend="linear"``: one linear map from the pixels to the head's inputs;
- ``frontend="conv"``: two convolution blocks (a small CNN), then the KAN head.

Each hybrid is compared with two ordinary networks: an MLP with as many
parameters as the hybrid (:func:`~sklearn_kan.model_selection.matched_mlp`), and a
CNN (:class:`~sklearn_kan.feature_extraction.ConvFeatures`, convolution blocks
trained with a softmax head, followed by a logistic regression on the learned
features). :func:`~sklearn_kan.model_selection.compare` trains all of them on the
same training set and scores them on the same test set (one
:class:`~sklearn.model_selection.PredefinedSplit`), timing each fit.

MNIST (60,000 training and 10,000 test images) is read from ``$SKLEARN_KAN_DATA``
when it is there; with ``SKLEARN_KAN_EXAMPLES_SMALL=1`` (the documentation build)
or without it, scikit-learn's 8 x 8 digits are used. The numbers printed are those
of the run that produced this page.

With MNIST it runs in about 8 minutes on a 2-core CPU (measured); on the digits, in seconds.
"""

# %%
# The data: one fixed train / test split
# --------------------------------------
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import PredefinedSplit, train_test_split
from sklearn.pipeline import make_pipeline

from sklearn_kan import HybridKANClassifier
from sklearn_kan.feature_extraction import ConvFeatures
from sklearn_kan.model_selection import compare, matched_mlp

SMALL = os.environ.get("SKLEARN_KAN_EXAMPLES_SMALL", "0") not in ("", "0")


def load_data():
    """MNIST's training and test sets, or scikit-learn's digits when small or absent."""
    if not SMALL:
        try:
            from sklearn_kan.datasets import fetch_mnist

            train = fetch_mnist(subset="train", download_if_missing=False)
            test = fetch_mnist(subset="test", download_if_missing=False)
            return "MNIST", train.data / 255.0, test.data / 255.0, train.target, test.target
        except OSError as exc:
            print(f"MNIST is not on disk ({type(exc).__name__}); using the 8 x 8 digits.")
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.25, stratify=y, random_state=0
    )
    return "digits", X_train, X_test, y_train, y_test


name, X_train, X_test, y_train, y_test = load_data()
X = np.concatenate([X_train, X_test]).astype(np.float32)
y = np.concatenate([y_train, y_test])
# -1: always in the training set; 0: the one test fold.
split = PredefinedSplit(np.r_[np.full(len(X_train), -1), np.zeros(len(X_test))])
side = int(np.sqrt(X.shape[1]))
print(f"{name}: {len(X_train)} training and {len(X_test)} test images, {side} x {side}")

# %%
# The models
# ----------
# The hybrids read each flat row of a square length as a square image. Both
# hybrids and the CNN get the same number of epochs.
EPOCHS = 10 if SMALL or name == "digits" else 5
hybrids = {
    f"hybrid-{frontend}": HybridKANClassifier(
        frontend=frontend, hidden_layer_sizes=(32,), max_epochs=EPOCHS, random_state=0
    )
    for frontend in ("linear", "conv")
}
models = dict(hybrids)
for label, hybrid in hybrids.items():
    models[f"MLP like {label}"] = matched_mlp(hybrid, X.shape, n_outputs=10)
models["CNN"] = make_pipeline(
    ConvFeatures(n_components=32, max_epochs=EPOCHS, random_state=0),
    LogisticRegression(max_iter=1000),
)

# %%
# Train and score
# ---------------
with warnings.catch_warnings():
    # The MLPs stop after EPOCHS epochs, like the hybrids, on purpose.
    warnings.simplefilter("ignore", ConvergenceWarning)
    table = compare(models, X, y, cv=split, verbose=1)
columns = ["accuracy_mean", "n_params", "fit_time_mean", "score_time_mean"]
print(table[columns].rename(columns=lambda c: c.replace("_mean", "")).to_string())

# %%
# Accuracy against size
# ---------------------
fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
for i, (label, row) in enumerate(table.iterrows()):
    ax.scatter(row["n_params"], row["accuracy_mean"], s=60, color=f"C{i}", label=label)
ax.set_xscale("log")
ax.set_xlabel("trainable parameters")
ax.set_ylabel(f"test accuracy ({name})")
ax.set_title("Hybrid KANs, matched MLPs and a CNN")
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
plt.show()
