"""A catalogue of wrong derivations, each with the mistake that makes it wrong, across the learners' networks.

Every formula below was written as a learner would get it wrong, and its expected key
says which mutation of the right derivation it is. ``check`` must name that mistake, or
say ``unknown``; it must never name another one (a misleading hint). Over the whole
catalogue at least 90% must be named right (the share is printed with ``-s``).

Networks: Mazur's 2-2-2 (his post "A Step by Step Backpropagation Example", shared biases);
that network with an extra layer j; a 1-1-1 chain; a tanh output unit with squared error
in Learning From Data's notation; softmax output with cross-entropy; a softmax hidden
layer; the lecture-note network x, y, z with wa[i][j], wb[j][k]; depth 3 to 6 with mixed
activations.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import chainrule as cr
from chainrule.learn import explain
from chainrule.learn.check import Checker
from chainrule.learn.naming import lecture_aliases
from test_trace import make_case

D1 = "(out_o1 - target_o1)*out_o1*(1 - out_o1)"
RIGHT_W1 = "(delta_o1*w5 + delta_o2*w7)"
EXT_W1 = "(delta_j1*w5 + delta_j2*w7)"
XYZ_W11 = "((z1 - zhat1)*z1*(1 - z1)*wb[0][0] + (z2 - zhat2)*z2*(1 - z2)*wb[0][1])"


def _net(kind: str):
    """(net, x, target, loss, names, bias, aliases) for each network of the catalogue."""
    if kind == "mazur":
        net, x, t = cr.examples.mazur()
        return net, x, t, "half_squared_error", "auto", "shared", None
    if kind == "extended":  # Mazur's network with a layer j between h and o
        net, x, t = make_case([2, 2, 2, 2], "sigmoid", "sigmoid", "unit", seed=0)
        return net, x, t, "half_squared_error", "auto", "per_neuron", None
    if kind == "chain":
        net, x, t = make_case([1, 1, 1], "sigmoid", "sigmoid", "unit", seed=1)
        return net, x, t, "half_squared_error", "auto", "per_neuron", None
    if kind == "tanh_layer":
        net, x, t = make_case([2, 3, 1], "tanh", "tanh", "signed", seed=2)
        return net, x, t, "squared_error", "layer", "per_neuron", None
    if kind == "softmax_out":
        net, x, t = make_case([2, 3, 3], "sigmoid", "softmax", "onehot", seed=3)
        return net, x, t, "cross_entropy", "auto", "per_neuron", None
    if kind == "softmax_two":  # two classes: the diagonal-only delta is not "a factor 1/2"
        net, x, t = make_case([2, 2, 2], "sigmoid", "softmax", "onehot", seed=6)
        return net, x, t, "cross_entropy", "auto", "per_neuron", None
    if kind == "softmax_hidden":
        net, x, t = make_case([2, 3, 2], "softmax", "sigmoid", "unit", seed=4)
        return net, x, t, "half_squared_error", "auto", "per_neuron", None
    if kind == "xyz":
        net, x, t = make_case([3, 3, 2], "sigmoid", "sigmoid", "unit", seed=5)
        names = explain(net, "w1", x, t).names
        return net, x, t, "half_squared_error", "auto", "per_neuron", lecture_aliases(names)
    sizes, hidden, output, loss = DEEP[kind]
    net, x, t = make_case(sizes, hidden, output, "signed" if output != "sigmoid" else "unit", seed=len(sizes))
    return net, x, t, loss, "layer", "per_neuron", None


DEEP = {
    "depth3": ([2, 3, 2, 1], ["tanh", "sigmoid"], "identity", "mse"),
    "depth4": ([2, 2, 3, 2, 1], ["sigmoid", "tanh", "relu"], "tanh", "half_squared_error"),
    "depth5": ([2, 2, 2, 2, 2, 1], ["tanh", "sigmoid", "tanh", "sigmoid"], "sigmoid", "half_squared_error"),
    "depth6": ([2, 2, 2, 2, 2, 2, 1], ["sigmoid", "tanh", "sigmoid", "tanh", "sigmoid"], "identity",
               "squared_error"),
}


@functools.cache
def checker(kind: str, wrt: str) -> Checker:
    net, x, t, loss, names, bias, aliases = _net(kind)
    return Checker(net, wrt, x, t, loss, names, bias=bias, aliases=aliases)


CATALOGUE = [
    # Mazur's 2-2-2
    ("mazur", "w5", "(target_o1 - out_o1)*out_o1*(1 - out_o1)*out_h1", "sign"),
    ("mazur", "w5", "(out_o1 - target_o1)*out_h1", "missing_factor"),
    ("mazur", "w5", D1, "missing_factor"),
    ("mazur", "w5", "delta_o1*out_h1*w5", "extra_factor"),
    ("mazur", "w5", "delta_o1*out_h2", "other_quantity"),
    ("mazur", "w5", f"2*{D1}*out_h1", "loss_scale"),
    ("mazur", "w5", "(out_o1 - target_o1)*sigmoid(out_o1)*(1 - sigmoid(out_o1))*out_h1", "derivative_at_output"),
    ("mazur", "w5", "sigma'(out_o1)*(out_o1 - target_o1)*out_h1", "derivative_at_output"),
    ("mazur", "w5", "(out_o1 - target_o1)*(1 - out_o1^2)*out_h1", "activation_derivative"),
    ("mazur", "w5", f"{D1}*i1", "wrong_layer"),
    ("mazur", "w5", "(out_o2 - target_o2)*out_o2*(1 - out_o2)*out_h1", "other_quantity"),
    ("mazur", "w1", "delta_o1*w5*out_h1*(1 - out_h1)*i1", "missing_paths"),
    ("mazur", "w1", "delta_o2*w7*out_h1*(1 - out_h1)*i1", "missing_paths"),
    ("mazur", "w1", f"{RIGHT_W1}*out_h1*(1 - out_h1)*i2", "other_quantity"),
    ("mazur", "w1", "delta_h1*i2", "other_quantity"),
    ("mazur", "w1", "(delta_o1*w5 + delta_o2*w6)*out_h1*(1 - out_h1)*i1", "wrong_index"),
    ("mazur", "w1", "(delta_o1*w5_new + delta_o2*w7_new)*out_h1*(1 - out_h1)*i1", "updated_weights"),
    ("mazur", "w1", f"{RIGHT_W1}*(1 - out_h1^2)*i1", "activation_derivative"),
    ("mazur", "w1", f"{RIGHT_W1}*sigmoid(out_h1)*(1 - sigmoid(out_h1))*i1", "derivative_at_output"),
    ("mazur", "w1", f"{RIGHT_W1}*i1", "missing_factor"),
    ("mazur", "w1", f"{RIGHT_W1}*out_h1*(1 - out_h1)", "missing_factor"),
    ("mazur", "w1", f"{RIGHT_W1}*out_o1*(1 - out_o1)*i1", "wrong_layer"),
    ("mazur", "w1", f"{RIGHT_W1}*out_h1*(1 - out_h1)*out_h1", "wrong_layer"),
    ("mazur", "w1", "(-delta_o1*w5 - delta_o2*w7)*out_h1*(1 - out_h1)*i1", "sign"),
    ("mazur", "w1", "dE_o1/dw1 + dE_o2/dw1 + dE_o1/dw1", "double_counted"),
    ("mazur", "w1", f"{RIGHT_W1}*out_h2*(1 - out_h2)*i1", "wrong_index"),
    ("mazur", "w1", f"{RIGHT_W1}*out_h1*(1 - out_h1)*i1*w1", "extra_factor"),
    ("mazur", "w1", "dh1/dw1*dw7/dh1*do2/dw7*dE/do2 + dh1/dw1*dw5/dh1*do1/dw5*dE/do1", "parameter_as_function"),
    ("mazur", "w1", "(w1 - w1_new)/eta", "circular"),
    ("mazur", "w5", "dE_dw5", "circular"),
    ("mazur", "delta_o1", "(out_o1 - target_o1)", "missing_factor"),
    ("mazur", "delta_o1", "(target_o1 - out_o1)*out_o1*(1 - out_o1)", "sign"),
    ("mazur", "delta_o1", "(out_o2 - target_o2)*out_o2*(1 - out_o2)", "other_quantity"),
    # Mazur's network with an extra layer j
    ("extended", "w1", "(dE_j1/dw1 + dE_j2/dw1) + (dE_j1/dw1 + dE_j2/dw1)", "double_counted"),
    ("extended", "w1", "dE_j1/dw1", "missing_paths"),
    ("extended", "w1", "(delta_o1*w5 + delta_o2*w7)*out_h1*(1 - out_h1)*i1", "wrong_layer"),
    ("extended", "w1", f"{EXT_W1}*out_j1*(1 - out_j1)*i1", "wrong_layer"),
    ("extended", "w1", "(delta_j1*w5 + delta_j2*w6)*out_h1*(1 - out_h1)*i1", "wrong_index"),
    ("extended", "w1", "(delta_j1*w5_new + delta_j2*w7_new)*out_h1*(1 - out_h1)*i1", "updated_weights"),
    ("extended", "w1", "delta_j1*w5*out_h1*(1 - out_h1)*i1", "missing_paths"),
    ("extended", "w9", "delta_o1*out_h1", "wrong_layer"),
    ("extended", "w1", f"{EXT_W1}*out_h1*(1 - out_h1)*i1*out_h1", "extra_factor"),
    ("extended", "delta_h1", EXT_W1, "missing_factor"),
    # a 1-1-1 chain
    ("chain", "w1", "delta_o1*w2*out_h1*(1 - out_h1)", "missing_factor"),
    ("chain", "w1", "delta_o1*out_h1*(1 - out_h1)*i1", "missing_factor"),
    ("chain", "w1", "delta_o1*w1*out_h1*(1 - out_h1)*i1", "wrong_layer"),
    ("chain", "w1", "delta_o1*w2*out_o1*(1 - out_o1)*i1", "wrong_layer"),
    ("chain", "w1", "delta_o1*w2_new*out_h1*(1 - out_h1)*i1", "updated_weights"),
    ("chain", "w1", "(out_o1 - target_o1)*w2*out_h1*(1 - out_h1)*i1", "missing_factor"),
    ("chain", "w1", "dh1/dw1*dw2/dh1*do1/dw2*dE/do1", "parameter_as_function"),
    # a tanh output unit, e = (x - y)^2, in Learning From Data's notation
    ("tanh_layer", "delta_1^(L)", "(x_1^(L) - y_n)*(1 - (x_1^(L))^2)", "loss_scale"),
    ("tanh_layer", "delta_1^(L)", "2*(x_1^(L) - y_n)*(1 - x_1^(L))", "activation_derivative"),
    ("tanh_layer", "delta_1^(L)", "2*(x_1^(L) - y_n)*x_1^(L)*(1 - x_1^(L))", "activation_derivative"),
    ("tanh_layer", "delta_1^(L)", "2*(x_1^(L) - y_n)*(1 - tanh(x_1^(L))^2)", "derivative_at_output"),
    ("tanh_layer", "delta_1^(L)", "2*(y_n - x_1^(L))*(1 - (x_1^(L))^2)", "sign"),
    ("tanh_layer", "delta_1^(L)", "2*(x_1^(L) - y_n)", "missing_factor"),
    ("tanh_layer", "w_11^(2)", "delta_1^(2)*x_2^(1)", "other_quantity"),
    ("tanh_layer", "w_11^(2)", "delta_1^(2)*x_1^(0)", "wrong_layer"),
    ("tanh_layer", "w_11^(1)", "delta_1^(2)*w_11^(2)*x_1^(0)", "missing_factor"),
    ("tanh_layer", "w_11^(1)", "delta_1^(2)*w_21^(2)*(1 - (x_1^(1))^2)*x_1^(0)", "wrong_index"),
    ("tanh_layer", "w_11^(1)", "delta_1^(2)*w_11^(2)*(1 - (x_1^(1))^2)*x_1^(1)", "wrong_layer"),
    # softmax output, cross-entropy
    ("softmax_out", "delta_o1", "dE/dout_o1*out_o1*(1 - out_o1)", "softmax_diagonal"),
    ("softmax_out", "w_{h1,o1}", "dE/dout_o1*out_o1*(1 - out_o1)*out_h1", "softmax_diagonal"),
    ("softmax_out", "w_{h1,o1}", "(out_o1 - target_o1)*out_h2", "other_quantity"),
    ("softmax_out", "w_{h1,o1}", "(target_o1 - out_o1)*out_h1", "sign"),
    ("softmax_out", "w_{h1,o1}", "(out_o1 - target_o1)", "missing_factor"),
    ("softmax_two", "delta_o1", "dE/dout_o1*out_o1*(1 - out_o1)", "softmax_diagonal"),
    ("softmax_two", "delta_o2", "dE/dout_o2*dout_o2/dnet_o2", "softmax_diagonal"),
    ("softmax_two", "w_{h2,o1}", "dE/dout_o1*out_o1*(1 - out_o1)*out_h2", "softmax_diagonal"),
    # a softmax hidden layer
    ("softmax_hidden", "w1", "sum_i sum_j delta_oj*w_{h1,oj}*out_h1*(1_{i=1} - out_hi)*i1", "wrong_index"),
    ("softmax_hidden", "w1", "sum_j delta_oj*w_{h1,oj}*out_h1*(1 - out_h1)*i1", "softmax_diagonal"),
    ("softmax_hidden", "w1", "(delta_o1*w_{h1,o1} + delta_o2*w_{h1,o2})*out_h1*(1 - out_h1)*i1",
     "softmax_diagonal"),
    # the lecture-note network x, y, z with wa[i][j], wb[j][k]
    ("xyz", "wa[0][0]", "((z1 - zhat1)*z1*(1 - z1)*wb[0][0] + (z2 - zhat2)*z2*(1 - z2)*wb[1][0])*y1*(1 - y1)*x1",
     "wrong_index"),
    ("xyz", "wa[0][0]", f"{XYZ_W11}*y1*(1 - y1)*y1", "wrong_layer"),
    ("xyz", "wa[0][0]", "(z1 - zhat1)*z1*(1 - z1)*wb[0][0]*y1*(1 - y1)*x1", "missing_paths"),
    ("xyz", "wb[0][0]", "(z1 - zhat1)*z1*(1 - z1)*x1", "wrong_layer"),
    ("xyz", "wb[0][0]", "(z1 - zhat1)*y1*(1 - y1)*y1", "wrong_layer"),
    ("xyz", "wa[0][0]", f"{XYZ_W11}*y1*(1 - y1)*x1*2", "loss_scale"),
    # depth 3 to 6, mixed activations, Learning From Data's notation
    ("depth3", "w_11^(1)", "(sum_k delta_k^(2)*w_1k^(2))*x_1^(1)*(1 - x_1^(1))*x_1^(0)", "activation_derivative"),
    ("depth3", "w_11^(1)", "(sum_k delta_k^(2)*w_1k^(2))*(1 - (x_1^(1))^2)*x_1^(1)", "wrong_layer"),
    ("depth4", "w_11^(3)", "delta_1^(3)*x_1^(2)*x_1^(2)", "extra_factor"),
    ("depth4", "w_11^(3)", "(sum_k delta_k^(4)*w_1k^(4))*x_1^(3)*(1 - x_1^(3))*x_1^(2)", "activation_derivative"),
    ("depth4", "w_11^(1)", "(sum_k delta_k^(2)*w_1k^(2))*x_1^(1)*(1 - x_1^(1))", "missing_factor"),
    ("depth5", "w_11^(2)", "(sum_k delta_k^(3)*w_1k^(3))*x_1^(2)*(1 - x_1^(2))*x_1^(0)", "wrong_layer"),
    ("depth6", "w_11^(4)", "(sum_k delta_k^(5)*w_k1^(5))*(1 - (x_1^(4))^2)*x_1^(3)", "wrong_index"),
]


def _path_cases():
    """Deep networks: one path left out, one path counted twice (written as the learner's path sums)."""
    cases = []
    for kind in ("depth3", "depth4", "depth5", "depth6"):
        d = checker(kind, "w_11^(1)").derivation
        paths = ["*".join(d.names.text(f).replace("/", "/") for f in p.factors) for p in d.paths]
        largest = int(np.argmax([abs(p.value) for p in d.paths]))
        cases.append((kind, "w_11^(1)", " + ".join(p for k, p in enumerate(paths) if k != largest), "missing_paths"))
        cases.append((kind, "w_11^(1)", " + ".join(paths + [paths[largest]]), "double_counted"))
    return cases


ALL = CATALOGUE + _path_cases()


def _diagnosis(case):
    kind, wrt, formula, _ = case
    verdict = checker(kind, wrt).judge(formula)
    return verdict.mistake, verdict


@pytest.mark.parametrize("case", ALL, ids=[f"{c[0]}:{c[1]}:{c[3]}:{k}" for k, c in enumerate(ALL)])
def test_each_wrong_formula_is_named_right_or_unknown_never_misleading(case):
    key, verdict = _diagnosis(case)
    assert not verdict.correct, verdict
    assert key in (case[3], "unknown"), verdict.to_text()


def test_catalogue_share_named_right_and_none_misleading():
    outcomes = [(_diagnosis(case)[0], case[3]) for case in ALL]
    right = sum(got == want for got, want in outcomes)
    misleading = sum(got not in (want, "unknown") for got, want in outcomes)
    share = right / len(outcomes)
    print(f"\ncatalogue: {len(outcomes)} wrong formulas, {right} named right ({share:.0%}), {misleading} misleading, "
          f"{sum(got == 'unknown' for got, _ in outcomes)} unknown")
    assert len(outcomes) >= 60
    assert misleading == 0 and share >= 0.9
