"""What a :class:`~chainrule.plan.Plan` holds: each layer as it runs, and the arrays of one batch size.

Shapes for a batch of n samples and a layer of n_out neurons: net, out, delta and
the f' scratch are (n, n_out); a layer's gradient buffers have its parameters' shapes and
are views of the plan's one flat gradient buffer.
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

    def __init__(self, view: LayerView, grads: Array) -> None:
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
        # dE/dW and dE/db: views of ``grads``, which holds them in the order of the parameters
        # (W, b, W, b, ...) so that an optimizer can update a flat model in one go.
        n_weight = linear.weight.data.size
        self.grad_weight = grads[:n_weight].reshape(linear.weight.data.shape)
        self.grad_bias = None if linear.bias is None else grads[n_weight:n_weight + linear.n_out]

    @staticmethod
    def size(view: LayerView) -> int:
        """How many numbers the layer's gradients take in the flat gradient buffer."""
        return view.linear.weight.data.size + (0 if view.linear.bias is None else view.linear.n_out)


class Buffers:
    """Arrays for one batch size n: net^(l), out^(l), delta^(l) and f'(net^(l)) scratch."""

    def __init__(self, layers: list[Layer], n: int, dtype: np.dtype) -> None:
        self.n = n
        self.net = [np.empty((n, layer.linear.n_out), dtype) for layer in layers]
        self.out = [net if layer.identity else np.empty_like(net) for layer, net in zip(layers, self.net)]
        self.delta: list[Array] = []
        self.scratch: list[Array | None] = []
        self.onehot: Array | None = None
        self.loss_scratch: Array | None = None
        self.rows = np.arange(n)
        self.bias_is_delta = False

    def for_backward(self, layers: list[Layer]) -> Buffers:
        """These buffers with the backward pass's arrays, allocated on first use (prediction needs none)."""
        if not self.delta:
            # With one sample dE/db = delta itself: the delta row is the bias gradient's place in
            # the flat gradient buffer, so the bias needs no copy of it.
            self.bias_is_delta = self.n == 1
            self.delta = [layer.grad_bias.reshape(1, -1) if self.bias_is_delta and layer.grad_bias is not None
                          else np.empty_like(net) for layer, net in zip(layers, self.net)]
            self.loss_scratch = np.empty_like(self.net[-1])  # for the loss's in-place form
            self.scratch = [np.empty_like(net) if layer.derivative_into is not None else None
                            for layer, net in zip(layers, self.net)]
        return self
