"""The playground's set-up: one JSON object, validated here, from which the data and the network are built.

A set-up has five parts (every field optional in a message; missing ones keep their value)::

    data       kind (circle, xor, gauss, spiral, csv), classes (2-5), noise, samples, test_fraction, seed
    features   a subset of x1, x2, x1^2, x2^2, x1x2, sin(x1), sin(x2) (the network's inputs i1, i2, ...)
    network    hidden: [{units, activation}], output_activation, loss, l1, l2, dropout
    optimizer  name, lr, batch_size
    seed       the network's initial weights and the batch order

The same object travels in the shareable URL (``#setup=<base64 JSON>``), so it holds
numbers and names only. Output activation and loss are checked as a pair by
:func:`chainrule.losses.check_pair`, the table ``fit`` reads, with its message: the
cross-entropy of a softmax layer, the binary cross-entropy of a sigmoid unit, the
squared errors of any output. The playground adds one rule of its own: binary
cross-entropy's one sigmoid output is for two classes.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule import losses
from chainrule.errors import ConfigError

__all__ = ["DEFAULT", "FEATURES", "ACTIVATIONS", "LOSSES", "DATA_KINDS", "OPTIMIZERS", "merge", "validate",
           "output_units", "Targets", "LIMITS"]

DATA_KINDS = ("circle", "xor", "gauss", "spiral", "csv")
#: The inputs a network may take, each a function of the point (x1, x2).
FEATURES = {
    "x1": lambda p: p[:, 0],
    "x2": lambda p: p[:, 1],
    "x1^2": lambda p: p[:, 0] ** 2,
    "x2^2": lambda p: p[:, 1] ** 2,
    "x1x2": lambda p: p[:, 0] * p[:, 1],
    "sin(x1)": lambda p: np.sin(p[:, 0]),
    "sin(x2)": lambda p: np.sin(p[:, 1]),
}
ACTIVATIONS = ("tanh", "sigmoid", "relu", "leaky_relu", "elu", "softplus", "gelu", "identity", "softmax")
#: The losses the learner tools follow (so every weight can be explained), by their chainrule names.
LOSSES = ("binary_cross_entropy", "cross_entropy", "half_squared_error", "mse")
OPTIMIZERS = ("sgd", "adam", "rmsprop", "adagrad")
LIMITS = {"classes": (2, 5), "noise": (0.0, 1.0), "samples": (20, 2000), "test_fraction": (0.1, 0.9),
          "units": (1, 16), "layers": (0, 6), "l1": (0.0, 1.0), "l2": (0.0, 1.0), "dropout": (0.0, 0.9),
          "lr": (1e-6, 10.0), "batch_size": (1, 2000), "seed": (0, 2**31 - 1)}

DEFAULT: dict[str, Any] = {
    "data": {"kind": "circle", "classes": 2, "noise": 0.1, "samples": 500, "test_fraction": 0.3, "seed": 1},
    "features": ["x1", "x2"],
    "network": {"hidden": [{"units": 4, "activation": "tanh"}, {"units": 2, "activation": "tanh"}],
                "output_activation": "sigmoid", "loss": "binary_cross_entropy", "l1": 0.0, "l2": 0.0,
                "dropout": 0.0},
    "optimizer": {"name": "adam", "lr": 0.03, "batch_size": 10},
    "seed": 0,
}

_PARTS = {
    "data": {"kind": str, "classes": int, "noise": float, "samples": int, "test_fraction": float, "seed": int},
    "network": {"hidden": list, "output_activation": str, "loss": str, "l1": float, "l2": float, "dropout": float},
    "optimizer": {"name": str, "lr": float, "batch_size": int},
}


def _number(value: Any, kind: type, where: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{where} must be finite, got {value!r}")
    if kind is int:
        if int(value) != value:
            raise ConfigError(f"{where} must be a whole number, got {value!r}")
        return int(value)
    return float(value)


def _in_range(value: float, name: str, where: str) -> None:
    low, high = LIMITS[name]
    if not low <= value <= high:
        raise ConfigError(f"{where} must lie in [{low:g}, {high:g}], got {value:g}")


def _one_of(value: Any, choices: tuple[str, ...], where: str) -> str:
    if value not in choices:
        raise ConfigError(f"{where} must be one of {', '.join(choices)}; got {value!r}")
    return value


def merge(current: dict[str, Any], change: Any) -> dict[str, Any]:
    """``current`` with the fields of ``change`` put in, validated as a whole; ``current`` is not changed."""
    if not isinstance(change, dict):
        raise ConfigError(f"a set-up is a JSON object, got {type(change).__name__}")
    result = copy.deepcopy(current)
    for key, value in change.items():
        if key in _PARTS:
            if not isinstance(value, dict):
                raise ConfigError(f"setup.{key} must be an object, got {value!r}")
            unknown = sorted(set(value) - set(_PARTS[key]))
            if unknown:
                raise ConfigError(f"setup.{key} has no field {unknown[0]!r}; its fields are "
                                  f"{', '.join(_PARTS[key])}")
            result[key].update(copy.deepcopy(value))
        elif key in ("features", "seed"):
            result[key] = copy.deepcopy(value)
        else:
            raise ConfigError(f"a set-up has no part {key!r}; its parts are data, features, network, optimizer, seed")
    return validate(result)


def _validate_hidden(hidden: Any) -> list[dict[str, Any]]:
    if not isinstance(hidden, list):
        raise ConfigError(f"setup.network.hidden must be a list of layers, got {hidden!r}")
    _in_range(len(hidden), "layers", "the number of hidden layers")
    layers = []
    for n, layer in enumerate(hidden, start=1):
        where = f"hidden layer {n}"
        if not isinstance(layer, dict) or set(layer) != {"units", "activation"}:
            raise ConfigError(f"{where} must be an object {{units, activation}}, got {layer!r}")
        units = _number(layer["units"], int, f"{where}'s units")
        _in_range(units, "units", f"{where}'s units")
        layers.append({"units": units, "activation": _one_of(layer["activation"], ACTIVATIONS,
                                                             f"{where}'s activation")})
    return layers


def validate(setup: dict[str, Any]) -> dict[str, Any]:
    """A complete set-up checked field by field, numbers normalised; raises ConfigError naming the field."""
    out = copy.deepcopy(setup)
    for part, fields in _PARTS.items():
        for name, kind in fields.items():
            if kind in (int, float):
                value = _number(out[part][name], kind, f"setup.{part}.{name}")
                if name in LIMITS:
                    _in_range(value, name, f"setup.{part}.{name}")
                out[part][name] = value
    data, network, optimizer = out["data"], out["network"], out["optimizer"]
    _one_of(data["kind"], DATA_KINDS, "setup.data.kind")
    features = out["features"]
    if not isinstance(features, list) or not features:
        raise ConfigError(f"setup.features must be a non-empty list of {', '.join(FEATURES)}; got {features!r}")
    for f in features:
        _one_of(f, tuple(FEATURES), "a feature")
    if len(set(features)) != len(features):
        raise ConfigError(f"setup.features lists a feature twice: {features}")
    out["features"] = [f for f in FEATURES if f in features]  # a fixed order: i1 is always the first shown
    network["hidden"] = _validate_hidden(network["hidden"])
    _one_of(network["output_activation"], ACTIVATIONS, "setup.network.output_activation")
    _one_of(network["loss"], LOSSES, "setup.network.loss")
    check_output(network["output_activation"], network["loss"], data["classes"])
    _one_of(optimizer["name"], OPTIMIZERS, "setup.optimizer.name")
    out["seed"] = _number(out["seed"], int, "setup.seed")
    _in_range(out["seed"], "seed", "setup.seed")
    return out


def check_output(output_activation: str, loss: str, classes: int | None) -> None:
    """Refuse an output activation and loss that do not belong together, with ``fit``'s words
    (:func:`chainrule.losses.check_pair`), and binary cross-entropy for more than two classes."""
    losses.check_pair(output_activation, loss)
    if loss == "binary_cross_entropy" and classes is not None and classes != 2:
        raise ConfigError(f"binary cross-entropy has one sigmoid output for two classes; this data set has "
                          f"{classes}: choose a softmax output with cross_entropy")


def output_units(network: dict[str, Any], classes: int) -> int:
    """One output for two classes (sigmoid or a squared error on 0/1), else one per class (one-hot)."""
    if network["output_activation"] == "softmax" or network["loss"] == "cross_entropy":
        return classes
    return 1 if classes == 2 else classes


@dataclass(frozen=True)
class Targets:
    """How class labels y (n,) become the loss's targets, and outputs become class scores.

    ``units`` outputs; with one output the target is y itself, 0 or 1 (-1 or 1 under a
    tanh output, whose range is (-1, 1)); with several, cross-entropy takes class indices
    and the squared errors a one-hot row (low/high as for one output).
    """

    units: int
    loss: str
    low: float

    @classmethod
    def of(cls, network: dict[str, Any], classes: int) -> Targets:
        low = -1.0 if network["output_activation"] == "tanh" else 0.0
        return cls(output_units(network, classes), network["loss"], low)

    def make(self, y: np.ndarray) -> np.ndarray:
        """Targets for labels y: (n,) int for cross-entropy, else (n, units) floats."""
        if self.loss == "cross_entropy":
            return y.astype(np.int64)
        if self.units == 1:
            return np.where(y[:, None] == 1, 1.0, self.low)
        onehot = np.full((len(y), self.units), self.low)
        onehot[np.arange(len(y)), y] = 1.0
        return onehot

    def one(self, label: int) -> Any:
        """The target of one sample, as :func:`chainrule.explain` takes it."""
        return int(label) if self.loss == "cross_entropy" else self.make(np.array([label]))[0]

    def score(self, output: np.ndarray) -> np.ndarray:
        """A number per point for the heatmap: for one output, the output mapped to [0, 1]
        (a tanh output's [-1, 1] rescaled), else the index of the largest output (the class shown)."""
        if self.units == 1:
            o = output[:, 0]
            return (o - self.low) / (1.0 - self.low)
        return output.argmax(axis=1).astype(np.float64)

    def predict(self, output: np.ndarray) -> np.ndarray:
        if self.units == 1:
            return (output[:, 0] > (self.low + 1.0) / 2).astype(np.int64)
        return output.argmax(axis=1)
