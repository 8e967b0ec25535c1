"""Modules: parameter names and order, state_dict, modes, seeds, initialisers, weight layout, repr."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import init
from chainrule.errors import ConfigError, ShapeError


class TwoLayers(cr.Module):
    """A hand-written module: parameters are found by walking attributes in the order they were set."""

    def __init__(self) -> None:
        self.hidden = cr.Linear(3, 4, seed=0)
        self.act = cr.Tanh()
        self.scale = cr.Parameter([2.0])
        self.blocks = [cr.Linear(4, 4, seed=1), cr.Linear(4, 2, bias=False, seed=2)]

    def forward(self, x):
        x = self.act(self.hidden(x))
        for block in self.blocks:
            x = block(x)
        return x * self.scale


# ---------------------------------------------------------------- names and order
def test_mlp_parameter_names_and_order():
    net = cr.MLP([2, 3, 4, 1], seed=0)
    assert [name for name, _ in net.named_parameters()] == [
        "0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert [p.shape for p in net.parameters()] == [(2, 3), (3,), (3, 4), (4,), (4, 1), (1,)]
    assert all(p is q for p, (_, q) in zip(net.parameters(), net.named_parameters()))
    assert all(isinstance(p, cr.Parameter) and p.requires_grad for p in net.parameters())


def test_dotted_names_in_nested_modules():
    module = TwoLayers()
    assert [name for name, _ in module.named_parameters()] == [
        "scale", "hidden.weight", "hidden.bias", "blocks.0.weight", "blocks.0.bias", "blocks.1.weight"]
    nested = cr.Sequential(cr.Sequential(cr.Linear(2, 3), cr.Sigmoid()), cr.Linear(3, 1))
    assert [name for name, _ in nested.named_parameters()] == ["0.0.weight", "0.0.bias", "1.weight", "1.bias"]
    assert [type(m).__name__ for m in nested.modules()] == ["Sequential", "Sequential", "Linear", "Sigmoid", "Linear"]


def test_names_are_the_same_on_every_build():
    names = [[name for name, _ in TwoLayers().named_parameters()] for _ in range(3)]
    assert names[0] == names[1] == names[2]


# ---------------------------------------------------------------- state_dict
def test_state_dict_round_trip():
    net = cr.MLP([3, 5, 2], activation="tanh", seed=0)
    state = net.state_dict()
    assert list(state) == [name for name, _ in net.named_parameters()]
    state["0.weight"][0, 0] = 123.0  # a copy: the network is untouched
    assert net[0].weight.data[0, 0] != 123.0

    other = cr.MLP([3, 5, 2], activation="tanh", seed=1)
    x = np.random.default_rng(0).normal(size=(4, 3))
    assert not np.allclose(other(x).data, net(x).data)
    other.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(other(x).data, net(x).data)
    net[0].weight.data[0, 0] = 7.0  # loading copied the arrays
    assert other[0].weight.data[0, 0] != 7.0


def test_load_state_dict_refuses_missing_and_unexpected_names():
    net = cr.MLP([3, 5, 2], seed=0)
    state = net.state_dict()
    del state["2.bias"]
    with pytest.raises(ConfigError, match=r"missing \['2.bias'\]"):
        net.load_state_dict(state)
    state = net.state_dict() | {"4.weight": np.zeros((2, 2))}
    with pytest.raises(ConfigError, match=r"unexpected \['4.weight'\]"):
        net.load_state_dict(state)
    partial = {"0.bias": np.ones(5)}
    net.load_state_dict(partial, strict=False)
    np.testing.assert_array_equal(net[0].bias.data, np.ones(5))


def test_load_state_dict_refuses_wrong_shapes():
    net = cr.MLP([3, 5, 2], seed=0)
    state = net.state_dict()
    state["0.weight"] = state["0.weight"].T
    with pytest.raises(ShapeError) as error:
        net.load_state_dict(state)
    assert "0.weight" in str(error.value) and "(5, 3)" in str(error.value) and "(3, 5)" in str(error.value)


def test_load_state_dict_keeps_the_network_dtype():
    net = cr.MLP([2, 3, 1], seed=0, dtype=np.float32)
    net.load_state_dict(cr.MLP([2, 3, 1], seed=1).state_dict())
    assert all(p.dtype == np.float32 for p in net.parameters())


# ---------------------------------------------------------------- modes, seeds
def test_train_and_eval_reach_every_module():
    net = cr.MLP([2, 3, 1], seed=0)
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert net.train() is net
    assert all(m.training for m in net.modules())
    net.train(False)
    assert not any(m.training for m in net.modules())


def test_same_seed_same_network_and_different_seeds_differ():
    a, b = cr.MLP([4, 6, 3], seed=42), cr.MLP([4, 6, 3], seed=42)
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    c = cr.MLP([4, 6, 3], seed=43)
    assert not np.array_equal(a[0].weight.data, c[0].weight.data)
    g1, g2 = np.random.default_rng(7), np.random.default_rng(7)
    np.testing.assert_array_equal(cr.MLP([4, 6, 3], seed=g1)[0].weight.data, cr.MLP([4, 6, 3], seed=g2)[0].weight.data)


# ---------------------------------------------------------------- initialisers
FAN_IN, FAN_OUT = 500, 300  # 150,000 draws: the sample std is within about 0.2% of the true one


def draw(name: str, shape=(FAN_IN, FAN_OUT), dtype=np.float64) -> np.ndarray:
    return init.get_initializer(name)(shape, np.random.default_rng(0), dtype)


@pytest.mark.parametrize(("name", "bound"), [
    ("xavier_uniform", math.sqrt(6 / (FAN_IN + FAN_OUT))),
    ("he_uniform", math.sqrt(6 / FAN_IN)),
    ("uniform", 0.05),
])
def test_uniform_initialisers_fill_their_bound(name, bound):
    w = draw(name)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.999 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    assert abs(w.mean()) < 0.01 * bound


@pytest.mark.parametrize(("name", "std"), [
    ("xavier_normal", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    ("he_normal", math.sqrt(2 / FAN_IN)),
    ("normal", 0.05),
])
def test_normal_initialisers_have_their_std(name, std):
    w = draw(name)
    assert w.std() == pytest.approx(std, rel=0.01)
    assert abs(w.mean()) < 0.01 * std
    assert np.mean(np.abs(w) < std) == pytest.approx(0.6827, abs=0.005)  # a normal, not a uniform


def test_fan_in_is_the_number_of_inputs_in_our_layout():
    w = init.he_normal((50, 2000), np.random.default_rng(0))
    assert w.std() == pytest.approx(math.sqrt(2 / 50), rel=0.01)


def test_constant_zero_and_aliases():
    np.testing.assert_array_equal(draw("zeros", (3, 2)), np.zeros((3, 2)))
    np.testing.assert_array_equal(init.constant((2, 2), None, value=0.5), np.full((2, 2), 0.5))
    for alias, name in [("glorot_uniform", "xavier_uniform"), ("glorot_normal", "xavier_normal"),
                        ("kaiming_uniform", "he_uniform"), ("kaiming_normal", "he_normal")]:
        np.testing.assert_array_equal(draw(alias, (20, 10)), draw(name, (20, 10)))


@pytest.mark.parametrize("name", list(init.INITIALIZERS))
def test_initialisers_keep_the_dtype(name):
    assert draw(name, (4, 3), np.float32).dtype == np.float32


def test_mlp_auto_init_uses_he_for_relu_and_xavier_otherwise():
    net = cr.MLP([400, 300, 200], activation="relu", output_activation="sigmoid", seed=0)
    relu_layer, sigmoid_layer = net[0].weight.data, net[2].weight.data
    assert np.abs(relu_layer).max() == pytest.approx(math.sqrt(6 / 400), rel=1e-3)
    assert np.abs(sigmoid_layer).max() == pytest.approx(math.sqrt(6 / (300 + 200)), rel=1e-3)
    assert all(np.all(p.data == 0) for name, p in net.named_parameters() if name.endswith("bias"))


def test_a_callable_initialiser():
    layer = cr.Linear(2, 3, init=lambda shape, rng, dtype: np.full(shape, 0.25, dtype=dtype))
    np.testing.assert_array_equal(layer.weight.data, np.full((2, 3), 0.25))


# ---------------------------------------------------------------- the Linear layer
def test_linear_weight_layout_is_n_in_by_n_out():
    layer = cr.Linear(3, 2, seed=0)
    assert layer.weight.shape == (3, 2) and layer.bias.shape == (2,)
    w = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    b = np.array([-1.0, 1.0])
    layer.load_state_dict({"weight": w, "bias": b})
    x = np.array([[1.0, -2.0, 0.5], [0.0, 1.0, 3.0]])
    out = layer(x).data
    for n in range(2):
        for j in range(2):  # net_j = sum_i x_i w_ij + b_j
            assert out[n, j] == pytest.approx(sum(x[n, i] * w[i, j] for i in range(3)) + b[j], rel=1e-15)
    # A one-hot input i reads row i: weight[i, j] connects input i to output j.
    np.testing.assert_allclose(layer(np.eye(3)).data, w + b, rtol=1e-15)


def test_linear_gradient_layout():
    layer = cr.Linear(3, 2, seed=0)
    x = np.array([[1.0, 2.0, 3.0]])
    (layer(x) * np.array([10.0, 100.0])).sum().backward()
    np.testing.assert_allclose(layer.weight.grad, np.outer(x[0], [10.0, 100.0]))  # dE/dw_ij = x_i delta_j
    np.testing.assert_allclose(layer.bias.grad, [10.0, 100.0])


def test_linear_without_bias_and_float32():
    layer = cr.Linear(3, 2, bias=False, seed=0, dtype=np.float32)
    assert layer.bias is None and [name for name, _ in layer.named_parameters()] == ["weight"]
    assert layer(np.ones((1, 3), dtype=np.float32)).dtype == np.float32


def test_reset_parameters_draws_again():
    layer = cr.Linear(3, 2, seed=0)
    first = layer.weight.data.copy()
    layer.bias.data[:] = 5.0
    layer.reset_parameters(seed=0)
    np.testing.assert_array_equal(layer.weight.data, first)
    np.testing.assert_array_equal(layer.bias.data, [0.0, 0.0])


# ---------------------------------------------------------------- activations and tags
def test_one_activation_per_hidden_layer():
    net = cr.MLP([2, 3, 4, 5, 1], activation=["tanh", cr.LeakyReLU(0.3), "logistic"], output_activation=None)
    pairs = net.layers()
    assert [(linear.n_in, linear.n_out) for linear, _ in pairs] == [(2, 3), (3, 4), (4, 5), (5, 1)]
    assert [act.name for _, act in pairs] == ["tanh", "leaky_relu", "sigmoid", "identity"]
    assert pairs[1][1].attrs == {"alpha": 0.3}
    same = cr.MLP([2, 3, 3, 1], activation="relu", output_activation="softmax")
    assert [act.name for _, act in same.layers()] == ["relu", "relu", "softmax"]


def test_forward_tags_net_and_out_by_layer():
    net = cr.MLP([2, 3, 1], activation="tanh", output_activation="sigmoid", seed=0)
    out = net(np.ones((4, 2)))
    assert (out.role, out.layer) == ("out", 2)
    net_input = out.parents[0]
    assert (net_input.role, net_input.layer) == ("net", 2)


def test_repr_shows_the_layers():
    net = cr.MLP([2, 3, 1], activation=["tanh"], output_activation=cr.LeakyReLU(0.3), seed=0)
    assert repr(net) == "\n".join([
        "MLP(",
        "  sizes=[2, 3, 1]",
        "  (0): Linear(n_in=2, n_out=3, bias=True)",
        "  (1): Tanh()",
        "  (2): Linear(n_in=3, n_out=1, bias=True)",
        "  (3): LeakyReLU(alpha=0.3)",
        ")",
    ])
    assert repr(cr.Activation("elu", alpha=0.5)) == "Activation('elu', alpha=0.5)"
    assert "hidden): Linear(n_in=3, n_out=4" in repr(TwoLayers())


def test_function_activation_backpropagates_through_its_operations():
    from chainrule import functional as F
    from chainrule.nn import FunctionActivation

    swish = FunctionActivation(lambda net: net * F.sigmoid(net), name="swish")
    net = cr.MLP([3, 4, 2], activation=swish, output_activation="softmax", seed=1)
    assert isinstance(net[1], FunctionActivation) and repr(net[1]) == "FunctionActivation('swish')"
    x, t = np.random.default_rng(0).normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])
    report = cr.gradcheck(lambda: cr.losses.cross_entropy(net(x), t), net)
    assert report.max_abs_error < 1e-8  # gradcheck itself raises above rtol 1e-5


def test_make_activation_takes_names_modules_classes_and_functions():
    from chainrule.nn import FunctionActivation, make_activation

    assert type(make_activation("tanh")) is cr.Tanh and type(make_activation(cr.Tanh)) is cr.Tanh
    relu = cr.ReLU()
    assert make_activation(relu) is relu
    assert isinstance(make_activation(lambda net: net * 2), FunctionActivation)
    with pytest.raises(ConfigError, match="unknown activation"):
        make_activation("swish")
    with pytest.raises(ShapeError, match=r"turned shape \(2, 3\) into \(2,\)"):
        FunctionActivation(lambda net: net.sum(axis=1))(cr.Tensor(np.ones((2, 3))))
    with pytest.raises(ConfigError, match="needs a function"):
        FunctionActivation("tanh")


def test_every_name_is_importable_where_it_was_before_the_split():
    import chainrule.activations
    import chainrule.module

    for name in cr.nn.__all__:
        here = getattr(cr.nn, name)
        assert getattr(cr, name, here) is here, name
    assert cr.nn.Module is chainrule.module.Module and cr.nn.Parameter is chainrule.module.Parameter
    for name in chainrule.activations.__all__:
        assert getattr(cr.nn, name) is getattr(chainrule.activations, name), name


@pytest.mark.parametrize("cls", [cr.Identity, cr.Sigmoid, cr.Tanh, cr.ReLU, cr.LeakyReLU, cr.ELU, cr.Softplus,
                                 cr.GELU, cr.Softmax, cr.LogSoftmax])
def test_each_named_activation_is_its_registry_op_with_the_ops_own_defaults(cls):
    module = cls()
    op = cr.ops.ACTIVATIONS[module.name]
    assert cr.nn.make_activation(module.name).__class__ is cls and module.op is op
    net = np.linspace(-3.0, 3.0, 14).reshape(2, 7)
    # The op's forward with no attributes uses its own defaults: the class's defaults must be the same numbers.
    np.testing.assert_array_equal(module(net).data, op.forward(net))
