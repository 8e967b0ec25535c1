"""``explain``: dE/d(any named quantity), derived three ways that must agree.

(a) The chain rule as a sum over every path from E back to the quantity, each factor
    a named partial derivative, evaluated (the "sum of backward messages" of the extra-layer question):

        dE/dw1 = dE/dout_o1*dout_o1/dnet_o1*dnet_o1/dout_h1*dout_h1/dnet_h1*dnet_h1/dw1
               + dE/dout_o2*dout_o2/dnet_o2*dnet_o2/dout_h1*dout_h1/dnet_h1*dnet_h1/dw1

(b) The same in delta form (the lecture notes' notation): dE/dw1 = delta_h1*i1 with
    delta_h1 = (delta_o1*w5 + delta_o2*w7)*f'(net_h1), and each delta above it.
(c) The engine's backprop value beside a central finite difference.

Weights and biases are parameters: constants during one forward and backward pass.
The chain rule runs through functions of them (net, out, E) only, so no factor such
as dw7/dout_h1 (a learner's question) can appear: w7 enters as dnet_o2/dout_h1 = w7.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.learn import expr as ex
from chainrule.learn import render
from chainrule.learn.conventions import Convention, LossSpec, checked_loss_spec
from chainrule.learn.descent import check_shared_biases, evaluate, take_step
from chainrule.learn.lines import Line, LineMaker, Section
from chainrule.learn.naming import Entry, Names
from chainrule.learn.network import Network, as_sample, read_network
from chainrule.tensor import Tensor, no_grad

__all__ = ["Derivation", "Path", "explain", "resolve_wrt", "MAX_PATHS"]

#: Above this many paths from E to a quantity the sum is not listed (the delta form still is).
MAX_PATHS = 20000


@dataclass(frozen=True)
class Path:
    """One path from E back to the quantity: its factors (ASCII partial names), E side first."""

    factors: tuple[str, ...]
    value: float
    neurons: tuple[str, ...]

    def label(self) -> str:
        return "through " + ", ".join(self.neurons) if self.neurons else "direct"


@dataclass
class Derivation:
    """dE/d``wrt`` as a path sum, in delta form, from backprop and from finite differences."""

    names: Names
    wrt: str
    target: str
    paths: list[Path]
    factor_lines: list[Line]
    delta_lines: list[Line]
    backprop: float
    numeric: float
    values: dict[str, float]
    parameters: list[str]
    example: tuple[str, str, str]
    digits: int = 9
    rtol: float = 1e-5
    atol: float = 1e-8
    _chain: Line | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)

    @property
    def path_sum(self) -> float:
        return float(sum(p.value for p in self.paths))

    @property
    def agree(self) -> bool:
        """Backprop, the path sum and the finite difference agree within rtol/atol."""
        def close(a: float, b: float) -> bool:
            return abs(a - b) <= self.atol + self.rtol * max(abs(a), abs(b))

        return close(self.backprop, self.numeric) and close(self.backprop, self.path_sum)

    def chain_line(self) -> Line:
        """dE/dq = sum over paths of the product of its factors, as one line."""
        if self._chain is None:
            terms = [ex.mul(*(ex.Sym(f) for f in p.factors)) for p in self.paths]
            self._chain = Line(self.target, (ex.add(*terms),), self.path_sum)
        return self._chain

    def sections(self) -> list[Section]:
        agree = "agree" if self.agree else "DISAGREE"
        checks = (Line(self.target, (), self.backprop, "backprop: the engine's backward pass"),
                  Line(self.target, (), self.numeric, f"central finite difference; {agree}"))
        paths = "the only path" if len(self.paths) == 1 else f"the {len(self.paths)} paths"
        return [Section(f"(a) chain rule: a sum over {paths} from E back to {self.names.text(self.wrt)}",
                        (self.chain_line(),)),
                Section("the factors", tuple(self.factor_lines)),
                Section("(b) delta form", tuple(self.delta_lines)),
                Section("(c) check", checks)]

    def parameter_note(self) -> str:
        weight, out, net = (self.names.text(n) for n in self.example)
        extra = "".join(" " + note for note in self.notes)
        return (f"Parameters ({', '.join(self.names.text(p) for p in self.parameters)}) are constants during one "
                f"forward and backward pass; only the update changes them. The chain rule runs through functions "
                f"of them (net, out, E), so no factor such as d{weight}/d{out} appears: {weight} enters as "
                f"d{net}/d{out} = {weight}.{extra}")

    def through(self, nodes: list[str]) -> list[tuple[str, list[Path], float]]:
        """The paths grouped by the neurons named (``["j1", "j2"]``): (neuron, its paths, their sum).

        A path through none of them is grouped under "other paths". In a layered network a
        path passes one neuron per layer, so neurons of one layer split the sum exactly.
        """
        known = {p for path in self.paths for p in path.neurons}
        groups = []
        for node in nodes:
            label = node.strip()
            if label not in known:
                raise ConfigError(f"no path from E to {self.names.text(self.wrt)} passes {label!r}; the paths pass "
                                  f"{', '.join(sorted(known)) or 'no neuron'}")
            mine = [p for p in self.paths if label in p.neurons]
            groups.append((label, mine, float(sum(p.value for p in mine))))
        rest = [p for p in self.paths if not any(label.strip() in p.neurons for label in nodes)]
        if rest:
            groups.append(("other paths", rest, float(sum(p.value for p in rest))))
        return groups

    def through_text(self, nodes: list[str]) -> str:
        """dE/dq = [paths through n1] + [paths through n2] + ..., each summed and evaluated."""
        groups = self.through(nodes)
        target = self.names.text(self.target)
        lines = [f"{target} grouped by {', '.join(n.strip() for n in nodes)}:"]
        for label, paths, value in groups:
            terms = "\n      + ".join(ex.render(ex.mul(*(ex.Sym(f) for f in p.factors)), label=self.names.text)
                                      for p in paths)
            named = f"dE_{label}/d{self.names.text(self.wrt)}" if label != "other paths" else label
            lines.append(f"  {named} = [{terms}] = {ex.format_number(value, self.digits)}"
                         f"   ({len(paths)} path{'s' if len(paths) != 1 else ''})")
        overlap = sum(len(p) for _, p, _ in groups) - len(self.paths)
        total = " + ".join(ex.format_number(v, self.digits) for _, _, v in groups)
        note = (f"; {overlap} path(s) pass more than one of them, so the groups overlap and do not add up"
                if overlap else "")
        added = ex.format_number(sum(v for _, _, v in groups), self.digits)
        lines.append(f"  {target} = {total} = {added} (backprop {ex.format_number(self.backprop, self.digits)}){note}")
        return "\n".join(lines)

    def path_table(self) -> list[str]:
        return [f"path {k}: {p.label()}: "
                + ex.render(ex.mul(*(ex.Sym(f) for f in p.factors)), label=self.names.text, values=self.values,
                            digits=self.digits) + f" = {ex.format_number(p.value, self.digits)}"
                for k, p in enumerate(self.paths, start=1)]

    def to_text(self) -> str:
        sections = self.sections()
        blocks = [f"dE/d{self.names.text(self.wrt)}: {self.parameter_note()}",
                  render.sections_text(sections[:1], self.names, self.values, self.digits),
                  "\n".join("  " + row for row in self.path_table()),
                  render.sections_text(sections[1:], self.names, self.values, self.digits)]
        return "\n\n".join(blocks)

    def __str__(self) -> str:
        return self.to_text()

    def to_markdown(self) -> str:
        paths = render.markdown_table(["path", "through", "value"],
                                      [[str(k), p.label(), ex.format_number(p.value, self.digits)]
                                       for k, p in enumerate(self.paths, start=1)])
        return (f"## dE/d{self.names.text(self.wrt)}\n\n{self.parameter_note()}\n\n"
                + render.sections_markdown(self.sections(), self.names, self.values, self.digits) + "\n\n"
                + "### paths\n\n" + paths + "\n")

    def latex_lines(self) -> list[str]:
        return [render.line_latex(line, self.names, self.values, self.digits)
                for section in self.sections() for line in section.lines]

    def to_latex(self) -> str:
        note = render.latex_text(self.parameter_note())
        return (f"\\noindent {note}\n\n" + render.sections_latex(self.sections(), self.names, self.values, self.digits)
                + "\n")

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        import html

        rows = "".join(f"<li><code>{html.escape(row)}</code></li>" for row in self.path_table())
        return (f"<p>{html.escape(self.parameter_note())}</p>"
                + render.sections_html(self.sections()[:1], self.names, self.values, self.digits)
                + f"<ul>{rows}</ul>"
                + render.sections_html(self.sections()[1:], self.names, self.values, self.digits))


def resolve_wrt(names: Names, wrt: str) -> Entry:
    """The quantity to differentiate by: a weight, a bias, a net input or an output.

    dE/dw5, dE_dw5 and w5 all mean w5; delta_h1 means net_h1; dE/dout_h1 means out_h1.
    """
    entry = names.find(str(wrt).replace("∂", "d"))
    if entry.kind in ("grad", "new"):
        return names.find(entry.ascii.removesuffix("_new") if entry.kind == "new" else
                          next(p for p in names.parameters() if names.grad(p) == entry.ascii))
    if entry.kind == "delta":
        return names.entries[names.net(entry.layer, entry.index[0])]
    if entry.kind == "dE_dout":
        return names.entries[names.out(entry.layer, entry.index[0])]
    if entry.kind not in ("weight", "bias", "net", "out") or (entry.kind == "out" and entry.layer == 0):
        allowed = names.available(["weight", "bias", "net", "out"])
        raise ConfigError(f"explain differentiates by a weight, a bias, a net input or a neuron's output; "
                          f"{wrt!r} is a {entry.kind}. Choose one of: {', '.join(allowed)}")
    return entry


def _count_paths(network: Network, layer: int, kind: str) -> int:
    """Number of paths from E to one node of ``kind`` ("net" or "out") in ``layer``."""
    last, sizes = len(network.layers), network.sizes

    def from_out(lay: int) -> int:
        return 1 if lay == last else sizes[lay + 1] * from_net(lay + 1)

    def from_net(lay: int) -> int:
        return (1 if network.layers[lay - 1].elementwise else sizes[lay]) * from_out(lay)

    return from_out(layer) if kind == "out" else from_net(layer)


def _paths(network: Network, names: Names, values: dict[str, float], entry: Entry) -> list[Path]:
    """Every path from E to ``entry``, each as its factors (E side first) and their product."""
    last = len(network.layers)
    if entry.kind in ("weight", "bias"):
        layer = entry.layer
        neurons = [entry.index[1]] if entry.kind == "weight" else (
            [entry.index[0]] if entry.index else list(range(network.sizes[layer])))
        start = [(("net", layer, j), names.partial(names.net(layer, j), entry.ascii)) for j in neurons]
        if entry.kind == "bias":  # the same bias parameter added in other layers too: their paths count as well
            for other in shared_bias_layers(network, layer):
                start += [(("net", other, j), names.partial(names.net(other, j), entry.ascii)) for j in
                          ([entry.index[0]] if entry.index else range(network.sizes[other]))]
        kind = "net"
    else:
        start = [((entry.kind, entry.layer, entry.index[0]), None)]
        kind = entry.kind
    if sum(_count_paths(network, entry.layer, kind) for _ in start) > MAX_PATHS:
        raise ConfigError(f"more than {MAX_PATHS} paths lead from E to {entry.text}; the delta form "
                          "(chainrule.learn.trace) follows them all at once")

    def up(node: tuple[str, int, int]) -> list[list[tuple[str, tuple[str, int, int]]]]:
        """Chains of (factor, node) from ``node`` up to E, node side first."""
        role, layer, j = node
        if role == "out" and layer == last:
            return [[(names.dE_dout(layer, j), node)]]
        chains = []
        if role == "out":
            for k in range(network.sizes[layer + 1]):
                factor = names.partial(names.net(layer + 1, k), names.out(layer, j))
                chains += [[*rest, (factor, node)] for rest in up(("net", layer + 1, k))]
        else:
            outs = [j] if network.layers[layer - 1].elementwise else range(network.sizes[layer])
            for i in outs:
                factor = names.partial(names.out(layer, i), names.net(layer, j))
                chains += [[*rest, (factor, node)] for rest in up(("out", layer, i))]
        return chains

    paths = []
    for node, last_factor in start:
        for chain in up(node):
            factors = tuple(f for f, _ in chain) + ((last_factor,) if last_factor else ())
            through = tuple(dict.fromkeys(names.neuron(lay, j) for _, (_, lay, j) in chain
                                          if (lay, j) != node[1:] or last_factor))
            paths.append(Path(factors, float(np.prod([values[f] for f in factors])), through))
    return paths


def link_values(network: Network, names: Names, values: dict[str, float]) -> None:
    """Add the linear factors to ``values`` (in place): dnet_j/dout_i = w_ij, dnet_j/dw_ij = out_i, dnet_j/db_j = 1."""
    for layer in range(1, len(network.layers) + 1):
        for j in range(network.sizes[layer]):
            net = names.net(layer, j)
            for i in range(network.sizes[layer - 1]):
                weight = names.weight(layer, i, j)
                values[names.partial(net, names.out(layer - 1, i))] = values[weight]
                values[names.partial(net, weight)] = values[names.out(layer - 1, i)]
            if network.has_bias[layer - 1]:
                values[names.partial(net, names.bias_of(layer, j))] = 1.0
                for other in shared_bias_layers(network, layer):  # one bias parameter in several layers
                    if names.bias == "shared" or network.sizes[other] == network.sizes[layer]:
                        values[names.partial(net, names.bias_of(other, j if names.bias != "shared" else 0))] = 1.0


def shared_bias_layers(network: Network, layer: int) -> list[int]:
    """The other layers whose Linear adds the very same bias parameter as ``layer`` (1-based)."""
    bias = network.layers[layer - 1].linear.bias
    return [number for number, other in enumerate(network.layers, start=1)
            if number != layer and bias is not None and other.linear.bias is bias]


def _factor_line(maker: LineMaker, names: Names, factor: str) -> Line:
    """What one factor of a path is: dE/dout_o1 = out_o1 - target_o1, dnet_o1/dout_h1 = w5, ..."""
    values = maker.values()
    entry = names.entries[factor]
    if entry.kind == "dE_dout":
        return maker.dE_dout_line(entry.layer, entry.index[0])
    numerator, denominator = names.partial_parts(factor)
    if numerator.kind == "out":
        form = maker.derivative_formula(numerator.layer, numerator.index[0], denominator.index[0])
    elif denominator.kind == "out":
        form = ex.Sym(names.weight(numerator.layer, denominator.index[0], numerator.index[0]))
    elif denominator.kind == "weight":
        form = ex.Sym(names.out(denominator.layer - 1, denominator.index[0]))
    else:
        form = ex.Num(1.0)
    return Line(factor, (form,), values[factor])


def _delta_lines(maker: LineMaker, entry: Entry, target: str) -> list[Line]:
    """The delta form: dE/dq from the deltas, then every delta it needs, output layer last."""
    network = maker.network
    last = len(network.layers)
    lines: list[Line] = []
    if entry.kind in ("weight", "bias"):
        lines += [line for line in maker.grad_lines(entry.layer) if line.name == target]
        first = entry.layer
    elif entry.kind == "net":
        first = entry.layer
    else:
        lines.append(maker.dE_dout_line(entry.layer, entry.index[0]))
        first = entry.layer + 1
    for layer in range(first, last + 1):
        neurons = range(network.sizes[layer])
        if layer == entry.layer and entry.kind == "weight":
            neurons = [entry.index[1]]
        elif layer == entry.layer and entry.kind in ("net", "bias") and entry.index:
            neurons = [entry.index[0]]
        lines += [maker.delta_line(layer, j, expand_message=True) for j in neurons]
    return lines


def _finite_difference(network: Network, x: np.ndarray, target: np.ndarray, loss: LossSpec, entry: Entry,
                       bias: str, eps: float = 1e-6) -> float:
    """Central difference of E in the quantity, each E from the engine's forward pass."""
    def error_with(shift: float) -> float:
        net = copy.deepcopy(network.module)
        copied = read_network(net)
        if entry.kind in ("weight", "bias"):
            linear = copied.layers[entry.layer - 1].linear
            if entry.kind == "weight":
                linear.weight.data[entry.index] += shift
            elif entry.index:
                linear.bias.data[entry.index[0]] += shift
            else:
                linear.bias.data += shift
            return evaluate(copied, x, target, loss)[0]
        with no_grad():
            a = Tensor(x)
            for number, layer in enumerate(copied.layers, start=1):
                net_in = layer.linear(a)
                if entry.kind == "net" and number == entry.layer:
                    net_in = Tensor(net_in.data + shift * np.eye(net_in.shape[1])[entry.index[0]])
                a = layer.activate(net_in)
                if entry.kind == "out" and number == entry.layer:
                    a = Tensor(a.data + shift * np.eye(a.shape[1])[entry.index[0]])
            return float(loss(a, target).item())

    return (error_with(eps) - error_with(-eps)) / (2 * eps)


def explain(net: Any, wrt: str, x: Any, target: Any, loss: str | LossSpec = "half_squared_error",
            names: str = "auto", *, bias: str = "per_neuron", digits: int = 9, lr: float = 0.5,
            aliases: Mapping[str, str] | None = None, allow_mismatch: bool = False) -> Derivation:
    """Derive dE/d``wrt`` for one sample: path sum, delta form, backprop and finite differences.

    Parameters
    ----------
    net : Sequential or MLP
    wrt : str
        A weight, bias, net input or output by name: "w1", "dE/dw1", "b_h1", "net_h1",
        "delta_h1" (= net_h1), "out_h1", "w_12^(2)", ...
    x : array_like, shape (1, n_in) or (n_in,)
    target : array_like, shape (1, n_out) or (n_out,), or a class index
    loss : str
        As for :func:`~chainrule.learn.trace`.
    names : {"auto", "mazur", "layer"}
    bias : {"per_neuron", "shared"}
        "shared" treats each layer's bias as one parameter (Mazur's b1, b2).
    lr : float
        The learning rate eta of the updated values (w5+), the same default as ``trace``.
    aliases : dict, optional
        The learner's own names, shown in the output (``{"y": "target_o1"}``).
    allow_mismatch : bool
        Go on with an output activation and a loss that do not belong together (cross-entropy
        on outputs that are not probabilities), with a warning instead of the ConfigError of
        :func:`chainrule.losses.check_pair`, the same refusal as ``chainrule.fit``'s.

    Returns
    -------
    Derivation

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.learn import explain
    >>> d = explain(*cr.examples.mazur()[:1], "w1", *cr.examples.mazur()[1:])
    >>> len(d.paths), d.agree
    (2, True)
    >>> round(d.backprop, 9)
    0.000438568
    """
    convention = Convention("simultaneous", False, bias)
    network = read_network(copy.deepcopy(net))
    spec = checked_loss_spec(loss, network.activations[-1], allow_mismatch)
    check_shared_biases(network, convention)
    x, target = as_sample(network, x, target, one=True)
    scheme = Names(network.sizes, names, convention.bias, network.has_bias)
    alias_notes = scheme.use_aliases(aliases)
    entry = resolve_wrt(scheme, wrt)
    reference = read_network(copy.deepcopy(network.module))
    record = take_step(network, x, target, spec, lr, convention)
    maker = LineMaker(network, scheme, record, spec, lr, convention)
    values = maker.values()
    link_values(network, scheme, values)
    target_name = {"weight": scheme.grad, "bias": scheme.grad}.get(entry.kind, lambda a: a)(entry.ascii)
    if entry.kind == "net":
        target_name = scheme.delta(entry.layer, entry.index[0])
    elif entry.kind == "out":
        target_name = scheme.dE_dout(entry.layer, entry.index[0])
    paths = _paths(network, scheme, values, entry)
    factors = list(dict.fromkeys(f for p in paths for f in p.factors))
    factor_lines = [_factor_line(maker, scheme, f) for f in factors]
    delta_lines = _delta_lines(maker, entry, target_name)
    last = len(network.layers)
    example = (scheme.weight(last, 0, min(1, network.sizes[-1] - 1)), scheme.out(last - 1, 0),
               scheme.net(last, min(1, network.sizes[-1] - 1)))
    # float32 rounds E to ~1e-7, so its difference quotient needs a larger step and looser agreement.
    double = network.layers[0].linear.weight.dtype == np.float64
    eps, rtol, atol = (1e-6, 1e-5, 1e-8) if double else (1e-3, 1e-2, 1e-4)
    notes = list(alias_notes)
    if entry.kind == "bias" and shared_bias_layers(network, entry.layer):
        others = shared_bias_layers(network, entry.layer)
        same = ", ".join(scheme.biases(o)[0] if scheme.biases(o) else f"the bias of layer {o}" for o in others)
        notes.append(f"{entry.text} is one parameter shared with layer{'s' if len(others) > 1 else ''} "
                     f"{', '.join(map(str, others))} ({same} is the same number), so dE/d{entry.text} sums the "
                     f"paths through every layer it is added in.")
    layer = network.layers[entry.layer - 1] if entry.layer else None
    if entry.kind == "bias" and not entry.index and layer is not None and layer.activation in ("softmax",
                                                                                               "log_softmax"):
        # softmax(net + c) = softmax(net): one bias added to every net input of the layer changes no output.
        notes.append(f"{entry.text} is one bias shared by every neuron of a {layer.activation} layer: it adds the "
                     f"same number c to every net input, and {layer.activation}(net + c) = {layer.activation}(net), "
                     f"so E does not depend on {entry.text} and dE/d{entry.text} is exactly 0 (each row of the "
                     "softmax Jacobian sums to 0); backprop's rounding residue is shown as 0.")
        values[target_name] = 0.0
    return Derivation(scheme, entry.ascii, target_name, paths, factor_lines, delta_lines, values[target_name],
                      _finite_difference(reference, x, target, spec, entry, convention.bias, eps), values,
                      scheme.parameters(), example, digits, rtol, atol, notes=notes)
