"""Bad input gets a chainrule.errors exception whose message names what was expected and what came."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import losses
from chainrule.errors import ChainruleError, ConfigError, DataError, GradientError, ShapeError
from chainrule.init import INITIALIZERS, get_initializer
from chainrule.ops import ACTIVATIONS


def test_every_error_is_a_value_error():
    for cls in (ConfigError, DataError, GradientError, ShapeError):
        assert issubclass(cls, ChainruleError) and issubclass(cls, ValueError)


# ---------------------------------------------------------------- shapes
def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises(ShapeError) as error:
        cr.Tensor(np.ones((2, 3))) @ cr.Tensor(np.ones((4, 5)))
    assert "(2, 3)" in str(error.value) and "(4, 5)" in str(error.value)
    with pytest.raises(ShapeError, match=r"\(3,\).*\(2,\)"):
        F.matmul(np.ones(3), np.ones(2))
    with pytest.raises(ShapeError, match="at least 1 dimension"):
        F.matmul(cr.Tensor(2.0), np.ones(2))


def test_broadcasting_mismatch_is_a_shape_error_with_the_shapes():
    with pytest.raises(ShapeError) as error:
        cr.Tensor(np.ones((2, 3))) + cr.Tensor(np.ones((4,)))
    assert "(2, 3)" in str(error.value) and "(4,)" in str(error.value)


def test_linear_layer_says_expected_and_got():
    layer = cr.Linear(3, 2, seed=0)
    with pytest.raises(ShapeError) as error:
        layer(np.ones((4, 5)))
    message = str(error.value)
    assert "(batch, 3)" in message and "(4, 5)" in message
    with pytest.raises(ShapeError, match=r"\(batch, 2\).*\(1, 3\)"):
        cr.MLP([2, 4, 1], seed=0)([[1.0, 2.0, 3.0]])


def test_loss_with_mismatched_target_shape():
    with pytest.raises(ShapeError) as error:
        losses.mse(np.zeros((4, 3)), np.zeros((4, 2)))
    assert "(4, 2)" in str(error.value) and "(4, 3)" in str(error.value)
    with pytest.raises(ShapeError, match=r"\(5,\)"):
        losses.half_squared_error(np.zeros((4, 1)), np.zeros(5))
    with pytest.raises(ShapeError, match="class indices of shape"):
        losses.cross_entropy(np.full((4, 3), 1 / 3), np.zeros((4, 2)))
    with pytest.raises(ShapeError, match=r"sample_weight.*\(4,\).*\(3,\)"):
        losses.mse(np.zeros((4, 2)), np.zeros((4, 2)), sample_weight=[1.0, 1.0, 1.0])


def test_class_index_out_of_range():
    with pytest.raises(DataError) as error:
        losses.cross_entropy_with_logits(np.zeros((3, 4)), [0, 4, 1])
    assert "0..3" in str(error.value) and "4" in str(error.value)
    with pytest.raises(DataError, match="0..1"):
        losses.cross_entropy(np.full((2, 2), 0.5), [-1, 0])
    with pytest.raises(DataError, match="whole numbers"):
        losses.cross_entropy(np.full((2, 3), 1 / 3), np.array([0.5, 1.0]))


def test_backward_shape_of_an_explicit_gradient():
    with pytest.raises(ShapeError, match=r"\(2, 2\).*\(3,\)"):
        cr.Tensor(np.ones((2, 2)), requires_grad=True).backward(np.ones(3))


# ---------------------------------------------------------------- data
@pytest.mark.parametrize("value", [["a", "b"], np.array(["1.0", "2.0"]), np.array([object(), 1.0], dtype=object)])
def test_strings_and_objects_are_refused(value):
    with pytest.raises(DataError, match="dtype"):
        cr.Tensor(value)
    with pytest.raises(DataError, match="dtype"):
        cr.MLP([2, 1], seed=0)(np.array([value, value]))


def test_string_targets_are_refused():
    with pytest.raises(DataError, match="targets must be numbers"):
        losses.mse(np.zeros((2, 1)), np.array([["a"], ["b"]]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_input_with_check_finite(bad):
    net = cr.MLP([3, 4, 2], seed=0, check_finite=True)
    x = np.ones((5, 3))
    x[2, 1] = bad
    with pytest.raises(DataError) as error:
        net(x)
    message = str(error.value)
    assert "MLP input" in message and "(2, 1)" in message
    assert ("1 NaN" in message) if np.isnan(bad) else ("1 inf" in message)
    cr.MLP([3, 4, 2], seed=0)(np.ones((5, 3)))  # without NaN it runs


def test_nan_born_inside_the_forward_pass_with_check_finite():
    net = cr.MLP([3, 4, 2], seed=0, check_finite=True)
    net[2].weight.data[1, 0] = np.nan
    with pytest.raises(DataError, match=r"module 2 \(Linear\).*NaN"):
        net(np.ones((5, 3)))
    net = cr.MLP([3, 4, 2], seed=0)  # not asked to check: NaN flows through
    net[2].weight.data[1, 0] = np.nan
    assert np.isnan(net(np.ones((5, 3))).data).any()


def test_invalid_sample_weights():
    with pytest.raises(DataError, match=">= 0"):
        losses.mse(np.zeros((2, 1)), np.zeros((2, 1)), sample_weight=[1.0, -1.0])
    with pytest.raises(DataError, match="not all zero"):
        losses.mse(np.zeros((2, 1)), np.zeros((2, 1)), sample_weight=[0.0, 0.0])


# ---------------------------------------------------------------- gradients
def test_backward_on_a_non_scalar_needs_a_gradient():
    y = cr.Tensor(np.ones((2, 3)), requires_grad=True) * 2
    with pytest.raises(GradientError) as error:
        y.backward()
    message = str(error.value)
    assert "(2, 3)" in message and "scalar" in message and "grad=" in message


# ---------------------------------------------------------------- names
def test_unknown_activation_lists_the_valid_ones():
    with pytest.raises(ConfigError) as error:
        cr.MLP([2, 3, 1], activation="sigmoidd")
    assert "'sigmoidd'" in str(error.value)
    for name in ("sigmoid", "tanh", "relu", "softmax"):
        assert name in str(error.value)
    for make in (lambda: cr.Activation("swish"), lambda: F.activation("swish", [1.0])):
        with pytest.raises(ConfigError) as error:
            make()
        assert all(name in str(error.value) for name in ACTIVATIONS)
    with pytest.raises(ConfigError, match="'none' or 'tanh'"):
        F.gelu([1.0], approximate="erf")


def test_unknown_loss_lists_the_valid_ones():
    with pytest.raises(ConfigError) as error:
        losses.get_loss("hinge")
    assert "'hinge'" in str(error.value)
    assert all(name in str(error.value) for name in losses.LOSSES)


def test_unknown_initialiser_lists_the_valid_ones():
    for make in (lambda: get_initializer("orthogonal"), lambda: cr.Linear(2, 3, init="orthogonal"),
                 lambda: cr.MLP([2, 3, 1], init="orthogonal")):
        with pytest.raises(ConfigError) as error:
            make()
        assert "'orthogonal'" in str(error.value)
        assert all(name in str(error.value) for name in INITIALIZERS)


def test_bad_network_sizes():
    with pytest.raises(ConfigError, match=r"\[3\]"):
        cr.MLP([3])
    with pytest.raises(ConfigError, match="2 hidden layers got 1"):
        cr.MLP([2, 3, 3, 1], activation=["tanh"])
    with pytest.raises(ConfigError, match="n_in >= 1"):
        cr.Linear(0, 3)
    with pytest.raises(ConfigError, match="Modules"):
        cr.Sequential(cr.Linear(2, 3), "tanh")
