"""chainrule trace --steps N: progress on a terminal's stderr for long runs, nothing for short ones or pipes."""

from __future__ import annotations

import io
import sys

from chainrule.cli import main
from chainrule.cli.learn import PROGRESS_STEPS, _Progress
from chainrule.examples import mazur
from chainrule.learn import trace


def _terminal(monkeypatch) -> io.StringIO:
    stream = io.StringIO()
    stream.isatty = lambda: True
    monkeypatch.setattr(sys, "stderr", stream)
    return stream


def test_without_rich_a_long_trace_reports_each_quarter_and_a_short_one_nothing(monkeypatch, capsys):
    stream = _terminal(monkeypatch)
    monkeypatch.setitem(sys.modules, "rich.progress", None)  # no rich: lines instead of a bar
    assert main(["trace", "--example", "mazur", "--steps", str(PROGRESS_STEPS), "--format", "json"]) == 0
    lines = stream.getvalue().strip().splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        f"trace: round {PROGRESS_STEPS * q // 4:,} of {PROGRESS_STEPS:,}" for q in (1, 2, 3, 4)]
    assert capsys.readouterr().out.lstrip().startswith("{")  # stdout stays the result alone
    stream.truncate(0)
    assert main(["trace", "--example", "mazur", "--steps", "50"]) == 0
    assert stream.getvalue() == ""


def test_nothing_into_a_pipe(capsys):
    assert main(["trace", "--example", "mazur", "--steps", str(PROGRESS_STEPS), "--format", "json"]) == 0
    assert capsys.readouterr().err == ""


def test_the_error_reported_is_the_traces_own():
    seen = []
    net, x, target = mazur()
    run = trace(net, x, target, steps=20, bias="shared", update_biases=False,
                progress=lambda r, n, e: seen.append((r, n, e)))
    assert [r for r, _, _ in seen] == list(range(1, 21)) and {n for _, n, _ in seen} == {20}
    assert [e for _, _, e in seen] == list(run.errors[:-1])


def test_on_a_terminal_a_rich_bar(monkeypatch):
    _terminal(monkeypatch)
    progress = _Progress(PROGRESS_STEPS)
    assert progress.bar is not None
    for r in range(1, PROGRESS_STEPS + 1):
        progress(r, PROGRESS_STEPS, 0.5)
    progress.close()
    assert progress.bar.tasks[0].completed == PROGRESS_STEPS
    assert _Progress(PROGRESS_STEPS - 1).bar is None
