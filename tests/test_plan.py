"""The captured training plan gives the graph's loss and gradients, in place and without growing."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import chainrule as cr
from chainrule import losses, plan
from chainrule.errors import DataError, ShapeError
from chainrule.ops import ACTIVATIONS
from chainrule.plan import compile_plan
from torch_reference import ACTIVATION_NAMES, LOSS_NAMES, relative_error

# Output activation for each loss: the fused pairs, logits for the *_with_logits losses
# and poisson; the squared errors run through the hidden activation under test, so every
# activation's f' (or softmax's Jacobian) also meets the loss at the output layer.
OUTPUT_FOR = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid",
              "cross_entropy_with_logits": "identity", "binary_cross_entropy_with_logits": "identity",
              "poisson": "identity"}


def network(sizes, hidden, output, seed, dtype=np.float64):
    """An MLP whose layers use ``hidden`` between Linear layers and ``output`` last."""
    modules = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        modules += [cr.Linear(n_in, n_out, seed=seed + i, dtype=dtype),
                    cr.Activation(output if i == len(sizes) - 2 else hidden)]
    return cr.Sequential(*modules)


def targets(loss, n, k, rng, dtype=np.float64):
    if loss in ("cross_entropy", "cross_entropy_with_logits"):
        return rng.integers(0, k, n)
    if loss.startswith("binary"):
        return rng.uniform(0, 1, (n, k)).astype(dtype)
    if loss == "poisson":
        return rng.poisson(2.0, (n, k)).astype(dtype)
    return rng.standard_normal((n, k)).astype(dtype)


def graph_loss_and_grads(net, loss, x, t, w=None):
    net.zero_grad()
    value = losses.get_loss(loss)(net(x), t, w)
    value.backward()
    return value.item(), {name: p.grad.copy() for name, p in net.named_parameters()}


def plan_loss_and_grads(net, loss, x, t, w=None):
    p = compile_plan(net, loss)
    assert p is not None
    value = p.loss_and_grad(x, t, w)
    return value, {name: q.grad.copy() for name, q in net.named_parameters()}


def assert_same(net, loss, x, t, w=None, rtol=1e-12):
    expected_value, expected = graph_loss_and_grads(net, loss, x, t, w)
    value, grads = plan_loss_and_grads(net, loss, x, t, w)
    assert abs(value - expected_value) <= rtol * abs(expected_value)
    for name in expected:
        assert grads[name].dtype == expected[name].dtype
        assert relative_error(grads[name], expected[name]) <= rtol, name


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_plan_matches_graph_for_every_activation_and_loss(activation, loss, weighted):
    rng = np.random.default_rng([ACTIVATION_NAMES.index(activation), LOSS_NAMES.index(loss), weighted])
    depth = 1 + (ACTIVATION_NAMES.index(activation) + LOSS_NAMES.index(loss)) % 3  # 1, 2 or 3 layers
    sizes = [5] + [int(s) for s in rng.integers(2, 8, depth - 1)] + [3]
    net = network(sizes, activation, OUTPUT_FOR.get(loss, activation), seed=int(rng.integers(1000)))
    x = rng.standard_normal((9, 5))
    w = rng.uniform(0.1, 2.0, 9) if weighted else None
    assert_same(net, loss, x, targets(loss, 9, 3, rng), w)


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_plan_matches_graph_for_mlps_of_several_depths(depth):
    rng = np.random.default_rng(depth)
    sizes = [7] + [6] * (depth - 1) + [4]
    for act in ("relu", "tanh", "sigmoid"):
        net = cr.MLP(sizes, activation=act, seed=depth)
        x, t = rng.standard_normal((16, 7)), rng.integers(0, 4, 16)
        assert_same(net, "cross_entropy_with_logits", x, t)
        assert_same(net, "mse", x, rng.standard_normal((16, 4)), rng.uniform(0, 1, 16))


@pytest.mark.parametrize("form", ["int64", "int32", "float_indices", "rows", "soft_rows"])
@pytest.mark.parametrize("loss", ["cross_entropy", "cross_entropy_with_logits"])
def test_class_targets_in_every_form(loss, form):
    rng = np.random.default_rng(3)
    net = cr.MLP([4, 5, 3], activation="tanh", output_activation=OUTPUT_FOR[loss], seed=2)
    labels = rng.integers(0, 3, 10)
    t = {"int64": labels, "int32": labels.astype(np.int32), "float_indices": labels.astype(float),
         "rows": np.eye(3)[labels],
         # rows that do not sum to 1: dE/dnet = out * sum_k t_k - t, not out - t
         "soft_rows": rng.uniform(0, 1, (10, 3))}[form]
    assert_same(net, loss, rng.standard_normal((10, 4)), t)


def test_one_sample_and_one_output():
    rng = np.random.default_rng(4)
    net = cr.MLP([3, 4, 1], activation="relu", output_activation="sigmoid", seed=5)
    assert_same(net, "binary_cross_entropy", rng.standard_normal(3), np.array([1.0]))
    assert_same(net, "binary_cross_entropy", rng.standard_normal((6, 3)), rng.integers(0, 2, 6).astype(float))
    assert_same(net, "mse", rng.standard_normal((1, 3)), rng.standard_normal((1, 1)), np.array([2.0]))


def test_mazur_published_gradients():
    # Mazur's "A Step by Step Backpropagation Example": E_total, dE/dw5 and dE/dw1.
    net, x, target = cr.examples.mazur()
    p = compile_plan(net, losses.half_squared_error)
    assert p.loss_and_grad(x, target) == pytest.approx(0.298371109, abs=5e-10)
    w5_name, w5 = cr.examples.MAZUR_WEIGHTS["w5"]
    w1_name, w1 = cr.examples.MAZUR_WEIGHTS["w1"]
    grads = dict(net.named_parameters())
    assert grads[w5_name].grad[w5] == pytest.approx(0.082167041, abs=5e-10)
    assert grads[w1_name].grad[w1] == pytest.approx(0.000438568, abs=5e-10)


def test_float32_stays_float32():
    rng = np.random.default_rng(6)
    net = cr.MLP([6, 8, 8, 3], activation="relu", output_activation="softmax", seed=1, dtype=np.float32)
    x, t = rng.standard_normal((12, 6)), rng.integers(0, 3, 12)
    p = compile_plan(net, "cross_entropy")
    assert p.dtype == np.float32
    value = p.loss_and_grad(x, t)  # float64 input is cast to the model's float32
    assert all(q.grad.dtype == np.float32 for q in net.parameters())
    assert p.forward(x).dtype == np.float32
    expected_value, expected = graph_loss_and_grads(net, "cross_entropy", x.astype(np.float32), t)
    assert value == pytest.approx(expected_value, rel=1e-5)
    for name, q in net.named_parameters():
        assert relative_error(q.grad, expected[name]) < 1e-5


def test_forward_matches_the_graph_in_chunks(monkeypatch):
    monkeypatch.setattr(plan, "_FORWARD_CHUNK_NUMBERS", 40)  # 5 rows of 8 at a time
    rng = np.random.default_rng(7)
    net = cr.MLP([3, 8, 2], activation="gelu", output_activation="softmax", seed=3)
    x = rng.standard_normal((23, 3))
    p = compile_plan(net, "cross_entropy")
    np.testing.assert_allclose(p.forward(x), net(x).data, rtol=1e-14)
    np.testing.assert_allclose(p.forward(x[0]), net(x[0]).data, rtol=1e-14)


def test_buffers_are_reused_and_memory_does_not_grow():
    rng = np.random.default_rng(8)
    net = cr.MLP([20, 16, 16, 4], activation="relu", seed=0)
    p = compile_plan(net, "cross_entropy_with_logits")
    x, t = rng.standard_normal((32, 20)), rng.integers(0, 4, 32)
    opt = cr.optim.SGD(net, lr=0.01)
    for _ in range(5):
        p.loss_and_grad(x, t)
        opt.step()
    grads = [q.grad for q in net.parameters()]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(300):
            p.loss_and_grad(x, t)
            opt.step()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 4096, f"{grown} bytes more after 300 steps"
    assert all(q.grad is g for q, g in zip(net.parameters(), grads))


def test_batch_sizes_change_and_parameters_are_read_afresh():
    rng = np.random.default_rng(9)
    net = cr.MLP([4, 6, 3], activation="tanh", seed=1)
    p = compile_plan(net, "cross_entropy_with_logits")
    for n in (8, 3, 1, 8, 5, 7, 2, 9, 8):  # more sizes than the plan keeps buffers for
        x, t = rng.standard_normal((n, 4)), rng.integers(0, 3, n)
        expected_value, expected = graph_loss_and_grads(net, "cross_entropy_with_logits", x, t)
        assert p.loss_and_grad(x, t) == pytest.approx(expected_value, rel=1e-12)
        for name, q in net.named_parameters():
            assert relative_error(q.grad, expected[name]) <= 1e-12
    net.load_state_dict({k: v * 2 for k, v in net.state_dict().items()})
    x, t = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    expected_value, _ = graph_loss_and_grads(net, "cross_entropy_with_logits", x, t)
    assert p.loss_and_grad(x, t) == pytest.approx(expected_value, rel=1e-12)


def test_saturated_sigmoids_do_not_trip_underflow():
    # conftest makes every floating-point warning an error; exp(-1000) is 0, not an error.
    net = cr.MLP([2, 3, 2], activation="sigmoid", output_activation="sigmoid", seed=0)
    p = compile_plan(net, "binary_cross_entropy")
    value = p.loss_and_grad(np.array([[1000.0, -1000.0], [-800.0, 900.0]]), np.array([[0.0, 1.0], [1.0, 0.0]]))
    assert np.isfinite(value)
    assert all(np.isfinite(q.grad).all() for q in net.parameters())


def test_in_place_activation_forms_match_the_allocating_ones_bit_for_bit():
    rng = np.random.default_rng(10)
    for dtype in (np.float32, np.float64):
        net = np.concatenate([rng.standard_normal(500) * 30, [0.0, -0.0, 800.0, -800.0]]).astype(dtype)
        for name, op in ACTIVATIONS.items():
            if op.forward_into is None and op.derivative_into is None:
                continue
            out = op.forward(net)
            into = np.full_like(net, np.nan)
            with np.errstate(under="ignore"):
                op.forward_into(net, into)
            assert np.array_equal(into, out) and np.array_equal(np.signbit(into), np.signbit(out)), name
            with np.errstate(under="ignore"):
                op.derivative_into(net, out, into)
            assert np.array_equal(into, op.derivative(net, out)), name


class Doubler(cr.Module):
    def forward(self, x):
        return x * 2


class OddLinear(cr.Linear):
    def forward(self, x):
        return super().forward(x) * 2


@pytest.mark.parametrize("build", [
    lambda: cr.Sequential(cr.Linear(2, 3), Doubler(), cr.Linear(3, 1)),
    lambda: cr.Sequential(cr.ReLU(), cr.Linear(2, 1)),
    lambda: cr.Sequential(cr.Linear(2, 3), cr.ReLU(), cr.Tanh(), cr.Linear(3, 1)),
    lambda: cr.Sequential(OddLinear(2, 1)),
    lambda: cr.Sequential(cr.Linear(2, 3), cr.Softmax(axis=0)),
    lambda: cr.Sequential(cr.Linear(2, 3), cr.Linear(3, 1, dtype=np.float32)),
    lambda: cr.Sequential(),
    lambda: Doubler(),
])
def test_what_a_plan_cannot_capture_gives_none(build):
    assert compile_plan(build(), "mse") is None


def test_custom_or_unknown_losses_give_none():
    net = cr.MLP([2, 1], seed=0)
    assert compile_plan(net, lambda out, target, sample_weight=None: (out - target).sum()) is None
    assert compile_plan(net, "no_such_loss") is None
    assert compile_plan(net, losses.mse) is not None


def test_bad_batches_raise_errors_that_say_what_came():
    net = cr.MLP([3, 4, 3], activation="relu", seed=0)
    p = compile_plan(net, "cross_entropy_with_logits")
    x = np.zeros((5, 3))
    with pytest.raises(ShapeError, match=r"\(batch, 3\)"):
        p.loss_and_grad(np.zeros((5, 2)), np.zeros(5, int))
    with pytest.raises(DataError, match="0..2"):
        p.loss_and_grad(x, np.array([0, 1, 3, 0, 0]))
    with pytest.raises(DataError, match="0..2"):
        p.loss_and_grad(x, np.array([0, -1, 2, 0, 0]))
    with pytest.raises(DataError, match="whole numbers"):
        p.loss_and_grad(x, np.array([0, 1.5, 2, 0, 0]))
    with pytest.raises(ShapeError, match=r"\(5, 3\)"):
        p.loss_and_grad(x, np.zeros((5, 2)))
    with pytest.raises(DataError, match="sample_weight"):
        p.loss_and_grad(x, np.zeros(5, int), -np.ones(5))
    with pytest.raises(ShapeError, match="sample_weight"):
        p.loss_and_grad(x, np.zeros(5, int), np.ones(4))
    with pytest.raises(DataError, match="numbers"):
        p.loss_and_grad(np.array([["a", "b", "c"]]), np.zeros(1, int))
