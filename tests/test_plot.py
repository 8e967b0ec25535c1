"""Pictures: network diagrams, training curves and decision boundaries.

Every figure is inspected through its artists, which carry gids naming what they show
("neuron:1:0" is h1, "edge:2:0:0" is w5 from h1 to o1). Numbers are checked against
Mazur's published values, scikit-learn's own predictions, or the network's outputs.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from matplotlib.colors import to_hex  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.datasets  # noqa: E402, F401
from chainrule.errors import ConfigError, DataError, ShapeError  # noqa: E402
from chainrule.plot import (  # noqa: E402
    decision_grid,
    draw_network,
    format_number,
    history_columns,
    plot_decision_boundary,
    plot_history,
)
from chainrule.plot._figure import NEGATIVE, POSITIVE  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Mazur, "A Step by Step Backpropagation Example" (2015), his published numbers.
MAZUR_NET_H1, MAZUR_OUT_H1 = 0.3775, 0.593269992
MAZUR_OUT_H2 = 0.596884378
MAZUR_NET_O1, MAZUR_OUT_O1, MAZUR_OUT_O2 = 1.105905967, 0.75136507, 0.772928465
MAZUR_E_TOTAL = 0.298371109
MAZUR_DELTA_O1 = 0.74136507 * 0.186815602  # dE/dout_o1 * dout_o1/dnet_o1
MAZUR_DELTA_H1 = 0.036350306 * 0.241300709  # dE/dout_h1 * dout_h1/dnet_h1
MAZUR_GRAD_W5, MAZUR_GRAD_W1 = 0.082167041, 0.000438568
MAZUR_DELTA_O2 = -0.217071535 * 0.175510053  # dE/dout_o2 * dout_o2/dnet_o2


def _by_gid(fig, prefix):
    """Artists (patches, lines, texts) of the figure's first axes whose gid starts with ``prefix``."""
    ax = fig.axes[0]
    artists = list(ax.patches) + list(ax.lines) + list(ax.texts)
    return {a.get_gid(): a for a in artists if (a.get_gid() or "").startswith(prefix)}


def _text(fig, gid):
    return _by_gid(fig, gid)[gid].get_text()


# ------------------------------------------------------------------ network diagrams
def test_mazur_diagram_names_and_values():
    net, x, target = cr.examples.mazur()
    fig = draw_network(net, x, target)
    names = {a.get_text() for a in _by_gid(fig, "name:").values()}
    assert names == {"i1", "i2", "h1", "h2", "o1", "o2"}
    assert _text(fig, "value:1:0:net") == f"net {MAZUR_NET_H1:.4f}"
    assert _text(fig, "value:1:0:out") == f"out {MAZUR_OUT_H1:.4f}"
    assert _text(fig, "value:1:1:out") == f"out {MAZUR_OUT_H2:.4f}"
    assert _text(fig, "value:2:0:net") == f"net {MAZUR_NET_O1:.4f}"
    assert _text(fig, "value:2:0:out") == f"out {MAZUR_OUT_O1:.4f}"
    assert _text(fig, "value:2:1:out") == f"out {MAZUR_OUT_O2:.4f}"
    assert _text(fig, "value:0:1:out") == "i2 = 0.1"
    assert _text(fig, "value:2:0:target") == "target 0.01"
    assert f"E_total = {MAZUR_E_TOTAL:.4f}" in fig.axes[0].get_title()


def test_mazur_weight_names_sit_on_his_edges():
    net, _, _ = cr.examples.mazur()
    fig = draw_network(net, show="names")
    # Mazur's figure: w1 i1->h1, w2 i2->h1, w3 i1->h2, w4 i2->h2, w5 h1->o1, w6 h2->o1, w7 h1->o2, w8 h2->o2.
    his = {"w1": (1, 0, 0), "w2": (1, 1, 0), "w3": (1, 0, 1), "w4": (1, 1, 1),
           "w5": (2, 0, 0), "w6": (2, 1, 0), "w7": (2, 0, 1), "w8": (2, 1, 1)}
    for name, (layer, i, j) in his.items():
        assert _text(fig, f"edgelabel:{layer}:{i}:{j}") == name
    assert _text(fig, "edgelabel:2:b:1") == "$b_{o2}$"  # the learner tools' per-neuron bias name b_o2
    values = draw_network(net, show="values")
    assert _text(values, "edgelabel:2:0:0") == "0.4"  # w5 = 0.40
    assert _text(values, "edgelabel:1:b:1") == "0.35"  # b1 into h2
    both = draw_network(net, show="both")
    assert _text(both, "edgelabel:1:1:1") == "w4 = 0.3"


def test_shared_biases_are_named_once_per_layer_as_mazur_does():
    net, x, target = cr.examples.mazur()
    fig = draw_network(net, show="both", bias="shared")
    assert _text(fig, "edgelabel:1:b") == "b1 = 0.35" and _text(fig, "edgelabel:2:b") == "b2 = 0.6"
    assert not _by_gid(fig, "edgelabel:1:b:") and not _by_gid(fig, "edgelabel:2:b:")  # no b_h1, b_h2, ...
    assert len(_by_gid(fig, "edge:2:b:")) == 2  # b2 still feeds both o1 and o2
    # The names are the learner tools': trace with the same keyword calls them b1 and b2.
    traced = cr.trace(net, x, target, bias="shared").to_dict()["values"]
    assert {"b1", "b2"} <= traced.keys() and not {"b_h1", "b_o1"} & traced.keys()
    grad = draw_network(net, x, target, show="both", overlay="grad", bias="shared")
    # dE/db2 = delta_o1 + delta_o2 from Mazur's published factors, one label for the one parameter.
    assert _text(grad, "edgelabel:2:b") == f"∂E/∂b2 = {format_number(MAZUR_DELTA_O1 + MAZUR_DELTA_O2)}"
    assert _text(draw_network(net, show="names", bias="shared", names="layer"), "edgelabel:1:b") == "$w_{0}^{(1)}$"


def test_shared_biases_need_one_value_per_layer():
    net = cr.MLP([2, 2, 2], output_activation="sigmoid", seed=0)
    net[0].bias.data[...] = [0.1, 0.2]
    with pytest.raises(ConfigError, match="one bias value per layer"):
        draw_network(net, bias="shared")
    with pytest.raises(ConfigError, match="bias must be one of per_neuron, shared"):
        draw_network(net, bias="layer")


@pytest.mark.parametrize("sizes, bias", [([3, 4, 2], True), ([3, 4, 2], False), ([2, 3, 3, 1], True)])
def test_counts_of_neurons_and_edges(sizes, bias):
    net = cr.MLP(sizes, activation="tanh", seed=0, bias=bias)
    fig = draw_network(net)
    neurons = _by_gid(fig, "neuron:")
    assert len(neurons) == sum(sizes)
    assert len(_by_gid(fig, "bias:")) == (len(sizes) - 1 if bias else 0)
    expected_edges = sum(a * b for a, b in zip(sizes, sizes[1:])) + (sum(sizes[1:]) if bias else 0)
    assert len(_by_gid(fig, "edge:")) == expected_edges
    assert len(_by_gid(fig, "edgelabel:")) == expected_edges  # small nets are labelled


def test_large_network_is_capped_and_unlabelled():
    net = cr.MLP([784, 30, 10], activation="relu", seed=0)
    x = np.random.default_rng(0).random(784)
    fig = draw_network(net, x, max_neurons=12)
    shown = [11, 11, 10]  # 10 first + last for capped layers
    assert len(_by_gid(fig, "neuron:")) == sum(shown)
    assert "neuron:0:783" in _by_gid(fig, "neuron:0:783")
    assert {a.get_text() for a in _by_gid(fig, "ellipsis:").values()} == {"⋮\n773 more", "⋮\n19 more"}
    assert len(_by_gid(fig, "edge:")) == 11 * 11 + 11 * 10 + 11 + 10
    assert not _by_gid(fig, "edgelabel:")
    width, height = fig.get_size_inches()
    assert width <= 18 and height <= 16


def test_large_network_names_come_from_the_naming_scheme():
    from chainrule.learn.naming import Names

    net = cr.MLP([784, 30, 10], activation="relu", seed=0)
    fig = draw_network(net, names="layer")
    reference = Names([784, 30, 10], "layer")  # the learner tools' names, built for the whole network
    for layer, j in [(0, 0), (0, 783), (1, 29), (2, 9)]:
        assert _text(fig, f"name:{layer}:{j}") == f"${reference.latex(reference.out(layer, j))}$"
    auto = draw_network(net)
    assert _text(auto, "name:0:783") == "i784" and _text(auto, "name:2:9") == "o10"
    deep = draw_network(cr.MLP([2, 2, 2, 2, 2], seed=0), show="names")
    assert [_text(deep, f"name:{layer}:1") for layer in range(5)] == ["i2", "h2", "j2", "k2", "o2"]


def test_edge_colour_follows_weight_sign():
    net = cr.MLP([2, 2, 1], activation="tanh", seed=0)
    net.load_state_dict({"0.weight": np.array([[0.5, -1.5], [-0.25, 2.0]]), "0.bias": np.array([0.1, -0.3]),
                         "2.weight": np.array([[-0.7], [0.9]]), "2.bias": np.array([0.0])})
    fig = draw_network(net)
    lines = _by_gid(fig, "edge:")
    for name, param in net.named_parameters():
        layer = int(name.split(".")[0]) // 2 + 1
        for index, w in np.ndenumerate(param.data):
            gid = f"edge:{layer}:{index[0]}:{index[1]}" if name.endswith("weight") else f"edge:{layer}:b:{index[0]}"
            colour = to_hex(lines[gid].get_color())
            assert colour == (POSITIVE if w > 0 else NEGATIVE if w < 0 else to_hex("0.6")), (gid, w)
    widths = {gid: line.get_linewidth() for gid, line in lines.items()}
    assert widths["edge:1:1:1"] > widths["edge:1:0:0"] > widths["edge:1:1:0"]  # |2.0| > |0.5| > |-0.25|


def test_delta_overlay_matches_mazur_and_colours_by_sign():
    net, x, target = cr.examples.mazur()
    fig = draw_network(net, x, target, overlay="delta")
    assert _text(fig, "value:2:0:delta") == f"δ {MAZUR_DELTA_O1:.4f}"
    assert _text(fig, "value:1:0:delta") == f"δ {MAZUR_DELTA_H1:.3g}"
    neurons = _by_gid(fig, "neuron:")
    positive, negative = neurons["neuron:2:0"].get_facecolor(), neurons["neuron:2:1"].get_facecolor()
    assert positive[0] > positive[2] and negative[2] > negative[0]  # orange for delta > 0, purple below
    assert len(fig.axes) == 2  # the colour bar
    assert all(p.grad is None for p in net.parameters())  # drawing leaves the network's gradients alone
    assert all(m.training for m in net.modules())  # and its training mode


def test_grad_overlay_matches_mazur():
    net, x, target = cr.examples.mazur()
    fig = draw_network(net, x, target, overlay="grad")
    assert _text(fig, "edgelabel:2:0:0") == f"{MAZUR_GRAD_W5:.4f}"
    assert _text(fig, "edgelabel:1:0:0") == f"{MAZUR_GRAD_W1:.3g}"
    grads = _by_gid(fig, "grad:")
    assert len(grads) == 12
    assert grads["grad:2:0:0"].get_linewidth() > grads["grad:1:0:0"].get_linewidth()
    both = draw_network(net, x, target, overlay="grad", show="both")
    assert _text(both, "edgelabel:2:0:0") == f"∂E/∂w5\n{MAZUR_GRAD_W5:.4f}"


def test_per_layer_names_and_given_axes():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    net = cr.MLP([2, 3, 1], activation="tanh", seed=0)
    returned = draw_network(net, names="layer", show="names", ax=ax)
    assert returned is fig
    assert _text(fig, "name:1:2") == "$x_{3}^{(1)}$"
    assert _text(fig, "edgelabel:1:1:2") == "$w_{23}^{(1)}$"


def test_files_are_written_in_the_suffix_format(tmp_path):
    net, x, target = cr.examples.mazur()
    draw_network(net, x, target, path=tmp_path / "net.png")
    draw_network(net, x, target, overlay="delta", path=tmp_path / "net.svg")
    assert (tmp_path / "net.png").read_bytes()[:8] == PNG_SIGNATURE
    root = ET.parse(tmp_path / "net.svg").getroot()
    assert root.tag.endswith("svg")
    assert any(el.get("id") == "neuron:1:0" for el in root.iter())
    with pytest.raises(ConfigError, match=r"\.jpg"):
        draw_network(net, path=tmp_path / "net.jpg")
    assert not (tmp_path / "net.jpg").exists()


def test_diagram_errors():
    net, x, target = cr.examples.mazur()
    with pytest.raises(ConfigError, match="target"):
        draw_network(net, x, overlay="delta")
    with pytest.raises(ShapeError, match=r"\(2,\) or \(1, 2\)"):
        draw_network(net, np.zeros((3, 2)))
    with pytest.raises(ShapeError, match="target"):
        draw_network(net, x, np.zeros(3))
    with pytest.raises(ConfigError, match="show"):
        draw_network(net, show="weights")
    with pytest.raises(ConfigError, match="overlay"):
        draw_network(net, overlay="hessian")
    with pytest.raises(ConfigError, match="Sequential"):
        draw_network(cr.Linear(2, 2))
    with pytest.raises(ConfigError, match="naming scheme"):
        draw_network(net, names="greek")


def test_format_number():
    assert [format_number(v) for v in (0.15, 0.593269992, -0.0381, 0.000438568, 0.0, 123456.0, 2.0)] == [
        "0.15", "0.5933", "-0.0381", "0.000439", "0", "1.23e+05", "2"]


def test_import_costs_no_matplotlib():
    code = "import sys, chainrule, chainrule.plot; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# ------------------------------------------------------------------ training curves
HISTORY = {"loss": [0.9, 0.5, 0.3, 0.2], "val_loss": [1.0, 0.6, 0.45, 0.5],
           "accuracy": [0.5, 0.7, 0.85, 0.9], "val_accuracy": [0.45, 0.65, 0.8, 0.78]}


def test_history_curves_hold_the_numbers(tmp_path):
    fig = plot_history(HISTORY, path=tmp_path / "h.png", log_loss=True)
    assert (tmp_path / "h.png").read_bytes()[:8] == PNG_SIGNATURE
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_yscale() == "log" and acc_ax.get_yscale() == "linear"
    curves = {line.get_gid(): line for ax in fig.axes for line in ax.lines if line.get_gid()}
    assert set(curves) == {f"curve:{m}:{k}" for m in ("loss", "accuracy") for k in ("training", "validation")}
    np.testing.assert_array_equal(curves["curve:loss:validation"].get_ydata(), HISTORY["val_loss"])
    np.testing.assert_array_equal(curves["curve:accuracy:training"].get_xdata(), [1, 2, 3, 4])
    best = [line for line in loss_ax.lines if not line.get_gid()][0]
    assert best.get_xdata()[0] == 3 and best.get_ydata()[0] == 0.45  # lowest validation loss


def test_history_from_fit():
    from chainrule.train import fit

    data = np.random.default_rng(0).normal(size=(40, 2))
    labels = (data[:, 0] * data[:, 1] > 0).astype(int)
    model = cr.MLP([2, 4, 2], activation="tanh", seed=0)
    history = fit(model, data[:30], labels[:30], loss="cross_entropy_with_logits", epochs=3, batch_size=10,
                  seed=0, validation_data=(data[30:], labels[30:]), metrics=["accuracy"], progress=False)
    fig = plot_history(history)
    curves = {line.get_gid(): line for ax in fig.axes for line in ax.lines if line.get_gid()}
    np.testing.assert_array_equal(curves["curve:loss:training"].get_ydata(), history.history["loss"])
    np.testing.assert_array_equal(curves["curve:accuracy:validation"].get_ydata(), history.history["val_accuracy"])
    assert "curve:lr:training" not in curves  # the learning rate is not a training curve
    assert set(history_columns(history.to_dict())) == set(history.history)


def test_history_duck_types():
    class Keras:
        history = HISTORY

    class Rows:
        epochs = [{"epoch": k + 1, "loss": v} for k, v in enumerate(HISTORY["loss"])]

    np.testing.assert_array_equal(history_columns(Keras())["val_loss"], HISTORY["val_loss"])
    assert list(history_columns(Rows())) == ["loss"]
    fig = plot_history(Rows(), metrics=["loss"])
    assert len(fig.axes) == 1
    with pytest.raises(ConfigError, match="f1"):
        plot_history(HISTORY, metrics=["f1"])
    with pytest.raises(DataError):
        plot_history(42)
    with pytest.raises(DataError, match="positive"):
        plot_history({"loss": [1.0, 0.0]}, log_loss=True)


# ------------------------------------------------------------------ decision boundaries
def _label_positions(labels, classes):
    return np.array([list(classes).index(v) for v in labels])


def test_boundary_equals_estimator_predictions_multiclass():
    from sklearn.datasets import make_blobs
    from sklearn.linear_model import LogisticRegression

    data, y = make_blobs(120, centers=3, random_state=1)
    names = np.array(["ant", "bee", "cat"])[y]
    model = LogisticRegression().fit(data, names)
    grid = decision_grid(model, data, names, resolution=40)
    expected = _label_positions(model.predict(grid.points), model.classes_)
    np.testing.assert_array_equal(grid.labels.ravel(), expected)
    assert len(np.unique(expected)) == 3
    fig = plot_decision_boundary(model, data, names, resolution=40)
    mesh = [c for c in fig.axes[0].collections if c.get_gid() == "decision-regions"][0]
    np.testing.assert_array_equal(np.asarray(mesh.get_array()).ravel(), expected)


def test_boundary_binary_probability_shading():
    from sklearn.datasets import make_moons
    from sklearn.linear_model import LogisticRegression

    data, y = make_moons(100, noise=0.2, random_state=0)
    model = LogisticRegression().fit(data, y)
    grid = decision_grid(model, data, y, resolution=30)
    np.testing.assert_array_equal(grid.labels.ravel(), model.predict(grid.points))
    np.testing.assert_allclose(grid.proba.ravel(), model.predict_proba(grid.points)[:, 1])
    fig = plot_decision_boundary(model, data, y, resolution=30)
    mesh = [c for c in fig.axes[0].collections if c.get_gid() == "decision-regions"][0]
    np.testing.assert_allclose(np.asarray(mesh.get_array()).ravel(), grid.proba.ravel())
    points = [c for c in fig.axes[0].collections if c.get_label() == "1"][0]
    np.testing.assert_array_equal(points.get_offsets(), data[y == 1])
    assert to_hex(points.get_facecolor()[0]) == NEGATIVE


def test_boundary_and_diagram_of_a_chainrule_estimator():
    import warnings

    from chainrule.sklearn import MLPClassifier

    data, y = cr.datasets.moons(100, noise=0.2, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short run that has not converged
        model = MLPClassifier((5,), max_iter=100, random_state=0).fit(data, y)
    grid = decision_grid(model, data, y, resolution=30)
    np.testing.assert_array_equal(grid.labels.ravel(), model.predict(grid.points))
    np.testing.assert_allclose(grid.proba.ravel(), model.predict_proba(grid.points)[:, 1])
    fig = draw_network(model)
    assert len(_by_gid(fig, "neuron:")) == len(_by_gid(fig, "name:")) == 2 + 5 + 1


def test_boundary_equals_network_outputs():
    data = np.random.default_rng(0).normal(size=(50, 2))
    softmax_net = cr.MLP([2, 6, 3], activation="tanh", output_activation="softmax", seed=2)
    grid = decision_grid(softmax_net, data, resolution=25)
    np.testing.assert_array_equal(grid.labels.ravel(), softmax_net(grid.points).data.argmax(axis=1))
    sigmoid_net = cr.MLP([2, 5, 1], activation="relu", output_activation="sigmoid", seed=3)
    grid = decision_grid(sigmoid_net, data, resolution=25)
    out = sigmoid_net(grid.points).data[:, 0]
    np.testing.assert_array_equal(grid.labels.ravel(), (out > 0.5).astype(int))
    np.testing.assert_allclose(grid.proba.ravel(), out)
    logit_net = cr.MLP([2, 5, 1], activation="relu", seed=3)
    logits = logit_net(grid.points).data[:, 0]
    np.testing.assert_array_equal(decision_grid(logit_net, data, resolution=25).labels.ravel(), logits > 0)


def test_boundary_errors(tmp_path):
    net = cr.MLP([2, 3, 1], output_activation="sigmoid", seed=0)
    with pytest.raises(ShapeError, match=r"\(n_samples, 2\)"):
        plot_decision_boundary(net, np.zeros((10, 3)))
    with pytest.raises(ShapeError, match=r"\(n_samples, 2\)"):
        plot_decision_boundary(net, np.zeros(10))
    with pytest.raises(ShapeError, match="one label per row"):
        plot_decision_boundary(net, np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(DataError, match="NaN"):
        plot_decision_boundary(net, np.full((4, 2), np.nan))
    with pytest.raises(ConfigError, match="cannot classify"):
        plot_decision_boundary(object(), np.zeros((4, 2)))
    fig = plot_decision_boundary(net, np.eye(2), [0, 1], path=tmp_path / "b.svg", resolution=20)
    assert ET.parse(tmp_path / "b.svg").getroot().tag.endswith("svg")
    assert fig.axes[0].get_xlabel() == "x1" and fig.axes[0].get_ylabel() == "x2"


# ------------------------------------------------------------------ chainrule draw
def test_flags_build_mazurs_network():
    from chainrule.cli.netspec import network_from_flags

    net = network_from_flags([2, 2, 2], "sigmoid", "sigmoid", weights="0.15,0.2,0.25,0.3;0.4,0.45,0.5,0.55",
                             biases="0.35,0.6")
    reference, x, target = cr.examples.mazur()
    for name, value in reference.state_dict().items():
        np.testing.assert_array_equal(net.state_dict()[name], value, err_msg=name)
    assert net(x).data[0, 0] == pytest.approx(MAZUR_OUT_O1, abs=1e-8)
    per_neuron = network_from_flags([2, 3, 1], "tanh", "identity", weights="1,2,3,4,5,6,7,8,9", biases="1,2,3,4")
    np.testing.assert_array_equal(per_neuron[0].weight.data, [[1, 3, 5], [2, 4, 6]])  # w1 = i1->h1, w2 = i2->h1
    np.testing.assert_array_equal(per_neuron[0].bias.data, [1, 2, 3])
    assert per_neuron[3].name == "identity"


def test_draw_command_writes_files(tmp_path, capsys):
    from chainrule.cli import main

    png, svg = tmp_path / "mazur.png", tmp_path / "flags.svg"
    assert main(["draw", "--example", "mazur", "--overlay", "delta", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    assert main(["draw", "--layers", "2,2,2", "--output-activation", "sigmoid",
                 "--weights", "0.15,0.2,0.25,0.3,0.4,0.45,0.5,0.55",
                 "--biases", "0.35,0.6", "--x", "0.05,0.1", "--target", "0.01,0.99", "--show", "both",
                 "--out", str(svg)]) == 0
    ids = {el.get("id") for el in ET.parse(svg).getroot().iter()}
    assert {"value:1:0:net", "edgelabel:2:0:0", "neuron:2:1"} <= ids
    assert f"wrote {svg}" in capsys.readouterr().out


@pytest.mark.parametrize("flags, labels", [
    ([], {"edgelabel:1:b": "b1 = 0.35", "edgelabel:2:b": "b2 = 0.6"}),  # --example mazur brings b1, b2
    (["--bias", "per_neuron"], {"edgelabel:1:b:0": "$b_{h1}$ = 0.35", "edgelabel:2:b:1": "$b_{o2}$ = 0.6"}),
])
def test_draw_command_names_mazurs_biases_as_trace_does(flags, labels, tmp_path, monkeypatch):
    from chainrule.cli import main
    from chainrule.plot import _figure

    drawn = []
    monkeypatch.setattr(_figure, "save", lambda fig, path: drawn.append(fig))
    assert main(["draw", "--example", "mazur", "--show", "both", *flags, "--out", str(tmp_path / "m.png")]) == 0
    texts = {gid: artist.get_text() for gid, artist in _by_gid(drawn[0], "edgelabel:").items()}
    assert labels.items() <= texts.items()
    assert len([gid for gid in texts if ":b" in gid]) == (2 if not flags else 4)


def test_draw_command_reads_a_model_file(tmp_path, capsys):
    from chainrule.cli import main

    net, _, _ = cr.examples.mazur()
    cr.save(net, tmp_path / "mazur.safetensors")
    svg = tmp_path / "saved.svg"
    assert main(["draw", "--model", str(tmp_path / "mazur.safetensors"), "--x", "0.05,0.1", "--target", "0.01,0.99",
                 "--overlay", "grad", "--out", str(svg)]) == 0
    ids = {el.get("id") for el in ET.parse(svg).getroot().iter()}
    assert {"grad:2:0:0", "value:2:1:out", "bias:2"} <= ids
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    assert main(["draw", "--model", str(tmp_path / "junk.safetensors"), "--out", str(tmp_path / "j.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chainrule: error:") and err.count("\n") == 1
    assert not (tmp_path / "j.png").exists()


@pytest.mark.parametrize("argv, message", [
    (["--layers", "2,2,2", "--weights", "0.1,0.2"], "needs 8 values"),
    (["--layers", "2,x"], "--layers"),
    (["--layers", "2,2", "--out", "net.jpg"], ".jpg"),
    (["--example", "mazur", "--x", "1,2,3"], "shape"),
    (["--layers", "2,2", "--overlay", "delta"], "--target"),
    (["--layers", "2,2", "--x", "1,oops"], "'oops' is not a number"),
    (["--example", "mazur", "--weights", "1"], "go with --layers"),
    (["--example", "mazur", "--layers", "2,2"], "not allowed"),
    (["--model", "missing.safetensors"], "missing.safetensors"),
    ([], "required"),
])
def test_draw_command_bad_input_is_one_line(argv, message, capsys, tmp_path, monkeypatch):
    from chainrule.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["draw", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not list(tmp_path.iterdir())
