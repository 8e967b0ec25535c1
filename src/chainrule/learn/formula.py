"""Read a learner's formula: budgets first, then tokens, then a tree; never ``eval``.

A formula is written as on paper or pasted from a post:

    (out_o1 - target_o1)*out_o1*(1 - out_o1)*out_h1
    dE/dout_h1 * dout_h1/dnet_h1 * dnet_h1/dw1        (Leibniz partials, also with ∂)
    sigma'(net_h1), tanh'(s_1^(2)), theta'(s_j^(l))   (activation derivatives as functions)
    sum_k delta_ok*w_{h1,ok},  sum(delta_k^(2)*w_1k^(2), k),  1_{i=j}
    \\frac{\\partial E_{total}}{\\partial w_1}, \\sum_j \\delta_j w_{jk}, \\left( ... \\right)   (LaTeX, read by
    SymPy's LaTeX grammar in :mod:`chainrule.learn.latex`)

Every input has a budget checked before any work: at most :data:`MAX_LENGTH`
characters, :data:`MAX_DEPTH` levels of nesting (parentheses, unary minus, powers) and
:data:`MAX_NODES` nodes; a number has at most :data:`MAX_DIGITS` significant digits and
an exponent within floating point. The parser counts its own depth, so a deep formula
is a :class:`~chainrule.errors.FormulaError`, never a ``RecursionError``. Every constant
part of the tree is computed in floating point once, and a constant beyond floating
point (``9^9^9^9``) or below it (``3^-9^9`` underflows to 0) is refused. Formulas are
then evaluated in floating point only (NumPy, at many points at once), so no formula can
start exact arithmetic of unbounded size.

The tree is :mod:`chainrule.learn.expr`'s; names stay as written here and are resolved
by :mod:`chainrule.learn.judge` against the network's names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import numpy as np

from chainrule.errors import FormulaError
from chainrule.learn.expr import Add, Call, Div, Expr, Indicator, Mul, Neg, Num, Pow, SumOver, Sym

__all__ = ["MAX_LENGTH", "MAX_DEPTH", "MAX_NODES", "MAX_DIGITS", "MAX_SUMS", "FUNCTIONS", "read_formula",
           "constant_value", "plain", "count_nodes"]

#: Longest formula accepted, in characters (a 6-deep path sum written out fits easily).
MAX_LENGTH = 20_000
#: Deepest nesting of parentheses, unary minus, powers, calls and sums.
MAX_DEPTH = 100
#: Most nodes in a formula's tree, after sums are expanded.
MAX_NODES = 20_000
#: Most sums nested in one another (each multiplies the terms).
MAX_SUMS = 4
#: Most significant digits of one number.
MAX_DIGITS = 30
#: Largest decimal exponent of one number (floating point reaches 1e308, normal numbers 1e-308).
MAX_EXPONENT = 300

#: Functions a formula may call; a trailing ' is the derivative (sigma'(net_h1)).
FUNCTIONS = ("exp", "log", "ln", "tanh", "sqrt", "sigmoid", "sigma", "abs", "max", "min", "relu",
             "theta", "f")
PRIMED = ("sigmoid'", "sigma'", "tanh'", "relu'", "theta'", "f'")

_TOKEN = re.compile(r"""\s*(?:
    (?P<ind>1_\{(?P<a1>\w+)=(?P<b1>\w+)\}|1\[(?P<a2>\w+)=(?P<b2>\w+)\]|1_\((?P<a3>\w+)=(?P<b3>\w+)\))
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<sum>(?:sum|Σ)_\{?(?P<index>[a-z])\}?(?![A-Za-z0-9]))
  | (?P<name>[A-Za-z][A-Za-z0-9_]*(?:\{[A-Za-z0-9_,]*\}[A-Za-z0-9_]*)*(?:\[[0-9a-z]\])*'?)
  | (?P<op>\*\*|[-+*/^(),])
)""", re.VERBOSE)
# Learning From Data's superscripts: x_1^(2), s_j^(l), delta_k^(l+1), w_12^(2), w_{1,12}^{(2)}.
_SUPERSCRIPT = re.compile(r"\b([A-Za-z]+)_\{?([0-9a-z]+(?:,[0-9a-z]+)?)\}?\^\{?\(\s*([0-9]+|L|[a-z])\s*"
                          r"(?:([+-])\s*([0-9]+))?\s*\)\}?")


def _refuse(formula: str, why: str) -> FormulaError:
    shown = formula if len(formula) <= 80 else formula[:60] + f"... ({len(formula)} characters)"
    return FormulaError(f"formula {shown!r}: {why}")


# ------------------------------------------------------------------ tokens
def _normalise(formula: str) -> str:
    text = formula
    for a, b in (("·", "*"), ("×", "*"), ("−", "-"), ("∂", "d"), ("σ", "sigma"), ("θ", "theta"),
                 ("δ", "delta"), ("η", "eta"), ("Σ", "sum"), ("’", "'"), ("′", "'")):
        text = text.replace(a, b)
    return text


def _layer_arithmetic(text: str) -> str:
    def replace(match: re.Match) -> str:
        base, sub, layer, sign, amount = match.groups()
        if sign and layer.isdigit():
            layer = str(int(layer) + (1 if sign == "+" else -1) * int(amount))
        elif sign:
            layer = f"{layer}{'p' if sign == '+' else 'm'}{amount}"
        sub = sub.replace(",", "c") if base == "w" and "," in sub else sub
        return f"{base}_{sub}_{layer}"

    return _SUPERSCRIPT.sub(replace, text)


def tokenize(formula: str) -> list[tuple[str, str]]:
    """(kind, text) pairs: num, name, sum, ind, op. Raises FormulaError on anything else."""
    text = _layer_arithmetic(_normalise(formula))
    text = re.sub(r"\bw_([A-Za-z]+[0-9]*),([A-Za-z]+[0-9]*|[a-z])\b", r"w_{\1,\2}", text)  # w_h1,k = w_{h1,k}
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            bad = text[pos:].lstrip()[:1]
            raise FormulaError(f"formula {formula!r}: {bad!r} is not allowed (use numbers, names, "
                               "+ - * / ^ and parentheses)")
        pos = match.end()
        kind = match.lastgroup
        if match.group("ind"):
            a = match.group("a1") or match.group("a2") or match.group("a3")
            b = match.group("b1") or match.group("b2") or match.group("b3")
            tokens.append(("ind", f"{a}={b}"))
        elif match.group("sum"):
            tokens.append(("sum", match.group("index")))
        elif match.group("num"):
            tokens.append(("num", match.group("num")))
        elif match.group("name"):
            tokens.append(("name", match.group("name")))
        else:
            tokens.append(("op", match.group(kind)))
    return tokens


def _check_number(formula: str, text: str) -> float:
    mantissa, _, exponent = text.lower().partition("e")
    digits = mantissa.replace(".", "").lstrip("0")
    if len(digits.rstrip("0") if "." in mantissa else digits) > MAX_DIGITS:
        raise _refuse(formula, f"the number {text[:20]}... has more than {MAX_DIGITS} significant digits")
    if exponent and abs(int(exponent)) > MAX_EXPONENT + 100:
        raise _refuse(formula, f"the number {text} is beyond floating point")
    value = float(text)
    if not np.isfinite(value) or (value != 0 and abs(value) < 1e-300):
        raise _refuse(formula, f"the number {text} is beyond floating point")
    if value == 0 and digits.strip("0"):
        raise _refuse(formula, f"the number {text} is beyond floating point")
    return value


# ------------------------------------------------------------------ parser
class _Parser:
    """Precedence climbing with an explicit depth count (:data:`MAX_DEPTH`)."""

    def __init__(self, formula: str, tokens: list[tuple[str, str]],
                 is_partial: Callable[[str, str], bool] | None) -> None:
        self.formula = formula
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.nodes = 0
        self.is_partial = is_partial or (lambda a, b: False)

    def node(self, e: Expr) -> Expr:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _refuse(self.formula, f"more than {MAX_NODES} terms and factors")
        return e

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _refuse(self.formula, f"nested more than {MAX_DEPTH} levels deep (parentheses, signs, powers)")

    def peek(self, ahead: int = 0) -> tuple[str, str] | None:
        k = self.pos + ahead
        return self.tokens[k] if k < len(self.tokens) else None

    def at(self, *values: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "op" and token[1] in values

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise FormulaError(f"cannot read formula {self.formula!r}: it is not a complete expression "
                               f"(expected {value or 'more'}, got {token[1] if token else 'the end'}; "
                               "check the operators and parentheses)")
        self.pos += 1
        return token

    def expression(self) -> Expr:
        self.enter()
        terms: list[tuple[int, Expr]] = []
        sign = 1
        while self.at("+", "-"):  # leading signs, iteratively
            if self.take()[1] == "-":
                sign = -sign
            self.enter()
        terms.append((sign, self.term()))
        while self.at("+", "-"):
            sign = 1 if self.take()[1] == "+" else -1
            while self.at("+", "-"):
                if self.take()[1] == "-":
                    sign = -sign
                self.enter()
            terms.append((sign, self.term()))
        self.depth -= 1
        if len(terms) == 1:
            sign, term = terms[0]
            return term if sign == 1 else self.node(Neg(term))
        return self.node(Add(tuple(terms)))

    def starts_primary(self) -> bool:
        token = self.peek()
        return token is not None and (token[0] in ("num", "name", "sum", "ind") or token == ("op", "("))

    def term(self) -> Expr:
        factors: list[Expr] = [self.unary()]
        while True:
            if self.at("*"):
                self.take()
                factors.append(self.unary())
            elif self.at("/"):
                self.take()
                den = self.unary()
                factors = [self.node(Div(factors[0] if len(factors) == 1 else self.node(Mul(tuple(factors))), den))]
            elif self.starts_primary():
                factors.append(self.unary())
            else:
                return factors[0] if len(factors) == 1 else self.node(Mul(tuple(factors)))

    def unary(self) -> Expr:
        signs = 0
        while self.at("-", "+"):
            signs += self.take()[1] == "-"
            self.enter()
        self.enter()
        base = self.primary()
        if self.at("^", "**"):
            self.take()
            base = self.node(Pow(base, self.unary()))
        self.depth -= 1
        for _ in range(signs % 2):
            base = self.node(Neg(base))
        return base

    def call_args(self) -> tuple[Expr, ...]:
        self.take("(")
        args = [self.expression()]
        while self.at(","):
            self.take()
            args.append(self.expression())
        self.take(")")
        return tuple(args)

    def primary(self) -> Expr:
        kind, value = self.take()
        if kind == "num":
            return self.node(Num(_check_number(self.formula, value)))
        if kind == "ind":
            a, b = value.split("=")
            return self.node(Indicator(a, b))
        if kind == "sum":
            return self.node(SumOver(value, self.unary() if self.at("(") else self.term()))
        if kind == "name":
            if value == "sum" and self.at("("):
                args = self.call_args()
                if len(args) != 2 or not isinstance(args[1], Sym) or not re.fullmatch(r"[a-z]", args[1].name):
                    raise _refuse(self.formula, "write a sum as sum_k body or sum(body, k)")
                return self.node(SumOver(args[1].name, args[0]))
            if value in FUNCTIONS or value in PRIMED:
                if not self.at("("):
                    raise _refuse(self.formula, f"{value} needs its argument in parentheses: {value}(net_h1)")
                return self.node(Call(value, self.call_args()))
            if value.endswith("'"):
                raise _refuse(self.formula, f"{value}(...) is not a derivative this checker knows; write one of "
                                            + ", ".join(PRIMED))
            # Leibniz: dA / dB read as one partial derivative when both are quantities.
            following, other = self.peek(), self.peek(1)
            if (value.startswith("d") and following == ("op", "/") and other is not None and other[0] == "name"
                    and other[1].startswith("d") and self.is_partial(value[1:], other[1][1:])):
                self.pos += 2
                return self.node(Sym(f"d{value[1:]}/d{other[1][1:]}"))
            return self.node(Sym(value))
        if value == "(":
            inner = self.expression()
            self.take(")")
            return inner
        raise FormulaError(f"cannot read formula {self.formula!r}: it is not a complete expression "
                           f"(unexpected {value!r})")


def read_formula(formula: str, is_partial: Callable[[str, str], bool] | None = None) -> Expr:
    """The tree of ``formula``, every budget checked; ``is_partial(a, b)`` says whether ``da/db`` is a partial.

    A pasted equation ``lhs = rhs`` is read from its right-hand side.

    Raises
    ------
    FormulaError
        Over a budget, a character outside the language, bad syntax, a constant outside floating point.
    """
    if not isinstance(formula, str) or not formula.strip():
        raise FormulaError(f"expected a formula such as 'delta_o1*out_h1', got {formula!r}")
    if len(formula) > MAX_LENGTH:
        raise _refuse(formula, f"longer than {MAX_LENGTH} characters")
    if "\\" in formula or "^{" in formula:  # LaTeX: SymPy's LaTeX grammar (chainrule.learn.latex), budgets first
        from chainrule.learn.latex import read_latex

        tree = read_latex(formula, is_partial)
        if count_nodes(tree) > MAX_NODES:
            raise _refuse(formula, f"more than {MAX_NODES} terms and factors")
        return _checked(formula, tree)
    text = re.sub(r"1_\{(\w+)=(\w+)\}", r"1[\1=\2]", formula)
    if "=" in text.replace("1[", "").split("]")[-1] or re.search(r"(?<![\[\w])=", text):
        parts = re.split(r"(?<![\[\w])=|(?<=[\s)}])=", text)
        text = parts[-1] if len(parts) > 1 and parts[-1].strip() else text
    tokens = tokenize(text)
    if not tokens:
        raise FormulaError(f"expected a formula such as 'delta_o1*out_h1', got {formula!r}")
    if len(tokens) > MAX_NODES:
        raise _refuse(formula, f"more than {MAX_NODES} terms and factors")
    parser = _Parser(formula, tokens, is_partial)
    tree = parser.expression()
    if parser.peek() is not None:
        raise FormulaError(f"cannot read formula {formula!r}: it is not a complete expression "
                           f"(unexpected {parser.peek()[1]!r})")
    return _checked(formula, tree)


def _checked(formula: str, tree: Expr) -> Expr:
    """Constants within floating point and at most MAX_SUMS nested sums."""
    _refuse_constants(formula, tree)
    stack = [(tree, 0)]
    while stack:
        node, sums = stack.pop()
        sums += isinstance(node, SumOver)
        if sums > MAX_SUMS:
            raise _refuse(formula, f"more than {MAX_SUMS} sums nested in one another")
        stack.extend((child, sums) for child in children(node))
    return tree


# ------------------------------------------------------------------ constants
def nodes(e: Expr) -> Iterator[Expr]:
    """Every node of a tree, ``e`` first (iteratively: no recursion limit to meet)."""
    stack = [e]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(children(node))


def count_nodes(e: Expr) -> int:
    """Nodes of a tree."""
    return sum(1 for _ in nodes(e))


def children(e: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of ``e`` (a sum's terms, a product's factors, ...); () for a leaf."""
    if isinstance(e, Add):
        return tuple(t for _, t in e.terms)
    if isinstance(e, Mul):
        return e.factors
    if isinstance(e, Div):
        return (e.num, e.den)
    if isinstance(e, Pow):
        return (e.base, e.exponent)
    if isinstance(e, Neg):
        return (e.arg,)
    if isinstance(e, Call):
        return e.args
    if isinstance(e, SumOver):
        return (e.body,)
    return ()


def _is_constant(e: Expr) -> bool:
    return not any(isinstance(node, (Sym, Indicator, SumOver))
                   or isinstance(node, Call) and node.func in ("theta", "f", "theta'", "f'") for node in nodes(e))


_FLOAT: dict[str, Callable[..., float]] = {
    "exp": np.exp, "log": np.log, "ln": np.log, "tanh": np.tanh, "sqrt": np.sqrt, "abs": np.abs,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "sigma": lambda z: 1 / (1 + np.exp(-z)),
    "max": lambda *zs: np.max(np.stack(np.broadcast_arrays(*zs)), axis=0),
    "min": lambda *zs: np.min(np.stack(np.broadcast_arrays(*zs)), axis=0),
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid'": lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2, "sigma'": lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2,
    "tanh'": lambda z: 1 - np.tanh(z) ** 2, "relu'": lambda z: (np.asarray(z) > 0).astype(float),
}


def float_function(name: str) -> Callable[..., float]:
    """The floating-point function a formula's call names."""
    return _FLOAT[name]


def constant_value(e: Expr) -> float:
    """A constant tree's value in floating point (inf or nan beyond it; never exact arithmetic)."""
    with np.errstate(all="ignore"):
        if isinstance(e, Num):
            return e.value
        if isinstance(e, Add):
            return float(sum(s * constant_value(t) for s, t in e.terms))
        if isinstance(e, Mul):
            return float(np.prod([constant_value(f) for f in e.factors]))
        if isinstance(e, Div):
            den = constant_value(e.den)
            return float(np.float64(constant_value(e.num)) / np.float64(den)) if den != 0 else float("nan")
        if isinstance(e, Pow):
            return float(np.power(np.float64(constant_value(e.base)), np.float64(constant_value(e.exponent))))
        if isinstance(e, Neg):
            return -constant_value(e.arg)
        if isinstance(e, Call):
            return float(_FLOAT[e.func](*(np.float64(constant_value(a)) for a in e.args)))
    raise TypeError(f"not a constant: {e!r}")


def plain(e: Expr) -> str:
    """A constant written with ``**`` and full parentheses (as in the refusals: 9**(9**9))."""
    def go(node: Expr, inner: bool) -> str:
        if isinstance(node, Num):
            text = repr(node.value).removesuffix(".0") if abs(node.value) < 1e16 else repr(node.value)
            return text
        if isinstance(node, Pow):
            text = f"{go(node.base, True)}**{go(node.exponent, True)}"
        elif isinstance(node, Neg):
            text = f"-{go(node.arg, True)}"
        elif isinstance(node, Add):
            text = "".join(("-" if s < 0 else ("+" if k else "")) + go(t, True) for k, (s, t) in enumerate(node.terms))
        elif isinstance(node, Mul):
            text = "*".join(go(f, True) for f in node.factors)
        elif isinstance(node, Div):
            text = f"{go(node.num, True)}/{go(node.den, True)}"
        elif isinstance(node, Call):
            return f"{node.func}({', '.join(go(a, False) for a in node.args)})"
        else:
            return str(node)
        return f"({text})" if inner else text

    return go(e, False)


def _refuse_constants(formula: str, tree: Expr) -> None:
    """Every constant node computed once in floating point: beyond it or underflowing to 0 is refused."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if not isinstance(node, Num) and _is_constant(node):
            value = constant_value(node)
            if np.isinf(value) or (np.isnan(value) and not _undefined(node)):
                raise _refuse(formula, f"the constant {plain(node)} is beyond floating point (about 1.8e308)")
            if (isinstance(node, (Mul, Div, Pow, Call)) and (value == 0 or abs(value) < 1e-300)
                    and all(constant_value(c) != 0 for c in children(node))):
                raise _refuse(formula, f"the constant {plain(node)} is below floating point (it underflows to 0)")
        stack.extend(reversed(children(node)))


def _undefined(node: Expr) -> bool:
    """1/0, log(0), sqrt(-1): undefined rather than too large; the verdict says so."""
    if isinstance(node, Div) and constant_value(node.den) == 0:
        return True
    if isinstance(node, Call) and node.func in ("log", "ln", "sqrt"):
        return True
    return any(_undefined(c) for c in children(node) if _is_constant(c)) or isinstance(node, Pow)
