"""Run the examples the user documentation shows, so the docs cannot drift from the code.

Sources: README.md (all of it except its "For learners" section, which is left out here) and
docs/*.md except docs/learn.md. What is checked:

* every fenced ``python`` block runs, in a fresh namespace in a temporary directory, and prints
  the plain fenced block shown right after it, if any (an error line ``module.Error: message``
  there means the example must raise exactly that); ``print(...)  # 0.98`` promises the numbers
  that line prints;
* a ``bash`` block of ``chainrule ...`` commands followed by a plain block, and a plain block of
  ``$ chainrule ...`` lines with output, are run (``python -m chainrule``) and the output compared
  line by line, timing figures (seconds) masked on both sides;
* every ``chainrule ...`` line shown anywhere parses with the command's own parser;
* README's first block, its demo figures, its project layout and training.md's model-file header.

Markers, an HTML comment on the line before a block: ``<!-- skip: REASON -->`` (not run, the
reason says why), ``<!-- needs: mnist -->`` (run when the real data is in
``$CHAINRULE_TEST_DATA``, by default ../shared/data), ``<!-- continues -->`` (run in the namespace
the file's previous Python block left). An example needing an optional package that is missing
(PyTorch is not in the [test] extra) is skipped with that reason.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
SHARED_DATA = Path(os.environ.get("CHAINRULE_TEST_DATA", ROOT.parent / "shared" / "data"))
LEARNER_SECTION = "## For learners"

FENCE = re.compile(r"^```(\w*)\s*$")
MARKER = re.compile(r"^<!--\s*(skip|needs|continues)(?::\s*(.*?))?\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block of a Markdown file: its language, text and first line number (1-based)."""

    path: Path
    line: int
    lang: str
    text: str
    marker: tuple[str, str] | None

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _user_lines(path: Path) -> list[tuple[int, str]]:
    """The file's (line number, line) pairs, without README's learner section."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[tuple[int, str]] = []
    skipping = False
    for number, line in enumerate(lines, 1):
        if line.startswith("## "):
            skipping = path.name == "README.md" and line.strip() == LEARNER_SECTION
        if not skipping:
            out.append((number, line))
    return out


def blocks(path: Path) -> list[Block]:
    """Every fenced block of `path` (README without its learner section), in order."""
    found: list[Block] = []
    lines = _user_lines(path)
    i = 0
    marker: tuple[str, str] | None = None
    while i < len(lines):
        number, line = lines[i]
        m = MARKER.match(line)
        if m:
            marker = (m.group(1), m.group(2) or "")
            i += 1
            continue
        f = FENCE.match(line)
        if f:
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i][1].startswith("```"):
                body.append(lines[i][1])
                i += 1
            found.append(Block(path, number, f.group(1), "\n".join(body) + "\n", marker))
            marker = None
        elif line.strip():
            marker = None
        i += 1
    return found


DOCS = [ROOT / "README.md"] + sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "learn.md")
ALL_BLOCKS = [b for p in DOCS for b in blocks(p)]


def _transcript(block: Block) -> tuple[Block, Block]:
    """A plain block that starts with ``$ chainrule ...`` lines: split into commands and output."""
    lines = block.text.splitlines()
    n = 0
    while n < len(lines) and lines[n].startswith("$ "):
        n += 1
    commands = Block(block.path, block.line, "bash", "\n".join(ln[2:] for ln in lines[:n]) + "\n", block.marker)
    return commands, Block(block.path, block.line + n, "", "\n".join(lines[n:]) + "\n", None)


def _command_examples() -> list[tuple[Block, Block]]:
    """(bash block of chainrule commands, plain block of their output) pairs, and transcripts."""
    pairs = [_transcript(b) for b in ALL_BLOCKS if b.lang == "" and b.text.startswith("$ chainrule ")]
    for before, after in zip(ALL_BLOCKS, ALL_BLOCKS[1:], strict=False):
        if (
            before.lang in ("bash", "sh")
            and after.lang == ""
            and after.path == before.path
            and any(c.startswith("chainrule ") for c in _commands(before))
        ):
            pairs.append((before, after))
    return pairs


def _commands(block: Block) -> list[str]:
    return [ln.split("  #")[0].strip() for ln in block.text.splitlines() if ln.strip() and not ln.startswith("#")]


def _check_marker(block: Block) -> None:
    if block.marker is None:
        return
    kind, reason = block.marker
    if kind == "skip":
        pytest.skip(reason)
    if kind == "needs" and not (SHARED_DATA / reason).exists():
        pytest.skip(f"needs {SHARED_DATA / reason}")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env["MPLBACKEND"] = "Agg"
    env["COLUMNS"] = "200"
    return env


PYTHON_BLOCKS = [b for b in ALL_BLOCKS if b.lang == "python"]
_NAMESPACES: dict[str, tuple[dict, str]] = {}
_PRINTED: dict[str, dict[int, str]] = {}
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def _previous_python(block: Block) -> Block:
    same = [b for b in PYTHON_BLOCKS if b.path == block.path and b.line < block.line]
    assert same, f"{block.id}: marked 'continues' but no Python block comes before it"
    return same[-1]


def _run_python(block: Block) -> tuple[dict, str]:
    """Run `block` (after the blocks it continues) and return its namespace and what it printed."""
    if block.id in _NAMESPACES:
        return _NAMESPACES[block.id]
    namespace: dict = {"__name__": "__docs__"}
    if block.marker is not None and block.marker[0] == "continues":
        namespace = dict(_run_python(_previous_python(block))[0])
    buffer = io.StringIO()
    _PRINTED[block.id] = printed = {}

    def recording_print(*args: object, **kwargs: object) -> None:
        """print, remembering which line of the example printed what."""
        line = sys._getframe(1).f_lineno
        text = io.StringIO()
        print(*args, **{**kwargs, "file": text})  # type: ignore[arg-type]
        printed[line] = printed.get(line, "") + text.getvalue()
        print(*args, **kwargs)  # type: ignore[arg-type]

    namespace["print"] = recording_print
    code = compile(block.text, block.id, "exec")
    try:  # NumPy's default error handling, as a user has it, not the suite's strict one
        user_numerics = np.errstate(divide="warn", over="warn", invalid="warn", under="ignore")
        with contextlib.redirect_stdout(buffer), user_numerics:
            exec(code, namespace)  # noqa: S102 - the documentation's own example
    except Exception as error:  # noqa: BLE001 - an example may show the error it raises
        kind = type(error)
        buffer.write(f"{kind.__module__}.{kind.__qualname__}: {error}\n")
        _NAMESPACES[block.id] = (namespace, buffer.getvalue())
        raise
    _NAMESPACES[block.id] = (namespace, buffer.getvalue())
    return _NAMESPACES[block.id]


# What an example's text uses -> the optional package it needs (the [test] extra has all but torch).
OPTIONAL = [
    (("to_torch", "from_torch", "import torch"), "torch"),
    (("to_onnx", "skl2onnx"), "onnx"),
    (("skl2onnx",), "skl2onnx"),
    (("chainrule.plot", "draw_network"), "matplotlib"),
    (("chainrule.sklearn", "sklearn."), "sklearn"),
    (("mpi4py",), "mpi4py"),
    (("dask",), "dask.distributed"),
]


def _chain_text(block: Block) -> str:
    """The text of `block` and of the blocks it continues."""
    if block.marker is not None and block.marker[0] == "continues":
        return _chain_text(_previous_python(block)) + block.text
    return block.text


def _shown_output(block: Block) -> Block | None:
    """The plain fenced block right after `block` in the same file: the output the docs show."""
    index = ALL_BLOCKS.index(block)
    after = ALL_BLOCKS[index + 1] if index + 1 < len(ALL_BLOCKS) else None
    if after is not None and after.path == block.path and after.lang == "" and after.marker is None:
        return after
    return None


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.id for b in PYTHON_BLOCKS])
def test_python_example_runs(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each Python example runs as written and prints the output shown after it, if any.

    A block runs in a fresh namespace unless marked ``<!-- continues -->``: then it runs in the
    namespace the file's previous Python block left. An example whose shown output is an error
    line (``module.Error: message``) must raise exactly that error.
    """
    _check_marker(block)
    for uses, module in OPTIONAL:
        if any(u in _chain_text(block) for u in uses):
            found = pytest.importorskip(module, reason=f"the example needs {module}, an optional dependency")
            if module == "matplotlib":
                found.use("Agg")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    shown = _shown_output(block)
    expects_error = shown is not None and re.match(r"^[\w.]+(Error|Exception): ", shown.text.strip().splitlines()[-1])
    try:
        _, printed = _run_python(block)
    except Exception:
        if not expects_error:
            raise
        printed = _NAMESPACES[block.id][1]
    if shown is not None:
        assert _normalise(printed) == _normalise(shown.text)
    _check_print_comments(block)


def _check_print_comments(block: Block) -> None:
    """``print(...)  # 0.98`` promises what that line prints: each number of the comment must be
    the printed number at that line, or that number rounded to the comment's decimals.

    A comment with words the line does not print ("accuracy on the held-out 10%") describes
    rather than shows the output, and is not checked.
    """
    for number, line in enumerate(block.text.splitlines(), 1):
        code, _, comment = line.partition("  #")
        if not code.strip().startswith("print(") or not NUMBER.search(comment):
            continue
        printed = _PRINTED[block.id].get(number)
        assert printed is not None, f"{block.id}: line {number} printed nothing"
        shown = comment.split("=")[-1]
        if any(word not in printed for word in re.findall(r"[A-Za-z]{3,}", shown)):
            continue
        values = [float(v) for v in NUMBER.findall(printed)]
        for promised in NUMBER.findall(shown):
            decimals = len(promised.partition(".")[2]) if "e" not in promised else None
            ok = any(
                v == float(promised) or (decimals is not None and round(v, decimals) == float(promised))
                for v in values
            )
            assert ok, f"{block.id}: line {number} promises {promised}, printed {printed.strip()!r}"


TIMING = re.compile(r"\d+(\.\d+)?(?=\s*s\b)")


def _normalise(text: str) -> list[str]:
    """Output lines with timing figures masked: the last column of the epoch table and 'in N s'."""
    out = []
    for line in text.strip().splitlines():
        line = TIMING.sub("<t>", line.rstrip())
        if re.match(r"^\s*\d+(\s+\S+){3,}$", line):  # an epoch table row: its last column is seconds
            line = re.sub(r"\S+$", "<t>", line)
        out.append(line)
    return out


PAIRS = _command_examples()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("docs_commands")


@pytest.mark.parametrize("pair", PAIRS, ids=[b.id for b, _ in PAIRS])
def test_command_output_matches(pair: tuple[Block, Block], workdir: Path) -> None:
    """The chainrule commands shown print what the docs show (timings aside).

    The commands of one file share a directory, so `evaluate` reads what `train` wrote before it.
    """
    tmp_path = workdir / pair[0].path.name
    tmp_path.mkdir(exist_ok=True)
    commands, shown = pair
    _check_marker(commands)
    printed = []
    for line in _commands(commands):
        assert line.startswith("chainrule "), f"{commands.id}: not a chainrule command: {line}"
        argv = [sys.executable, "-m", "chainrule", *shlex.split(line)[1:]]
        run = subprocess.run(
            argv, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60
        )
        assert run.returncode == 0, f"{line}\n{run.stdout}"
        printed.append(run.stdout)
    assert _normalise("".join(printed)) == _normalise(shown.text)


def _every_command_line() -> list[tuple[str, str]]:
    """(where, command) for every ``chainrule ...`` line shown in a code block or indented."""
    found = []
    for path in DOCS:
        in_block = False
        joined: list[tuple[int, str]] = []
        for number, line in _user_lines(path):  # join lines continued with a backslash
            if joined and joined[-1][1].endswith("\\"):
                joined[-1] = (joined[-1][0], joined[-1][1][:-1] + " " + line.strip())
            else:
                joined.append((number, line))
        for number, line in joined:
            in_block ^= line.startswith("```")
            text = line.strip().removeprefix("$ ")
            if (in_block or line.startswith("    ")) and text.startswith("chainrule "):
                found.append((f"{path.relative_to(ROOT)}:{number}", text.split("  #")[0].strip()))
    return found


COMMAND_LINES = _every_command_line()


@pytest.mark.parametrize("where, command", COMMAND_LINES, ids=[w for w, _ in COMMAND_LINES])
def test_every_command_shown_parses(where: str, command: str) -> None:
    """Every command line the docs show, run or not (real data, servers), has flags the CLI accepts."""
    from chainrule.cli import build_parser

    argv = [a for a in shlex.split(command)[1:] if a not in ("...", "&&")]
    try:
        build_parser().parse_args(argv)
    except SystemExit as stop:
        pytest.fail(f"{where}: {command!r} is refused by the parser (exit {stop.code})")


def test_readme_opens_with_the_two_commands() -> None:
    """README's first block is exactly the install-and-demo line and the line CI runs."""
    first = ALL_BLOCKS[0]
    assert first.path.name == "README.md" and first.lang == "bash"
    assert first.text.splitlines() == [
        "pip install -e . && chainrule demo",
        'pip install -e ".[test]" && python -m ruff check src tests benchmarks && python -m pytest',
    ]


def test_readme_demo_figures_are_what_the_demo_prints(tmp_path: Path) -> None:
    """The figures README's opening quotes from `chainrule demo` are in its output."""
    opening = (ROOT / "README.md").read_text(encoding="utf-8").split("## Install")[0]
    run = subprocess.run([sys.executable, "-m", "chainrule", "demo"], cwd=tmp_path, env=_env(),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    quoted = re.findall(r"(E_total|w5\+|w1\+) = (\d\.\d+)", opening)
    assert len(quoted) >= 3
    for name, value in quoted:
        assert value in run.stdout, f"README quotes {name} = {value}; the demo prints no such figure"
    after = re.search(r"E_total = (\d\.\d+) after the step", opening)
    assert after is not None and f"after the step: E_total = {after.group(1)}" in run.stdout
    accuracy = re.search(r"reaching ([\d.]+)% on (\d+) test images", opening)
    assert accuracy is not None
    assert f"test accuracy {accuracy.group(1)}% " in run.stdout and f"of {accuracy.group(2)} images" in run.stdout


def test_readme_lists_every_subcommand() -> None:
    """README's sentence listing the subcommands names exactly those the command has."""
    import argparse

    from chainrule.cli import build_parser

    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    sentence = re.search(r"has the subcommands (.*?);", text)
    assert sentence is not None
    listed = set(re.findall(r"`(\w+)`", sentence.group(1)))
    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert listed == set(actions[0].choices)


def test_model_file_metadata_shown_is_what_save_writes(tmp_path: Path) -> None:
    """docs/training.md's JSON header is the metadata `save` writes for the network it describes."""
    import json

    from safetensors import safe_open

    import chainrule as cr

    shown = [b for b in ALL_BLOCKS if b.lang == "json" and '"format": "chainrule"' in b.text]
    assert len(shown) == 1
    net = cr.MLP([784, 128, 10], activation="relu", dropout=0.2, seed=0, dtype="float32")
    cr.save(net, tmp_path / "m.safetensors")
    with safe_open(str(tmp_path / "m.safetensors"), "np") as handle:
        written = json.loads(handle.metadata()["chainrule"])
    assert written == json.loads(shown[0].text)


def test_project_layout_lists_every_module() -> None:
    """README's project layout names every public module and package of src/chainrule, and only those."""
    layout = next(b for b in ALL_BLOCKS if b.path.name == "README.md" and b.text.startswith("src/chainrule/"))
    listed = {m.group(1) for m in re.finditer(r"^  (\w+(?:\.py|/))\s", layout.text, re.MULTILINE)}
    package = SRC / "chainrule"
    present = {
        p.name + ("/" if p.is_dir() else "")
        for p in package.iterdir()
        if not p.name.startswith("_") and (p.suffix == ".py" or (p / "__init__.py").exists() or p.name == "data")
    }
    assert listed == present


def test_examples_found() -> None:
    """The extractor sees the examples (a broken parser would otherwise pass vacuously)."""
    assert len(PYTHON_BLOCKS) >= 20
    assert len(PAIRS) >= 2
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index(LEARNER_SECTION) + 1
    end = next(n for n in range(start, len(lines)) if lines[n].startswith("## ")) + 1
    readme = [b.line for b in ALL_BLOCKS if b.path.name == "README.md"]
    assert any(n < start for n in readme) and any(n > end for n in readme)
    assert not any(start < n < end for n in readme), "the learner section is left out"
