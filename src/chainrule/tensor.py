"""``Tensor``: a NumPy array that records how it was made, and ``backward()``.

Each tensor made by an op keeps the op, its parents *in order* (a tuple, so traces
are reproducible) and the op's attributes. ``backward()`` visits the graph in
reverse topological order and, at every node, pulls the incoming gradient back
through the node's op (its vector-Jacobian product, defined once in :mod:`ops`).
A node used by several others receives the *sum* of their backward messages, the
"sum over every node to the right" that the extra-layer question on Mazur's post asks about:

    dE/dout_h1 = dE_o1/dout_h1 + dE_o2/dout_h1

Tensors that are neurons' net inputs or outputs also carry ``role`` ("net" or "out"),
``layer`` (1 for the first hidden layer) so the learner tools can name them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from chainrule.errors import DataError, GradientError, ShapeError
from chainrule.ops import Op, unbroadcast

__all__ = ["Tensor", "tensor", "no_grad", "is_grad_enabled", "as_array"]

_state = threading.local()


def is_grad_enabled() -> bool:
    """Whether new ops are recorded for backpropagation (False inside :func:`no_grad`)."""
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Context manager: ops inside it compute values but record no graph.

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.Tensor([2.0], requires_grad=True)
    >>> with cr.no_grad():
    ...     y = w * 3
    >>> y.requires_grad
    False
    """
    previous = is_grad_enabled()
    _state.enabled = False
    try:
        yield
    finally:
        _state.enabled = previous


def as_array(value: Any, dtype: Any = None) -> np.ndarray:
    """Convert ``value`` to a floating NumPy array without silently changing float dtypes.

    Python numbers and lists become float64; float32 and float64 arrays keep their
    dtype; integer and boolean arrays become float64. Strings and objects are refused.
    """
    if isinstance(value, Tensor):
        value = value.data
    array = np.asarray(value, dtype=dtype)
    if dtype is not None:
        return array
    if array.dtype.kind == "f":
        return array
    if array.dtype.kind in "biu":
        return array.astype(np.float64)
    raise DataError(
        f"expected numbers (a float or integer array), got an array of dtype {array.dtype}"
        + (" (strings or mixed objects)" if array.dtype.kind in "OUS" else "")
    )


class Tensor:
    """An array that can be differentiated through.

    Parameters
    ----------
    data : array_like
        The value. Python numbers and lists become float64; float32 stays float32.
    requires_grad : bool
        Whether ``backward()`` should compute ``grad`` for this tensor.
    name : str, optional
        A label for traces and error messages.

    Attributes
    ----------
    grad : numpy.ndarray or None
        dE/d(this tensor), same shape as ``data``, after ``backward()``; accumulated
        across calls until reset with ``zero_grad``.
    op : Op or None
        The op that made this tensor (None for a leaf).
    parents : tuple of Tensor
        The op's inputs, in order.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.Tensor([1.0, 2.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    array([2., 4.])
    """

    __array_priority__ = 1000  # ndarray + Tensor defers to Tensor.__radd__

    def __init__(self, data: Any, requires_grad: bool = False, name: str | None = None,
                 dtype: Any = None) -> None:
        self.data = as_array(data, dtype)
        self.requires_grad = bool(requires_grad)
        self.grad: np.ndarray | None = None
        self.op: Op | None = None
        self.parents: tuple[Tensor, ...] = ()
        self.attrs: dict[str, Any] = {}
        self.name = name
        self.role: str | None = None
        self.layer: int | None = None

    # ------------------------------------------------------------ construction
    @classmethod
    def _from_op(cls, op: Op, parents: tuple[Tensor, ...], attrs: dict[str, Any]) -> Tensor:
        out = cls.__new__(cls)
        out.data = np.asarray(op.forward(*(p.data for p in parents), **attrs))
        out.requires_grad = is_grad_enabled() and any(p.requires_grad for p in parents)
        out.grad = None
        out.op = op if out.requires_grad else None
        out.parents = parents if out.requires_grad else ()
        out.attrs = attrs if out.requires_grad else {}
        out.name = None
        out.role = None
        out.layer = None
        return out

    # ------------------------------------------------------------ array protocol
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def numpy(self) -> np.ndarray:
        """The value as a NumPy array (shared, not copied)."""
        return self.data

    def item(self) -> float:
        """The value of a one-element tensor as a Python float."""
        return self.data.item()

    def __len__(self) -> int:
        return len(self.data)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=6, separator=", ", prefix="Tensor(")
        extras = []
        if self.op is not None:
            extras.append(f"op={self.op.name}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        if self.data.dtype != np.float64:
            extras.append(f"dtype={self.data.dtype}")
        return f"Tensor({body}{''.join(', ' + e for e in extras)})"

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut from the graph."""
        return Tensor(self.data)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    # ------------------------------------------------------------ backward
    def backward(self, grad: Any = None) -> None:
        """Backpropagate: compute dE/dt for every tensor t this one depends on.

        Parameters
        ----------
        grad : array_like, optional
            dE/d(self), same shape as this tensor. May be omitted only for a
            scalar (one-element) tensor, where it is 1.

        Gradients are *accumulated* into ``.grad`` (call ``zero_grad`` between steps).
        The traversal is iterative, so deep graphs hit no recursion limit.
        """
        if grad is None:
            if self.data.size != 1:
                raise GradientError(
                    f"backward() without a gradient needs a scalar, but this tensor has shape "
                    f"{self.shape}; reduce it first (e.g. loss.sum() or loss.mean()) or pass "
                    f"grad= with shape {self.shape}"
                )
            grad = np.ones_like(self.data)
        else:
            grad = as_array(grad, self.data.dtype)
            if grad.shape != self.shape:
                raise ShapeError(f"backward(grad=...) expects shape {self.shape}, got {grad.shape}")

        order = self._topological_order()
        grads: dict[int, np.ndarray] = {id(self): grad}
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            node.grad = g if node.grad is None else node.grad + g
            if node.op is None:
                continue
            input_grads = node.op.vjp(g, node.data, *(p.data for p in node.parents), **node.attrs)
            if len(input_grads) != len(node.parents):  # zip would silently drop the missing gradients
                raise GradientError(
                    f"the VJP of op {node.op.name!r} returned {len(input_grads)} gradients for its "
                    f"{len(node.parents)} inputs; it must return a tuple with one gradient (or None) per input"
                )
            for parent, parent_grad in zip(node.parents, input_grads):
                if parent_grad is None or not parent.requires_grad:
                    continue
                parent_grad = unbroadcast(np.asarray(parent_grad), parent.shape)
                key = id(parent)
                grads[key] = parent_grad if key not in grads else grads[key] + parent_grad

    def _topological_order(self) -> list[Tensor]:
        """Nodes that require grad, every parent before its children (iterative DFS)."""
        order: list[Tensor] = []
        visited: set[int] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            for parent in reversed(node.parents):
                if parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
        return order

    # ------------------------------------------------------------ operators
    def __add__(self, other: Any) -> Tensor:
        return F.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return F.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return F.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return F.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return F.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return F.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return F.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return F.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return F.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return F.pow(other, self)

    def __neg__(self) -> Tensor:
        return F.neg(self)

    def __matmul__(self, other: Any) -> Tensor:
        return F.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return F.matmul(other, self)

    def __getitem__(self, index: Any) -> Tensor:
        return F.getitem(self, index)

    @property
    def T(self) -> Tensor:  # noqa: N802 - NumPy's name
        return F.transpose(self)

    def transpose(self, *axes: int) -> Tensor:
        return F.transpose(self, axes if axes else None)

    def reshape(self, *shape: Any) -> Tensor:
        return F.reshape(self, shape[0] if len(shape) == 1 else shape)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return F.sum(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return F.mean(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return F.max(self, axis, keepdims)

    def exp(self) -> Tensor:
        return F.exp(self)

    def log(self) -> Tensor:
        return F.log(self)

    def sqrt(self) -> Tensor:
        return F.sqrt(self)

    def abs(self) -> Tensor:
        return F.abs(self)

    def clip(self, low: float | None = None, high: float | None = None) -> Tensor:
        return F.clip(self, low, high)

    def sigmoid(self) -> Tensor:
        return F.sigmoid(self)

    def tanh(self) -> Tensor:
        return F.tanh(self)

    def relu(self) -> Tensor:
        return F.relu(self)

    def softmax(self, axis: int = -1) -> Tensor:
        return F.softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return F.log_softmax(self, axis)


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a :class:`Tensor` (float64 for Python numbers and lists)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


from chainrule import functional as F  # noqa: E402  (functional builds on Tensor)
