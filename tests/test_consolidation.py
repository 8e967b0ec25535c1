"""One rule, one home: the output/loss pairs and the ``auto`` loss, read alike by fit, the CLI and the estimators."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.cli.training import choose_loss
from chainrule.errors import ConfigError
from chainrule.losses import LOSS_DEFS, auto_loss, check_pair
from chainrule.train import resolve_loss

# Output activations that do not belong with the loss: probabilities for log(out), net for the *_with_logits.
WRONG_PAIRS = [
    ("identity", "cross_entropy"),
    ("tanh", "cross_entropy"),
    ("sigmoid", "cross_entropy"),
    ("identity", "binary_cross_entropy"),
    ("relu", "binary_cross_entropy"),
    ("softmax", "binary_cross_entropy"),
    ("softmax", "cross_entropy_with_logits"),
    ("sigmoid", "binary_cross_entropy_with_logits"),
    ("tanh", "poisson"),
]


def _cli_output(name: str) -> str:
    return "none" if name == "identity" else name


def _digits(n_out: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 64))
    y = rng.integers(0, n_out, 24) if n_out > 1 else rng.integers(0, 2, 24)
    return x, y


@pytest.mark.parametrize("output, loss", WRONG_PAIRS)
def test_a_wrong_pair_is_refused_by_fit_and_by_train_with_the_same_message(output, loss, capsys):
    with pytest.raises(ConfigError) as refused:
        check_pair(output, loss)
    message = str(refused.value)
    assert repr(loss) in message and repr(output) in message
    x, y = _digits(10)
    net = cr.MLP([64, 8, 10], activation="relu", output_activation=None if output == "identity" else output, seed=0)
    before = [p.data.copy() for p in net.parameters()]
    with pytest.raises(ConfigError) as by_fit:
        cr.fit(net, x, y, loss=loss, epochs=1, progress=False)
    assert str(by_fit.value) == message
    assert all(np.array_equal(a, p.data) for a, p in zip(before, net.parameters()))  # nothing trained
    code = main(["train", "--dataset", "digits", "--hidden", "8", "--epochs", "1", "--limit", "40",
                 "--output-activation", _cli_output(output), "--loss", loss])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err


def test_allowed_pairs_pass_and_unknown_outputs_are_not_judged():
    for name, definition in LOSS_DEFS.items():
        check_pair(definition.canonical_activation, name)
        if definition.outputs is None:
            for output in cr.ops.ACTIVATIONS:
                check_pair(output, name)
        check_pair(None, name)  # a custom last module: nothing known, nothing refused


def test_allow_mismatch_trains_with_one_warning():
    x, y = _digits(3)
    net = cr.MLP([64, 4, 3], seed=0)
    with pytest.warns(RuntimeWarning, match="cross_entropy_with_logits") as caught:
        history = cr.fit(net, x, y, loss="cross_entropy", epochs=2, progress=False, allow_mismatch=True)
    assert history.epochs == 2
    assert len([w for w in caught if "expects" in str(w.message)]) == 1


def test_linear_output_with_cross_entropy_is_what_the_issue_showed():
    # The issue's example: a linear-output network with cross_entropy reported a negative training loss.
    x, y = _digits(10)
    with pytest.raises(ConfigError, match="for a linear output use loss='cross_entropy_with_logits'"):
        cr.fit(cr.MLP([64, 10], seed=0), x, y, loss="cross_entropy", progress=False)


@pytest.mark.parametrize("output, n_out", [("identity", 1), ("identity", 3), ("softmax", 3), ("sigmoid", 1),
                                           ("tanh", 1), ("tanh", 3)])
def test_auto_gives_the_same_loss_in_fit_and_on_the_command_line(output, n_out):
    act = None if output == "identity" else output
    net = cr.MLP([4, 5, n_out], output_activation=act, seed=0)
    labels = np.array([0, 1, 1, 0]) if n_out == 1 else np.array([0, 1, 2, 1])
    expected = auto_loss(output, n_out, classes=True)
    assert resolve_loss(net, "auto", labels) == expected
    assert choose_loss("auto", net, n_classes=max(n_out, 2)) == expected
    values = np.array([[0.3], [1.7], [-0.2], [0.9]]) if n_out == 1 else np.zeros((4, n_out)) + 0.5
    assert resolve_loss(net, "auto", values) == auto_loss(output, n_out, classes=False)
    assert choose_loss("auto", net, n_classes=None) == auto_loss(output, n_out, classes=False)


def test_auto_for_one_linear_output_and_labels_is_the_binary_cross_entropy_on_net():
    x, y = _digits(1)
    net = cr.MLP([64, 4, 1], seed=0)
    assert resolve_loss(net, "auto", y) == "binary_cross_entropy_with_logits"
    # Whole numbers beyond 0 and 1 for one output are counts or values, not labels.
    assert resolve_loss(net, "auto", np.array([0, 3, 5])) == "mse"


def test_the_estimators_refuse_with_the_same_words():
    sk = pytest.importorskip("chainrule.sklearn")
    x, y = _digits(3)
    with pytest.raises(ConfigError) as refused:
        sk.MLPRegressor(hidden_layer_sizes=(4,), loss="cross_entropy", output_activation="identity",
                        max_iter=1).fit(x, np.eye(3)[y])
    with pytest.raises(ConfigError) as expected:
        check_pair("identity", "cross_entropy")
    assert str(refused.value) == str(expected.value)


def test_the_plan_uses_the_losses_in_place_delta():
    # The plan's delta for each loss is the LossDef's: compare with dE/dout from the loss's own grad.
    rng = np.random.default_rng(1)
    for name, definition in LOSS_DEFS.items():
        out = rng.uniform(0.1, 0.9, (5, 3))
        t = rng.uniform(0, 1, (5, 3))
        delta, scratch = np.empty_like(out), np.empty_like(out)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            value = definition.delta_into(out, t, delta, 5, False, scratch)
        np.testing.assert_allclose(value, definition.terms(out, t).sum() / 5, rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(delta, definition.grad(out, t) / 5, rtol=1e-12, err_msg=name)



@pytest.mark.parametrize("returned", [0, 1, 3])
def test_backward_refuses_a_vjp_with_the_wrong_number_of_gradients(returned):
    from chainrule.errors import GradientError
    from chainrule.ops import Op
    from chainrule.tensor import Tensor

    def vjp(g, out, a, b):
        return (g * b, g * a, g)[:returned]

    op = Op("test_product_with_a_wrong_vjp", lambda a, b: a * b, vjp)
    a, b = Tensor(np.array([1.5, -2.0]), requires_grad=True), Tensor(np.array([0.5, 3.0]), requires_grad=True)
    with pytest.raises(GradientError, match=rf"returned {returned} gradients for its 2 inputs"):
        Tensor._from_op(op, (a, b), {}).sum().backward()
    good = Op("test_product", lambda a, b: a * b, lambda g, out, a, b: (g * b, g * a))
    Tensor._from_op(good, (a, b), {}).sum().backward()
    np.testing.assert_array_equal(a.grad, b.data)  # d(sum a*b)/da = b


# ------------------------------------------------------------------ one boundary, one error class per mistake
def _entries(net, loss):
    """The same batch handed to a loss function, the captured plan and fit."""
    from chainrule.plan import compile_plan

    plan = compile_plan(net, loss)
    return {
        "loss": lambda x, t, w=None: cr.losses.LOSSES[loss](net(x), t, w),
        "plan": lambda x, t, w=None: plan.loss_and_grad(x, t, w),
        "fit": lambda x, t, w=None: cr.fit(net, x, t, loss=loss, epochs=1, batch_size=len(x), progress=False,
                                           sample_weight=w),
    }


@pytest.mark.parametrize("mistake, error", [
    ("label_out_of_range", "ClassIndexError"),
    ("label_not_whole", "ClassIndexError"),
    ("target_shape", "LayoutError"),
    ("negative_weight", "WeightValueError"),
    ("weight_count", "SampleCountError"),
    ("string_targets", "NotNumbersError"),
])
def test_the_same_mistake_raises_the_same_error_class_everywhere(mistake, error):
    from chainrule import boundary

    net = cr.MLP([3, 4, 3], seed=0)
    x = np.random.default_rng(0).standard_normal((5, 3))
    labels = np.array([0, 1, 2, 1, 0])
    bad = {
        "label_out_of_range": (labels + 1, None),
        "label_not_whole": (labels + 0.5, None),
        "target_shape": (np.zeros((5, 2)), None),
        "negative_weight": (labels, -np.ones(5)),
        "weight_count": (labels, np.ones(4)),
        "string_targets": (labels.astype(str), None),
    }[mistake]
    for call in _entries(net, "cross_entropy_with_logits").values():
        with pytest.raises(getattr(boundary, error)):
            call(x, *bad)


def test_a_wrong_count_of_samples_is_both_a_data_and_a_shape_error():
    from chainrule.boundary import SampleCountError
    from chainrule.errors import DataError, ShapeError

    assert issubclass(SampleCountError, DataError) and issubclass(SampleCountError, ShapeError)


# ------------------------------------------------------------------ one way to read a network
def test_layers_view_reads_linear_activation_op_attrs_and_dropout():
    net = cr.MLP([3, 4, 5, 2], activation=["relu", cr.LeakyReLU(0.2)], output_activation="softmax",
                 dropout=[0.5, 0.0], seed=0)
    views = net.layers()
    assert [v.name for v in views] == ["relu", "leaky_relu", "softmax"]
    assert [type(v.dropout).__name__ for v in views] == ["Dropout", "NoneType", "NoneType"]
    assert views[1].attrs == {"alpha": 0.2} and views[1].op is cr.ops.ACTIVATIONS["leaky_relu"]
    linear, act = views[2]  # still unpacks as the (Linear, activation) pair
    assert linear is net[-2] and act is net[-1] and net.is_layered()
    assert not cr.Sequential(cr.Tanh(), cr.Linear(2, 2)).is_layered()
    assert cr.Sequential(cr.Linear(2, 2)).layers()[0].name == "identity"


def test_evaluating_restores_the_mode_even_after_an_error():
    net = cr.MLP([2, 3, 1], dropout=0.5, seed=0)
    with pytest.raises(RuntimeError), net.evaluating():
        assert not any(m.training for m in net.modules())
        raise RuntimeError
    assert all(m.training for m in net.modules())
    net[2].eval()  # a mixed model comes back mixed
    with net.evaluating():
        pass
    assert [m.training for m in net.modules()] == [True, True, True, False, True, True]


def test_activation_attributes_are_checked_by_the_registry_schema_everywhere():
    from chainrule import functional as F

    for make in (lambda: cr.GELU(approximate="cubic"), lambda: cr.Activation("gelu", approximate="cubic"),
                 lambda: F.gelu(np.zeros(2), approximate="cubic")):
        with pytest.raises(ConfigError, match="gelu approximate must be 'none' or 'tanh', got 'cubic'"):
            make()
    with pytest.raises(ConfigError, match="takes alpha"):
        cr.Activation("leaky_relu", beta=1.0)
    # Every registry activation has a module, and each module's initialiser hint is its op's.
    for name, op in cr.ops.ACTIVATIONS.items():
        module = cr.nn.make_activation(name)
        assert module.name == name and cr.nn._auto_init(module) == op.init


# ------------------------------------------------------------------ one flat parameter buffer
def _unflattened_copy(net):
    """The same network with each parameter in its own array (no flat buffer)."""
    copy = cr.Sequential(*[m for m in cr.MLP(net.sizes, activation="tanh", output_activation="softmax", seed=1)])
    for (_, mine), (_, theirs) in zip(copy.named_parameters(), net.named_parameters()):
        mine.data = theirs.data.copy()
    return copy


@pytest.mark.parametrize("optimizer", [
    lambda m: cr.optim.SGD(m, lr=0.3),
    lambda m: cr.optim.SGD(m, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda m: cr.optim.SGD(m, lr=0.1, momentum=0.9, momentum_form="sklearn"),
    lambda m: cr.optim.Adam(m, lr=0.01, amsgrad=True),
    lambda m: cr.optim.AdamW(m, lr=0.01),
    lambda m: cr.optim.RMSprop(m, lr=0.01, momentum=0.5, centered=True),
    lambda m: cr.optim.Adagrad(m, lr=0.1, lr_decay=0.01),
])
def test_updating_the_flat_buffer_moves_every_weight_as_updating_each_parameter(optimizer):
    net = cr.MLP([4, 6, 3], activation="tanh", output_activation="softmax", seed=0)
    flat = net[0].weight.data.base
    assert flat is not None and all(p.data.base is flat for p in net.parameters())
    other = _unflattened_copy(net)
    assert all(p.data.base is None for p in other.parameters())
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 4)), rng.integers(0, 3, 40)
    opt_flat, opt_each = optimizer(net), optimizer(other)
    for model, opt in ((net, opt_flat), (other, opt_each)):
        cr.fit(model, x, y, optimizer=opt, epochs=3, batch_size=8, seed=0, progress=False)
    assert opt_flat._flat is not None and opt_each._flat is None  # the two paths were taken
    for (name, a), (_, b) in zip(net.named_parameters(), other.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)
        assert a.data.base is flat  # still views after training
    saved_flat, saved_each = opt_flat.state_dict(), opt_each.state_dict()
    assert saved_flat.keys() == saved_each.keys()
    for key in saved_flat:
        np.testing.assert_array_equal(saved_flat[key], saved_each[key], err_msg=key)


def test_a_parameter_replaced_or_without_gradient_falls_back_to_each_parameter():
    from chainrule.train import loss_and_grad_fn

    net, x, target = cr.examples.mazur()
    step = loss_and_grad_fn(net, "half_squared_error")
    opt = cr.optim.Adam(net, lr=0.1)
    reference = [cr.Parameter(p.data.copy()) for p in net.parameters()]
    ref_opt = cr.optim.Adam(reference, lr=0.1)

    def both(skip=None):
        step(x, target)
        if skip is not None:
            net.parameters()[skip].grad = None
        for p, q in zip(reference, net.parameters()):
            p.grad = None if q.grad is None else q.grad.copy()
        opt.step()
        ref_opt.step()
        for p, q in zip(reference, net.parameters()):
            np.testing.assert_array_equal(p.data, q.data)

    both()
    assert opt._flat is not None
    net[0].bias.data = net[0].bias.data.copy()  # a new array: out of the flat buffer
    both()
    assert opt._flat is None
    both(skip=3)  # a missing gradient is skipped, so the step counts now differ
    both()
    assert opt.state[3]["step"] == 3 and opt.state[0]["step"] == 4


# ------------------------------------------------------------------ the command line and Python, same network
MAZUR_WEIGHTS = "0.15,0.2,0.25,0.3,0.4,0.45,0.5,0.55"


def _python_mazur():
    return cr.examples.mazur()[0]


def _python(sizes, activation="sigmoid", output=None, seed=0, load=None):
    net = cr.MLP(sizes, activation=activation, output_activation=output, seed=seed)
    if load is not None:
        net.load_state_dict(load)
    return net


SIGMOID_OUT = ["--output-activation", "sigmoid"]
CLI_SPELLINGS = {
    "example": (["--example", "mazur"], _python_mazur),
    "flags": (["--layers", "2,2,2", "--activation", "sigmoid", *SIGMOID_OUT, "--weights", MAZUR_WEIGHTS,
               "--biases", "0.35,0.6"], _python_mazur),
    "flags_by_layer": (["--layers", "2,2,2", *SIGMOID_OUT, "--weights", "0.15,0.2,0.25,0.3;0.4,0.45,0.5,0.55",
                        "--biases", "0.35;0.6"], _python_mazur),
    "flags_per_neuron_biases": (["--layers", "2,2,2", *SIGMOID_OUT, "--weights", MAZUR_WEIGHTS,
                                 "--biases", "0.35,0.35,0.6,0.6"], _python_mazur),
    "random_tanh_linear": (["--layers", "3,4,2", "--activation", "tanh", "--output-activation", "identity",
                            "--seed", "5"], lambda: _python([3, 4, 2], "tanh", None, seed=5)),
    # "none" is chainrule train's word for a linear output; it means the same here.
    "linear_spelled_none": (["--layers", "3,4,2", "--activation", "tanh", "--output-activation", "none",
                             "--seed", "5"], lambda: _python([3, 4, 2], "tanh", None, seed=5)),
    # Without --output-activation the output is linear on the command line as in MLP (MLP's default is the rule).
    "random_relu_default_output": (["--layers", "2,3,1", "--activation", "relu"], lambda: _python([2, 3, 1], "relu")),
    "issue_example": (["--layers", "2,2,2,2"], lambda: cr.MLP([2, 2, 2, 2], seed=0)),
    "hidden_output_spelled": (["--layers", "2,3,2", "--activation", "tanh", "--output-activation", "tanh",
                               "--seed", "4"], lambda: _python([2, 3, 2], "tanh", "tanh", seed=4)),
    "random_softmax": (["--layers", "2,2", "--output-activation", "softmax", "--seed", "3"],
                       lambda: _python([2, 2], output="softmax", seed=3)),
}


def _parsed(argv):
    import argparse

    from chainrule.cli import netspec

    parser = argparse.ArgumentParser()
    netspec.add_network_arguments(parser)
    netspec.add_sample_arguments(parser)
    return netspec.network_from_args(parser.parse_args(argv))[0]


@pytest.mark.parametrize("spelling", list(CLI_SPELLINGS))
def test_each_command_line_spelling_builds_the_network_of_its_python_call(spelling):
    argv, python = CLI_SPELLINGS[spelling]
    from_cli, from_python = _parsed(argv), python()
    assert [v.name for v in from_cli.layers()] == [v.name for v in from_python.layers()]
    cli_params, python_params = dict(from_cli.named_parameters()), dict(from_python.named_parameters())
    assert cli_params.keys() == python_params.keys()
    for name, p in cli_params.items():
        np.testing.assert_array_equal(p.data, python_params[name].data, err_msg=name)


def test_a_saved_model_reads_back_as_the_network_saved(tmp_path):
    net = _python([3, 4, 2], "tanh", "softmax", seed=2)
    path = cr.save(net, tmp_path / "net.safetensors")
    from_cli = _parsed(["--model", str(path)])
    for (name, p), (_, q) in zip(from_cli.named_parameters(), net.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


def _sample(net):
    n_in, n_out = net.layers()[0].linear.n_in, net.layers()[-1].linear.n_out
    return np.linspace(0.05, 0.1 * n_in, n_in), np.linspace(0.9, 0.1, n_out)


def _explained_numbers(derivation):
    """Every number an explanation shows: the named values, each path's product, backprop and the difference."""
    return {**derivation.values, **{f"path {p.label()}: {'*'.join(p.factors)}": p.value for p in derivation.paths},
            "backprop": derivation.backprop, "numeric": derivation.numeric}


@pytest.mark.parametrize("spelling", list(CLI_SPELLINGS))
def test_explain_gives_the_same_numbers_on_the_command_line_and_in_python(spelling, capsys):
    argv, python = CLI_SPELLINGS[spelling]
    net = python()
    x, target = _sample(net)
    # --example mazur brings Mazur's shared biases b1, b2; the other spellings keep one bias per neuron.
    bias = "shared" if spelling == "example" else "per_neuron"
    from_python = cr.explain(net, "w1", x, target, bias=bias)
    from_cli = cr.explain(_parsed(argv), "w1", x, target, bias=bias)
    cli_numbers, python_numbers = _explained_numbers(from_cli), _explained_numbers(from_python)
    assert cli_numbers.keys() == python_numbers.keys() and len(cli_numbers) > 10
    for name, value in python_numbers.items():
        assert cli_numbers[name] == value, name  # bit for bit: the same weights, the same arithmetic
    sample = ["--x", ",".join(map(repr, x.tolist())), "--target", ",".join(map(repr, target.tolist()))]
    code = main(["explain", "w1", *argv, *sample])
    cli = capsys.readouterr().out
    # The command prints every explained number (9 significant digits): the two texts are the same text.
    assert code == 0 and cli.strip() == from_python.to_text().strip()


def test_the_issue_example_has_a_linear_output_on_both_faces():
    import inspect

    assert inspect.signature(cr.MLP).parameters["output_activation"].default is None  # MLP's rule: linear
    assert [v.name for v in _parsed(["--layers", "2,2,2,2"]).layers()] == ["sigmoid", "sigmoid", "identity"]


def test_train_with_allow_mismatch_trains_and_warns_once(capsys):
    with pytest.warns(RuntimeWarning, match="expects outputs that sum to 1") as caught:
        code = main(["train", "--dataset", "digits", "--hidden", "8", "--epochs", "1", "--limit", "60",
                     "--loss", "cross_entropy", "--allow-mismatch"])
    assert code == 0 and "test accuracy" in capsys.readouterr().out
    # Issued from one place, so outside pytest (which records every warning) Python shows it once.
    assert {(w.filename, w.lineno) for w in caught if "expects" in str(w.message)} == {
        (caught[0].filename, caught[0].lineno)}


def _flat_buffer_of(model):
    """The one flat buffer behind every parameter, or None when a parameter is not a view of it, in order."""
    params = model.parameters()
    flat = params[0].data.base
    if flat is None or flat.ndim != 1 or flat.size != sum(p.data.size for p in params):
        return None
    start = 0
    for p in params:
        if p.data.base is not flat or not np.shares_memory(p.data, flat[start:start + p.data.size]):
            return None
        start += p.data.size
    return flat


def test_a_loaded_model_keeps_its_parameters_in_one_flat_buffer(tmp_path):
    net = cr.MLP([3, 4, 2], activation="tanh", seed=0)
    cr.io.save(net, tmp_path / "net.crm")
    back = cr.io.load(tmp_path / "net.crm")
    flat = _flat_buffer_of(back)
    assert flat is not None
    for (name, a), (_, b) in zip(net.named_parameters(), back.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)
    rng = np.random.default_rng(0)
    cr.fit(back, rng.standard_normal((16, 3)), rng.standard_normal((16, 2)), loss="mse", epochs=2,
           batch_size=4, seed=0, progress=False)
    assert _flat_buffer_of(back) is flat  # training wrote into the same buffer


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_the_estimators_coefs_are_copied_into_the_networks_flat_buffer(solver):
    from sklearn.exceptions import ConvergenceWarning

    from chainrule.sklearn import MLPRegressor

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((30, 3)), rng.standard_normal(30)
    est = MLPRegressor(hidden_layer_sizes=(4,), solver=solver, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(x, y)
        flat = _flat_buffer_of(est.model_)
        assert flat is not None
        assert all(np.shares_memory(c, flat) for c in est.coefs_ + est.intercepts_)
        est.coefs_ = [np.full_like(c, 0.5) for c in est.coefs_]  # replaced by hand, as scikit-learn allows
        assert _flat_buffer_of(est.model_) is flat and est.model_[0].weight.data[0, 0] == 0.5
        est.partial_fit(x, y) if solver != "lbfgs" else est.set_params(warm_start=True).fit(x, y)
    model = est.model_  # binds coefs_ again (after L-BFGS they are views of its solution, as in scikit-learn)
    assert _flat_buffer_of(model) is flat
    assert all(c is layer.weight.data for c, layer in zip(est.coefs_, [m for m in model.modules()
                                                                        if isinstance(m, cr.nn.Linear)]))
