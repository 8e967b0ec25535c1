"""check reads formulas as learners write them, and answers the learners' own questions.

Each case is judged for all weights and inputs (the verdict's ``holds``), never by one
number at one sample: a right formula must say "holds for all weights and inputs".
"""

from __future__ import annotations

import re

import pytest

import chainrule as cr
from chainrule.errors import FormulaError
from chainrule.learn import check, trace
from chainrule.learn.check import Checker
from test_trace import make_case

HOLDS = "holds for all weights and inputs"


@pytest.fixture(scope="module")
def mazur_w1():
    net, x, t = cr.examples.mazur()
    return Checker(net, "w1", x, t, bias="shared")


@pytest.fixture(scope="module")
def extended_w1():
    net, x, t = make_case([2, 2, 2, 2], "sigmoid", "sigmoid", "unit", seed=0)
    return Checker(net, "w1", x, t)


@pytest.mark.parametrize("formula", [
    "dE/dout_h1*dout_h1/dnet_h1*dnet_h1/dw1",
    "dE_total/dout_h1 * dout_h1/dnet_h1 * dnet_h1/dw1",
    "∂E_total/∂out_h1 * ∂out_h1/∂net_h1 * ∂net_h1/∂w1",
    "dE_o1/dw1 + dE_o2/dw1",
    "dE/dnet_h1*dnet_h1/dw1",
    "(dE/dout_o1*dout_o1/dnet_o1*w5 + dE/dout_o2*dout_o2/dnet_o2*w7)*sigma'(net_h1)*i1",
    "(delta_o1*w5 + delta_o2*w7)*sigmoid(net_h1)*(1 - sigmoid(net_h1))*i1",
    "(delta_o1*w5 + delta_o2*w7)*σ'(net_h1)*i1",
    "sum_k delta_k*w_h1,k*out_h1*(1 - out_h1)*i1",
    "sum(delta_ok*w_{h1,ok}, k)*out_h1*(1 - out_h1)*i1",
    "dh1/dw1*do2/dh1*dE/do2 + dh1/dw1*do1/dh1*dE/do1",
    r"\frac{\partial E_{total}}{\partial out_{h_1}} \cdot \frac{\partial out_{h_1}}{\partial net_{h_1}} "
    r"\cdot \frac{\partial net_{h_1}}{\partial w_1}",
    r"\frac{\partial E_{total}}{\partial w_1} = \left( \delta_{o1} w_5 + \delta_{o2} w_7 \right) out_{h1} "
    r"(1 - out_{h1}) i_1",
])
def test_learners_spellings_of_the_right_derivative_hold_for_all_weights(mazur_w1, formula):
    verdict = mazur_w1.judge(formula)
    assert verdict.correct and verdict.holds == HOLDS, verdict.to_text()


def test_the_extra_layer_question_answered_both_ways(extended_w1):
    """dE/dw1 = dE_j1/dw1 + dE_j2/dw1 holds; writing it once per output counts every path twice."""
    assert extended_w1.judge("dE_j1/dw1 + dE_j2/dw1").holds == HOLDS
    assert extended_w1.judge("dE_o1/dw1 + dE_o2/dw1").holds == HOLDS
    twice = extended_w1.judge("(dE_j1/dw1 + dE_j2/dw1) + (dE_j1/dw1 + dE_j2/dw1)")
    assert twice.mistake == "double_counted" and "twice" in twice.hint


def test_a_weight_written_as_a_function_of_a_neuron(mazur_w1):
    verdict = mazur_w1.judge("dh1/dw1*dw7/dh1*do2/dw7*dE/do2 + dh1/dw1*dw5/dh1*do1/dw5*dE/do1")
    assert verdict.mistake == "parameter_as_function" and not verdict.correct
    assert "w7 is a constant" in verdict.hint and "dnet_o2/dout_h1 = w7" in verdict.hint


@pytest.mark.parametrize("formula", ["dE_dw5", "dE/dw5", "(w5 - w5_new)/eta", "∂E_total/∂w5"])
def test_a_restatement_is_circular_not_correct(formula):
    net, x, t = cr.examples.mazur()
    verdict = check(net, "w5", formula, x, t, bias="shared")
    assert verdict.status == "circular" and verdict.mistake == "circular" and not verdict.correct


def test_the_updated_weights_use_the_same_learning_rate_as_trace():
    net, x, t = cr.examples.mazur()
    for lr in (0.5, 0.1):
        traced = trace(net, x, t, lr=lr, bias="shared", update_biases=False)
        verdict = check(net, "w1", "(delta_o1*w5_new + delta_o2*w7_new)*out_h1*(1 - out_h1)*i1", x, t,
                        bias="shared", lr=lr)
        assert verdict.derivation.values["w5_new"] == pytest.approx(traced.values["w5_new"], rel=1e-12)
        assert verdict.mistake == "updated_weights"


def test_the_typed_in_right_number_says_so():
    net, x, t = cr.examples.mazur()
    value = check(net, "w5", "delta_o1*out_h1", x, t, bias="shared").expected
    verdict = check(net, "w5", repr(value), x, t, bias="shared")
    assert verdict.status == "number" and verdict.correct and "typed in" in verdict.to_text()


def test_learning_from_data_notation_and_latex():
    net, x, t = make_case([2, 3, 1], "tanh", "tanh", "signed", seed=2)
    for formula in ["2*(x_1^(L) - y_n)*(1 - (x_1^(L))^2)", "2*(x_1^(L) - y_n)*theta'(s_1^(L))",
                    "2*(x_1^(L) - y_n)*tanh'(s_1^(2))", "2*(θ(s_1^(L)) - y_n)*(1 - θ(s_1^(L))^2)",
                    r"2\left(x_1^{(L)} - y_n\right)\left(1 - \left(x_1^{(L)}\right)^2\right)",
                    r"\frac{\partial e}{\partial x_1^{(L)}} \cdot \frac{\partial x_1^{(L)}}{\partial s_1^{(L)}}"]:
        verdict = check(net, "delta_1^(L)", formula, x, t, loss="squared_error", names="layer")
        assert verdict.holds == HOLDS, (formula, verdict.to_text())
    hidden = check(net, "w_11^(1)", r"\sum_k \delta_k^{(2)} w_{1k}^{(2)} \theta'(s_1^{(1)}) x_1^{(0)}", x, t,
                   loss="squared_error", names="layer")
    assert hidden.holds == HOLDS, hidden.to_text()


def test_softmax_hidden_derivation_of_the_learner_is_zero_and_named():
    """The softmax-hidden derivation whose w lacks the index i sums to exactly 0: shown as 0, named wrong_index."""
    net, x, t = make_case([2, 3, 2], "softmax", "sigmoid", "unit", seed=4)
    right = "sum_i sum_j delta_oj*w_{hi,oj}*out_hi*(1_{i=1} - out_h1)*i1"
    assert check(net, "w1", right, x, t).holds == HOLDS
    wrong = check(net, "w1", "sum_i sum_j delta_oj*w_{h1,oj}*out_h1*(1_{i=1} - out_hi)*i1", x, t)
    assert wrong.mistake == "wrong_index" and "the formula 0\n" in wrong.to_text() + "\n"


@pytest.mark.parametrize("formula, words", [
    ("foo*out_h1", "unknown name 'foo'"),
    ("sum_q delta_q*w_{zz,q}", "cannot tell which neurons sum_q runs over"),
    ("g'(net_h1)", "not a derivative this checker knows"),
    (r"\int x", r"cannot read the LaTeX command '\int'"),
])
def test_unreadable_formulas_say_why(mazur_w1, formula, words):
    with pytest.raises(FormulaError, match=re.escape(words)):
        mazur_w1.judge(formula)
