"""Hostile formulas into the formula checker: refused as FormulaError, nothing run, no endless arithmetic.

``chainrule.learn.check`` hands a learner's formula to SymPy after checking every token.
Code must never run (attribute access, strings, lambdas, imports), and formulas whose
constants SymPy would compute exactly without end (power towers, huge exponents) must be
refused at once. The latter run in a subprocess with a time limit, so a regression fails
instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from chainrule.errors import FormulaError
from chainrule.examples import mazur

from .conftest import REPO

check = pytest.importorskip("chainrule.learn.check").check


@pytest.mark.parametrize("formula", [
    "__import__('os').system('touch pwned')",
    "open('pwned', 'w')",
    "exp.__globals__",
    "out_o1.__class__.__mro__",
    "(lambda: 1)()",
    "exp(1)[0]",
    "Symbol('pwned')",
    "Integer(1)",
    "eval(1)",
    "out_o1; 1",
    "out_o1 if 1 else 0",
])
def test_code_in_a_formula_is_refused(tmp_path, monkeypatch, formula):
    monkeypatch.chdir(tmp_path)
    net, x, target = mazur()
    with pytest.raises(FormulaError, match=r"not allowed|unknown name"):
        check(net, "w5", formula, x, target)
    assert list(tmp_path.iterdir()) == []


ENDLESS = {
    "9**9**9**9": "the constant 9**(9**(9**9)) is beyond floating point",
    "9^9^9^9": "the constant 9**(9**(9**9)) is beyond floating point",
    "out_o1^(9^9^9)": "the constant 9**(9**9) is beyond floating point",
    "sigmoid(9^9^9)": "is beyond floating point",
    "(9^999)^999": "the constant (9**999)**999 is beyond floating point",
    "999999999^999999999": "is beyond floating point",
    "out_h1*exp(exp(exp(1000)))": "is beyond floating point",
    "1e999999": "the number 1e999999 is beyond floating point",
    "1e-99999*out_h1": "the number 1e-99999 is beyond floating point",
}
# Towers over the network's own quantities parse symbolically; their value overflows floats: NaN, not a hang.
OVERFLOWING = ["(10*net_o1)^(10*net_o1)^(10*net_o1)^(10*net_o1)", "exp(exp(exp(100*net_o1)))"]

RUN_ALL = """
import json, sys, time
from chainrule.errors import FormulaError
from chainrule.examples import mazur
from chainrule.learn.check import check

net, x, target = mazur()
results = {}
for formula in json.loads(sys.argv[1]):
    start = time.perf_counter()
    try:
        verdict = check(net, "w5", formula, x, target)
        outcome = ["verdict", verdict.correct, repr(verdict.got)]
    except FormulaError as error:
        outcome = ["FormulaError", str(error)]
    results[formula] = outcome + [time.perf_counter() - start]
    print(json.dumps(results), flush=True)
"""


def test_formulas_that_would_compute_without_end_are_refused_at_once():
    formulas = list(ENDLESS) + OVERFLOWING
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    try:
        result = subprocess.run([sys.executable, "-c", textwrap.dedent(RUN_ALL), json.dumps(formulas)],
                                capture_output=True, text=True, env=env, timeout=60)
    except subprocess.TimeoutExpired as error:
        done = (error.stdout or b"").decode().strip().splitlines()
        finished = json.loads(done[-1]) if done else {}
        stuck = next(f for f in formulas if f not in finished)
        pytest.fail(f"check() did not return within 60 s for {stuck!r}")
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout.strip().splitlines()[-1])
    for formula, words in ENDLESS.items():
        kind, message, _seconds = outcomes[formula]
        assert kind == "FormulaError" and words in message, (formula, outcomes[formula])
    for formula in OVERFLOWING:
        kind, correct, got, _seconds = outcomes[formula]
        assert kind == "verdict" and correct is False and got == "nan", (formula, outcomes[formula])
