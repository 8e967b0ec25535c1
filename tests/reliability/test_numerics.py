"""Activations and losses at the edges of floating point: +-1e4 inputs, probabilities of exactly 0 and 1.

Values and gradients must be finite, keep the input's dtype, raise no warning
(``np.seterr(all="raise")`` is on for every test, and warnings are errors here) and
agree with the closed forms evaluated in 60-digit arithmetic (mpmath). The loss
functions clip probabilities to [eps, 1 - eps] (eps = the dtype's machine epsilon,
as scikit-learn does); the references apply the same documented clip.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import losses
from chainrule.ops import ACTIVATIONS
from chainrule.train import loss_and_grad_fn

pytestmark = pytest.mark.filterwarnings("error")
mpmath.mp.dps = 60

DTYPES = [np.float32, np.float64]
BIG = 1e4
#: Rows of net inputs at the extremes: saturated, tied, mixed.
NETS = [[-BIG, 0.0, BIG], [BIG, BIG, -BIG], [-BIG, -BIG, -BIG], [BIG, -0.5, 2.0]]


def _mp(x):
    return [[mpmath.mpf(float(v)) for v in row] for row in np.asarray(x, dtype=np.float64)]


def _phi(x):
    return mpmath.exp(-x * x / 2) / mpmath.sqrt(2 * mpmath.pi)


def _cdf(x):
    return (1 + mpmath.erf(x / mpmath.sqrt(2))) / 2


# (forward f(net), derivative f'(net)) of the elementwise activations, exactly.
ELEMENTWISE = {
    "identity": (lambda x: x, lambda x: mpmath.mpf(1)),
    "sigmoid": (lambda x: 1 / (1 + mpmath.exp(-x)), lambda x: mpmath.exp(-x) / (1 + mpmath.exp(-x)) ** 2),
    "tanh": (mpmath.tanh, lambda x: 1 - mpmath.tanh(x) ** 2),
    "relu": (lambda x: max(x, 0), lambda x: mpmath.mpf(x > 0)),
    "leaky_relu": (lambda x: x if x > 0 else x / 100, lambda x: mpmath.mpf(1) if x > 0 else mpmath.mpf(1) / 100),
    "elu": (lambda x: x if x > 0 else mpmath.expm1(x), lambda x: mpmath.mpf(1) if x > 0 else mpmath.exp(x)),
    "softplus": (lambda x: mpmath.log1p(mpmath.exp(x)), lambda x: 1 / (1 + mpmath.exp(-x))),
    "gelu": (lambda x: x * _cdf(x), lambda x: _cdf(x) + x * _phi(x)),
}


def _softmax_rows(x):
    rows = []
    for row in _mp(x):
        top = max(row)
        e = [mpmath.exp(v - top) for v in row]
        rows.append([v / mpmath.fsum(e) for v in e])
    return rows


def _reference(name, net, u):
    """(out, J^T u) of activation ``name`` at ``net`` for cotangent ``u``, in 60 digits, as float64."""
    x, g = _mp(net), _mp(u)
    if name in ELEMENTWISE:
        f, df = ELEMENTWISE[name]
        out = [[f(v) for v in row] for row in x]
        grad = [[df(v) * gv for v, gv in zip(row, grow)] for row, grow in zip(x, g)]
    elif name == "softmax":
        out = _softmax_rows(net)
        grad = [[o * (gj - mpmath.fsum(gi * oi for gi, oi in zip(grow, orow))) for o, gj in zip(orow, grow)]
                for orow, grow in zip(out, g)]
    elif name == "log_softmax":
        p = _softmax_rows(net)
        out = [[mpmath.log(v) if v > 0 else v_net - max(row) - mpmath.log(mpmath.fsum(
            mpmath.exp(w - max(row)) for w in row)) for v, v_net in zip(prow, row)] for prow, row in zip(p, x)]
        grad = [[gj - pj * mpmath.fsum(grow) for gj, pj in zip(grow, prow)] for grow, prow in zip(g, p)]
    else:
        raise KeyError(name)
    return (np.array([[float(v) for v in row] for row in out]),
            np.array([[float(v) for v in row] for row in grad]))


def _close(actual, expected, dtype, what):
    """Equal to a few units in the last place of the dtype, relative to the array's largest entry.

    Gradients such as log-softmax's g - softmax * sum(g) cancel, so an element's error
    scales with the row's magnitude, not its own.
    """
    eps = float(np.finfo(dtype).eps)
    scale = float(np.max(np.abs(expected))) if np.size(expected) else 0.0
    with np.errstate(under="ignore"):  # the comparison itself meets subnormal references
        np.testing.assert_allclose(actual.astype(np.float64), expected, rtol=8 * eps, atol=8 * eps * scale,
                                   err_msg=what)


def test_every_activation_is_covered():
    assert set(ACTIVATIONS) == set(ELEMENTWISE) | {"softmax", "log_softmax"}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_at_plus_minus_1e4(name, dtype):
    net = np.array(NETS, dtype=dtype)
    u = np.random.default_rng(0).standard_normal(net.shape).astype(dtype)
    t = cr.Tensor(net.copy(), requires_grad=True)
    out = F.activation(name, t)
    out.backward(u)
    assert out.data.dtype == dtype and t.grad.dtype == dtype
    assert np.isfinite(out.data).all() and np.isfinite(t.grad).all()
    expected_out, expected_grad = _reference(name, net.astype(np.float64), u.astype(np.float64))
    _close(out.data, expected_out, dtype, f"{name} values")
    _close(t.grad, expected_grad, dtype, f"{name} gradients")


# ------------------------------------------------------------------ losses
def _log_softmax_exact(row):
    top = max(row)
    lse = top + mpmath.log(mpmath.fsum(mpmath.exp(v - top) for v in row))
    return [v - lse for v in row]


def _clip(p, eps, upper):
    return min(max(p, eps), 1 - eps) if upper else max(p, eps)


def _loss_reference(name, out, target, dtype):
    """(E, dE/dout) in 60 digits for a batch, E = mean over samples of per-sample sums."""
    eps = mpmath.mpf(float(np.finfo(dtype).eps))
    o, t = _mp(out), _mp(target)
    n = len(o)
    per_sample, grads = [], []
    for orow, trow in zip(o, t):
        if name == "cross_entropy_with_logits":
            logp = _log_softmax_exact(orow)
            per_sample.append(-mpmath.fsum(ti * lp for ti, lp in zip(trow, logp)))
            grads.append([mpmath.exp(lp) * mpmath.fsum(trow) - ti for lp, ti in zip(logp, trow)])
        elif name == "binary_cross_entropy_with_logits":
            per_sample.append(mpmath.fsum(mpmath.log1p(mpmath.exp(z)) - ti * z for z, ti in zip(orow, trow)))
            grads.append([1 / (1 + mpmath.exp(-z)) - ti for z, ti in zip(orow, trow)])
        elif name == "cross_entropy":
            p = [_clip(v, eps, False) for v in orow]
            per_sample.append(-mpmath.fsum(ti * mpmath.log(pi) for ti, pi in zip(trow, p)))
            grads.append([-ti / pi for ti, pi in zip(trow, p)])
        elif name == "binary_cross_entropy":
            p = [_clip(v, eps, True) for v in orow]
            per_sample.append(-mpmath.fsum(ti * mpmath.log(pi) + (1 - ti) * mpmath.log(1 - pi)
                                           for ti, pi in zip(trow, p)))
            grads.append([(pi - ti) / (pi * (1 - pi)) for ti, pi in zip(trow, p)])
    loss = float(mpmath.fsum(per_sample) / n)
    return loss, np.array([[float(g / n) for g in row] for row in grads])


LOGITS = np.array(NETS)
PROBABILITIES = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
CASES = {
    # class 0 for the first row means the correct class has the logit -1e4: a loss of 2e4.
    "cross_entropy_with_logits": (LOGITS, np.eye(3)[[0, 2, 1, 0]]),
    "binary_cross_entropy_with_logits": (LOGITS, np.array([[1, 0, 0], [0, 1, 1], [1, 0, 1], [0, 1, 0.5]])),
    # probability 0 for a true class, probability 1 for a false one, and exact hits
    "cross_entropy": (PROBABILITIES, np.eye(3)[[0, 1, 2, 2]]),
    "binary_cross_entropy": (PROBABILITIES, np.array([[1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1.0]])),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_cross_entropies_at_the_extremes(name, dtype):
    out, target = (a.astype(dtype) for a in CASES[name])
    t = cr.Tensor(out.copy(), requires_grad=True)
    value = getattr(losses, name)(t, target)
    value.backward()
    assert value.data.dtype == dtype and t.grad.dtype == dtype
    assert np.isfinite(value.data) and np.isfinite(t.grad).all()
    expected_value, expected_grad = _loss_reference(name, out, target, dtype)
    _close(np.asarray(value.data), np.asarray(expected_value), dtype, f"{name} value")
    _close(t.grad, expected_grad, dtype, f"{name} gradient")


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["cross_entropy", "cross_entropy_with_logits"])
def test_class_index_targets_at_the_extremes(name, dtype):
    out = (LOGITS if name.endswith("logits") else PROBABILITIES).astype(dtype)
    labels = np.array([0, 1, 2, 2])
    t = cr.Tensor(out.copy(), requires_grad=True)
    value = getattr(losses, name)(t, labels)
    value.backward()
    expected_value, expected_grad = _loss_reference(name, out, np.eye(3)[labels], dtype)
    _close(np.asarray(value.data), np.asarray(expected_value), dtype, f"{name} value")
    _close(t.grad, expected_grad, dtype, f"{name} gradient")


# ------------------------------------------------------------------ whole networks, graph and training plan
FUSED = {("softmax", "cross_entropy"), ("sigmoid", "binary_cross_entropy")}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("output,loss", [
    ("softmax", "cross_entropy"), (None, "cross_entropy_with_logits"), ("sigmoid", "binary_cross_entropy"),
    (None, "binary_cross_entropy_with_logits"), ("log_softmax", "mse"), ("tanh", "half_squared_error"),
])
def test_saturated_networks_give_finite_losses_and_gradients(output, loss, dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((16, 4)) * BIG).astype(dtype)  # every unit saturates
    labels = np.arange(16) % 3
    target = labels if loss.startswith("cross") else np.eye(3, dtype=dtype)[labels]
    results = []
    # The fused pairs' delta is out - target, the gradient of the unclipped loss; the graph
    # differentiates the clipped one, flat where a probability is clipped. They agree only
    # away from saturation, so only the unfused pairs are compared.
    compare = (output, loss) not in FUSED
    for use_plan in (True, False):
        net = cr.MLP([4, 8, 3], activation="sigmoid", output_activation=output, seed=1, dtype=dtype)
        for p in net.parameters():
            p.data *= dtype(50)
        step = loss_and_grad_fn(net, loss)
        if not use_plan and step.plan is not None:
            step = _graph_step(net, loss)
        value = step(x, target)
        grads = [p.grad for p in net.parameters()]
        assert np.isfinite(value) and all(g.dtype == dtype and np.isfinite(g).all() for g in grads)
        results.append((value, grads))
    (plan_value, plan_grads), (graph_value, graph_grads) = results
    if compare:
        _close(np.asarray(plan_value), np.asarray(graph_value), dtype, "loss")
        for a, b in zip(plan_grads, graph_grads):
            _close(a, b, dtype, "gradient")


def _graph_step(net, loss):
    fn = losses.get_loss(loss)

    def step(x, target):
        for p in net.parameters():
            p.grad = None
        value = fn(net(cr.Tensor(x)), target)
        value.backward()
        return float(value.item())

    return step
