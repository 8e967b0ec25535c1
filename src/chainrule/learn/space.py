"""Many points of a network's whole weight, input and target space, each computed by the engine.

A formula for dE/dq is right when it equals the derivative *as a function* of the
weights, inputs and targets, not at one sample. :class:`Space` draws ``points`` random
networks of the same architecture (weights and biases ~ N(0, 1), inputs ~ U(-2, 2),
targets from the loss's domain), runs one engine step at each (forward, ``backward()``,
update with the shared learning rate eta) and keeps every named quantity as an array over
the points; column 0 is the learner's own sample.

Leibniz partials that no trace line names (``dout_o2/dw7``, ``dE_j1/dw1``: the part of
E that reaches w1 through j1) are products of the per-layer Jacobians the engine gives:
dout_l/dnet_l from the activation op's VJP and dnet_l/dout_(l-1) = W_l^T.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.learn.conventions import Convention, LossSpec
from chainrule.learn.descent import StepRecord, check_shared_biases, take_step
from chainrule.learn.explain import link_values
from chainrule.learn.lines import LineMaker
from chainrule.learn.naming import Entry, Names
from chainrule.learn.network import Network, as_sample, read_network

__all__ = ["Space", "Node", "DEFAULT_POINTS"]

#: Random points besides the sample where a formula must agree with backprop.
DEFAULT_POINTS = 12

#: A node or parameter: ("net" | "out", layer, j) or ("weight", layer, (i, j)) or ("bias", layer, (j,) | ()).
Node = tuple[str, int, Any]


@dataclass
class _Point:
    network: Network
    record: StepRecord
    jacobians: list[np.ndarray]


class Space:
    """The sample and ``points`` random points; ``values[name]`` is an array over them (sample first)."""

    def __init__(self, net: Any, x: Any, target: Any, loss: LossSpec, names: Names, *, bias: str = "per_neuron",
                 lr: float = 0.5, points: int = DEFAULT_POINTS, seed: int = 0) -> None:
        self.loss = loss
        self.names = names
        self.lr = float(lr)
        self.convention = Convention("simultaneous", False, bias)
        base = read_network(copy.deepcopy(net))
        check_shared_biases(base, self.convention)
        x, target = as_sample(base, x, target, one=True)
        rng = np.random.default_rng(seed)
        self.sizes = base.sizes
        self.network = base
        self._points: list[_Point] = []
        per_point: list[dict[str, float]] = []
        for k in range(points + 1):
            network = read_network(copy.deepcopy(base.module))
            if k == 0:
                xk, tk = x, target
            else:
                xk, tk = self._draw(network, rng, bias, x.dtype)
            record = take_step(network, xk, tk, loss, self.lr, self.convention)
            maker = LineMaker(network, names, record, loss, self.lr, self.convention)
            values = dict(maker.values())
            link_values(network, names, values)
            jacobians = [layer.jacobian(record.nets[i][0], record.outs[i][0]) for i, layer in
                         enumerate(network.layers)]
            self._points.append(_Point(network, record, jacobians))
            per_point.append(values)
        self.values: dict[str, np.ndarray] = {name: np.array([v.get(name, np.nan) for v in per_point])
                                              for name in per_point[0]}
        self.count = len(per_point)

    def _draw(self, network: Network, rng: np.random.Generator, bias: str,
              dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        for layer in network.layers:
            w = layer.linear.weight
            w.data = rng.standard_normal(w.data.shape).astype(w.data.dtype)
            b = layer.linear.bias
            if b is not None:
                shape = (1,) if bias == "shared" else b.data.shape
                b.data = (np.broadcast_to(rng.standard_normal(shape), b.data.shape) * 0.5).astype(b.data.dtype)
        x = rng.uniform(-2, 2, (1, self.sizes[0])).astype(dtype)
        n_out = self.sizes[-1]
        name = self.loss.base
        if name == "cross_entropy":
            t = rng.dirichlet(np.ones(n_out)).reshape(1, -1)
        elif name == "binary_cross_entropy":
            t = rng.uniform(0.05, 0.95, (1, n_out))
        else:
            t = rng.uniform(-1, 1.5, (1, n_out))
        return x, t.astype(dtype)

    # ------------------------------------------------------------ partial derivatives
    @staticmethod
    def _order(kind: str, layer: int) -> int:
        return 2 * layer + (1 if kind == "out" else 0)

    def _column(self, point: _Point, wrt: Node, kind: str, layer: int) -> np.ndarray:
        """d(the ``kind`` vector of ``layer``)/d(wrt) at one point, through the Jacobians."""
        record, sizes = point.record, self.sizes
        what, lay, index = wrt
        if what in ("weight", "bias"):
            column = np.zeros(sizes[lay])
            if what == "weight":
                below = record.x[0] if lay == 1 else record.outs[lay - 2][0]
                column[index[1]] = below[index[0]]
            elif index:
                column[index[0]] = 1.0
            else:
                column[:] = 1.0
            current = ("net", lay)
        else:
            column = np.eye(sizes[lay])[index]
            current = (what, lay)
        if self._order(*current) > self._order(kind, layer):
            return np.zeros(sizes[layer])
        while current != (kind, layer):
            if current[0] == "net":
                column = point.jacobians[current[1] - 1] @ column
                current = ("out", current[1])
            else:
                column = record.weights[current[1]].T @ column
                current = ("net", current[1] + 1)
        return column

    def node_partial(self, numerator: Node, denominator: Node) -> np.ndarray:
        """d(numerator)/d(denominator) holding the parameters fixed, at every point."""
        kind, layer, index = numerator
        if kind == "input":
            kind = "out"
        return np.array([self._column(p, denominator, kind, layer)[index] for p in self._points])

    def error_partial(self, denominator: Node, through: tuple[int, int] | None = None) -> np.ndarray:
        """dE/d(denominator); with ``through`` = (layer, j) only the paths through that neuron."""
        last = len(self.sizes) - 1
        result = []
        for p in self._points:
            if through is None:
                result.append(float(p.record.dE_dout[last - 1][0] @ self._column(p, denominator, "out", last)))
            else:
                layer, j = through
                result.append(float(p.record.dE_dout[layer - 1][0, j]
                                    * self._column(p, denominator, "out", layer)[j]))
        return np.array(result)

    @staticmethod
    def node_of(entry: Entry) -> Node | None:
        """The node or parameter an entry names (None for other kinds)."""
        if entry.kind in ("net", "out"):
            return (entry.kind, entry.layer, entry.index[0])
        if entry.kind == "input":
            return ("out", 0, entry.index[0])
        if entry.kind == "weight":
            return ("weight", entry.layer, entry.index)
        if entry.kind == "bias":
            return ("bias", entry.layer, entry.index)
        return None
