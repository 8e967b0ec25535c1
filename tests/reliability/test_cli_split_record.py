"""A command line that never surprises: the split recorded in the model file, class-index targets,
optional packages checked first, advice worded for the command line, and plain English.

The scores evaluate prints are compared with chainrule's Python API on a split made
independently with :func:`chainrule.datasets.split_data`.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import limits, main
from chainrule.datasets import IMAGES_MAGIC, LABELS_MAGIC, load_csv, load_mnist, mnist, split_data
from chainrule.datasets.files import KnownFile, file_md5
from chainrule.errors import DataError
from chainrule.io import read_metadata

from .conftest import blobs, write_csv
from .test_bad_data import _idx


def _run(capsys: pytest.CaptureFixture, argv: list[str]) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def _error(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    code, out, err = _run(capsys, argv)
    assert code == 2, (code, out, err)
    [line] = err.splitlines()
    return line


@pytest.fixture
def table(tmp_path: Path) -> Path:
    x, y = blobs(n=30)
    return write_csv(tmp_path / "t.csv", "a,b,c,y", [",".join(f"{v:.4f}" for v in row) + f",{k}"
                                                    for row, k in zip(x, y)])


@pytest.fixture
def trained(tmp_path: Path, table: Path, capsys) -> Path:
    code, out, err = _run(capsys, ["train", "--csv", table, "--seed", "1", "--epochs", "3", "--out",
                                   tmp_path / "m.safetensors"])
    assert code == 0, err
    return tmp_path / "m.safetensors"


# ------------------------------------------------------------------ the split, recorded and reused
def test_the_model_file_records_the_split(trained: Path, table: Path) -> None:
    split = read_metadata(trained)["split"]
    assert split == {"source": "csv", "file": "t.csv", "sha256": hashlib.sha256(table.read_bytes()).hexdigest(),
                     "rows": 30, "seed": 1, "test_fraction": 0.2}


def _reference(model: Path, table: Path, seed: int, fraction: float) -> tuple[int, int]:
    """(right, rows) of the test part split independently in Python."""
    x, y = load_csv(table, dtype=np.float32)
    _, (x_test, y_test) = split_data(x, y, fraction, seed=seed)
    scores = cr.evaluate(cr.load(model), x_test, y_test, loss="cross_entropy_with_logits")
    return round(scores["accuracy"] * len(y_test)), len(y_test)


def test_evaluate_reuses_the_recorded_split_and_says_which_rows(trained: Path, table: Path, capsys) -> None:
    code, out, _ = _run(capsys, ["evaluate", trained, "--csv", table])
    assert code == 0
    right, n = _reference(trained, table, seed=1, fraction=0.2)
    assert f"{n} of 30 rows: the test part train held out (seed 1, test fraction 0.2)" in out
    assert f"({right} of {n})" in out


def test_predict_keeps_one_row_per_row_of_the_table(trained: Path, table: Path, capsys) -> None:
    code, out, _ = _run(capsys, ["predict", trained, "--csv", table, "--target", "y"])
    assert code == 0 and len(out.splitlines()) == 1 + 30


@pytest.mark.parametrize("flag,value", [("--seed", "2"), ("--test-fraction", "0.5")])
def test_evaluate_refuses_flags_that_contradict_the_record(trained: Path, table: Path, capsys, flag: str,
                                                           value: str) -> None:
    line = _error(capsys, ["evaluate", trained, "--csv", table, flag, value])
    assert f"{flag} {value} contradicts the model file" in line and "seed 1 and test fraction 0.2" in line


def test_evaluate_accepts_flags_that_agree_with_the_record(trained: Path, table: Path, capsys) -> None:
    code, out, _ = _run(capsys, ["evaluate", trained, "--csv", table, "--seed", "1", "--test-fraction", "0.2"])
    assert code == 0 and "6 of 30 rows" in out


def test_another_table_is_scored_whole_or_split_as_asked(trained: Path, tmp_path: Path, capsys) -> None:
    x, y = blobs(n=30, seed=7)
    other = write_csv(tmp_path / "other.csv", "a,b,c,y", [",".join(f"{v:.4f}" for v in row) + f",{k}"
                                                          for row, k in zip(x, y)])
    code, out, _ = _run(capsys, ["evaluate", trained, "--csv", other])
    assert code == 0 and "all 30 rows" in out
    code, out, _ = _run(capsys, ["evaluate", trained, "--csv", other, "--test-fraction", "0.5", "--seed", "4"])
    right, n = _reference(trained, other, seed=4, fraction=0.5)
    assert code == 0 and f"{n} of 30 rows: held out with seed 4" in out and f"({right} of {n})" in out


def test_evaluating_the_training_table_of_a_test_csv_run_says_so(tmp_path: Path, table: Path, capsys) -> None:
    x, y = blobs(n=12, seed=3)
    test = write_csv(tmp_path / "test.csv", "a,b,c,y", [",".join(f"{v:.4f}" for v in row) + f",{k}"
                                                        for row, k in zip(x, y)])
    model = tmp_path / "m2.safetensors"
    assert _run(capsys, ["train", "--csv", table, "--test-csv", test, "--epochs", "1", "--out", model])[0] == 0
    assert read_metadata(model)["split"]["test_file"] == "test.csv"
    code, out, _ = _run(capsys, ["evaluate", model, "--csv", table])
    assert code == 0 and "all 30 rows, every one a training row" in out and "test.csv" in out
    code, out, _ = _run(capsys, ["evaluate", model, "--csv", test])
    assert code == 0 and "all 12 rows:" in out


def test_a_built_in_set_is_rebuilt_as_train_made_it(tmp_path: Path, capsys) -> None:
    model = tmp_path / "moons.safetensors"
    assert _run(capsys, ["train", "--dataset", "moons", "--samples", "200", "--seed", "3", "--epochs", "2",
                         "--out", model])[0] == 0
    split = read_metadata(model)["split"]
    assert (split["name"], split["samples"], split["seed"], split["rows"]) == ("moons", 200, 3, 200)
    code, out, _ = _run(capsys, ["evaluate", model, "--dataset", "moons"])
    x, y = cr.datasets.moons(200, seed=3, dtype=np.float32)
    _, (x_test, y_test) = split_data(x, y, 0.2, seed=3, stratify=True)
    scores = cr.evaluate(cr.load(model), x_test, y_test, loss="cross_entropy_with_logits")
    assert code == 0 and "40 of 200 rows: the test part train held out" in out
    assert f"({round(scores['accuracy'] * 40)} of 40)" in out
    assert "--samples 300 contradicts" in _error(capsys, ["evaluate", model, "--dataset", "moons", "--samples",
                                                          "300"])


def test_evaluate_reads_the_set_the_model_was_trained_on(tmp_path: Path, capsys) -> None:
    _fake_set(tmp_path / "data" / "mnist")
    _fake_set(tmp_path / "data" / "fashion-mnist")
    model = tmp_path / "fashion.safetensors"
    assert _run(capsys, ["train", "--data", tmp_path / "data", "--kind", "fashion", "--epochs", "1", "--out",
                         model])[0] == 0
    assert read_metadata(model)["split"]["source"] == "fashion"
    code, out, _ = _run(capsys, ["evaluate", model, "--data", tmp_path / "data"])
    assert code == 0 and "on Fashion-MNIST, the published test set, 2 images:" in out
    code, out, _ = _run(capsys, ["evaluate", model, "--data", tmp_path / "data", "--kind", "mnist"])
    assert code == 0 and "on MNIST" in out and "(the model was trained on Fashion-MNIST)" in out


# ------------------------------------------------------------------ class-index targets
def _last_error(text: str) -> str:
    return re.findall(r"E_total\+ = (\S+)", text)[-1]


def test_a_class_index_target_is_the_one_hot_row(capsys) -> None:
    net = ["--layers", "2,2,3", "--output-activation", "softmax", "--loss", "cross_entropy", "--x", "0.1,0.2"]
    code, by_index, err = _run(capsys, ["trace", *net, "--target", "1"])
    assert code == 0, err
    code, by_row, err = _run(capsys, ["trace", *net, "--target", "0,1,0"])
    assert code == 0, err
    assert _last_error(by_index) == _last_error(by_row)
    assert "class index must lie in 0..2" in _error(capsys, ["trace", *net, "--target", "3"])
    assert "must be a whole number" in _error(capsys, ["trace", *net, "--target", "0.5"])


# ------------------------------------------------------------------ optional packages, checked first
@pytest.mark.parametrize("argv,extra", [
    (["check", "w5", "(out_o1 - target_o1)", "--example", "mazur"], "chainrule[explain]"),
    (["draw", "--example", "mazur", "--out", "n.png"], "chainrule[plot]"),
    (["train", "--dataset", "xor", "--epochs", "1", "--plot", "c.png"], "chainrule[plot]"),
])
def test_a_missing_optional_package_is_named_before_any_work(capsys, monkeypatch, argv: list[str],
                                                             extra: str) -> None:
    monkeypatch.setattr(limits, "_missing", lambda module: module in ("sympy", "matplotlib"))
    code, out, err = _run(capsys, argv)
    assert code == 2 and out == ""  # nothing trained, traced or drawn
    [line] = err.splitlines()
    assert extra in line and "not installed" in line


# ------------------------------------------------------------------ advice worded for where the error shows
def test_missing_mnist_advice_fits_the_command_line_and_python(tmp_path: Path, capsys) -> None:
    line = _error(capsys, ["train", "--data", tmp_path / "nowhere", "--epochs", "1"])
    assert "--data DIR" in line and "--download" in line and "load_mnist" not in line and "path=" not in line
    with pytest.raises(DataError) as caught:
        load_mnist(tmp_path / "nowhere")
    assert "download=True" in str(caught.value) and "--download" not in str(caught.value)


def _fake_set(folder: Path) -> None:
    folder.mkdir(parents=True)
    for part in ("train", "t10k"):
        (folder / f"{part}-images-idx3-ubyte").write_bytes(_idx(IMAGES_MAGIC, (2, 28, 28), bytes(2 * 784)))
        (folder / f"{part}-labels-idx1-ubyte").write_bytes(_idx(LABELS_MAGIC, (2,), bytes([0, 1])))


def test_a_fashion_folder_read_as_mnist_suggests_the_kind(tmp_path: Path, capsys) -> None:
    _fake_set(tmp_path / "data" / "fashion-mnist")
    line = _error(capsys, ["train", "--data", tmp_path / "data", "--epochs", "1"])
    assert "add --kind fashion" in line and "put each" not in line.lower()
    with pytest.raises(DataError, match="pass kind='fashion'"):
        load_mnist(tmp_path / "data")


def test_a_published_fashion_file_read_as_mnist_suggests_the_kind(tmp_path: Path, capsys, monkeypatch) -> None:
    """Fashion-MNIST's file of MNIST's name, in a folder of its own: the advice is --kind, not moving files."""
    folder = tmp_path / "fashion-files"
    folder.mkdir()
    name = "train-images-idx3-ubyte.gz"
    path = folder / name
    path.write_bytes(gzip.compress(_idx(IMAGES_MAGIC, (2, 28, 28), bytes(2 * 784))))
    for other in ("train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / other).write_bytes(b"")
    monkeypatch.setitem(mnist.FASHION_FILES, name, KnownFile(name, path.stat().st_size, file_md5(path), ""))
    line = _error(capsys, ["train", "--data", folder, "--epochs", "1"])
    assert "found Fashion-MNIST's file of that name" in line and "add --kind fashion" in line
    assert "own folder" not in line


def test_a_damaged_published_file_gets_advice_for_where_it_shows(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes(b"not the published file")
    line = _error(capsys, ["train", "--data", folder, "--epochs", "1"])
    assert "delete it and copy or download it again" in line and "--download" in line and "verify=" not in line
    with pytest.raises(DataError, match="pass verify=False"):
        load_mnist(folder)


def test_a_named_target_without_a_header_is_worded_for_the_command_line(table: Path, capsys) -> None:
    line = _error(capsys, ["train", "--csv", table, "--no-header", "--target", "y"])
    assert "--target y names a column, but with --no-header" in line and "header=False" not in line


# ------------------------------------------------------------------ English
def test_the_reports_read_as_english(tmp_path: Path, table: Path, capsys) -> None:
    code, out, _ = _run(capsys, ["train", "--csv", table, "--epochs", "1", "--out", tmp_path / "m.safetensors"])
    assert code == 0
    assert "1 epoch," in out and "after 1 epoch in" in out and "1 epochs" not in out
    assert "none output" not in out and "linear (logits) output" in out
    code, evaluated, _ = _run(capsys, ["evaluate", tmp_path / "m.safetensors", "--csv", table])
    for text in (out, evaluated):
        assert "((" not in text and "))" not in text and not re.search(r"\([^()]*\([^()]*\)[^()]*\)", text)
