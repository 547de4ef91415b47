"""Wrapper for using the scikit-learn API with Keras models (Keras 1.2.2).

`KerasClassifier` and `KerasRegressor` make a function that builds and compiles a
Keras model usable as a scikit-learn estimator (`cross_val_score`, `GridSearchCV`,
pipelines). scikit-learn is not imported at module import: the wrappers follow its
estimator protocol (`get_params`, `set_params`, `fit`, `predict`, `score`) and, for
scikit-learn >= 1.6, which asks every estimator for its tags, `__sklearn_tags__`
imports it when scikit-learn calls it. Beyond Keras 1.2.2: these tags and
`_estimator_type` (so that scikit-learn stratifies a classifier's folds), an explicit
`sample_weight` argument of `KerasClassifier.fit`, and `get_params` returning the
parameter values rather than deep copies (so that `clone` accepts list values).
"""

import copy
import inspect
import types

import numpy as np

from ..models import Sequential
from ..utils.generic_utils import shared_docs
from ..utils.np_utils import to_categorical


def _arg_names(fn):
    """Names that `fn` accepts as keyword arguments (its positional-or-keyword and
    keyword-only parameters; `*args`/`**kwargs` accept no name in particular)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in params if p.kind in kinds]


def _loss_name(model):
    loss = model.loss
    if hasattr(loss, "__name__"):
        loss = loss.__name__
    return loss


# `# Arguments` entries the methods share (see ``shared_docs``).
_TRAIN_XY_DOC = """
x : array-like, shape `(n_samples, n_features)`
    Training samples where n_samples in the number of samples
    and n_features is the number of features.
y : array-like, shape `(n_samples,)` or `(n_samples, n_outputs)`
    True labels for X.
"""
_TEST_X_DOC = """
x: array-like, shape `(n_samples, n_features)`
    Test samples where n_samples in the number of samples
    and n_features is the number of features.
"""


class BaseWrapper:
    """Base class for the Keras scikit-learn wrapper.

    Warning: This class should not be used directly.
    Use descendant classes instead.

    # Arguments
        build_fn: callable function or class instance
        **sk_params: model parameters & fitting parameters

    The build_fn should construct, compile and return a Keras model, which
    will then be used to fit/predict. One of the following
    three values could be passed to build_fn:
    1. A function
    2. An instance of a class that implements the __call__ method
    3. None. This means you implement a class that inherits from either
    `KerasClassifier` or `KerasRegressor`. The __call__ method of the
    present class will then be treated as the default build_fn.

    `sk_params` takes both model parameters and fitting parameters. Legal model
    parameters are the arguments of `build_fn`. Note that like all other
    estimators in scikit-learn, 'build_fn' should provide default values for
    its arguments, so that you could create the estimator without passing any
    values to `sk_params`.

    `sk_params` could also accept parameters for calling `fit`, `predict`,
    `predict_proba`, and `score` methods (e.g., `nb_epoch`, `batch_size`).
    fitting (predicting) parameters are selected in the following order:

    1. Values passed to the dictionary arguments of
    `fit`, `predict`, `predict_proba`, and `score` methods
    2. Values passed to `sk_params`
    3. The default values of the `keras.models.Sequential`
    `fit`, `predict`, `predict_proba` and `score` methods

    When using scikit-learn's `grid_search` API, legal tunable parameters are
    those you could pass to `sk_params`, including fitting parameters.
    In other words, you could use `grid_search` to search for the best
    `batch_size` or `nb_epoch` as well as the model parameters.
    """

    def __init__(self, build_fn=None, **sk_params):
        self.build_fn = build_fn
        self.sk_params = sk_params
        self.check_params(sk_params)

    def _build_fn_signature_target(self):
        """The callable whose arguments are `build_fn`'s (Keras 1's three cases)."""
        if self.build_fn is None:
            return self.__call__
        if not isinstance(self.build_fn, (types.FunctionType, types.MethodType)):
            return self.build_fn.__call__
        return self.build_fn

    def check_params(self, params):
        """Checks for user typos in "params".

        # Arguments
            params: dictionary; the parameters to be checked

        # Raises
            ValueError: if any member of `params` is not a valid argument.
        """
        legal_params_fns = [
            Sequential.fit,
            Sequential.predict,
            Sequential.predict_classes,
            Sequential.evaluate,
            self._build_fn_signature_target(),
        ]
        legal_params = set()
        for fn in legal_params_fns:
            legal_params.update(_arg_names(fn))

        for params_name in params:
            if params_name not in legal_params:
                raise ValueError("{} is not a legal parameter".format(params_name))

    def get_params(self, **params):
        """Gets parameters for this estimator.

        # Arguments
            **params: ignored (exists for API compatibility, e.g. `deep=False`).

        # Returns
            params : dict
                Dictionary of parameter names mapped to their values.
        """
        # The values themselves, not deep copies as in Keras 1.2.2: scikit-learn's clone
        # checks that the constructor kept each value as the very object it was given,
        # which fails on a deep copy of a list or dict value.
        res = dict(self.sk_params)
        res.update({"build_fn": self.build_fn})
        return res

    def set_params(self, **params):
        """Sets the parameters of this estimator.

        # Arguments
            **params: Dictionary of parameter names mapped to their values.

        # Returns
            self
        """
        self.check_params(params)
        self.sk_params.update(params)
        return self

    @shared_docs(train_xy=_TRAIN_XY_DOC)
    def fit(self, x, y, **kwargs):
        """Constructs a new model with `build_fn` & fit the model to `(x, y)`.

        # Arguments
            {train_xy}
            **kwargs: dictionary arguments
                Legal arguments are the arguments of `Sequential.fit`

        # Returns
            history : object
                details about the training history at each epoch.
        """
        target = self._build_fn_signature_target()
        build = self.__call__ if self.build_fn is None else self.build_fn
        self.model = build(**self.filter_sk_params(target))

        y = np.asarray(y)
        if _loss_name(self.model) == "categorical_crossentropy" and len(y.shape) != 2:
            y = to_categorical(y)

        fit_args = copy.deepcopy(self.filter_sk_params(Sequential.fit))
        fit_args.update(kwargs)

        history = self.model.fit(x, y, **fit_args)

        return history

    def filter_sk_params(self, fn, override=None):
        """Filters `sk_params` and return those in `fn`'s arguments.

        # Arguments
            fn : arbitrary function
            override: dictionary, values to override sk_params

        # Returns
            res : dictionary dictionary containing variables
                in both sk_params and fn's arguments.
        """
        override = override or {}
        res = {}
        fn_args = _arg_names(fn)
        for name, value in self.sk_params.items():
            if name in fn_args:
                res.update({name: value})
        res.update(override)
        return res


class KerasClassifier(BaseWrapper):
    """Implementation of the scikit-learn classifier API for Keras.

    `predict` returns the class labels seen by `fit` (`classes_`), `predict_proba`
    the model's probabilities (two columns `[1 - p, p]` for a single sigmoid
    output) and `score` the model's accuracy (the model must be compiled with
    `metrics=['accuracy']`).
    """

    _estimator_type = "classifier"  # scikit-learn < 1.6 reads this, later ones the tags

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(),
        )

    @shared_docs(train_xy=_TRAIN_XY_DOC)
    def fit(self, x, y, sample_weight=None, **kwargs):
        """Constructs a new model with `build_fn` & fit the model to `(x, y)`.

        # Arguments
            {train_xy}
            sample_weight: optional per-sample weights, passed on to `fit`.
            **kwargs: dictionary arguments
                Legal arguments are the arguments of `Sequential.fit`

        # Returns
            history : object
                details about the training history at each epoch.

        # Raises
            ValueError: In case of invalid shape for `y` argument.
        """
        y = np.array(y)
        if len(y.shape) == 2 and y.shape[1] > 1:
            self.classes_ = np.arange(y.shape[1])
        elif (len(y.shape) == 2 and y.shape[1] == 1) or len(y.shape) == 1:
            self.classes_ = np.unique(y)
            y = np.searchsorted(self.classes_, y)
        else:
            raise ValueError("Invalid shape for y: " + str(y.shape))
        self.n_classes_ = len(self.classes_)
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        return super().fit(x, y, **kwargs)

    @shared_docs(test_x=_TEST_X_DOC)
    def predict(self, x, **kwargs):
        """Returns the class predictions for the given test data.

        # Arguments
            {test_x}
            **kwargs: dictionary arguments
                Legal arguments are the arguments
                of `Sequential.predict_classes`.

        # Returns
            preds: array-like, shape `(n_samples,)`
                Class predictions.
        """
        kwargs = self.filter_sk_params(Sequential.predict_classes, kwargs)
        classes = self.model.predict_classes(x, **kwargs)
        return self.classes_[classes]

    @shared_docs(test_x=_TEST_X_DOC)
    def predict_proba(self, x, **kwargs):
        """Returns class probability estimates for the given test data.

        # Arguments
            {test_x}
            **kwargs: dictionary arguments
                Legal arguments are the arguments
                of `Sequential.predict_classes`.

        # Returns
            proba: array-like, shape `(n_samples, n_outputs)`
                Class probability estimates.
                In the case of binary classification,
                tp match the scikit-learn API,
                will return an array of shape '(n_samples, 2)'
                (instead of `(n_sample, 1)` as in Keras).
        """
        kwargs = self.filter_sk_params(Sequential.predict_proba, kwargs)
        probs = self.model.predict_proba(x, **kwargs)

        # check if binary classification
        if probs.shape[1] == 1:
            # first column is probability of class 0 and second is of class 1
            probs = np.hstack([1 - probs, probs])
        return probs

    @shared_docs(test_x=_TEST_X_DOC)
    def score(self, x, y, **kwargs):
        """Returns the mean accuracy on the given test data and labels.

        # Arguments
            {test_x}
            y: array-like, shape `(n_samples,)` or `(n_samples, n_outputs)`
                True labels for x.
            **kwargs: dictionary arguments
                Legal arguments are the arguments of `Sequential.evaluate`.

        # Returns
            score: float
                Mean accuracy of predictions on X wrt. y.

        # Raises
            ValueError: If the underlying model isn't configured to
                compute accuracy. You should pass `metrics=["accuracy"]` to
                the `.compile()` method of the model.
        """
        y = np.searchsorted(self.classes_, y)
        kwargs = self.filter_sk_params(Sequential.evaluate, kwargs)

        if _loss_name(self.model) == "categorical_crossentropy" and len(y.shape) != 2:
            y = to_categorical(y)

        outputs = self.model.evaluate(x, y, **kwargs)
        if not isinstance(outputs, list):
            outputs = [outputs]
        for name, output in zip(self.model.metrics_names, outputs):
            if name == "acc":
                return output
        raise ValueError(
            "The model is not configured to compute accuracy. "
            'You should pass `metrics=["accuracy"]` to '
            "the `model.compile()` method."
        )


class KerasRegressor(BaseWrapper):
    """Implementation of the scikit-learn regressor API for Keras.

    `predict` returns the model's predictions squeezed (shape `(n_samples,)` for a
    single output) and `score` the model's loss, as in Keras 1.2.2. Note that
    scikit-learn maximises a score, so to select models by loss with `GridSearchCV`
    pass `scoring='neg_mean_squared_error'` (or another scorer) explicitly.
    """

    _estimator_type = "regressor"  # scikit-learn < 1.6 reads this, later ones the tags

    def __sklearn_tags__(self):
        from sklearn.utils import RegressorTags, Tags, TargetTags

        return Tags(
            estimator_type="regressor", target_tags=TargetTags(required=True), regressor_tags=RegressorTags()
        )

    @shared_docs(test_x=_TEST_X_DOC)
    def predict(self, x, **kwargs):
        """Returns predictions for the given test data.

        # Arguments
            {test_x}
            **kwargs: dictionary arguments
                Legal arguments are the arguments of `Sequential.predict`.

        # Returns
            preds: array-like, shape `(n_samples,)`
                Predictions.
        """
        kwargs = self.filter_sk_params(Sequential.predict, kwargs)
        return np.squeeze(self.model.predict(x, **kwargs))

    @shared_docs(test_x=_TEST_X_DOC)
    def score(self, x, y, **kwargs):
        """Returns the mean loss on the given test data and labels.

        # Arguments
            {test_x}
            y: array-like, shape `(n_samples,)`
                True labels for X.
            **kwargs: dictionary arguments
                Legal arguments are the arguments of `Sequential.evaluate`.

        # Returns
            score: float
                Mean loss of predictions on X wrt. y.
        """
        kwargs = self.filter_sk_params(Sequential.evaluate, kwargs)
        loss = self.model.evaluate(x, y, **kwargs)
        if isinstance(loss, list):
            return loss[0]
        return loss
