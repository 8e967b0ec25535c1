"""Which known mistake is a wrong formula? An error model of the chain-rule derivation.

The right derivative dE/dq is the sum over paths from E back to q of the product of
each path's factors (``explain``). The usual mistakes are *mutations* of that sum: a path
left out or counted twice, a factor missing or extra, the wrong activation derivative, f'
taken at out instead of net, a softmax Jacobian cut to its diagonal, another neuron's or
another layer's quantity, the updated weights, the loss's 1/2 or 2, a flipped sign, or
another parameter's gradient altogether. Each mutation is evaluated at every point of a
:class:`~chainrule.learn.space.Space` (the sample and many random weights, inputs and
targets); a mistake is named only when its mutation equals the learner's formula at
*every* point, so a hint is never a numeric coincidence at one sample. When none does,
the answer is ``unknown``.

Keys (the JSON field ``"mistake"``): missing_paths, double_counted, missing_factor,
extra_factor, activation_derivative, derivative_at_output, softmax_diagonal, wrong_index,
wrong_layer, updated_weights, loss_scale, sign, other_quantity, unknown (plus circular
and parameter_as_function, decided before any number by :mod:`chainrule.learn.check`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from chainrule.learn.expr import Add, Div, Expr, Mul, Neg, Num, render
from chainrule.learn.naming import Names
from chainrule.ops import ACTIVATIONS

__all__ = ["Mistake", "diagnose", "KEYS", "same"]

KEYS = ("missing_paths", "double_counted", "missing_factor", "extra_factor", "activation_derivative",
        "derivative_at_output", "softmax_diagonal", "wrong_index", "wrong_layer", "updated_weights", "loss_scale",
        "sign", "other_quantity", "circular", "parameter_as_function", "unknown")
#: Seconds the search may take before it answers ``unknown``.
TIME_BUDGET = 3.0
_SQUARED_SCALES = {"half_squared_error": 1.0, "squared_error": 2.0, "mse": 2.0, "half_mse": 1.0}


@dataclass
class Mistake:
    """A named mistake: ``key`` (one of :data:`KEYS`), what it is in words, and details by name."""

    key: str
    text: str
    detail: dict[str, object] = field(default_factory=dict)


def same(a: np.ndarray, b: np.ndarray, rtol: float = 1e-6, scale: float | None = None) -> bool:
    """Equal at every point: finite, and within rtol of the larger or within 1e-9 of ``scale``.

    ``scale`` is the size of the quantity judged (default: the larger of the two), so two
    rounding residues of a sum that cancels to 0 count as equal.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return False
    if scale is None:
        scale = max(float(np.max(np.abs(b))), float(np.max(np.abs(a))))
    scale = max(scale, 1e-300)
    return bool(np.all(np.abs(a - b) <= 1e-9 * scale + rtol * np.maximum(np.abs(a), np.abs(b))))


class _Model:
    def __init__(self, names: Names, values: dict[str, np.ndarray], paths: list[tuple[str, ...]],
                 layers: list, loss_name: str, sizes: list[int]) -> None:
        self.names, self.values, self.paths, self.layers, self.loss_name, self.sizes = (
            names, values, paths, layers, loss_name, sizes)
        self.count = len(next(iter(values.values())))

    def v(self, name: str) -> np.ndarray:
        return self.values[name]

    def total(self, override: Callable[[int, int, str], np.ndarray | None] | None = None,
              keep: Callable[[int], bool] | None = None) -> np.ndarray:
        """The path sum, with factor values replaced where ``override(path, position, factor)`` says."""
        result = np.zeros(self.count)
        for k, path in enumerate(self.paths):
            if keep is not None and not keep(k):
                continue
            product = np.ones(self.count)
            for position, factor in enumerate(path):
                replaced = override(k, position, factor) if override else None
                product = product * (self.v(factor) if replaced is None else replaced)
            result = result + product
        return result

    def path_value(self, k: int) -> np.ndarray:
        return self.total(keep=lambda j: j == k)

    def parts(self, factor: str) -> tuple | None:
        try:
            return self.names.partial_parts(factor)
        except KeyError:
            return None


def _describe_path(model: _Model, k: int) -> str:
    names = model.names
    through = []
    for factor in model.paths[k]:
        parts = model.parts(factor)
        if parts and parts[0].kind in ("out", "net") and parts[0].layer:
            label = names.neuron(parts[0].layer, parts[0].index[0])
            if label not in through:
                through.append(label)
    chain = "*".join(names.text(f) for f in model.paths[k])
    return f"the path through {', '.join(through) or 'q'} ({chain})"


def _terms(e: Expr, sign: int = 1) -> list[tuple[int, str]]:
    if isinstance(e, Add):
        return [t for s, term in e.terms for t in _terms(term, sign * s)]
    if isinstance(e, Neg):
        return _terms(e.arg, -sign)
    return [(sign, render(e))]


def _duplicated(tree: Expr) -> bool:
    terms = _terms(tree)
    return len(terms) != len(set(terms))


def _explicit_scale(tree: Expr) -> bool:
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Num) and node.value in (2.0, 0.5):
            return True
        if isinstance(node, Add):
            stack.extend(t for _, t in node.terms)
        elif isinstance(node, Mul):
            stack.extend(node.factors)
        elif isinstance(node, Div):
            stack.extend((node.num, node.den))
        elif isinstance(node, Neg):
            stack.append(node.arg)
    return False


def _derivative_factors(model: _Model) -> dict[str, tuple[int, int]]:
    """Elementwise f' factors (dout_X/dnet_X) on the paths -> (layer, j)."""
    found = {}
    for path in model.paths:
        for factor in path:
            parts = model.parts(factor)
            if (parts and parts[0].kind == "out" and parts[1].kind == "net" and parts[0].layer == parts[1].layer
                    and parts[0].index == parts[1].index and model.layers[parts[0].layer - 1].elementwise):
                found[factor] = (parts[0].layer, parts[0].index[0])
    return found


def _variants(model: _Model, layer: int, j: int) -> Iterator[tuple[str, str, np.ndarray]]:
    """(key, words, values) of the wrong derivatives a learner writes for neuron (layer, j)."""
    names = model.names
    own = model.layers[layer - 1]
    net, out = model.v(names.net(layer, j)), model.v(names.out(layer, j))
    attrs = own.attrs
    with np.errstate(all="ignore"):
        op = own.op
        yield ("derivative_at_output", f"{own.activation}'({names.text(names.out(layer, j))}): the derivative "
               f"taken at the output, where it belongs at the net input {names.text(names.net(layer, j))}",
               op.derivative(out, op.forward(out, **attrs), **attrs))
        for other in ("sigmoid", "tanh", "relu", "identity"):
            act = ACTIVATIONS[other]
            label = {"sigmoid": "out*(1 - out)", "tanh": "1 - out^2", "relu": "1 if net > 0 else 0",
                     "identity": "1"}[other]
            yield ("activation_derivative", f"{other}' ({label}) used for a {own.activation} unit",
                   act.derivative(net, out))
            yield ("activation_derivative", f"{other}'({names.text(names.net(layer, j))}) used for a "
                   f"{own.activation} unit", act.derivative(net, act.forward(net)))
        yield ("activation_derivative", "1 - tanh (no square) where tanh' = 1 - tanh^2 belongs"
               if own.activation == "tanh" else "1 - out as the derivative", 1 - out)
        yield ("activation_derivative", "1 - tanh(net) (no square) as the derivative", 1 - np.tanh(net))


def _search(model: _Model, wrt: str, target: str, got: np.ndarray, tree: Expr,
            truth: np.ndarray) -> Iterator[tuple[Mistake, np.ndarray]]:
    names, v = model.names, model.v
    entry = names.entries[target]
    total = truth
    n = len(model.paths)
    # another quantity of the same kind
    if entry.kind == "grad":
        kind = names.entries[wrt].kind  # a bias's gradient is its neuron's delta: weights compared with weights
        others = [names.grad(p) for p in names.parameters()
                  if names.grad(p) != target and names.entries[p].kind == kind]
    elif entry.kind == "delta":
        others = [names.delta(lay, j) for lay in range(1, names.L + 1) for j in range(names.sizes[lay])]
    else:
        others = [names.dE_dout(lay, j) for lay in range(1, names.L + 1) for j in range(names.sizes[lay])]
    for other in others:
        if other != target and other in model.values:
            yield Mistake("other_quantity", f"the formula is {names.text(other)}, not {names.text(target)}",
                          {"equals": names.text(other)}), v(other)
    yield Mistake("sign", "the sign is flipped: dE/dout is (out - target) for squared errors, not (target - out); "
                  "the minus of gradient descent belongs to the update, not to the gradient"), -total
    # the softmax Jacobian cut to its diagonal
    off = [k for k, path in enumerate(model.paths) if any(
        (p := model.parts(f)) and p[0].kind == "out" and p[1].kind == "net" and p[0].index != p[1].index
        for f in path)]
    if off:
        yield Mistake("softmax_diagonal", "only the diagonal of the softmax Jacobian is used: dout_i/dnet_j = "
                      "out_i*(1[i=j] - out_j) is not 0 for i != j, so every net input reaches every output",
                      {"paths_left_out": len(off)}), model.total(keep=lambda k: k not in off)
    # paths left out or counted twice
    sizes = range(1, n) if n <= 8 else (1, 2)
    path_values = [model.path_value(k) for k in range(n)]
    for size in sizes:
        for subset in itertools.combinations(range(n), size):
            part = sum(path_values[k] for k in subset)
            described = "; ".join(_describe_path(model, k) for k in subset)
            yield Mistake("missing_paths", f"a term of the chain-rule sum is missing: {size} of the {n} paths "
                          f"from E back to {names.text(wrt)} {'is' if size == 1 else 'are'} left out: {described}",
                          {"paths": [k + 1 for k in subset]}), total - part
            yield Mistake("double_counted", f"{size} of the {n} paths {'is' if size == 1 else 'are'} counted "
                          f"twice: {described}", {"paths": [k + 1 for k in subset]}), total + part
    # all paths twice, or the loss's scale
    if _duplicated(tree):
        yield Mistake("double_counted", f"every path is counted twice: the sum repeats the same terms (each path "
                      f"from E to {names.text(wrt)} passes each node once, so each term belongs once)",
                      {"paths": list(range(1, n + 1))}), 2 * total
    if model.loss_name in _SQUARED_SCALES:
        mine = _SQUARED_SCALES[model.loss_name]
        k_out = names.sizes[-1]
        coefficient = {"half_squared_error": 1.0, "squared_error": 2.0, "mse": 2.0 / k_out, "half_mse": 1.0 / k_out}
        for other, theirs in coefficient.items():
            ratio = theirs / coefficient[model.loss_name]
            if ratio != 1 and (ratio not in (2.0, 0.5) or _explicit_scale(tree) or ratio == 0.5):
                if model.loss_name == "half_squared_error" and ratio == 2:
                    why = ("with E = 1/2 sum (target - out)^2 the 2 from differentiating the square is cancelled "
                           "by the 1/2, so dE/dout = out - target")
                elif model.loss_name == "squared_error" and ratio == 0.5:
                    why = ("E = sum (target - out)^2 has no 1/2, so the 2 from differentiating the square stays: "
                           "dE/dout = 2(out - target)")
                else:
                    why = f"the formula has the dE/dout of {other}, the loss here is {model.loss_name}"
                shown = {0.5: "1/2"}.get(ratio, f"{ratio:g}")
                yield Mistake("loss_scale", f"a factor {shown} from the loss: {why}",
                              {"factor": ratio, "as_if": other}), total * ratio
        del mine
    # a factor of the chain missing
    factors = list(dict.fromkeys(f for path in model.paths for f in path))
    for factor in factors:
        yield Mistake("missing_factor", f"the factor {names.text(factor)} is missing",
                      {"factor": names.text(factor)}), model.total(lambda k, pos, f, x=factor: 1.0 if f == x else None)
    # wrong activation derivatives
    derivatives = _derivative_factors(model)
    groups: dict[str, list[str]] = {}
    for factor, (layer, _j) in derivatives.items():
        groups.setdefault(f"{layer}", []).append(factor)
    scopes = [[f] for f in derivatives] + [g for g in groups.values() if len(g) > 1]
    if len(groups) > 1:
        scopes.append(list(derivatives))
    for scope in scopes:
        per_factor = {f: list(_variants(model, *derivatives[f])) for f in scope}
        for index in range(len(per_factor[scope[0]])):
            key, words, _ = per_factor[scope[0]][index]
            replaced = {f: per_factor[f][index][2] for f in scope}
            where = ", ".join(names.neuron(*derivatives[f]) for f in scope)
            belongs = model.layers[derivatives[scope[0]][0] - 1].activation
            text = f"{words} (at {where})" if key == "derivative_at_output" else (
                f"{words} at {where}; {belongs}' belongs there")
            mutated = model.total(lambda k, pos, f, r=replaced: r.get(f))
            yield Mistake(key, text, {"at": where, "used": words, "belongs": belongs + "'"}), mutated
    # another neuron's or another layer's quantity, updated weights
    for factor in factors:
        parts = model.parts(factor)
        if parts is None:
            continue
        num, den = parts
        candidates: list[tuple[str, str, str]] = []
        if num.kind == "net" and den.kind in ("out", "input"):  # the weight on the link
            weight = names.entries[names.weight(num.layer, den.index[0], num.index[0])]
            for other in names.available(["weight"]):
                e = names.entries[other]
                if other == weight.ascii:
                    continue
                transposed = (e.layer == weight.layer and e.index == weight.index[::-1])
                key = "wrong_index" if e.layer == weight.layer else "wrong_layer"
                how = "transposed indices" if transposed else ("another neuron's weight" if key == "wrong_index"
                                                               else "a weight of another layer")
                candidates.append((key, f"{names.text(other)} where {names.text(weight.ascii)} belongs ({how})",
                                   other))
            candidates.append(("updated_weights", f"the updated weight {names.text(names.new(weight.ascii))} "
                               f"where {names.text(weight.ascii)} belongs: the backward pass uses the weights of "
                               "the forward pass", names.new(weight.ascii)))
        elif num.kind == "net" and den.kind == "weight":  # the input on the link
            right = names.out(den.layer - 1, den.index[0])
            for lay in range(0, names.L + 1):
                for j in range(names.sizes[lay]):
                    other = names.out(lay, j)
                    if other == right:
                        continue
                    key = "wrong_index" if lay == den.layer - 1 else "wrong_layer"
                    candidates.append((key, f"{names.text(other)} where {names.text(right)} belongs "
                                       f"(dnet/dw is the input the weight multiplies)", other))
        elif factor in derivatives:
            for other, (lay, _j) in _all_derivatives(model).items():
                if other == factor:
                    continue
                key = "wrong_index" if lay == num.layer else "wrong_layer"
                candidates.append((key, f"{names.text(other)} where {names.text(factor)} belongs", other))
        for key, words, other in candidates:
            if other in model.values:
                yield Mistake(key, words, {"used": names.text(other)}), model.total(
                    lambda k, pos, f, x=factor, o=other: v(o) if f == x else None)
    # all weights of the backward pass updated (or one layer's)
    links = [f for f in factors if (p := model.parts(f)) and p[0].kind == "net" and p[1].kind in ("out", "input")]
    if links:
        def new_of(f: str) -> str:
            num, den = model.parts(f)
            return names.new(names.weight(num.layer, den.index[0], num.index[0]))

        yield Mistake("updated_weights", "the updated weights (w+) are used in the backward pass; backprop uses "
                      "the weights of the forward pass", {}), model.total(
            lambda k, pos, f: v(new_of(f)) if f in links else None)
        link_layers = sorted({model.parts(f)[0].layer for f in links})
        for lay in link_layers:  # every weight of a layer with its indices swapped: w_kj for w_jk
            def swapped(k: int, pos: int, f: str, lay: int = lay) -> np.ndarray | None:
                if f not in links or model.parts(f)[0].layer != lay:
                    return None
                num, den = model.parts(f)
                return v(names.weight(lay, num.index[0], den.index[0]))

            if names.sizes[lay] == names.sizes[lay - 1]:
                yield Mistake("wrong_index", f"the weights of layer {lay} with their indices swapped (w_kj where "
                              "w_jk belongs: the weight from j to k is the one the backward message uses)",
                              {"layer": lay}), model.total(swapped)
        for lay in link_layers if len(link_layers) > 1 else ():
            yield Mistake("updated_weights", f"the updated weights of layer {lay} (w+) are used in the backward "
                          "pass; backprop uses the weights of the forward pass", {"layer": lay}), model.total(
                lambda k, pos, f, lay=lay: v(new_of(f)) if f in links and model.parts(f)[0].layer == lay else None)
        # a weight index dropped: the same source neuron's weight on every path (seed-style w_oj without i)
        for layer in sorted({model.parts(f)[0].layer for f in links}):
            for source in range(names.sizes[layer - 1]):
                def fixed(k: int, pos: int, f: str, lay: int = layer, s: int = source) -> np.ndarray | None:
                    if f not in links or model.parts(f)[0].layer != lay:
                        return None
                    return v(names.weight(lay, s, model.parts(f)[0].index[0]))

                first = names.text(names.weight(layer, source, 0))
                yield Mistake("wrong_index", f"the weight's index for the neuron below is missing: every path uses "
                              f"the weights out of {names.neuron(layer - 1, source)} ({first}, ...) instead of the "
                              "weights out of the neuron the path passes", {}), model.total(fixed)
    # the deltas of another layer (a two-layer formula used in a deeper network)
    yield from _delta_layer_mutations(model, wrt, target)
    # one factor too many, or a part of a factor missing
    quantities = [q for q in names.available(["input", "net", "out", "target", "weight", "bias", "delta"])]
    for q in quantities + factors:
        yield Mistake("extra_factor", f"one factor too many: {names.text(q)}", {"factor": names.text(q)}), total * v(q)
    for q in quantities:
        with np.errstate(all="ignore"):
            yield Mistake("missing_factor", f"the factor {names.text(q)} is missing",
                          {"factor": names.text(q)}), total / v(q)


def _all_derivatives(model: _Model) -> dict[str, tuple[int, int]]:
    names, found = model.names, {}
    for layer in range(1, names.L + 1):
        if not model.layers[layer - 1].elementwise:
            continue
        for j in range(names.sizes[layer]):
            factor = names.partial(names.out(layer, j), names.net(layer, j))
            if factor in model.values:
                found[factor] = (layer, j)
    return found


def _delta_layer_mutations(model: _Model, wrt: str, target: str) -> Iterator[tuple[Mistake, np.ndarray]]:
    names, v = model.names, model.v
    entry = names.entries[wrt]
    if entry.kind == "weight":
        layer, j, below = entry.layer, entry.index[1], names.out(entry.layer - 1, entry.index[0])
    elif entry.kind == "net":
        layer, j, below = entry.layer, entry.index[0], None
    else:
        return
    if layer >= names.L or not model.layers[layer - 1].elementwise:
        return
    fprime = v(names.partial(names.out(layer, j), names.net(layer, j)))
    for other in range(layer + 2, names.L + 1):
        if names.sizes[other] < names.sizes[layer + 1]:
            continue
        message = sum(v(names.delta(other, k)) * v(names.weight(layer + 1, j, k))
                      for k in range(names.sizes[layer + 1]))
        mutated = message * fprime * (v(below) if below else 1.0)
        yield Mistake("wrong_layer", f"the deltas of layer {other} ({names.text(names.delta(other, 0))}, ...) where "
                      f"those of the layer right above belong ({names.text(names.delta(layer + 1, 0))}, ...): a "
                      "formula for two layers used unchanged in a deeper network", {"used_layer": other}), mutated


def diagnose(names: Names, values: dict[str, np.ndarray], paths: list[tuple[str, ...]], layers: list,
             loss_name: str, wrt: str, target: str, got: np.ndarray, tree: Expr, rtol: float = 1e-6,
             budget: float = TIME_BUDGET) -> Mistake:
    """The first mistake of the error model that equals ``got`` at every point, else ``unknown``."""
    model = _Model(names, values, paths, layers, loss_name, names.sizes)
    truth = values[target]
    scale = float(np.max(np.abs(truth))) if truth.size else None
    start = time.perf_counter()
    for mistake, mutated in _search(model, wrt, target, got, tree, truth):
        if time.perf_counter() - start > budget:
            break
        mutated = np.asarray(mutated, dtype=float) * np.ones(model.count)
        if same(mutated, truth, rtol, scale):
            continue  # not a mistake here: this mutation changes nothing on this network
        if same(got, mutated, rtol, scale):
            return mistake
    if same(got, np.zeros_like(got), rtol, scale) and not same(truth, np.zeros_like(truth), rtol):
        return Mistake("unknown", "the formula is 0 for all weights and inputs (its terms cancel), and no known "
                       "mistake of the chain rule explains it")
    return Mistake("unknown", "no known mistake of the chain rule (a left-out or repeated path, a missing or "
                   "extra factor, a wrong derivative, index or layer, updated weights, the loss's scale, the "
                   "sign) gives this formula")
