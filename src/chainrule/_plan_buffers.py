"""What a :class:`~chainrule.plan.Plan` holds: each layer as it runs, and the arrays of one batch size.

Shapes for a batch of n samples and a layer of n_out neurons: net, out, delta and
the f' scratch are (n, n_out); a layer's gradient buffers have its parameters' shapes.
"""

from __future__ import annotations

import numpy as np

from chainrule.nn import LayerView

__all__ = ["Layer", "Buffers"]

Array = np.ndarray


class Layer:
    """One Linear layer and the activation after it, as the plan runs them."""

    __slots__ = ("linear", "weight", "bias", "op", "attrs", "identity", "forward", "forward_into", "derivative",
                 "derivative_into", "grad_weight", "grad_bias")

    def __init__(self, view: LayerView) -> None:
        linear = view.linear
        self.linear, self.weight, self.bias = linear, linear.weight, linear.bias
        op = view.op
        self.op = op
        self.attrs = view.attrs
        self.identity = op.name == "identity"
        # None where the plan skips the call: the identity's forward and f' = 1.
        self.forward = None if self.identity else op.forward
        self.forward_into = None if self.identity else op.forward_into
        self.derivative = None if self.identity else op.derivative
        self.derivative_into = None if self.identity else op.derivative_into
        self.grad_weight = np.empty_like(linear.weight.data)
        self.grad_bias = None if linear.bias is None else np.empty_like(linear.bias.data)


class Buffers:
    """Arrays for one batch size n: net^(l), out^(l), delta^(l) and f'(net^(l)) scratch."""

    def __init__(self, layers: list[Layer], n: int, dtype: np.dtype) -> None:
        self.n = n
        self.net = [np.empty((n, layer.linear.n_out), dtype) for layer in layers]
        self.out = [net if layer.identity else np.empty_like(net) for layer, net in zip(layers, self.net)]
        self.delta: list[Array] = []
        self.scratch: list[Array | None] = []
        self.bias_grad: list[Array | None] = []
        self.onehot: Array | None = None
        self.loss_scratch: Array | None = None
        self.rows = np.arange(n)

    def for_backward(self, layers: list[Layer]) -> Buffers:
        """These buffers with the backward pass's arrays, allocated on first use (prediction needs none)."""
        if not self.delta:
            self.delta = [np.empty_like(net) for net in self.net]
            self.loss_scratch = np.empty_like(self.net[-1])  # for the loss's in-place form
            self.scratch = [np.empty_like(net) if layer.derivative_into is not None else None
                            for layer, net in zip(layers, self.net)]
            # With one sample, dE/db = delta itself: the bias gradient is a view of the delta row.
            self.bias_grad = [delta[0] if self.n == 1 else layer.grad_bias
                              for layer, delta in zip(layers, self.delta)]
        return self
