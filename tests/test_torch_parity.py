"""PyTorch parity in float64: every op, activation, loss and random MLPs, value and gradient.

Each expression is written once, ``expr(ns, *inputs)``, and run by
``torch_reference.assert_matches_torch`` in chainrule and in PyTorch; the relative
error of the value and of every input's gradient must stay below 1e-10.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from torch_reference import ACTIVATION_NAMES, LOSS_NAMES, assert_matches_torch

torch = pytest.importorskip("torch")

RTOL = 1e-10
rng = np.random.default_rng(20240601)


def normal(*shape: int) -> np.ndarray:
    return rng.normal(size=shape)


def positive(*shape: int) -> np.ndarray:
    return rng.uniform(0.3, 2.0, size=shape)


def nonzero(*shape: int) -> np.ndarray:
    x = rng.normal(size=shape)
    return np.where(x >= 0, x + 0.1, x - 0.1)


MASK = rng.random((3, 4)) > 0.5

#: name -> (expr(ns, *inputs), inputs)
OPS = {
    "add broadcast (3,1)+(4,)": (lambda ns, a, b: a + b, [normal(3, 1), normal(4)]),
    "bias (n,) + (batch, n)": (lambda ns, x, b: ns.add(x, b), [normal(5, 3), normal(3)]),
    "sub": (lambda ns, a, b: a - b, [normal(2, 3), normal(2, 3)]),
    "rsub scalar": (lambda ns, a: 1.5 - a, [normal(4)]),
    "mul broadcast": (lambda ns, a, b: a * b, [normal(2, 1, 3), normal(4, 1)]),
    "div": (lambda ns, a, b: a / b, [normal(3, 4), nonzero(4)]),
    "rdiv scalar": (lambda ns, a: 2.0 / a, [nonzero(5)]),
    "pow scalar": (lambda ns, a: a ** 3, [normal(3, 2)]),
    "pow fractional": (lambda ns, a: a ** 1.7, [positive(3, 2)]),
    "pow tensor": (lambda ns, a, b: a ** b, [positive(3, 2), normal(2)]),
    "rpow": (lambda ns, b: 2.0 ** b, [normal(4)]),
    "neg": (lambda ns, a: -a, [normal(3)]),
    "matmul": (lambda ns, a, b: a @ b, [normal(3, 4), normal(4, 2)]),
    "matmul vector @ matrix": (lambda ns, a, b: a @ b, [normal(4), normal(4, 2)]),
    "matmul matrix @ vector": (lambda ns, a, b: a @ b, [normal(3, 4), normal(4)]),
    "matmul vector @ vector": (lambda ns, a, b: a @ b, [normal(4), normal(4)]),
    "matmul batched": (lambda ns, a, b: ns.matmul(a, b), [normal(2, 3, 4), normal(4, 5)]),
    ".T": (lambda ns, a: a.T * 2.0, [normal(3, 4)]),
    "transpose axes": (lambda ns, a: ns.transpose(a, (2, 0, 1)), [normal(2, 3, 4)]),
    "reshape": (lambda ns, a: ns.reshape(a, (4, -1)) ** 2, [normal(2, 3, 4)]),
    "slice": (lambda ns, a: a[1:, ::2], [normal(3, 4)]),
    "repeated fancy index": (lambda ns, a: ns.getitem(a, np.array([0, 2, 0, 0])), [normal(3, 4)]),
    "boolean mask": (lambda ns, a: ns.getitem(a, MASK) * 3.0, [normal(3, 4)]),
    "sum all": (lambda ns, a: ns.sum(a), [normal(3, 4)]),
    "sum axis keepdims": (lambda ns, a: ns.sum(a, 1, True) * a, [normal(3, 4)]),
    "sum two axes": (lambda ns, a: ns.sum(a, (0, 2)), [normal(2, 3, 4)]),
    "mean axis": (lambda ns, a: ns.mean(a, 0), [normal(3, 4)]),
    "mean keepdims": (lambda ns, a: ns.mean(a, -1, True), [normal(3, 4)]),
    "max all": (lambda ns, a: ns.max(a), [normal(3, 4)]),
    "max axis": (lambda ns, a: ns.max(a, 1), [normal(3, 4)]),
    "max keepdims": (lambda ns, a: ns.max(a, 0, True) - a, [normal(3, 4)]),
    "concatenate": (lambda ns, a, b: ns.concatenate([a, b, a], 1), [normal(2, 3), normal(2, 1)]),
    "stack": (lambda ns, a, b: ns.stack([a, b], -1), [normal(2, 3), normal(2, 3)]),
    "exp": (lambda ns, a: ns.exp(a), [normal(3, 4)]),
    "log": (lambda ns, a: ns.log(a), [positive(3, 4)]),
    "sqrt": (lambda ns, a: ns.sqrt(a), [positive(3, 4)]),
    "abs": (lambda ns, a: ns.abs(a), [nonzero(3, 4)]),
    "clip": (lambda ns, a: ns.clip(a, -0.5, 0.5), [normal(3, 4)]),
    "clip low only": (lambda ns, a: ns.clip(a, -0.5, None), [normal(3, 4)]),
    "where": (lambda ns, a, b: ns.where(MASK, a, b), [normal(3, 4), normal(4)]),
    "fan-out x*x + x": (lambda ns, a: a * a + a, [normal(3, 4)]),
}


@pytest.mark.parametrize("name", list(OPS))
def test_ops_match_torch(name):
    expr, inputs = OPS[name]
    assert_matches_torch(expr, *inputs, rtol=RTOL)


ACTIVATION_CASES = {name: {} for name in ACTIVATION_NAMES} | {
    "leaky_relu alpha=0.2": {"alpha": 0.2},
    "elu alpha=0.5": {"alpha": 0.5},
    "gelu tanh": {"approximate": "tanh"},
    "softmax axis=0": {"axis": 0},
    "log_softmax axis=0": {"axis": 0},
}


@pytest.mark.parametrize("case", list(ACTIVATION_CASES))
def test_activations_match_torch(case):
    name, attrs = case.split(" ")[0], ACTIVATION_CASES[case]
    x = normal(4, 5) * 2
    assert_matches_torch(lambda ns, x: ns.activation(name, x, **attrs), x, rtol=RTOL)
    assert_matches_torch(lambda ns, x: getattr(ns, name)(x, **attrs), x, rtol=RTOL, seed=1)


def loss_case(name: str, n: int, k: int, seed: int, class_indices: bool = False):
    """(output (n, k), target) in the loss's domain."""
    r = np.random.default_rng(seed)
    if name in ("cross_entropy", "binary_cross_entropy"):
        output = r.uniform(0.05, 0.95, size=(n, k))
    else:
        output = r.normal(size=(n, k)) * 2
    if name in ("cross_entropy", "cross_entropy_with_logits"):
        target = r.integers(0, k, size=n) if class_indices else r.dirichlet(np.ones(k), size=n)
    elif name in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
        target = r.uniform(0, 1, size=(n, k))
    elif name == "poisson":
        target = r.poisson(2.0, size=(n, k)).astype(float)
    else:
        target = r.normal(size=(n, k))
    return output, target


LOSS_CASES = [(name, False) for name in LOSS_NAMES] + [("cross_entropy", True), ("cross_entropy_with_logits", True)]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize(("name", "class_indices"), LOSS_CASES,
                         ids=[f"{n}{' (class indices)' if c else ''}" for n, c in LOSS_CASES])
def test_losses_match_torch(name, class_indices, weighted):
    output, target = loss_case(name, 6, 3, seed=len(name), class_indices=class_indices)
    weight = np.random.default_rng(1).uniform(0.1, 2.0, size=6) if weighted else None
    assert_matches_torch(lambda ns, out: getattr(ns, name)(out, target, weight), output, rtol=RTOL)


def test_binary_cross_entropy_with_hard_labels_matches_torch():
    output, _ = loss_case("binary_cross_entropy", 5, 2, seed=3)
    target = np.random.default_rng(3).integers(0, 2, size=(5, 2)).astype(float)
    assert_matches_torch(lambda ns, out: ns.binary_cross_entropy(out, target), output, rtol=RTOL)
    assert_matches_torch(lambda ns, out: ns.binary_cross_entropy_with_logits(out, target), output, rtol=RTOL)


# ---------------------------------------------------------------- random MLPs
HIDDEN = [*ACTIVATION_NAMES, cr.LeakyReLU(0.2), cr.ELU(0.5), cr.GELU("tanh")]
OUTPUT_FOR_LOSS = {
    "half_squared_error": ["identity", "sigmoid", "tanh"],
    "squared_error": ["identity", "sigmoid", "tanh"],
    "mse": ["identity", "sigmoid", "softplus"],
    "cross_entropy": ["softmax"],
    "cross_entropy_with_logits": [None],
    "binary_cross_entropy": ["sigmoid"],
    "binary_cross_entropy_with_logits": [None],
    "poisson": [None],
}


def check_random_mlp(loss: str, depth: int, seed: int, weighted: bool) -> None:
    """An MLP with ``depth`` Linear layers, random widths and hidden activations, against torch."""
    r = np.random.default_rng(seed)
    sizes = [int(s) for s in r.integers(1, 6, size=depth + 1)]
    sizes[-1] = max(sizes[-1], 2) if loss in ("cross_entropy", "cross_entropy_with_logits") else sizes[-1]
    hidden = [HIDDEN[i] for i in r.integers(0, len(HIDDEN), size=depth - 1)]
    output_activation = OUTPUT_FOR_LOSS[loss][r.integers(len(OUTPUT_FOR_LOSS[loss]))]
    net = cr.MLP(sizes, activation=hidden, output_activation=output_activation, seed=seed)
    for p in net.parameters():  # nonzero biases, so every parameter's gradient is exercised
        p.data = p.data + r.normal(scale=0.1, size=p.shape)
    n = 7
    x = r.normal(size=(n, sizes[0]))
    _, target = loss_case(loss, n, sizes[-1], seed, class_indices=bool(r.integers(2)))
    weight = r.uniform(0.1, 2.0, size=n) if weighted else None

    def expr(ns, x, *params):
        return getattr(ns, loss)(ns.mlp(net, x, params), target, weight)

    assert_matches_torch(expr, x, *net.parameters(), rtol=RTOL)


@pytest.mark.parametrize("depth", range(1, 7))
@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_mlp_gradients_match_torch_for_every_loss_and_depth(loss, depth):
    check_random_mlp(loss, depth, seed=100 * depth + len(loss), weighted=depth % 2 == 0)


@settings(max_examples=50, deadline=None)
@given(loss=st.sampled_from(LOSS_NAMES), depth=st.integers(1, 6), seed=st.integers(0, 2**32 - 1),
       weighted=st.booleans())
def test_random_mlps_match_torch(loss, depth, seed, weighted):
    check_random_mlp(loss, depth, seed, weighted)


def test_softmax_hidden_layers_match_torch():
    net = cr.MLP([3, 4, 4, 2], activation=["softmax", "softmax"], output_activation="sigmoid", seed=5)
    x = np.random.default_rng(5).normal(size=(6, 3))
    target = np.random.default_rng(6).uniform(size=(6, 2))
    assert_matches_torch(lambda ns, x, *p: ns.half_squared_error(ns.mlp(net, x, p), target),
                         x, *net.parameters(), rtol=RTOL)
