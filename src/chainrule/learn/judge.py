"""Resolve a formula's names against a network and evaluate it at every point of a :class:`Space`.

Names a learner may write, besides every name that ``trace`` and ``explain`` print
(their ASCII and text forms) and their own aliases:

* a neuron's label for its output: ``h1`` is out_h1, ``o2`` is out_o2 (seed-style
  diagrams label neurons by their output);
* Leibniz partials ``dA/dB`` (also ``dA_dB``): ``dE/dw1``, ``dE_total/dout_h1``,
  ``dout_h1/dnet_h1``, ``dnet_h1/dw1``, ``do2/dw7``; ``dE_o1/dw1`` and ``dE_j1/dw1`` are the
  parts of E that reach w1 through o1 and through j1;
* ``sigma'(x)``, ``tanh'(x)``, ``relu'(x)`` (those functions' derivatives) and ``theta'(s)``
  / ``f'(s)`` (the derivative of the activation of the neuron whose net input s is);
* ``sum_k body`` / ``sum(body, k)``: k runs over the neurons of the layer for which every
  name in the body exists (``delta_ok`` -> delta_o1, delta_o2), ``1_{i=j}`` the indicator.

Subscripts may be written with underscores or braces as LaTeX gives them
(``w_1`` = w1, ``out_{h_1}`` = out_h1, ``w_{h1,o1}`` = the weight from h1 to o1).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from chainrule.errors import FormulaError
from chainrule.learn.expr import Add, Call, Div, Expr, Indicator, Mul, Neg, Num, Pow, SumOver, Sym
from chainrule.learn.formula import PRIMED, float_function, nodes, read_formula
from chainrule.learn.naming import Entry, Names
from chainrule.learn.space import Space

__all__ = ["Resolver", "Usage", "evaluate", "MAX_TERMS"]

#: Most terms the sums of one formula may expand to (nested sums multiply).
MAX_TERMS = 20_000

_TOTAL = {"E", "E_total", "Etotal", "E_tot", "Etot", "e", "L", "C", "Loss", "E_Total", "ew", "e_w"}


@dataclass
class Usage:
    """What a formula refers to: quantities by ASCII name, partials, parameters written as functions."""

    names: set[str] = field(default_factory=set)
    partials: list[tuple[str, str]] = field(default_factory=list)
    parameter_functions: list[tuple[str, str]] = field(default_factory=list)
    error_partials: set[str] = field(default_factory=set)


class Resolver:
    """Every spelling of a network's names, and their values at the points of a space."""

    def __init__(self, names: Names, space: Space | None = None, aliases: Mapping[str, str] | None = None) -> None:
        self.names = names
        self.space = space
        self.known = {s: a for s, a in names.spellings().items()}
        collisions = []
        for alias, quantity in (aliases or {}).items():
            if quantity not in self.known:
                raise FormulaError(f"alias {alias!r} names {quantity!r}, which is not a quantity; "
                                   f"names available: {', '.join(names.available())}")
            if alias in self.known and self.known[alias] != self.known[quantity]:
                collisions.append(alias)
            self.known[alias] = self.known[quantity]
        self.collisions = collisions
        self.labels: dict[str, str] = {}
        self.neurons: dict[str, tuple[int, int]] = {}
        for layer in range(1, names.L + 1):
            for j in range(names.sizes[layer]):
                label = names.neuron(layer, j)
                self.neurons[label] = (layer, j)
                if re.fullmatch(r"\w+", label):
                    self.labels[label] = names.out(layer, j)
        for layer in range(1, names.L + 1):  # w_{h1,o1}: the weight from h1 to o1
            for j in range(names.sizes[layer]):
                for i in range(names.sizes[layer - 1]):
                    src = names.neuron(layer - 1, i) if layer > 1 or names.scheme != "layer" else f"x{i + 1}"
                    self.known.setdefault(f"w_{{{src},{names.neuron(layer, j)}}}", names.weight(layer, i, j))
                    self.known.setdefault(f"w_{src}{names.neuron(layer, j)}", names.weight(layer, i, j))
        self.usage = Usage()
        self._cache: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------ spellings
    def available(self) -> str:
        return f"names available: {', '.join(self.names.available())}"

    def quantity(self, name: str) -> str | None:
        """The ASCII name ``name`` spells, or None."""
        for candidate in (name, name.replace("{", "").replace("}", ""),
                          re.sub(r"(?<=[A-Za-z])_(?=\d)", "", name.replace("{", "").replace("}", "")),
                          re.sub(r"_([a-z])_(\d)", r"_\1\2", name.replace("{", "").replace("}", ""))):
            if candidate in self.known:
                return self.known[candidate]
            if candidate in self.labels:
                return self.labels[candidate]
        return None

    def _through(self, name: str) -> tuple[int, int] | None:
        match = re.fullmatch(r"E_?\{?(\w+?)\}?", name)
        if match:
            label = re.sub(r"(?<=[A-Za-z])_(?=\d)", "", match.group(1))
            return self.neurons.get(label)
        return None

    def partial_kind(self, a: str, b: str) -> str | None:
        """"total", "through", "node", "parameter" for a readable partial d``a``/d``b``; None otherwise."""
        den = self.quantity(b)
        if den is None or Space.node_of(self.names.entries[den]) is None:
            return None
        if a in _TOTAL or self.quantity(a) == self.names.total:
            return "total"
        if self._through(a) is not None:
            return "through"
        num = self.quantity(a)
        if num is None:
            return None
        kind = self.names.entries[num].kind
        if kind in ("weight", "bias"):
            return "parameter"
        return "node" if Space.node_of(self.names.entries[num]) is not None else None

    def is_partial(self, a: str, b: str) -> bool:
        if self.partial_kind(a, b) is not None:
            return True
        # An index letter inside a sum (dE/dnet_hk): readable once the letter is a number.
        a1, b1 = (re.sub(r"(?<=[_A-Za-z])[ijklmn]\b", "1", s) for s in (a, b))
        return (a1, b1) != (a, b) and self.partial_kind(a1, b1) is not None

    # ------------------------------------------------------------ values
    def value(self, name: str) -> np.ndarray:
        """The values of a resolved name (ASCII name or partial ``dA/dB``) at every point."""
        if name in self._cache:
            return self._cache[name]
        assert self.space is not None
        if "/" in name:
            a, b = name[1:].split("/d", 1)
            kind = self.partial_kind(a, b)
            den = self.names.entries[self.quantity(b)]
            node = Space.node_of(den)
            if kind == "total":
                result = self.space.error_partial(node)
            elif kind == "through":
                result = self.space.error_partial(node, self._through(a))
            elif kind == "parameter":
                result = np.zeros(self.space.count)
            else:
                result = self.space.node_partial(Space.node_of(self.names.entries[self.quantity(a)]), node)
        else:
            result = self.space.values[name]
        self._cache[name] = result
        return result

    def resolve(self, name: str, env: Mapping[str, str]) -> str:
        """The ASCII name (or canonical partial) of ``name`` with index letters set by ``env``; records usage."""
        written = _substitute(name, env)
        if written.startswith("d") and "/d" in written:
            a, b = written[1:].split("/d", 1)
            kind = self.partial_kind(a, b)
            if kind is None:
                raise FormulaError(f"cannot read the partial derivative d{a}/d{b}: both must be quantities; "
                                   + self.available())
            den = self.quantity(b)
            if kind == "parameter":
                self.usage.parameter_functions.append((self.quantity(a), den))
            elif kind == "total":
                self.usage.error_partials.add(den)
            self.usage.partials.append((a, den))
            canonical = f"d{a if kind != 'node' else self.quantity(a)}/d{den}"
            return canonical if kind != "total" else f"dE/d{den}"
        quantity = self.quantity(written)
        if quantity is None and re.fullmatch(r"d\w+", written):
            for cut in [m.start() for m in re.finditer("_d", written)]:
                a, b = written[1:cut], written[cut + 2:]
                if self.partial_kind(a, b) is not None:
                    return self.resolve(f"d{a}/d{b}", {})
        if quantity is None:
            raise FormulaError(f"unknown name {name!r}; {self.available()}")
        self.usage.names.add(quantity)
        return quantity

    def resolvable(self, name: str, env: Mapping[str, str]) -> bool:
        try:
            saved = self.usage
            self.usage = Usage()
            self.resolve(name, env)
            return True
        except FormulaError:
            return False
        finally:
            self.usage = saved

    def read(self, formula: str) -> Expr:
        """The formula's tree (budgets checked), Leibniz partials recognised."""
        return read_formula(formula, self.is_partial)


def _substitute(name: str, env: Mapping[str, str]) -> str:
    """Put each bound index letter's value into a name's subscripts (after the first underscore)."""
    if not env:
        return name
    parts = name.split("/d") if name.startswith("d") and "/d" in name else [name]
    out = []
    for part in parts:
        # bracket indices count from 0 as in Python (the lecture notes' wb[j][k]); a sum's k counts from 1
        part = re.sub(r"\[([a-z])\]", lambda m: f"[{int(env[m.group(1)]) - 1}]"
                      if env.get(m.group(1), "").isdigit() else m.group(), part)
        head, sep, tail = part.partition("_")
        if not sep and len(part) == 1 and part in env:
            out.append(env[part])
            continue
        if not sep:
            out.append(part)
            continue
        tail = re.sub("[" + "".join(env) + "]", lambda m: env[m.group()], tail)
        out.append(head + sep + tail)
    return "/d".join(out)


def _letters(e: Expr) -> set[str]:
    return {node.name for node in nodes(e) if isinstance(node, Sym)}


def _inner_indices(e: Expr) -> set[str]:
    return {node.index for node in nodes(e) if isinstance(node, SumOver)}


_KRONECKER = re.compile(r"delta_\{?([a-z0-9]),?([a-z0-9])\}?")


def kronecker(resolver: Resolver, name: str) -> tuple[str, str] | None:
    """Kronecker's ``delta_ij`` (also ``delta_{i,j}``, ``delta_i1``) as the indicator 1_{i=j}, or None.

    A name is Kronecker's delta only when no neuron's delta is meant: with its index letters
    set to any neuron (``delta_jk`` is neuron k of layer j in Mazur's extended names), it
    names no quantity.
    """
    cache = resolver.__dict__.setdefault("_kronecker", {})
    if name in cache:
        return cache[name]
    match = _KRONECKER.fullmatch(name)
    pair = None
    if match and match.group(1) != match.group(2) and any(c in "ijklmn" for c in match.groups()):
        letters = sorted({c for c in match.groups() if c in "ijklmn"})
        fillers = ["1"] + [resolver.names.neuron(layer, 0) for layer in range(1, resolver.names.L + 1)]
        subsets = [letters[:k] + letters[k + 1:] for k in range(len(letters))] + [letters] if len(letters) > 1 \
            else [letters]
        if not any(resolver.resolvable(name, dict(zip(subset, combo)))
                   for subset in subsets for combo in itertools.product(fillers, repeat=len(subset))):
            pair = (match.group(1), match.group(2))
    cache[name] = pair
    return pair


def _sum_range(resolver: Resolver, index: str, body: Expr, env: Mapping[str, str]) -> list[str]:
    """The values ``index`` takes: numbers or labels of the largest layer for which every name resolves."""
    names = resolver.names
    written = [n for n in _letters(body) if (index in n.partition("_")[2] or n == index
               or ("/d" in n and index in n) or f"[{index}]" in n) and kronecker(resolver, n) is None]
    inner = sorted(_inner_indices(body) - set(env) - {index})
    fillers = ["1"] + [names.neuron(layer, 0) for layer in range(1, names.L + 1)]

    def resolvable(name: str, bound: Mapping[str, str]) -> bool:
        free = [letter for letter in inner if letter in name.partition("_")[2]][:2]
        return any(resolver.resolvable(name, {**bound, **dict(zip(free, combo))})
                   for combo in itertools.product(fillers, repeat=len(free)))

    best: list[str] | None = None
    for layer in range(0, names.L + 1):
        size = names.sizes[layer]
        for form in ("number", "label"):
            if form == "label" and (names.scheme == "layer" or layer == 0 and False):
                continue
            values = [str(v + 1) if form == "number" else names.neuron(layer, v) for v in range(size)]
            if all(resolvable(n, {**env, index: v}) for v in values for n in written):
                if best is None or len(values) > len(best):
                    best = values
    if best is None:
        raise FormulaError(f"cannot tell which neurons sum_{index} runs over: no layer has every name in its body "
                           f"({', '.join(sorted(written)) or 'none'}); {resolver.available()}")
    return best


def evaluate(e: Expr, resolver: Resolver, env: Mapping[str, str] | None = None) -> np.ndarray:
    """The formula's values at every point of the resolver's space (NaN where undefined)."""
    env = dict(env or {})
    resolver.terms = 0
    with np.errstate(all="ignore"):
        values = np.asarray(_eval(e, resolver, env), dtype=float) * np.ones(resolver.space.count)
    values[~np.isfinite(values)] = np.nan  # beyond floating point or undefined there
    return values


def _eval(e: Expr, resolver: Resolver, env: dict[str, str]) -> np.ndarray | float:
    if isinstance(e, Num):
        return e.value
    if isinstance(e, Sym):
        pair = kronecker(resolver, e.name)
        if pair is not None:
            return 1.0 if env.get(pair[0], pair[0]) == env.get(pair[1], pair[1]) else 0.0
        return resolver.value(resolver.resolve(e.name, env))
    if isinstance(e, Indicator):
        a, b = env.get(e.i, e.i), env.get(e.j, e.j)
        return 1.0 if a == b else 0.0
    if isinstance(e, SumOver):
        total: np.ndarray | float = 0.0
        values = _sum_range(resolver, e.index, e.body, env)
        resolver.terms = getattr(resolver, "terms", 0) + len(values)
        if resolver.terms > MAX_TERMS:
            raise FormulaError(f"the sums expand to more than {MAX_TERMS} terms; write fewer nested sums")
        for value in values:
            total = total + _eval(e.body, resolver, {**env, e.index: value})
        return total
    if isinstance(e, Add):
        total = 0.0
        for sign, term in e.terms:
            total = total + sign * _eval(term, resolver, env)
        return total
    if isinstance(e, Mul):
        product: np.ndarray | float = 1.0
        for factor in e.factors:
            product = product * _eval(factor, resolver, env)
        return product
    if isinstance(e, Div):
        return np.divide(_eval(e.num, resolver, env), _eval(e.den, resolver, env))
    if isinstance(e, Pow):
        return np.power(np.asarray(_eval(e.base, resolver, env), dtype=float), _eval(e.exponent, resolver, env))
    if isinstance(e, Neg):
        return -_eval(e.arg, resolver, env)
    if isinstance(e, Call):
        if e.func in ("theta", "f", "theta'", "f'"):
            return _own_activation(e, resolver, env)
        return float_function(e.func)(*(np.asarray(_eval(a, resolver, env), dtype=float) for a in e.args))
    raise TypeError(f"unknown node {e!r}")


def _own_activation(e: Expr, resolver: Resolver, env: dict[str, str]) -> np.ndarray:
    """theta(s) / f(s): the neuron's own activation (its out); theta'(s) / f'(s): its dout/dnet."""
    names = resolver.names
    arg = e.args[0] if len(e.args) == 1 else None
    entry: Entry | None = None
    if isinstance(arg, Sym):
        name = resolver.resolve(arg.name, env)
        entry = names.entries.get(name)
    if entry is None or entry.kind != "net":
        raise FormulaError(f"{e.func}(...) is the activation of the neuron whose net input is its argument; "
                           f"write it of a net input such as {names.net(1, 0)}")
    out = names.out(entry.layer, entry.index[0])
    if e.func in ("theta", "f"):
        return resolver.value(out)
    return resolver.value(names.partial(out, entry.ascii))


assert set(PRIMED) >= {"theta'", "f'"}
