"""Bad data through the Python API: each case is a chainrule.errors exception whose message names the problem.

fit, predict and evaluate check their inputs at the boundary; the CSV and IDX loaders
check every field of a file before returning arrays. Nothing here may surface as a
bare NumPy ValueError, an IndexError or a RuntimeWarning.
"""

from __future__ import annotations

import gzip
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.datasets import IMAGES_MAGIC, LABELS_MAGIC, load_csv, load_mnist, read_idx
from chainrule.errors import ChainruleError, DataError, ShapeError

from .conftest import blobs, write_csv

pytestmark = pytest.mark.filterwarnings("error")


def _fit(net, x, y, **kwargs):
    return cr.fit(net, x, y, epochs=1, batch_size=10, progress=False, **kwargs)


def _net(n_in=3, n_out=3):
    return cr.MLP([n_in, 4, n_out], activation="tanh", seed=0)


def _with(array, index, value):
    array = np.array(array, dtype=np.float64)
    array[index] = value
    return array


def _raises(error, pattern, call):
    """``call()`` raises exactly ``error`` (a chainrule error) with ``pattern`` in its message."""
    with pytest.raises(error, match=pattern) as info:
        call()
    assert isinstance(info.value, ChainruleError)
    return info.value


# ------------------------------------------------------------------ NaN and inf
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("api", ["fit", "predict", "evaluate"])
def test_non_finite_features_are_refused(api, value):
    x, y = blobs()
    bad = _with(x, (7, 1), value)
    calls = {"fit": lambda: _fit(_net(), bad, y), "predict": lambda: cr.predict(_net(), bad),
             "evaluate": lambda: cr.evaluate(_net(), bad, y)}
    _raises(DataError, r"X contains NaN or inf", calls[api])


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("api", ["fit", "evaluate"])
def test_non_finite_regression_targets_are_refused(api, value):
    x, _ = blobs()
    y = _with(x[:, :2] * 2.0, (4, 0), value)
    net = _net(n_out=2)
    before = [p.data.copy() for p in net.parameters()]
    call = (lambda: _fit(net, x, y, loss="mse")) if api == "fit" else (lambda: cr.evaluate(net, x, y, metrics=()))
    _raises(DataError, r"y contains NaN or inf", call)
    for p, q in zip(net.parameters(), before):  # refused before any step
        np.testing.assert_array_equal(p.data, q)


def test_non_finite_validation_targets_are_refused():
    x, y = blobs()
    _raises(DataError, r"y_val contains NaN or inf",
            lambda: _fit(_net(n_out=1), x, y[:, None] * 1.0, loss="mse",
                         validation_data=(x, _with(y[:, None], (0, 0), np.nan))))


# ------------------------------------------------------------------ shapes and sizes
@pytest.mark.parametrize("api", ["predict", "evaluate", "fit"])
def test_wrong_number_of_features_names_both_counts(api):
    x, y = blobs(n_features=2)
    calls = {"fit": lambda: _fit(_net(), x, y), "predict": lambda: cr.predict(_net(), x),
             "evaluate": lambda: cr.evaluate(_net(), x, y)}
    _raises(ShapeError, r"inputs of shape \(batch, 3\), got shape \(\d+, 2\)", calls[api])


@pytest.mark.parametrize("api", ["fit", "evaluate"])
def test_targets_of_another_length_name_both_lengths(api):
    x, y = blobs()
    call = (lambda: _fit(_net(), x, y[:-1])) if api == "fit" else (lambda: cr.evaluate(_net(), x, y[:-1]))
    _raises(DataError, r"one target per sample \(30\), got shape \(29,\)", call)


@pytest.mark.parametrize("api", ["fit", "predict", "evaluate"])
def test_an_empty_data_set_is_refused(api):
    x, y = np.empty((0, 3)), np.empty((0,), dtype=np.int64)
    calls = {"fit": lambda: _fit(_net(), x, y), "predict": lambda: cr.predict(_net(), x),
             "evaluate": lambda: cr.evaluate(_net(), x, y)}
    _raises(DataError, r"X holds no samples", calls[api])


def test_labels_beyond_the_outputs_are_refused():
    x, y = blobs()
    _raises(DataError, r"class indices must lie in 0\.\.2 for 3 outputs, got values from 0 to 5",
            lambda: _fit(_net(), x, np.where(y == 2, 5, y)))


def test_a_one_class_data_set_still_trains_a_network_with_several_outputs():
    # The core API trusts the network's output size: one class present is a valid (if dull) set.
    # The estimators and the command line, which infer the classes from y, refuse it.
    x, _ = blobs()
    history = _fit(_net(), x, np.zeros(30, dtype=np.int64))
    assert history.stop_reason == "completed" and np.isfinite(history.loss).all()


# ------------------------------------------------------------------ dtypes
@pytest.mark.parametrize("make", [
    lambda x: x.astype(object),
    lambda x: x.astype(str),
    lambda x: np.array([["a", "b", "c"]] * len(x)),
], ids=["object", "numeric-strings", "words"])
@pytest.mark.parametrize("api", ["fit", "predict", "evaluate"])
def test_object_and_string_features_are_refused(api, make):
    x, y = blobs()
    bad = make(x)
    calls = {"fit": lambda: _fit(_net(), bad, y), "predict": lambda: cr.predict(_net(), bad),
             "evaluate": lambda: cr.evaluate(_net(), bad, y)}
    error = _raises(DataError, r"X must be numbers, got an array of dtype", calls[api])
    assert str(bad.dtype) in str(error)


def test_string_labels_are_refused():
    x, y = blobs()
    _raises(DataError, r"y must be numbers, got an array of dtype <U", lambda: _fit(_net(), x, y.astype(str)))


@pytest.mark.parametrize("api", ["fit", "predict"])
def test_ragged_rows_are_a_data_error(api):
    rows = [[0.0, 1.0, 2.0], [0.0, 1.0]]
    call = (lambda: _fit(_net(), rows, [0, 1])) if api == "fit" else (lambda: cr.predict(_net(), rows))
    _raises(DataError, r"X", call)


# ------------------------------------------------------------------ CSV
@pytest.mark.parametrize("rows,kwargs,pattern", [
    (["1,2,0", "3,4", "5,6,1"], {}, r"line 3: 2 fields, expected 3"),
    (["1,2,0", "3,4,1,9"], {}, r"line 3: 4 fields, expected 3"),
    (["1,2,0"], {"target": "label"}, r"no column named 'label'; the columns are: a, b, y"),
    (["1,2,0"], {"target": 5}, r"target column index 5 is out of range for 3 columns"),
    (["1,,0"], {}, r"line 2, column 'b': expected a number, found an empty value"),
    (["1,abc,0"], {}, r"line 2, column 'b': expected a number, found 'abc'"),
    (["1,nan,0"], {}, r"line 2, column 'b': expected a finite number, found nan"),
    (["1,2,inf"], {}, r"line 2, column 'y': expected a finite number, found inf"),
    ([], {}, r"no data rows"),
], ids=["short-row", "long-row", "missing-target-name", "missing-target-index", "empty-cell", "word",
        "nan", "inf", "header-only"])
def test_csv_problems_name_line_and_column(tmp_path, rows, kwargs, pattern):
    path = write_csv(tmp_path / "table.csv", "a,b,y", rows)
    error = _raises(DataError, pattern, lambda: load_csv(path, **kwargs))
    assert str(path) in str(error)


def test_an_empty_csv_file_is_refused(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    _raises(DataError, r"empty file", lambda: load_csv(path))


# ------------------------------------------------------------------ IDX
def _idx(magic: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    return np.array([magic, *shape], dtype=">u4").tobytes() + payload


def _write(path, raw: bytes):
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(raw, compresslevel=1))
    else:
        path.write_bytes(raw)
    return path


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_a_truncated_idx_file_says_so(tmp_path, suffix):
    path = _write(tmp_path / f"images-idx3-ubyte{suffix}", _idx(IMAGES_MAGIC, (3, 4, 4), bytes(40)))
    _raises(DataError, r"shape \(3, 4, 4\), so 64 bytes uncompressed, found 56; the file truncated",
            lambda: read_idx(path, IMAGES_MAGIC))


def test_a_gzip_file_cut_short_is_refused(tmp_path):
    raw = gzip.compress(_idx(LABELS_MAGIC, (500,), bytes(range(250)) * 2))
    path = tmp_path / "labels-idx1-ubyte.gz"
    path.write_bytes(raw[: len(raw) // 2])
    _raises(DataError, r"not a readable gzip file .*damaged or truncated", lambda: read_idx(path))


@pytest.mark.parametrize("magic,expected,pattern", [
    (LABELS_MAGIC, IMAGES_MAGIC, r"expected the IDX magic number 2051 \(images\), found 2049"),
    (0x12345678, None, r"expected an IDX magic number 0x000008dd .* found 0x12345678"),
    (0x00000D01, None, r"found 0x00000d01; the file is not IDX or not of unsigned bytes"),
], ids=["labels-for-images", "garbage", "float-elements"])
def test_a_wrong_magic_number_is_named(tmp_path, magic, expected, pattern):
    path = _write(tmp_path / "images-idx3-ubyte", _idx(magic, (1,), bytes(1)))
    _raises(DataError, pattern, lambda: read_idx(path, expected))


def test_a_file_shorter_than_its_header(tmp_path):
    path = _write(tmp_path / "x-idx3-ubyte", bytes([0, 0, 8, 3, 0, 0]))
    _raises(DataError, r"header of 3 dimensions needs 16 bytes, the file has 6", lambda: read_idx(path))


def test_mismatched_image_and_label_counts_are_refused(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    # Uncompressed names are read as they are (the published checksums belong to the .gz files).
    _write(folder / "t10k-images-idx3-ubyte", _idx(IMAGES_MAGIC, (3, 28, 28), bytes(3 * 784)))
    _write(folder / "t10k-labels-idx1-ubyte", _idx(LABELS_MAGIC, (2,), bytes([1, 2])))
    _raises(DataError, r"disagree: 3 images but 2 labels", lambda: load_mnist(tmp_path, split="test"))


def test_labels_outside_0_to_9_are_refused(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    _write(folder / "t10k-images-idx3-ubyte", _idx(IMAGES_MAGIC, (2, 28, 28), bytes(2 * 784)))
    _write(folder / "t10k-labels-idx1-ubyte", _idx(LABELS_MAGIC, (2,), bytes([1, 12])))
    _raises(DataError, r"expected classes 0\.\.9, found 12", lambda: load_mnist(tmp_path, split="test"))


def test_a_compressed_idx_with_a_huge_tail_is_refused_without_inflating_it(tmp_path):
    import tracemalloc

    # 64 MB of zeros after a 10-label header compress to about 64 KB: a small file that would
    # take 64 MB to read whole. The loader must stop once it has more bytes than the header declares.
    path = tmp_path / "labels-idx1-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=1) as stream:
        stream.write(_idx(LABELS_MAGIC, (10,), bytes(10)))
        chunk = bytes(1 << 20)
        for _ in range(64):
            stream.write(chunk)
    tracemalloc.start()
    try:
        error = _raises(DataError, r"trailing bytes", lambda: read_idx(path, LABELS_MAGIC))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert re.search(r"\b10\b", str(error))
    assert peak < 8 << 20, f"read_idx held {peak / 2**20:.0f} MiB to refuse a 10-byte data set"
