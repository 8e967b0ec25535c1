"""chainrule.learn.explain: path sums, delta form, backprop and finite differences agree with PyTorch."""

from __future__ import annotations

import pytest

import chainrule as cr
from chainrule.errors import ConfigError, FormulaError
from chainrule.learn import explain
from test_trace import make_case, torch_step

# Depth 1 to 5, every activation of the brief (hidden or output) and every loss the tools follow.
CASES = [  # (sizes, hidden activations, output activation, loss, target kind)
    ([3, 2], [], "sigmoid", "half_squared_error", "unit"),
    ([2, 3, 2], ["relu"], "identity", "squared_error", "signed"),
    ([2, 3, 3, 2], ["tanh", "sigmoid"], "softmax", "cross_entropy", "onehot"),
    ([2, 2, 3, 2, 1], ["sigmoid", "tanh", "relu"], "tanh", "mse", "signed"),
    ([3, 2, 2, 2, 2, 2], ["softmax", "tanh", "sigmoid", "identity"], "sigmoid", "half_mse", "unit"),
    ([2, 3, 2], ["softmax"], "sigmoid", "binary_cross_entropy", "unit"),
    ([2, 2, 2, 2], ["identity", "relu"], "softmax", "cross_entropy", "onehot"),
]


def _quantities(names, sizes):
    """A weight of the first layer, a bias in the middle, a hidden net and out, an output weight."""
    last, middle = len(sizes) - 1, max(1, (len(sizes) - 1) // 2)
    wanted = [("weight", names.weight(1, 0, sizes[1] - 1), (1, 0, sizes[1] - 1)),
              ("bias", names.bias_of(middle, 0), (middle, 0)),
              ("weight", names.weight(last, sizes[last - 1] - 1, 0), (last, sizes[last - 1] - 1, 0)),
              ("out", names.out(last, sizes[-1] - 1), (last, sizes[-1] - 1))]
    if last > 1:
        wanted += [("net", names.net(1, 0), (1, 0)), ("out", names.out(middle, sizes[middle] - 1),
                                                       (middle, sizes[middle] - 1))]
    return wanted


@pytest.mark.parametrize("case", range(len(CASES)))
def test_explain_agrees_with_pytorch_and_finite_differences(case):
    sizes, hidden, output, loss, kind = CASES[case]
    net, x, target = make_case(sizes, hidden, output, kind, seed=10 + case)
    ref = torch_step(net, x, target, loss)
    names = "layer" if case % 2 else "auto"
    scheme = explain(net, "w1" if names == "auto" else "w_1_1_1", x, target, loss, names).names
    for kind_, name, index in _quantities(scheme, sizes):
        d = explain(net, name, x, target, loss, names)
        if kind_ == "weight":
            layer, i, j = index
            expected = ref["grad_w"][layer - 1][i, j]
        elif kind_ == "bias":
            expected = ref["grad_b"][index[0] - 1][index[1]]
        elif kind_ == "net":
            expected = ref["deltas"][index[0] - 1][0, index[1]]
        else:
            expected = ref["dE_dout"][index[0] - 1][0, index[1]]
        assert d.backprop == pytest.approx(expected, rel=1e-9, abs=1e-13), name
        assert d.path_sum == pytest.approx(expected, rel=1e-9, abs=1e-13), name
        assert d.numeric == pytest.approx(expected, rel=1e-5, abs=1e-8), name
        assert d.agree
        # (b) the delta form's first line is the quantity itself, with the engine's value.
        assert d.delta_lines[0].value == pytest.approx(expected, rel=1e-9, abs=1e-13)


def test_mazur_w1_has_his_two_paths_each_factor_named():
    net, x, target = cr.examples.mazur()
    d = explain(net, "dE/dw1", x, target)
    assert [p.factors for p in d.paths] == [
        ("dE_dout_o1", "dout_o1_dnet_o1", "dnet_o1_dout_h1", "dout_h1_dnet_h1", "dnet_h1_dw1"),
        ("dE_dout_o2", "dout_o2_dnet_o2", "dnet_o2_dout_h1", "dout_h1_dnet_h1", "dnet_h1_dw1"),
    ]
    # Mazur's printed factors: dE_o1/dout_h1 = 0.055399425, dE_o2/dout_h1 = -0.019049119 (he multiplied
    # rounded intermediates, hence 1e-9), dE/dw1 = 0.000438568.
    v = d.values
    assert v["dE_dout_o1"] * v["dout_o1_dnet_o1"] * v["dnet_o1_dout_h1"] == pytest.approx(0.055399425, abs=1e-9)
    assert v["dE_dout_o2"] * v["dout_o2_dnet_o2"] * v["dnet_o2_dout_h1"] == pytest.approx(-0.019049119, abs=1e-9)
    assert d.backprop == pytest.approx(0.000438568, abs=5e-10)
    text = d.to_text()
    assert ("dE/dw1 = dE/dout_o1*dout_o1/dnet_o1*dnet_o1/dout_h1*dout_h1/dnet_h1*dnet_h1/dw1 + "
            "dE/dout_o2*dout_o2/dnet_o2*dnet_o2/dout_h1*dout_h1/dnet_h1*dnet_h1/dw1") in text
    assert "dE/dw1 = delta_h1*i1" in text
    assert ("delta_h1 = (delta_o1*w5 + delta_o2*w7)*dout_h1/dnet_h1 = (delta_o1*w5 + delta_o2*w7)*out_h1*(1 - out_h1)"
            in text)
    assert "dnet_o1/dout_h1 = w5 = 0.4" in text


def test_weights_are_parameters_never_factors():
    """The 1-1-1 chain question: no factor such as dw7/dh1, because w7 is a constant during the pass."""
    net, x, target = cr.examples.mazur()
    d = explain(net, "w1", x, target)
    factors = {f for p in d.paths for f in p.factors}
    assert not any(f.startswith("dw") for f in factors)
    assert "no factor such as dw7/dout_h1 appears: w7 enters as dnet_o2/dout_h1 = w7" in d.to_text()
    assert {"w1", "w8", "b_h1", "b_o2"} <= set(d.parameters)


def test_shared_bias_sums_every_path_through_the_layer():
    net, x, target = cr.examples.mazur()
    d = explain(net, "b1", x, target, bias="shared")
    ref = torch_step(net, x, target, "half_squared_error")
    assert len(d.paths) == 4
    assert d.backprop == pytest.approx(ref["grad_b"][0].sum(), rel=1e-12)
    assert d.numeric == pytest.approx(d.backprop, rel=1e-6)


def test_softmax_hidden_layer_adds_the_cross_paths_of_its_jacobian():
    net, x, target = make_case([2, 3, 2], ["softmax"], "sigmoid", "unit", seed=1)
    d = explain(net, "w1", x, target)
    # w1 feeds net_h1, which reaches out_h1, out_h2 and out_h3 through softmax, each reaching o1 and o2.
    assert len(d.paths) == 6
    assert {p.factors[-2] for p in d.paths} == {"dout_h1_dnet_h1", "dout_h2_dnet_h1", "dout_h3_dnet_h1"}


def test_renderings_and_bad_names():
    from matplotlib.mathtext import MathTextParser

    net, x, target = cr.examples.mazur()
    d = explain(net, "delta_h2", x, target)
    assert d.target == "delta_h2" and d.wrt == "net_h2"
    parser = MathTextParser("path")
    for line in d.latex_lines():
        parser.parse(f"${line}$")
    assert d.to_latex().count(r"\begin{align*}") == 4
    assert "| path | through | value |" in d.to_markdown()
    with pytest.raises(FormulaError, match="names available: i1, i2"):
        explain(net, "w9", x, target)
    with pytest.raises(ConfigError, match="weight, a bias"):
        explain(net, "target_o1", x, target)
    assert explain(net, "x_1^(1)", x, target, names="layer").backprop == pytest.approx(d.values["dE_dout_h1"])


def test_float32_networks_stay_float32_and_still_agree():
    import numpy as np

    from chainrule.learn import check

    net = cr.MLP([2, 2, 1], activation="tanh", output_activation="sigmoid", seed=0, dtype=np.float32)
    x, target = np.array([[0.2, 0.4]], dtype=np.float32), np.array([[0.7]], dtype=np.float32)
    d = explain(net, "w1", x, target)
    assert d.agree and d.backprop == pytest.approx(d.numeric, rel=1e-2)
    assert check(net, "w1", "delta_h1*i1", x, target).correct


def test_a_shared_bias_feeding_a_softmax_has_gradient_exactly_zero_and_says_why():
    net = cr.MLP([2, 3, 2], activation="softmax", output_activation="sigmoid", seed=3)
    for linear, _ in net.layers():
        linear.bias.data[:] = 0.3
    d = explain(net, "b1", [0.2, 0.4], [0.1, 0.9], bias="shared")
    assert d.backprop == 0.0 and abs(d.numeric) < 1e-8
    assert "softmax(net + c) = softmax(net)" in d.to_text() and "exactly 0" in d.to_text()


def test_one_bias_shared_by_both_layers_of_a_chain():
    """One b added in both layers of a 1-1-1 chain: dE/db sums the paths through both layers."""
    from chainrule.learn import check

    net = cr.MLP([1, 1, 1], activation="sigmoid", output_activation="sigmoid", seed=0)
    first, second = (linear for linear, _ in net.layers())
    second.bias = first.bias
    d = explain(net, "b_h1", [0.5], [0.2])
    assert d.agree and len(d.paths) == 2 and "shared with layer 2" in d.to_text()
    assert d.backprop == pytest.approx(d.numeric, rel=1e-6)
    assert check(net, "b_h1", "delta_o1 + delta_h1", [0.5], [0.2]).status == "correct"
    assert check(net, "b_h1", "delta_h1", [0.5], [0.2]).mistake == "missing_paths"
