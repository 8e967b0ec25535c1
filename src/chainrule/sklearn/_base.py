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
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import _check_sample_weight, validate_data

from chainrule.errors import ChainruleError, ConfigError, DataError, ShapeError
from chainrule.metrics import all_finite
from chainrule.nn import Dropout
from chainrule.sklearn._config import EstimatorParameterError, Objective, check_integral_sizes, hidden_activations
from chainrule.sklearn._lbfgs import fit_lbfgs
from chainrule.sklearn._network import (
    BatchLoss,
    biases_of,
    build_network,
    glorot_init,
    init_factors,
    predict_output,
    weights_of,
)
from chainrule.sklearn._stochastic import fit_stochastic

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


class BaseMLP(BaseEstimator):
    """Shared machinery of :class:`MLPClassifier` and :class:`MLPRegressor`; not for direct use."""

    _is_classifier = False

    # ------------------------------------------------------------ weights as scikit-learn shows them
    @property
    def coefs_(self) -> list[np.ndarray]:
        """W^(l) for each layer l, shape (n_in, n_out): the network's own arrays, not copies."""
        if "model_" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__} has no coefs_ before fit")
        return [w.data for w in weights_of(self.model_)]

    @coefs_.setter
    def coefs_(self, values: list[Any]) -> None:
        _assign(weights_of(self.model_), values, "coefs_")

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """b^(l) for each layer l, shape (n_out,): the network's own arrays, not copies."""
        if "model_" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__} has no intercepts_ before fit")
        return [b.data for b in biases_of(self.model_)]

    @intercepts_.setter
    def intercepts_(self, values: list[Any]) -> None:
        _assign(biases_of(self.model_), values, "intercepts_")

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

    def _target_dtype(self, first_pass: bool) -> Any:
        if not first_pass:
            return self.model_.dtype
        if self.dtype is not None:
            return np.dtype(self.dtype)
        return (np.float64, np.float32)

    def _fit(self, X: Any, y: Any, sample_weight: Any = None, incremental: bool = False,  # noqa: N803
             comm: Any = None) -> BaseMLP:
        sizes = check_integral_sizes(self.hidden_layer_sizes)
        first_pass = "model_" not in self.__dict__ or (not self.warm_start and not incremental)
        x, y = self._validate_input(X, y, incremental, reset=first_pass, dtype=self._target_dtype(first_pass))
        if hasattr(x, "tocsr"):
            x = x.tocsr()
        if sample_weight is not None:
            with data_errors():
                sample_weight = _check_sample_weight(sample_weight, x, dtype=x.dtype)
        objective = self._objective()
        y = self._encode(y, objective).astype(x.dtype, copy=False)
        layer_units = [x.shape[1], *sizes, y.shape[1]]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(layer_units, objective, x.dtype)
        else:
            self._check_same_network(layer_units, objective)
        self.n_outputs_ = y.shape[1]
        batch_loss = BatchLoss(self.model_, objective, self.alpha, self.l1)
        if comm is not None:  # data-parallel over MPI (chainrule.distributed)
            batch_loss.distribute(comm, x.shape[0], self.solver, self.random_state)
        if self.solver in STOCHASTIC_SOLVERS:
            fit_stochastic(self, x, y, sample_weight, batch_loss, incremental, self._random_state)
        else:
            fit_lbfgs(self, x, y, sample_weight, batch_loss)
        if not all(all_finite(p.data) for p in self.model_.parameters()):
            raise DataError("Solver produced non-finite parameter weights. The input data may contain large "
                            "values and need to be preprocessed.")
        return self

    def _initialize(self, layer_units: list[int], objective: Objective, dtype: np.dtype) -> None:
        """Fresh network and fitted attributes, as scikit-learn's first call to fit sets them."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = layer_units[-1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = objective.out_activation_name
        self._objective_used = objective
        hidden = hidden_activations(self.activation, len(layer_units) - 2)
        self.model_ = build_network(layer_units, hidden, objective, dtype, self.dropout)
        glorot_init(self.model_, init_factors(self.activation, hidden), self._random_state)
        self.model_.eval()
        if self.dropout > 0:
            masks = np.random.default_rng(self.random_state if isinstance(self.random_state, (int, np.integer))
                                          else self._random_state.randint(np.iinfo(np.int32).max))
            for module in self.model_.modules():
                if isinstance(module, Dropout):
                    module.rng = masks
        self._best_state = self.model_.state_dict()
        self._optimizer = self._schedule = None
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

    def _check_same_network(self, layer_units: list[int], objective: Objective) -> None:
        if list(self.model_.sizes) != layer_units:
            raise ConfigError(f"warm_start and partial_fit continue training the same network: it has layer sizes "
                              f"{self.model_.sizes}, the data and hidden_layer_sizes now ask for {layer_units}")
        if objective.output != self._objective_used.output:
            raise ConfigError(f"warm_start and partial_fit keep the output activation "
                              f"{self._objective_used.output!r}; the parameters now ask for {objective.output!r}")
        if (self.solver in STOCHASTIC_SOLVERS) and not hasattr(self, "loss_curve_"):
            raise ConfigError("this estimator was fitted with solver='lbfgs'; warm_start with a stochastic solver "
                              "needs warm_start=False once, or a fresh estimator")

    # ------------------------------------------------------------ prediction
    def _forward(self, X: Any, check_input: bool = True) -> np.ndarray:  # noqa: N803
        """The output layer's values, (n_samples, n_outputs_)."""
        if check_input:
            with data_errors():
                X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)  # noqa: N806
        return predict_output(self.model_, self._objective_used, X)

    def _score_with_function(self, X: Any, y: Any, sample_weight: Any, score_function: Any) -> float:  # noqa: N803
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(np.asarray(y_pred).dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return float(score_function(y, y_pred, sample_weight=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _assign(params: list[Any], values: list[Any], what: str) -> None:
    values = list(values)
    if len(values) != len(params):
        raise ShapeError(f"{what} needs {len(params)} arrays, one per layer, got {len(values)}")
    for i, (p, v) in enumerate(zip(params, values)):
        array = np.asarray(v)
        if array.shape != p.data.shape:
            raise ShapeError(f"{what}[{i}] must have shape {p.data.shape}, got {array.shape}")
        p.data = array.astype(p.data.dtype, copy=True)
