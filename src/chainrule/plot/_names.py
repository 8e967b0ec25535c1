"""The names a diagram writes on neurons and edges, from the learner tools' naming schemes.

:class:`chainrule.learn.naming.Names` names every number of a network. It builds an
entry for every weight, which is instant for the networks learners draw by hand but
slow for, say, 784-256-10; a large diagram draws no edge labels anyway, so for it the
neuron names come from one small ``Names`` per layer, holding that layer's neurons only.
"""

from __future__ import annotations

from typing import Any

from chainrule.errors import ConfigError

#: Above this many weights, neuron names are asked layer by layer (see the module notes).
_WHOLE_NETWORK_WEIGHTS = 5_000


class DiagramNames:
    """Neuron, weight, bias and layer labels for one network, as matplotlib text.

    The "layer" scheme's names are LaTeX (x_j^(l), w_ij^(l)) and are drawn as mathtext.
    """

    def __init__(self, sizes: list[int], scheme: str, has_bias: list[bool], bias: str = "per_neuron") -> None:
        from chainrule.learn.naming import Names

        self.sizes, self.scheme, self.has_bias = list(sizes), scheme, list(has_bias)
        self.bias_scheme = bias  # "per_neuron" (b_h1, ...) or "shared" (Mazur's b1, b2)
        n_weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
        self._whole: Any = None
        if n_weights <= _WHOLE_NETWORK_WEIGHTS:
            self._whole = Names(sizes, scheme, bias, has_bias=has_bias)
            self._per_layer = [self._whole] * len(sizes)
        else:
            self._per_layer = [Names(_alone(sizes, layer), scheme) for layer in range(len(sizes))]

    def layer(self, layer: int) -> str:
        """A short name for a layer: its letter (h, j, o) or "layer l"."""
        if self.scheme == "layer":
            return f"layer {layer}"
        return self._per_layer[layer].neuron(layer, 0)[0]

    def neuron(self, layer: int, j: int) -> str:
        """The label inside neuron j of ``layer``: h1, o2, or $x_1^{(2)}$."""
        names = self._per_layer[layer]
        if self.scheme == "layer":
            return f"${names.latex(names.out(layer, j))}$"
        return names.neuron(layer, j)

    def weight(self, layer: int, i: int, j: int) -> str:
        """w_ij of ``layer``: w5 or $w_{12}^{(2)}$."""
        return self._parameter(self._names().weight(layer, i, j))

    def bias(self, layer: int, j: int) -> str:
        """The bias of neuron j of ``layer``: $b_{h1}$ or $w_{01}^{(1)}$; the layer's b1 when shared."""
        return self._parameter(self._names().bias_of(layer, j))

    def _names(self) -> Any:
        if self._whole is None:
            from chainrule.learn.naming import Names

            self._whole = Names(self.sizes, self.scheme, self.bias_scheme, has_bias=self.has_bias)
        return self._whole

    def _parameter(self, key: str) -> str:
        text = self._whole.text(key)
        # Plain names (w5) stay text as in Mazur's post; subscripted ones (b_h1, w_12^(2)) become mathtext.
        return f"${self._whole.latex(key)}$" if "_" in text else text


def _alone(sizes: list[int], layer: int) -> list[int]:
    """Layer sizes with every layer but ``layer`` cut to one neuron: same depth, few weights."""
    return [n if k == layer else 1 for k, n in enumerate(sizes)]


def diagram_names(net: Any, scheme: str, bias: str = "per_neuron") -> DiagramNames:
    """The naming scheme ``scheme`` ("auto", "mazur" or "layer") applied to ``net``, biases per neuron or shared.

    "auto" falls back to "layer" for networks deeper than Mazur's letters reach.
    """
    from chainrule.learn.naming import SCHEMES, Names

    if scheme not in SCHEMES:
        raise ConfigError(f"unknown naming scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    linears = [view.linear for view in net.layers()]
    sizes = [linears[0].n_in] + [m.n_out for m in linears]
    has_bias = [m.bias is not None for m in linears]
    if scheme != "layer":
        try:
            Names([1] * len(sizes), "auto")  # checks the depth only
        except ConfigError:
            if scheme == "mazur":
                raise
            scheme = "layer"
    if scheme == "mazur" and sizes != [2, 2, 2]:
        Names(sizes, "mazur")  # refuses with the naming module's own message
    return DiagramNames(sizes, scheme, has_bias, bias)
