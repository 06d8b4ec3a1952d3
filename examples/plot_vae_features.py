"""
Features then KAN: a variational autoencoder in front of a KAN
==============================================================

A KAN's cost grows with its number of inputs times its grid size, so feeding it a
few good features instead of every pixel makes it small and fast.
:class:`~sklearn_kan.feature_extraction.VAEFeatures` trains a variational
autoencoder in ``fit`` (unsupervised) and returns the posterior means of its
latent variables in ``transform``; in a pipeline,
``make_pipeline(VAEFeatures(16), KANClassifier())`` is the "features then KAN"
recipe.

This example compares, on the same training and test images:

- a KAN on all the pixels;
- PCA with 16 components, then a KAN (the linear counterpart);
- ``VAEFeatures(16)``, then a KAN;

and shows what the VAE's 16 numbers keep of an image (its reconstructions). The
KAN heads are identical, so the comparison is about the features.

MNIST is read from ``$SKLEARN_KAN_DATA`` when it is there (a 10,000 image
training subset, the 10,000 test images); with ``SKLEARN_KAN_EXAMPLES_SMALL=1``
(the documentation build) or without it, scikit-learn's 8 x 8 digits are used.

With MNIST it runs in about 40 seconds on a 2-core CPU (measured); on the digits, in seconds.
"""

# %%
# The data
# --------
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import PredefinedSplit, train_test_split
from sklearn.pipeline import make_pipeline

from sklearn_kan import KANClassifier
from sklearn_kan.feature_extraction import VAEFeatures
from sklearn_kan.model_selection import compare

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
X = np.concatenate([X_train, X_test])
y = np.concatenate([y_train, y_test])
split = PredefinedSplit(np.r_[np.full(len(X_train), -1), np.zeros(len(X_test))])
side = int(np.sqrt(X.shape[1]))
print(f"{name}: {len(X_train)} training and {len(X_test)} test images, {side} x {side}")

# %%
# Three pipelines, one KAN head
# -----------------------------
EPOCHS = 20


def kan():
    return KANClassifier(hidden_layer_sizes=(16,), max_epochs=EPOCHS, random_state=0)


models = {
    "KAN on pixels": kan(),
    "PCA(16) + KAN": make_pipeline(PCA(16, random_state=0), kan()),
    "VAE(16) + KAN": make_pipeline(
        VAEFeatures(n_components=16, max_epochs=EPOCHS, random_state=0), kan()
    ),
}
table, raw = compare(models, X, y, cv=split, verbose=1, return_cv_results=True)
print(table[["accuracy_mean", "n_params", "fit_time_mean"]].to_string())

# %%
# The parameter count of the VAE pipeline includes the whole VAE (encoder and
# decoder), since all of it was trained; the KAN head alone is much smaller:
vae_pipeline = raw["VAE(16) + KAN"]["estimator"][0]
print(f"VAE: {vae_pipeline[0].n_params_} parameters, its KAN head: {vae_pipeline[-1].n_params_}")

# %%
# What 16 numbers keep of an image
# --------------------------------
# Top row: test images; bottom row: the VAE's reconstruction from the posterior
# means (``inverse_transform`` of ``transform``).
vae = vae_pipeline[0]
originals = X_test[:8]
recovered = vae.inverse_transform(vae.transform(originals))
error = np.mean((recovered - originals) ** 2)
print(f"mean squared reconstruction error on the test images shown: {error:.4f}")
fig, axes = plt.subplots(2, 8, figsize=(10, 2.8), layout="constrained")
for i in range(8):
    axes[0, i].imshow(originals[i].reshape(side, side), cmap="gray_r")
    axes[1, i].imshow(recovered[i].reshape(side, side), cmap="gray_r")
for ax in axes.ravel():
    ax.set_axis_off()
axes[0, 0].set_title("test images", loc="left", fontsize=9)
axes[1, 0].set_title("VAE reconstructions", loc="left", fontsize=9)

# %%
# Accuracy
# --------
fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
ax.barh(table.index, table["accuracy_mean"], color=["C0", "C1", "C2"])
for i, (accuracy, n_params) in enumerate(zip(table["accuracy_mean"], table["n_params"])):
    ax.text(accuracy, i, f" {accuracy:.4f} ({n_params} params)", va="center", fontsize=9)
ax.set_xlim(max(0.0, table["accuracy_mean"].min() - 0.1), 1.05)
ax.set_xlabel(f"test accuracy ({name})")
plt.show()
