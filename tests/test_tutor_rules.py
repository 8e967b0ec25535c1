"""An indexed rule checked for every neuron of every layer, on networks of depth 1 to 6.

Answers "does the delta rule extend to any number of layers?" with the learner's own
formula: each instance is judged for all weights and inputs; a broken variant is refuted
with its first counterexample and the mistake named.
"""

from __future__ import annotations

import pytest

import chainrule as cr
from chainrule.learn.rule import check_rule

DEPTHS = {1: [2, 1], 2: [2, 3, 1], 3: [2, 3, 3, 1], 4: [2, 2, 3, 2, 1], 5: [2, 2, 2, 2, 2, 1],
          6: [2, 3, 2, 3, 2, 2, 1]}
DELTA_RULE = "(sum_k delta_k^(l+1)*w_jk^(l+1))*theta'(s_j^(l))"


def _net(depth: int):
    sizes = DEPTHS[depth]
    hidden = ["tanh", "sigmoid", "relu", "tanh", "sigmoid"][:len(sizes) - 2] or "tanh"
    return cr.MLP(sizes, activation=hidden, output_activation="sigmoid", seed=depth), [0.3, -0.4], [0.8]


@pytest.mark.parametrize("depth", sorted(DEPTHS))
def test_the_weight_rule_holds_for_every_weight_of_every_layer(depth):
    net, x, t = _net(depth)
    rule = check_rule(net, "dE/dw_ij^(l)", "delta_j^(l)*x_i^(l-1)", x, t, points=6)
    sizes = DEPTHS[depth]
    assert rule.holds, rule.to_text()
    assert len(rule.instances) == sum(a * b for a, b in zip(sizes, sizes[1:]))
    assert rule.layers == list(range(1, depth + 1))
    assert f"holds for all {len(rule.instances)} weights of" in rule.to_text()


@pytest.mark.parametrize("depth", sorted(DEPTHS))
def test_the_delta_rule_holds_for_every_hidden_neuron(depth):
    net, x, t = _net(depth)
    rule = check_rule(net, "delta_j^(l)", DELTA_RULE, x, t, points=6)
    hidden = sum(DEPTHS[depth][1:-1])
    if depth == 1:
        assert not rule.instances and "applies to no layer" in rule.to_text()
        return
    assert rule.holds and len(rule.instances) == hidden, rule.to_text()
    assert rule.layers == list(range(1, depth))


@pytest.mark.parametrize("depth", [2, 3, 4, 5, 6])
def test_a_broken_delta_rule_is_refuted_with_its_mistake(depth):
    net, x, t = _net(depth)
    broken = "(sum_k delta_k^(l+1)*w_jk^(l+1))*x_j^(l)*(1 - x_j^(l))"  # sigmoid's derivative on every layer
    rule = check_rule(net, "delta_j^(l)", broken, x, t, points=6)
    assert not rule.holds
    quantity, verdict = rule.counterexample
    assert verdict.mistake == "activation_derivative", rule.to_text()
    assert "counterexample" in rule.to_text()


def test_the_command_line_checks_a_rule_for_every_neuron(capsys):
    from chainrule.cli import main

    flags = ["--layers", "2,3,3,1", "--activation", "tanh", "--x", "0.1,-0.2", "--target", "0.7"]
    assert main(["check", "delta_j^(l)", DELTA_RULE, *flags]) == 0
    assert "holds for all 6 neurons of layers 1-2" in capsys.readouterr().out
    broken = "(sum_k delta_k^(l+1)*w_jk^(l+1))*x_j^(l)*(1 - x_j^(l))"
    assert main(["check", "delta_j^(l)", broken, *flags, "--format", "json"]) == 1
    assert '"mistake": "activation_derivative"' in capsys.readouterr().out


def test_the_delta_rule_pasted_as_latex_holds_and_a_broken_one_is_refuted():
    net, x, t = _net(3)
    latex = r"\left(\sum_k \delta_k^{(l+1)} w_{jk}^{(l+1)}\right) \theta'(s_j^{(l)})"
    assert check_rule(net, "delta_j^(l)", latex, x, t, points=4).holds
    assert check_rule(net, "dE/dw_ij^(l)", r"\delta_j^{(l)} x_i^{(l-1)}", x, t, points=4).holds
    broken = check_rule(net, "delta_j^(l)", latex.replace(r"\theta'", r"\theta"), x, t, points=4)
    assert not broken.holds and broken.counterexample is not None
