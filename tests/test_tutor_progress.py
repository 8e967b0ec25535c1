"""chainrule trace --steps N: progress on standard error for long runs, nothing for short ones."""

from __future__ import annotations

import io
import sys

from chainrule.cli import main
from chainrule.cli.learn import PROGRESS_STEPS, _Progress
from chainrule.examples import mazur
from chainrule.learn import trace


def test_a_long_trace_reports_each_quarter_on_stderr_and_a_short_one_nothing(capsys):
    assert main(["trace", "--example", "mazur", "--steps", str(PROGRESS_STEPS), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        f"trace: round {PROGRESS_STEPS * q // 4:,} of {PROGRESS_STEPS:,}" for q in (1, 2, 3, 4)]
    assert "progress" not in out and out.lstrip().startswith("{")  # stdout stays the result alone
    assert main(["trace", "--example", "mazur", "--steps", "50"]) == 0
    assert capsys.readouterr().err == ""


def test_the_error_reported_is_the_traces_own():
    seen = []
    net, x, target = mazur()
    run = trace(net, x, target, steps=20, bias="shared", update_biases=False,
                progress=lambda r, n, e: seen.append((r, n, e)))
    assert [r for r, _, _ in seen] == list(range(1, 21)) and {n for _, n, _ in seen} == {20}
    assert [e for _, _, e in seen] == list(run.errors[:-1])


def test_on_a_terminal_a_rich_bar_on_stderr(monkeypatch):
    stream = io.StringIO()
    stream.isatty = lambda: True
    monkeypatch.setattr(sys, "stderr", stream)
    progress = _Progress(PROGRESS_STEPS)
    assert progress.bar is not None
    for r in range(1, PROGRESS_STEPS + 1):
        progress(r, PROGRESS_STEPS, 0.5)
    progress.close()
    assert progress.bar.tasks[0].completed == PROGRESS_STEPS
    assert _Progress(PROGRESS_STEPS - 1).bar is None
