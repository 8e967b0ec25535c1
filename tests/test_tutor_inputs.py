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
    (r"\frac{\partial (x - y)^2}{\partial s}", r"\partial is read in a fraction of two names"),
    (r"- - \delta_{o1}", "SymPy's LaTeX parser cannot read it"),
])
def test_unreadable_formulas_say_why(mazur_w1, formula, words):
    with pytest.raises(FormulaError, match=re.escape(words)):
        mazur_w1.judge(formula)


# ------------------------------------------------------------------ LaTeX, read by SymPy's LaTeX grammar
@pytest.mark.parametrize("latex, plain", [
    (r"\frac{\partial E_{total}}{\partial w_1}", "dE_total/dw_1"),
    (r"\sum_j \delta_j w_{jk}", "sum_j delta_j*w_jk"),
    (r"\sigma'(s_j^{(l)})", "sigma'(s_j_l)"),
    (r"x_1^{(L)}", "x_1_L"),
    (r"\left( \delta_{o1} w_5 + \delta_{o2} w_7 \right) out_{h1}", "(delta_o1*w_5 + delta_o2*w_7)*out_h1"),
    (r"\theta^{\prime}(s_1^{(L)})", "theta'(s_1_L)"),
    (r"\left(\sum_k (z_k - \hat{z}_k) z_k (1 - z_k) w_{jk}^b \right) y_j",
     "sum_k (z_k - zhat_k)*z_k*(1 - z_k)*wb[j][k]*y_j"),
    (r"\sum_{i}\sum_{j}(\delta_j*w_{oj})*(1_{i=1}-out_{hi})", "sum_i sum_j delta_j*w_oj*(1[i=1] - out_hi)"),
    (r"\sum_k (z_k - \hat{z}_k)^2 + a - b + c", "sum_k (z_k - zhat_k)^2 + a - b + c"),
    (r"\frac{1}{2} \sum_k (z_k - \hat{z}_k)^2", "1/2*sum_k (z_k - zhat_k)^2"),
    (r"(a) \sum_k x_k \cdot y - \sum_j \sum_i z_{ij} + c", "a*sum_k x_k*y - sum_j sum_i z_ij + c"),
    (r"2(\theta(s_1^{(L)}) - y_n)(\theta^{\prime}(s_1^{(L)}))", "2*(theta(s_1_L) - y_n)*theta'(s_1_L)"),
])
def test_latex_is_read_by_sympys_grammar_into_the_formula_tree(latex, plain):
    from chainrule.learn.expr import render
    from chainrule.learn.formula import read_formula

    assert render(read_formula(latex, lambda a, b: True)) == plain


def test_the_learners_latex_from_their_posts(mazur_w1, extended_w1):
    """The LaTeX of the posts, pasted whole (lhs = rhs), judged for all weights and inputs."""
    frac = r"\frac{{\partial {}}}{{\partial {}}}".format
    assert extended_w1.judge(frac("E_{total}", "w_1") + " = " + frac("E_{j_1}", "w_1") + " + "
                             + frac("E_{j_2}", "w_1")).holds == HOLDS
    twice = extended_w1.judge(frac("Etotal", "w1") + " = " + frac("Eo1", "w1") + " + " + frac("Eo2", "w1")
                              + " = (" + frac("Ej1", "w1") + " + " + frac("Ej2", "w1") + ") + ("
                              + frac("Ej1", "w1") + " + " + frac("Ej2", "w1") + ")")
    assert twice.mistake == "double_counted"
    assert mazur_w1.judge(frac("E_{total}", "w_1")).mistake == "circular"
    assert mazur_w1.judge(r"=\sum_{j}(\delta_{oj}*w_{h1,oj})*(out_{h1})*(1-out_{h1})*i1").holds == HOLDS
    wrong = mazur_w1.judge(frac("L", "w_{1}") + "=" + frac("h_{1}", "w_{1}") + frac("w_{7}", "h_{1}")
                           + frac("o_{2}", "w_{7}") + frac("L", "o_{2}") + "+" + frac("h_{1}", "w_{1}")
                           + frac("w_{5}", "h_{1}") + frac("o_{1}", "w_{5}") + frac("L", "o_{1}"))
    assert wrong.mistake == "parameter_as_function"
    right = mazur_w1.judge(frac("h_{1}", "w_{1}") + frac("o_{2}", "h_{1}") + frac("L", "o_{2}") + "+"
                           + frac("h_{1}", "w_{1}") + frac("o_{1}", "h_{1}") + frac("L", "o_{1}"))
    assert right.holds == HOLDS


def test_kronecker_delta_beside_the_indicator_and_bracket_indices_in_sums():
    net, x, t = make_case([2, 3, 2], "softmax", "sigmoid", "unit", seed=4)
    softmax = Checker(net, "w1", x, t)
    for formula in ["sum_i sum_j delta_oj*w_{hi,oj}*out_hi*(delta_{i,1} - out_h1)*i1",
                    "sum_i sum_j delta_oj*w_{hi,oj}*out_hi*(delta_i1 - out_h1)*i1",
                    r"\sum_{i}\sum_{j}(\delta_{oj}*w_{hi,oj})*(out_{hi})*(\delta_{i1}-out_{h1})*i1"]:
        assert softmax.judge(formula).holds == HOLDS, formula
    assert softmax.judge("sum_i sum_j delta_oj*w_{hi,oj}*out_hi*(delta_i2 - out_h1)*i1").holds != HOLDS
    from chainrule.learn import explain
    from chainrule.learn.naming import lecture_aliases

    net, x, t = make_case([3, 3, 2], "sigmoid", "sigmoid", "unit", seed=5)
    xyz = Checker(net, "wa[0][0]", x, t, aliases=lecture_aliases(explain(net, "w1", x, t).names))
    assert xyz.judge("sum_k z_k*(z_k - zhat_k)*(1 - z_k)*wb[0][k]*y1*(1 - y1)*x1").holds == HOLDS
    assert xyz.judge(r"\left(\sum_k (z_k - \hat{z}_k) z_k (1 - z_k) w_{0k}^b \right) y_1 (1 - y_1) x_1").holds \
        == HOLDS
    assert xyz.judge("sum_k z_k*(z_k - zhat_k)*(1 - z_k)*wb[k][0]*y1*(1 - y1)*x1").mistake == "wrong_index"


def test_latex_without_lark_names_the_extra(monkeypatch):
    import sys

    from chainrule.learn import latex

    latex._parser.cache_clear()
    monkeypatch.setitem(sys.modules, "lark", None)
    try:
        with pytest.raises(FormulaError, match=re.escape("pip install 'chainrule[explain]'")):
            latex.read_latex(r"\frac{1}{2}")
    finally:
        latex._parser.cache_clear()
