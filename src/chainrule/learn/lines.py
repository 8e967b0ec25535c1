"""The lines of a hand derivation: a quantity, its formula, the numbers, the result.

:class:`LineMaker` turns one :class:`~chainrule.learn.descent.StepRecord` (the engine's
numbers) into lines such as

    net_h1 = w1*i1 + w2*i2 + b1*1 = 0.15*0.05 + 0.2*0.1 + 0.35*1 = 0.3775
    delta_o1 = dE/dout_o1*dout_o1/dnet_o1 = dE/dout_o1*out_o1*(1 - out_o1) = ... = 0.138498562

Formulas come from the ops' and losses' own ``formula`` / ``derivative_formula``
strings; values from the record. :meth:`LineMaker.values` names every number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from chainrule.errors import ConfigError
from chainrule.learn import expr as ex
from chainrule.learn.conventions import Convention, LossSpec
from chainrule.learn.descent import StepRecord
from chainrule.learn.naming import Names
from chainrule.learn.network import Network
from chainrule.learn.parse import parse, split_equation

__all__ = ["Line", "Section", "LineMaker"]


@dataclass(frozen=True)
class Line:
    """``name = forms[0] = forms[1] = ... = (forms[-1] with numbers) = value``.

    ``name`` is the ASCII name of the quantity on the left; ``value`` is the engine's.
    """

    name: str
    forms: tuple[ex.Expr, ...]
    value: float
    note: str = ""


@dataclass(frozen=True)
class Section:
    title: str
    lines: tuple[Line, ...]


_INDEXED = re.compile(r"^(net|out|target)_([a-z])$")


def _scale_expr(scale: float) -> ex.Expr:
    if scale == 1:
        return ex.Num(1.0)
    inverse = 1 / scale
    return ex.Div(ex.Num(1.0), ex.Num(inverse)) if inverse == round(inverse) else ex.Num(scale)


def _drop_sum(e: ex.Expr) -> ex.Expr:
    """The summand of the first ``sum_k`` in ``e``, kept inside what surrounds it."""
    if isinstance(e, ex.SumOver):
        return e.body
    if isinstance(e, ex.Neg):
        return ex.Neg(_drop_sum(e.arg))
    if isinstance(e, ex.Mul):
        return ex.Mul(tuple(_drop_sum(f) for f in e.factors))
    if isinstance(e, ex.Div):
        return ex.Div(_drop_sum(e.num), e.den)
    return e


class LineMaker:
    """Lines and values of one step of ``network`` (see the module docstring).

    Only one sample: every array of ``record`` is read at row 0.
    """

    def __init__(self, network: Network, names: Names, record: StepRecord, loss: LossSpec, lr: float,
                 convention: Convention) -> None:
        self.network, self.names, self.record = network, names, record
        self.loss, self.lr, self.convention = loss, lr, convention
        self.L = len(network.layers)
        self._values: dict[str, float] | None = None

    # ------------------------------------------------------------ numbers
    def values(self) -> dict[str, float]:
        """Every quantity of the step by ASCII name (inputs, parameters, forward, backward, update)."""
        if self._values is not None:
            return self._values
        n, r, v = self.names, self.record, {}
        sizes = self.network.sizes
        for i in range(sizes[0]):
            v[n.input(i)] = float(r.x[0, i])
        for layer in range(1, self.L + 1):
            for j in range(sizes[layer]):
                v[n.net(layer, j)] = float(r.nets[layer - 1][0, j])
                v[n.out(layer, j)] = float(r.outs[layer - 1][0, j])
        terms = self.loss.terms(r.outs[-1], r.target)
        for k in range(sizes[-1]):
            v[n.target(k)] = float(r.target[0, k])
            v[n.error_term(k)] = float(terms[0, k])
        v[n.total] = r.error
        v[n.lr] = float(self.lr)
        for layer in range(1, self.L + 1):
            lay = self.network.layers[layer - 1]
            net, out = r.nets[layer - 1][0], r.outs[layer - 1][0]
            if lay.elementwise:
                fprime = lay.derivative(net, out)
                for j in range(sizes[layer]):
                    v[n.partial(n.out(layer, j), n.net(layer, j))] = float(fprime[j])
            else:
                jac = lay.jacobian(net, out)
                for i in range(sizes[layer]):
                    for j in range(sizes[layer]):
                        v[n.partial(n.out(layer, i), n.net(layer, j))] = float(jac[i, j])
            for j in range(sizes[layer]):
                v[n.dE_dout(layer, j)] = float(r.dE_dout[layer - 1][0, j])
                v[n.delta(layer, j)] = float(r.deltas[layer - 1][0, j])
        for layer in range(1, self.L + 1):
            for (i, j), name in self.weight_names(layer).items():
                v[name] = float(r.weights[layer - 1][i, j])
                v[n.grad(name)] = float(r.grad_w[layer - 1][i, j])
                v[n.new(name)] = float(r.new_w[layer - 1][i, j]) if r.new_w else v[name]
            for j, name in self.bias_names(layer).items():
                grad = r.bias_gradient(layer, self.convention)
                v[name] = float(r.biases[layer - 1][j])
                v[n.grad(name)] = float(grad[j])
                v[n.new(name)] = float(r.new_b[layer - 1][j]) if r.new_b else v[name]
        if r.error_after is not None:
            v[n.total_after] = r.error_after
        self._values = v
        return v

    def weight_names(self, layer: int) -> dict[tuple[int, int], str]:
        """(i, j) -> name of w_ij of ``layer``, in Mazur's order."""
        sizes = self.network.sizes
        return {(i, j): self.names.weight(layer, i, j)
                for j in range(sizes[layer]) for i in range(sizes[layer - 1])}

    def bias_names(self, layer: int) -> dict[int, str]:
        """Position -> bias name of ``layer`` (position 0 only when shared)."""
        return {j: name for j, name in enumerate(self.names.biases(layer))}

    # ------------------------------------------------------------ formulas of the ops and losses
    def _resolver(self, layer: int):
        n, sizes = self.names, self.network.sizes
        attrs = self.network.layers[layer - 1].attrs if layer >= 1 else {}

        def resolve(name: str, env: Mapping[str, int]) -> ex.Expr:
            if name in ("net", "out"):
                j = env["j"]
                return ex.Sym(n.net(layer, j) if name == "net" else n.out(layer, j))
            match = _INDEXED.match(name)
            if match:
                kind, letter = match.groups()
                position = env[letter]
                if kind == "target":
                    return ex.Sym(n.target(position))
                return ex.Sym(n.net(layer, position) if kind == "net" else n.out(layer, position))
            if name == "K":
                return ex.Num(float(sizes[-1]))
            if name in attrs and isinstance(attrs[name], (int, float)):
                return ex.Num(float(attrs[name]))
            raise ConfigError(f"cannot show the formula of layer {layer}: unknown symbol {name!r}")

        return resolve

    def _bind(self, text: str, layer: int, env: Mapping[str, int]) -> ex.Expr:
        _, rhs = split_equation(text)
        size = self.network.sizes[layer]
        ranges = {letter: range(size) for letter in "ijk"}
        return ex.bind(parse(rhs), self._resolver(layer), ranges, env)

    def activation_formula(self, layer: int, j: int) -> ex.Expr:
        """out_j = f(net_j) of neuron j of ``layer``, from the op's ``formula``."""
        return self._bind(self.network.layers[layer - 1].op.formula, layer, {"j": j})

    def derivative_formula(self, layer: int, i: int, j: int) -> ex.Expr:
        """dout_i/dnet_j from the op's ``derivative_formula`` (i = j for elementwise ops)."""
        return self._bind(self.network.layers[layer - 1].op.derivative_formula, layer, {"i": i, "j": j})

    def _loss_formula(self, text: str, k: int, drop_sum: bool) -> ex.Expr:
        _, rhs = split_equation(text)
        parsed = parse(rhs)
        if drop_sum:
            parsed = _drop_sum(parsed)
        bound = ex.bind(parsed, self._resolver(self.L), {"k": range(self.network.sizes[-1])}, {"k": k})
        if self.loss.scale != 1:
            bound = ex.mul(_scale_expr(self.loss.scale), bound)
        return bound

    # ------------------------------------------------------------ lines
    def net_line(self, layer: int, j: int) -> Line:
        n = self.names
        terms = [ex.mul(ex.Sym(n.weight(layer, i, j)), ex.Sym(n.out(layer - 1, i)))
                 for i in range(self.network.sizes[layer - 1])]
        if self.network.has_bias[layer - 1]:
            terms.append(ex.mul(ex.Sym(n.bias_of(layer, j)), ex.Num(1.0)))
        return Line(n.net(layer, j), (ex.add(*terms),), self.values()[n.net(layer, j)])

    def out_line(self, layer: int, j: int) -> Line:
        n = self.names
        return Line(n.out(layer, j), (self.activation_formula(layer, j),), self.values()[n.out(layer, j)])

    def error_term_line(self, k: int) -> Line:
        n = self.names
        form = self._loss_formula(self.loss.definition.formula, k, drop_sum=True)
        return Line(n.error_term(k), (form,), self.values()[n.error_term(k)])

    def total_line(self) -> Line:
        n = self.names
        terms = [ex.Sym(n.error_term(k)) for k in range(self.network.sizes[-1])]
        return Line(n.total, (ex.add(*terms),), self.record.error)

    def dE_dout_line(self, layer: int, j: int) -> Line:  # noqa: N802 - the learners' dE
        """dE/dout: the loss's gradient formula at the outputs; sum_k delta_k w_jk below them."""
        n = self.names
        if layer == self.L:
            form = self._loss_formula(self.loss.definition.grad_formula, j, drop_sum=False)
        else:
            form = ex.add(*(ex.mul(ex.Sym(n.delta(layer + 1, k)), ex.Sym(self.message_weight(layer + 1, j, k)))
                            for k in range(self.network.sizes[layer + 1])))
        return Line(n.dE_dout(layer, j), (form,), self.values()[n.dE_dout(layer, j)])

    def message_weight(self, layer: int, i: int, j: int) -> str:
        """The weight name a backward message uses: w, or w+ under the sequential update."""
        name = self.names.weight(layer, i, j)
        return self.names.new(name) if self.convention.update == "sequential" else name

    def delta_line(self, layer: int, j: int, *, expand_message: bool = False) -> Line:
        """delta_j = sum_i dE/dout_i dout_i/dnet_j (one term for an elementwise activation).

        ``expand_message`` writes dE/dout of a hidden neuron as its sum, giving the
        textbook delta_h = (sum_k delta_k w_hk) f'(net_h).
        """
        n, lay = self.names, self.network.layers[layer - 1]
        outs = [j] if lay.elementwise else list(range(self.network.sizes[layer]))

        def message(i: int) -> ex.Expr:
            if expand_message and layer < self.L:
                return self.dE_dout_line(layer, i).forms[0]
            return ex.Sym(n.dE_dout(layer, i))

        named = ex.add(*(ex.mul(message(i), ex.Sym(n.partial(n.out(layer, i), n.net(layer, j)))) for i in outs))
        spelled = ex.add(*(ex.mul(message(i), self.derivative_formula(layer, i, j)) for i in outs))
        return Line(n.delta(layer, j), (named, spelled), self.values()[n.delta(layer, j)])

    def grad_lines(self, layer: int) -> list[Line]:
        """dE/dw_ij = delta_j * out_i and dE/db_j = delta_j * 1 (summed over j when shared)."""
        n, lines = self.names, []
        for (i, j), name in self.weight_names(layer).items():
            form = ex.mul(ex.Sym(n.delta(layer, j)), ex.Sym(n.out(layer - 1, i)))
            lines.append(Line(n.grad(name), (form,), self.values()[n.grad(name)]))
        for j, name in self.bias_names(layer).items():
            neurons = [j] if self.convention.bias == "per_neuron" else range(self.network.sizes[layer])
            form = ex.add(*(ex.mul(ex.Sym(n.delta(layer, m)), ex.Num(1.0)) for m in neurons))
            lines.append(Line(n.grad(name), (form,), self.values()[n.grad(name)]))
        return lines

    def update_lines(self, layer: int) -> list[Line]:
        """w+ = w - eta * dE/dw for every parameter of ``layer`` (biases as the convention says)."""
        n, lines = self.names, []
        params = list(self.weight_names(layer).values())
        biases = list(self.bias_names(layer).values())
        for name in params + (biases if self.convention.update_biases else []):
            form = ex.Add(((1, ex.Sym(name)), (-1, ex.mul(ex.Sym(n.lr), ex.Sym(n.grad(name))))))
            lines.append(Line(n.new(name), (form,), self.values()[n.new(name)]))
        for name in biases if not self.convention.update_biases else []:
            lines.append(Line(n.new(name), (ex.Sym(name),), self.values()[n.new(name)], "biases not updated"))
        return lines

    # ------------------------------------------------------------ a whole step
    def sections(self) -> list[Section]:
        sizes, last = self.network.sizes, self.L
        forward = []
        for layer in range(1, last + 1):
            for j in range(sizes[layer]):
                forward.append(self.net_line(layer, j))
                if self.network.layers[layer - 1].module is not None:
                    forward.append(self.out_line(layer, j))
        error = [self.error_term_line(k) for k in range(sizes[-1])] + [self.total_line()]
        backward = []
        for layer in range(last, 0, -1):
            for j in range(sizes[layer]):
                backward.append(self.dE_dout_line(layer, j))
            for j in range(sizes[layer]):
                backward.append(self.delta_line(layer, j))
        grads = [line for layer in range(last, 0, -1) for line in self.grad_lines(layer)]
        updates = [line for layer in range(last, 0, -1) for line in self.update_lines(layer)]
        backward_title = "Backward pass: deltas, output layer first"
        if self.convention.update == "sequential" and last > 1:
            backward_title += " (sequential: each message uses the updated weights w+ above it)"
        sections = [Section("Forward pass", tuple(forward)), Section("Error", tuple(error)),
                    Section(backward_title, tuple(backward)), Section("Gradients", tuple(grads)),
                    Section(f"Update, eta = {ex.format_number(self.lr)}", tuple(updates))]
        if self.record.error_after is not None:
            after = Line(self.names.total_after, (), self.record.error_after,
                         "forward pass with the updated parameters")
            sections.append(Section("After the update", (after,)))
        return sections


def output_values(names: Names, output: np.ndarray) -> dict[str, float]:
    """out of each output neuron from a (1, n_out) array."""
    return {names.out(names.L, k): float(output[0, k]) for k in range(output.shape[1])}
