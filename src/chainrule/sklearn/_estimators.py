"""``MLPClassifier`` and ``MLPRegressor``: scikit-learn's estimators, trained by chainrule."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from chainrule.errors import DataError
from chainrule.sklearn._base import BaseMLP, data_errors
from chainrule.sklearn._config import (
    CLASSIFIER_CONSTRAINTS,
    REGRESSOR_CONSTRAINTS,
    Objective,
    classifier_objective,
    regressor_objective,
)

_PARAMETERS = """
    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        Neurons in each hidden layer.
    activation : str, Activation or list of them, default='relu'
        Hidden-layer activation: scikit-learn's 'identity', 'logistic', 'tanh', 'relu', any
        chainrule activation name ('sigmoid', 'leaky_relu', 'elu', 'softplus', 'gelu', ...), a
        :class:`chainrule.nn.Activation`, or a list with one per hidden layer.
    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        L-BFGS-B from scipy.optimize on the whole data, or mini-batch SGD or Adam.
    alpha : float, default=1e-4
        L2 penalty: E += alpha / (2 n) sum w_ij^2 over every weight (biases excluded), n the
        samples in the batch.
    batch_size : int or 'auto', default='auto'
        Mini-batch size for 'sgd' and 'adam'; 'auto' is min(200, n_samples).
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Schedule of eta for 'sgd': constant; eta_0 / (t + 1)^power_t after each epoch (t the
        samples seen); or eta / 5 whenever the stopping figure stalls for more than
        ``n_iter_no_change`` epochs.
    learning_rate_init : float, default=1e-3
        eta_0, for 'sgd' and 'adam'.
    power_t : float, default=0.5
        Exponent of 'invscaling'.
    max_iter : int, default=200
        Epochs for 'sgd' and 'adam'; iterations for 'lbfgs'.
    shuffle : bool, default=True
        Shuffle the samples every epoch.
    random_state : int, RandomState instance or None, default=None
        Initial weights, validation split, batch order (and dropout masks), drawn exactly as
        scikit-learn draws them.
    tol : float, default=1e-4
        Improvement below which an epoch counts as no progress (and 'lbfgs''s gradient tolerance).
    verbose : bool, default=False
        Print the loss after each epoch.
    warm_start : bool, default=False
        Continue from the previous fit's weights.
    momentum : float, default=0.9
        mu of 'sgd': v <- mu v - eta dE/dw, w <- w + v.
    nesterovs_momentum : bool, default=True
        Nesterov's form, w <- w + mu v - eta dE/dw.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data and stop when its score stalls; the best
        epoch's weights are kept.
    validation_fraction : float, default=0.1
        Share of the data held out with ``early_stopping``.
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's decay rates of the first and second moment.
    epsilon : float, default=1e-8
        Adam's epsilon.
    n_iter_no_change : int, default=10
        Epochs without progress tolerated.
    max_fun : int, default=15000
        Loss evaluations allowed to 'lbfgs'.
    output_activation : str, Activation or None, default=None
        Output activation; None is scikit-learn's choice (@default_output@).
    loss : str, default=@default_loss@
        @loss_doc@
    dropout : float, default=0.0
        Inverted dropout with this p after each hidden layer while training ('sgd', 'adam').
    l1 : float, default=0.0
        L1 penalty: E += l1 / n sum |w_ij| over every weight.
    callbacks : list of chainrule.callbacks.Callback, default=None
        Called as :func:`chainrule.fit` calls them; one returning True from
        ``on_epoch_end`` stops training. Logs hold 'loss', 'lr' and, with early stopping,
        'val_loss' and the validation score.
    progress : bool, default=False
        Show a progress bar (a line per epoch when not on a terminal).
    dtype : {'float32', 'float64'} or None, default=None
        Precision of the network; None follows X (float32 stays float32, as in scikit-learn).
    n_threads : int or None, default=None
        BLAS threads while fitting; -1 for every core. None chooses from the layer sizes and
        the batch (one thread for small products) unless the environment variable
        ``CHAINRULE_NUM_THREADS`` sets it; see :mod:`chainrule.threads`.
"""

_ATTRIBUTES = """
    Attributes
    ----------
    model_ : chainrule.nn.MLP
        The trained network; ``coefs_`` and ``intercepts_`` are its arrays.@model_note@
    coefs_ : list of ndarray
        W^(l) of shape (n_in, n_out) per layer: w_ij from neuron i to neuron j.
    intercepts_ : list of ndarray
        b^(l) of shape (n_out,) per layer.
    loss_ : float
        The loss (penalties included) at the last epoch or at the L-BFGS optimum.
    best_loss_ : float or None
        The lowest training loss ('sgd', 'adam'; None with early stopping).
    loss_curve_ : list of float
        The loss of each epoch ('sgd', 'adam').
    validation_scores_ : list of float or None
        @score@ on the held-out data per epoch, with early stopping.
    validation_loss_curve_ : list of float or None
        The data loss (no penalties) on the held-out data per epoch, with early stopping.
    best_validation_score_ : float or None
        The best of ``validation_scores_``.
    t_ : int
        Training samples seen by the stochastic solver.
    n_iter_ : int
        Epochs (iterations) run by the last call.
    n_layers_ : int
        Layers, input and output included.
    n_outputs_ : int
        Output neurons.
    out_activation_ : str
        The output activation ('identity', 'logistic', 'softmax', 'exp', ...).@classes@
    n_threads_ : int
        BLAS threads the last fit ran on (see ``n_threads``).
    n_features_in_ : int
        Features seen in fit.
    feature_names_in_ : ndarray of str
        Their names, when X had string column names.
"""


class MLPClassifier(ClassifierMixin, BaseMLP):
    _is_classifier = True
    _parameter_constraints = CLASSIFIER_CONSTRAINTS

    def __init__(self, hidden_layer_sizes: Any = (100,), activation: Any = "relu", *, solver: str = "adam",
                 alpha: float = 0.0001, batch_size: Any = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200,
                 shuffle: bool = True, random_state: Any = None, tol: float = 1e-4, verbose: bool = False,
                 warm_start: bool = False, momentum: float = 0.9, nesterovs_momentum: bool = True,
                 early_stopping: bool = False, validation_fraction: float = 0.1, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-8, n_iter_no_change: int = 10, max_fun: int = 15000,
                 output_activation: Any = None, loss: str = "log_loss", dropout: float = 0.0, l1: float = 0.0,
                 callbacks: Any = None, progress: bool = False, dtype: Any = None,
                 n_threads: int | None = None) -> None:
        _store(self, locals())

    def fit(self, X: Any, y: Any, sample_weight: Any = None, comm: Any = None) -> MLPClassifier:  # noqa: N803
        """Train on X (n_samples, n_features), dense or sparse, and labels y (n_samples,) or (n_samples, n_labels).

        ``comm`` (an mpi4py communicator): data-parallel over MPI as :func:`chainrule.fit` does
        (solver 'sgd' or 'adam', an integer random_state, the same data on every rank).

        Returns
        -------
        self
        """
        self._check_params()
        return self._fit(X, y, sample_weight, incremental=False, comm=comm)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None) -> MLPClassifier:  # noqa: N803
        """One epoch over (X, y); ``classes`` (every label) is required on the first call.

        Returns
        -------
        self
        """
        self._check_params()
        with data_errors():
            if _check_partial_fit_first_call(self, classes):
                self._label_binarizer = LabelBinarizer()
                if type_of_target(y).startswith("multilabel"):
                    self._label_binarizer.fit(y)
                else:
                    self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight, incremental=True)

    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool, dtype: Any = None):  # noqa: N803
        dtype = self._target_dtype(reset) if dtype is None else dtype
        with data_errors():
            X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True, dtype=dtype,  # noqa: N806
                                 reset=reset)
            if y.ndim == 2 and y.shape[1] == 1:
                y = column_or_1d(y, warn=True)
            if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
                self._label_binarizer = LabelBinarizer()
                self._label_binarizer.fit(y)
                self.classes_ = self._label_binarizer.classes_
            else:
                classes = unique_labels(y)
                if self.warm_start:
                    if set(classes) != set(self.classes_):
                        raise DataError(f"warm_start can only be used where `y` has the same classes as in the "
                                        f"previous call to fit. Previously got {self.classes_}, `y` has {classes}")
                elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                    raise DataError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                    f"'y' has {classes}.")
            y = self._label_binarizer.transform(y)
        return X, y

    def _objective(self) -> Objective:
        return classifier_objective(self.loss, self.output_activation, self._label_binarizer.y_type_)

    def _two_column_binary(self, output: str) -> bool:
        """A binary problem with a softmax output: one column per class."""
        return output == "softmax" and self._label_binarizer.y_type_ == "binary"

    def _encode(self, y: np.ndarray, objective: Objective) -> np.ndarray:
        """Binarised labels as targets; a binary softmax output gets one column per class."""
        y = np.asarray(y)
        if self._two_column_binary(objective.output):
            y = np.hstack([1 - y, y])
        return y

    def _decode(self, y: np.ndarray) -> np.ndarray:
        """Encoded targets (n_samples, n_outputs_) back to the labels they encode."""
        if self._two_column_binary(self.out_activation_):
            y = y[:, 1:]
        return self._label_binarizer.inverse_transform(y if y.shape[1] > 1 else y.ravel())

    def _score(self, X: Any, y: Any, sample_weight: Any = None) -> float:  # noqa: N803
        """Accuracy on (X, labels y) without validating X (scikit-learn's early-stopping score)."""
        return self._score_with_function(X, y, sample_weight, accuracy_score)

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        """Labels for X (n_samples, n_features): (n_samples,), or (n_samples, n_labels) for multilabel."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X: Any, check_input: bool = True) -> np.ndarray:  # noqa: N803
        out = self._forward_pass_fast(X, check_input)
        if self._two_column_binary(self.out_activation_):
            out = out[:, 1:]
        if out.shape[1] == 1:
            out = out.ravel()
        return self._label_binarizer.inverse_transform(out)

    def predict_proba(self, X: Any) -> np.ndarray:  # noqa: N803
        """Probabilities (n_samples, n_classes) in the order of ``classes_``.

        With sigmoid outputs on multiclass targets, each row is normalised to sum to 1
        (one-vs-rest).
        """
        check_is_fitted(self)
        out = self._forward_pass_fast(X)
        if self._two_column_binary(self.out_activation_):
            return out
        if out.shape[1] == 1:
            p = out.ravel()
            return np.vstack([1 - p, p]).T
        if self._label_binarizer.y_type_ == "multiclass" and self.out_activation_ == "logistic":
            total = out.sum(axis=1, keepdims=True)
            return np.divide(out, total, out=np.full_like(out, 1 / out.shape[1]), where=total > 0)
        return out

    def predict_log_proba(self, X: Any) -> np.ndarray:  # noqa: N803
        """log(predict_proba(X)); -inf where a probability is 0."""
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # softmax outputs compete, so they cannot say "several labels at once"
        output = self.output_activation
        tags.classifier_tags.multi_label = getattr(output, "name", output) != "softmax"
        return tags


class MLPRegressor(RegressorMixin, BaseMLP):
    _parameter_constraints = REGRESSOR_CONSTRAINTS

    def __init__(self, loss: str = "squared_error", hidden_layer_sizes: Any = (100,), activation: Any = "relu", *,
                 solver: str = "adam", alpha: float = 0.0001, batch_size: Any = "auto",
                 learning_rate: str = "constant", learning_rate_init: float = 0.001, power_t: float = 0.5,
                 max_iter: int = 200, shuffle: bool = True, random_state: Any = None, tol: float = 1e-4,
                 verbose: bool = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8, n_iter_no_change: int = 10,
                 max_fun: int = 15000, output_activation: Any = None, dropout: float = 0.0, l1: float = 0.0,
                 callbacks: Any = None, progress: bool = False, dtype: Any = None,
                 n_threads: int | None = None) -> None:
        _store(self, locals())

    def fit(self, X: Any, y: Any, sample_weight: Any = None, comm: Any = None) -> MLPRegressor:  # noqa: N803
        """Train on X (n_samples, n_features), dense or sparse, and targets y (n_samples,) or (n_samples, n_outputs).

        ``comm`` (an mpi4py communicator): data-parallel over MPI as :func:`chainrule.fit` does
        (solver 'sgd' or 'adam', an integer random_state, the same data on every rank).

        Returns
        -------
        self
        """
        self._check_params()
        return self._fit(X, y, sample_weight, incremental=False, comm=comm)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:  # noqa: N803
        """One epoch over (X, y).

        Returns
        -------
        self
        """
        self._check_params()
        return self._fit(X, y, sample_weight, incremental=True)

    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool, dtype: Any = None):  # noqa: N803
        dtype = self._target_dtype(reset) if dtype is None else dtype
        with data_errors():
            X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True, y_numeric=True,  # noqa: N806
                                 dtype=dtype, reset=reset)
            if y.ndim == 2 and y.shape[1] == 1:
                y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise DataError(f"loss='poisson' models counts or rates: targets must be >= 0, got a minimum of "
                            f"{np.min(y)}")
        return X, y

    def _objective(self) -> Objective:
        return regressor_objective(self.loss, self.output_activation)

    def _encode(self, y: np.ndarray, objective: Objective) -> np.ndarray:
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def _decode(self, y: np.ndarray) -> np.ndarray:
        return y

    def _score(self, X: Any, y: Any, sample_weight: Any = None) -> float:  # noqa: N803
        """R^2 on (X, y) without validating X (scikit-learn's early-stopping score)."""
        return self._score_with_function(X, y, sample_weight, r2_score)

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        """Predictions for X (n_samples, n_features): (n_samples,) or (n_samples, n_outputs)."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X: Any, check_input: bool = True) -> np.ndarray:  # noqa: N803
        out = self._forward_pass_fast(X, check_input)
        return out.ravel() if out.shape[1] == 1 else out


def _store(est: BaseMLP, values: dict[str, Any]) -> None:
    for name, value in values.items():
        if name not in ("self", "__class__"):
            setattr(est, name, value)


def _fill(template: str, **values: str) -> str:
    for name, value in values.items():
        template = template.replace(f"@{name}@", value)
    return template


MLPClassifier.__doc__ = """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier``, trained by chainrule.

    The same parameters, defaults, fitted attributes and methods; with the same
    ``random_state`` the same initial weights, batches and updates, so the same model
    up to rounding. The network is ``model_``, a :class:`chainrule.nn.MLP` the learner
    tools can trace. Outputs: softmax over the classes (multiclass) or one sigmoid per
    label (binary, multilabel), trained on the log loss
    E = -(1/n) sum_n sum_k target_nk log(out_nk) (its binary form for sigmoid outputs).
""" + _fill(
    _PARAMETERS, default_output="softmax for multiclass targets, sigmoid otherwise", default_loss="'log_loss'",
    loss_doc=("'log_loss' (cross-entropy matching the output), 'cross_entropy' (softmax), "
              "'binary_cross_entropy' (sigmoid), 'squared_error' (scikit-learn's half squared error), "
              "'half_squared_error' or 'mse'. The output must give probabilities: sigmoid or softmax."),
) + _fill(_ATTRIBUTES, model_note="", score="Accuracy", classes=(
    "\n    classes_ : ndarray or list of ndarray\n        The class labels."),
) + """
    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from chainrule.sklearn import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier((10,), solver="lbfgs", max_iter=500, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:1]).shape
    (1, 3)
"""

MLPRegressor.__doc__ = """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor``, trained by chainrule.

    The same parameters, defaults, fitted attributes and methods, and with the same
    ``random_state`` the same model up to rounding. The output is linear (identity),
    trained on scikit-learn's squared error E = (1/n) sum_n (1/2) sum_k (target_nk - out_nk)^2
    (reported averaged over the outputs), or exp(net) with the half Poisson deviance.
""" + _fill(
    _PARAMETERS, default_output="identity; exp for loss='poisson'", default_loss="'squared_error'",
    loss_doc=("'squared_error' (scikit-learn's half squared error), 'poisson' (log link, y >= 0), "
              "'half_squared_error', 'mse', 'binary_cross_entropy' (sigmoid outputs, targets in [0, 1]) or "
              "'cross_entropy' (softmax outputs)."),
) + _fill(_ATTRIBUTES, model_note=(
    "\n        With loss='poisson' its output is net = log(rate); predict applies exp."), score="R^2", classes="",
) + """
    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.sklearn import MLPRegressor
    >>> X = np.linspace(-1, 1, 40).reshape(-1, 1)
    >>> reg = MLPRegressor(hidden_layer_sizes=(8,), activation="tanh", solver="lbfgs", random_state=0)
    >>> reg = reg.fit(X, X.ravel() ** 2)
    >>> reg.predict(X[:2]).shape
    (2,)
"""
