"""Sizes are bounded before the work: outputs from a label, layers, samples, trace steps, IDX data.

Each case is refused with one line naming the size and the limit (or the memory it would
need against what the machine has) before anything large is allocated; the IDX cases
measure the peak memory of the refused read with tracemalloc.
"""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import limits, main
from chainrule.datasets import IMAGES_MAGIC, LABELS_MAGIC, load_mnist, read_idx
from chainrule.datasets.idx import MAX_IDX_BYTES
from chainrule.errors import ConfigError, DataError

from .conftest import blobs, write_csv
from .test_bad_data import _idx


def _refused(capsys: pytest.CaptureFixture, argv: list[str], *needles: str) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err and "epoch" not in out  # refused before training
    [line] = err.splitlines()
    for needle in needles:
        assert needle.lower() in line.lower(), (needle, line)
    return line


def _table(tmp_path: Path, labels: np.ndarray, name: str = "t.csv") -> Path:
    x, _ = blobs(n=len(labels))
    rows = [",".join(f"{v:.4f}" for v in row) + f",{label}" for row, label in zip(x, labels)]
    return write_csv(tmp_path / name, "a,b,c,y", rows)


# ------------------------------------------------------------------ outputs made by a label column
def test_one_huge_label_does_not_build_millions_of_outputs(tmp_path: Path, capsys) -> None:
    labels = np.arange(30) % 3
    labels[4] = 5_000_000
    table = _table(tmp_path, labels)
    _refused(capsys, ["train", "--csv", str(table), "--epochs", "1"], "label 5,000,000 is too large",
             "5,000,001 outputs", f"limit of {limits.MAX_OUTPUTS:,}")


def test_labels_that_leave_most_outputs_without_examples_are_refused(tmp_path: Path, capsys) -> None:
    labels = np.where(np.arange(30) % 3 == 2, 7, np.arange(30) % 3)  # classes 0, 1, 7: 8 outputs, 3 classes
    table = _table(tmp_path, labels)
    _refused(capsys, ["train", "--csv", str(table), "--epochs", "1"], "labels go up to 7", "8 outputs",
             "only 3 classes occur", "0..2")


def test_labels_from_one_are_still_accepted(tmp_path: Path, capsys) -> None:
    table = _table(tmp_path, np.arange(30) % 3 + 1)  # 1, 2, 3: four outputs, three classes (output 0 unused)
    assert main(["train", "--csv", str(table), "--epochs", "1"]) == 0, capsys.readouterr().err


def test_a_label_of_two_to_the_63_is_too_large_not_negative(tmp_path: Path, capsys) -> None:
    labels = [str(k % 3) for k in range(30)]
    labels[5] = str(2**63)
    x, _ = blobs()
    write_csv(tmp_path / "t.csv", "a,b,c,y", [",".join(f"{v:.4f}" for v in row) + f",{k}" for row, k in zip(x, labels)])
    line = _refused(capsys, ["train", "--csv", str(tmp_path / "t.csv"), "--epochs", "1"], "line 7, column 'y'",
                    "too large")
    assert "negative" not in line


# ------------------------------------------------------------------ memory a network or a data set would need
@pytest.mark.parametrize("argv", [
    ["train", "--dataset", "xor", "--layers", "2,10000000,10000000,2"],
    ["train", "--dataset", "xor", "--hidden", "10000000,10000000"],
    ["draw", "--layers", "2,10000000,10000000,2", "--out", "x.png"],
    ["trace", "--layers", "2,10000000,10000000,2"],
], ids=["train-layers", "train-hidden", "draw", "trace"])
def test_layers_too_big_for_memory_are_one_line(capsys, argv: list[str]) -> None:
    _refused(capsys, argv, "would need about", "PiB", "this machine has free")


def test_a_batch_larger_than_the_data_is_estimated_as_the_data(capsys) -> None:
    """fit never makes a batch larger than the training rows, so --batch-size 10**9 costs nothing extra."""
    assert main(["train", "--dataset", "xor", "--epochs", "1", "--batch-size", str(10**9)]) == 0, \
        capsys.readouterr().err


def test_a_toy_set_too_big_for_memory_is_one_line(capsys) -> None:
    _refused(capsys, ["train", "--dataset", "moons", "--samples", str(10**15)], "--samples 1,000,000,000,000,000",
             "would need about")


def test_the_memory_estimate_counts_weights_and_activations() -> None:
    sizes = [784, 30, 10]
    params = 785 * 30 + 31 * 10  # weights and biases
    assert limits.network_bytes(sizes, batch=10, itemsize=4) == 4 * (5 * params + 3 * 10 * 824)
    limits.check_memory(100, "a small thing", "fix", available=1000)
    with pytest.raises(ConfigError, match="about 1.95 KiB of memory, more than the 1,000 bytes"):
        limits.check_memory(2000, "a big thing", "fix", available=1000)


def test_out_of_memory_anyway_is_one_line(capsys, monkeypatch) -> None:
    def exhausted(args):
        raise MemoryError

    monkeypatch.setattr(limits, "check_extras", exhausted)
    _refused(capsys, ["demo"], "out of memory")


# ------------------------------------------------------------------ trace --steps
def test_trace_steps_have_a_cap_the_user_can_raise(capsys, monkeypatch) -> None:
    _refused(capsys, ["trace", "--example", "mazur", "--steps", "100000000"], "--steps 100,000,000",
             f"cap of {limits.MAX_TRACE_STEPS:,}", "CHAINRULE_MAX_STEPS")
    monkeypatch.setenv("CHAINRULE_MAX_STEPS", "2")
    _refused(capsys, ["trace", "--example", "mazur", "--steps", "3"], "cap of 2")
    assert main(["trace", "--example", "mazur", "--steps", "2"]) == 0
    monkeypatch.setenv("CHAINRULE_MAX_STEPS", "lots")
    _refused(capsys, ["trace", "--example", "mazur"], "CHAINRULE_MAX_STEPS must be a whole number")


# ------------------------------------------------------------------ IDX files
def _gz(path: Path, raw: bytes) -> Path:
    path.write_bytes(gzip.compress(raw, compresslevel=1))
    return path


def test_an_idx_header_declaring_too_much_is_refused_before_reading(tmp_path: Path) -> None:
    path = _gz(tmp_path / "images-idx3-ubyte.gz", _idx(IMAGES_MAGIC, (1_000_000, 28, 28), bytes(4096)))
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"declares shape \(1000000, 28, 28\), 784,000,000 bytes.*above the limit"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, peak


def test_an_idx_file_delivering_less_than_declared_allocates_only_what_arrived(tmp_path: Path) -> None:
    declared = (250_000, 28, 28)  # 196 MB declared, under the budget
    assert np.prod(declared) < MAX_IDX_BYTES
    path = _gz(tmp_path / "images-idx3-ubyte.gz", _idx(IMAGES_MAGIC, declared, bytes(3 * 2**20)))
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="truncated"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 24 * 2**20, peak  # the 3 MiB that arrived and a chunk or two, not 196 MB


def test_the_idx_limit_can_be_lifted(tmp_path: Path) -> None:
    path = _gz(tmp_path / "labels-idx1-ubyte.gz", _idx(LABELS_MAGIC, (5,), bytes([1, 2, 3, 4, 5])))
    with pytest.raises(DataError, match="above the limit of 4 bytes"):
        read_idx(path, max_bytes=4)
    assert read_idx(path, max_bytes=None).tolist() == [1, 2, 3, 4, 5]


def _mnist(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for part in ("train", "t10k"):
        (folder / f"{part}-images-idx3-ubyte").write_bytes(_idx(IMAGES_MAGIC, (n, 28, 28), bytes(784 * n)))
        (folder / f"{part}-labels-idx1-ubyte").write_bytes(_idx(LABELS_MAGIC, (n,), bytes(n)))
    return folder


def test_an_idx_file_of_zero_samples_is_a_clear_error(tmp_path: Path, capsys) -> None:
    folder = _mnist(tmp_path / "data", 0)
    with pytest.raises(DataError, match=r"declares shape \(0, 28, 28\), no images"):
        load_mnist(folder, verify=False)
    _refused(capsys, ["train", "--data", str(folder), "--epochs", "1"], "no images")
