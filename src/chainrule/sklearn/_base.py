"""The part of both estimators that scikit-learn's ``BaseMultilayerPerceptron`` does: fit, partial fit, state.

``fit`` validates the parameters and the data with scikit-learn's own tools, builds
(or, with ``warm_start`` and ``partial_fit``, keeps) the network ``model_``, and trains
it with the solver; every fitted attribute is named and computed as in scikit-learn.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state, metadata_routing
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import _check_sample_weight, validate_data

from chainrule.errors import ChainruleError, ConfigError, DataError
from chainrule.metrics import all_finite
from chainrule.sklearn._config import (
    EstimatorParameterError,
    Objective,
    check_integral_sizes,
    hidden_activations,
    pair_objective,
)
from chainrule.sklearn._lbfgs import fit_lbfgs
from chainrule.sklearn._network import BatchLoss, glorot_arrays, glorot_layer, init_factors
from chainrule.sklearn._state import NetworkState, output_name
from chainrule.sklearn._stochastic import fit_stochastic
from chainrule.threads import fit_threads

STOCHASTIC_SOLVERS = ("sgd", "adam")


@contextmanager
def data_errors() -> Iterator[None]:
    """Re-raise scikit-learn's ``ValueError`` about the data as a chainrule ``DataError`` (same message)."""
    try:
        yield
    except (ChainruleError, InvalidParameterError):
        raise
    except ValueError as error:
        raise DataError(str(error)) from error


class BaseMLP(NetworkState, BaseEstimator):
    """Shared machinery of :class:`MLPClassifier` and :class:`MLPRegressor`; not for direct use."""

    _is_classifier = False
    # fit's comm (an MPI communicator) is not data to route through a Pipeline: no set_fit_request(comm=...)
    __metadata_request__fit = {"comm": metadata_routing.UNUSED}

    # ------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        if not get_config()["skip_parameter_validation"]:
            try:
                self._validate_params()
            except InvalidParameterError as error:
                raise EstimatorParameterError(str(error)) from None
        if self.solver == "lbfgs" and self.dropout > 0:
            raise ConfigError("dropout makes every loss evaluation random, which L-BFGS cannot follow; use "
                              "solver='sgd' or 'adam' with dropout")

    def _check_solver(self) -> bool:
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. {self.solver} is not "
                                 "stochastic.")
        return True

    def _fit(self, X: Any, y: Any, sample_weight: Any = None, incremental: bool = False,  # noqa: N803
             comm: Any = None) -> BaseMLP:
        sizes = check_integral_sizes(self.hidden_layer_sizes)
        first_pass = "coefs_" not in self.__dict__ or (not self.warm_start and not incremental)
        x, y = self._validate_input(X, y, incremental, reset=first_pass)
        if hasattr(x, "tocsr"):
            x = x.tocsr()
        if sample_weight is not None:
            with data_errors():
                sample_weight = _check_sample_weight(sample_weight, x, dtype=x.dtype)
        objective = self._objective()
        y = self._encode(y, objective).astype(x.dtype, copy=False)
        layer_units = [x.shape[1], *sizes, y.shape[1]]
        self.n_outputs_ = y.shape[1]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, x.dtype)
        else:
            self._continue(layer_units, objective)
        self._comm = comm  # data-parallel over MPI (chainrule.distributed), read by _fit_stochastic
        try:
            with fit_threads(layer_units, self._batch_rows(x.shape[0]), self.n_threads) as threads:
                self.n_threads_ = threads.n
                if self.solver in STOCHASTIC_SOLVERS:
                    self._fit_stochastic(x, y, sample_weight, None, None, None, None, layer_units, incremental)
                else:
                    self._fit_lbfgs(x, y, sample_weight, None, None, None, None, layer_units)
        finally:
            del self._comm
        self._network()  # the solvers move the arrays in place, or (early stopping, L-BFGS) replace them
        if not all(all_finite(w) for w in [*self.coefs_, *self.intercepts_]):
            raise DataError("Solver produced non-finite parameter weights. The input data may contain large "
                            "values and need to be preprocessed.")
        return self

    def _batch_rows(self, n_samples: int) -> int:
        """Rows per product while fitting: the mini-batch, or every sample for L-BFGS."""
        if self.solver not in STOCHASTIC_SOLVERS:
            return n_samples
        return min(200, n_samples) if self.batch_size == "auto" else int(np.clip(self.batch_size, 1, n_samples))

    def _target_dtype(self, first_pass: bool) -> Any:
        if not first_pass:
            return np.result_type(*self.coefs_, *self.intercepts_)
        if self.dtype is not None:
            return np.dtype(self.dtype)
        return (np.float64, np.float32)

    def _fit_stochastic(self, X: Any, y: np.ndarray, sample_weight: Any, activations: Any, deltas: Any,  # noqa: N803
                        coef_grads: Any, intercept_grads: Any, layer_units: list[int], incremental: bool) -> None:
        """'sgd' or 'adam' on encoded targets y (n_samples, n_outputs_), scikit-learn's signature.

        The buffers (``activations`` ... ``intercept_grads``) are scikit-learn's; chainrule's
        pass keeps its own, so they may be None.
        """
        batch_loss = BatchLoss(self._network(), self._trained_objective(), self.alpha, self.l1)
        comm = self.__dict__.get("_comm")
        if comm is not None:
            batch_loss.distribute(comm, X.shape[0], self.solver, self.random_state)
        fit_stochastic(self, X, y, sample_weight, batch_loss, incremental, self._random_state)

    def _fit_lbfgs(self, X: Any, y: np.ndarray, sample_weight: Any, activations: Any, deltas: Any,  # noqa: N803
                   coef_grads: Any, intercept_grads: Any, layer_units: list[int]) -> None:
        """L-BFGS-B on encoded targets y, scikit-learn's signature (the buffers may be None)."""
        batch_loss = BatchLoss(self._network(), self._trained_objective(), self.alpha, self.l1)
        if self.__dict__.get("_comm") is not None:
            batch_loss.distribute(self._comm, X.shape[0], self.solver, self.random_state)  # refuses L-BFGS
        fit_lbfgs(self, X, y, sample_weight, batch_loss)

    def _update_no_improvement_count(self, early_stopping: bool, X: Any, y: Any,  # noqa: N803
                                     sample_weight: Any) -> None:
        """scikit-learn's stopping count after an epoch: epochs that did not improve the best figure by tol.

        With ``early_stopping`` the figure is the score on the held-out (X, y) (labels for
        the classifier), appended to ``validation_scores_``, and the best epoch's weights
        are copied to ``_best_coefs``/``_best_intercepts``; otherwise the last training loss.
        """
        if early_stopping:
            score = self._score(X, y, sample_weight=sample_weight)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            self._no_improvement_count = self._no_improvement_count + 1 \
                if score < self.best_validation_score_ + self.tol else 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_coefs = [c.copy() for c in self.coefs_]
                self._best_intercepts = [b.copy() for b in self.intercepts_]
            return
        loss = self.loss_curve_[-1]
        self._no_improvement_count = self._no_improvement_count + 1 if loss > self.best_loss_ - self.tol else 0
        if loss < self.best_loss_:
            self.best_loss_ = loss

    def _init_coef(self, fan_in: int, fan_out: int, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
        """One layer's Glorot-uniform W and b from ``_random_state`` (c = 2 for logistic, else 6)."""
        factor = init_factors(self.activation, hidden_activations(self.activation, 1))[0] \
            if not isinstance(self.activation, (list, tuple)) else 6.0
        return glorot_layer(fan_in, fan_out, factor, self._random_state, dtype)

    def _initialize(self, y: np.ndarray, layer_units: list[int], dtype: Any) -> None:
        """Fresh weights and fitted attributes, as scikit-learn's first call to fit sets them."""
        objective = self._objective()
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = layer_units[-1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = objective.out_activation_name
        hidden = hidden_activations(self.activation, len(layer_units) - 2)
        self.coefs_, self.intercepts_ = glorot_arrays(layer_units, init_factors(self.activation, hidden),
                                                      self._random_state, dtype)
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [b.copy() for b in self.intercepts_]
        for stale in ("_optimizer", "_model", "_model_key", "_coef_indptr", "_intercept_indptr"):
            self.__dict__.pop(stale, None)  # a fresh fit builds a fresh network (and dropout masks)
        if self.solver in STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.validation_loss_curve_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.validation_loss_curve_ = None
                self.best_validation_score_ = None

    def _continue(self, layer_units: list[int], objective: Objective) -> None:
        """Check that warm_start or partial_fit can go on from the fitted (or hand-set) attributes.

        Attributes scikit-learn's first fit sets and the stochastic solvers read (``t_``,
        ``loss_curve_``, ...) take their first-fit values where a user who set ``coefs_`` by
        hand left them out.
        """
        self.__dict__.setdefault("out_activation_", objective.out_activation_name)
        sizes = self._sizes()
        if sizes != layer_units:
            raise ConfigError(f"warm_start and partial_fit continue training the same network: it has layer sizes "
                              f"{sizes}, the data and hidden_layer_sizes now ask for {layer_units}")
        if output_name(self.out_activation_) != objective.output:
            raise ConfigError(f"warm_start and partial_fit keep the output activation {self.out_activation_!r}; "
                              f"the parameters now ask for {objective.out_activation_name!r}")
        if self.solver not in STOCHASTIC_SOLVERS:
            return
        if "loss_curve_" not in self.__dict__ and "loss_" in self.__dict__:
            raise ConfigError("this estimator was fitted with solver='lbfgs'; warm_start with a stochastic solver "
                              "needs warm_start=False once, or a fresh estimator")
        defaults = {"n_iter_": 0, "t_": 0, "loss_curve_": [], "_no_improvement_count": 0,
                    "best_loss_": None if self.early_stopping else np.inf,
                    "validation_scores_": [] if self.early_stopping else None,
                    "validation_loss_curve_": [] if self.early_stopping else None,
                    "best_validation_score_": -np.inf if self.early_stopping else None}
        for name, value in defaults.items():
            self.__dict__.setdefault(name, value)
        if self.early_stopping and self.validation_scores_ is None:
            self.validation_scores_, self.validation_loss_curve_ = [], []
            self.best_validation_score_ = -np.inf
        self.__dict__.setdefault("_best_coefs", [np.array(c, copy=True) for c in self.coefs_])
        self.__dict__.setdefault("_best_intercepts", [np.array(b, copy=True) for b in self.intercepts_])

    def _trained_objective(self) -> Objective:
        """The loss and output pair the network trains with: ``loss`` and ``out_activation_``."""
        return pair_objective(self.loss, output_name(self.out_activation_), self._is_classifier)

    # ------------------------------------------------------------ prediction
    def _check_X(self, X: Any) -> Any:  # noqa: N802, N803
        with data_errors():
            return validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)

    def _score_with_function(self, X: Any, y: Any, sample_weight: Any, score_function: Any) -> float:  # noqa: N803
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(np.asarray(y_pred).dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return float(score_function(y, y_pred, sample_weight=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
