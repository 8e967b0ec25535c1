"""Plain gradient descent for small networks, under an explicit :class:`Convention`.

One step, for layers l = L..1 (w_ij^(l) from neuron i of layer l-1 to neuron j of l):

    delta_j^(L) = dE/dnet_j^(L)                                  (engine backward from E)
    delta_i^(l-1) = (sum_j delta_j^(l) w_ij^(l)) f'(net_i^(l-1))   (w = w^+ when sequential)
    dE/dw_ij^(l) = delta_j^(l) out_i^(l-1),   dE/db_j^(l) = delta_j^(l)   (summed over j when shared)
    w^+ = w - eta dE/dw

Every number comes from the engine: a simultaneous step is one ``backward()`` through
the network's own graph; a sequential step then re-sends each layer's backward message
through the engine's matmul and activation ops with the updated weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule import functional as F
from chainrule.errors import ConfigError
from chainrule.learn.conventions import Convention, LossSpec, checked_loss_spec
from chainrule.learn.network import Layer, Network, as_sample, observe, read_network
from chainrule.tensor import Tensor, no_grad

__all__ = ["StepRecord", "Descent", "take_step", "gradient_descent", "evaluate", "check_shared_biases"]


@dataclass
class StepRecord:
    """Every array of one step; lists hold one entry per layer l = 1..L (index l - 1).

    Shapes: x (batch, n_0), target and outs[-1] (batch, n_L), nets/outs/deltas/dE_dout
    (batch, n_l), weights/grad_w/new_w (n_(l-1), n_l), biases/grad_b/new_b (n_l,) or None.
    ``grad_b`` is per neuron (the engine's); with shared biases the layer's gradient is its sum.
    """

    x: np.ndarray
    target: np.ndarray
    nets: list[np.ndarray]
    outs: list[np.ndarray]
    error: float
    dE_dout: list[np.ndarray]  # noqa: N815 - the learners' dE/dout
    deltas: list[np.ndarray]
    weights: list[np.ndarray]
    biases: list[np.ndarray | None]
    grad_w: list[np.ndarray]
    grad_b: list[np.ndarray | None]
    new_w: list[np.ndarray] = field(default_factory=list)
    new_b: list[np.ndarray | None] = field(default_factory=list)
    error_after: float | None = None
    output_after: np.ndarray | None = None

    def bias_gradient(self, layer: int, convention: Convention) -> np.ndarray | None:
        """dE/db of ``layer`` (1-based): per neuron, or one number (the sum) when shared."""
        grad = self.grad_b[layer - 1]
        if grad is None:
            return None
        return grad if convention.bias == "per_neuron" else np.sum(grad, keepdims=True)


@dataclass
class Descent:
    """What :func:`gradient_descent` did.

    ``errors[r]`` is E after r updates, so ``errors[r - 1]`` is the error computed in
    round r (before its update) and ``errors[-1]`` the error after the last update.
    """

    errors: np.ndarray
    output: np.ndarray
    convention: Convention
    loss: LossSpec
    lr: float

    @property
    def steps(self) -> int:
        return len(self.errors) - 1


def evaluate(network: Network, x: np.ndarray, target: np.ndarray, loss: LossSpec) -> tuple[float, np.ndarray]:
    """E and the output for the current parameters (engine forward, nothing recorded)."""
    with no_grad():
        output = network.module(Tensor(x))
        return float(loss(output, target).item()), output.data.copy()


def _backward_message(out_below: np.ndarray, weight: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """dE/dout^(l-1) = delta^(l) W^T, through the engine's matmul op."""
    a = Tensor(out_below, requires_grad=True)
    F.matmul(a, Tensor(weight)).backward(delta)
    return a.grad


def _through_activation(layer: Layer, net: np.ndarray, message: np.ndarray) -> np.ndarray:
    """delta = dE/dnet from dE/dout, through the engine's activation op."""
    n = Tensor(net, requires_grad=True)
    out = layer.activate(n)
    if out is n:
        return message.copy()
    out.backward(message)
    return n.grad


def _parameter_gradients(layer: Layer, out_below: np.ndarray, delta: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray | None]:
    """dE/dW and dE/db of one layer from its delta, through the engine's Linear ops."""
    weight = Tensor(layer.linear.weight.data, requires_grad=True)
    bias = Tensor(layer.linear.bias.data, requires_grad=True) if layer.linear.bias is not None else None
    layer.net_input(Tensor(out_below), weight, bias).backward(delta)
    return weight.grad, (bias.grad if bias is not None else None)


def take_step(network: Network, x: np.ndarray, target: np.ndarray, loss: LossSpec, lr: float,
              convention: Convention, *, after: bool = False) -> StepRecord:
    """One gradient-descent step on ``network`` (updated in place); returns every number.

    ``after=True`` also runs a forward pass with the new parameters (``error_after``).
    """
    forward = observe(network, x)
    error = loss(forward.output, target)
    network.module.zero_grad()
    error.backward()
    layers = network.layers
    record = StepRecord(
        x=x, target=target,
        nets=[t.data.copy() for t in forward.nets], outs=[t.data.copy() for t in forward.outs],
        error=float(error.item()),
        dE_dout=[t.grad.copy() for t in forward.outs], deltas=[t.grad.copy() for t in forward.nets],
        weights=[layer.linear.weight.data.copy() for layer in layers],
        biases=[None if layer.linear.bias is None else layer.linear.bias.data.copy() for layer in layers],
        grad_w=[layer.linear.weight.grad.copy() for layer in layers],
        grad_b=[None if layer.linear.bias is None else layer.linear.bias.grad.copy() for layer in layers],
    )
    record.new_w = [w - lr * g for w, g in zip(record.weights, record.grad_w)]
    if convention.update == "sequential":
        for index in range(len(layers) - 1, 0, -1):
            below = layers[index - 1]
            out_below = record.outs[index - 2] if index >= 2 else x
            message = _backward_message(record.outs[index - 1], record.new_w[index], record.deltas[index])
            record.dE_dout[index - 1] = message
            record.deltas[index - 1] = _through_activation(below, record.nets[index - 1], message)
            record.grad_w[index - 1], record.grad_b[index - 1] = _parameter_gradients(
                below, out_below, record.deltas[index - 1])
            record.new_w[index - 1] = record.weights[index - 1] - lr * record.grad_w[index - 1]
    for index, layer in enumerate(layers):
        bias = record.biases[index]
        if bias is None or not convention.update_biases:
            record.new_b.append(bias)
        else:
            record.new_b.append(bias - lr * record.bias_gradient(index + 1, convention))
        layer.linear.weight.data[...] = record.new_w[index]
        if layer.linear.bias is not None:
            layer.linear.bias.data[...] = record.new_b[index]
    if after:
        record.error_after, record.output_after = evaluate(network, x, target, loss)
    return record


def check_shared_biases(network: Network, convention: Convention) -> None:
    """Shared biases need one value per layer to start from."""
    if convention.bias != "shared":
        return
    for layer_number, layer in enumerate(network.layers, start=1):
        bias = layer.linear.bias
        if bias is not None and bias.size > 1 and not np.all(bias.data == bias.data[0]):
            raise ConfigError(
                f"bias='shared' needs one bias value per layer, but layer {layer_number} has {bias.data.tolist()}; "
                "set equal biases or use bias='per_neuron'"
            )


def gradient_descent(net: Any, x: Any, target: Any, steps: int = 1, lr: float = 0.5, *,
                     update: str = "simultaneous", update_biases: bool = True, bias: str = "per_neuron",
                     loss: str | LossSpec = "half_squared_error", allow_mismatch: bool = False) -> Descent:
    """Train ``net`` in place by full-batch gradient descent under explicit conventions.

    Parameters
    ----------
    net : Sequential or MLP
        Linear layers, each followed by at most one activation.
    x : array_like, shape (batch, n_in) or (n_in,)
    target : array_like, shape (batch, n_out), (n_out,) or class indices (batch,)
    steps : int
        Number of updates.
    lr : float
        Learning rate eta in w+ = w - eta dE/dw.
    update : {"simultaneous", "sequential"}
        Sequential: layers from the output back, each layer's deltas computed with the
        weights already updated above it.
    update_biases : bool
        Whether biases learn (Mazur's post keeps them fixed).
    bias : {"per_neuron", "shared"}
        "shared": one bias per layer, moved by the sum of the layer's bias gradients.
    loss : str
        "half_squared_error", "squared_error", "mse", "half_mse" (scikit-learn),
        "cross_entropy" or "binary_cross_entropy"; E is averaged over the batch.
    allow_mismatch : bool
        Go on with an output activation and a loss that do not belong together (cross-entropy
        on outputs that are not probabilities), with a warning instead of the ConfigError of
        :func:`chainrule.losses.check_pair`, the same refusal as ``chainrule.fit``'s.

    Returns
    -------
    Descent
        ``errors[r]`` = E after r updates (r = 0..steps) and the final output.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.learn import gradient_descent
    >>> net, x, target = cr.examples.mazur()
    >>> run = gradient_descent(net, x, target, steps=1, update="sequential", update_biases=False)
    >>> round(float(run.errors[1]), 9)
    0.291027924
    """
    if int(steps) != steps or steps < 0:
        raise ConfigError(f"steps must be a whole number >= 0, got {steps!r}")
    if not np.isfinite(lr) or lr <= 0:
        raise ConfigError(f"lr must be a positive number, got {lr!r}")
    convention = Convention(update, update_biases, bias)
    network = read_network(net)
    spec = checked_loss_spec(loss, network.activations[-1], allow_mismatch)
    check_shared_biases(network, convention)
    x, target = as_sample(network, x, target, one=False)
    errors = np.empty(int(steps) + 1)
    for r in range(int(steps)):
        errors[r] = take_step(network, x, target, spec, lr, convention).error
    errors[-1], output = evaluate(network, x, target, spec)
    return Descent(errors, output, convention, spec, float(lr))
