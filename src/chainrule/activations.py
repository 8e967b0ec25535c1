"""Activation modules: out = f(net), each the module face of one op of the registry.

The vocabulary, each activation's attributes and their schema (leaky ReLU's alpha,
gelu's approximate, softmax's axis), its derivative and its initialiser hint live once,
in :data:`chainrule.ops.ACTIVATIONS`; the classes here name them (``Tanh()`` is
``Activation("tanh")``) and take their attribute defaults from there.
:class:`FunctionActivation` wraps a Python function of a Tensor instead, differentiated
through the graph of the operations it is made of.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule import functional as F
from chainrule.errors import ConfigError, ShapeError
from chainrule.module import Module
from chainrule.ops import ACTIVATIONS, check_attrs
from chainrule.tensor import Tensor

__all__ = ["Activation", "Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "Softplus", "GELU", "Softmax",
           "LogSoftmax", "FunctionActivation", "make_activation"]


class Activation(Module):
    """An activation function applied elementwise (softmax: along ``axis``).

    ``Activation("tanh")`` is the same as ``Tanh()``. Its derivative is the op's one
    definition in :mod:`chainrule.ops`.
    """

    def __init__(self, name: str, **attrs: Any) -> None:
        self.attrs = check_attrs(name, attrs)  # the op registry's vocabulary and attribute schema
        self.name = name

    @property
    def op(self):
        """The registered op (forward, vjp and f')."""
        return ACTIVATIONS[self.name]

    def forward(self, x: Tensor) -> Tensor:
        return F.activation(self.name, x, **self.attrs)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.attrs.items())

    def __repr__(self) -> str:
        if type(self) is Activation:
            return f"Activation({self.name!r}{', ' if self.attrs else ''}{self.extra_repr()})"
        return super().__repr__()


class _Named(Activation):
    """An activation class of the registry: ``op_name`` picks the op, keyword arguments are its attributes."""

    op_name: str

    def __init__(self, **attrs: Any) -> None:
        super().__init__(self.op_name, **attrs)


def _default(name: str, attribute: str) -> Any:
    """The registry's default for an activation's attribute (the first choice where the schema lists choices)."""
    rule = ACTIVATIONS[name].attrs[attribute]
    return rule[0] if isinstance(rule, tuple) else rule


class Identity(_Named):
    """out = net."""

    op_name = "identity"


class Sigmoid(_Named):
    """out = 1 / (1 + exp(-net)); f'(net) = out (1 - out)."""

    op_name = "sigmoid"


class Tanh(_Named):
    """out = tanh(net); f'(net) = 1 - out^2."""

    op_name = "tanh"


class ReLU(_Named):
    """out = max(0, net)."""

    op_name = "relu"


class LeakyReLU(_Named):
    """out = net if net > 0 else alpha * net."""

    op_name = "leaky_relu"

    def __init__(self, alpha: float = _default("leaky_relu", "alpha")) -> None:
        super().__init__(alpha=alpha)


class ELU(_Named):
    """out = net if net > 0 else alpha * (exp(net) - 1)."""

    op_name = "elu"

    def __init__(self, alpha: float = _default("elu", "alpha")) -> None:
        super().__init__(alpha=alpha)


class Softplus(_Named):
    """out = log(1 + exp(net))."""

    op_name = "softplus"


class GELU(_Named):
    """out = net * Phi(net); ``approximate="tanh"`` for the tanh form."""

    op_name = "gelu"

    def __init__(self, approximate: str = _default("gelu", "approximate")) -> None:
        super().__init__(approximate=approximate)


class Softmax(_Named):
    """out_j = exp(net_j) / sum_k exp(net_k) along ``axis`` (full Jacobian in backward)."""

    op_name = "softmax"

    def __init__(self, axis: int = _default("softmax", "axis")) -> None:
        super().__init__(axis=axis)


class LogSoftmax(_Named):
    """out_j = net_j - log sum_k exp(net_k) along ``axis``."""

    op_name = "log_softmax"

    def __init__(self, axis: int = _default("log_softmax", "axis")) -> None:
        super().__init__(axis=axis)


#: Other names for activations of the registry: scikit-learn's "logistic", and "linear" and the
#: command line's "none" for a linear output.
_ALIASES = {"linear": "identity", "logistic": "sigmoid", "none": "identity"}


def _class_for(name: str) -> type[Activation] | None:
    """The named class (``Tanh``, ...) of a registry activation: the one whose ``op_name`` is ``name``."""
    return next((cls for cls in _Named.__subclasses__() if cls.op_name == name), None)


class FunctionActivation(Module):
    """An activation given as a Python function of a Tensor: out = f(net), elementwise or not.

    f must be built from chainrule's differentiable operations (:mod:`chainrule.functional`,
    Tensor arithmetic), so backpropagation differentiates it through the recorded graph:
    dout/dnet comes from the definitions of the operations f is made of, written once in
    :mod:`chainrule.ops`. Training runs on the graph path (the captured plan needs
    registered ops), model files cannot hold it (they hold no code), and the learner
    tools, which print each activation's formula, do not take it.

    Parameters
    ----------
    fn : callable
        Tensor (batch, n) -> Tensor (batch, n).
    name : str, optional
        For display; defaults to ``fn.__name__``.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule import functional as F
    >>> swish = FunctionActivation(lambda net: net * F.sigmoid(net), name="swish")
    >>> net = cr.MLP([2, 3, 1], activation=swish, seed=0)
    >>> net([[0.5, -1.0]]).shape
    (1, 1)
    """

    def __init__(self, fn: Callable[[Tensor], Tensor], name: str | None = None) -> None:
        if not callable(fn):
            raise ConfigError(f"FunctionActivation needs a function of a Tensor, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "function")

    def forward(self, x: Tensor) -> Tensor:
        out = self.fn(x)
        if not isinstance(out, Tensor):
            raise ConfigError(f"the activation {self.name!r} returned {type(out).__name__}; it must return a "
                              "chainrule Tensor computed with chainrule's operations, so it can be differentiated")
        if out.shape != x.shape:
            raise ShapeError(f"the activation {self.name!r} turned shape {x.shape} into {out.shape}; "
                             "an activation keeps the shape of its input")
        return out

    def extra_repr(self) -> str:
        return repr(self.name)


def make_activation(spec: Any) -> Activation | FunctionActivation:
    """An activation module from a name (scikit-learn's 'logistic' is sigmoid), a module, an
    Activation class, a function of a Tensor (:class:`FunctionActivation`), or None (identity)."""
    if spec is None:
        return Identity()
    if isinstance(spec, (Activation, FunctionActivation)):
        return spec
    if isinstance(spec, str) and _ALIASES.get(spec, spec) in ACTIVATIONS:
        name = _ALIASES.get(spec, spec)
        cls = _class_for(name)
        return cls() if cls is not None else Activation(name)
    if isinstance(spec, type) and issubclass(spec, Activation) and spec is not Activation:
        return spec()
    if callable(spec) and not isinstance(spec, type):
        return FunctionActivation(spec)
    raise ConfigError(
        f"unknown activation {spec!r}; choose one of {', '.join([*ACTIVATIONS, *_ALIASES])}, pass an Activation, "
        "or a function of a Tensor built from chainrule operations"
    )


def _auto_init(act: Activation | FunctionActivation) -> str:
    """The registry op's initialiser hint (He for the ReLU family, Xavier otherwise)."""
    return act.op.init if isinstance(act, Activation) else "xavier_uniform"
