"""The numbers a network diagram shows for one sample, computed by the engine itself.

A forward pass through the network's own modules keeps each layer's net and out
tensors; one ``backward()`` of the loss then leaves, on every net tensor, its
delta_j = dE/dnet_j, and on every parameter dE/dw_ij and dE/db_j. Nothing here
re-derives a formula: the diagram shows what training would use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.errors import ShapeError


@dataclass
class LayerNumbers:
    """One layer l >= 1 for one sample: shapes (n_l,) except weight (n_{l-1}, n_l).

    ``delta``, ``weight_grad`` and ``bias_grad`` are None without a target.
    """

    net: np.ndarray
    out: np.ndarray
    delta: np.ndarray | None = None
    weight_grad: np.ndarray | None = None
    bias_grad: np.ndarray | None = None


@dataclass
class Numbers:
    """Input values (n_0,), per-layer numbers, the target and the loss E_total."""

    x: np.ndarray
    layers: list[LayerNumbers] = field(default_factory=list)
    target: np.ndarray | None = None
    loss: float | None = None


def one_sample(x: Any, n_in: int, what: str = "x") -> np.ndarray:
    """``x`` as one row of shape (1, n_in); (n_in,) and (1, n_in) are accepted."""
    array = np.asarray(x, dtype=np.float64) if not isinstance(x, np.ndarray) else x
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape != (1, n_in):
        raise ShapeError(
            f"the diagram shows one sample: {what} must have shape ({n_in},) or (1, {n_in}), got shape "
            f"{np.shape(x)}; pick one row, e.g. X[:1]"
        )
    return array


def compute(net: Any, x: Any, target: Any = None, loss: str = "half_squared_error") -> Numbers:
    """Forward (and, with a target, backward) pass for one sample.

    The network's parameters keep whatever ``.grad`` they had before the call, and its
    modules their training mode; the pass itself runs in evaluation mode.

    Parameters
    ----------
    net : Sequential
        The network; its ``Linear`` layers define the neuron layers.
    x : array_like, shape (n_in,) or (1, n_in)
        The sample.
    target : array_like, optional
        Its target, shape (n_out,) or (1, n_out) (class index for cross-entropies).
    loss : str
        Loss name from :mod:`chainrule.losses`; ``"half_squared_error"`` is Mazur's
        E_total = sum_k 1/2 (target_k - out_k)^2.
    """
    with evaluating(net):
        return _compute(net, x, target, loss)


@contextlib.contextmanager
def evaluating(net: Any) -> Iterator[None]:
    """Run ``net`` in evaluation mode (dropout off), as it predicts: :meth:`chainrule.nn.Module.evaluating`."""
    if not hasattr(net, "evaluating"):
        yield
        return
    with net.evaluating():
        yield


def _compute(net: Any, x: Any, target: Any, loss: str) -> Numbers:
    from chainrule.losses import get_loss
    from chainrule.nn import Activation, Linear
    from chainrule.tensor import Tensor

    linears = [view.linear for view in net.layers()]
    dtype = linears[0].weight.dtype
    x = one_sample(x, linears[0].n_in).astype(dtype)
    h = Tensor(x)
    nets: list[Tensor] = []
    outs: list[Tensor] = []
    for module in net:
        h = module(h)
        if isinstance(module, Linear):
            nets.append(h)
            outs.append(h)
        elif isinstance(module, Activation) and outs and outs[-1] is nets[-1]:
            outs[-1] = h
    numbers = Numbers(x=x[0].astype(np.float64))
    if target is None:
        numbers.layers = [LayerNumbers(n.data[0].astype(np.float64), o.data[0].astype(np.float64))
                          for n, o in zip(nets, outs)]
        return numbers

    target = np.asarray(target)
    n_out = h.shape[-1]
    if target.size == n_out:
        target = target.reshape(1, n_out).astype(dtype)
    elif target.size == 1:
        target = target.reshape(1)
    else:
        raise ShapeError(f"target must have shape ({n_out},) or (1, {n_out}) for this network, got {target.shape}")
    loss_fn = get_loss(loss)

    params = [p for _, p in net.named_parameters()]
    saved = [p.grad for p in params]
    for p in params:
        p.grad = None
    try:
        error = loss_fn(h, target)
        error.backward()
        for linear, n, o in zip(linears, nets, outs):
            numbers.layers.append(LayerNumbers(
                net=n.data[0].astype(np.float64), out=o.data[0].astype(np.float64),
                delta=_row(n.grad, n.shape), weight_grad=_grad(linear.weight),
                bias_grad=None if linear.bias is None else _grad(linear.bias),
            ))
    finally:
        for p, g in zip(params, saved):
            p.grad = g
    numbers.target = np.asarray(target, dtype=np.float64).reshape(-1)
    numbers.loss = float(error.item())
    return numbers


def _row(grad: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    # A layer that does not reach the loss gets no gradient at all: its delta is zero.
    return np.zeros(shape[-1]) if grad is None else np.asarray(grad, dtype=np.float64)[0]


def _grad(param: Any) -> np.ndarray:
    return np.zeros(param.shape) if param.grad is None else np.asarray(param.grad, dtype=np.float64)
