"""
A KAN against an MLP of the same size on 7 x 7 MNIST
====================================================

The comparison that matters for a KAN is the one with the network it replaces, at
the same number of trainable parameters and with the same training budget. This
example averages MNIST's 28 x 28 digits down to 7 x 7 (49 inputs), trains a KAN
``[49, 10, 10]``, builds the MLP with as many parameters with
:func:`~sklearn_kan.model_selection.matched_mlp` (its hidden width is solved for,
not searched), trains it for the same number of epochs with the same learning
rate and batch size, and scores both on the 10,000 test images.

MNIST is read with :func:`~sklearn_kan.datasets.fetch_mnist` from
``$SKLEARN_KAN_DATA`` (or ``~/scikit_learn_data``) and is not downloaded here. With
``SKLEARN_KAN_EXAMPLES_SMALL=1`` (the documentation build), or without the files,
scikit-learn's 8 x 8 digits stand in, so every number below was measured on the
data named in the output.

With MNIST it runs in about 30 seconds on a 2-core CPU (measured); on the digits, in seconds.
"""

# %%
# The data
# --------
import os
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from sklearn_kan import KANClassifier, count_params
from sklearn_kan.model_selection import matched_mlp
from sklearn_kan.plotting import plot_history
from sklearn_kan.preprocessing import Downsample

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
print(f"{name}: {len(X_train)} training and {len(X_test)} test images of {X_train.shape[1]} px")

# %%
# The two models
# --------------
# ``Downsample(7)`` averages blocks of pixels (exactly 4 x 4 blocks on MNIST); the
# KAN and the MLP both see the same 49 numbers. ``matched_mlp`` receives the whole
# pipeline, so it matches the KAN step and keeps the ``Downsample`` in front.
EPOCHS = 15
kan = make_pipeline(
    Downsample(7),
    KANClassifier(hidden_layer_sizes=(10,), max_epochs=EPOCHS, random_state=0),
)
mlp = matched_mlp(kan, X_train.shape, n_outputs=10)
print(mlp)

# %%
# Training and scoring
# --------------------
results = {}
for label, model in [("KAN [49, 10, 10]", kan), ("matched MLP", mlp)]:
    start = time.perf_counter()
    with warnings.catch_warnings():
        # The MLP stops after EPOCHS epochs, like the KAN, on purpose.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    results[label] = (model.score(X_test, y_test), count_params(model), fit_time)

print(f"{'model':18s} {'test accuracy':>13s} {'parameters':>10s} {'fit (s)':>8s}")
for label, (accuracy, n_params, fit_time) in results.items():
    print(f"{label:18s} {accuracy:13.4f} {n_params:10d} {fit_time:8.1f}")
print(f"MLP hidden width: {mlp[-1].hidden_layer_sizes[0]}")

# %%
# Accuracy and training curves
# ----------------------------
# Left: test accuracy against parameters. Right: the KAN's skorch history (drawn
# by :func:`~sklearn_kan.plotting.plot_history`) with the MLP's: both are trained by
# the same loop and record the mean cross-entropy of an epoch's minibatches.
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
for i, (accuracy, n_params, _) in enumerate(results.values()):
    left.bar(i, accuracy, color=f"C{i}")
    left.text(i, accuracy, f"{accuracy:.4f}\n{n_params} params", ha="center", va="bottom")
left.set_xticks(range(len(results)), list(results))
low = min(a for a, _, _ in results.values())
left.set_ylim(max(0.0, low - 0.05), 1.0)
left.set_ylabel(f"test accuracy ({name})")
plot_history(kan, ax=right)
mlp_loss = mlp[-1].history_[:, "train_loss"]
right.plot(np.arange(1, len(mlp_loss) + 1), mlp_loss, label="MLP train_loss")
right.set_yscale("log")
right.legend()
plt.show()
