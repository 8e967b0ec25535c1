"""A small expression tree for the formulas the learner tools print.

The ops and losses state their math as strings (``"out = 1 / (1 + exp(-net))"``,
``"dE/dout_k = 2 (out_k - target_k) / K"``). :func:`parse` reads those strings into
a tree; :func:`bind` puts a neuron's names in place of ``net``, ``out``, ``net_k`` and
expands ``sum_k``; :func:`render` writes the tree as text or LaTeX, with every
quantity shown either by its name or by its number:

    net_h1 = w1*i1 + w2*i2 + b1*1 = 0.15*0.05 + 0.2*0.1 + 0.35*1

Nothing here computes a value: the numbers come from the engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from chainrule.errors import FormulaError

__all__ = ["Expr", "Num", "Sym", "Add", "Mul", "Div", "Pow", "Neg", "Call", "Cond", "SumOver",
           "Indicator", "parse", "bind", "render", "format_number", "add", "mul"]


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


# ------------------------------------------------------------------ parsing
FUNCTIONS = {"exp", "log", "tanh", "max", "min", "sqrt", "sigmoid", "Phi", "phi", "abs"}
_TOKEN = re.compile(r"""\s*(?:
    (?P<ind>1\[(?P<i>[a-z])=(?P<j>[a-z])\])
  | (?P<num>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<sum>sum_(?P<index>[a-z])\b)
  | (?P<name>[A-Za-z][A-Za-z0-9_]*)
  | (?P<op>\*\*|>=|<=|==|[-+*/^(),<>\[\]])
)""", re.VERBOSE)
_KEYWORDS = {"if", "else"}


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise FormulaError(f"cannot read formula {text!r} at {text[pos:pos + 10]!r}")
        pos = match.end()
        kind = match.lastgroup if match.lastgroup not in ("i", "j", "index") else None
        if match.group("ind"):
            tokens.append(("ind", match.group("i") + match.group("j")))
        elif match.group("sum"):
            tokens.append(("sum", match.group("index")))
        elif match.group("name"):
            word = match.group("name")
            tokens.append(("kw" if word in _KEYWORDS else "name", word))
        else:
            tokens.append((kind or "op", match.group(kind or "op")))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise FormulaError(f"cannot read formula {self.text!r}: expected {value or 'more'}, got "
                               f"{token[1] if token else 'the end'}")
        self.pos += 1
        return token

    def at(self, *values: str) -> bool:
        token = self.peek()
        return token is not None and token[0] in ("op", "kw") and token[1] in values

    def expression(self) -> Expr:
        then = self.additive()
        if not self.at("if"):
            return then
        self.take("if")
        left = self.additive()
        op = self.take()[1]
        if op not in (">", "<", ">=", "<=", "=="):
            raise FormulaError(f"cannot read formula {self.text!r}: expected a comparison, got {op}")
        right = self.additive()
        self.take("else")
        return Cond(then, left, op, right, self.expression())

    def additive(self) -> Expr:
        terms: list[tuple[int, Expr]] = []
        sign = 1
        if self.at("-"):
            self.take()
            sign = -1
        terms.append((sign, self.term()))
        while self.at("+", "-"):
            sign = 1 if self.take()[1] == "+" else -1
            terms.append((sign, self.term()))
        if len(terms) == 1:
            sign, term = terms[0]
            return term if sign == 1 else Neg(term)
        return Add(tuple(terms))

    def _starts_primary(self) -> bool:
        token = self.peek()
        if token is None:
            return False
        return token[0] in ("num", "name", "sum", "ind") or (token[0] == "op" and token[1] in ("(", "["))

    def term(self) -> Expr:
        result = self.unary()
        while True:
            if self.at("*"):
                self.take()
                result = _times(result, self.unary())
            elif self.at("/"):
                self.take()
                result = Div(result, self.unary())
            elif self._starts_primary():  # juxtaposition: "2 (out - target)"
                result = _times(result, self.unary())
            else:
                return result

    def unary(self) -> Expr:
        if self.at("-"):
            self.take()
            return Neg(self.unary())
        base = self.primary()
        if self.at("^", "**"):
            self.take()
            return Pow(base, self.unary())
        return base

    def primary(self) -> Expr:
        kind, value = self.take()
        if kind == "num":
            return Num(float(value))
        if kind == "ind":
            return Indicator(value[0], value[1])
        if kind == "sum":
            return SumOver(value, self.term())
        if kind == "name":
            if value in FUNCTIONS:
                if self.at("("):
                    self.take()
                    args = [self.expression()]
                    while self.at(","):
                        self.take()
                        args.append(self.expression())
                    self.take(")")
                    return Call(value, tuple(args))
                return Call(value, (self.unary(),))
            return Sym(value)
        if value in ("(", "["):
            inner = self.expression()
            self.take(")" if value == "(" else "]")
            return inner
        raise FormulaError(f"cannot read formula {self.text!r}: unexpected {value!r}")


def _times(left: Expr, right: Expr) -> Expr:
    if isinstance(left, Mul):
        return Mul(left.factors + (right,))
    return Mul((left, right))


def parse(text: str) -> Expr:
    """Parse a formula string of the ops and losses (the right-hand side, after ``=``).

    Understands + - * / ^ **, juxtaposition as multiplication, function calls,
    ``sum_k body``, the indicator ``1[i=j]`` and ``a if x > 0 else b``.
    """
    parser = _Parser(text)
    expr = parser.expression()
    if parser.peek() is not None:
        raise FormulaError(f"cannot read formula {text!r}: unexpected {parser.peek()[1]!r}")
    return expr


def split_equation(text: str) -> tuple[str, str]:
    """``"out = tanh(net)"`` -> ``("out", "tanh(net)")``."""
    left, sep, right = text.partition(" = ")
    if not sep:
        return "", text
    return left.strip(), right.strip()


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


def symbols(expr: Expr) -> list[str]:
    """The symbol names in ``expr``, in reading order, each once."""
    seen: dict[str, None] = {}

    def walk(e: Expr) -> None:
        if isinstance(e, Sym):
            seen.setdefault(e.name)
        for child in _children(e):
            walk(child)

    walk(expr)
    return list(seen)


def _children(e: Expr) -> tuple[Expr, ...]:
    if isinstance(e, Add):
        return tuple(t for _, t in e.terms)
    if isinstance(e, Mul):
        return e.factors
    if isinstance(e, Div):
        return (e.num, e.den)
    if isinstance(e, Pow):
        return (e.base, e.exponent)
    if isinstance(e, (Neg,)):
        return (e.arg,)
    if isinstance(e, Call):
        return e.args
    if isinstance(e, Cond):
        return (e.then, e.left, e.right, e.other)
    if isinstance(e, SumOver):
        return (e.body,)
    return ()
