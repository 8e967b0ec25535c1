"""Every op's vector-Jacobian product against central finite differences (float64).

Shapes, axes and exponents are drawn by hypothesis; values come from a seeded NumPy
generator (also drawn), kept away from the points where an op has no derivative
(|x| at 0, clip bounds, tied maxima). Larger ops are checked with
``chainrule.check_vjp``'s random-direction identity. The Tensor's own behaviour
(dtype, deep graphs, no_grad, accumulation) is tested at the end.
"""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.functional as F
from chainrule.losses import LOSSES
from torch_reference import assert_matches_finite_differences

SETTINGS = settings(max_examples=40, deadline=None)
seeds = st.integers(0, 2**32 - 1)
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4)


def uniform(seed: int, shape: tuple[int, ...], low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def away_from_zero(x: np.ndarray, gap: float = 0.1) -> np.ndarray:
    """Move values at least ``gap`` away from 0, where |x|, relu and friends have a kink."""
    return np.where(x >= 0, x + gap, x - gap)


# ---------------------------------------------------------------- arithmetic
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


@pytest.mark.parametrize("name", list(BINARY))
@SETTINGS
@given(shapes=pairs, seed=seeds)
def test_binary_ops_with_broadcasting(name, shapes, seed):
    shape_a, shape_b = shapes.input_shapes
    a = uniform(seed, shape_a)
    b = away_from_zero(uniform(seed + 1, shape_b), 0.5)  # a divisor far from 0
    assert_matches_finite_differences(BINARY[name], a, b, seed=seed)


def test_broadcasting_column_plus_row_and_bias_plus_batch():
    rng = np.random.default_rng(0)
    assert_matches_finite_differences(lambda a, b: (a + b) * (a - b), rng.normal(size=(3, 1)), rng.normal(size=4))
    x, bias = cr.Tensor(rng.normal(size=(5, 3))), cr.Tensor(rng.normal(size=3), requires_grad=True)
    (x + bias).sum().backward()
    np.testing.assert_array_equal(bias.grad, [5.0, 5.0, 5.0])  # one constant-1 input per sample
    assert_matches_finite_differences(lambda b, x: F.tanh(x + b), rng.normal(size=3), rng.normal(size=(5, 3)))


@SETTINGS
@given(shape=shapes, seed=seeds, scalar=st.floats(-3, 3).filter(lambda s: abs(s) > 0.1))
def test_python_scalars_on_either_side(shape, seed, scalar):
    x = away_from_zero(uniform(seed, shape), 0.5)
    for fn in (lambda t: t + scalar, lambda t: scalar + t, lambda t: t - scalar, lambda t: scalar - t,
               lambda t: t * scalar, lambda t: scalar * t, lambda t: t / scalar, lambda t: scalar / t, lambda t: -t):
        assert_matches_finite_differences(fn, x, seed=seed)


@SETTINGS
@given(shape=shapes, seed=seeds, exponent=st.sampled_from([2, 3, -1, 0.5, -1.5, 2.7, 1]))
def test_pow_with_a_number_exponent(shape, seed, exponent):
    base = uniform(seed, shape, 0.3, 2.0)
    assert_matches_finite_differences(lambda a: a ** exponent, base, seed=seed)
    if float(exponent).is_integer():  # integer powers of negative numbers are defined too
        assert_matches_finite_differences(lambda a: a ** exponent, -base, seed=seed)


@SETTINGS
@given(shapes=pairs, seed=seeds)
def test_pow_with_a_tensor_exponent(shapes, seed):
    shape_a, shape_b = shapes.input_shapes
    base = uniform(seed, shape_a, 0.3, 2.0)
    exponent = uniform(seed + 1, shape_b, -2.0, 2.0)
    assert_matches_finite_differences(lambda a, b: a ** b, base, exponent, seed=seed)
    assert_matches_finite_differences(lambda b: 2.0 ** b, exponent, seed=seed)


# ---------------------------------------------------------------- linear algebra
MATMUL_CASES = {
    "matrix @ matrix": ((3, 4), (4, 2)),
    "vector @ matrix": ((4,), (4, 2)),
    "matrix @ vector": ((3, 4), (4,)),
    "vector @ vector": ((4,), (4,)),
    "batch @ matrix": ((2, 3, 4), (4, 5)),
    "batch @ batch": ((2, 3, 4), (2, 4, 5)),
    "vector @ batch": ((4,), (2, 4, 3)),
    "broadcast batches": ((2, 1, 3, 4), (3, 4, 2)),
}


@pytest.mark.parametrize("case", list(MATMUL_CASES))
def test_matmul_including_1d_operands(case):
    shape_a, shape_b = MATMUL_CASES[case]
    rng = np.random.default_rng(len(case))
    assert_matches_finite_differences(lambda a, b: a @ b, rng.normal(size=shape_a), rng.normal(size=shape_b))


@SETTINGS
@given(n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4), seed=seeds)
def test_matmul_random_sizes(n, k, m, seed):
    a, b = uniform(seed, (n, k)), uniform(seed + 1, (k, m))
    assert_matches_finite_differences(lambda a, b: a @ b, a, b, seed=seed)
    assert_matches_finite_differences(lambda a, b: F.matmul(a.T, b), a.T.copy(), b, seed=seed)


@SETTINGS
@given(data=st.data(), shape=hnp.array_shapes(min_dims=2, max_dims=4, max_side=3), seed=seeds)
def test_transpose_and_reshape(data, shape, seed):
    x = uniform(seed, shape)
    axes = data.draw(st.permutations(range(len(shape))))
    assert_matches_finite_differences(lambda t: t.transpose(*axes) * 2.0, x, seed=seed)
    assert_matches_finite_differences(lambda t: t.transpose(), x, seed=seed)
    assert_matches_finite_differences(lambda t: t.reshape(-1) ** 2, x, seed=seed)
    assert_matches_finite_differences(lambda t: t.reshape(shape[0], -1).T, x, seed=seed)


def test_dot_t_is_the_matrix_transpose():
    x = cr.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    np.testing.assert_array_equal(x.T.data, np.arange(6.0).reshape(2, 3).T)
    assert_matches_finite_differences(lambda t: t.T @ t, np.random.default_rng(1).normal(size=(3, 2)))


# ---------------------------------------------------------------- indexing
INDICES = {
    "slice": (slice(1, 3),),
    "negative step": (slice(None, None, -1),),
    "integer": (1,),
    "row and column slice": (slice(None), slice(0, 2)),
    "repeated fancy": (np.array([0, 2, 0, 0]),),
    "fancy pairs with repeats": (np.array([0, 1, 0]), np.array([1, 1, 1])),
    "boolean mask": (np.array([True, False, True]),),
    "ellipsis": (Ellipsis, 0),
}


@pytest.mark.parametrize("name", list(INDICES))
def test_getitem(name):
    index = INDICES[name]
    x = np.random.default_rng(2).normal(size=(3, 4))
    assert_matches_finite_differences(lambda t: t[index if len(index) > 1 else index[0]] * 3.0, x)


@SETTINGS
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), seed=seeds)
def test_getitem_random_fancy_indices_with_repeats(data, shape, seed):
    rows = data.draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=1, max_size=8))
    x = uniform(seed, shape)
    assert_matches_finite_differences(lambda t: t[np.array(rows)] ** 2, x, seed=seed)
    t = cr.Tensor(x, requires_grad=True)
    t[np.array(rows)].sum().backward()
    counts = np.bincount(np.array(rows) % shape[0], minlength=shape[0]).astype(float)
    np.testing.assert_array_equal(t.grad, np.broadcast_to(counts.reshape((-1,) + (1,) * (len(shape) - 1)), shape))


def test_repeated_fancy_indices_each_send_their_gradient():
    x = cr.Tensor([10.0, 20.0, 30.0], requires_grad=True)
    x[np.array([0, 2, 0, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])


# ---------------------------------------------------------------- reductions
axes_strategy = st.one_of(st.none(), st.integers(-3, 2), st.lists(st.integers(0, 2), min_size=1, max_size=2,
                                                                   unique=True).map(tuple))


@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@SETTINGS
@given(shape=hnp.array_shapes(min_dims=3, max_dims=3, max_side=4), axis=axes_strategy, keepdims=st.booleans(),
       seed=seeds)
def test_reductions_with_axis_and_keepdims(name, shape, axis, keepdims, seed):
    x = uniform(seed, shape)  # continuous draws: no tied maxima
    fn = getattr(F, name)
    out = fn(cr.Tensor(x), axis, keepdims)
    np.testing.assert_allclose(out.data, getattr(np, name)(x, axis=axis, keepdims=keepdims), rtol=1e-14)
    assert_matches_finite_differences(lambda t: fn(t, axis, keepdims), x, seed=seed)


def test_max_ties_share_the_gradient():
    x = cr.Tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.5, 0.5])


# ---------------------------------------------------------------- joining
@SETTINGS
@given(sizes=st.lists(st.integers(1, 3), min_size=1, max_size=3), axis=st.integers(0, 1), seed=seeds)
def test_concatenate_and_stack(sizes, axis, seed):
    parts = [uniform(seed + i, (n, 2) if axis == 0 else (2, n)) for i, n in enumerate(sizes)]
    assert_matches_finite_differences(lambda *ts: F.concatenate(ts, axis=axis) ** 2, *parts, seed=seed)
    same = [uniform(seed + i, (2, 3)) for i in range(len(sizes))]
    assert_matches_finite_differences(lambda *ts: F.stack(ts, axis=axis) * 1.5, *same, seed=seed)
    assert_matches_finite_differences(lambda *ts: F.stack(ts, axis=-1).sum(axis=0), *same, seed=seed)


# ---------------------------------------------------------------- elementwise
UNARY = {
    "exp": (F.exp, -2.0, 2.0),
    "log": (F.log, 0.2, 3.0),
    "sqrt": (F.sqrt, 0.2, 3.0),
    "abs": (F.abs, -2.0, 2.0),
    "neg": (F.neg, -2.0, 2.0),
}


@pytest.mark.parametrize("name", list(UNARY))
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_unary_math(name, shape, seed):
    fn, low, high = UNARY[name]
    x = uniform(seed, shape, low, high)
    if name == "abs":
        x = away_from_zero(x)
    assert_matches_finite_differences(fn, x, seed=seed)


@SETTINGS
@given(shape=shapes, seed=seeds, low=st.sampled_from([None, -0.5]), high=st.sampled_from([None, 0.7]))
def test_clip(shape, seed, low, high):
    x = uniform(seed, shape)
    for bound in (low, high):  # keep values off the bounds, where clip has a kink
        if bound is not None:
            x = np.where(np.abs(x - bound) < 0.05, x + 0.1, x)
    assert_matches_finite_differences(lambda t: F.clip(t, low, high), x, seed=seed)
    inside = (x >= (-np.inf if low is None else low)) & (x <= (np.inf if high is None else high))
    t = cr.Tensor(x, requires_grad=True)
    F.clip(t, low, high).sum().backward()
    np.testing.assert_array_equal(t.grad, inside.astype(float))


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=4), seed=seeds)
def test_where(shapes, seed):
    shape_c, shape_a, shape_b = shapes.input_shapes
    condition = np.random.default_rng(seed).random(shape_c) > 0.5
    a, b = uniform(seed + 1, shape_a), uniform(seed + 2, shape_b)
    assert_matches_finite_differences(lambda a, b: F.where(condition, a * a, b * 2.0), a, b, seed=seed)
    assert_matches_finite_differences(lambda a: F.where(condition, a, 0.0), a, seed=seed)


# ---------------------------------------------------------------- fan-out
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_fan_out_sums_every_use(shape, seed):
    x = uniform(seed, shape)
    t = cr.Tensor(x, requires_grad=True)
    (t * t + t).sum().backward()
    np.testing.assert_allclose(t.grad, 2 * x + 1, rtol=1e-14)
    assert_matches_finite_differences(lambda t: (t * t + t) * F.exp(t) - t / (1 + t * t), x, seed=seed)


def test_a_hidden_output_used_by_two_neurons_receives_both_messages():
    # Seed 000: dE/dout_h1 = dE_o1/dout_h1 + dE_o2/dout_h1.
    w5, w7, i1, w1 = 0.4, 0.5, 0.05, 0.15
    w = cr.Tensor([w1], requires_grad=True)
    out_h1 = F.sigmoid(w * i1)
    out_o1, out_o2 = F.sigmoid(out_h1 * w5), F.sigmoid(out_h1 * w7)
    e_total = 0.5 * (0.01 - out_o1) ** 2 + 0.5 * (0.99 - out_o2) ** 2
    e_total.sum().backward()
    o1, o2, h1 = out_o1.item(), out_o2.item(), out_h1.item()
    message_o1 = (o1 - 0.01) * o1 * (1 - o1) * w5
    message_o2 = (o2 - 0.99) * o2 * (1 - o2) * w7
    assert out_h1.grad.item() == pytest.approx(message_o1 + message_o2, rel=1e-14)
    assert w.grad.item() == pytest.approx((message_o1 + message_o2) * h1 * (1 - h1) * i1, rel=1e-14)


# ---------------------------------------------------------------- larger ops: <v, J^T u> = <J v, u>
LARGE = {
    "matmul": (lambda a, b: a @ b, [(64, 50), (50, 40)]),
    "batched matmul": (lambda a, b: a @ b, [(4, 16, 20), (20, 8)]),
    "layer": (lambda x, w, b: F.tanh(x @ w + b), [(32, 20), (20, 30), (30,)]),
    "softmax rows": (lambda x: F.softmax(x * 3.0, axis=1), [(32, 50)]),
    "log_softmax columns": (lambda x: F.log_softmax(x, axis=0), [(40, 10)]),
    "reductions": (lambda x: x.sum(axis=0) * x.mean(axis=1).sum() + x.max(axis=1).sum(), [(30, 40)]),
    "join and index": (lambda a, b: F.concatenate([a, b], axis=1)[:, ::2] ** 2, [(20, 30), (20, 10)]),
    "stack": (lambda a, b: F.stack([a, a * b, b], axis=1).sum(axis=(0, 2)), [(25, 8), (25, 8)]),
}


@pytest.mark.parametrize("name", list(LARGE))
def test_large_ops_pass_the_random_direction_check(name):
    fn, input_shapes = LARGE[name]
    rng = np.random.default_rng(3)
    backprop, numeric = cr.check_vjp(fn, [rng.normal(size=s) for s in input_shapes], seed=4)
    assert backprop == pytest.approx(numeric, rel=1e-6)


def test_tensor_methods_are_the_functions():
    x = np.random.default_rng(6).uniform(0.5, 2.0, size=(3, 4))
    t = cr.Tensor(x)
    for method, fn in [("exp", F.exp), ("log", F.log), ("sqrt", F.sqrt), ("abs", F.abs), ("sigmoid", F.sigmoid),
                       ("tanh", F.tanh), ("relu", F.relu), ("softmax", F.softmax), ("log_softmax", F.log_softmax)]:
        np.testing.assert_array_equal(getattr(t, method)().data, fn(t).data)
    np.testing.assert_array_equal(t.clip(0.7, 1.5).data, np.clip(x, 0.7, 1.5))
    np.testing.assert_array_equal(t.reshape(4, 3).data, x.reshape(4, 3))
    np.testing.assert_array_equal(t.reshape((2, 6)).data, x.reshape(2, 6))
    assert (x @ cr.Tensor(x.T)).shape == (3, 3)  # ndarray @ Tensor defers to the Tensor


# ---------------------------------------------------------------- dtype
def test_python_numbers_lists_and_integers_give_float64():
    for value in (3, 2.5, [1, 2], [[1.0, 2.0]], np.array([1, 2], dtype=np.int32), np.array([True, False])):
        assert cr.Tensor(value).dtype == np.float64
    assert cr.Tensor(np.zeros(2, dtype=np.float32)).dtype == np.float32
    assert (cr.Tensor([1.0]) * 2).dtype == np.float64


OPS_FLOAT32 = {
    "add scalar": lambda x, y: x + 1.5,
    "radd": lambda x, y: 1.5 + x,
    "sub": lambda x, y: x - y,
    "rsub": lambda x, y: 2 - x,
    "mul numpy scalar": lambda x, y: x * np.float64(3.0),
    "div": lambda x, y: x / (y * y + 1.0),
    "rdiv": lambda x, y: 1.0 / (x * x + 1.0),
    "neg": lambda x, y: -x,
    "pow scalar": lambda x, y: x ** 2,
    "pow float": lambda x, y: (x * x + 1.0) ** 0.5,
    "pow numpy scalar": lambda x, y: (x * x + 1.0) ** np.float64(1.5),
    "pow tensor": lambda x, y: (x * x + 1.0) ** y,
    "rpow": lambda x, y: 2.0 ** x,
    "matmul": lambda x, y: x @ y.T,
    "matmul vector": lambda x, y: x[0] @ y.T,
    "transpose": lambda x, y: x.T * 2,
    "reshape": lambda x, y: x.reshape(-1),
    "getitem": lambda x, y: x[np.array([0, 0, 1]), 1:],
    "sum": lambda x, y: x.sum(axis=0),
    "mean": lambda x, y: x.mean(axis=1, keepdims=True),
    "max": lambda x, y: x.max(axis=0),
    "concatenate": lambda x, y: F.concatenate([x, y], axis=1),
    "stack": lambda x, y: F.stack([x, y]),
    "exp": lambda x, y: F.exp(x),
    "log": lambda x, y: F.log(x * x + 1.0),
    "sqrt": lambda x, y: F.sqrt(x * x + 1.0),
    "abs": lambda x, y: F.abs(x),
    "clip": lambda x, y: F.clip(x, -0.5, 0.5),
    "where": lambda x, y: F.where(x.data > 0, x, 0.0),
}


@pytest.mark.parametrize("name", list(OPS_FLOAT32))
def test_float32_stays_float32_through_ops_and_gradients(name):
    rng = np.random.default_rng(5)
    x = cr.Tensor(rng.normal(size=(3, 4)).astype(np.float32), requires_grad=True)
    y = cr.Tensor(rng.normal(size=(3, 4)).astype(np.float32), requires_grad=True)
    out = OPS_FLOAT32[name](x, y)
    assert out.dtype == np.float32
    out.sum().backward()
    for t in (x, y):
        assert t.grad is None or t.grad.dtype == np.float32


def test_float32_losses_keep_float32():
    out = cr.Tensor(np.full((2, 3), 0.3, dtype=np.float32), requires_grad=True)
    for name, loss in LOSSES.items():
        out.grad = None
        value = loss(out, [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], sample_weight=[1.0, 2.0])
        value.backward()
        assert value.dtype == np.float32 and out.grad.dtype == np.float32, name


# ---------------------------------------------------------------- the graph
def test_backward_through_10000_ops_has_no_recursion_limit():
    x = cr.Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad[0] == pytest.approx(1.0001 ** 10_000, rel=1e-12)
    assert 1.0001 ** 10_000 == pytest.approx(math.e, rel=1e-3)


def test_no_grad_records_nothing():
    w = cr.Tensor([2.0, 3.0], requires_grad=True)
    with cr.no_grad():
        assert not cr.is_grad_enabled()
        y = F.sigmoid(w * w).sum()
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.op is None and y.parents == ()
    y.backward()
    assert w.grad is None
    with pytest.raises(RuntimeError), cr.no_grad():
        raise RuntimeError("leaving the block by an exception restores recording")
    assert cr.is_grad_enabled()


def test_gradients_accumulate_until_zero_grad():
    w = cr.Tensor([1.0, -2.0], requires_grad=True)
    for calls in (1, 2, 3):
        (w * w).sum().backward()
        np.testing.assert_array_equal(w.grad, calls * np.array([2.0, -4.0]))
    w.zero_grad()
    assert w.grad is None
    (w * 3.0).sum().backward()
    np.testing.assert_array_equal(w.grad, [3.0, 3.0])
    net = cr.MLP([2, 3, 1], seed=0)
    for _ in range(2):
        net(np.ones((4, 2))).sum().backward()
    once = [p.grad.copy() / 2 for p in net.parameters()]
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net(np.ones((4, 2))).sum().backward()
    for p, expected in zip(net.parameters(), once):
        np.testing.assert_allclose(p.grad, expected, rtol=1e-14)


def test_backward_with_an_explicit_gradient():
    x = cr.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (x * x).backward(np.array([[1.0, 0.0], [0.5, 2.0]]))
    np.testing.assert_array_equal(x.grad, [[2.0, 0.0], [3.0, 16.0]])
