"""What an exporter sees of a network: its steps in order, and, for an estimator, how outputs become answers.

Both exporters (ONNX and PyTorch) read a chainrule network through :func:`network_steps`,
which flattens nested ``Sequential`` containers into a list of
:class:`LinearStep` (net = x @ W + b, W of shape (n_in, n_out)), :class:`ActivationStep`
(out = f(net), one of the registered activations with its attributes) and
:class:`DropoutStep` (identity at inference). Anything else, including a
:class:`~chainrule.nn.FunctionActivation` (Python code, which no file format can hold), is
refused with a :class:`~chainrule.errors.ConfigError` naming what is supported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.nn import Activation, Dropout, FunctionActivation, Linear, Module, Sequential
from chainrule.ops import ACTIVATIONS

__all__ = ["LinearStep", "ActivationStep", "DropoutStep", "Head", "network_steps", "describe", "estimator_parts",
           "SUPPORTED"]

#: What the exporters take, for error messages.
SUPPORTED = ("Linear, the registered activations (" + ", ".join(ACTIVATIONS) + "), Dropout, and Sequential or "
             "MLP containers of them")


@dataclass(frozen=True)
class LinearStep:
    """net = x @ weight + bias; weight (n_in, n_out) as chainrule stores it, bias (n_out,) or None."""

    weight: np.ndarray
    bias: np.ndarray | None


@dataclass(frozen=True)
class ActivationStep:
    """out = f(net) for the registered activation ``name`` with its attributes (alpha, axis, approximate)."""

    name: str
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DropoutStep:
    """Inverted dropout with probability p: the identity at inference."""

    p: float


Step = LinearStep | ActivationStep | DropoutStep


def describe(obj: Any) -> str:
    """A short name of what was passed, for error messages."""
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def network_steps(model: Module) -> list[Step]:
    """The steps of ``model`` in the order its forward pass runs them (nested containers flattened).

    Raises
    ------
    ConfigError
        For a module the exporters cannot express.
    """
    if not isinstance(model, Module):
        raise ConfigError(f"expected a chainrule Module (Linear, an activation, Dropout, Sequential, MLP) or a "
                          f"fitted chainrule.sklearn estimator, got {describe(model)}")
    steps: list[Step] = []
    _collect(model, steps, "the model")
    return steps


def _collect(module: Module, steps: list[Step], where: str) -> None:
    if isinstance(module, Sequential):
        for i, child in enumerate(module):
            _collect(child, steps, f"module {i} of {type(module).__name__}" if where == "the model"
                     else f"{where} > module {i}")
    elif isinstance(module, Linear):
        steps.append(LinearStep(module.weight.data, None if module.bias is None else module.bias.data))
    elif isinstance(module, Activation):
        steps.append(ActivationStep(module.name, dict(module.attrs)))
    elif isinstance(module, Dropout):
        steps.append(DropoutStep(module.p))
    elif isinstance(module, FunctionActivation):
        raise ConfigError(f"{where} is FunctionActivation {module.name!r}, a Python function, which an exported "
                          f"file cannot hold; export supports {SUPPORTED}")
    else:
        raise ConfigError(f"{where} is {describe(module)}, which export does not know; it supports {SUPPORTED}")


def input_width(steps: list[Step]) -> int | None:
    """n_in of the first Linear step when nothing before it changes the width, else None."""
    for step in steps:
        if isinstance(step, LinearStep):
            return int(step.weight.shape[0])
    return None


def output_width(steps: list[Step]) -> int | None:
    """n_out of the last Linear step, else None."""
    for step in reversed(steps):
        if isinstance(step, LinearStep):
            return int(step.weight.shape[1])
    return None


def model_dtype(steps: list[Step]) -> np.dtype:
    """The dtype of the first weight (float64 when there is no Linear)."""
    for step in steps:
        if isinstance(step, LinearStep):
            return step.weight.dtype
    return np.dtype(np.float64)


@dataclass(frozen=True)
class Head:
    """How a fitted estimator turns the network's output (batch, n_outputs) into its answers.

    kind is one of:

    - ``"binary"``: one sigmoid output p; probabilities [1 - p, p], label classes_[p > 0.5];
    - ``"binary_softmax"``: two softmax outputs are the probabilities, label classes_[out_2 > 0.5],
      the threshold ``predict`` applies (argmax could differ where rounding makes out_1 + out_2 > 1);
    - ``"softmax"``: probabilities are the outputs, label classes_[argmax];
    - ``"ovr"``: sigmoid outputs on a multiclass target, each row divided by its sum
      (1 / n_classes where the sum is 0), label classes_[argmax];
    - ``"multilabel"``: probabilities are the outputs, labels (out > 0.5) as 0/1 int64;
    - ``"regressor"``: predictions are the outputs, exp(out) for the Poisson log link,
      flattened to (batch,) for one output.
    """

    kind: str
    classes: np.ndarray | None = None
    exp: bool = False
    n_outputs: int = 1


def estimator_parts(estimator: Any) -> tuple[Module, Head]:
    """The network and head of a fitted chainrule.sklearn estimator.

    Raises
    ------
    ConfigError
        When the estimator is not fitted.
    """
    name = type(estimator).__name__
    if "coefs_" not in vars(estimator):
        raise ConfigError(f"this {name} is not fitted: call fit(X, y) before exporting it")
    model = estimator.model_
    n_outputs = int(estimator.n_outputs_)
    output = estimator.out_activation_
    if not getattr(estimator, "_is_classifier", False):
        return model, Head("regressor", exp=output == "exp", n_outputs=n_outputs)
    classes = np.asarray(estimator.classes_)
    binarizer = getattr(estimator, "_label_binarizer", None)
    y_type = getattr(binarizer, "y_type_", "binary" if len(classes) == 2 else "multiclass")
    if y_type.startswith("multilabel"):
        kind = "multilabel"
    elif output == "softmax":
        kind = "binary_softmax" if y_type == "binary" else "softmax"
    elif n_outputs == 1:
        kind = "binary"
    else:
        kind = "ovr"
    return model, Head(kind, classes=classes, n_outputs=n_outputs)


def is_chainrule_estimator(obj: Any) -> bool:
    """Whether ``obj`` is one of chainrule's scikit-learn estimators (without importing scikit-learn)."""
    module = type(obj).__module__ or ""
    return module.startswith("chainrule.sklearn") and hasattr(obj, "get_params")
