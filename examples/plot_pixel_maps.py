"""
Pixel maps: what a hybrid and a plain KAN look at
=================================================

:func:`~sklearn_kan.inspection.pixel_map` gives a pixel map for every model that
takes images. This example fits two models on the same digits,

- a hybrid, :class:`~sklearn_kan.HybridKANClassifier` with the ``"conv"`` front end
  (a small CNN, then a KAN head), and
- a plain :class:`~sklearn_kan.KANClassifier` on the raw pixels,

and draws, side by side, the average map of each digit: for every test image, the
map of its true class, averaged over the images of each class. The hybrid's maps are
integrated gradients (its KAN does not read the pixels, so the KAN's own scores do
not apply); the plain KAN gets both its own scores (the share of each class output's
variation that comes from each pixel) and integrated gradients, so that the two kinds
of map can be compared on one model.

MNIST (28 x 28) is read with :func:`sklearn_kan.datasets.fetch_mnist` from the folder
in ``$SKLEARN_KAN_DATA`` (or ``~/scikit_learn_data``) when it is there; it is not
downloaded. Without it, or with ``SKLEARN_KAN_EXAMPLES_SMALL=1`` (the documentation
build), scikit-learn's 8 x 8 digits are used, and the example says so. Figures are
also written to ``pixel_maps/`` in the current folder (or to
``$SKLEARN_KAN_FIGURES``).

With MNIST it runs in about a minute on a 2-core CPU (measured); on the digits, in
seconds.
"""

# %%
# The data
# --------
# 10,000 MNIST training images and 1,000 test images keep the example short.
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_kan import HybridKANClassifier, KANClassifier
from sklearn_kan.inspection import pixel_map
from sklearn_kan.plotting import PixelMapDisplay

SMALL = os.environ.get("SKLEARN_KAN_EXAMPLES_SMALL", "0") not in ("", "0")
OUT = Path(os.environ.get("SKLEARN_KAN_FIGURES", "pixel_maps"))
OUT.mkdir(parents=True, exist_ok=True)


def load_images():
    """MNIST when it is on disk (and the run is not small), else the 8 x 8 digits."""
    if not SMALL:
        try:
            from sklearn_kan.datasets import fetch_mnist

            train = fetch_mnist(subset="train", download_if_missing=False)
            test = fetch_mnist(subset="test", download_if_missing=False)
            return (
                "MNIST",
                train.data[:10_000] / 255.0,
                test.data[:1_000] / 255.0,
                train.target[:10_000],
                test.target[:1_000],
            )
        except OSError as exc:
            print(f"MNIST is not on disk ({type(exc).__name__}); using the 8 x 8 digits.")
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.25, stratify=y, random_state=0
    )
    return "digits", X_train, X_test, y_train, y_test


name, X_train, X_test, y_train, y_test = load_images()
side = int(np.sqrt(X_train.shape[1]))
print(f"{name}: {len(X_train)} training and {len(X_test)} test images, {side} x {side}")

# %%
# Two models
# ----------
# The hybrid reads each flat row of a square length as a square image; the plain
# KAN sees the pixels as features, one spline per pixel and hidden node.
epochs = 3 if name == "MNIST" else 20
models = {
    "hybrid (conv)": HybridKANClassifier("conv", max_epochs=epochs, random_state=0),
    "plain KAN": KANClassifier(hidden_layer_sizes=(32,), max_epochs=epochs, random_state=0),
}
for label, model in models.items():
    start = time.perf_counter()
    model.fit(X_train, y_train)
    print(
        f"{label}: test accuracy {model.score(X_test, y_test):.4f}, "
        f"{model.n_params_} parameters, fit {time.perf_counter() - start:.1f} s"
    )

# %%
# The maps
# --------
# Each test image is attributed to its true class (``y``). ``method="auto"`` picks
# the KAN's own scores for the plain KAN and integrated gradients for the hybrid;
# integrated gradients are also computed for the plain KAN. The baseline is the
# black image (0), the background of these digits. ``delta`` says how far each
# image's attributions are from adding up to its change of log-probability between
# the black image and itself, relative to that change: the error of the 32-step
# path integral.
runs = [
    ("hybrid (conv)", "auto"),
    ("plain KAN", "auto"),
    ("plain KAN", "integrated_gradients"),
]
results = {}
for label, method in runs:
    start = time.perf_counter()
    result = pixel_map(models[label], X_test, y_test, method=method, return_attributions=True)
    seconds = time.perf_counter() - start
    results[label, result.method] = result
    line = f"{label}, {result.method}: {seconds:.1f} s for {len(X_test)} images"
    if result.delta is not None:
        relative = np.abs(result.delta) / np.abs(result.output_difference)
        line += f"; delta / difference: median {np.median(relative):.3f}"
    print(line)

# %%
# Average map per digit, side by side
# -----------------------------------
# One row per model and method, one colour scale per row. The hybrid's integrated
# gradients trace the typical strokes of each digit, smoothly (its convolutions share
# weights across the image). The plain KAN's own scores are almost the same map for
# every class: they measure which pixels make each class output vary over all the
# test images, which is the middle of the frame for every class, and the border,
# blank in every image, gets nothing. Its integrated gradients trace each digit's
# strokes, like the hybrid's, but speckled: each pixel has its own splines. With the
# black image as the baseline, a blank pixel gets no attribution in any image
# (``x - baseline`` is 0 there); ``baseline="mean"`` would also credit missing ink.
fig, axes = plt.subplots(3, 10, figsize=(16, 5.6), layout="constrained")
for row, (key, result) in enumerate(results.items()):
    display = PixelMapDisplay(result.maps, [f"digit {c}" for c in result.classes], result.method)
    display.plot(ax=axes[row])
    for k, panel in enumerate(axes[row]):
        panel.set_title(f"digit {k}" if row == 0 else "", fontsize=9)
    axes[row, 0].set_ylabel(f"{key[0]}\n{key[1].replace('_', ' ')}", fontsize=9)
fig.suptitle(f"Average pixel map of each digit ({name}, {len(X_test)} test images)")
fig.savefig(OUT / "pixel_maps_per_digit.png", dpi=80)

# %%
# One image at a time
# -------------------
# The signed attributions of a few test images (``return_attributions=True``): red
# pixels raise the log-probability of the true class, blue ones lower it.
picks = [int(np.flatnonzero(y_test == digit)[0]) for digit in (2, 5, 7)]
fig, axes = plt.subplots(len(picks), 3, figsize=(6.6, 2.2 * len(picks)), layout="constrained")
for row, i in enumerate(picks):
    axes[row, 0].imshow(X_test[i].reshape(side, side), cmap="gray_r")
    axes[row, 0].set_ylabel(f"digit {y_test[i]}", fontsize=9)
    for col, key in enumerate(
        [("hybrid (conv)", "integrated_gradients"), ("plain KAN", "integrated_gradients")], start=1
    ):
        signed = results[key].attributions[i]
        limit = np.abs(signed).max() or 1.0
        axes[row, col].imshow(signed, cmap="RdBu_r", vmin=-limit, vmax=limit)
        if row == 0:
            axes[row, col].set_title(key[0], fontsize=9)
for panel in axes.ravel():
    panel.set_xticks([])
    panel.set_yticks([])
axes[0, 0].set_title("image", fontsize=9)
fig.suptitle("Integrated gradients of single images")
fig.savefig(OUT / "pixel_maps_single_images.png", dpi=80)

# %%
# Occlusion
# ---------
# Occlusion needs only the model's predictions: it is what ``method="auto"`` takes
# for a pipeline with a step that has no torch form (a scikit-learn classifier after
# :class:`~sklearn_kan.feature_extraction.ConvFeatures`, say). Each 4 x 4 patch (1 x 1
# on the digits) is set to the baseline and the drop of the log-probability is spread
# over it: one forward pass per patch and image. Here it is asked for on the hybrid,
# averaged over all the digits, to compare with the integrated gradients above.
display = PixelMapDisplay.from_estimator(
    models["hybrid (conv)"], X_test[:200], y_test[:200], method="occlusion"
)
display.figure_.savefig(OUT / "pixel_map_occlusion.png", dpi=80)
print(f"figures written to {OUT.resolve()}")
plt.show()
