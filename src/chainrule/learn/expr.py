"""A small expression tree for the formulas the learner tools print.

The ops and losses state their math as strings (``"out = 1 / (1 + exp(-net))"``,
``"dE/dout_k = 2 (out_k - target_k) / K"``). :mod:`chainrule.learn.parse` reads those
strings into this tree; :func:`bind` puts a neuron's names in place of ``net``, ``out``, ``net_k`` and
expands ``sum_k``; :func:`render` writes the tree as text or LaTeX, with every
quantity shown either by its name or by its number:

    net_h1 = w1*i1 + w2*i2 + b1*1 = 0.15*0.05 + 0.2*0.1 + 0.35*1

Nothing here computes a value: the numbers come from the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from chainrule.errors import FormulaError

__all__ = ["Expr", "Num", "Sym", "Add", "Mul", "Div", "Pow", "Neg", "Call", "Cond", "SumOver",
           "Indicator", "bind", "render", "format_number", "add", "mul"]


class Expr:
    """Base class of the tree's nodes (immutable)."""


@dataclass(frozen=True)
class Num(Expr):
    value: float


@dataclass(frozen=True)
class Sym(Expr):
    """A named quantity or constant; ``name`` is its ASCII name."""

    name: str


@dataclass(frozen=True)
class Add(Expr):
    """A sum; each term carries its sign (+1 or -1)."""

    terms: tuple[tuple[int, Expr], ...]


@dataclass(frozen=True)
class Mul(Expr):
    factors: tuple[Expr, ...]


@dataclass(frozen=True)
class Div(Expr):
    num: Expr
    den: Expr


@dataclass(frozen=True)
class Pow(Expr):
    base: Expr
    exponent: Expr


@dataclass(frozen=True)
class Neg(Expr):
    arg: Expr


@dataclass(frozen=True)
class Call(Expr):
    func: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Cond(Expr):
    """``then if left op right else other``."""

    then: Expr
    left: Expr
    op: str
    right: Expr
    other: Expr


@dataclass(frozen=True)
class SumOver(Expr):
    """``sum_k body``, before :func:`bind` expands it over a layer's neurons."""

    index: str
    body: Expr


@dataclass(frozen=True)
class Indicator(Expr):
    """``1[i=j]``: 1 when the two indices name the same neuron, else 0."""

    i: str
    j: str


def add(*terms: Expr) -> Expr:
    """The sum of ``terms`` (a single term is returned as is)."""
    return terms[0] if len(terms) == 1 else Add(tuple((1, t) for t in terms))


def mul(*factors: Expr) -> Expr:
    """The product of ``factors`` (a single factor is returned as is)."""
    return factors[0] if len(factors) == 1 else Mul(tuple(factors))


# ------------------------------------------------------------------ binding
def bind(expr: Expr, resolve: Callable[[str, Mapping[str, int]], Expr],
         ranges: Mapping[str, Sequence[int]], env: Mapping[str, int] | None = None) -> Expr:
    """Replace every symbol by ``resolve(name, env)`` and expand sums and indicators.

    ``env`` maps index letters to neuron positions; ``ranges[letter]`` lists the
    positions a ``sum_letter`` runs over.
    """
    env = dict(env or {})

    def walk(e: Expr) -> Expr:
        if isinstance(e, Sym):
            return resolve(e.name, env)
        if isinstance(e, Num):
            return e
        if isinstance(e, Indicator):
            return Num(1.0 if env[e.i] == env[e.j] else 0.0)
        if isinstance(e, SumOver):
            if e.index not in ranges:
                raise FormulaError(f"no range for the sum over {e.index!r}")
            return add(*(bind(e.body, resolve, ranges, {**env, e.index: k}) for k in ranges[e.index]))
        if isinstance(e, Add):
            return Add(tuple((s, walk(t)) for s, t in e.terms))
        if isinstance(e, Mul):
            return Mul(tuple(walk(f) for f in e.factors))
        if isinstance(e, Div):
            return Div(walk(e.num), walk(e.den))
        if isinstance(e, Pow):
            return Pow(walk(e.base), walk(e.exponent))
        if isinstance(e, Neg):
            return Neg(walk(e.arg))
        if isinstance(e, Call):
            return Call(e.func, tuple(walk(a) for a in e.args))
        if isinstance(e, Cond):
            return Cond(walk(e.then), walk(e.left), e.op, walk(e.right), walk(e.other))
        raise TypeError(f"unknown node {e!r}")

    return walk(expr)


# ------------------------------------------------------------------ rendering
_ADD, _MUL, _NEG, _POW, _ATOM = 1, 2, 3, 4, 5
_LATEX_FUNCTIONS = {"exp": r"\exp", "log": r"\log", "tanh": r"\tanh", "max": r"\max", "min": r"\min",
                    "sigmoid": r"\sigma", "Phi": r"\Phi", "phi": r"\phi", "abs": r"\mathrm{abs}"}
_LATEX_COMPARE = {">": ">", "<": "<", ">=": r"\geq", "<=": r"\leq", "==": "="}


def format_number(value: float, digits: int = 9) -> str:
    """A number with ``digits`` significant digits, no trailing zeros: 0.3775, 0.593269992."""
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return "0" if text == "-0" else text


def _precedence(e: Expr) -> int:
    if isinstance(e, (Add, Cond)):
        return _ADD
    if isinstance(e, (Mul, Div)):
        return _MUL
    if isinstance(e, Neg):
        return _NEG
    if isinstance(e, Pow):
        return _POW
    return _ATOM


def render(expr: Expr, style: str = "text", label: Callable[[str], str] | None = None,
           values: Mapping[str, float] | None = None, digits: int = 9) -> str:
    """Write ``expr`` as ``style`` "text" or "latex".

    Symbols are written as ``label(name)`` (default: the name itself), or, when
    ``values`` is given, as their numbers (negative numbers in parentheses).
    """
    latex = style == "latex"
    label = label or (lambda name: name)

    def number(value: float) -> str:
        text = format_number(value, digits)
        if latex and "e" in text:
            mantissa, exponent = text.split("e")
            text = rf"{mantissa} \times 10^{{{exponent}}}"
        return text

    def atom_for_value(value: float) -> tuple[str, int]:
        text = number(value)
        return text, (_NEG if value < 0 or "times" in text else _ATOM)

    def go(e: Expr) -> tuple[str, int]:
        if isinstance(e, Num):
            return atom_for_value(e.value)
        if isinstance(e, Sym):
            if values is not None and e.name in values:
                return atom_for_value(values[e.name])
            return label(e.name), _ATOM
        if isinstance(e, Add):
            parts = []
            for k, (sign, term) in enumerate(e.terms):
                text, prec = go(term)
                if prec <= _ADD or (prec == _NEG and (k > 0 or sign < 0)):
                    text = wrap(text)
                if k == 0:
                    parts.append(text if sign > 0 else "-" + text)
                else:
                    parts.append((" - " if sign < 0 else " + ") + text)
            return "".join(parts), _ADD
        if isinstance(e, Mul):
            parts = []
            for factor in e.factors:
                text, prec = go(factor)
                if prec < _MUL or prec == _NEG:
                    text = wrap(text)
                parts.append(text)
            return (r" \cdot " if latex else "*").join(parts), _MUL
        if isinstance(e, Div):
            num, num_prec = go(e.num)
            den, den_prec = go(e.den)
            if latex:
                return rf"\frac{{{num}}}{{{den}}}", _ATOM
            if num_prec < _MUL or (num_prec == _NEG and not isinstance(e.num, (Num, Sym))):
                num = wrap(num)
            if den_prec <= _MUL or den_prec == _NEG:
                den = wrap(den)
            return f"{num}/{den}", _MUL
        if isinstance(e, Pow):
            base, base_prec = go(e.base)
            exponent, _ = go(e.exponent)
            if base_prec < _ATOM or (latex and isinstance(e.base, Div)) or "^" in base:
                base = wrap(base)  # x_1^(3)^2 would be a double superscript
            return (f"{base}^{{{exponent}}}" if latex else f"{base}^{exponent}"), _POW
        if isinstance(e, Neg):
            text, prec = go(e.arg)
            if prec < _MUL or prec == _NEG:
                text = wrap(text)
            return "-" + text, _NEG
        if isinstance(e, Call):
            args = ", ".join(go(a)[0] for a in e.args)
            if latex:
                if e.func == "sqrt":
                    return rf"\sqrt{{{args}}}", _ATOM
                name = _LATEX_FUNCTIONS.get(e.func) or r"\mathrm{" + e.func + "}"
                return name + wrap(args), _ATOM
            return f"{e.func}({args})", _ATOM
        if isinstance(e, Cond):
            then, left, right, other = (go(x)[0] for x in (e.then, e.left, e.right, e.other))
            if latex:
                op = _LATEX_COMPARE[e.op]
                return rf"{then} \ \mathrm{{if}}\ {left} {op} {right}, \ \mathrm{{else}}\ {other}", _ADD
            return f"{then} if {left} {e.op} {right} else {other}", _ADD
        if isinstance(e, SumOver):
            body, prec = go(e.body)
            body = wrap(body) if prec <= _ADD else body
            return (rf"\sum_{{{e.index}}} {body}" if latex else f"sum_{e.index} {body}"), _MUL
        if isinstance(e, Indicator):
            return (rf"1_{{{e.i}={e.j}}}" if latex else f"1[{e.i}={e.j}]"), _ATOM
        raise TypeError(f"cannot render {e!r}")

    def wrap(text: str) -> str:
        return f"({text})"

    return go(expr)[0]
