"""The gradient checker: it passes correct nets, reports where it is worst, and rejects a VJP off by 0.1%."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import losses, ops
from chainrule.errors import GradcheckError, ShapeError
from chainrule.ops import Op
from chainrule.tensor import Tensor

OFF = 1e-3  # 0.1%


@pytest.fixture
def tanh_ops():
    """Two temporary registry entries: tanh with its exact VJP, and one whose VJP is off by 0.1%.

    Both are removed from the registry after the test.
    """
    exact = Op("test_exact_tanh", np.tanh, lambda g, out, x: (g * (1 - out * out),))
    wrong = Op("test_wrong_tanh", np.tanh, lambda g, out, x: (g * (1 - out * out) * (1 + OFF),))
    for op in (exact, wrong):
        ops.register(op)
    try:
        yield {name: (lambda x, op=op: Tensor._from_op(op, (x,), {})) for name, op in
               (("exact", exact), ("wrong", wrong))}
    finally:
        for op in (exact, wrong):
            ops.OPS.pop(op.name, None)
    assert "test_wrong_tanh" not in ops.OPS


def small_net(seed: int = 0, **kwargs) -> tuple[cr.MLP, np.ndarray, np.ndarray]:
    net = cr.MLP([3, 4, 2], seed=seed, **kwargs)
    r = np.random.default_rng(seed)
    for p in net.parameters():
        p.data = p.data + r.normal(scale=0.1, size=p.shape)
    return net, r.normal(size=(5, 3)), r.uniform(size=(5, 2))


# ---------------------------------------------------------------- correct nets pass
@pytest.mark.parametrize(("activation", "output_activation", "loss"), [
    ("sigmoid", "sigmoid", "half_squared_error"),
    ("tanh", None, "mse"),
    ("softmax", "softmax", "cross_entropy"),
    ("gelu", None, "cross_entropy_with_logits"),
    ("elu", "sigmoid", "binary_cross_entropy"),
    ("softplus", None, "poisson"),
])
def test_gradcheck_passes_correct_nets(activation, output_activation, loss):
    net, x, target = small_net(activation=activation, output_activation=output_activation)
    loss_fn = losses.get_loss(loss)
    report = cr.gradcheck(lambda: loss_fn(net(x), target), net)
    assert report.passed and report.failures == []
    assert len(report.rows) == sum(p.size for p in net.parameters())
    assert report.max_rel_error < 1e-5 and report.max_abs_error < 1e-8
    assert {row.name for row in report.rows} == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_the_report_says_max_errors_and_the_worst_element():
    net, x, target = small_net()
    report = cr.gradcheck(lambda: losses.half_squared_error(net(x), target), net)
    text = str(report)
    assert "passed" in text and "max abs error" in text and "max rel error" in text
    worst = report.worst
    assert worst.label in text and worst.label.startswith(worst.name + "[")
    assert worst.label == f"{worst.name}[{', '.join(map(str, worst.index))}]"
    assert report.max_abs_error == max(abs(r.backprop - r.numeric) for r in report.rows)


def test_mazur_gradients_pass_with_a_tight_tolerance():
    net, x, target = cr.examples.mazur()
    report = cr.gradcheck(lambda: losses.half_squared_error(net(x), target), net, rtol=1e-7)
    assert report.passed
    by_label = {row.label: row for row in report.rows}
    assert by_label["2.weight[0, 0]"].backprop == pytest.approx(0.082167041, abs=5e-10)  # Mazur's dE/dw5


def test_float32_nets_pass_with_float32_tolerances():
    net, x, target = small_net(dtype=np.float32)
    x, target = x.astype(np.float32), target.astype(np.float32)
    report = cr.gradcheck(lambda: losses.mse(net(x), target), net, rtol=1e-2, atol=1e-4)
    assert report.passed


# ---------------------------------------------------------------- a VJP off by 0.1% is rejected
def test_gradcheck_rejects_a_vjp_off_by_a_thousandth(tanh_ops):
    net, x, target = small_net(output_activation=None)

    def loss(tanh):
        return lambda: losses.half_squared_error(tanh(net(x)), target)

    assert cr.gradcheck(loss(tanh_ops["exact"]), net).passed  # the same setup with the exact VJP
    with pytest.raises(GradcheckError) as error:
        cr.gradcheck(loss(tanh_ops["wrong"]), net)
    report = error.value.report
    assert not report.passed and len(report.failures) > 0
    assert "FAILED" in str(error.value)
    # Every element is off by the same factor.
    rows = [r for r in report.rows if abs(r.numeric) > 1e-6]
    np.testing.assert_allclose([r.backprop / r.numeric for r in rows], 1 + OFF, rtol=1e-5)


def test_check_vjp_rejects_a_vjp_off_by_a_thousandth(tanh_ops):
    x = np.random.default_rng(1).normal(size=(20, 30))
    backprop, numeric = cr.check_vjp(tanh_ops["exact"], [x])
    assert backprop == pytest.approx(numeric, rel=1e-7)
    with pytest.raises(GradcheckError, match="vector-Jacobian product check failed"):
        cr.check_vjp(tanh_ops["wrong"], [x])


def test_the_failure_names_the_worst_element(tanh_ops):
    a = Tensor([0.3, -0.2, 0.5], requires_grad=True, name="a")
    b = Tensor([[0.1, -0.9], [0.4, 1.5]], requires_grad=True, name="b")
    weights = np.array([[1.0, 2.0], [-3.0, 0.5]])
    fn = lambda: (a * a).sum() + (tanh_ops["wrong"](b) * weights).sum()
    report = cr.gradcheck(fn, {"a": a, "b": b}, raise_on_failure=False)
    assert not report.passed
    assert {r.name for r in report.failures} == {"b"}  # a's gradient is right
    exact = weights * (1 - np.tanh(b.data) ** 2)
    worst = np.unravel_index(np.argmax(np.abs(exact)), exact.shape)
    assert report.worst.name == "b" and report.worst.index == tuple(int(i) for i in worst)
    assert report.worst.label in str(report)


# ---------------------------------------------------------------- sampling
def test_large_parameters_are_sampled_with_a_seed():
    net = cr.MLP([30, 20, 3], seed=0)
    x, target = np.random.default_rng(0).normal(size=(4, 30)), np.random.default_rng(1).normal(size=(4, 3))
    fn = lambda: losses.mse(net(x), target)

    def checked(seed, max_elements=50):
        report = cr.gradcheck(fn, net, max_elements=max_elements, seed=seed)
        return [(r.name, r.index) for r in report.rows]

    first = checked(seed=3)
    assert first == checked(seed=3)
    assert first != checked(seed=4)
    counts = {name: sum(1 for n, _ in first if n == name) for name in ("0.weight", "0.bias", "2.weight", "2.bias")}
    assert counts == {"0.weight": 50, "0.bias": 20, "2.weight": 50, "2.bias": 3}  # small ones in full
    assert len(checked(seed=3, max_elements=None)) == sum(p.size for p in net.parameters())
    weight_rows = [index for name, index in first if name == "0.weight"]
    assert len(set(weight_rows)) == 50  # no element twice


def test_gradcheck_needs_a_scalar_loss():
    net, x, _ = small_net()
    with pytest.raises(ShapeError, match="scalar"):
        cr.gradcheck(lambda: net(x), net)
