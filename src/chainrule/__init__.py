"""chainrule: backpropagation you can read, fast enough for real work.

``import chainrule`` needs NumPy alone; plotting, scikit-learn estimators and the
formula checker import their extras when used.
"""

from chainrule import callbacks, errors, examples, functional, init, losses, metrics, ops, optim, schedules
from chainrule.gradcheck import GradcheckReport, check_vjp, gradcheck
from chainrule.io import load, save
from chainrule.nn import (
    ELU,
    GELU,
    MLP,
    Activation,
    Dropout,
    FunctionActivation,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    Module,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from chainrule.tensor import Tensor, is_grad_enabled, no_grad, tensor
from chainrule.train import History, evaluate, fit, predict

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "no_grad", "is_grad_enabled",
    "Module", "Parameter", "Linear", "Sequential", "MLP", "Dropout", "Activation", "FunctionActivation",
    "Identity", "Sigmoid",
    "Tanh", "ReLU", "LeakyReLU", "ELU", "Softplus", "GELU", "Softmax", "LogSoftmax",
    "gradcheck", "check_vjp", "GradcheckReport",
    "fit", "evaluate", "predict", "History", "save", "load",
    "callbacks", "errors", "examples", "functional", "init", "losses", "metrics", "ops", "optim", "schedules",
    "trace", "explain", "check", "datasets", "learn", "plot", "sklearn", "export", "__version__",
]

_LEARNER_TOOLS = ("trace", "explain", "check")
_SUBPACKAGES = ("datasets", "learn", "plot", "sklearn", "export")


def __getattr__(name: str):
    """Load the learner tools (``chainrule.trace``, ``explain``, ``check``) and the subpackages
    ``datasets``, ``learn``, ``plot``, ``sklearn`` and ``export`` on first use, so ``import chainrule`` stays
    NumPy-only."""
    if name in _LEARNER_TOOLS:
        from chainrule import learn

        return getattr(learn, name)
    if name in _SUBPACKAGES:
        import importlib

        return importlib.import_module(f"chainrule.{name}")
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")
