"""Honest results and messages: non-finite predictions, bad flag values, strings from files.

Predictions that are NaN or infinite end predict and evaluate with exit code 2 naming
how many rows; a negative seed, an empty delimiter or negative digits are one line; a
CSV header with terminal escapes or a 20 MB column name is shown escaped and cut.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main

from .conftest import blobs, write_csv


def _error_line(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err
    [line] = err.splitlines()
    return line


# ------------------------------------------------------------------ predictions that are not finite
@pytest.fixture
def overflowing(tmp_path: Path) -> tuple[Path, Path]:
    """A float32 relu model whose sums overflow to inf on 3 of 30 rows (inputs near float32's maximum)."""
    net = cr.MLP([3, 4, 3], activation="relu", seed=0, dtype="float32")
    for p in net.parameters():
        p.data[...] = 1.0
    model = cr.save(net, tmp_path / "model.safetensors")
    x, y = blobs()
    x[[3, 11, 20]] = 3e38
    rows = [",".join(f"{v:.9g}" for v in row) + f",{label}" for row, label in zip(x, y)]
    return model, write_csv(tmp_path / "t.csv", "a,b,c,y", rows)


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_non_finite_predictions_exit_2_naming_the_rows(overflowing, capsys, command: str) -> None:
    model, table = overflowing
    with np.errstate(over="ignore", invalid="ignore"):
        expected = cr.predict(cr.load(model), np.loadtxt(table, delimiter=",", skiprows=1)[:, :3].astype(np.float32))
    bad = int((~np.isfinite(expected).all(axis=1)).sum())
    assert bad == 3  # the reference: the network itself overflows on exactly those rows
    line = _error_line(capsys, [command, str(model), "--csv", str(table), "--target", "y"])
    assert "NaN or infinite outputs for 3 of 30 rows" in line and "first is row 4" in line


def test_finite_predictions_still_succeed(overflowing, tmp_path: Path, capsys) -> None:
    model, _ = overflowing
    x, y = blobs()
    table = write_csv(tmp_path / "ok.csv", "a,b,c", [",".join(f"{v:.4f}" for v in row) for row in x])
    assert main(["predict", str(model), "--csv", str(table)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 31


# ------------------------------------------------------------------ flag values
@pytest.mark.parametrize("argv,needle", [
    (["train", "--dataset", "xor", "--seed", "-1"], "--seed must be >= 0, got -1"),
    (["train", "--dataset", "xor", "--seed", str(2**200)], "--seed must be below 2**128"),
    (["train", "--csv", "t.csv", "--delimiter", ""], "--delimiter must be one character"),
    (["train", "--csv", "t.csv", "--delimiter", ";;"], "--delimiter must be one character"),
    (["predict", "m.safetensors", "--csv", "t.csv", "--delimiter", "\n"], "--delimiter must be one character"),
    (["trace", "--example", "mazur", "--digits", "-5"], "--digits must lie in 1..17"),
    (["trace", "--example", "mazur", "--digits", "400"], "got 400"),
    (["trace", "--example", "mazur", "--steps", "-2"], "--steps must be >= 0"),
    (["draw", "--layers", "2,2", "--seed", "-3", "--out", "a.png"], "--seed must be >= 0"),
    (["train", "--dataset", "moons", "--samples", "0"], "--samples must be >= 1"),
    (["train", "--dataset", "xor", "--hidden", "0,5"], "--hidden: expected hidden sizes >= 1"),
])
def test_bad_flag_values_are_one_line(capsys, argv: list[str], needle: str) -> None:
    assert needle in _error_line(capsys, argv)


# ------------------------------------------------------------------ strings from files
def test_a_csv_header_cannot_write_to_the_terminal(tmp_path: Path, capsys) -> None:
    x, y = blobs()
    spoof = '"a\x1b[2J\x08\x08chainrule: model OK\u202e"'
    long = "h" * 100_000
    rows = [",".join(f"{v:.4f}" for v in row) + f",{label}" for row, label in zip(x, y)]
    write_csv(tmp_path / "t.csv", f"{spoof},b,{long},y", rows)
    line = _error_line(capsys, ["train", "--csv", str(tmp_path / "t.csv"), "--target", "label"])
    assert line.isprintable()
    assert "a\\x1b[2J\\x08\\x08chainrule: model OK\\u202e" in line
    assert len(line) < 600 and "100,000 characters" in line


def test_a_20_mb_header_field_is_one_short_line(tmp_path: Path, capsys) -> None:
    write_csv(tmp_path / "t.csv", "a,b," + "h" * 20_000_000 + ",y", ["1,2,3,0", "2,3,4,1"])
    line = _error_line(capsys, ["train", "--csv", str(tmp_path / "t.csv")])
    assert "line 1" in line and "longer than" in line and len(line) < 400


def test_a_cell_or_file_name_with_controls_is_escaped(tmp_path: Path, capsys) -> None:
    name = tmp_path / "t\x1b[31m.csv"
    write_csv(name, "a,b,y", ["1,2,0", "1,x\x07y,1"])
    line = _error_line(capsys, ["train", "--csv", str(name)])
    assert "\x1b" not in line and "\x07" not in line
    assert "t\\x1b[31m.csv, line 3, column 'b'" in line and "'x\\x07y', not a number" in line


# ------------------------------------------------------------------ input paths that are not files
@pytest.mark.parametrize("case,needle", [
    ("loop", "too many levels of symbolic links"),
    ("under-a-file", "a part of the path is not a folder"),
    ("folder", "not a file but a folder"),
    ("fifo", "not a file but a FIFO"),
    ("long", "too long"),
])
def test_a_csv_path_that_is_not_a_file_is_one_line(tmp_path: Path, capsys, case: str, needle: str) -> None:
    import os

    (tmp_path / "a-file").write_text("1,2\n")
    os.symlink(tmp_path / "loop-b", tmp_path / "loop-a")
    os.symlink(tmp_path / "loop-a", tmp_path / "loop-b")
    os.mkfifo(tmp_path / "fifo")
    path = {"loop": tmp_path / "loop-a", "under-a-file": tmp_path / "a-file" / "t.csv", "folder": tmp_path,
            "fifo": tmp_path / "fifo", "long": tmp_path / ("n" * 300 + ".csv")}[case]
    assert needle in _error_line(capsys, ["train", "--csv", str(path), "--epochs", "1"])
