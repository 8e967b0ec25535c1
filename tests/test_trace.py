"""chainrule.learn.trace: Mazur's published digits, PyTorch float64 on random nets, the renderers."""

from __future__ import annotations

import html.parser
import io
import json
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ConfigError, ShapeError
from chainrule.learn import PRESETS, explain, trace

# Mazur, "A Step by Step Backpropagation Example" (2015): his printed digits, as strings so the
# tolerance is half a unit of his last printed digit.
MAZUR_DIGITS = {
    "net_h1": "0.3775", "out_h1": "0.593269992", "out_h2": "0.596884378", "net_o1": "1.105905967",
    "out_o1": "0.75136507", "out_o2": "0.772928465", "E_o1": "0.274811083", "E_o2": "0.023560026",
    "E_total": "0.298371109", "dE_dout_o1": "0.74136507", "dout_o1_dnet_o1": "0.186815602",
    "dE_dw5": "0.082167041", "w5_new": "0.35891648", "w6_new": "0.408666186", "w7_new": "0.511301270",
    "w8_new": "0.561370121", "dE_dout_h1": "0.036350306", "dout_h1_dnet_h1": "0.241300709",
    "dE_dw1": "0.000438568", "w1_new": "0.149780716", "w2_new": "0.19956143", "w3_new": "0.24975114",
    "w4_new": "0.29950229",
}


def _close_to_printed(value: float, printed: str) -> bool:
    decimals = len(printed.split(".")[1])
    return abs(value - float(printed)) <= 0.5 * 10.0 ** -decimals + 1e-15


def test_mazur_trace_matches_his_published_digits():
    t = trace(*cr.examples.mazur(), **PRESETS["mazur"])
    wrong = {name: (t.values[name], printed) for name, printed in MAZUR_DIGITS.items()
             if not _close_to_printed(t.values[name], printed)}
    assert not wrong
    # His one bias per layer, never updated: the b1 he writes in net_h1 = w1*i1 + w2*i2 + b1*1.
    assert t.values["b1_new"] == 0.35 and t.values["b2_new"] == 0.6


def test_mazur_lines_read_as_in_his_post():
    text = trace(*cr.examples.mazur(), **PRESETS["mazur"]).to_text()
    assert "net_h1 = w1*i1 + w2*i2 + b1*1 = 0.15*0.05 + 0.2*0.1 + 0.35*1 = 0.3775" in text
    assert "out_h1 = 1/(1 + exp(-net_h1)) = 1/(1 + exp(-0.3775)) = 0.593269992" in text
    assert "E_o1 = 1/2*(target_o1 - out_o1)^2" in text
    assert "E_total = E_o1 + E_o2 = " in text
    assert "dE/dw5 = delta_o1*out_h1 = " in text
    assert "delta_o1 = dE/dout_o1*dout_o1/dnet_o1 = dE/dout_o1*out_o1*(1 - out_o1)" in text
    assert "w5+ = w5 - eta*dE/dw5 = 0.4 - 0.5*0.0821670406 = 0.35891648" in text
    assert "dE/dout_h1 = delta_o1*w5 + delta_o2*w7" in text


def test_default_trace_names_per_neuron_biases_and_updates_them():
    t = trace(*cr.examples.mazur())
    assert "net_h1 = w1*i1 + w2*i2 + b_h1*1" in t.to_text()
    # Reference: per-neuron biases move by -lr * delta (numbers from the brief of issue 7).
    assert t.values["b_h1_new"] == pytest.approx(0.3456143227, abs=1e-10)
    assert t.values["b_o2_new"] == pytest.approx(0.6190491183, abs=1e-10)
    assert t.values["E_total_new"] == pytest.approx(0.28047144679143016, rel=1e-12)


def test_trace_leaves_the_network_unchanged():
    net, x, target = cr.examples.mazur()
    before = net.state_dict()
    trace(net, x, target, steps=3)
    assert all(np.array_equal(before[k], v) for k, v in net.state_dict().items())


def test_steps_show_the_error_falling_round_by_round():
    t = trace(*cr.examples.mazur(), steps=4)
    assert [r.number for r in t.rounds] == [1, 2, 3, 4]
    assert np.all(np.diff(t.errors) < 0)
    for rnd in t.rounds:
        assert rnd.values["E_total"] == pytest.approx(t.errors[rnd.number - 1], rel=1e-15)
        assert rnd.values["E_total_new"] == pytest.approx(t.errors[rnd.number], rel=1e-15)
    text = t.to_text()
    assert text.count("== Round") == 4


# ---------------------------------------------------------------- PyTorch float64 reference
def torch_step(net, x, target, loss, lr=0.5):
    """Independent reference: the same net in PyTorch float64, autograd for every derivative."""
    torch = pytest.importorskip("torch")

    acts = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "identity": lambda z: z,
            "softmax": lambda z: torch.softmax(z, dim=-1), "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z),
            "elu": torch.nn.functional.elu}
    t = torch.tensor(target, dtype=torch.float64)
    a = torch.tensor(x, dtype=torch.float64)
    weights, biases, nets, outs = [], [], [], []
    for linear, act in net.layers():
        w = torch.tensor(linear.weight.data, requires_grad=True)
        b = torch.tensor(linear.bias.data, requires_grad=True)
        z = a @ w + b
        z.retain_grad()
        a = acts[act.name if act is not None else "identity"](z)
        a.retain_grad()
        weights.append(w), biases.append(b), nets.append(z), outs.append(a)
    o = outs[-1]
    error = {
        "half_squared_error": lambda: 0.5 * ((t - o) ** 2).sum(),
        "squared_error": lambda: ((t - o) ** 2).sum(),
        "mse": lambda: ((t - o) ** 2).mean(),
        "half_mse": lambda: 0.5 * ((t - o) ** 2).mean(),
        "cross_entropy": lambda: -(t * torch.log(o)).sum(),
        "binary_cross_entropy": lambda: -(t * torch.log(o) + (1 - t) * torch.log(1 - o)).sum(),
    }[loss]()
    error.backward()
    return {
        "E": error.item(),
        "nets": [z.detach().numpy() for z in nets], "outs": [a.detach().numpy() for a in outs],
        "deltas": [z.grad.numpy() for z in nets], "dE_dout": [a.grad.numpy() for a in outs],
        "grad_w": [w.grad.numpy() for w in weights], "grad_b": [b.grad.numpy() for b in biases],
        "new_w": [(w - lr * w.grad).detach().numpy() for w in weights],
        "new_b": [(b - lr * b.grad).detach().numpy() for b in biases],
    }


CASES = [  # (sizes, hidden activation, output activation, loss, target kind)
    ([3, 2], None, "sigmoid", "half_squared_error", "unit"),
    ([2, 3, 2], "tanh", "tanh", "squared_error", "signed"),
    ([3, 4, 3], "relu", "softmax", "cross_entropy", "onehot"),
    ([2, 3, 3, 1], "sigmoid", "identity", "mse", "signed"),
    ([2, 2, 3, 2, 2], "tanh", "sigmoid", "half_mse", "unit"),
    ([3, 2, 2, 2, 2, 3], "softmax", "softmax", "cross_entropy", "onehot"),
    ([2, 3, 2], "leaky_relu", "sigmoid", "binary_cross_entropy", "unit"),
    ([2, 3, 2], "elu", "identity", "half_squared_error", "signed"),
]


def make_case(sizes, hidden, output, kind, seed):
    rng = np.random.default_rng(seed)
    hidden_acts = hidden if isinstance(hidden, list) else [hidden] * (len(sizes) - 2)
    net = cr.MLP(sizes, activation=hidden_acts, output_activation=None if output == "identity" else output,
                 seed=seed)
    for p in net.parameters():
        p.data = rng.normal(0, 0.8, p.shape)
    x = rng.normal(0, 1, (1, sizes[0]))
    if kind == "onehot":
        target = np.eye(sizes[-1])[[rng.integers(sizes[-1])]]
    elif kind == "unit":
        target = rng.uniform(0.05, 0.95, (1, sizes[-1]))
    else:
        target = rng.normal(0, 1, (1, sizes[-1]))
    return net, x, target


@pytest.mark.parametrize("case", range(len(CASES)))
def test_trace_matches_pytorch_float64(case):
    sizes, hidden, output, loss, kind = CASES[case]
    net, x, target = make_case(sizes, hidden, output, kind, seed=case)
    names = "layer" if case % 2 else "auto"
    t = trace(net, x, target, loss=loss, lr=0.3, names=names)
    ref = torch_step(net, x, target, loss, 0.3)
    v, n = t.values, t.names
    assert v[n.total] == pytest.approx(ref["E"], rel=1e-12)
    for layer in range(1, len(sizes)):
        for j in range(sizes[layer]):
            assert v[n.net(layer, j)] == pytest.approx(ref["nets"][layer - 1][0, j], rel=1e-12, abs=1e-14)
            assert v[n.out(layer, j)] == pytest.approx(ref["outs"][layer - 1][0, j], rel=1e-12, abs=1e-14)
            assert v[n.delta(layer, j)] == pytest.approx(ref["deltas"][layer - 1][0, j], rel=1e-9, abs=1e-13)
            assert v[n.dE_dout(layer, j)] == pytest.approx(ref["dE_dout"][layer - 1][0, j], rel=1e-9, abs=1e-13)
            assert v[n.new(n.bias_of(layer, j))] == pytest.approx(ref["new_b"][layer - 1][j], rel=1e-12, abs=1e-14)
            for i in range(sizes[layer - 1]):
                assert v[n.new(n.weight(layer, i, j))] == pytest.approx(ref["new_w"][layer - 1][i, j], rel=1e-12,
                                                                         abs=1e-14)


def test_softmax_delta_line_shows_the_full_jacobian_sum():
    net, x, target = make_case([2, 3, 3], "softmax", "softmax", "onehot", seed=3)
    text = trace(net, x, target, loss="cross_entropy").to_text()
    # Softmax hidden: delta_h1 = sum_i dE/dout_hi * dout_hi/dnet_h1, with dout_hi/dnet_h1 = out_hi (1[i=1] - out_h1).
    line = next(li for li in text.splitlines() if li.strip().startswith("delta_h1 ="))
    assert "dE/dout_h2*dout_h2/dnet_h1" in line and "dE/dout_h3*dout_h3/dnet_h1" in line
    assert "out_h2*(0 - out_h1)" in line and "out_h1*(1 - out_h1)" in line


# ---------------------------------------------------------------- names
def test_names_mazur_needs_a_2_2_2_net_and_can_be_forced_on_any():
    net = cr.MLP([2, 2, 2], activation="tanh", output_activation="sigmoid", seed=0)
    t = trace(net, [0.1, 0.2], [0.3, 0.4], names="mazur")
    assert {"w8", "net_o2", "E_o2", "dE_dw8"} <= set(t.values)
    with pytest.raises(ConfigError, match="2-2-2"):
        trace(cr.MLP([2, 3, 2], seed=0), [0.1, 0.2], [0.3, 0.4], names="mazur")


def test_deeper_nets_extend_mazurs_scheme_with_a_j_layer():
    net = cr.MLP([2, 2, 2, 2], activation="sigmoid", output_activation="sigmoid", seed=0)
    t = trace(net, [0.05, 0.1], [0.01, 0.99])
    assert {"net_h1", "out_j2", "net_o1", "w1", "w12", "dE_dw12", "delta_j1"} <= set(t.values)
    # w5..w8 now feed the j layer, in Mazur's order: w5 = h1->j1, w6 = h2->j1.
    assert t.values["w6"] == net.layers()[1][0].weight.data[1, 0]


def test_trace_refuses_a_batch_and_bad_options():
    net, x, target = cr.examples.mazur()
    with pytest.raises(ShapeError, match="one sample"):
        trace(net, np.vstack([x, x]), np.vstack([target, target]))
    with pytest.raises(ConfigError, match="update"):
        trace(net, x, target, update="backwards")
    with pytest.raises(ConfigError, match="loss"):
        trace(net, x, target, loss="poisson")
    with pytest.raises(ConfigError, match="steps"):
        trace(net, x, target, steps=0)


# ---------------------------------------------------------------- renderings
def test_json_values_name_every_quantity():
    t = trace(*cr.examples.mazur(), **PRESETS["mazur"])
    data = json.loads(t.to_json())
    assert data["values"]["w5_new"] == t.values["w5_new"]
    assert set(data["values"]) >= {"i1", "target_o1", "net_h1", "out_o2", "delta_o1", "w5", "dE_dw5", "w5_new",
                                   "E_total", "E_total_new", "eta"}
    assert data["convention"] == {"update": "simultaneous", "update_biases": False, "bias": "shared"}
    assert data["errors"][0] == t.values["E_total"]


def test_markdown_tables_are_valid():
    from markdown_it import MarkdownIt

    t = trace(*cr.examples.mazur(), steps=12)
    tokens = MarkdownIt("commonmark").enable("table").parse(t.to_markdown())
    tables = [tok for tok in tokens if tok.type == "table_open"]
    rows = [tok for tok in tokens if tok.type == "tr_open"]
    n_lines = sum(len(s.lines) for rnd in t.rounds for s in rnd.sections)
    assert len(tables) == 2 * 6 + 1  # six sections in each of the two rounds shown, one summary
    assert len(rows) == n_lines + 2 * 6 + len(t.summary_rows()[1]) + 1  # data rows + header rows


def test_latex_lines_parse_with_mathtext():
    from matplotlib.mathtext import MathTextParser

    parser = MathTextParser("path")
    net, x, target = make_case([2, 3, 3, 2], "tanh", "softmax", "onehot", seed=5)
    for t in (trace(*cr.examples.mazur(), **PRESETS["mazur"]), trace(net, x, target, loss="cross_entropy",
                                                                        names="layer")):
        document = t.to_latex()
        rows = [row for row in document.splitlines() if row.strip().endswith("\\\\") or "&=" in row]
        lines = [row for row in rows if row.startswith("  ") and not row.startswith("   ")]
        assert len(lines) == len(t.latex_lines())  # long lines continue on rows indented further
        for row in rows:
            math = row.split("%")[0].strip().removesuffix("\\\\").replace("&=", "=").replace("&\\quad", "")
            parser.parse(f"${math}$")
        assert document.count(r"\begin{align*}") == document.count(r"\end{align*}") == 6


class _Balanced(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack = []

    def handle_starttag(self, tag, attrs):
        if tag != "br":
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack.pop() == tag


def test_html_is_balanced_and_escaped():
    t = trace(*cr.examples.mazur(), steps=12)
    checker = _Balanced()
    checker.feed(t._repr_html_())
    assert checker.stack == []
    assert "<code>net_h1</code>" in t._repr_html_()


def test_rich_tables_and_the_plain_text_fallback(monkeypatch, capsys):
    from rich.console import Console

    t = trace(*cr.examples.mazur(), **PRESETS["mazur"])
    console = Console(file=io.StringIO(), width=200, record=True)
    t.print(console)
    shown = console.export_text()
    assert "w1*i1 + w2*i2 + b1*1" in shown and "0.35891648" in shown
    monkeypatch.setitem(sys.modules, "rich.console", None)
    t.print()
    assert capsys.readouterr().out.strip() == t.to_text().strip()


def test_chainrule_exports_the_tools_lazily_and_imports_numpy_alone():
    import subprocess

    code = ("import sys, chainrule as cr; assert 'chainrule.learn' not in sys.modules; "
            "t = cr.trace(*cr.examples.mazur()); cr.explain, cr.check; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sympy', 'rich', 'matplotlib', 'scipy', 'torch'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_aliases_show_in_trace_and_explain_and_a_collision_is_named():
    net, x, target = cr.examples.mazur()
    t = trace(net, x, target, bias="shared", update_biases=False, aliases={"y": "target_o1", "z1": "out_o1"})
    text = t.to_text()
    assert "your names: y = target_o1, z1 = out_o1" in text and "E_o1 = 1/2*(y - z1)^2" in text
    assert t.values["out_o1"] == pytest.approx(0.75136507, abs=1e-8)
    d = explain(net, "w5", x, target, bias="shared", aliases={"w6": "w5"})
    assert "your alias w6 for w5 is also the name of w6; here w6 means w5 (your alias wins)" in d.to_text()
