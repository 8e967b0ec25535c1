"""What the estimators accept: parameter constraints, errors, and the output/loss pairs.

scikit-learn validates constructor parameters in ``fit`` from a table of
constraints; the estimators extend scikit-learn's own table with chainrule's
extras and turn its ``InvalidParameterError`` into :class:`EstimatorParameterError`,
which is both a chainrule ``ConfigError`` and scikit-learn's error type.

The output layer and the loss belong together. With out = f(net) and the loss E,
the output delta is dE/dnet_k = dE/dout_k f'(net_k); three pairs make it simply
out_k - target_k, and training uses that fused form (no division by a tiny
probability):

=================  ==================================  ======================================
output f           loss                                trained as
=================  ==================================  ======================================
softmax            cross-entropy (``log_loss``)        ``cross_entropy_with_logits`` on net
sigmoid            binary cross-entropy (``log_loss``) ``binary_cross_entropy_with_logits``
exp (log link)     Poisson deviance                    ``poisson`` on net
=================  ==================================  ======================================

Every other allowed pair (sigmoid + squared error as in Mazur's post, tanh + mse, ...)
backpropagates through f'(net) as any network does.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.neural_network import MLPRegressor as _SkMLPRegressor
from sklearn.utils._param_validation import Interval, InvalidParameterError, Options, StrOptions

from chainrule.errors import ConfigError
from chainrule.losses import LOSS_DEFS, check_pair, probability_form
from chainrule.nn import Activation, FunctionActivation, make_activation
from chainrule.ops import ACTIVATIONS


class EstimatorParameterError(ConfigError, InvalidParameterError):
    """A constructor parameter outside what the estimator accepts.

    A :class:`~chainrule.errors.ConfigError` and scikit-learn's ``InvalidParameterError``
    (a ``ValueError`` and a ``TypeError``), so either ``except`` clause catches it.
    """


#: Names ``activation`` and ``output_activation`` accept: scikit-learn's and every chainrule activation.
ACTIVATION_NAMES = frozenset({"identity", "logistic", "tanh", "relu", "linear", *ACTIVATIONS})

#: scikit-learn's names for output activations, where it has one.
_SKLEARN_NAMES = {"sigmoid": "logistic", "linear": "identity"}

CLASSIFIER_LOSSES = frozenset({
    "log_loss", "cross_entropy", "cross_entropy_with_logits", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "squared_error", "half_squared_error", "mse",
})
REGRESSOR_LOSSES = CLASSIFIER_LOSSES - {"log_loss"} | {"poisson"}

_BASE_CONSTRAINTS = {k: v for k, v in _SkMLPRegressor._parameter_constraints.items() if k != "loss"}

EXTRA_CONSTRAINTS: dict[str, list[Any]] = {
    "activation": [StrOptions(set(ACTIVATION_NAMES)), Activation, FunctionActivation, callable, list, tuple],
    "output_activation": [None, StrOptions(set(ACTIVATION_NAMES) | {"exp"}), Activation],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "l1": [Interval(Real, 0, None, closed="left")],
    "callbacks": [None, list, tuple],
    "progress": ["boolean"],
    "dtype": [None, StrOptions({"float32", "float64"}), Options(type, {np.float32, np.float64})],
    "n_threads": [None, Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})],
}

CLASSIFIER_CONSTRAINTS = {**_BASE_CONSTRAINTS, **EXTRA_CONSTRAINTS, "loss": [StrOptions(set(CLASSIFIER_LOSSES))]}
REGRESSOR_CONSTRAINTS = {**_BASE_CONSTRAINTS, **EXTRA_CONSTRAINTS, "loss": [StrOptions(set(REGRESSOR_LOSSES))]}


def activation_name(spec: Any) -> str:
    """The chainrule name of an activation given by name (scikit-learn's or chainrule's), module or function."""
    if not isinstance(spec, str):
        return make_activation(spec).name
    return {"logistic": "sigmoid", "linear": "identity"}.get(spec, spec)


def hidden_activations(activation: Any, n_hidden: int) -> list[Any]:
    """One activation per hidden layer from a name, an Activation, a function of a Tensor, or a list of them."""
    if isinstance(activation, (list, tuple)):
        specs = list(activation)
        if len(specs) != n_hidden:
            raise ConfigError(f"activation lists one activation per hidden layer: {n_hidden} hidden layers "
                              f"(hidden_layer_sizes), got {len(specs)} activations {specs!r}")
    else:
        specs = [activation] * n_hidden
    for spec in specs:
        if isinstance(spec, str) and spec not in ACTIVATION_NAMES:
            raise ConfigError(f"unknown activation {spec!r} in the activation list; choose from "
                              f"{', '.join(sorted(ACTIVATION_NAMES))}, pass an Activation, or a function of a "
                              "Tensor built from chainrule operations")
        if not isinstance(spec, str):
            make_activation(spec)  # a module, an Activation class or a function; anything else: ConfigError
    return specs


@dataclass(frozen=True)
class Objective:
    """How one estimator trains: its output activation, the loss as trained, and as reported.

    Attributes
    ----------
    output : str
        The chainrule name of the output activation, or ``"exp"`` (Poisson's log link,
        applied at prediction; the network itself ends in identity).
    loss : str
        The chainrule loss the network is trained with.
    fused : bool
        Train the network without its output activation (on net), the loss taking
        net: one of the canonical pairs.
    report : str
        How ``loss_`` is defined: ``"sklearn_squared"`` (1/2 squared error averaged over
        samples and outputs), ``"sklearn_poisson"`` (half Poisson deviance), or
        ``"plain"`` (the chainrule loss's own value).
    """

    output: str
    loss: str
    fused: bool
    report: str

    @property
    def out_activation_name(self) -> str:
        """The output activation in scikit-learn's words where it has them."""
        return _SKLEARN_NAMES.get(self.output, self.output)


def classifier_objective(loss: str, output_activation: Any, y_type: str) -> Objective:
    """The objective of a classifier for targets of ``y_type`` (binary, multiclass, multilabel).

    Defaults are scikit-learn's: softmax + log loss for multiclass, sigmoid + binary
    log loss otherwise. A classifier's outputs are probabilities, so its output
    activation is sigmoid or softmax.
    """
    multiclass = y_type == "multiclass"
    if output_activation is None:
        if loss in ("cross_entropy", "cross_entropy_with_logits"):
            output = "softmax"
        elif loss in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
            output = "sigmoid"
        else:
            output = "softmax" if multiclass else "sigmoid"
    else:
        output = activation_name(output_activation)
    if output not in ("sigmoid", "softmax"):
        raise ConfigError(f"a classifier's outputs are probabilities: output_activation must be 'sigmoid' "
                          f"(or 'logistic') or 'softmax', got {output_activation!r}; use MLPRegressor for "
                          "other outputs")
    if output == "softmax" and y_type.startswith("multilabel"):
        raise ConfigError("softmax makes the outputs compete (they sum to 1), but multilabel targets may hold "
                          "several labels per sample; use output_activation='sigmoid'")
    return pair_objective(loss, output, classifier=True)


def regressor_objective(loss: str, output_activation: Any) -> Objective:
    """The objective of a regressor; defaults are scikit-learn's (identity + squared error, exp + Poisson)."""
    if output_activation is None:
        # The loss's canonical output (read from chainrule.losses); Poisson's log link is exp.
        output = "exp" if loss == "poisson" else LOSS_DEFS[probability_form(loss)].canonical_activation
    else:
        output = "exp" if output_activation == "exp" else activation_name(output_activation)
    return pair_objective(loss, output, classifier=False)


def pair_objective(loss: str, output: str, classifier: bool) -> Objective:
    """The objective of ``loss`` with the output activation ``output`` (chainrule name, or "exp")."""
    if loss in ("log_loss", "cross_entropy", "cross_entropy_with_logits") and output == "softmax":
        return Objective("softmax", "cross_entropy_with_logits", True, "plain")
    if loss in ("log_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits") and output == "sigmoid":
        return Objective("sigmoid", "binary_cross_entropy_with_logits", True, "plain")
    if loss == "poisson":
        if output != "exp":
            raise ConfigError(f"loss='poisson' uses a log link, the output is exp(net); output_activation must be "
                              f"None or 'exp', got {output!r}")
        return Objective("exp", "poisson", True, "sklearn_poisson")
    if output == "exp":
        raise ConfigError(f"output_activation='exp' is the log link of loss='poisson', got loss={loss!r}")
    if loss in ("squared_error", "half_squared_error", "mse"):
        report = "sklearn_squared" if loss == "squared_error" else "plain"
        return Objective(output, "half_squared_error" if loss == "squared_error" else loss, False, report)
    if loss in ("cross_entropy", "cross_entropy_with_logits", "binary_cross_entropy",
                "binary_cross_entropy_with_logits", "log_loss"):
        # The estimator trains a *_with_logits loss on net after its probability output: check that output.
        check_pair(output, probability_form("binary_cross_entropy_with_logits" if loss == "log_loss" else loss))
    kind = "classifier" if classifier else "regressor"
    raise ConfigError(f"unknown loss {loss!r} for a {kind}")


def check_integral_sizes(sizes: Any) -> list[int]:
    """hidden_layer_sizes as a list of ints, each > 0 (scikit-learn's message when not)."""
    sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
    if any(not isinstance(s, (Integral, np.integer)) for s in sizes):
        raise ConfigError(f"hidden_layer_sizes must hold integers, got {sizes}")
    if np.any(np.array(sizes) <= 0):
        raise ConfigError(f"hidden_layer_sizes must be > 0, got {sizes}.")
    return [int(s) for s in sizes]
