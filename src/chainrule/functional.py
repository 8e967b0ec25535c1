"""Differentiable functions on :class:`~chainrule.Tensor`, one per op in :mod:`chainrule.ops`.

These validate their arguments (the boundary) and record the op in the graph;
the math lives in :mod:`chainrule.ops`. A Python number mixed with a tensor takes
the tensor's dtype, so float32 stays float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.errors import ChainruleError, ShapeError
from chainrule.ops import check_attrs, get_op
from chainrule.tensor import Tensor, as_array

__all__ = [
    "add", "sub", "mul", "div", "pow", "neg", "matmul", "transpose", "reshape", "getitem",
    "sum", "mean", "max", "concatenate", "stack", "exp", "log", "sqrt", "abs", "clip", "where",
    "identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu", "softmax",
    "log_softmax", "activation",
]


def _apply(name: str, *inputs: Tensor, **attrs: Any) -> Tensor:
    try:
        return Tensor._from_op(get_op(name), inputs, attrs)
    except ChainruleError:
        raise
    except ValueError as error:
        shapes = ", ".join(str(t.shape) for t in inputs)
        raise ShapeError(f"{name}: inputs of shapes {shapes} do not fit together ({error})") from None


def _lift(value: Any, like: Tensor | None = None) -> Tensor:
    """A tensor for ``value``; a Python number takes the dtype of ``like``."""
    if isinstance(value, Tensor):
        return value
    if like is not None and isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return Tensor(np.asarray(value, dtype=like.dtype))
    return Tensor(as_array(value))


def _lift_pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    return _lift(a, like), _lift(b, like)


# ---------------------------------------------------------------- arithmetic
def add(a: Any, b: Any) -> Tensor:
    """a + b, broadcasting as NumPy does; each gradient is summed back to its input's shape."""
    return _apply("add", *_lift_pair(a, b))


def sub(a: Any, b: Any) -> Tensor:
    """a - b."""
    return _apply("sub", *_lift_pair(a, b))


def mul(a: Any, b: Any) -> Tensor:
    """a * b (elementwise)."""
    return _apply("mul", *_lift_pair(a, b))


def div(a: Any, b: Any) -> Tensor:
    """a / b (elementwise)."""
    return _apply("div", *_lift_pair(a, b))


def neg(a: Any) -> Tensor:
    """-a."""
    return _apply("neg", _lift(a))


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - the operator's name
    """a ** b. A constant exponent (a number) uses d/da = b a^(b-1) only, so a may be negative."""
    if isinstance(b, (int, float, np.number)) and not isinstance(b, bool):
        # A NumPy scalar exponent becomes a Python number, which keeps a float32 base float32.
        return _apply("pow_scalar", _lift(a), exponent=b.item() if isinstance(b, np.number) else b)
    return _apply("pow", *_lift_pair(a, b))


# ---------------------------------------------------------------- linear algebra
def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product a @ b: (..., n, k) @ (..., k, m) -> (..., n, m).

    dE/da = grad @ b.T and dE/db = a.T @ grad.
    """
    a, b = _lift_pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul needs arrays of at least 1 dimension, got shapes {a.shape} and {b.shape}")
    inner_a = a.shape[-1]
    inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if inner_a != inner_b:
        raise ShapeError(
            f"matmul: cannot multiply shape {a.shape} by shape {b.shape}: the inner sizes "
            f"{inner_a} and {inner_b} must be equal"
        )
    return _apply("matmul", a, b)


def transpose(a: Any, axes: Sequence[int] | None = None) -> Tensor:
    """Permute axes (reverse them when ``axes`` is None); ``t.T`` is the same."""
    return _apply("transpose", _lift(a), axes=None if axes is None else tuple(axes))


def reshape(a: Any, shape: Any) -> Tensor:
    """The same values in a new shape (one dimension may be -1)."""
    a = _lift(a)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _apply("reshape", a, shape=shape)


def getitem(a: Any, index: Any) -> Tensor:
    """``a[index]``: slicing, integer and boolean indexing. Repeated indices add their gradients."""
    if isinstance(index, Tensor):
        index = index.data.astype(np.intp) if index.dtype.kind == "f" else index.data
    return _apply("getitem", _lift(a), index=index)


# ---------------------------------------------------------------- reductions
def sum(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (all axes when None)."""
    return _apply("sum", _lift(a), axis=_axis(axis), keepdims=keepdims)


def mean(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (all axes when None)."""
    return _apply("mean", _lift(a), axis=_axis(axis), keepdims=keepdims)


def max(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over ``axis``; tied maxima share the gradient equally."""
    return _apply("max", _lift(a), axis=_axis(axis), keepdims=keepdims)


def _axis(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, list) else axis


# ---------------------------------------------------------------- joining
def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    parts = [_lift(t) for t in tensors]
    return _apply("concatenate", *parts, axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis."""
    parts = [_lift(t) for t in tensors]
    return _apply("stack", *parts, axis=axis)


# ---------------------------------------------------------------- elementwise
def exp(a: Any) -> Tensor:
    """e^a."""
    return _apply("exp", _lift(a))


def log(a: Any) -> Tensor:
    """Natural logarithm."""
    return _apply("log", _lift(a))


def sqrt(a: Any) -> Tensor:
    """Square root."""
    return _apply("sqrt", _lift(a))


def abs(a: Any) -> Tensor:  # noqa: A001
    """|a|, with derivative sign(a) (0 at 0)."""
    return _apply("abs", _lift(a))


def clip(a: Any, low: float | None = None, high: float | None = None) -> Tensor:
    """Limit values to [low, high]; the gradient passes only where low <= a <= high."""
    return _apply("clip", _lift(a), low=low, high=high)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``condition`` holds, else ``b``; each receives the gradient where it was chosen."""
    condition = np.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    return _apply("where", *_lift_pair(a, b), condition=condition)


# ---------------------------------------------------------------- activations
def identity(net: Any) -> Tensor:
    """out = net; f'(net) = 1."""
    return _apply("identity", _lift(net))


def sigmoid(net: Any) -> Tensor:
    """out = 1 / (1 + exp(-net)); f'(net) = out (1 - out). Stable for any net."""
    return _apply("sigmoid", _lift(net))


def tanh(net: Any) -> Tensor:
    """out = tanh(net); f'(net) = 1 - out^2."""
    return _apply("tanh", _lift(net))


def relu(net: Any) -> Tensor:
    """out = max(0, net); f'(net) = 1 where net > 0, else 0."""
    return _apply("relu", _lift(net))


def leaky_relu(net: Any, alpha: float = 0.01) -> Tensor:
    """out = net where net > 0, else alpha * net."""
    return _apply("leaky_relu", _lift(net), alpha=alpha)


def elu(net: Any, alpha: float = 1.0) -> Tensor:
    """out = net where net > 0, else alpha (exp(net) - 1); f'(net) = out + alpha there."""
    return _apply("elu", _lift(net), alpha=alpha)


def softplus(net: Any) -> Tensor:
    """out = log(1 + exp(net)); f'(net) = sigmoid(net)."""
    return _apply("softplus", _lift(net))


def gelu(net: Any, approximate: str = "none") -> Tensor:
    """out = net Phi(net) (``approximate="tanh"`` for the tanh approximation)."""
    return activation("gelu", net, approximate=approximate)


def softmax(net: Any, axis: int = -1) -> Tensor:
    """out_j = exp(net_j) / sum_k exp(net_k) along ``axis``.

    Its vector-Jacobian product is the full one, dE/dnet_j = out_j (g_j - sum_i g_i out_i),
    so a softmax *hidden* layer backpropagates correctly (its diagonal term alone is a common mistake).
    """
    return _apply("softmax", _lift(net), axis=axis)


def log_softmax(net: Any, axis: int = -1) -> Tensor:
    """out_j = net_j - log sum_k exp(net_k), computed without overflow."""
    return _apply("log_softmax", _lift(net), axis=axis)


def activation(name: str, net: Any, **attrs: Any) -> Tensor:
    """Apply the activation registered as ``name`` (see :data:`chainrule.ops.ACTIVATIONS`), its attributes
    checked against the op's schema (:func:`chainrule.ops.check_attrs`)."""
    return _apply(name, _lift(net), **check_attrs(name, attrs))
