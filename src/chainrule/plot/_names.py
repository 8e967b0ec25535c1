"""The names a diagram writes on neurons and edges, in the learner tools' schemes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chainrule.errors import ConfigError

_LETTERS = "hjklmnpqrs"


@dataclass
class DiagramNames:
    """Names for one network: neurons, weights, biases and layers."""

    sizes: list[int]
    scheme: str

    def layer(self, layer: int) -> str:
        last = len(self.sizes) - 1
        if self.scheme == "layer":
            return f"layer {layer}"
        if layer == 0:
            return "i"
        if layer == last:
            return "o"
        return _LETTERS[layer - 1]

    def neuron(self, layer: int, j: int) -> str:
        if self.scheme == "layer":
            return f"$x_{{{j + 1}}}^{{({layer})}}$"
        return f"{self.layer(layer)}{j + 1}"

    def weight(self, layer: int, i: int, j: int) -> str:
        if self.scheme == "layer":
            return f"$w_{{{i + 1}{j + 1}}}^{{({layer})}}$"
        offset = sum(self.sizes[k - 1] * self.sizes[k] for k in range(1, layer))
        return f"w{offset + j * self.sizes[layer - 1] + i + 1}"

    def bias(self, layer: int, j: int) -> str:
        if self.scheme == "layer":
            return f"$b_{{{j + 1}}}^{{({layer})}}$"
        return f"b{layer}"


def diagram_names(net: Any, scheme: str) -> DiagramNames:
    """The naming scheme ``scheme`` ("auto", "mazur" or "layer") applied to ``net``."""
    from chainrule.nn import Linear

    linears = [m for m in net if isinstance(m, Linear)]
    sizes = [linears[0].n_in] + [m.n_out for m in linears]
    if scheme == "auto":
        scheme = "mazur" if len(sizes) - 2 <= len(_LETTERS) else "layer"
    if scheme not in ("mazur", "layer"):
        raise ConfigError(f"unknown naming scheme {scheme!r}; choose auto, mazur or layer")
    return DiagramNames(sizes, scheme)
