import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits, make_classification
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_kan import KANClassifier


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0)


def test_default_settings_reach_095_on_digits(digits):
    X_train, X_test, y_train, y_test = digits
    clf = KANClassifier(random_state=0).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.95
    assert clf.n_features_in_ == 64
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    # 64 * 64 * 9 + 64 + 64 * 10 * 9 + 10 edges' weights and biases
    assert clf.n_params_ == 64 * 64 * 9 + 64 + 64 * 10 * 9 + 10
    assert len(clf.history_) == clf.max_epochs


def test_predict_proba_is_a_distribution_consistent_with_predict(digits):
    X_train, X_test, y_train, _ = digits
    clf = KANClassifier(max_epochs=3, random_state=0).fit(X_train, y_train)
    proba = clf.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-12)
    assert np.all(proba >= 0)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], clf.predict(X_test))


def test_string_labels():
    X, y = make_classification(n_samples=120, n_informative=4, n_classes=3, random_state=0)
    names = np.array(["cat", "dog", "eel"])[y]
    clf = KANClassifier(hidden_layer_sizes=(8,), max_epochs=60, random_state=0).fit(X, names)
    assert set(clf.predict(X)) <= set(names)
    assert clf.score(X, names) > 0.8


def test_lbfgs_full_batch_like_pykan(digits):
    X_train, X_test, y_train, y_test = digits
    clf = KANClassifier(
        hidden_layer_sizes=(16,),
        optimizer="lbfgs",
        lr=1.0,
        batch_size=None,
        max_epochs=15,
        random_state=0,
    ).fit(X_train, y_train)
    assert len(clf.history_[-1]["batches"]) == 1  # one full batch per epoch
    assert clf.score(X_test, y_test) > 0.9


@pytest.mark.parametrize("optimizer", ["adamw", "sgd", torch.optim.RMSprop])
def test_other_optimizers(digits, optimizer):
    X_train, X_test, y_train, y_test = digits
    lr = 0.1 if optimizer == "sgd" else 0.01
    clf = KANClassifier(optimizer=optimizer, lr=lr, max_epochs=5, random_state=0)
    assert clf.fit(X_train, y_train).score(X_test, y_test) > 0.8


def test_grid_schedule_extends_the_grid(digits):
    X_train, X_test, y_train, y_test = digits
    clf = KANClassifier(
        hidden_layer_sizes=(16,),
        grid_size=3,
        grid_schedule=(5, 10),
        max_epochs=9,
        random_state=0,
    ).fit(X_train, y_train)
    assert [layer.grid_size for layer in clf.module_.kan.layers] == [10, 10]
    assert clf.n_params_ == 64 * 16 * 14 + 16 + 16 * 10 * 14 + 10
    assert clf.score(X_test, y_test) > 0.9
    # extension keeps the function: the loss does not jump up after a switch
    losses = clf.history_[:, "train_loss"]
    assert losses[3] < losses[2] * 1.5 and losses[6] < losses[5] * 1.5


def test_grid_update_moves_the_grid(digits):
    X_train, X_test, y_train, y_test = digits
    ref = KANClassifier(hidden_layer_sizes=(16,), max_epochs=4, lr=1e-2, random_state=0)
    ref.fit(X_train, y_train)
    clf = clone(ref).set_params(grid_update_epochs=(1, 2)).fit(X_train, y_train)
    hidden_grid = clf.module_.kan.layers[1].grid
    assert not torch.allclose(hidden_grid, ref.module_.kan.layers[1].grid)
    assert clf.score(X_test, y_test) > 0.9


def test_regularisation_shrinks_the_activations(digits):
    X_train, _, y_train, _ = digits
    kwargs = dict(hidden_layer_sizes=(16,), max_epochs=5, random_state=0)
    plain = KANClassifier(**kwargs).fit(X_train, y_train)
    sparse = KANClassifier(lamb=0.01, **kwargs).fit(X_train, y_train)
    x = torch.as_tensor(X_train[:200], dtype=torch.float32)

    def l1(clf):
        with torch.no_grad():
            return clf.module_.regularization_loss(x, 1.0, 0.0).item()

    assert l1(sparse) < 0.7 * l1(plain)


def test_early_stopping_holds_out_and_stops(digits):
    X_train, _, y_train, _ = digits
    clf = KANClassifier(
        early_stopping=True, n_iter_no_change=2, max_epochs=200, random_state=0
    ).fit(X_train, y_train)
    assert len(clf.history_) < 200
    assert "valid_loss" in clf.history_[-1]
    batches = clf.history_[0]["batches"]
    n_train = sum(b.get("train_batch_size", 0) for b in batches)
    n_valid = sum(b.get("valid_batch_size", 0) for b in batches)
    assert n_valid == int(np.ceil(0.1 * len(X_train)))
    assert n_train + n_valid == len(X_train)


def test_cosine_schedule_decays_the_learning_rate(digits):
    X_train, _, y_train, _ = digits
    clf = KANClassifier(max_epochs=4, random_state=0).fit(X_train, y_train)
    lrs = [g["lr"] for g in clf.net_.optimizer_.param_groups]
    assert lrs == [pytest.approx(0.0)]
    clf.set_params(warm_start=True, max_epochs=2).fit(X_train, y_train)  # a new cycle
    assert clf.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    clf.partial_fit(X_train, y_train)  # back to the constant lr, not stuck at 0
    assert clf.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(0.003)
    inc = KANClassifier(random_state=0)
    for _ in range(3):
        inc.partial_fit(X_train, y_train, classes=np.arange(10))
    assert inc.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(0.003)
    const = KANClassifier(max_epochs=2, lr_schedule="constant", random_state=0)
    assert const.fit(X_train, y_train).net_.optimizer_.param_groups[0]["lr"] == 0.003


def test_no_validation_split_by_default(digits):
    X_train, _, y_train, _ = digits
    clf = KANClassifier(max_epochs=1, random_state=0).fit(X_train, y_train)
    assert sum(b["train_batch_size"] for b in clf.history_[0]["batches"]) == len(X_train)
    assert "valid_loss" not in clf.history_[-1]


def test_verbose_prints_the_epoch_table(digits, capsys):
    X_train, _, y_train, _ = digits
    KANClassifier(max_epochs=2, verbose=1, random_state=0).fit(X_train, y_train)
    out = capsys.readouterr().out
    assert "train_loss" in out and "epoch" in out
    KANClassifier(max_epochs=2, random_state=0).fit(X_train, y_train)
    assert capsys.readouterr().out == ""


def test_warm_start_and_partial_fit_continue(digits):
    X_train, _, y_train, _ = digits
    clf = KANClassifier(max_epochs=2, warm_start=True, random_state=0).fit(X_train, y_train)
    module = clf.module_
    clf.fit(X_train, y_train)
    assert clf.module_ is module and len(clf.history_) == 4
    inc = KANClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        inc.partial_fit(X_train, y_train)
    inc.partial_fit(X_train[:100], y_train[:100], classes=np.arange(10))
    inc.partial_fit(X_train, y_train)
    assert len(inc.history_) == 2 and inc.classes_.tolist() == list(range(10))
    cold = clone(clf).set_params(warm_start=False).fit(X_train, y_train)
    assert len(cold.history_) == 2


def test_callbacks_are_used_and_not_mutated(digits):
    from skorch.callbacks import LRScheduler

    X_train, _, y_train, _ = digits
    sched = LRScheduler(policy="StepLR", step_size=1, gamma=0.5)
    clf = KANClassifier(
        max_epochs=3, callbacks=[sched], lr_schedule="constant", random_state=0
    ).fit(X_train, y_train)
    assert clf.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(0.003 * 0.5**3)
    assert not hasattr(sched, "lr_scheduler_")


def test_dataframe_input_sets_feature_names(digits):
    pd = pytest.importorskip("pandas")
    X_train, X_test, y_train, _ = digits
    cols = [f"pixel{i}" for i in range(64)]
    clf = KANClassifier(max_epochs=1, random_state=0).fit(
        pd.DataFrame(X_train, columns=cols), y_train
    )
    np.testing.assert_array_equal(clf.feature_names_in_, cols)
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X_test)


def test_pipeline_and_grid_search(digits):
    X_train, X_test, y_train, y_test = digits
    pipe = make_pipeline(StandardScaler(), KANClassifier(max_epochs=3, random_state=0))
    search = GridSearchCV(pipe, {"kanclassifier__grid_size": [3, 5]}, cv=2)
    search.fit(X_train, y_train)
    assert search.best_params_["kanclassifier__grid_size"] in (3, 5)
    assert search.score(X_test, y_test) > 0.85


def test_out_of_range_inputs_give_finite_outputs(digits):
    X_train, X_test, y_train, _ = digits
    clf = KANClassifier(max_epochs=2, random_state=0).fit(X_train, y_train)
    assert np.isfinite(clf.predict_proba(X_test * 1e6)).all()


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"grid_size": 0}, ValueError, "grid_size"),
        ({"hidden_layer_sizes": (4, -1)}, ValueError, "hidden_layer_sizes"),
        ({"basis": "wavelet"}, ValueError, "basis"),
        ({"optimizer": "adagrad"}, ValueError, "optimizer"),
        ({"optimizer": dict}, TypeError, "optimizer"),
        ({"lr": 0}, ValueError, "lr"),
        ({"grid_range": (1, 0)}, ValueError, "grid_range"),
        ({"grid_schedule": (5, 3)}, ValueError, "grid_schedule"),
        ({"grid_update_epochs": (0,)}, ValueError, "grid_update_epochs"),
        ({"device": "tpu"}, ValueError, "device"),
    ],
)
def test_invalid_hyperparameters_fail_before_training(digits, params, error, match):
    X_train, _, y_train, _ = digits
    clf = KANClassifier(**params)
    with pytest.raises(error, match=match):
        clf.fit(X_train, y_train)
    assert not hasattr(clf, "net_")


def test_one_class_and_bad_y():
    X = np.random.RandomState(0).rand(20, 3)
    with pytest.raises(ValueError, match="only one class"):
        KANClassifier().fit(X, np.zeros(20))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        KANClassifier().fit(X, np.arange(19) % 2)
    with pytest.raises(ValueError, match="Unknown label type"):
        KANClassifier().fit(X, np.linspace(0, 1, 20))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.cuda
def test_cuda_fit_and_predict(digits):
    X_train, X_test, y_train, y_test = digits
    clf = KANClassifier(device="cuda", random_state=0).fit(X_train, y_train)
    assert next(clf.module_.parameters()).is_cuda
    assert clf.score(X_test, y_test) >= 0.95


# -- the estimator contract ----------------------------------------------


@pytest.fixture(scope="module")
def small():
    X, y = load_digits(return_X_y=True)
    return X[:300], y[:300]


def test_warm_start_and_partial_fit_use_changed_settings(small, capsys):
    from skorch.callbacks import EpochScoring

    X, y = small
    clf = KANClassifier(hidden_layer_sizes=(8,), max_epochs=1, random_state=0).fit(X, y)
    assert capsys.readouterr().out == ""
    clf.set_params(
        warm_start=True,
        lr=0.01,
        lr_schedule="constant",
        batch_size=50,
        weight_decay=1e-3,
        lamb=0.1,
        verbose=1,
        callbacks=[EpochScoring("accuracy", on_train=True, name="train_acc")],
    ).fit(X, y)
    assert "train_loss" in capsys.readouterr().out  # verbose is honoured
    group = clf.net_.optimizer_.param_groups[0]
    assert group["lr"] == 0.01 and group["weight_decay"] == 1e-3
    assert clf.net_.lamb == 0.1
    assert clf.history_[-1, "train_batch_count"] == 6  # 300 rows in batches of 50
    assert "train_acc" in clf.history_[-1]  # the new callback ran
    clf.set_params(lr=0.02, batch_size=100, early_stopping=True, verbose=0).partial_fit(X, y)
    assert clf.net_.optimizer_.param_groups[0]["lr"] == 0.02
    assert "valid_loss" in clf.history_[-1] and len(clf.history_) == 3
    assert clf.history_[-1, "train_batch_count"] == 3  # 270 training rows, batches of 100


def test_partial_fit_keeps_the_optimizer_state_warm_start_renews_it(small):
    X, y = small
    clf = KANClassifier(hidden_layer_sizes=(8,), max_epochs=1, random_state=0)
    clf.partial_fit(X, y, classes=np.arange(10))
    steps = float(clf.net_.optimizer_.state_dict()["state"][0]["step"])
    clf.partial_fit(X, y)
    assert clf.net_.optimizer_.state_dict()["state"][0]["step"] == 2 * steps
    clf.set_params(warm_start=True).fit(X, y)  # a new optimizer, as MLPClassifier
    assert clf.net_.optimizer_.state_dict()["state"][0]["step"] == steps


@pytest.mark.parametrize(
    "param, value",
    [("hidden_layer_sizes", (4,)), ("grid_size", 3), ("basis", "rbf"), ("input_scaling", None)],
)
def test_warm_start_refuses_a_changed_architecture(small, param, value):
    X, y = small
    clf = KANClassifier(hidden_layer_sizes=(8,), max_epochs=1, warm_start=True, random_state=0)
    clf.fit(X, y).set_params(**{param: value})
    with pytest.raises(ValueError, match=f"{param} changed from .* warm-started fit"):
        clf.fit(X, y)
    with pytest.raises(ValueError, match=f"{param} changed from .* partial_fit"):
        clf.partial_fit(X, y)
    clf.set_params(warm_start=False).fit(X, y)  # a new network is fine
    clf.set_params(warm_start=True).fit(X, y)  # and continues


def test_epoch_scoring_accuracy_log_loss_and_named_callbacks(small):
    from skorch.callbacks import EpochScoring

    X, y = small
    clf = KANClassifier(
        hidden_layer_sizes=(8,),
        max_epochs=3,
        early_stopping=True,
        callbacks=(
            EpochScoring("accuracy", on_train=True, name="train_acc", use_caching=False),
            ("nll", EpochScoring("neg_log_loss", on_train=True, name="train_nll")),
        ),
        random_state=0,
    ).fit(X, y)
    last = clf.history_[-1]
    # The net's predict is the class index and predict_proba a distribution, so
    # skorch's scores on the encoded targets are the estimator's own.
    assert 0.2 < last["train_acc"] <= 1  # averaged over the first epochs' batches
    assert -3 < last["train_nll"] < 0
    assert 0.3 < last["valid_acc"] <= 1  # recorded by early_stopping for classifiers
    assert "nll" in dict(clf.net_.callbacks_)


def test_epoch_scoring_accuracy_is_the_estimators_accuracy(small):
    from skorch.callbacks import EpochScoring

    X, y = small
    clf = KANClassifier(
        hidden_layer_sizes=(8,),
        max_epochs=2,
        callbacks=[EpochScoring("accuracy", on_train=True, name="train_acc", use_caching=False)],
        random_state=0,
    ).fit(X, y)
    assert clf.history_[-1, "train_acc"] == pytest.approx(clf.score(X, y), abs=1 / 300)


def test_callbacks_are_validated(small):
    X, y = small
    with pytest.raises(TypeError, match="callbacks must be a list of skorch callbacks"):
        KANClassifier(callbacks=["accuracy"]).fit(X, y)
    with pytest.raises(ValueError, match="callbacks"):
        KANClassifier(callbacks="accuracy").fit(X, y)


def test_a_user_lr_scheduler_replaces_the_cosine_schedule(small):
    from skorch.callbacks import LRScheduler

    X, y = small
    sched = LRScheduler(policy="StepLR", step_size=1, gamma=0.5)
    clf = KANClassifier(hidden_layer_sizes=(8,), max_epochs=3, callbacks=[sched], random_state=0)
    clf.fit(X, y)
    assert clf.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(0.003 * 0.5**3)


def test_cosine_schedule_survives_grid_extension(small):
    X, y = small
    clf = KANClassifier(
        hidden_layer_sizes=(8,), grid_size=3, grid_schedule=(5,), max_epochs=4, random_state=0
    ).fit(X, y)
    lrs = [row["event_lr"] for row in clf.history_]
    assert lrs[0] == pytest.approx(0.003)
    assert all(a > b for a, b in zip(lrs[:-1], lrs[1:]))  # one decay across the extension
    assert clf.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_verbose_output_has_no_colour_codes_when_not_a_terminal(small, capsys):
    X, y = small
    KANClassifier(hidden_layer_sizes=(8,), max_epochs=3, verbose=1, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert "train_loss" in out and "\x1b[" not in out


# sample_weight and class_weight, against the obvious references. Full batch
# (batch_size=None) so that the two fits see the same gradients.
_FULL = dict(hidden_layer_sizes=(8,), batch_size=None, max_epochs=15, lr=0.01, random_state=0)


def test_zero_sample_weight_is_the_same_as_dropping_the_rows(small):
    X, y = small
    w = np.ones(len(y))
    w[::3] = 0
    weighted = KANClassifier(**_FULL).fit(X, y, sample_weight=w)
    dropped = KANClassifier(**_FULL).fit(X[w > 0], y[w > 0])
    np.testing.assert_allclose(weighted.predict_proba(X), dropped.predict_proba(X), atol=1e-5)
    np.testing.assert_allclose(weighted.module_.scale.numpy(), dropped.module_.scale.numpy())


def test_integer_sample_weight_is_the_same_as_repeating_rows(small):
    X, y = small
    w = np.random.RandomState(0).randint(0, 4, size=len(y))
    weighted = KANClassifier(**_FULL).fit(X, y, sample_weight=w)
    repeated = KANClassifier(**_FULL).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-5)
    plain = KANClassifier(**_FULL).fit(X, y)
    assert np.abs(plain.predict_proba(X) - weighted.predict_proba(X)).max() > 1e-2


def test_class_weight_balanced_raises_minority_recall():
    from sklearn.metrics import recall_score

    X, y = make_classification(
        n_samples=600, n_features=8, weights=[0.95], flip_y=0, class_sep=0.5, random_state=0
    )
    X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
    kw = dict(hidden_layer_sizes=(8,), max_epochs=20, random_state=0)
    plain = KANClassifier(**kw).fit(X_train, y_train)
    balanced = KANClassifier(class_weight="balanced", **kw).fit(X_train, y_train)
    r_plain = recall_score(y_test, plain.predict(X_test))
    r_balanced = recall_score(y_test, balanced.predict(X_test))
    assert r_balanced > r_plain + 0.2
    # A dict is the same as the equivalent sample weights.
    as_dict = KANClassifier(class_weight={0: 1.0, 1: 5.0}, **kw).fit(X_train, y_train)
    as_weights = KANClassifier(**kw).fit(
        X_train, y_train, sample_weight=np.where(y_train == 1, 5.0, 1.0)
    )
    np.testing.assert_allclose(as_dict.predict_proba(X_test), as_weights.predict_proba(X_test))
    with pytest.raises(ValueError, match="'balanced' is not supported by partial_fit"):
        KANClassifier(class_weight="balanced").partial_fit(X_train, y_train, classes=[0, 1])


@pytest.mark.parametrize("weight", [-1.0, np.nan, np.inf])
def test_class_weight_must_be_non_negative_and_finite(small, weight):
    X, y = small
    labels = np.unique(y).tolist()
    clf = KANClassifier(class_weight={labels[0]: 1.0, labels[1]: weight}, max_epochs=1)
    with pytest.raises(ValueError, match=rf"class_weight.*\{{{labels[1]}: {weight}\}}"):
        clf.fit(X, y)
    assert not hasattr(clf, "net_")
    with pytest.raises(ValueError, match="non-negative and finite"):
        clf.partial_fit(X, y, classes=labels)


def test_a_class_weight_of_zero_leaves_the_class_out(small):
    X, y = small
    labels = np.unique(y)
    kw = dict(hidden_layer_sizes=(8,), max_epochs=2, random_state=0)
    zero = KANClassifier(class_weight={labels[0]: 0.0}, **kw).fit(X, y)
    keep = y != labels[0]
    np.testing.assert_array_equal(
        zero.predict_proba(X),
        KANClassifier(**kw).fit(X, y, sample_weight=keep * 1.0).predict_proba(X),
    )


def test_sample_weight_errors(small):
    X, y = small
    with pytest.raises(ValueError, match="non-zero"):
        KANClassifier().fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="at least 2 classes with non-zero weight"):
        KANClassifier().fit(X, y, sample_weight=(y == 3).astype(float))
    with pytest.raises(ValueError, match="Negative values .* `sample_weight`"):
        KANClassifier().fit(X, y, sample_weight=-np.ones(len(y)))


def test_sample_weight_is_routed_through_pipeline_and_grid_search(small):
    import sklearn

    X, y = small
    w = np.ones(len(y))
    w[y == 0] = 0  # a visible effect: class 0 barely trained
    kan = dict(hidden_layer_sizes=(8,), max_epochs=3, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(
            StandardScaler().set_fit_request(sample_weight=False),
            KANClassifier(**kan)
            .set_fit_request(sample_weight=True)
            .set_score_request(sample_weight=True),
        )
        pipe.fit(X, y, sample_weight=w)
        direct = KANClassifier(**kan).fit(StandardScaler().fit_transform(X), y, sample_weight=w)
        Xs = StandardScaler().fit(X).transform(X)
        np.testing.assert_allclose(pipe.predict_proba(X), direct.predict_proba(Xs))
        search = GridSearchCV(pipe, {"kanclassifier__lr": [3e-3, 1e-2]}, cv=2)
        search.fit(X, y, sample_weight=w)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_predict_log_proba(small):
    X, y = small
    clf = KANClassifier(hidden_layer_sizes=(8,), max_epochs=2, random_state=0).fit(X, y)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), clf.predict_proba(X), rtol=1e-10)


def test_inputs_beyond_float32_are_an_error_not_nan(small):
    X, y = small
    big = X.copy()
    big[0, 0] = 1e39  # finite in float64, inf in float32
    with pytest.raises(ValueError, match="beyond the float32 range"):
        KANClassifier(max_epochs=1).fit(big, y)
    clf = KANClassifier(hidden_layer_sizes=(8,), max_epochs=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="beyond the float32 range"):
        clf.predict(big)
    huge = X * 1e37  # within float32, but its sums overflow: scaled in float64
    assert np.isfinite(
        KANClassifier(hidden_layer_sizes=(8,), max_epochs=1, random_state=0)
        .fit(huge, y)
        .predict_proba(huge)
    ).all()


def test_lbfgs_with_mini_batches_warns(small):
    X, y = small
    with pytest.warns(UserWarning, match="batch_size=None"):
        KANClassifier(hidden_layer_sizes=(8,), optimizer="lbfgs", max_epochs=1).fit(X, y)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        KANClassifier(
            hidden_layer_sizes=(8,), optimizer="lbfgs", lr=1, batch_size=None, max_epochs=1
        ).fit(X, y)


def test_partial_fit_with_other_classes_raises(small):
    X, y = small
    clf = KANClassifier(hidden_layer_sizes=(8,)).partial_fit(X, y, classes=np.arange(10))
    clf.partial_fit(X, y, classes=np.arange(10)[::-1])  # the same set is fine
    with pytest.raises(ValueError, match="is not the same as on the first call"):
        clf.partial_fit(X, y, classes=np.arange(12))


def test_images_given_to_kanclassifier_get_a_pointer(small):
    X, y = small
    with pytest.raises(ValueError, match="Flatten.*HybridKANClassifier"):
        KANClassifier().fit(X.reshape(-1, 8, 8), y)


def test_early_stopping_on_too_little_data_names_validation_fraction():
    X = np.random.RandomState(0).rand(12, 3)
    y = np.arange(12) % 4
    with pytest.raises(ValueError, match="validation_fraction=0.1 of the 12 training samples"):
        KANClassifier(early_stopping=True).fit(X, y)


def test_saved_module_reloads_through_public_scaled_kan(small):
    from sklearn_kan.nn import ScaledKAN

    X, y = small
    clf = KANClassifier(
        hidden_layer_sizes=(8,), grid_size=3, grid_schedule=(6,), max_epochs=2, random_state=0
    ).fit(X, y)
    assert clf.grid_size == 3 and clf.grid_size_ == 6
    state = pickle.loads(pickle.dumps(clf.module_.state_dict()))
    module = ScaledKAN(
        [clf.n_features_in_, *clf.hidden_layer_sizes, len(clf.classes_)],
        grid_size=clf.grid_size_,
        spline_order=clf.spline_order,
        basis=clf.basis,
        grid_range=clf.grid_range,
        hidden_norm=clf.hidden_norm,
    )
    module.load_state_dict(state)
    x = torch.as_tensor(X[:20], dtype=torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(module.eval()(x), clf.module_.eval()(x))


def test_float64_training_matches_repeated_rows_to_1e7(small):
    X, y = small[0][:60], small[1][:60]
    w = np.random.RandomState(0).randint(0, 3, size=len(y))
    kw = dict(_FULL, max_epochs=5, dtype="float64")
    weighted = KANClassifier(**kw).fit(X, y, sample_weight=w)
    repeated = KANClassifier(**kw).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    assert next(weighted.module_.parameters()).dtype == torch.float64
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-7)
    weighted.set_params(warm_start=True, dtype="float32")
    with pytest.raises(ValueError, match="dtype changed"):
        weighted.fit(X, y)


def test_a_named_callback_replaces_skorchs_default_of_that_name(small):
    from skorch.callbacks import EpochScoring

    X, y = small
    f1 = EpochScoring("f1_macro", name="valid_acc", lower_is_better=False)
    unnamed = [EpochScoring("accuracy", name="a"), EpochScoring("accuracy", name="b")]
    clf = KANClassifier(
        hidden_layer_sizes=(8,),
        max_epochs=1,
        early_stopping=True,
        callbacks=[("valid_acc", f1), *unnamed],
        random_state=0,
    ).fit(X, y)
    callbacks = dict(clf.net_.callbacks_)
    assert callbacks["valid_acc"].scoring == "f1_macro"
    assert {"a", "b"} <= set(clf.history_[-1])  # two unnamed ones, numbered by skorch
