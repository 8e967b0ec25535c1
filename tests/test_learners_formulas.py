"""The formulas of the textbooks and posts learners ask about, as tests: written out from the forward values,
against backprop.

Each formula is transcribed in its source's own notation from the values of one forward
pass (every layer's net and out, read module by module) and compared with the
gradients that ``backward()`` leaves on the parameters. Losses average over samples,
so a batch's gradient is the mean of the per-sample formulas.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.losses import half_squared_error, squared_error

SETTINGS = settings(max_examples=30, deadline=None)
seeds = st.integers(0, 2**32 - 1)
sizes = st.integers(1, 5)


def close(actual, expected) -> None:
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-15)


def layer_values(net: cr.Sequential, x: np.ndarray) -> tuple[list[cr.Tensor], list[cr.Tensor]]:
    """Every layer's net input s^(l) and output x^(l), in order (the input is outs[0])."""
    outs, nets = [cr.Tensor(x)], []
    for linear, act in net.layers():
        nets.append(linear(outs[-1]))
        outs.append(act(nets[-1]))
    return nets, outs


def random_net(sizes_: list[int], seed: int, activation="sigmoid", output_activation="sigmoid") -> cr.MLP:
    net = cr.MLP(sizes_, activation=activation, output_activation=output_activation, seed=seed)
    r = np.random.default_rng(seed)
    for name, p in net.named_parameters():  # random biases too: the formulas hold for any
        if name.endswith("bias"):
            p.data = r.normal(size=p.shape)
    return net


def grads(net: cr.Module) -> dict[str, np.ndarray]:
    return {name: p.grad for name, p in net.named_parameters()}


# ------------------------------------------ the lecture notes (x, y, z with wa[i][j], wb[j][k]), equations (5) and (7)
@SETTINGS
@given(n_i=sizes, n_j=sizes, n_k=sizes, batch=st.integers(1, 6), seed=seeds, one_sample=st.booleans())
def test_lecture_notes_equations_5_and_7(n_i, n_j, n_k, batch, seed, one_sample):
    net = random_net([n_i, n_j, n_k], seed)
    r = np.random.default_rng(seed + 1)
    x = r.normal(size=n_i) if one_sample else r.normal(size=(batch, n_i))
    z_hat = r.uniform(size=n_k) if one_sample else r.uniform(size=(batch, n_k))
    half_squared_error(net(x), z_hat).backward()

    _, (_, y, z) = layer_values(net, x)
    x2, y2, z2, z_hat2 = (np.atleast_2d(a) for a in (x, y.data, z.data, z_hat))
    n = x2.shape[0]
    w_b = net[2].weight.data
    # (5) dL/dw_jk = (z_k - zhat_k) z_k (1 - z_k) y_j
    eq5 = np.einsum("nk,nj->jk", (z2 - z_hat2) * z2 * (1 - z2), y2) / n
    # (7) dL/dw_ij = (sum_k (z_k - zhat_k) z_k (1 - z_k) w_jk) y_j (1 - y_j) x_i
    inner = np.einsum("nk,jk->nj", (z2 - z_hat2) * z2 * (1 - z2), w_b)
    eq7 = np.einsum("nj,ni->ij", inner * y2 * (1 - y2), x2) / n
    close(net[2].weight.grad, eq5)
    close(net[0].weight.grad, eq7)


def test_lecture_notes_one_sample_by_loops():
    # The equations element by element, as written, on one sample.
    net = random_net([3, 4, 2], seed=11)
    x, z_hat = np.array([0.3, -1.2, 0.8]), np.array([0.1, 0.9])
    half_squared_error(net(x), z_hat).backward()
    _, (_, y, z) = layer_values(net, x)
    y, z, w_b = y.data, z.data, net[2].weight.data
    for j in range(4):
        for k in range(2):
            eq5 = (z[k] - z_hat[k]) * z[k] * (1 - z[k]) * y[j]
            assert net[2].weight.grad[j, k] == pytest.approx(eq5, rel=1e-12)
    for i in range(3):
        for j in range(4):
            total = sum((z[k] - z_hat[k]) * z[k] * (1 - z[k]) * w_b[j, k] for k in range(2))
            eq7 = total * y[j] * (1 - y[j]) * x[i]
            assert net[0].weight.grad[i, j] == pytest.approx(eq7, rel=1e-12)


# ---------------------------------------------------------------- the lecture notes, equations (8) and (9), any depth
@pytest.mark.parametrize("depth", [2, 3, 4, 5, 6])
@SETTINGS
@given(seed=seeds, batch=st.integers(1, 5))
def test_lecture_notes_delta_rule_for_any_depth(depth, seed, batch):
    r = np.random.default_rng(seed)
    widths = [int(w) for w in r.integers(1, 5, size=depth + 1)]
    net = random_net(widths, seed)
    x = r.normal(size=(batch, widths[0]))
    target = r.uniform(size=(batch, widths[-1]))
    half_squared_error(net(x), target).backward()

    _, outs = layer_values(net, x)
    outs = [o.data for o in outs]
    linears = [linear for linear, _ in net.layers()]
    # (8) output layer: delta_j = (y_j - yhat_j) y_j (1 - y_j); hidden: delta_j = (sum_k delta_k w_jk) y_j (1 - y_j)
    delta = (outs[-1] - target) * outs[-1] * (1 - outs[-1])
    for layer in range(depth, 0, -1):
        y_prev = outs[layer - 1]
        linear = linears[layer - 1]
        # (9) dL/dw_ij = delta_j x_i, averaged over the batch; the bias is a weight from a constant-1 input
        close(linear.weight.grad, y_prev.T @ delta / batch)
        close(linear.bias.grad, delta.sum(axis=0) / batch)
        delta = (delta @ linear.weight.data.T) * y_prev * (1 - y_prev)


# ---------------------------------------------------------------- Learning From Data: tanh output, squared error
@SETTINGS
@given(n_in=sizes, n_h=sizes, batch=st.integers(1, 6), seed=seeds)
def test_learning_from_data_tanh_output_delta(n_in, n_h, batch, seed):
    net = random_net([n_in, n_h, 1], seed, activation="tanh", output_activation="tanh")
    r = np.random.default_rng(seed + 2)
    x_in, y_n = r.normal(size=(batch, n_in)), r.uniform(-1, 1, size=(batch, 1))
    nets, outs = layer_values(net, x_in)
    s_last, x_last = nets[-1], outs[-1]
    squared_error(x_last, y_n).backward()
    # delta_1^(L) = de/ds_1^(L) = 2 (x_1^(L) - y_n) (1 - (x_1^(L))^2), per sample; the loss averages
    delta = 2 * (x_last.data - y_n) * (1 - x_last.data ** 2)
    close(s_last.grad, delta / batch)
    # de/dw_ij^(L) = delta_j^(L) x_i^(L-1)
    net.zero_grad()
    squared_error(net(x_in), y_n).backward()
    close(net[2].weight.grad, outs[1].data.T @ delta / batch)


# ---------------------------------------------------------------- Mazur's network with an extra layer j between h and o
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_mazur_extra_layer_extra_layer_sums_the_paths_through_j1_and_j2(seed):
    net = random_net([2, 2, 2, 2], seed)  # i -> h -> j -> o
    r = np.random.default_rng(seed)
    i, target = r.normal(size=2), r.uniform(size=2)
    half_squared_error(net(i), target).backward()
    _, (_, h, j, o) = layer_values(net, i)
    h, j, o = h.data, j.data, o.data
    w_hj, w_jo = net[2].weight.data, net[4].weight.data

    delta_o = (o - target) * o * (1 - o)
    # dE_j/dw1: the backward message that reaches h1 through j (both o paths summed inside it)
    de_j_dw1 = [
        (sum(delta_o[m] * w_jo[jj, m] for m in range(2)) * j[jj] * (1 - j[jj])) * w_hj[0, jj]
        * h[0] * (1 - h[0]) * i[0]
        for jj in range(2)
    ]
    de_total_dw1 = de_j_dw1[0] + de_j_dw1[1]  # the answer: dE_total/dw1 = dE_j1/dw1 + dE_j2/dw1
    w1_grad = net[0].weight.grad[0, 0]
    assert w1_grad == pytest.approx(de_total_dw1, rel=1e-12)
    assert 2 * de_total_dw1 != pytest.approx(w1_grad, rel=1e-3)  # counting each path twice is wrong


# ---------------------------------------------------------------- a 1-1-1 chain x -> h -> y: the corrected equation
def chain_dl_dw1(net: cr.MLP, i: np.ndarray, target: np.ndarray) -> float:
    """dL/dw1 = dh1/dw1 do2/dh1 dL/do2 + dh1/dw1 do1/dh1 dL/do1 on a 2-2-2 net (w5: h1->o1, w7: h1->o2)."""
    _, (_, h, o) = layer_values(net, i)
    h1, (o1, o2) = h.data[0], o.data
    w5, w7 = net[2].weight.data[0, 0], net[2].weight.data[0, 1]
    dh1_dw1 = h1 * (1 - h1) * i[0]
    do1_dh1, do2_dh1 = o1 * (1 - o1) * w5, o2 * (1 - o2) * w7
    dl_do1, dl_do2 = o1 - target[0], o2 - target[1]
    return dh1_dw1 * do2_dh1 * dl_do2 + dh1_dw1 * do1_dh1 * dl_do1


@pytest.mark.parametrize("seed", [None, 0, 1, 2])
def test_chain_corrected_equation_for_w1(seed):
    if seed is None:
        net, i, target = cr.examples.mazur()
        i, target = i[0], target[0]
    else:
        net = random_net([2, 2, 2], seed)
        r = np.random.default_rng(seed)
        i, target = r.normal(size=2), r.uniform(size=2)
    half_squared_error(net(i), target).backward()
    assert net[0].weight.grad[0, 0] == pytest.approx(chain_dl_dw1(net, i, target), rel=1e-12)


def test_chain_one_neuron_chain():
    # x -> (w1) -> h -> (w2) -> y': h = sigma(x w1 + b), y' = sigma(h w2 + b), L = 1/2 (y - y')^2
    net = cr.MLP([1, 1, 1], activation="sigmoid", output_activation="sigmoid", seed=0)
    w1, w2, b, x, y = 0.7, -1.3, 0.2, 0.9, 0.25
    net.load_state_dict({"0.weight": [[w1]], "0.bias": [b], "2.weight": [[w2]], "2.bias": [b]})
    half_squared_error(net([[x]]), [[y]]).backward()
    h = 1 / (1 + np.exp(-(x * w1 + b)))
    y_out = 1 / (1 + np.exp(-(h * w2 + b)))
    dl_dy = y_out - y
    assert net[2].weight.grad[0, 0] == pytest.approx(y_out * (1 - y_out) * h * dl_dy, rel=1e-12)
    assert net[0].weight.grad[0, 0] == pytest.approx(h * (1 - h) * x * y_out * (1 - y_out) * w2 * dl_dy, rel=1e-12)


# ---------------------------------------------------------------- a softmax hidden layer in Mazur's names
@SETTINGS
@given(n_in=sizes, n_h=st.integers(2, 5), n_out=sizes, seed=seeds)
def test_softmax_hidden_softmax_hidden_layer_needs_the_full_jacobian(n_in, n_h, n_out, seed):
    net = random_net([n_in, n_h, n_out], seed, activation="softmax", output_activation="sigmoid")
    r = np.random.default_rng(seed + 3)
    i, target = r.normal(size=n_in) * 2, r.uniform(size=n_out)
    half_squared_error(net(i), target).backward()
    _, (_, h, o) = layer_values(net, i)
    out_h, out_o, w_ho = h.data, o.data, net[2].weight.data
    delta = (out_o - target) * out_o * (1 - out_o)  # delta_j of output neuron o_j
    back = w_ho @ delta  # sum_j delta_j w_{hi,oj}, one per hidden neuron i

    # dE/dw_{n,m} = sum_i (sum_j delta_j w_{hi,oj}) out_hm (1[i=m] - out_hi) i_n
    full = np.zeros((n_in, n_h))
    for n in range(n_in):
        for m in range(n_h):
            full[n, m] = sum(back[k] * out_h[m] * ((k == m) - out_h[k]) for k in range(n_h)) * i[n]
    close(net[0].weight.grad, full)
    # The bias is a weight from a constant-1 input: the same sum with i_n = 1.
    close(net[0].bias.grad, [sum(back[k] * out_h[m] * ((k == m) - out_h[k]) for k in range(n_h))
                             for m in range(n_h)])


def test_softmax_hidden_the_diagonal_term_alone_is_wrong_for_softmax():
    # The sigmoid-style derivative out_hm (1 - out_hm) alone misses the cross terms i != m.
    net = random_net([2, 3, 2], 4, activation="softmax", output_activation="sigmoid")
    i, target = np.array([0.5, -1.0]), np.array([0.2, 0.7])
    half_squared_error(net(i), target).backward()
    _, (_, h, o) = layer_values(net, i)
    out_h, out_o = h.data, o.data
    back = net[2].weight.data @ ((out_o - target) * out_o * (1 - out_o))
    diagonal = np.outer(i, back * out_h * (1 - out_h))
    full = np.outer(i, out_h * (back - back @ out_h))  # the full sum, in matrix form
    close(net[0].weight.grad, full)
    assert np.abs(diagonal - full).max() > 0.1 * np.abs(full).max()
