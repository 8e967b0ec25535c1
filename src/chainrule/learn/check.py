"""``check``: is a hand-derived formula for dE/dq right?

The formula is an expression over named quantities (``(out_o1 - target_o1)*out_o1*(1 -
out_o1)*out_h1``), read by SymPy's ``parse_expr`` only after every token has been
checked: numbers, the quantities' names, + - * / ^ ** and parentheses, and calls to
exp, log, tanh, sqrt, sigmoid, abs, max and min. Nothing else reaches SymPy (no
attribute access, no other calls), and its evaluator sees no builtins. Constants beyond
floating point (``9^9^9``, ``1e999999``) are refused and every value is first computed
in floating point, so no formula can keep SymPy's exact arithmetic busy without end.

The verdict compares the formula's value with backprop's at the sample and at two
nearby points (perturbed weights and inputs), so a formula that agrees by chance is
caught. When it is wrong, the hint looks for a flipped sign, a factor 2 or 1/2, a
missing path of the chain-rule sum (which one), another named quantity the formula
equals, or one factor too many or too few.
"""

from __future__ import annotations

import cmath
import copy
import itertools
import math
import re
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.errors import FormulaError
from chainrule.learn import expr as ex
from chainrule.learn.conventions import LossSpec, get_loss_spec
from chainrule.learn.explain import Derivation, explain
from chainrule.learn.naming import Names

__all__ = ["Verdict", "check", "parse_formula", "FUNCTIONS"]

#: Functions a formula may call.
FUNCTIONS = ("exp", "log", "tanh", "sqrt", "sigmoid", "abs", "max", "min")
_TOKENS = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\*\*|[-+*/^(),])
""", re.VERBOSE)
# Seed 002's superscripts: x_1^(2), s_1^(L), delta_1^(L), w_12^(2), w_{1,12}^{(2)}.
_SUPERSCRIPT = re.compile(r"\b([A-Za-z]+)_\{?([0-9]+(?:,[0-9]+)?)\}?\^\{?\(([0-9]+|L)\)\}?")
_SQUARED_LOSSES = ("half_squared_error", "squared_error", "mse", "half_mse")


@dataclass
class Verdict:
    """Whether ``formula`` equals dE/d``wrt``; ``hint`` says what may be wrong."""

    correct: bool
    wrt: str
    target: str
    formula: str
    parsed: str
    expected: float
    numeric: float
    got: float
    hint: str | None
    derivation: Derivation
    points: list[tuple[float, float]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.correct

    def to_text(self) -> str:
        names = self.derivation.names
        verdict = "correct" if self.correct else "not correct"
        lines = [f"{names.text(self.target)} = {self.formula}: {verdict}",
                 f"  expected {ex.format_number(self.expected, 12)} (backprop; finite differences "
                 f"{ex.format_number(self.numeric, 12)}), got {ex.format_number(self.got, 12)}"]
        if self.points:
            lines.append(f"  checked at {len(self.points)} nearby points too (perturbed weights and inputs)")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


def _known(names: Names) -> dict[str, str]:
    """Every spelling a formula may use -> the ASCII name."""
    return {spelling: name for spelling, name in names.spellings().items() if re.fullmatch(r"\w+", spelling)}


def _superscripts(text: str, names: Names) -> str:
    def replace(match: re.Match) -> str:
        base, sub, layer = match.groups()
        layer = str(names.L) if layer == "L" else layer
        if base == "w":
            if "," in sub:
                i, j = sub.split(",")
            elif len(sub) == 2:
                i, j = sub
            else:
                raise FormulaError(f"cannot read {match.group(0)!r}: write w_ij^(l) with two digits, or w_{{i,j}}^(l)")
            return f"w_{int(i)}_{int(j)}_{layer}"
        return f"{base}_{int(sub)}_{layer}"

    return _SUPERSCRIPT.sub(replace, text)


def parse_formula(formula: str, names: Names, aliases: Mapping[str, str] | None = None) -> Any:
    """The formula as a SymPy expression over the ASCII names (see the module docstring).

    Raises
    ------
    FormulaError
        Bad syntax, a character or call outside the allowed set, or an unknown name; the
        message lists the names available.
    """
    import sympy
    from sympy.parsing.sympy_parser import (
        convert_xor,
        implicit_multiplication,
        parse_expr,
        standard_transformations,
    )

    available = f"names available: {', '.join(names.available())}; functions: {', '.join(FUNCTIONS)}"
    if not isinstance(formula, str) or not formula.strip():
        raise FormulaError(f"expected a formula such as 'delta_o1*out_h1', got {formula!r}; {available}")
    known = _known(names)
    for alias, name in (aliases or {}).items():
        if name not in known:
            raise FormulaError(f"alias {alias!r} names {name!r}, which is not a quantity; {available}")
        known[alias] = known[name]
    text = _superscripts(formula.replace("·", "*").replace("−", "-"), names)
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKENS.match(text, pos)
        if match is None:
            raise FormulaError(f"formula {formula!r}: {text[pos]!r} is not allowed (use numbers, names, "
                               f"+ - * / ^ and parentheses); {available}")
        pos = match.end()
        if match.lastgroup != "space":
            tokens.append((match.lastgroup, match.group()))
    pieces = []
    for k, (kind, value) in enumerate(tokens):
        following = tokens[k + 1][1] if k + 1 < len(tokens) else ""
        if kind == "name":
            if value in FUNCTIONS and following == "(":
                pieces.append("Abs" if value == "abs" else value.capitalize() if value in ("max", "min") else value)
                continue
            if value not in known:
                raise FormulaError(f"formula {formula!r}: unknown name {value!r}; {available}")
            pieces.append(known[value])
        else:
            exponent = value.lower().partition("e")[2] if kind == "number" else ""
            if exponent and abs(int(exponent)) > 400:  # SymPy would expand the decimal exactly, digit by digit
                raise FormulaError(f"formula {formula!r}: the number {value} is beyond floating point; {available}")
            pieces.append(value)
    symbols = {name: sympy.Symbol(name) for name in set(known.values())}
    x = sympy.Symbol("x")
    namespace = {"Integer": sympy.Integer, "Float": sympy.Float, "Rational": sympy.Rational,
                 "Symbol": sympy.Symbol, "exp": sympy.exp, "log": sympy.log, "tanh": sympy.tanh,
                 "sqrt": sympy.sqrt, "Abs": sympy.Abs, "Max": sympy.Max, "Min": sympy.Min,
                 "sigmoid": sympy.Lambda(x, 1 / (1 + sympy.exp(-x))), "__builtins__": {}}
    transformations = standard_transformations + (implicit_multiplication, convert_xor)
    try:
        _refuse_huge_constants(formula, parse_expr(
            " ".join(pieces), local_dict=symbols, global_dict=_opaque_namespace(), transformations=transformations,
            evaluate=False), available)
        return parse_expr(" ".join(pieces), local_dict=symbols, global_dict=namespace,
                          transformations=transformations)
    except FormulaError:
        raise
    except (SyntaxError, tokenize.TokenError):
        raise FormulaError(f"cannot read formula {formula!r}: it is not a complete expression (check the "
                           f"operators and parentheses); {available}") from None
    except (TypeError, ValueError, AttributeError) as error:
        raise FormulaError(f"cannot read formula {formula!r}: {error}; {available}") from None


# SymPy computes constant powers exactly (9^9^9 has 370 million digits) and evalf follows
# towers and nested exps to any size, so neither may see a value beyond floating point.
_FLOAT_FUNCTIONS: dict[str, Any] = {
    "exp": cmath.exp, "log": cmath.log, "tanh": cmath.tanh, "sqrt": cmath.sqrt, "Abs": abs,
    "sigmoid": lambda z: 1 / (1 + cmath.exp(-z)),
    "Max": lambda *zs: max(z.real for z in zs), "Min": lambda *zs: min(z.real for z in zs),
}


def _opaque_namespace() -> dict[str, Any]:
    """Parsing names whose functions stay unevaluated, so the formula's tree is built without computing."""
    import sympy

    return {"Integer": sympy.Integer, "Float": sympy.Float, "Rational": sympy.Rational, "Symbol": sympy.Symbol,
            "Add": sympy.Add, "Mul": sympy.Mul, "Pow": sympy.Pow, "__builtins__": {},
            **{name: sympy.Function(name) for name in _FLOAT_FUNCTIONS}}


def _float_value(node: Any, values: Mapping[str, float] | None = None) -> complex:
    """A formula's tree in floating point (OverflowError beyond it); symbols take ``values``."""
    import sympy

    if node.is_Symbol:
        return complex(values[str(node)]) if values is not None else complex(math.nan)
    if node.is_Atom and node.is_number:  # 2, 0.5, 1/3, I, E, pi
        return complex(node)
    args = [_float_value(arg, values) for arg in node.args]
    if isinstance(node, sympy.Add):
        return complex(sum(args))
    if isinstance(node, sympy.Mul):
        return complex(math.prod(args))
    if isinstance(node, sympy.Pow):
        return complex(args[0] ** args[1])
    return complex(_FLOAT_FUNCTIONS[type(node).__name__](*args))


def _refuse_huge_constants(formula: str, tree: Any, available: str) -> None:
    import sympy

    for node in sympy.preorder_traversal(tree):
        if node.is_Atom or node.free_symbols:
            continue
        try:
            value = _float_value(node)
        except (ZeroDivisionError, ValueError):  # undefined, as 1/0 or log(0): the verdict says so
            continue
        except OverflowError:
            value = complex(math.inf)
        if not cmath.isfinite(value):
            raise FormulaError(f"formula {formula!r}: the constant {node} is beyond floating point "
                               f"(about 1.8e308); {available}")


def _evaluate(expression: Any, values: Mapping[str, float]) -> float:
    """The formula's value; NaN when it is undefined or not real there."""
    import sympy

    substitution = {symbol: values[str(symbol)] for symbol in expression.free_symbols}
    if expression.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):  # 1/0, log(0), ...
        return float("nan")
    try:
        if not cmath.isfinite(_float_value(expression, values)):
            return float("nan")
    except (OverflowError, ValueError, ZeroDivisionError):
        return float("nan")
    except KeyError:  # a function outside the formula vocabulary: SymPy alone decides
        pass
    try:
        result = complex(expression.evalf(subs=substitution))
    except (TypeError, ValueError, ZeroDivisionError):
        return float("nan")
    return result.real if abs(result.imag) <= 1e-12 * max(1.0, abs(result.real)) else float("nan")


def _close(a: float, b: float, rtol: float = 1e-6, atol: float = 1e-12) -> bool:
    return bool(np.isfinite(a) and np.isfinite(b) and abs(a - b) <= atol + rtol * max(abs(a), abs(b)))


def _hint(derivation: Derivation, got: float, expected: float, loss: LossSpec) -> str | None:
    names, values = derivation.names, derivation.values
    if not np.isfinite(got):
        return "the formula is undefined here (a log or sqrt of a negative number, or a division by zero)"
    if _close(got, -expected):
        return ("the sign is flipped: dE/dout is (out - target) for squared errors, not (target - out); "
                "the minus of gradient descent belongs to the update, not to the gradient")
    if expected != 0 and _close(got, 2 * expected):
        why = (f": with E = {loss.definition.formula.partition(' = ')[2]}, differentiating the square gives a 2 "
               "that the 1/2 cancels" if loss.name in ("half_squared_error", "half_mse") else "")
        return "twice the right value, a factor 2 too many" + why
    if expected != 0 and _close(got, expected / 2):
        why = (f": E = {loss.definition.formula.partition(' = ')[2]} has no 1/2, so the 2 from differentiating "
               "the square stays" if loss.name in ("squared_error", "mse") else "")
        return "half the right value, a factor 1/2 too many" + why
    paths = derivation.paths
    if 1 < len(paths):
        missing = _missing_paths(derivation, got)
        if missing:
            described = "; ".join(
                f"path {k + 1} ({paths[k].label()}): "
                + ex.render(ex.mul(*(ex.Sym(f) for f in paths[k].factors)), label=names.text)
                + f" = {ex.format_number(paths[k].value)}" for k in missing)
            left_out = f"{len(missing)} of its {len(paths)} paths {'is' if len(missing) == 1 else 'are'} left out"
            return (f"a term of the chain-rule sum is missing: dE/d{names.text(derivation.wrt)} sums over every "
                    f"path from E back to it, and {left_out}: {described}")
    candidates = {name: value for name, value in values.items()
                  if names.entries[name].kind not in ("constant",) and value not in (0.0, 1.0)}
    for name, value in candidates.items():
        if name != derivation.target and _close(got, value):
            return (f"the formula equals {names.text(name)} = {ex.format_number(value)}, "
                    f"not {names.text(derivation.target)}")
    if expected != 0 and got != 0:
        ratio = got / expected
        for name, value in candidates.items():
            if _close(ratio, value):
                return f"one factor too many: the formula is the right value times {names.text(name)}"
            if _close(ratio, 1 / value):
                return f"a factor is missing: the formula times {names.text(name)} would be right"
    return None


def _missing_paths(derivation: Derivation, got: float) -> list[int] | None:
    """The smallest set of paths whose omission from the sum gives ``got``."""
    values = [p.value for p in derivation.paths]
    total = sum(values)
    n = len(values)
    sizes = range(1, n) if n <= 12 else (1,)
    for size in sizes:
        for left_out in itertools.combinations(range(n), size):
            if _close(got, total - sum(values[k] for k in left_out), rtol=1e-6, atol=1e-15):
                return list(left_out)
    return None


def check(net: Any, wrt: str, formula: str, x: Any, target: Any, loss: str | LossSpec = "half_squared_error",
          names: str = "auto", *, aliases: Mapping[str, str] | None = None, bias: str = "per_neuron",
          points: int = 2, seed: int = 0) -> Verdict:
    """Judge a hand-derived formula for dE/d``wrt`` against backprop.

    Parameters
    ----------
    net : Sequential or MLP
    wrt : str
        The quantity: "w5", "dE/dw5", "delta_o1" (= dE/dnet_o1), "s_1^(2)", ...
    formula : str
        An expression over named quantities, e.g.
        ``"(out_o1 - target_o1)*out_o1*(1 - out_o1)*out_h1"``; ``^`` is a power, and
        juxtaposition multiplies: ``2(x - y)(1 - x^2)``.
    x, target : array_like
        One sample.
    loss : str
        As for :func:`~chainrule.learn.trace`.
    names : {"auto", "mazur", "layer"}
        The naming scheme of the formula (seed 002's x_1^(L) under "layer").
    aliases : dict, optional
        Your own names for quantities, e.g. ``{"z1": "out_o1", "y": "target_o1"}``.
    points : int
        Nearby points (perturbed weights and inputs) where the formula must agree too.

    Returns
    -------
    Verdict
        ``correct``, ``expected`` (backprop) vs ``got``, and a ``hint`` when wrong.

    Raises
    ------
    FormulaError
        A formula with bad syntax, a forbidden token or an unknown name.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.learn import check
    >>> net, x, target = cr.examples.mazur()
    >>> check(net, "w5", "(out_o1 - target_o1)*out_o1*(1 - out_o1)*out_h1", x, target).correct
    True
    """
    spec = get_loss_spec(loss)
    derivation = explain(net, wrt, x, target, spec, names, bias=bias)
    expression = parse_formula(formula, derivation.names, aliases)
    got = _evaluate(expression, derivation.values)
    expected = derivation.backprop
    # A float32 network's values carry ~1e-7 relative rounding into the formula; its
    # derivation's tolerance says which precision the network computes in.
    rtol = 1e-6 if derivation.rtol <= 1e-5 else 1e-4
    correct = _close(got, expected, rtol)
    hint = None if correct else _hint(derivation, got, expected, spec)
    checked: list[tuple[float, float]] = []
    if correct:
        rng = np.random.default_rng(seed)
        for _ in range(points):
            other, x2, t2 = _nearby(net, x, target, spec, bias, rng)
            there = explain(other, derivation.wrt, x2, t2, spec, names, bias=bias)
            checked.append((there.backprop, _evaluate(expression, there.values)))
            if not _close(checked[-1][1], checked[-1][0], rtol):
                correct = False
                hint = (f"it agrees at this sample only by coincidence: at a nearby point (weights and inputs "
                        f"moved by a few percent) backprop gives {ex.format_number(checked[-1][0])} and the "
                        f"formula {ex.format_number(checked[-1][1])}")
                break
    return Verdict(correct, derivation.wrt, derivation.target, formula, str(expression), expected,
                   derivation.numeric, got, hint, derivation, checked)


def _nearby(net: Any, x: Any, target: Any, loss: LossSpec, bias: str,
            rng: np.random.Generator) -> tuple[Any, Any, Any]:
    """A copy of the net with weights, inputs (and squared-error targets) moved by a few percent."""
    other = copy.deepcopy(net)
    for name, p in other.named_parameters():
        # A shared bias moves as one number, so the layer keeps a single bias.
        shape = (1,) if bias == "shared" and name.endswith("bias") else p.shape
        p.data = p.data * (1 + 0.05 * rng.standard_normal(shape)) + 0.01 * rng.standard_normal(shape)
    x = np.asarray(x, dtype=np.float64)
    x = x * (1 + 0.05 * rng.standard_normal(x.shape)) + 0.01 * rng.standard_normal(x.shape)
    if loss.name in _SQUARED_LOSSES:
        target = np.asarray(target, dtype=np.float64) + 0.01 * rng.standard_normal(np.shape(target))
    return other, x, target
