"""chainrule.learn.check: textbook derivations judged right, the usual mistakes judged wrong with a hint."""

from __future__ import annotations

import pytest

import chainrule as cr
from chainrule.errors import FormulaError
from chainrule.learn import check, explain
from chainrule.learn.expr import Sym, mul, render
from test_explain import CASES
from test_trace import make_case


@pytest.fixture
def mazur():
    return cr.examples.mazur()


@pytest.fixture
def tanh_output_net():
    """Learning From Data: a tanh output unit and e = (x - y)^2."""
    net, x, target = make_case([2, 3, 1], "tanh", "tanh", "signed", seed=2)
    return net, x, target


def test_learning_from_data_delta_in_its_own_notation(tanh_output_net):
    net, x, target = tanh_output_net
    verdict = check(net, "delta_1^(L)", "2*(x_1^(L) - y_n)*(1 - (x_1^(L))^2)", x, target, loss="squared_error",
                    names="layer")
    assert verdict.correct, verdict
    assert verdict.expected == pytest.approx(verdict.numeric, rel=1e-6)
    assert verdict.holds == "holds for all weights and inputs" and len(verdict.points) >= 8


def test_learning_from_data_delta_with_aliases_and_juxtaposition(tanh_output_net):
    net, x, target = tanh_output_net
    verdict = check(net, "delta_o1", "2(x - y)(1 - x^2)", x, target, loss="squared_error",
                    aliases={"x": "out_o1", "y": "target_o1"})
    assert verdict.correct, verdict
    # The same formula under half squared error is twice too big, and the hint says why.
    wrong = check(net, "delta_o1", "2(x - y)(1 - x^2)", x, target, aliases={"x": "out_o1", "y": "target_o1"})
    assert not wrong.correct and wrong.mistake == "loss_scale" and "1/2" in wrong.hint


def _lecture_notes_formula_7(i, j, n_out):
    """Lecture notes eq. (7) for w_ij^a (sum_k (z_k - zhat_k) z_k (1 - z_k) w_jk^b) y_j (1 - y_j) x_i."""
    terms = " + ".join(f"(z{k} - zhat{k})*z{k}*(1 - z{k})*wb_{j}{k}" for k in range(1, n_out + 1))
    return f"({terms})*y{j}*(1 - y{j})*x{i}"


@pytest.mark.parametrize("sizes", [[2, 2, 2], [3, 3, 2]])
def test_lecture_notes_formula_7_for_every_first_layer_weight(sizes):
    if sizes == [2, 2, 2]:
        net, x, target = cr.examples.mazur()
    else:
        net, x, target = make_case(sizes, "sigmoid", "sigmoid", "unit", seed=4)
    scheme = explain(net, "w1", x, target).names
    aliases = {}
    for i in range(sizes[0]):
        aliases[f"x{i + 1}"] = scheme.input(i)
    for j in range(sizes[1]):
        aliases[f"y{j + 1}"] = scheme.out(1, j)
        for k in range(sizes[2]):
            aliases[f"wb_{j + 1}{k + 1}"] = scheme.weight(2, j, k)
    for k in range(sizes[2]):
        aliases[f"z{k + 1}"], aliases[f"zhat{k + 1}"] = scheme.out(2, k), scheme.target(k)
    for i in range(sizes[0]):
        for j in range(sizes[1]):
            formula = _lecture_notes_formula_7(i + 1, j + 1, sizes[2])
            verdict = check(net, scheme.weight(1, i, j), formula, x, target, aliases=aliases)
            assert verdict.correct, verdict


def test_mazur_de_dw5(mazur):
    verdict = check(*mazur[:1], "dE/dw5", "(out_o1 - target_o1)*out_o1*(1 - out_o1)*out_h1", *mazur[1:])
    assert verdict.correct and verdict.got == pytest.approx(0.082167041, abs=5e-10)
    assert "correct" in str(verdict)


def test_de_dw1_keeping_only_the_o1_path_is_missing_the_o2_term(mazur):
    net, x, target = mazur
    formula = "(out_o1 - target_o1)*out_o1*(1 - out_o1)*w5*out_h1*(1 - out_h1)*i1"
    verdict = check(net, "w1", formula, x, target)
    assert not verdict.correct and verdict.mistake == "missing_paths" and verdict.detail["paths"] == [2]
    assert "through o2, h1" in verdict.hint and "dE/dout_o2*dout_o2/dnet_o2*dnet_o2/dout_h1" in verdict.hint


@pytest.mark.parametrize("formula, key, words", [
    ("(target_o1 - out_o1)*out_o1*(1 - out_o1)*out_h1", "sign", "sign is flipped"),
    ("delta_o1*out_h2", "other_quantity", "dE/dw6"),
    ("(out_o1 - target_o1)*out_o1*(1 - out_o1)", "missing_factor", "dnet_o1/dw5"),
    ("(out_o1 - target_o1)*out_h1", "missing_factor", "dout_o1/dnet_o1"),
    ("delta_o1*out_h1*w5", "extra_factor", "w5"),
    ("(out_o1 - target_o1)*out_o1*(1 - out_o1)*out_h1/2", "loss_scale", "1/2"),
    ("out_o1*out_h1 + w5", "unknown", "no known mistake"),
])
def test_wrong_formulas_get_their_mistake(mazur, formula, key, words):
    net, x, target = mazur
    verdict = check(net, "w5", formula, x, target)
    assert not verdict.correct and verdict.mistake == key and words in verdict.hint, verdict


def test_a_number_that_agrees_at_the_sample_is_a_number_not_a_derivation(mazur):
    net, x, target = mazur
    verdict = check(net, "w5", "0.0821670405642", x, target)
    assert verdict.status == "number" and verdict.holds == "agrees only at this sample"
    assert "typed in" in verdict.to_text()
    assert check(net, "w5", "0.5", x, target).mistake == "unknown"


def test_a_formula_equal_at_the_sample_only_is_not_correct(mazur):
    net, x, target = mazur
    # At Mazur's sample i2 = 2*i1, so delta_h1*i2/2 equals dE/dw1 there, and only there.
    verdict = check(net, "w1", "delta_h1*i2/2", x, target)
    assert verdict.status == "sample" and not verdict.correct and "coincidence" in verdict.hint


def test_formulas_may_use_factor_names_and_functions(mazur):
    net, x, target = mazur
    assert check(net, "w5", "dE_dout_o1*dout_o1_dnet_o1*dnet_o1_dw5", x, target).correct
    assert check(net, "w5", "(out_o1 - target_o1)*sigmoid(net_o1)*(1 - sigmoid(net_o1))*out_h1", x, target).correct
    assert check(net, "delta_o1", "(out_o1 - target_o1)*exp(-net_o1)/(1 + exp(-net_o1))**2", x, target).correct


@pytest.mark.parametrize("formula, words", [
    ("foo*out_h1", "unknown name 'foo'; names available: i1, i2, net_h1"),
    ("out_o1.real", "'.' is not allowed"),
    ("__import__('os')", "is not allowed"),
    ("exec(out_o1)", "unknown name 'exec'"),
    ("out_o1[0]", "unknown name 'out_o1[0]'"),
    ("out_o1[", "'[' is not allowed"),
    ("(out_o1 - ", "not a complete expression"),
    ("", "expected a formula"),
])
def test_bad_formulas_raise_formula_error(mazur, formula, words):
    net, x, target = mazur
    with pytest.raises(FormulaError) as error:
        check(net, "w5", formula, x, target)
    assert words in str(error.value) and "names available: i1, i2, net_h1" in str(error.value)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_path_sums_judged_right_and_a_dropped_path_found(case):
    sizes, hidden, output, loss, kind = CASES[case]
    # A sample and a first-layer weight whose paths carry something (ReLUs may be off for a sample).
    for seed, j in ((seed, j) for seed in range(20 + case, 120, 10) for j in range(sizes[1])):
        net, x, target = make_case(sizes, hidden, output, kind, seed=seed)
        wrt = explain(net, "w1", x, target, loss).names.weight(1, 0, j)
        d = explain(net, wrt, x, target, loss)
        if max(abs(p.value) for p in d.paths) > 1e-9:
            break
    products = [render(mul(*(Sym(f) for f in p.factors))) for p in d.paths]
    assert check(net, wrt, " + ".join(products), x, target, loss, points=1).correct
    if len(products) > 1:
        dropped = max(range(len(products)), key=lambda k: abs(d.paths[k].value))
        formula = " + ".join(p for k, p in enumerate(products) if k != dropped)
        verdict = check(net, wrt, formula, x, target, loss)
        assert not verdict.correct and verdict.mistake == "missing_paths", verdict
        assert verdict.detail["paths"] == [dropped + 1], verdict
