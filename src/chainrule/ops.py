"""Every differentiable operation: its forward and its vector-Jacobian product, side by side, once.

An :class:`Op` is pure NumPy. ``forward(*inputs, **attrs)`` computes the result;
``vjp(grad, out, *inputs, **attrs)`` returns, for each input, ``grad`` pulled back
through the op: ``(J^T grad)`` with ``J = d out / d input``. Gradients come back in
the *broadcast* shape; :func:`unbroadcast` (the only place shapes are repaired)
sums them down to each input's shape.

Vocabulary, as in Mazur's post: ``net`` is a neuron's net input (Learning From Data's s_j),
``out`` the op's result (x_j = f(s_j)), ``grad`` the incoming dE/d(out).

Activations are single ops whose ``derivative(net, out)`` gives f'(net) as one
elementwise factor, written through the output where the textbooks do:
sigmoid' = out (1 - out), tanh' = 1 - out^2. The graph, the captured training plan
and the learner tools all read this one table.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.errors import ConfigError

__all__ = ["Op", "OPS", "register", "unbroadcast", "get_op", "ACTIVATIONS", "check_attrs"]

Array = np.ndarray


@dataclass(frozen=True)
class Op:
    """One differentiable operation.

    Attributes
    ----------
    name : str
        Registry key, also the label a graph node shows.
    forward : callable
        ``forward(*inputs, **attrs) -> out``.
    vjp : callable
        ``vjp(grad, out, *inputs, **attrs) -> tuple`` of one gradient per input
        (``None`` for an input that has no gradient, such as a mask).
    derivative : callable or None
        For elementwise activations only: ``derivative(net, out, **attrs)`` is
        f'(net), so that ``vjp = grad * f'(net)``.
    formula, derivative_formula : str
        The math in Mazur's net/out notation, for docs and the learner tools.
    forward_into, derivative_into : callable or None
        For some activations: the same formulas written into a caller's buffer,
        ``forward_into(net, into, **attrs)`` and ``derivative_into(net, out, into, **attrs)``
        (``into`` shaped like net, or None to allocate). ``forward`` and ``derivative``
        are these with ``into=None``. They skip the underflow guard: the training plan
        runs a whole step under one ``np.errstate(under="ignore")``.
    attrs : dict
        For activations, the attribute schema: each attribute's default value (a given
        value must have its type) or the tuple of values it may take (default first).
        Modules, functional wrappers and model files read it (:func:`check_attrs`).
    init : str
        For activations, the weight initialiser that suits the layer before it ("he_uniform"
        for the ReLU family, whose outputs are zero for half the inputs; else "xavier_uniform").
    """

    name: str
    forward: Callable[..., Array]
    vjp: Callable[..., tuple[Array | None, ...]]
    derivative: Callable[..., Array] | None = None
    formula: str = ""
    derivative_formula: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    forward_into: Callable[..., Array] | None = None
    derivative_into: Callable[..., Array] | None = None
    init: str = "xavier_uniform"


OPS: dict[str, Op] = {}
ACTIVATIONS: dict[str, Op] = {}


def register(op: Op, *, activation: bool = False) -> Op:
    """Add ``op`` to the registry (and to :data:`ACTIVATIONS` when it is one)."""
    if op.name in OPS:
        raise KeyError(f"op {op.name!r} is already registered")
    OPS[op.name] = op
    if activation:
        ACTIVATIONS[op.name] = op
    return op


def check_attrs(name: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """``attrs`` of the activation ``name``, checked against its schema in :data:`ACTIVATIONS`.

    Raises ConfigError for an unknown activation, an attribute it does not take, or a value
    outside its choices (gelu's ``approximate`` is "none" or "tanh").
    """
    op = ACTIVATIONS.get(name)
    if op is None:
        raise ConfigError(f"unknown activation {name!r}; choose one of {', '.join(sorted(ACTIVATIONS))}")
    for key, value in attrs.items():
        if key not in op.attrs:
            takes = ", ".join(op.attrs) or "no attributes"
            raise ConfigError(f"activation {name!r} takes {takes}, got {key}={value!r}")
        rule = op.attrs[key]
        if isinstance(rule, tuple) and value not in rule:
            raise ConfigError(f"{name} {key} must be {' or '.join(map(repr, rule))}, got {value!r}")
    return attrs


def get_op(name: str) -> Op:
    """Look up a registered op by name."""
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"no op named {name!r}; known ops: {', '.join(sorted(OPS))}") from None


def unbroadcast(grad: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``grad`` down to ``shape``, undoing NumPy broadcasting in the forward pass.

    A bias of shape (n_out,) added to a (batch, n_out) net input receives the sum of
    the gradient over the batch: the bias is a weight from a constant-1 input in
    every sample.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.reshape(shape)


def _const(value: float, like: Array) -> Array:
    """A scalar in ``like``'s dtype, so float32 stays float32."""
    return np.asarray(value, dtype=like.dtype)


def _underflow_is_zero(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``fn`` with NumPy's underflow flag ignored.

    exp() of a very negative number (sigmoid(-1000), softmax([1000, 0])) and products of
    tiny probabilities round to 0 or a subnormal: the right value to within float
    precision, not an error. Overflow and invalid operations still raise where the
    caller asked for that (np.seterr(all="raise")).
    """

    @functools.wraps(fn)
    def quiet(*args, **kwargs):
        with np.errstate(under="ignore"):
            return fn(*args, **kwargs)

    return quiet


def _elementwise(name: str, forward, derivative, formula: str, derivative_formula: str,
                 *, activation: bool = False, forward_into=None, derivative_into=None,
                 attrs: dict[str, Any] | None = None, init: str = "xavier_uniform") -> Op:
    def vjp(grad, out, x, **attrs):
        return (grad * derivative(x, out, **attrs),)

    if activation:
        forward, derivative, vjp = (_underflow_is_zero(f) for f in (forward, derivative, vjp))

    return register(Op(name, forward, vjp, derivative if activation else None, formula,
                       derivative_formula, attrs=attrs or {}, forward_into=forward_into,
                       derivative_into=derivative_into, init=init),
                    activation=activation)


# ---------------------------------------------------------------- arithmetic
register(Op("add", lambda a, b: a + b, lambda g, out, a, b: (g, g), formula="a + b"))
register(Op("sub", lambda a, b: a - b, lambda g, out, a, b: (g, -g), formula="a - b"))
register(Op("mul", lambda a, b: a * b, lambda g, out, a, b: (g * b, g * a), formula="a * b"))
register(Op("div", lambda a, b: a / b, lambda g, out, a, b: (g / b, -g * out / b),
            formula="a / b"))
register(Op("neg", lambda a: -a, lambda g, out, a: (-g,), formula="-a"))
register(Op(
    "pow_scalar",
    lambda a, exponent: a ** exponent,
    lambda g, out, a, exponent: (g * exponent * a ** (exponent - 1),),
    formula="a ** p", derivative_formula="p * a ** (p - 1)",
))


def _pow_vjp(g, out, a, b):
    # d(a^b)/db = a^b log a is defined for a > 0 only; elsewhere it is taken as 0.
    positive = a > 0
    log_a = np.log(np.where(positive, a, np.ones_like(a)))
    return g * b * a ** (b - 1), g * np.where(positive, out * log_a, np.zeros_like(out))


register(Op("pow", lambda a, b: a ** b, _pow_vjp, formula="a ** b"))


# ---------------------------------------------------------------- linear algebra
def _matmul_vjp(g, out, a, b):
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = g
    # Put back the dropped axes, the last first: a vector @ vector gives a 0-d grad.
    if b.ndim == 1:
        g2 = np.expand_dims(g2, -1)
    if a.ndim == 1:
        g2 = np.expand_dims(g2, -2)
    grad_a = g2 @ np.swapaxes(b2, -1, -2)
    grad_b = np.swapaxes(a2, -1, -2) @ g2
    if a.ndim == 1:
        grad_a = np.squeeze(grad_a, -2)
    if b.ndim == 1:
        grad_b = np.squeeze(grad_b, -1)
    return grad_a, grad_b


register(Op("matmul", lambda a, b: a @ b, _matmul_vjp, formula="a @ b",
            derivative_formula="dE/da = grad @ b.T, dE/db = a.T @ grad"))


def _inverse_permutation(axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(np.argsort(axes))


register(Op(
    "transpose",
    lambda a, axes: np.transpose(a, axes),
    lambda g, out, a, axes: (np.transpose(g, None if axes is None else _inverse_permutation(axes)),),
))
register(Op("reshape", lambda a, shape: np.reshape(a, shape),
            lambda g, out, a, shape: (np.reshape(g, a.shape),)))


def _getitem_vjp(g, out, a, index):
    grad = np.zeros_like(a)
    np.add.at(grad, index, g)  # repeated fancy indices each send their gradient back
    return (grad,)


register(Op("getitem", lambda a, index: a[index], _getitem_vjp))


# ---------------------------------------------------------------- reductions
def _expand_reduced(g: Array, shape: tuple[int, ...], axis, keepdims: bool) -> Array:
    """Put back the axes a reduction removed, so ``g`` broadcasts against the input."""
    if axis is None:
        return np.reshape(g, (1,) * len(shape)) if not keepdims else g
    if not keepdims:
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        axes = tuple(ax % len(shape) for ax in axes)
        for ax in sorted(axes):
            g = np.expand_dims(g, ax)
    return g


def _reduced_count(shape: tuple[int, ...], axis) -> int:
    if axis is None:
        return math.prod(shape)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return math.prod(shape[ax] for ax in axes)


register(Op(
    "sum",
    lambda a, axis=None, keepdims=False: np.sum(a, axis=axis, keepdims=keepdims),
    lambda g, out, a, axis=None, keepdims=False: (
        np.broadcast_to(_expand_reduced(g, a.shape, axis, keepdims), a.shape).copy(),),
))
register(Op(
    "mean",
    lambda a, axis=None, keepdims=False: np.mean(a, axis=axis, keepdims=keepdims),
    lambda g, out, a, axis=None, keepdims=False: (
        np.broadcast_to(_expand_reduced(g, a.shape, axis, keepdims), a.shape)
        / _const(_reduced_count(a.shape, axis), a),),
))


def _max_vjp(g, out, a, axis=None, keepdims=False):
    # Ties share the gradient equally: the subgradient that keeps sum(grad) = g.
    out_full = _expand_reduced(out, a.shape, axis, keepdims)
    is_max = (a == out_full).astype(a.dtype)
    share = is_max / np.sum(is_max, axis=axis, keepdims=True)
    return (share * _expand_reduced(g, a.shape, axis, keepdims),)


register(Op("max", lambda a, axis=None, keepdims=False: np.max(a, axis=axis, keepdims=keepdims),
            _max_vjp))


# ---------------------------------------------------------------- joining
def _concatenate_vjp(g, out, *parts, axis=0):
    bounds = np.cumsum([p.shape[axis] for p in parts])[:-1]
    return tuple(np.split(g, bounds, axis=axis))


def _stack_vjp(g, out, *parts, axis=0):
    return tuple(np.take(g, i, axis=axis) for i in range(len(parts)))


register(Op("concatenate", lambda *parts, axis=0: np.concatenate(parts, axis=axis),
            _concatenate_vjp))
register(Op("stack", lambda *parts, axis=0: np.stack(parts, axis=axis), _stack_vjp))


# ---------------------------------------------------------------- elementwise math
_elementwise("exp", lambda x: np.exp(x), lambda x, out: out, "exp(x)", "exp(x)")
_elementwise("log", lambda x: np.log(x), lambda x, out: 1 / x, "log(x)", "1 / x")
_elementwise("sqrt", lambda x: np.sqrt(x), lambda x, out: 0.5 / out, "sqrt(x)", "1 / (2 sqrt(x))")
_elementwise("abs", lambda x: np.abs(x), lambda x, out: np.sign(x), "|x|", "sign(x)")


def _clip_vjp(g, out, x, low=None, high=None):
    inside = np.ones_like(x, dtype=bool)
    if low is not None:
        inside &= x >= low
    if high is not None:
        inside &= x <= high
    return (g * inside,)


register(Op("clip", lambda x, low=None, high=None: np.clip(x, low, high), _clip_vjp,
            formula="min(max(x, low), high)", derivative_formula="1 where low <= x <= high, else 0"))
register(Op(
    "where",
    lambda a, b, condition: np.where(condition, a, b),
    lambda g, out, a, b, condition: (np.where(condition, g, 0 * g), np.where(condition, 0 * g, g)),
    formula="a where condition else b",
))


# ---------------------------------------------------------------- activations
def _sigmoid_into(x: Array, into: Array | None = None) -> Array:
    # 1 / (1 + e^-x) in place. For x far below 0, e^-x overflows to inf and 1/inf = 0,
    # the correctly rounded value, so that overflow is expected, not an error; every
    # finite e^-x gives a result with a relative error of a few ulp.
    if into is None and x.dtype.kind != "f":
        x = x.astype(np.float64)
    with np.errstate(over="ignore", under="ignore"):
        into = np.negative(x, out=into)
        np.exp(into, out=into)
        np.add(into, 1, out=into)
        return np.reciprocal(into, out=into)


@_underflow_is_zero
def _sigmoid(x: Array) -> Array:
    return _sigmoid_into(x)


def _sigmoid_derivative_into(x: Array, out: Array, into: Array | None = None) -> Array:
    into = np.subtract(1, out, out=into)
    return np.multiply(out, into, out=into)


def _tanh_into(x: Array, into: Array | None = None) -> Array:
    return np.tanh(x, out=into)


def _tanh_derivative_into(x: Array, out: Array, into: Array | None = None) -> Array:
    into = np.multiply(out, out, out=into)
    return np.subtract(1, into, out=into)


def _relu_into(x: Array, into: Array | None = None) -> Array:
    # max(net, 0) against an array of zeros: NumPy's loop for two arrays is several
    # times faster than the one for an array and a scalar. ``into`` must not be ``x``.
    zeros = np.zeros_like(x) if into is None else into
    zeros.fill(0)
    return np.maximum(x, zeros, out=zeros)


def _relu_derivative_into(x: Array, out: Array, into: Array | None = None) -> Array:
    # The comparison's True/False land in a float buffer as 1/0.
    return np.greater(x, 0, out=np.empty_like(x) if into is None else into)


def _elu(x: Array, alpha: float = 1.0) -> Array:
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


@_underflow_is_zero
def _softplus(x: Array) -> Array:
    return np.logaddexp(_const(0.0, x), x)


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def _erf(x: Array) -> Array:
    try:
        from scipy.special import erf
    except ImportError:  # NumPy has no erf; math.erf elementwise is exact but slow
        return np.vectorize(math.erf, otypes=[x.dtype])(x)
    return erf(x).astype(x.dtype, copy=False)


@_underflow_is_zero
def _gelu(x: Array, approximate: str = "none") -> Array:
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


@_underflow_is_zero
def _gelu_derivative(x: Array, out: Array, approximate: str = "none") -> Array:
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)
        t = np.tanh(inner)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
    cdf = 0.5 * (1 + _erf(x / math.sqrt(2)))
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return cdf + x * pdf


_elementwise("identity", lambda x: x, lambda x, out: np.ones_like(x),
             "out = net", "1", activation=True)
_elementwise("sigmoid", lambda x: _sigmoid_into(x), lambda x, out: _sigmoid_derivative_into(x, out),
             "out = 1 / (1 + exp(-net))", "out * (1 - out)", activation=True,
             forward_into=_sigmoid_into, derivative_into=_sigmoid_derivative_into)
_elementwise("tanh", lambda x: _tanh_into(x), lambda x, out: _tanh_derivative_into(x, out),
             "out = tanh(net)", "1 - out^2", activation=True,
             forward_into=_tanh_into, derivative_into=_tanh_derivative_into)
# At net = 0 ReLU has no derivative; 0 is the subgradient every framework uses.
_elementwise("relu", lambda x: _relu_into(x), lambda x, out: _relu_derivative_into(x, out),
             "out = max(0, net)", "1 if net > 0 else 0", activation=True,
             forward_into=_relu_into, derivative_into=_relu_derivative_into, init="he_uniform")
_elementwise("leaky_relu", lambda x, alpha=0.01: np.where(x > 0, x, alpha * x),
             lambda x, out, alpha=0.01: np.where(x > 0, _const(1.0, x), _const(alpha, x)),
             "out = net if net > 0 else alpha * net", "1 if net > 0 else alpha", activation=True,
             attrs={"alpha": 0.01}, init="he_uniform")
_elementwise("elu", _elu,
             lambda x, out, alpha=1.0: np.where(x > 0, _const(1.0, x), out + alpha),
             "out = net if net > 0 else alpha * (exp(net) - 1)", "1 if net > 0 else out + alpha",
             activation=True, attrs={"alpha": 1.0}, init="he_uniform")
_elementwise("softplus", _softplus, lambda x, out: _sigmoid(x),
             "out = log(1 + exp(net))", "sigmoid(net)", activation=True)
_elementwise("gelu", _gelu, _gelu_derivative,
             "out = net * Phi(net)", "Phi(net) + net * phi(net)", activation=True,
             attrs={"approximate": ("none", "tanh")}, init="he_uniform")


@_underflow_is_zero
def _softmax(x: Array, axis: int = -1) -> Array:
    # Subtracting the row maximum leaves softmax unchanged and keeps exp() <= 1.
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


@_underflow_is_zero
def _softmax_vjp(g, out, x, axis=-1):
    # Full Jacobian-vector product: d out_i / d net_j = out_i (1[i=j] - out_j), so
    # dE/dnet_j = out_j (g_j - sum_i g_i out_i). Correct for hidden softmax layers too.
    return (out * (g - np.sum(g * out, axis=axis, keepdims=True)),)


@_underflow_is_zero
def _log_softmax(x: Array, axis: int = -1) -> Array:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


@_underflow_is_zero
def _log_softmax_vjp(g, out, x, axis=-1):
    return (g - np.exp(out) * np.sum(g, axis=axis, keepdims=True),)


register(Op("softmax", _softmax, _softmax_vjp, None,
            "out_j = exp(net_j) / sum_k exp(net_k)",
            "dout_i/dnet_j = out_i * (1[i=j] - out_j)", attrs={"axis": -1}), activation=True)
register(Op("log_softmax", _log_softmax, _log_softmax_vjp, None,
            "out_j = net_j - log sum_k exp(net_k)",
            "dout_i/dnet_j = 1[i=j] - softmax_j", attrs={"axis": -1}), activation=True)

# Numerically safe building blocks the losses reuse.
sigmoid = _sigmoid
softmax = _softmax
log_softmax = _log_softmax
softplus = _softplus
