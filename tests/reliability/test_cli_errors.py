"""Bad input through the command line: one line on stderr, exit code 2, never a traceback.

Each case runs ``python -m chainrule ...`` in a fresh interpreter, as a user's shell
would, on files written into a temporary folder.
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from chainrule.datasets import IMAGES_MAGIC, LABELS_MAGIC

from .conftest import assert_user_error, blobs, run_cli, write_csv
from .test_bad_data import _idx


def _rows(x, y, columns=3):
    return [",".join(f"{v:.4f}" for v in row[:columns]) + f",{label}" for row, label in zip(x, y)]


@pytest.fixture
def tables(tmp_path):
    """CSV files in tmp_path: a good one and one per defect, each a DataError when read."""
    x, y = blobs()
    good = _rows(x, y)
    write_csv(tmp_path / "good.csv", "a,b,c,y", good)
    write_csv(tmp_path / "nan.csv", "a,b,c,y", [*good[:5], "0.5,nan,1,0", *good[5:]])
    write_csv(tmp_path / "inf.csv", "a,b,c,y", [*good[:5], "0.5,1,-inf,0", *good[5:]])
    write_csv(tmp_path / "ragged.csv", "a,b,c,y", [*good[:2], "1,2,0", *good[2:]])
    write_csv(tmp_path / "words.csv", "a,b,c,y", [*good[:2], "1,abc,3,0", *good[2:]])
    write_csv(tmp_path / "header-only.csv", "a,b,c,y", [])
    write_csv(tmp_path / "one-class.csv", "a,b,c,y", _rows(x, np.zeros_like(y)))
    write_csv(tmp_path / "two-features.csv", "a,b,y", _rows(x, y, columns=2))
    write_csv(tmp_path / "two-features-only.csv", "a,b", [",".join(f"{v:.4f}" for v in row[:2]) for row in x])
    write_csv(tmp_path / "label-7.csv", "a,b,c,y", _rows(x, np.where(y == 2, 7, y)))
    return tmp_path


# ------------------------------------------------------------------ chainrule train --csv
@pytest.mark.parametrize("table,needles", [
    ("nan.csv", ["nan.csv, line 7, column 'b'", "expected a finite number, found nan"]),
    ("inf.csv", ["inf.csv, line 7, column 'c'", "expected a finite number, found -inf"]),
    ("ragged.csv", ["ragged.csv, line 4: 3 fields, expected 4"]),
    ("words.csv", ["words.csv, line 4, column 'b'", "found 'abc', not a number"]),
    ("header-only.csv", ["header-only.csv: no data rows"]),
    ("absent.csv", ["absent.csv", "not found"]),
])
def test_train_refuses_a_bad_table(tables, table, needles):
    assert_user_error(run_cli("train", "--csv", table, "--epochs", "1", cwd=tables), *needles)


def test_train_names_a_missing_target_column(tables):
    result = run_cli("train", "--csv", "good.csv", "--target", "label", "--epochs", "1", cwd=tables)
    assert_user_error(result, "no column named 'label'", "the columns are: a, b, c, y")


def test_train_refuses_a_single_class(tables):
    assert_user_error(run_cli("train", "--csv", "one-class.csv", "--epochs", "1", cwd=tables),
                      "every training label is 0, only one class")


# ------------------------------------------------------------------ chainrule train --data (IDX)
def _mnist_folder(root, images=3, labels=3, magic=IMAGES_MAGIC, cut=0):
    """Uncompressed MNIST-named IDX files (read as they are: the checksums belong to the .gz files)."""
    folder = root / "mnist"
    folder.mkdir(parents=True)
    for part, n_images, n_labels in (("train", images, labels), ("t10k", 3, 3)):
        pixels = bytes(range(256)) * (n_images * 784 // 256 + 1)
        raw = _idx(magic if part == "train" else IMAGES_MAGIC, (n_images, 28, 28), pixels[: n_images * 784])
        (folder / f"{part}-images-idx3-ubyte").write_bytes(raw[: len(raw) - cut] if part == "train" else raw)
        (folder / f"{part}-labels-idx1-ubyte").write_bytes(_idx(LABELS_MAGIC, (n_labels,), bytes(n_labels)))
    return root


@pytest.mark.parametrize("defect,needles", [
    ({"cut": 100}, ["train-images-idx3-ubyte", "header says shape (3, 28, 28)", "truncated"]),
    ({"magic": 0x00000804}, ["train-images-idx3-ubyte", "expected the IDX magic number 2051", "found 2052"]),
    ({"labels": 2}, ["3 images but 2 labels"]),
], ids=["truncated", "wrong-magic", "counts-disagree"])
def test_train_refuses_bad_idx_files(tmp_path, defect, needles):
    root = _mnist_folder(tmp_path / "data", **defect)
    assert_user_error(run_cli("train", "--data", root, "--epochs", "1", cwd=tmp_path), *needles)


def test_train_on_a_folder_without_data_says_where_it_looked(tmp_path):
    assert_user_error(run_cli("train", "--data", "nowhere", "--epochs", "1", cwd=tmp_path),
                      "MNIST files", "not found; looked in: nowhere/mnist")


# ------------------------------------------------------------------ chainrule evaluate / predict
@pytest.mark.parametrize("command,table,needles", [
    ("evaluate", "two-features.csv", ["model.safetensors expects 3 features per sample, but two-features.csv has 2"]),
    ("predict", "two-features-only.csv", ["expects 3 features per sample, but two-features-only.csv has 2"]),
    ("evaluate", "nan.csv", ["nan.csv, line 7, column 'b': expected a finite number"]),
    ("predict", "nan.csv", ["nan.csv, line 7, column 'b': expected a finite number"]),
    ("predict", "ragged.csv", ["ragged.csv, line 4: 3 fields, expected 4"]),
    ("evaluate", "label-7.csv", ["class indices must lie in 0..2 for 3 outputs", "to 7"]),
    ("evaluate", "header-only.csv", ["no data rows"]),
])
def test_evaluate_and_predict_refuse_bad_data(tables, saved_model, command, table, needles):
    assert_user_error(run_cli(command, saved_model, "--csv", table, cwd=tables), *needles)


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_hostile_and_missing_model_files(tables, command):
    marker = tables / "pwned"
    (tables / "pickle.safetensors").write_bytes(pickle.dumps(_Touch(marker), protocol=4))
    (tables / "noise.safetensors").write_bytes(np.random.default_rng(0).bytes(300))
    expectations = {
        "pickle.safetensors": ["pickle", "never unpickles"],
        "noise.safetensors": ["noise.safetensors", "not a safetensors model file"],
        "absent.safetensors": ["no model file at absent.safetensors"],
    }
    for name, needles in expectations.items():
        assert_user_error(run_cli(command, name, "--csv", "good.csv", cwd=tables), *needles)
    assert not marker.exists()


class _Touch:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.mkdir, (self.path,)


def test_a_good_run_still_succeeds(tables, saved_model):
    result = run_cli("predict", saved_model, "--csv", "good.csv", "--target", "y", cwd=tables)
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "label,p_0,p_1,p_2" and len(lines) == 31
