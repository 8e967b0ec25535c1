"""Issue 7: the conventions behind worked examples' numbers, each figure reproduced by naming its convention."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ConfigError
from chainrule.learn import PRESETS, gradient_descent, trace

MAZUR = PRESETS["mazur"]  # one bias per layer, never updated


def _mazur_run(steps, **options):
    net, x, target = cr.examples.mazur()
    return gradient_descent(net, x, target, steps, 0.5, **{**MAZUR, **options}), net


def test_first_round_sequential_is_mazurs_0_291027924():
    sequential, _ = _mazur_run(1, update="sequential")
    simultaneous, _ = _mazur_run(1, update="simultaneous")
    assert sequential.errors[1] == pytest.approx(0.29102792390544197, rel=1e-13)
    assert round(float(sequential.errors[1]), 9) == 0.291027924  # as printed in his post
    assert simultaneous.errors[1] == pytest.approx(0.29102777369359933, rel=1e-13)


@pytest.fixture(scope="module")
def long_runs():
    """Mazur's conventions, 10,000 updates, each update rule (run once for the module)."""
    return {update: _mazur_run(10000, update=update) for update in ("simultaneous", "sequential")}


def test_after_10000_rounds(long_runs):
    simultaneous, _ = long_runs["simultaneous"]
    sequential, net = long_runs["sequential"]
    # His "0.0000351085 after 10,000 rounds" is the error computed in round 10,000 (after 9,999 updates).
    assert round(float(simultaneous.errors[9999]), 10) == 0.0000351085
    assert simultaneous.errors[10000] == pytest.approx(3.510187783e-05, rel=1e-9)
    # His final outputs are the sequential variant after 10,000 updates.
    assert np.round(sequential.output, 9).tolist() == [[0.015912196, 0.984065734]]
    assert np.allclose(net(cr.examples.mazur()[1]).data, sequential.output, rtol=0, atol=0)


def test_biases_per_neuron_and_shared():
    net, x, target = cr.examples.mazur()
    per_neuron = gradient_descent(net, x, target, 1, 0.5)  # the textbook default
    assert per_neuron.errors[1] == pytest.approx(0.28047144679143016, rel=1e-13)
    assert net.state_dict()["0.bias"] == pytest.approx([0.3456143227, 0.3450228726], abs=1e-10)
    assert net.state_dict()["2.bias"] == pytest.approx([0.5307507192, 0.6190491183], abs=1e-10)
    shared, _ = _mazur_run(1, update_biases=True)
    assert shared.errors[1] == pytest.approx(0.2857508866992965, rel=1e-13)


def _numpy_sequential(weights, biases, x, target, lr, steps):
    """Independent reference: sigmoid layers, E = 1/2 sum (t - o)^2, layers updated from the output back,
    each hidden delta computed with the already-updated weights above it; biases per neuron, updated."""
    weights, biases = [w.copy() for w in weights], [b.copy() for b in biases]
    errors = []
    for _ in range(steps):
        outs = [x]
        for w, b in zip(weights, biases):
            outs.append(1 / (1 + np.exp(-(outs[-1] @ w + b))))
        errors.append(0.5 * np.sum((target - outs[-1]) ** 2))
        delta = (outs[-1] - target) * outs[-1] * (1 - outs[-1])
        for layer in range(len(weights) - 1, -1, -1):
            weights[layer] = weights[layer] - lr * outs[layer].T @ delta
            biases[layer] = biases[layer] - lr * delta.sum(axis=0)
            delta = (delta @ weights[layer].T) * outs[layer] * (1 - outs[layer])
    return np.array(errors)


def _deeper_net():
    net = cr.MLP([2, 3, 3, 2], activation="sigmoid", output_activation="sigmoid", seed=7)
    rng = np.random.default_rng(7)
    for p in net.parameters():
        p.data = rng.normal(0, 1, p.shape)
    return net


def test_sequential_update_on_a_deeper_net_matches_a_hand_written_loop():
    net = _deeper_net()
    x, target = np.array([[0.3, -0.7]]), np.array([[0.2, 0.9]])
    weights = [lin.weight.data.copy() for lin, _ in net.layers()]
    biases = [lin.bias.data.copy() for lin, _ in net.layers()]
    expected = _numpy_sequential(weights, biases, x, target, 0.8, 5)
    run = gradient_descent(net, x, target, 5, 0.8, update="sequential")
    assert run.errors[:5] == pytest.approx(expected, rel=1e-12)
    # The trace shows the same numbers and names the updated weights in the hidden messages.
    t = trace(_deeper_net(), x, target, lr=0.8, update="sequential")
    assert t.values["E_total_new"] == pytest.approx(expected[1], rel=1e-12)
    assert "dE/dout_j1 = delta_o1*w16+ + delta_o2*w19+" in t.to_text()


def test_simultaneous_batch_descent_matches_pytorch_sgd():
    torch = pytest.importorskip("torch")

    x, target = cr.examples.xor()
    net = cr.MLP([2, 3, 1], activation="tanh", output_activation="sigmoid", seed=3)
    layers = [(torch.tensor(lin.weight.data, requires_grad=True), torch.tensor(lin.bias.data, requires_grad=True))
              for lin, _ in net.layers()]
    optimizer = torch.optim.SGD([p for pair in layers for p in pair], lr=0.7)
    tx, tt = torch.tensor(x), torch.tensor(target)
    expected = []
    for _ in range(4):
        optimizer.zero_grad()
        out = torch.sigmoid(torch.tanh(tx @ layers[0][0] + layers[0][1]) @ layers[1][0] + layers[1][1])
        loss = torch.nn.functional.mse_loss(out, tt)  # mean over samples and outputs
        loss.backward()
        optimizer.step()
        expected.append(loss.item())
    run = gradient_descent(net, x, target, 4, 0.7, loss="mse")
    assert run.errors[:4] == pytest.approx(expected, rel=1e-12)
    assert net.layers()[0][0].weight.data == pytest.approx(layers[0][0].detach().numpy(), rel=1e-12)


def test_loss_scalings():
    from sklearn.neural_network._base import squared_loss

    net, x, target = cr.examples.mazur()
    runs = {}
    for loss in ("half_squared_error", "squared_error", "mse", "half_mse"):
        net, x, target = cr.examples.mazur()
        runs[loss] = gradient_descent(net, x, target, 3, 0.5, loss=loss)
    out = cr.examples.mazur()[0](x).data
    assert runs["half_squared_error"].errors[0] == pytest.approx(0.5 * np.sum((target - out) ** 2), rel=1e-14)
    assert runs["squared_error"].errors[0] == pytest.approx(np.sum((target - out) ** 2), rel=1e-14)
    assert runs["mse"].errors[0] == pytest.approx(np.mean((target - out) ** 2), rel=1e-14)
    # scikit-learn's MLPRegressor loss is 1/2 of the mean: its own function, on each run's final outputs.
    assert runs["half_mse"].errors[-1] == pytest.approx(squared_loss(target, runs["half_mse"].output), rel=1e-14)
    # With K = 2 outputs, mse is half squared error exactly, and half_mse at eta follows half squared error at eta/2.
    assert runs["mse"].errors == pytest.approx(runs["half_squared_error"].errors, rel=1e-14)
    net, x, target = cr.examples.mazur()
    assert gradient_descent(net, x, target, 3, 0.25).errors / 2 == pytest.approx(runs["half_mse"].errors, rel=1e-13)


def test_bad_conventions_are_refused():
    net, x, target = cr.examples.mazur()
    with pytest.raises(ConfigError, match="update must be one of"):
        gradient_descent(net, x, target, update="backwards")
    with pytest.raises(ConfigError, match="bias must be one of"):
        gradient_descent(net, x, target, bias="global")
    net.layers()[0][0].bias.data = np.array([0.1, 0.2])
    with pytest.raises(ConfigError, match="one bias value per layer"):
        gradient_descent(net, x, target, bias="shared")
    with pytest.raises(ConfigError, match="steps"):
        gradient_descent(net, x, target, steps=-1)
    with pytest.raises(ConfigError, match="lr"):
        gradient_descent(net, x, target, lr=0)


def test_every_figure_in_docs_conventions_is_reproduced(long_runs):
    """The table of docs/conventions.md: each number, as printed, is one of the runs' figures."""
    import pathlib
    import re

    doc = pathlib.Path(__file__).resolve().parents[1] / "docs" / "conventions.md"
    if not doc.exists():
        pytest.skip("docs/conventions.md is not in this checkout")
    table = "\n".join(line for line in doc.read_text().splitlines() if line.startswith("| **"))
    figures = []
    for run, _ in long_runs.values():
        figures += [*run.errors[:2], *run.errors[-2:], *run.output.ravel()]
    for options in ({}, {"bias": "shared"}, *({"loss": loss, "update_biases": False}
                                             for loss in ("squared_error", "mse", "half_mse"))):
        net, x, target = cr.examples.mazur()
        run = gradient_descent(net, x, target, 1, 0.5, **options)
        figures += [*run.errors, *net.state_dict()["0.bias"], *net.state_dict()["2.bias"]]
    printed = re.findall(r"(?<![\w.])\d\.\d{6,}", table)
    assert len(printed) >= 25
    missing = [p for p in printed
               if not any(abs(f - float(p)) <= 0.5 * 10.0 ** -len(p.split(".")[1]) + 1e-17 for f in figures)]
    assert not missing
