"""Activations: gradients against finite differences, f'(net) as one factor, numerics and dtype."""

from __future__ import annotations

import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.functional as F
from chainrule.ops import ACTIVATIONS
from torch_reference import ACTIVATION_NAMES, assert_matches_finite_differences

SETTINGS = settings(max_examples=40, deadline=None)
seeds = st.integers(0, 2**32 - 1)
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)

# relu, leaky_relu and elu (alpha != 1) have a kink at 0: keep values away from it.
KINKED = {"relu", "leaky_relu", "elu"}
ELEMENTWISE = [name for name in ACTIVATION_NAMES if name not in ("softmax", "log_softmax")]


def values(seed: int, shape: tuple[int, ...], name: str = "") -> np.ndarray:
    x = np.random.default_rng(seed).uniform(-3.0, 3.0, size=shape)
    if name in KINKED:
        x = np.where(x >= 0, x + 0.05, x - 0.05)
    return x


def test_every_registered_activation_is_tested():
    assert set(ACTIVATIONS) == set(ACTIVATION_NAMES)


@pytest.mark.parametrize("name", ELEMENTWISE)
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_elementwise_activation_gradients(name, shape, seed):
    assert_matches_finite_differences(lambda t: F.activation(name, t), values(seed, shape, name), seed=seed)


@SETTINGS
@given(shape=shapes, seed=seeds, alpha=st.floats(0.001, 3.0))
def test_leaky_relu_and_elu_with_alpha(shape, seed, alpha):
    x = values(seed, shape, "elu")
    assert_matches_finite_differences(lambda t: F.leaky_relu(t, alpha), x, seed=seed)
    assert_matches_finite_differences(lambda t: F.elu(t, alpha), x, seed=seed)
    out = F.leaky_relu(cr.Tensor(x), alpha).data
    np.testing.assert_allclose(out, np.where(x > 0, x, alpha * x), rtol=1e-15)
    out = F.elu(cr.Tensor(x), alpha).data
    np.testing.assert_allclose(out, np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1)), rtol=1e-12)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_gelu_both_approximations(approximate, shape, seed):
    x = values(seed, shape)
    assert_matches_finite_differences(lambda t: F.gelu(t, approximate), x, seed=seed)


def test_gelu_values_against_the_normal_cdf():
    from math import erf, sqrt, tanh

    x = np.linspace(-4, 4, 17)
    exact = [v * 0.5 * (1 + erf(v / sqrt(2))) for v in x]
    approx = [0.5 * v * (1 + tanh(sqrt(2 / np.pi) * (v + 0.044715 * v ** 3))) for v in x]
    np.testing.assert_allclose(F.gelu(x).data, exact, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(F.gelu(x, "tanh").data, approx, rtol=1e-14, atol=1e-15)  # 1 + tanh cancels


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@SETTINGS
@given(data=st.data(), shape=shapes, seed=seeds)
def test_softmax_and_log_softmax_along_any_axis(name, data, shape, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = values(seed, shape)
    fn = getattr(F, name)
    assert_matches_finite_differences(lambda t: fn(t, axis), x, seed=seed)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    reference = e / e.sum(axis=axis, keepdims=True)
    out = fn(cr.Tensor(x), axis).data
    np.testing.assert_allclose(out if name == "softmax" else np.exp(out), reference, rtol=1e-12)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_is_f_prime_as_one_factor(name):
    # The training plan and the learner tools read op.derivative(net, out) directly.
    op = ACTIVATIONS[name]
    x = values(7, (50,), name)
    h = 1e-6
    numeric = (op.forward(x + h) - op.forward(x - h)) / (2 * h)
    np.testing.assert_allclose(op.derivative(x, op.forward(x)), numeric, rtol=1e-6, atol=1e-8)


def test_closed_form_derivatives_through_the_output():
    x = np.linspace(-2, 2, 9)
    s, t = F.sigmoid(x).data, F.tanh(x).data
    np.testing.assert_allclose(ACTIVATIONS["sigmoid"].derivative(x, s), s * (1 - s), rtol=1e-15)
    np.testing.assert_allclose(ACTIVATIONS["tanh"].derivative(x, t), 1 - t * t, rtol=1e-15)
    np.testing.assert_allclose(s, 1 / (1 + np.exp(-x)), rtol=1e-15)


def test_modules_and_names_apply_the_same_op():
    x = values(8, (4, 3))
    modules = {"identity": cr.Identity(), "sigmoid": cr.Sigmoid(), "tanh": cr.Tanh(), "relu": cr.ReLU(),
               "leaky_relu": cr.LeakyReLU(), "elu": cr.ELU(), "softplus": cr.Softplus(), "gelu": cr.GELU(),
               "softmax": cr.Softmax(), "log_softmax": cr.LogSoftmax()}
    for name, module in modules.items():
        np.testing.assert_array_equal(module(x).data, F.activation(name, x).data)
        np.testing.assert_array_equal(cr.Activation(name)(x).data, module(x).data)


# ---------------------------------------------------------------- numerics
EXTREMES = {
    "sigmoid(-1000)": (lambda t: F.sigmoid(t), [-1000.0], [0.0]),
    "sigmoid(1000)": (lambda t: F.sigmoid(t), [1000.0], [1.0]),
    "softmax([1000, 0])": (lambda t: F.softmax(t), [1000.0, 0.0], [1.0, 0.0]),
    "softmax([-1000, 1000])": (lambda t: F.softmax(t), [-1000.0, 1000.0], [0.0, 1.0]),
    "log_softmax(large)": (lambda t: F.log_softmax(t), [1000.0, -1000.0, 0.0], [0.0, -2000.0, -1000.0]),
    "tanh(+-1000)": (lambda t: F.tanh(t), [-1000.0, 1000.0], [-1.0, 1.0]),
    "softplus(+-1000)": (lambda t: F.softplus(t), [-1000.0, 1000.0], [0.0, 1000.0]),
    "elu(-1000)": (lambda t: F.elu(t), [-1000.0], [-1.0]),
    "gelu(+-1000)": (lambda t: F.gelu(t), [-1000.0, 1000.0], [0.0, 1000.0]),
    "gelu tanh(+-1000)": (lambda t: F.gelu(t, "tanh"), [-1000.0, 1000.0], [0.0, 1000.0]),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(EXTREMES))
def test_extreme_inputs_give_exact_limits_no_warnings_and_finite_gradients(name, dtype):
    fn, x, expected = EXTREMES[name]
    t = cr.Tensor(np.array(x, dtype=dtype), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # np.seterr(all="raise") is on as well (conftest)
        out = fn(t)
        (out * np.arange(1.0, 1 + out.size).astype(dtype)).sum().backward()
    assert out.dtype == dtype and t.grad.dtype == dtype
    np.testing.assert_allclose(out.data, expected, rtol=1e-6)
    assert np.all(np.isfinite(t.grad))


def test_softmax_gradient_at_saturation_is_zero_not_nan():
    t = cr.Tensor([1000.0, 0.0], requires_grad=True)
    (F.softmax(t) * np.array([3.0, 1.0])).sum().backward()
    np.testing.assert_allclose(t.grad, [0.0, 0.0], atol=1e-300)


# ---------------------------------------------------------------- dtype
@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_float32_stays_float32(name):
    x = cr.Tensor(values(9, (3, 4), name).astype(np.float32), requires_grad=True)
    out = F.activation(name, x)
    assert out.dtype == np.float32
    (out * 2.0).sum().backward()
    assert x.grad.dtype == np.float32
    assert ACTIVATIONS[name].forward(x.data).dtype == np.float32


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_python_lists_give_float64(name):
    assert F.activation(name, [[0.5, -0.25]]).dtype == np.float64
