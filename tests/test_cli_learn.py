"""chainrule trace / explain / check on the command line: formats, network sources, exit codes."""

from __future__ import annotations

import json

import pytest

import chainrule as cr
from chainrule.cli import main

MAZUR_FLAGS = ["--layers", "2,2,2", "--activation", "sigmoid", "--output-activation", "sigmoid",
               "--weights", "0.15,0.2,0.25,0.3,0.4,0.45,0.5,0.55", "--biases", "0.35,0.6",
               "--x", "0.05,0.1", "--target", "0.01,0.99"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_trace_json_maps_every_ascii_name_to_its_number(capsys):
    code, out, err = run(capsys, "trace", "--example", "mazur", "--format", "json")
    assert code == 0 and err == ""
    data = json.loads(out)
    # Mazur's digits; --example mazur brings his conventions: b1, b2 shared and never updated.
    assert data["values"]["w5_new"] == pytest.approx(0.35891648, abs=5e-9)
    assert data["values"]["w1_new"] == pytest.approx(0.149780716, abs=5e-10)
    assert data["values"]["b1_new"] == 0.35
    assert data["convention"] == {"update": "simultaneous", "update_biases": False, "bias": "shared"}
    assert "--example mazur" in data["convention_origin"]


def test_flags_build_mazurs_network(capsys):
    _, from_flags, _ = run(capsys, "trace", *MAZUR_FLAGS, "--bias", "shared", "--no-update-biases", "--format", "json")
    _, example, _ = run(capsys, "trace", "--example", "mazur", "--format", "json")
    assert json.loads(from_flags)["values"] == json.loads(example)["values"]


def test_trace_10000_steps_reproduces_every_mazur_figure_with_its_convention(capsys):
    code, out, _ = run(capsys, "trace", "--example", "mazur", "--steps", "10000", "--update", "sequential")
    assert code == 0
    assert out.count("== Round") == 2  # a summary, not 10,000 traces
    assert "E after 1 update with the sequential update: 0.291027924 (simultaneous: 0.291027774)" in out
    assert "after 9,999 simultaneous updates: 3.51085481e-5" in out
    assert "after 10000 updates (sequential): out_o1 = 0.0159121963, out_o2 = 0.984065734" in out
    assert "--update" in out.splitlines()[0]


def test_trace_formats(capsys):
    for fmt, marker in (("markdown", "| quantity | formula |"), ("latex", r"\begin{align*}"), ("text", "== Round 1")):
        code, out, _ = run(capsys, "trace", "--example", "mazur", "--format", fmt, "--names", "layer")
        assert code == 0 and marker in out


def test_trace_reads_a_saved_model(capsys, tmp_path):
    net, _, _ = cr.examples.mazur()
    path = cr.save(net, tmp_path / "mazur.safetensors")
    code, out, _ = run(capsys, "trace", "--model", str(path), "--x", "0.05,0.1", "--target", "0.01,0.99",
                       "--format", "json")
    assert code == 0 and json.loads(out)["values"]["out_o1"] == pytest.approx(0.75136507, abs=5e-9)


def test_explain_and_check(capsys):
    code, out, _ = run(capsys, "explain", "w1", "--example", "mazur")
    assert code == 0 and "dE/dw1 = delta_h1*i1" in out and "agree" in out
    code, out, _ = run(capsys, "check", "w5", "(out_o1 - target_o1)*out_o1*(1 - out_o1)*out_h1", "--example", "mazur")
    assert code == 0 and "correct" in out
    code, out, _ = run(capsys, "check", "w1", "delta_o1*w5*out_h1*(1 - out_h1)*i1", "--example", "mazur",
                       "--format", "json")
    assert code == 1 and "missing" in json.loads(out)["hint"]
    code, out, _ = run(capsys, "check", "delta_o1", "2(x - y)(1 - x^2)", "--layers", "2,1",
                       "--output-activation", "tanh", "--weights", "0.3,-0.2", "--biases", "0.1",
                       "--x", "0.5,1", "--target", "0.2",
                       "--loss", "squared_error", "--alias", "x=out_o1", "--alias", "y=target_o1")
    assert code == 0, out


@pytest.mark.parametrize("argv, words", [
    (["trace", "--layers", "2,2"], "--x and --target"),
    (["trace", "--example", "mazur", "--loss", "poisson"], "losses"),
    (["trace", "--example", "mazur", "--steps", "0"], "steps"),
    (["trace", "--layers", "2,3,2", "--x", "1,2", "--target", "0,1", "--names", "mazur"], "2-2-2"),
    (["trace", "--layers", "2,2", "--x", "1,2,3", "--target", "0,1"], "shape"),
    (["trace", "--example", "mazur", "--update", "sideways"], "invalid choice"),
    (["check", "w5", "foo*2", "--example", "mazur"], "unknown name 'foo'"),
    (["check", "w5", "out_o1.real", "--example", "mazur"], "not allowed"),
    (["check", "w5", "x", "--example", "mazur", "--alias", "x"], "NAME=QUANTITY"),
    (["explain", "w99", "--example", "mazur"], "unknown quantity"),
    (["trace", "--model", "no/such/file.safetensors", "--x", "1", "--target", "1"], "no/such/file"),
])
def test_bad_input_is_one_line_and_exit_code_2(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err and "Traceback" not in err
