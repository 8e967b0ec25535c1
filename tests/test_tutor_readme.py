"""The README's learner commands are run and their output compared, so the README cannot drift."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from chainrule.cli import main

REPO = Path(__file__).resolve().parents[1]
MARKER = "<!-- the commands and outputs below are run and compared by tests/test_tutor_readme.py -->"


def _examples() -> list[tuple[str, str]]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert MARKER in readme
    block = re.search(r"```console\n(.*?)```", readme.split(MARKER, 1)[1], re.S).group(1)
    examples = []
    for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
        command, _, output = chunk.partition("\n")
        examples.append((command, output))
    return examples


EXAMPLES = _examples()


def test_the_readme_shows_a_latex_formula_checked_and_wrong_ones_with_their_mistake_keys():
    outputs = [output for _, output in EXAMPLES]
    assert any(": correct: it holds for all weights and inputs" in o for o in outputs)
    assert {m for o in outputs for m in re.findall(r"mistake \((\w+)\)", o)} >= {"double_counted",
                                                                                "parameter_as_function"}
    assert all(r"\frac{\partial" in command for command, _ in EXAMPLES)


@pytest.mark.parametrize("command, output", EXAMPLES, ids=[f"example{k}" for k in range(len(EXAMPLES))])
def test_each_readme_command_prints_what_the_readme_shows(capsys, command, output):
    argv = shlex.split(command)
    assert argv[0] == "chainrule"
    code = main(argv[1:])
    printed = capsys.readouterr().out
    assert printed == output
    assert code == (0 if ": correct:" in output.splitlines()[0] else 1)
