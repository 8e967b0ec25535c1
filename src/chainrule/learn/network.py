"""What the learner tools see of a network: its layers, and its tagged forward pass.

A :class:`~chainrule.nn.Sequential` (or ``MLP``) tags each layer's net input and
output in the graph (``role`` "net"/"out", ``layer`` l). :func:`observe` runs the
network's own forward pass and collects those tensors by walking the graph back
from the output, so every number shown is the engine's.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule import functional as F
from chainrule.errors import ConfigError, ShapeError
from chainrule.examples import mazur
from chainrule.nn import Activation, Linear, Sequential
from chainrule.ops import ACTIVATIONS, Op
from chainrule.tensor import Tensor, as_array

__all__ = ["Layer", "Network", "read_network", "observe", "Forward", "is_mazur", "as_sample"]


@dataclass(frozen=True)
class Layer:
    """One neuron layer: its ``Linear`` and the activation after it (identity when none)."""

    linear: Linear
    module: Activation | None

    @property
    def activation(self) -> str:
        return self.module.name if self.module is not None else "identity"

    @property
    def op(self) -> Op:
        return ACTIVATIONS[self.activation]

    @property
    def attrs(self) -> dict[str, Any]:
        """The activation's attributes, its defaults filled in (leaky ReLU's alpha)."""
        given = dict(self.module.attrs) if self.module is not None else {}
        for name, param in inspect.signature(self.op.forward).parameters.items():
            if param.default is not inspect.Parameter.empty:
                given.setdefault(name, param.default)
        return given

    @property
    def elementwise(self) -> bool:
        """True when f'(net) is one number per neuron (everything but softmax-like ops)."""
        return self.op.derivative is not None

    def derivative(self, net: np.ndarray, out: np.ndarray) -> np.ndarray:
        """f'(net), elementwise, from the op's one definition."""
        return self.op.derivative(net, out, **(self.module.attrs if self.module else {}))

    def jacobian(self, net: np.ndarray, out: np.ndarray) -> np.ndarray:
        """J[i, j] = dout_i/dnet_j for one sample (net, out: (n,)), from the op's VJP."""
        attrs = self.module.attrs if self.module else {}
        rows = [self.op.vjp(unit, out, net, **attrs)[0] for unit in np.eye(net.size, dtype=net.dtype)]
        return np.array(rows)

    def activate(self, net: Tensor) -> Tensor:
        """The layer's activation applied by the engine (the net itself when there is none)."""
        return self.module(net) if self.module is not None else net

    def net_input(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """net = x @ W + b, recorded by the engine with the given weight and bias tensors."""
        net = F.matmul(x, weight)
        return F.add(net, bias) if bias is not None else net


@dataclass
class Network:
    """A Sequential read as layers: sizes [n_in, n_1, ..., n_L] and one :class:`Layer` each."""

    module: Sequential
    layers: list[Layer]

    @property
    def sizes(self) -> list[int]:
        return [self.layers[0].linear.n_in] + [layer.linear.n_out for layer in self.layers]

    @property
    def has_bias(self) -> list[bool]:
        return [layer.linear.bias is not None for layer in self.layers]

    @property
    def activations(self) -> list[str]:
        return [layer.activation for layer in self.layers]


def read_network(net: Any) -> Network:
    """Check that ``net`` is a Sequential of Linear layers, each followed by at most one activation."""
    if not isinstance(net, Sequential):
        raise ConfigError(f"the learner tools need a chainrule Sequential or MLP, got {type(net).__name__}")
    previous: Any = None
    for module in net:
        if isinstance(module, Linear):
            pass
        elif isinstance(module, Activation) and isinstance(previous, Linear):
            pass
        else:
            raise ConfigError(
                f"the learner tools follow Linear layers, each followed by at most one activation; "
                f"this network has {type(module).__name__} after {type(previous).__name__ if previous else 'nothing'}"
            )
        previous = module
    layers = [Layer(linear, act) for linear, act in net.layers()]
    if not layers:
        raise ConfigError("the network has no Linear layer")
    return Network(net, layers)


def as_sample(network: Network, x: Any, target: Any, *, one: bool) -> tuple[np.ndarray, np.ndarray]:
    """x as (batch, n_in) and target as (batch, n_out) in the network's dtype.

    A class index target (shape (batch,) or a single integer) becomes a one-hot row.
    ``one=True`` requires a single sample, as a hand derivation follows one.
    """
    dtype = network.layers[0].linear.weight.dtype
    x = as_array(x).astype(dtype, copy=False)
    x = x.reshape(1, -1) if x.ndim <= 1 else x
    n_in, n_out = network.sizes[0], network.sizes[-1]
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ShapeError(f"x must have shape (batch, {n_in}) or ({n_in},), got {np.shape(x)}")
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if t.dtype.kind not in "biuf":
        raise ShapeError(f"target must be numbers, got dtype {t.dtype}")
    if n_out > 1 and t.size == x.shape[0] and t.dtype.kind in "biu":
        labels = t.reshape(-1).astype(int)
        if labels.min() < 0 or labels.max() >= n_out:
            raise ShapeError(f"class-index targets must lie in 0..{n_out - 1}, got {labels.tolist()}")
        t = np.eye(n_out, dtype=dtype)[labels]
    t = t.astype(dtype, copy=False).reshape(x.shape[0], -1) if t.size == x.shape[0] * n_out else t
    if t.shape != (x.shape[0], n_out):
        raise ShapeError(f"target must have shape ({x.shape[0]}, {n_out}) (or class indices), got {np.shape(target)}")
    if one and x.shape[0] != 1:
        raise ShapeError(f"a trace follows one sample, as a derivation by hand does; got {x.shape[0]} samples. "
                         "Pass one row of x (or use chainrule.learn.gradient_descent for batches)")
    return x, t


@dataclass
class Forward:
    """The tagged tensors of one forward pass: ``nets[l - 1]``, ``outs[l - 1]`` for layer l."""

    output: Tensor
    nets: list[Tensor]
    outs: list[Tensor]


def observe(network: Network, x: np.ndarray) -> Forward:
    """Run the network's own forward pass and collect each layer's tagged net and out tensors."""
    output = network.module(Tensor(x))
    tagged: dict[tuple[str, int], Tensor] = {}
    stack, seen = [output], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.role is not None and node.layer is not None:
            tagged.setdefault((node.role, node.layer), node)
        stack.extend(node.parents)
    n_layers = len(network.layers)
    nets, outs = [], []
    for layer in range(1, n_layers + 1):
        if ("net", layer) not in tagged:
            raise ConfigError(f"the forward pass did not record layer {layer}'s net input "
                              "(is gradient recording off, e.g. inside no_grad()?)")
        nets.append(tagged[("net", layer)])
        outs.append(tagged.get(("out", layer), tagged[("net", layer)]))
    return Forward(output, nets, outs)


def is_mazur(net: Any) -> bool:
    """Whether ``net`` is Mazur's 2-2-2 sigmoid network with his starting weights and biases."""
    try:
        network = read_network(net)
    except ConfigError:
        return False
    if network.sizes != [2, 2, 2] or network.activations != ["sigmoid", "sigmoid"] or not all(network.has_bias):
        return False
    ours, theirs = net.state_dict(), mazur()[0].state_dict()
    return set(ours) == set(theirs) and all(np.allclose(ours[k], theirs[k], rtol=0, atol=1e-12) for k in theirs)
