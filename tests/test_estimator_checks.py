"""scikit-learn's own estimator checks, with no expected failures."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_kan import HybridKANClassifier, KANClassifier, KANRegressor
from sklearn_kan.baselines import CNNClassifier, TorchMLPClassifier, TorchMLPRegressor
from sklearn_kan.feature_extraction import ConvFeatures, VAEFeatures
from sklearn_kan.preprocessing import Downsample, Flatten


# Defaults except a smaller network: the checks fit a few hundred times on tiny
# data sets; the default 30 epochs are kept, so the accuracy checks
# (check_classifiers_train, check_regressors_train) test the real training.
# dtype="float64": check_sample_weight_equivalence_on_dense_data compares a fit
# with integer weights to one on repeated rows to 1e-7, which float32 training
# cannot meet (the two sum their gradients in different orders; measured: 2e-7
# apart after 30 epochs). The float32 default is tested by the rest of the suite.
#
# The default run checks KANClassifier and the transformers (about 15 s on 2 cores);
# the other supervised estimators, which share its machinery, are checked with
# `-m slow` (another 60 s).
@parametrize_with_checks(
    [
        KANClassifier(hidden_layer_sizes=(16,), dtype="float64"),
        # Tiny networks and 2 epochs: no check measures what a transformer learned,
        # only its API (shapes, determinism, errors), and they fit ~100 times.
        ConvFeatures(n_components=4, channels=(4,), max_epochs=2),
        VAEFeatures(n_components=2, hidden=(8,), max_epochs=2),
        # The checks' rows are 1 x n images (the package's rule for non-square rows):
        # Flatten passes them through; Downsample reduces them to one pixel.
        Flatten(),
        Downsample(size=1),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks(
    [
        # The checks' tabular rows (2, 3, 10 ... features) are read as 1 x n
        # images. (KANClassifier has hidden_norm="batchnorm", the default, and
        # CNNClassifier BatchNorm layers: the weighted batch statistics pass the
        # sample-weight equivalence check.)
        HybridKANClassifier(
            "linear", frontend_features=8, hidden_layer_sizes=(8,), dtype="float64"
        ),
        # The same-loop baselines of sklearn_kan.model_selection.
        TorchMLPClassifier(hidden_layer_sizes=(16,), dtype="float64"),
        # check_regressors_train fits 200 samples: 2 batches an epoch, too few steps at
        # the default lr for its R^2 > 0.5.
        TorchMLPRegressor(hidden_layer_sizes=(16,), lr=1e-2, max_epochs=60, dtype="float64"),
        CNNClassifier(frontend_features=8, conv_channels=(4,), dtype="float64"),
        KANRegressor(hidden_layer_sizes=(16,), dtype="float64"),
        # The per-sample hidden_norm between KAN layers.
        KANClassifier(hidden_layer_sizes=(8, 8), hidden_norm="layernorm", dtype="float64"),
    ]
)
def test_sklearn_compatible_every_estimator(estimator, check):
    check(estimator)
