"""Formula budgets: every hostile formula is a FormulaError (or a verdict) within a second or two.

The formulas run in a subprocess with a generous time limit, so a regression fails instead
of hanging the suite; each outcome must be a FormulaError naming the budget, never a
RecursionError or a run of exact arithmetic. A hypothesis test feeds formula strings
built from the language's own pieces and asserts FormulaError or a verdict, nothing else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrule.errors import FormulaError
from chainrule.examples import mazur
from chainrule.learn.check import Checker
from chainrule.learn.formula import MAX_DEPTH, MAX_DIGITS, MAX_LENGTH
from chainrule.learn.latex import MAX_LATEX_LENGTH

from .conftest import REPO

HOSTILE = {
    "3^-9^9": "below floating point",
    "(1/3)^(9^9)": "below floating point",
    "(1/2)^(10^15)": "below floating point",
    "exp(-9^9)*out_h1": "below floating point",
    "1e-320*out_h1": "beyond floating point",
    "0." + "3" * 100_000: f"longer than {MAX_LENGTH} characters",
    "1." + "3" * 200: f"more than {MAX_DIGITS} significant digits",
    "-" * 2000 + "out_o1": f"nested more than {MAX_DEPTH} levels deep",
    "(" * 1000 + "out_o1" + ")" * 1000: f"nested more than {MAX_DEPTH} levels deep",
    "+".join(["out_o1"] * 150_000): f"longer than {MAX_LENGTH} characters",
    "out_o1" + "^out_o1" * 500: f"nested more than {MAX_DEPTH} levels deep",
    "exp(" * 300 + "1" + ")" * 300: f"nested more than {MAX_DEPTH} levels deep",
    "9^9^9^9": "the constant 9**(9**(9**9)) is beyond floating point",
    "sum_k " * 40 + "out_ok": "more than 4 sums nested",
    "sigmoid(9^9^9)*out_h1": "the constant 9**(9**9) is beyond floating point",
    # LaTeX: the raw text's budgets are checked before SymPy's parser sees it
    r"2 \cdot 9^{9^{9^{9}}}": "the constant 2*(9**(9**(9**9)))",
    "\\left(" * 40 + "(" * 70 + "out_{o1}" + ")" * 70 + "\\right)" * 40: f"nested more than {MAX_DEPTH} levels deep",
    r"\frac{1}{2}" + " + out_{o1}" * 300: f"longer than {MAX_LATEX_LENGTH} characters of LaTeX",
    r"\sum_k " * 6 + "out_{ok}": "more than 4 sums nested",
    r"\frac{1}{3}^{9^{9}}": "below floating point",
    r"\frac{1}{" + "3" * 400 + "}": f"more than {MAX_DIGITS} significant digits",
    r"\frac{1}{2}" + "^2" * 150: f"nested more than {MAX_DEPTH} levels deep",
}
# Not constants: their values leave floating point at the points, so the verdict is "wrong", at once.
OUT_OF_RANGE = ["out_o1^(10^15)", "(10*net_o1)^(10*net_o1)^(10*net_o1)", "exp(exp(exp(100*net_o1)))", "1/0*out_h1",
                # 60 nested calls in LaTeX: SymPy's grammar reads F(x) two ways, so all readings would be 2^60
                r"\sigma(" * 60 + "net_{o1}" + ")" * 60]

RUN_ALL = """
import json, sys, time
from chainrule.errors import FormulaError
from chainrule.examples import mazur
from chainrule.learn.check import check

net, x, target = mazur()
results = {}
for formula in json.loads(sys.stdin.read()):
    start = time.perf_counter()
    try:
        verdict = check(net, "w5", formula, x, target)
        outcome = ["verdict", verdict.status]
    except FormulaError as error:
        outcome = ["FormulaError", str(error)[:400]]
    except RecursionError:
        outcome = ["RecursionError", ""]
    results[formula[:60]] = outcome + [time.perf_counter() - start]
    print(json.dumps(results), flush=True)
"""


def test_hostile_formulas_are_refused_quickly_with_the_budget_named():
    formulas = list(HOSTILE) + OUT_OF_RANGE
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    try:
        result = subprocess.run([sys.executable, "-c", textwrap.dedent(RUN_ALL)], input=json.dumps(formulas),
                                capture_output=True, text=True, env=env, timeout=120)
    except subprocess.TimeoutExpired as error:
        done = (error.stdout or "").strip().splitlines() if isinstance(error.stdout, str) else []
        finished = json.loads(done[-1]) if done else {}
        stuck = next(f for f in formulas if f[:60] not in finished)
        pytest.fail(f"check() did not return within 120 s for {stuck[:60]!r}")
    assert result.returncode == 0, result.stderr[-2000:]
    outcomes = json.loads(result.stdout.strip().splitlines()[-1])
    for formula, words in HOSTILE.items():
        kind, message, seconds = outcomes[formula[:60]]
        assert kind == "FormulaError" and words in message, (formula[:60], outcomes[formula[:60]])
        assert "names available" in message
    for formula in OUT_OF_RANGE:
        kind, status, _ = outcomes[formula[:60]]
        assert kind == "verdict" and status == "wrong", (formula, outcomes[formula[:60]])


_CHECKER = None


def _checker() -> Checker:
    global _CHECKER
    if _CHECKER is None:
        net, x, target = mazur()
        _CHECKER = Checker(net, "w1", x, target, bias="shared", points=4)
    return _CHECKER


PIECES = st.sampled_from(["out_o1", "net_h1", "w5", "i1", "target_o1", "dE/dout_h1", "dout_h1/dnet_h1", "2", "0.5",
                          "9", "1e300", "1e-300", "+", "-", "*", "/", "^", "**", "(", ")", ",", "exp(", "log(",
                          "sigma'(", "tanh'(", "sum_k ", "delta_ok", "w_{h1,ok}", "1_{i=j}", "\\frac{", "}{", "}",
                          "\\partial ", "E_{total}", " ", "=", "'", "[", ".", "foo", "\\sum_j ", "\\left(", "\\right)"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PIECES, min_size=1, max_size=25))
def test_any_formula_string_is_a_verdict_or_a_formula_error(pieces):
    formula = "".join(pieces)
    try:
        verdict = _checker().judge(formula)
    except FormulaError as error:
        assert str(error)
        return
    assert verdict.status in ("correct", "number", "sample", "wrong", "circular", "parameter_as_function")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_any_text_is_a_verdict_or_a_formula_error(text):
    try:
        _checker().judge(text)
    except FormulaError:
        pass
