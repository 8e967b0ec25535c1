r"""LaTeX pasted from a post, read with SymPy's LaTeX grammar (its Lark parser); never ``eval``.

    \frac{\partial E_{total}}{\partial w_1}      \sum_j \delta_j w_{jk}      \sigma'(s_j^{(l)})
    x_1^{(L)}      \left( \delta_{o1} w_5 + \delta_{o2} w_7 \right) out_{h1} (1 - out_{h1}) i_1

Order of work, every step bounded:

1. Budgets on the raw text, before SymPy sees it: at most :data:`MAX_LATEX_LENGTH`
   characters (SymPy's parser is an Earley parser, whose time grows with the cube of the
   length in the worst case) and :data:`~chainrule.learn.formula.MAX_DEPTH` levels of
   braces and parentheses.
2. A pre-translation, one left-to-right pass, of only the constructs SymPy's grammar cannot
   read (each is named where it is handled in :func:`_pretranslate`): every learner's name
   becomes a one-letter placeholder ``N_{ab}`` (the grammar has one-letter symbols only, so
   ``out_{h1}`` would be o·u·t_{h1}, and ``w_{jk}^{(2)}`` would be a power), Leibniz
   fractions ``\frac{\partial A}{\partial B}`` (no ``\partial`` in the grammar), ``\sigma``
   and primes on functions (no ``\sigma``), ``\sum_j`` without bounds (the grammar needs
   ``\sum_{j=1}^{n}``; each sum is put in braces, see :func:`_brace_sums`), ``\exp``,
   ``\log``, ``\ln``, ``\tanh`` (the grammar leaves their argument's extent open, and the
   readings of ``\exp \exp \exp x`` multiply: they are calls with parentheses here), the
   indicator ``1_{i=j}`` (Kronecker's ``\delta_{ij}`` is a name here, read as the indicator
   by :mod:`chainrule.learn.judge`),
   ``\left``/``\right`` (the grammar ignores them, but its lexer also reads ``\left`` as
   ``\le`` + ``ft``), and juxtaposition, made an explicit ``\cdot`` (the grammar cannot
   read a product of three juxtaposed factors such as ``(a) b (c)``).
3. SymPy's LaTeX grammar (``sympy/parsing/latex/lark/grammar/latex.lark``) in a Lark Earley
   parser reads the structure: sums, differences, products, quotients, ``\frac``, powers,
   parentheses, ``\sum``, function calls, ``\sqrt``. Its parse tree is converted into
   :mod:`chainrule.learn.expr`'s tree by an explicit stack, never by recursion. SymPy builds
   no expression: its transformer would evaluate (``9^{9^{9^{9}}}`` as an exact integer,
   ``(x^L)^2`` as ``x^{2L}``), so the tree is taken before it. Lark is asked for one reading
   (``ambiguity="resolve"``), not for all of them as SymPy's ``LarkLaTeXParser`` does: with
   20 nested calls those no longer fit in memory.

SymPy's grammar leaves some extents open (``\sum_j a b + c``: is ``+ c`` in the sum?); the
pre-translation closes them with braces, so one reading is left: a sum's body is a product, as
in the plain formula language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from chainrule.errors import FormulaError
from chainrule.learn.expr import Add, Call, Div, Expr, Indicator, Mul, Neg, Num, Pow, SumOver, Sym
from chainrule.learn.formula import MAX_DEPTH, _check_number, children, tokenize

__all__ = ["MAX_LATEX_LENGTH", "read_latex"]

#: Longest LaTeX accepted, in characters (a pasted equation of the learners' posts is under 400).
MAX_LATEX_LENGTH = 1_000

_INSTALL = "reading LaTeX needs SymPy and lark: pip install 'chainrule[explain]'"
# Greek letters a name may start with (\delta_j, \eta); \sigma and \theta with ( are functions.
_GREEK = ("delta", "eta", "alpha", "theta", "sigma", "epsilon", "lambda", "mu", "phi")
_CALLS = {"sigma": "sigma", "theta": "theta", "sigmoid": "sigmoid", "f": "f", "relu": "relu"}
# Commands passed to SymPy's grammar as they are.
_SYMPY_COMMANDS = ("frac", "dfrac", "tfrac", "cdot", "times", "sqrt")
_FUNCTION_COMMANDS = {"exp": "exp", "log": "log", "ln": "log", "tanh": "tanh"}
_STYLE = ("mathrm", "mathbf", "mathit", "mathcal", "text", "operatorname", "boldsymbol", "textrm")
_IGNORED = ("left", "right", "big", "Big", "bigg", "Bigg", "displaystyle", "limits", "nolimits",
            "quad", "qquad")


def _refuse(latex: str, why: str) -> FormulaError:
    shown = latex if len(latex) <= 80 else latex[:60] + f"... ({len(latex)} characters)"
    return FormulaError(f"cannot read the LaTeX {shown!r}: {why}")


# ------------------------------------------------------------------ budgets
def check_budgets(latex: str) -> None:
    """Length and nesting of the raw text, before any parser sees it."""
    if len(latex) > MAX_LATEX_LENGTH:
        raise _refuse(latex, f"longer than {MAX_LATEX_LENGTH} characters of LaTeX (write it as a plain formula, "
                             "e.g. delta_o1*out_h1, which may be longer)")
    depth = 0
    for char in latex:
        if char in "({[":
            depth += 1
            if depth > MAX_DEPTH:
                raise _refuse(latex, f"nested more than {MAX_DEPTH} levels deep (braces and parentheses)")
        elif char in ")}]":
            depth -= 1


# ------------------------------------------------------------------ pre-translation
class _Names:
    """Placeholders N_{ab} (names), F_{ab} (functions), I_{ab} (indicators), all letters only."""

    def __init__(self) -> None:
        self.table: dict[str, Expr | str] = {}
        self.functions: set[str] = set()

    def placeholder(self, kind: str, meaning: Expr | str) -> str:
        n, code = len(self.table), ""
        while True:
            code = chr(ord("a") + n % 26) + code
            n //= 26
            if n == 0:
                break
        key = f"{kind}_{{q{code}}}"
        self.table[key] = meaning
        if kind == "F":
            self.functions.add(key)
        return key


def _group(text: str, pos: int) -> tuple[str, int]:
    """The brace group at ``text[pos]`` (or one character) and the position after it."""
    while pos < len(text) and text[pos] == " ":
        pos += 1
    if pos >= len(text):
        return "", pos
    if text[pos] != "{":
        if text[pos] == "\\":
            word = re.match(r"\\[A-Za-z]+", text[pos:])
            if word:
                return word.group(), pos + len(word.group())
        return text[pos], pos + 1
    depth = 0
    for end in range(pos, len(text)):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        if depth == 0:
            return text[pos + 1:end], end + 1
    raise FormulaError(f"cannot read the LaTeX {text!r}: a brace is not closed")


def _flat(inner: str) -> str:
    r"""A subscript's text in the formula language: ``h_1`` -> ``h1``, ``\text{total}`` -> ``total``."""
    inner = re.sub(r"\\(?:" + "|".join(_STYLE) + r")\s*", "", inner)
    inner = re.sub(r"\\(" + "|".join(_GREEK) + r")(?![A-Za-z])", r"\1", inner)
    inner = inner.replace("{", "").replace("}", "").replace(" ", "")
    return inner if "," in inner else inner.replace("_", "")


_NAME_END = re.compile(r"\s*(?:_|\^\s*\{\s*\(|\^\s*\(|\^\s*[A-Za-z](?![A-Za-z]))")


def _read_name(text: str, pos: int, base: str) -> tuple[str, int]:
    """The name starting with ``base`` whose subscripts and superscripts start at ``pos``.

    ``_x``, ``_{h_1}``, ``_{h1,o1}``; ``^{(l)}``, ``^{(l+1)}``, ``^(L)`` (a layer); ``^b`` (a
    letter: the lecture notes' table w^b). ``^2`` and ``^{-x}`` are powers, left to SymPy.
    """
    name = base
    while True:
        match = _NAME_END.match(text, pos)
        if match is None:
            return name, pos
        mark = match.group().strip()[0]
        if mark == "_":
            inner, pos = _group(text, match.end())
            flat = _flat(inner)
            if not re.fullmatch(r"[A-Za-z0-9,=+\-]+", flat):
                raise FormulaError(f"cannot read the LaTeX subscript _{{{inner}}} of {base}")
            name += f"_{{{flat}}}" if "," in flat else f"_{flat}"
        elif "(" in match.group():
            close = text.find(")", match.end())
            if close < 0:
                raise FormulaError(f"cannot read the LaTeX superscript of {base}: a parenthesis is not closed")
            layer = text[match.end():close].replace(" ", "")
            pos = close + 1
            if text.startswith("}", pos) or (pos < len(text) and text[pos] == " " and "{" in match.group()):
                pos = text.index("}", pos) + 1
            name += f"^({layer})"
        else:  # the lecture notes' w_{jk}^b is wb[j][k]
            letter = match.group().strip()[-1]
            pair = re.fullmatch(r"([A-Za-z]+)_([0-9a-z])([0-9a-z])", name)
            if pair is None:
                raise FormulaError(f"cannot read the LaTeX {name}^{letter}: a letter superscript names a weight "
                                   "table, as w_{jk}^b (wb[j][k])")
            name = f"{pair.group(1)}{letter}[{pair.group(2)}][{pair.group(3)}]"
            pos = match.end()


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] == " ":
        pos += 1
    return pos


def _primes(text: str, pos: int) -> tuple[str, int]:
    r"""Primes after a function name: ``'``, ``^{\prime}``, ``^\prime`` -> ``'``."""
    primes = ""
    while True:
        pos = _skip(text, pos)
        match = re.match(r"'|\^\s*\{\s*\\prime\s*\}|\^\s*\\prime(?![A-Za-z])", text[pos:])
        if match is None:
            return primes, pos
        primes += "'"
        pos += match.end()


def _partial(text: str) -> str | None:
    r"""``\partial E_{total}`` -> ``E_total``; None when it is not a partial of one name."""
    match = re.fullmatch(r"\s*\\partial\s*(.*?)\s*", text, re.S)
    if match is None:
        return None
    body = match.group(1)
    while body.startswith("{") and _group(body, 0)[1] == len(body):
        body = body[1:-1].strip()
    body = re.sub(r"\\mathrm\{e\}\s*\(\s*\\mathbf\{w\}\s*\)|^e\s*\(\s*\\mathbf\{w\}\s*\)", "e", body)
    names = _Names()
    try:
        translated = _pretranslate(body, names)
    except FormulaError:
        return None
    entries = [v for v in names.table.values() if isinstance(v, str)]
    if len(names.table) != 1 or not entries or translated.strip() != next(iter(names.table)):
        return None
    return entries[0]


def _pretranslate(latex: str, names: _Names) -> str:
    """The text SymPy's grammar reads, with the learner's names as placeholders."""
    text = latex
    for space in (r"\,", r"\;", r"\!", r"\:", "&", "$", "\n", "\t"):
        text = text.replace(space, " ")
    out: list[str] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "\\":
            word_match = re.match(r"\\([A-Za-z]+|.)", text[pos:], re.S)
            if word_match is None:
                raise _refuse(latex, "it ends with a backslash")
            word = word_match.group(1)
            end = pos + word_match.end()
            if word in _IGNORED or word in ("\\", " ", ","):
                # \left and \right: dropped here, because SymPy's lexer also reads \left as \le + "ft"
                pos = end
                continue
            if word in ("frac", "dfrac", "tfrac"):
                num, after_num = _group(text, end)
                den, after_den = _group(text, after_num)
                a, b = _partial(num), _partial(den)
                if a is not None and b is not None:  # Leibniz: no \partial in SymPy's grammar
                    out.append(" " + names.placeholder("P", f"d{a}/d{b}") + " ")
                    pos = after_den
                    continue
            if word == "sum":  # \sum_j, \sum_{j}, \sum_{j=1}^{n}: SymPy's grammar needs both bounds
                if not text[_skip(text, end):].startswith("_"):
                    raise _refuse(latex, r"write a sum with its index, as \sum_j or \sum_{j=1}^{n}")
                index, after = _group(text, _skip(text, end) + 1)
                index = index.split("=")[0].strip()
                if not re.fullmatch(r"[a-z]", index):
                    raise _refuse(latex, rf"the index of \sum_{{{index}}} must be one letter, as \sum_k")
                after = _skip(text, after)
                if text.startswith("^", after):
                    _, after = _group(text, after + 1)
                out.append(rf" \sum_{{{index}=1}}^{{n}} ")
                pos = after
                continue
            if word == "hat":  # the lecture notes' \hat{z}_k: the target, zhat_k
                inner, after = _group(text, end)
                if not re.fullmatch(r"[A-Za-z]", inner.strip()):
                    raise _refuse(latex, r"\hat is read on one letter, as \hat{z}_k")
                name, after = _read_name(text, after, inner.strip() + "hat")
                out.append(" " + names.placeholder("N", name) + " ")
                pos = after
                continue
            if word in _STYLE:
                inner, after = _group(text, end)
                if re.fullmatch(r"[A-Za-z]+", inner.strip()):
                    if inner.strip() == "e" and re.match(r"\s*\(\s*\\mathbf\{w\}\s*\)", text[after:]):
                        after = text.index(")", after) + 1  # Learning From Data's e(w): the error e
                    name, after = _read_name(text, after, inner.strip())
                    out.append(" " + names.placeholder("N", name) + " ")
                    pos = after
                    continue
                raise _refuse(latex, rf"\{word}{{{inner}}} is not a name")
            if word in _GREEK:
                primes, after = _primes(text, end)
                if word in _CALLS and text[_skip(text, after):].startswith("(") or primes:
                    out.append(" " + names.placeholder("F", _CALLS.get(word, word) + primes) + " ")
                    pos = after
                    continue
                name, after = _read_name(text, end, word)
                out.append(" " + names.placeholder("N", name) + " ")
                pos = after
                continue
            if word == "partial":
                raise _refuse(latex, r"\partial is read in a fraction of two names, as "
                                     r"\frac{\partial E_{total}}{\partial w_1}")
            if word in _FUNCTION_COMMANDS:
                if not text[_skip(text, end):].startswith("("):
                    raise _refuse(latex, rf"write \{word} with its argument in parentheses, as \{word}(x)")
                out.append(" " + names.placeholder("F", _FUNCTION_COMMANDS[word]) + " ")
                pos = end
                continue
            if word in _SYMPY_COMMANDS:
                out.append(f" \\{word} ")
                pos = end
                continue
            raise FormulaError(f"cannot read the LaTeX command '\\{word}'; write \\frac, \\partial, \\sum, "
                               r"\sigma, \theta, \delta, \cdot, \left, \right")
        if char == "1" and re.match(r"1_\{?\s*\w+\s*=\s*\w+\s*\}?", text[pos:]) and not (
                pos and (text[pos - 1].isalnum() or text[pos - 1] in "_.")):
            match = re.match(r"1_\{?\s*(\w+)\s*=\s*(\w+)\s*\}?", text[pos:])
            out.append(" " + names.placeholder("I", f"{match.group(1)}={match.group(2)}") + " ")
            pos += match.end()
            continue
        if char.isascii() and char.isalpha():
            word = re.match(r"[A-Za-z][A-Za-z0-9]*", text[pos:]).group()
            end = pos + len(word)
            primes, after = _primes(text, end)
            if (word in _CALLS or primes) and text[_skip(text, after):].startswith("("):
                out.append(" " + names.placeholder("F", _CALLS.get(word, word) + primes) + " ")
                pos = after
                continue
            name, after = _read_name(text, end, word)
            out.append(" " + names.placeholder("N", name) + " ")
            pos = after
            continue
        out.append(char)
        pos += 1
    return "".join(out)


_TOKENS = re.compile(r"[NPIF]_\{q[a-z]+\}|\\[A-Za-z]+|\d+(?:\.\d*)?|\S")
_BOUNDS = 10  # _ { j = 1 } ^ { n } after \sum, as _pretranslate writes them


_OPENS = re.compile(r"[NPIF]_\{q[a-z]+\}|\d|\(|\\frac|\\dfrac|\\tfrac|\\sum|\\exp|\\log|\\ln|\\tanh|\\sqrt")
_CLOSES = re.compile(r"[NPI]_\{q[a-z]+\}$|\d$|\)$")


def _explicit_products(text: str) -> str:
    r"""Juxtaposed factors joined by ``\cdot``: SymPy's grammar reads ``a b`` and ``(a)(b)`` but not ``(a) b (c)``.

    A factor ends with a placeholder, a digit, ``)`` or the ``}`` closing a ``\frac``'s
    denominator or a power's exponent; the next starts with a placeholder, a digit, ``(``,
    ``\frac``, ``\sum`` or a function. Braces of a ``\frac``, a ``\sqrt`` and a sum's
    bounds are never split.
    """
    tokens = _TOKENS.findall(text)
    out: list[str] = []
    braces: list[str] = []  # what each open brace belongs to
    pending = ""  # the role of the next "{"
    frac_args = 0
    sum_bounds = 0  # the _{j=1} and ^{n} after \sum
    last_closes = False
    for token in tokens:
        if token == "{":
            role = pending or "group"
            if role == "group" and last_closes:  # (a) {\sum ...}: a product with the braced sum
                out.append(r"\cdot")
            if role == "frac" and frac_args:
                frac_args -= 1
                role = "frac_den" if frac_args == 0 else "frac_num"
            braces.append(role)
            pending = "frac" if frac_args else ""
            out.append(token)
            last_closes = False
            continue
        if token == "}":
            role = braces.pop() if braces else "group"
            out.append(token)
            last_closes = role in ("frac_den", "power", "group", "sqrt")
            pending = "frac" if frac_args else ""
            continue
        if last_closes and _OPENS.match(token) and not (out and out[-1].startswith("F_")):
            out.append(r"\cdot")
        frac_args, pending = 0, ""  # a brace group belongs only to the token just before it
        if token in (r"\frac", r"\dfrac", r"\tfrac"):
            frac_args, pending = 2, "frac"
        elif token == r"\sum":
            sum_bounds = 2
        elif token in ("^", "_") and sum_bounds:
            sum_bounds -= 1
            pending = "bound"
        elif token == "^":
            pending = "power"
        elif token == r"\sqrt":
            pending = "sqrt"
        out.append(token)
        last_closes = bool(_CLOSES.search(token)) and not token.startswith("F_")
        if token in ("^", "_", "=") or token.startswith("\\"):
            last_closes = False
    return " ".join(out)


def _brace_calls(text: str) -> str:
    r"""Each call of a function's placeholder in braces, ``{F_{qa}(x)}``: F (x) can then be read only
    as the call or as F times (x) over the same extent, and both are the call."""
    tokens = _TOKENS.findall(text)
    k = 0
    while k < len(tokens):
        if tokens[k].startswith("F_") and k + 1 < len(tokens) and tokens[k + 1] == "(":
            depth = 0
            for end in range(k + 1, len(tokens)):
                depth += {"(": 1, ")": -1}.get(tokens[end], 0)
                if depth == 0:
                    break
            tokens[k:end + 1] = ["{", *tokens[k:end + 1], "}"]
            k += 1
        k += 1
    return " ".join(tokens)


def _brace_sums(text: str) -> str:
    r"""Each sum and its body in braces: ``{\sum_{j=1}^{n} {body}}``.

    SymPy's grammar leaves open where a sum's body ends (``\sum_j a_j + b``: is ``+ b`` in
    it?), and with many sums the readings multiply beyond any memory. The body is a
    product, as in the plain formula language: it ends at a ``+``, ``-`` or ``=`` outside
    parentheses, or where the group around the sum closes.
    """
    tokens = _TOKENS.findall(text)
    k = 0
    while k < len(tokens):
        if tokens[k] != r"\sum":
            k += 1
            continue
        start = k + 1 + _BOUNDS
        depth, end = 0, len(tokens)
        for pos in range(start, len(tokens)):
            token = tokens[pos]
            if token in "({[":
                depth += 1
            elif token in ")}]":
                depth -= 1
                if depth < 0:
                    end = pos
                    break
            elif depth == 0 and token in "+-=" and pos > start:
                end = pos
                break
        tokens[k:end] = ["{", *tokens[k:start], "{", *tokens[start:end], "}", "}"]
        k += 2
    return " ".join(tokens)


# ------------------------------------------------------------------ SymPy's parser
@lru_cache(maxsize=1)
def _parser() -> Any:
    """SymPy's LaTeX grammar in a Lark Earley parser that resolves ambiguity itself.

    SymPy's own ``LarkLaTeXParser`` asks Lark for every reading (``ambiguity="explicit"``):
    with 20 nested calls ``\\sigma(\\sigma(...))`` that tree no longer fits in memory. After
    the pre-translation the only reading left open is ``F(x)``, a call or F times (x), and
    both are a call here (F is a function's placeholder).
    """
    try:
        import lark
        from sympy.parsing.latex.lark import latex_parser
    except ImportError:
        raise FormulaError(_INSTALL) from None
    grammar_dir = Path(latex_parser.__file__).parent / "grammar"
    return lark.Lark((grammar_dir / "latex.lark").read_text(encoding="utf-8"), source_path=str(grammar_dir) + "/",
                     parser="earley", start="latex_string", lexer="auto", ambiguity="resolve",
                     propagate_positions=False, maybe_placeholders=False, keep_all_tokens=True)


def _convert(tree: Any, names: _Names, latex: str, is_partial: Callable[[str, str], bool]) -> Expr:
    """SymPy's parse tree -> :mod:`chainrule.learn.expr`'s tree, by an explicit stack."""
    from lark import Token, Tree

    def leaf(token: Any) -> Expr:
        text = str(token)
        if token.type in ("DIGIT",) or re.fullmatch(r"\d+(\.\d*)?", text):
            return Num(_check_number(latex, text))
        meaning = names.table.get(text)
        if isinstance(meaning, Expr):
            return meaning
        if text.startswith("P_") and isinstance(meaning, str):
            a, b = meaning[1:].split("/d", 1)
            a, b = (_name_token(x) for x in (a, b))
            return Sym(f"d{a}/d{b}") if is_partial(a, b) else Div(Sym("d" + a), Sym("d" + b))
        if text.startswith("F_") and isinstance(meaning, str):
            return Sym(meaning)  # a function's placeholder; its call is built by the rule around it
        if text.startswith("I_") and isinstance(meaning, str):
            i, j = meaning.split("=")
            return Indicator(i, j)
        if isinstance(meaning, str):
            return Sym(_name_token(meaning))
        if re.fullmatch(r"[a-z]", text):  # a sum's bound n, or its index letter
            return Sym(text)
        raise _refuse(latex, f"SymPy's LaTeX parser read {text!r}, which is not a name here")

    def _name_token(name: str) -> str:
        tokens = tokenize(name)
        if len(tokens) != 1 or tokens[0][0] != "name":
            raise _refuse(latex, f"{name!r} is not one name")
        return tokens[0][1]

    done: dict[int, Expr] = {}
    stack: list[tuple[Any, bool]] = [(tree, False)]
    while stack:
        node, expanded = stack.pop()
        if isinstance(node, Token):
            continue
        kids = node.children
        if not expanded:
            stack.append((node, True))
            stack.extend((c, False) for c in kids if isinstance(c, Tree))
            continue
        args = [done[id(c)] if isinstance(c, Tree) else c for c in kids]
        values = [a for a in args if isinstance(a, Expr) or (isinstance(a, Token) and _is_value(a))]
        values = [leaf(a) if isinstance(a, Token) else a for a in values]
        done[id(node)] = _build(str(node.data), values, args, node, latex, names)
    return done[id(tree)]


def _is_value(token: Any) -> bool:
    return token.type in ("DIGIT", "SYMBOL", "LATIN_SYMBOL_WITH_LATIN_SUBSCRIPT", "GREEK_SYMBOL_WITH_PRIMES") or \
        token.type.startswith("__ANON") and re.fullmatch(r"\d+(\.\d*)?", str(token)) is not None


def _build(rule: str, values: list[Expr], args: list[Any], node: Any, latex: str, names: _Names) -> Expr:
    from lark import Token

    if rule in ("latex_string", "group_round_parentheses", "group_curly_parentheses", "group_square_brackets"):
        return values[0]
    if rule == "number":
        return Num(_check_number(latex, str(args[0])))
    if rule in ("add", "sub"):
        sign = 1 if rule == "add" else -1
        if len(values) == 1:
            return values[0] if sign == 1 else Neg(values[0])
        left = values[0].terms if isinstance(values[0], Add) else ((1, values[0]),)  # a - b + c: one sum
        return Add((*left, (sign, values[1])))
    if rule == "adjacent_expressions" and isinstance(args[0], Token) and str(args[0]) in names.functions:
        return Call(str(names.table[str(args[0])]), (values[1],))  # F (x): the call, as braced by _brace_calls
    if rule in ("mul", "adjacent_expressions"):
        factors: list[Expr] = []
        for v in values:
            factors.extend(v.factors if isinstance(v, Mul) else (v,))
        return Mul(tuple(factors))
    if rule in ("div", "fraction"):
        return Div(values[0], values[1])
    if rule == "superscript":
        if any(isinstance(a, Token) and a.type in ("CMD_PRIME", "PRIMES", "PRIMES_VIA_CMD") for a in args):
            raise _refuse(latex, "a prime is read on a function's name only, as \\sigma'(net_{h1})")
        return Pow(values[0], values[1])
    if rule == "function_applied":
        head = str(args[0])
        func = names.table.get(head)
        if not isinstance(func, str):
            raise _refuse(latex, f"{head} is not a function")
        args_ = values[1].items if len(values) == 2 and isinstance(values[1], _Args) else tuple(values[1:])
        return Call(func, args_)
    if rule == "list_of_expressions":
        return values[0] if len(values) == 1 else _Args(tuple(values))
    if rule == "square_root" and len(values) != 1:
        raise _refuse(latex, r"write a square root as \sqrt{x}; other roots as powers, x^{1/3}")
    if rule in ("exponential", "tanh", "square_root"):
        return Call({"exponential": "exp", "square_root": "sqrt"}.get(rule, rule), (values[-1],))
    if rule == "log":
        if len(values) != 1:
            raise _refuse(latex, "write the natural logarithm as \\log(x) or \\ln(x), without a base")
        return Call("log", (values[0],))
    if rule == "group_curly_parentheses_special":
        return _Args(tuple(values))
    if rule == "summation":
        bounds, body = values[0], values[-1]
        index = bounds.items[0] if isinstance(bounds, _Args) else None
        if not isinstance(index, Sym):
            raise _refuse(latex, "write a sum with its index, as \\sum_j")
        return SumOver(index.name, body)
    raise _refuse(latex, f"SymPy's LaTeX parser reads a {rule.replace('_', ' ')} here, "
                         "which a derivative formula does not use")


class _Args(Expr):
    """Several values of one grammar rule (a call's arguments, a sum's bounds); never left in a tree."""

    def __init__(self, items: tuple[Expr, ...]) -> None:
        self.items = items


def _split_equation(latex: str) -> str:
    """The right-hand side of a pasted ``lhs = rhs`` (an ``=`` inside braces belongs to 1_{i=j} or a bound)."""
    depth, last = 0, -1
    for pos, char in enumerate(latex):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if char == "=" and depth == 0:
            last = pos
    return latex[last + 1:] if last >= 0 and latex[last + 1:].strip() else latex


def read_latex(latex: str, is_partial: Callable[[str, str], bool] | None = None) -> Expr:
    r"""The tree of a LaTeX formula, read by SymPy's LaTeX grammar after the budgets are checked.

    Raises
    ------
    FormulaError
        Over a budget, a command outside derivative formulas (``\int``), text SymPy's parser
        cannot read, or SymPy/lark missing (one line naming the extra to install).
    """
    check_budgets(latex)
    names = _Names()
    try:
        text = _explicit_products(_brace_calls(_brace_sums(_pretranslate(_split_equation(latex), names))))
    except FormulaError:
        raise
    except (ValueError, IndexError):  # a group or parenthesis that never closes
        raise _refuse(latex, "a brace or parenthesis is not closed") from None
    parser = _parser()
    import lark

    try:
        tree = parser.parse(text)
    except lark.exceptions.UnexpectedInput:
        raise _refuse(latex, "SymPy's LaTeX parser cannot read it; check the operators, braces and "
                             "parentheses") from None
    except (lark.exceptions.LarkError, RecursionError) as error:
        raise _refuse(latex, f"SymPy's LaTeX parser cannot read it ({type(error).__name__})") from None
    result = _convert(tree, names, latex, is_partial or (lambda a, b: False))
    stack, deepest = [(result, 1)], 1
    while stack:  # powers and signs nest without braces (a^b^c, - - a): the depth budget again
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            raise _refuse(latex, f"nested more than {MAX_DEPTH} levels deep (powers and signs)")
        stack.extend((child, depth + 1) for child in children(node))
    return result
