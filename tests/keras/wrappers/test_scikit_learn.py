"""keras.wrappers.scikit_learn: KerasClassifier / KerasRegressor with Keras 1.2.2's
parameter routing, and with scikit-learn's cross_val_score, GridSearchCV and clone on
scikit-learn's bundled real digits data."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from keras.layers import Dense
from keras.models import Sequential
from keras.optimizers import Adam
from keras.wrappers.scikit_learn import KerasClassifier, KerasRegressor

pytestmark = pytest.mark.usefixtures("fresh_session")


def _digits(n=300, classes=10):
    d = load_digits()
    keep = d.target < classes
    x = (d.data[keep][:n] / 16.0).astype("float32")
    y = d.target[keep][:n]
    return x, y


def build_classifier(hidden_dims=16, nb_classes=10):
    model = Sequential()
    model.add(Dense(hidden_dims, input_dim=64, activation="relu"))
    model.add(Dense(nb_classes, activation="softmax"))
    model.compile(optimizer=Adam(lr=0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def build_regressor(hidden_dims=8):
    model = Sequential()
    model.add(Dense(hidden_dims, input_dim=64, activation="relu"))
    model.add(Dense(1))
    model.compile(optimizer=Adam(lr=0.01), loss="mse")
    return model


def test_classifier_fit_predict_score_on_digits():
    np.random.seed(0)
    x, y = _digits()
    clf = KerasClassifier(build_classifier, hidden_dims=32, nb_epoch=15, batch_size=16, verbose=0)
    history = clf.fit(x[:200], y[:200])
    assert len(history.history["loss"]) == 15  # nb_epoch from sk_params reached fit
    assert clf.model.layers[0].output_dim == 32  # hidden_dims reached build_fn
    assert_allclose(clf.classes_, np.arange(10))
    assert clf.n_classes_ == 10

    pred = clf.predict(x[200:])
    assert pred.shape == (100,)
    proba = clf.predict_proba(x[200:])
    assert proba.shape == (100, 10)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert_allclose(pred, proba.argmax(axis=1))

    score = clf.score(x[200:], y[200:])
    assert score == pytest.approx(np.mean(pred == y[200:]), abs=1e-6)
    assert score > 0.7, score  # ten digit classes: chance is 0.1


def test_classifier_maps_arbitrary_labels_back():
    np.random.seed(1)
    x, y = _digits(n=240, classes=3)
    names = np.array(["zero", "one", "two"])
    clf = KerasClassifier(build_classifier, nb_classes=3, nb_epoch=10, batch_size=16, verbose=0)
    clf.fit(x, names[y])
    assert list(clf.classes_) == ["one", "two", "zero"]  # np.unique order
    pred = clf.predict(x)
    assert set(pred) <= set(names)
    assert np.mean(pred == names[y]) > 0.8
    assert clf.score(x, names[y]) == pytest.approx(np.mean(pred == names[y]), abs=1e-6)


def test_binary_predict_proba_has_two_columns():
    np.random.seed(2)
    x, y = _digits(n=200, classes=2)

    def build_binary():
        model = Sequential([Dense(1, input_dim=64, activation="sigmoid")])
        model.compile(Adam(lr=0.01), "binary_crossentropy", metrics=["accuracy"])
        return model

    clf = KerasClassifier(build_binary, nb_epoch=10, verbose=0)
    clf.fit(x, y)
    proba = clf.predict_proba(x, verbose=0)
    p1 = clf.model.predict(x)[:, 0]
    assert proba.shape == (200, 2)
    assert_allclose(proba[:, 1], p1, rtol=1e-6)
    assert_allclose(proba[:, 0], 1 - p1, rtol=1e-6)
    assert clf.score(x, y) > 0.9


def test_score_needs_accuracy_metric():
    x, y = _digits(n=50)

    def build_no_metric():
        model = Sequential([Dense(10, input_dim=64, activation="softmax")])
        model.compile("sgd", "categorical_crossentropy")
        return model

    clf = KerasClassifier(build_no_metric, nb_epoch=1, verbose=0)
    clf.fit(x, y)
    with pytest.raises(ValueError, match='metrics=\\["accuracy"\\]'):
        clf.score(x, y)


def test_regressor_predict_squeezed_and_score_is_loss():
    np.random.seed(3)
    x, y = _digits(n=200)
    target = y.astype("float32") / 9.0
    reg = KerasRegressor(build_regressor, nb_epoch=20, batch_size=20, verbose=0)
    reg.fit(x, target)
    pred = reg.predict(x)
    assert pred.shape == (200,)
    mse = float(np.mean((pred - target) ** 2))
    assert reg.score(x, target) == pytest.approx(mse, rel=1e-4)  # Keras 1.2.2: the loss itself
    assert mse < np.var(target)  # better than predicting the mean


def test_check_params_rejects_typos_and_accepts_every_legal_name():
    with pytest.raises(ValueError, match="nb_epochs is not a legal parameter"):
        KerasClassifier(build_classifier, nb_epochs=3)
    clf = KerasClassifier(build_classifier, hidden_dims=4, nb_epoch=1, batch_size=8, verbose=0)
    with pytest.raises(ValueError, match="hiden_dims is not a legal parameter"):
        clf.set_params(hiden_dims=3)
    # names of fit, predict, predict_classes, evaluate and build_fn are all legal
    clf.set_params(validation_split=0.1, shuffle=False, nb_classes=10)
    assert clf.sk_params["validation_split"] == 0.1


def test_get_params_set_params_and_clone():
    clf = KerasClassifier(build_classifier, hidden_dims=4, nb_epoch=2)
    params = clf.get_params()
    assert params == {"build_fn": build_classifier, "hidden_dims": 4, "nb_epoch": 2}
    assert clf.get_params(deep=False) == params  # scikit-learn's calling form
    assert clf.set_params(hidden_dims=7) is clf
    assert clf.get_params()["hidden_dims"] == 7
    copy = clone(clf)
    assert type(copy) is KerasClassifier
    assert copy.get_params() == clf.get_params()
    assert copy.sk_params is not clf.sk_params


def test_clone_keeps_list_parameters():
    def build_deep(layer_sizes=(8,)):
        model = Sequential()
        for i, n in enumerate(layer_sizes):
            model.add(Dense(n, input_dim=64, activation="relu") if i == 0 else Dense(n, activation="relu"))
        model.add(Dense(10, activation="softmax"))
        model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
        return model

    x, y = _digits(n=60)
    clf = KerasClassifier(build_deep, layer_sizes=[12, 6], nb_epoch=1, verbose=0)
    copy = clone(clf)
    assert copy.get_params()["layer_sizes"] == [12, 6]
    copy.fit(x, y)
    assert [layer.output_dim for layer in copy.model.layers] == [12, 6, 10]


def test_filter_sk_params_routes_each_value_to_its_function():
    clf = KerasClassifier(build_classifier, hidden_dims=4, nb_epoch=2, batch_size=8, verbose=0)
    assert clf.filter_sk_params(build_classifier) == {"hidden_dims": 4}
    assert clf.filter_sk_params(Sequential.fit) == {"nb_epoch": 2, "batch_size": 8, "verbose": 0}
    assert clf.filter_sk_params(Sequential.fit, {"nb_epoch": 5}) == {
        "nb_epoch": 5,
        "batch_size": 8,
        "verbose": 0,
    }
    assert clf.filter_sk_params(Sequential.evaluate) == {"batch_size": 8, "verbose": 0}


def test_fit_kwargs_override_sk_params():
    x, y = _digits(n=60)
    clf = KerasClassifier(build_classifier, nb_epoch=4, verbose=0)
    history = clf.fit(x, y, nb_epoch=2)
    assert len(history.history["loss"]) == 2


def test_build_fn_as_callable_instance_and_as_subclass_call():
    x, y = _digits(n=60)

    class Builder:
        def __call__(self, hidden_dims=5):
            return build_classifier(hidden_dims=hidden_dims)

    clf = KerasClassifier(Builder(), hidden_dims=6, nb_epoch=1, verbose=0)
    clf.fit(x, y)
    assert clf.model.layers[0].output_dim == 6

    class MyClassifier(KerasClassifier):
        def __call__(self, hidden_dims=5):
            return build_classifier(hidden_dims=hidden_dims)

    with pytest.raises(ValueError, match="units is not a legal parameter"):
        MyClassifier(units=3)
    clf = MyClassifier(hidden_dims=9, nb_epoch=1, verbose=0)
    clf.fit(x, y)
    assert clf.model.layers[0].output_dim == 9


def test_one_hot_targets_are_accepted():
    np.random.seed(4)
    x, y = _digits(n=100)
    onehot = np.eye(10)[y]
    clf = KerasClassifier(build_classifier, nb_epoch=2, verbose=0)
    clf.fit(x, onehot)
    assert_allclose(clf.classes_, np.arange(10))
    assert clf.predict(x).shape == (100,)


def test_cross_val_score():
    np.random.seed(5)
    x, y = _digits(n=240)
    clf = KerasClassifier(build_classifier, hidden_dims=32, nb_epoch=10, batch_size=16, verbose=0)
    scores = cross_val_score(clf, x, y, cv=KFold(n_splits=3, shuffle=True, random_state=0))
    assert scores.shape == (3,)
    assert np.all(scores > 0.6), scores


def test_grid_search_cv():
    np.random.seed(6)
    x, y = _digits(n=200, classes=5)
    clf = KerasClassifier(build_classifier, nb_classes=5, batch_size=16, verbose=0)
    grid = GridSearchCV(clf, {"hidden_dims": [2, 32], "nb_epoch": [1, 10]}, cv=2)
    grid.fit(x, y)
    assert set(grid.best_params_) == {"hidden_dims", "nb_epoch"}
    assert grid.best_params_ == {"hidden_dims": 32, "nb_epoch": 10}, grid.cv_results_["mean_test_score"]
    assert grid.best_score_ > 0.8
    assert grid.best_estimator_.model.layers[0].output_dim == 32
    assert grid.predict(x).shape == (200,)


def test_grid_search_cv_regressor_with_explicit_scorer():
    np.random.seed(7)
    x, y = _digits(n=160)
    target = y.astype("float32") / 9.0
    reg = KerasRegressor(build_regressor, batch_size=16, verbose=0)
    grid = GridSearchCV(reg, {"nb_epoch": [1, 20]}, cv=2, scoring="neg_mean_squared_error")
    grid.fit(x, target)
    assert grid.best_params_ == {"nb_epoch": 20}
