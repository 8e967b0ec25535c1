"""Every rendering of the learner tools is usable: LaTeX compiles with pdflatex, HTML is short, CLI exit codes.

The LaTeX outputs of trace, explain, check and check_rule, in Mazur's names and in
Learning From Data's, are put in one document and compiled by a real pdflatex (skipped
where it is not installed; CI installs texlive-latex-base).
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.learn import check, explain, trace
from test_trace import make_case

PREAMBLE = "\\documentclass{article}\n\\usepackage{amsmath}\n\\usepackage[margin=1cm]{geometry}\n\\begin{document}\n"


def _fragments():
    net, x, t = cr.examples.mazur()
    tanh, xt, tt = make_case([2, 3, 1], "tanh", "tanh", "signed", seed=2)
    yield trace(net, x, t, bias="shared", update_biases=False).to_latex()
    yield trace(tanh, xt, tt, loss="squared_error", names="layer").to_latex()
    yield explain(net, "w1", x, t, bias="shared").to_latex()
    yield explain(tanh, "w_11^(1)", xt, tt, loss="squared_error", names="layer").to_latex()
    yield check(net, "w1", r"\frac{\partial E_{total}}{\partial out_{h1}} \cdot out_{h1}(1 - out_{h1}) \cdot i_1", x, t,
                bias="shared").to_latex()
    yield check(net, "w1", "sum_k delta_ok*w_{h1,ok}*sigma'(net_h1)*i2 + 1_{i=j}*0", x, t, bias="shared").to_latex()
    yield check(tanh, "delta_1^(L)", "(x_1^(L) - y_n)*(1 - (x_1^(L))^2)", xt, tt, loss="squared_error",
                names="layer").to_latex()
    yield check(net, "w1", "dh1/dw1*dw7/dh1*do2/dw7*dE/do2", x, t, bias="shared").to_latex()


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_outputs_compile_with_pdflatex(tmp_path):
    document = PREAMBLE + "\n\n".join(_fragments()) + "\n\\end{document}\n"
    (tmp_path / "out.tex").write_text(document)
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "out.tex"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "out.pdf").stat().st_size > 1000


def test_explain_latex_prints_the_parameters_remark_as_text():
    net, x, t = cr.examples.mazur()
    latex = explain(net, "w1", x, t, bias="shared").to_latex()
    assert latex.startswith("\\noindent Parameters") and "constants during one forward and backward pass" in latex


def test_verdict_html_is_a_short_readable_summary():
    net, x, t = cr.examples.mazur()
    verdict = check(net, "w1", "delta_o1*w5*out_h1*(1 - out_h1)*i1", x, t, bias="shared")
    page = verdict._repr_html_()
    assert len(page) < 2000 and "missing_paths" in page and "not correct" in page
    assert len(repr(verdict)) < 300


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_check_exit_codes_and_json(capsys):
    code, out, _ = run(capsys, "check", "w1", "delta_h1*i1", "--example", "mazur")
    assert code == 0 and "holds for all weights and inputs" in out
    code, out, _ = run(capsys, "check", "w1", "delta_h1*i2", "--example", "mazur", "--format", "json")
    assert code == 1 and json.loads(out)["mistake"] == "other_quantity"
    code, out, err = run(capsys, "check", "w1", "3^-9^9", "--example", "mazur")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "below floating point" in err
    code, _, err = run(capsys, "check", "w5", "x", "--example", "mazur", "--alias", "x=out_o1", "--alias", "x=w5")
    assert code == 2 and "given twice" in err
    code, out, _ = run(capsys, "check", "w5", "(w5 - w5_new)/eta", "--example", "mazur", "--format", "json")
    assert code == 1 and json.loads(out)["mistake"] == "circular"


def test_check_and_trace_share_the_learning_rate(capsys):
    code, out, _ = run(capsys, "trace", "--example", "mazur", "--lr", "0.1", "--format", "json")
    traced = json.loads(out)
    w5_new = next(v for k, v in _flatten(traced) if k == "w5_new")
    code, out, _ = run(capsys, "check", "w5", "w5_new", "--example", "mazur", "--lr", "0.1", "--format", "json")
    assert json.loads(out)["eta"] == 0.1
    assert json.loads(out)["got"] == pytest.approx(w5_new, rel=1e-9)


def _flatten(data, key=None):
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _flatten(v, k)
    elif isinstance(data, list):
        for v in data:
            yield from _flatten(v, key)
    else:
        yield key, data


def test_explain_through_groups_the_paths(capsys):
    code, out, _ = run(capsys, "explain", "w1", "--layers", "2,2,2,2", "--activation", "sigmoid", "--x", "0.1,0.2",
                       "--target", "0.3,0.7", "--through", "j1,j2")
    assert code == 0 and "dE_j1/dw1 = [" in out and "dE_j2/dw1 = [" in out
    code, _, err = run(capsys, "explain", "w1", "--layers", "2,2,2,2", "--activation", "sigmoid", "--x", "0.1,0.2",
                       "--target", "0.3,0.7", "--through", "q7")
    assert code == 2 and "passes" in err


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_long_sums_break_across_lines_and_compile(tmp_path):
    net, x, t = make_case([2, 2, 2, 2], "sigmoid", "sigmoid", "unit", seed=0)
    latex = explain(net, "w1", x, t).to_latex()
    assert "&\\quad + " in latex
    (tmp_path / "long.tex").write_text(PREAMBLE + latex + "\n\\end{document}\n")
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "long.tex"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Overfull \\hbox (1" not in result.stdout  # no line runs 100pt or more past the margin
