"""Matt Mazur's "A Step by Step Backpropagation Example" (2015): his published digits.

Each number is compared to as many decimals as the post prints, so a published
0.3775 must agree to within 0.00005. Every step is the post's: sigmoid hidden and
output layers, E_total = sum_o 1/2 (target_o - out_o)^2, learning rate 0.5, every
weight updated from the *original* weights of the round, biases never updated.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.examples import MAZUR_BIASES, MAZUR_WEIGHTS
from chainrule.losses import half_squared_error

LEARNING_RATE = 0.5


def agrees(value: float, published: str) -> bool:
    """Whether ``value`` rounds to the published decimal string (half a unit in its last place)."""
    decimals = len(published.split(".")[1])
    return abs(value - float(published)) <= 0.5 * 10.0 ** -decimals


def assert_published(value: float, published: str, what: str) -> None:
    assert agrees(value, published), f"{what}: computed {value!r}, Mazur published {published}"


def forward(net: cr.MLP, x: np.ndarray) -> dict[str, cr.Tensor]:
    """The forward pass one module at a time, keeping every layer's net and out."""
    net_h = net[0](x)
    out_h = net[1](net_h)
    net_o = net[2](out_h)
    out_o = net[3](net_o)
    return {"net_h": net_h, "out_h": out_h, "net_o": net_o, "out_o": out_o}


def weight(net: cr.MLP, name: str) -> float:
    param_name, index = MAZUR_WEIGHTS[name]
    return float(dict(net.named_parameters())[param_name].data[index])


def weight_grad(net: cr.MLP, name: str) -> float:
    param_name, index = MAZUR_WEIGHTS[name]
    return float(dict(net.named_parameters())[param_name].grad[index])


def train_round(net: cr.MLP, x: np.ndarray, target: np.ndarray) -> float:
    """One round of the post: E_total, backprop, then w <- w - 0.5 dE/dw for the weights only."""
    net.zero_grad()
    e_total = half_squared_error(net(x), target)
    e_total.backward()
    params = dict(net.named_parameters())
    for name in ("0.weight", "2.weight"):  # computed from this round's original weights, then applied
        params[name].data = params[name].data - LEARNING_RATE * params[name].grad
    return e_total.item()


def test_the_mapping_covers_his_eight_weights_and_two_biases():
    net, _, _ = cr.examples.mazur()
    expected = {"w1": "0.15", "w2": "0.20", "w3": "0.25", "w4": "0.30",
                "w5": "0.40", "w6": "0.45", "w7": "0.50", "w8": "0.55"}
    for name, published in expected.items():
        assert_published(weight(net, name), published, name)
    params = dict(net.named_parameters())
    np.testing.assert_array_equal(params[MAZUR_BIASES["b1"]].data, [0.35, 0.35])
    np.testing.assert_array_equal(params[MAZUR_BIASES["b2"]].data, [0.60, 0.60])


def test_forward_pass():
    net, x, target = cr.examples.mazur()
    values = forward(net, x)
    assert_published(values["net_h"].data[0, 0], "0.3775", "net_h1")
    assert_published(values["out_h"].data[0, 0], "0.593269992", "out_h1")
    assert_published(values["out_h"].data[0, 1], "0.596884378", "out_h2")
    assert_published(values["net_o"].data[0, 0], "1.105905967", "net_o1")
    assert_published(values["out_o"].data[0, 0], "0.75136507", "out_o1")
    assert_published(values["out_o"].data[0, 1], "0.772928465", "out_o2")
    np.testing.assert_array_equal(values["out_o"].data, net(x).data)
    assert_published(half_squared_error(values["out_o"], target).item(), "0.298371109", "E_total")


def test_backward_pass():
    net, x, target = cr.examples.mazur()
    values = forward(net, x)
    half_squared_error(values["out_o"], target).backward()
    assert_published(weight_grad(net, "w5"), "0.082167041", "dE_total/dw5")
    # Hidden layer: dE_total/dout_h1 sums the messages from o1 and o2 (the sum over every path to the right).
    assert_published(values["out_h"].grad[0, 0], "0.036350306", "dE_total/dout_h1")
    assert_published(weight_grad(net, "w1"), "0.000438568", "dE_total/dw1")


def test_one_step_with_learning_rate_one_half():
    net, x, target = cr.examples.mazur()
    biases = {name: p.data.copy() for name, p in net.named_parameters() if name.endswith("bias")}
    train_round(net, x, target)
    published = {"w5": "0.35891648", "w6": "0.408666186", "w7": "0.511301270", "w8": "0.561370121",
                 "w1": "0.149780716", "w2": "0.19956143", "w3": "0.24975114", "w4": "0.29950229"}
    for name, value in published.items():
        assert_published(weight(net, name), value, f"{name} after one step")
    for name, p in net.named_parameters():
        if name in biases:
            np.testing.assert_array_equal(p.data, biases[name])


def test_hidden_weights_use_the_original_output_weights():
    # Updating w5..w8 first and then backpropagating through the new values would give
    # a different w1: the post (and backprop) use the round's original weights.
    net, x, target = cr.examples.mazur()
    train_round(net, x, target)
    wrong, _, _ = cr.examples.mazur()
    wrong_params = dict(wrong.named_parameters())
    half_squared_error(wrong(x), target).backward()
    wrong_params["2.weight"].data = wrong_params["2.weight"].data - LEARNING_RATE * wrong_params["2.weight"].grad
    wrong.zero_grad()
    half_squared_error(wrong(x), target).backward()
    w1_sequential = 0.15 - LEARNING_RATE * float(wrong_params["0.weight"].grad[0, 0])
    assert not agrees(w1_sequential, "0.149780716")
    assert_published(weight(net, "w1"), "0.149780716", "w1")


def test_error_at_round_10000():
    # "After repeating this process 10,000 times ... the error plummets to 0.0000351085."
    # That is the error computed in round 10,000 before its update, i.e. after 9,999 updates.
    net, x, target = cr.examples.mazur()
    errors = [train_round(net, x, target) for _ in range(10_000)]
    assert_published(errors[0], "0.298371109", "E_total in round 1")
    assert_published(errors[9_999], "0.0000351085", "E_total in round 10,000")
    after_all = half_squared_error(net(x), target).item()
    assert after_all == pytest.approx(3.510187783e-05, rel=1e-9)
    assert not agrees(after_all, "0.0000351085"), "after 10,000 updates the error is already lower"
    assert all(later < earlier for earlier, later in zip(errors, errors[1:]))
