"""
What did the KAN learn?
=======================

A KAN puts a learnable function on every edge, so unlike an MLP it can be read:
which pixels it looks at, what function each edge computes, and which edges and
nodes it could do without. This example fits ``Downsample(7)`` + a small
``KANClassifier`` on MNIST (28 x 28 digits, averaged down to 7 x 7), then

1. maps the importance of the 49 small pixels back onto the 28 x 28 image,
2. plots a few learned edge functions over the data they see,
3. prunes the edges and hidden nodes that carry little, and measures what that costs,
4. plots the training history.

MNIST is read with :func:`sklearn_kan.datasets.fetch_mnist` from the folder in the
``SKLEARN_KAN_DATA`` environment variable (or ``~/scikit_learn_data``); it is not
downloaded here. Without it the example uses scikit-learn's 8 x 8 digits instead
and says so. Figures are written to ``kan_interpretability/`` in the current
folder (or to ``$SKLEARN_KAN_FIGURES``).

Run it with ``python examples/plot_kan_interpretability.py`` (about 1.5 minutes of CPU time;
one to two minutes on an idle 2-core machine).
"""

# %%
# Data
# ----
# 10,000 training and 2,000 test images keep the example quick on a CPU.
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; sphinx-gallery collects the figures itself
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from sklearn_kan import KANClassifier
from sklearn_kan.inspection import activation_curves, input_importance, pixel_importance, prune
from sklearn_kan.plotting import plot_activations, plot_history, plot_pixel_importance
from sklearn_kan.preprocessing import Downsample

OUT = Path(os.environ.get("SKLEARN_KAN_FIGURES", "kan_interpretability"))
OUT.mkdir(parents=True, exist_ok=True)


def load_images():
    """MNIST when it is on disk, else scikit-learn's 8 x 8 digits."""
    try:
        from sklearn_kan.datasets import fetch_mnist

        train = fetch_mnist(subset="train", download_if_missing=False)
        test = fetch_mnist(subset="test", download_if_missing=False)
    except (ImportError, OSError) as exc:
        print(f"MNIST not available ({type(exc).__name__}: {str(exc)[:80]}...)")
        print("Using scikit-learn's 8 x 8 digits instead (set SKLEARN_KAN_DATA for MNIST).")
        X, y = load_digits(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, random_state=0)
        return "digits (8 x 8)", X_train, X_test, y_train, y_test
    rng = np.random.RandomState(0)
    tr = rng.choice(len(train.data), 10_000, replace=False)
    te = rng.choice(len(test.data), 2_000, replace=False)
    print("Using MNIST (28 x 28): 10,000 training and 2,000 test images.")
    return (
        "MNIST (28 x 28)",
        train.data[tr] / 255.0,
        test.data[te] / 255.0,
        train.target[tr],
        test.target[te],
    )


name, X_train, X_test, y_train, y_test = load_images()
side = int(np.sqrt(X_train.shape[1]))

# %%
# Fit ``Downsample(7)`` + a KAN with one hidden layer of 10 nodes
# ----------------------------------------------------------------
# 49 inputs -> 10 hidden nodes -> 10 classes: 590 learnable edge functions.
model = Pipeline(
    [
        ("down", Downsample(7)),
        ("kan", KANClassifier(hidden_layer_sizes=(10,), max_epochs=15, random_state=0)),
    ]
)
start = time.perf_counter()
model.fit(X_train, y_train)
print(
    f"{name}: test accuracy {model.score(X_test, y_test):.4f}, "
    f"{model[-1].n_params_} parameters, fit {time.perf_counter() - start:.1f} s"
)

# %%
# Which pixels matter?
# --------------------
# The importance of each of the 49 small pixels (its share of the outputs'
# variation, propagated back through the network as in pykan's ``attribute``) is
# spread over the original pixels it averages, so the map is at full resolution.
pixels = pixel_importance(model, X_train)
print(f"importance map {pixels.shape}, sums to {pixels.sum():.3f}")
border = np.ones_like(pixels, dtype=bool)
m = side // 7  # a border one small pixel wide
border[m:-m, m:-m] = False
print(
    f"share of importance on the border ring: {pixels[border].sum():.3f} "
    f"({border.mean():.0%} of the pixels)"
)
print(
    "most important original pixel (row, col):",
    tuple(int(i) for i in np.unravel_index(pixels.argmax(), pixels.shape)),
)

fig = plot_pixel_importance(model, X_train)
fig.savefig(OUT / "pixel_importance.png", dpi=120)
fig = plot_pixel_importance(model, X_train, per_class=True)
fig.savefig(OUT / "pixel_importance_per_class.png", dpi=120)

# %%
# What do the edges compute?
# --------------------------
# The six most important small pixels, and the six hidden nodes they feed most.
# The x axis is the pixel value (0-1, after the 7 x 7 averaging); the grey
# histogram is where the data lies, the shaded band the spline grid.
small = input_importance(model, X_train)
print(
    "most important small pixels (row, col):",
    [divmod(int(i), 7) for i in np.argsort(small)[::-1][:6]],
)
fig = plot_activations(model, layer=0, X=X_train[:3000])
fig.savefig(OUT / "activations_layer0.png", dpi=100)

# The hidden -> class edges: how each hidden node votes for each class. The
# histograms show that the hidden values spread well beyond the grid [-1, 1] of
# the second layer: out there only the SiLU part of an edge varies, hence the
# straight lines. ``grid_update_epochs`` re-places the grids on the data.
fig = plot_activations(model, layer=1, outputs=[0, 1, 7], X=X_train[:3000])
fig.savefig(OUT / "activations_layer1.png", dpi=100)

curves = activation_curves(model, layer=1)
monotone = np.all(np.diff(curves.y, axis=-1) >= 0, axis=-1) | np.all(
    np.diff(curves.y, axis=-1) <= 0, axis=-1
)
print(f"hidden -> class edges that are monotone on their grid: {monotone.mean():.0%}")

# %%
# Prune what carries little
# -------------------------
# ``prune`` returns a pruned copy: an edge whose attribution is below
# ``threshold`` times the largest of its layer is replaced by its mean (moved
# into the bias) and masked; hidden nodes left without a job are removed.
rows = [("none", model)]
for threshold in (0.05, 0.1, 0.2, 0.3):
    rows.append((threshold, prune(model, X_train, threshold=threshold)))
print(f"{'threshold':>9} {'widths':>14} {'edges':>6} {'params':>7} {'test accuracy':>13}")
for threshold, pruned in rows:
    report = getattr(pruned, "pruning_report_", None)
    widths = report.widths_after if report else rows[1][1].pruning_report_.widths_before
    edges = report.n_edges_after if report else rows[1][1].pruning_report_.n_edges_before
    print(
        f"{threshold:>9} {str(widths):>14} {edges:>6} {pruned[-1].n_params_:>7} "
        f"{pruned.score(X_test, y_test):>13.4f}"
    )

# %%
# Training history
# ----------------
# Loss per epoch from skorch's history (accuracy is drawn too when a callback
# records it, e.g. ``valid_acc``).
fig = plot_history(model)
fig.savefig(OUT / "history.png", dpi=100)
print(f"figures written to {OUT.resolve()}")
