"""scikit-learn's own estimator checks, with no expected failures."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_kan import KANClassifier, KANRegressor


# Defaults except a smaller network: the checks fit a few hundred times on tiny
# data sets; the default 30 epochs are kept, so the accuracy checks
# (check_classifiers_train, check_regressors_train) test the real training.
@parametrize_with_checks(
    [
        KANClassifier(hidden_layer_sizes=(16,)),
        KANRegressor(hidden_layer_sizes=(16,)),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
