"""The conventions worked examples silently choose, made explicit.

Two authors running "one step of gradient descent" on the same network can print
different numbers because they chose differently:

``update``
    ``"simultaneous"`` (the textbook, and the text of Mazur's post): every gradient
    is computed from the weights before the step, then all weights change.
    ``"sequential"``: layers are updated from the output backwards, and each layer's
    deltas use the weights already updated above it,
    delta_h = (sum_k delta_k w_hk^+) f'(net_h).
``update_biases``
    Whether biases learn (Mazur's post keeps b1 and b2 fixed).
``bias``
    ``"per_neuron"``: each neuron j has its own b_j with dE/db_j = delta_j.
    ``"shared"``: one bias per layer (Mazur's b1, b2), dE/db = sum_j delta_j.
``loss`` (its scaling)
    E = 1/2 sum_k (target_k - out_k)^2 (``half_squared_error``: Mazur, Nielsen),
    sum_k (...)^2 (``squared_error``: Learning From Data), 1/K sum_k (...)^2 (``mse``: PyTorch,
    Keras), 1/(2K) sum_k (...)^2 (``half_mse``: scikit-learn's MLP).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from chainrule import losses
from chainrule.errors import ConfigError
from chainrule.losses import LOSS_DEFS, LossDef
from chainrule.tensor import Tensor

__all__ = ["Convention", "LossSpec", "LOSS_SPECS", "get_loss_spec", "checked_loss_spec", "PRESETS", "UPDATES",
           "BIASES"]

UPDATES = ("simultaneous", "sequential")
BIASES = ("per_neuron", "shared")


@dataclass(frozen=True)
class Convention:
    """How one gradient-descent step is taken (see the module docstring)."""

    update: str = "simultaneous"
    update_biases: bool = True
    bias: str = "per_neuron"

    def __post_init__(self) -> None:
        if self.update not in UPDATES:
            raise ConfigError(f"update must be one of {', '.join(UPDATES)}, got {self.update!r}")
        if self.bias not in BIASES:
            raise ConfigError(f"bias must be one of {', '.join(BIASES)}, got {self.bias!r}")
        if not isinstance(self.update_biases, (bool, np.bool_)):
            raise ConfigError(f"update_biases must be True or False, got {self.update_biases!r}")

    def describe(self) -> str:
        """One line naming the choices, e.g. for a trace's header."""
        update = ("simultaneous update (all gradients from the weights before the step)"
                  if self.update == "simultaneous" else
                  "sequential update (layers from the output back; hidden deltas use the updated weights above)")
        bias = "one bias per neuron" if self.bias == "per_neuron" else "one bias shared per layer"
        learn = "updated" if self.update_biases else "not updated"
        return f"{update}; {bias}, {learn}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LossSpec:
    """A loss of :mod:`chainrule.losses`, possibly scaled: E = scale * E_base.

    ``definition`` is the engine's :class:`~chainrule.losses.LossDef`; the learner tools
    read its terms, gradient and formulas and multiply by ``scale``.
    """

    name: str
    base: str
    scale: float = 1.0
    who: str = ""

    @property
    def definition(self) -> LossDef:
        return LOSS_DEFS[self.base]

    def __call__(self, output: Tensor, target: Any) -> Tensor:
        """E as a scalar tensor recorded by the engine."""
        error = losses.get_loss(self.base)(output, target)
        return error if self.scale == 1 else error * self.scale

    def terms(self, output: np.ndarray, target: np.ndarray) -> np.ndarray:
        """The per-output error terms (Mazur's E_o1, E_o2), shape (batch, n_out)."""
        return self.scale * self.definition.terms(output, target)


LOSS_SPECS: dict[str, LossSpec] = {spec.name: spec for spec in (
    LossSpec("half_squared_error", "half_squared_error", 1.0, "Mazur, Nielsen, the lecture notes on x, y, z"),
    LossSpec("squared_error", "squared_error", 1.0, "Learning From Data (Abu-Mostafa et al.)"),
    LossSpec("mse", "mse", 1.0, "PyTorch MSELoss, Keras mean_squared_error"),
    LossSpec("half_mse", "mse", 0.5, "scikit-learn MLPRegressor (squared_loss)"),
    LossSpec("cross_entropy", "cross_entropy", 1.0, "softmax outputs, one-hot targets"),
    LossSpec("binary_cross_entropy", "binary_cross_entropy", 1.0, "sigmoid outputs"),
)}


def get_loss_spec(loss: str | LossSpec) -> LossSpec:
    """A :class:`LossSpec` by name (or ``loss`` itself)."""
    if isinstance(loss, LossSpec):
        return loss
    try:
        return LOSS_SPECS[loss]
    except (KeyError, TypeError):
        raise ConfigError(f"the learner tools follow the losses {', '.join(LOSS_SPECS)}; got {loss!r} "
                          "(a loss on logits belongs to a softmax or sigmoid output layer here)") from None


def checked_loss_spec(loss: str | LossSpec, output: str, allow_mismatch: bool = False) -> LossSpec:
    """The :class:`LossSpec` of ``loss``, refused when the output activation ``output`` cannot feed it.

    The refusal is :func:`chainrule.losses.check_pair`'s, the one table and message that
    ``chainrule.fit`` uses: cross-entropy needs probabilities (a softmax or sigmoid output),
    else the learner tools would print ``log(0)`` or ``log(-0.10)`` as a step's numbers.
    With ``allow_mismatch=True`` the pair passes with a RuntimeWarning.
    """
    spec = get_loss_spec(loss)
    losses.check_pair(output, spec.base, allow_mismatch)
    return spec


#: Named sets of options for :func:`~chainrule.learn.trace` and :func:`~chainrule.learn.gradient_descent`.
PRESETS: dict[str, dict[str, Any]] = {
    "textbook": {"update": "simultaneous", "update_biases": True, "bias": "per_neuron"},
    "mazur": {"update": "simultaneous", "update_biases": False, "bias": "shared"},
    "mazur_sequential": {"update": "sequential", "update_biases": False, "bias": "shared"},
}
