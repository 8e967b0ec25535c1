"""Read the ops' and losses' formula strings into :mod:`chainrule.learn.expr` trees.

The strings are written for people: ``"out * (1 - out)"``, ``"2 (out_k - target_k) / K"``,
``"1/2 sum_k (target_k - out_k)^2"``, ``"dout_i/dnet_j = out_i * (1[i=j] - out_j)"``,
``"1 if net > 0 else 0"``. Juxtaposition multiplies, ``^`` and ``**`` are powers,
``sum_k body`` sums over a layer's neurons, ``1[i=j]`` is the indicator.
"""

from __future__ import annotations

import re

from chainrule.errors import FormulaError
from chainrule.learn.expr import Add, Call, Cond, Div, Expr, Indicator, Mul, Neg, Num, Pow, SumOver, Sym

__all__ = ["parse", "split_equation", "FUNCTIONS"]

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
