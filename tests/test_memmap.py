"""Data on disk: memory-mapped .npy and IDX files train exactly as the same numbers in memory,
batches gathered from a map keep the process small, CSV tables convert once to .npy."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.batches import BatchStream, as_batch_source, mapped_buffer, shard_bounds
from chainrule.datasets import csv_to_npy, load_csv, map_idx, open_npy, read_idx
from chainrule.errors import DataError


def weights(net):
    return [p.data.copy() for p in net.parameters()]


def train(x, y, dtype=np.float64, **kwargs):
    net = cr.MLP([x.shape[1], 8, 3], activation="tanh", dtype=dtype, seed=3)
    history = cr.fit(net, x, y, epochs=3, batch_size=16, seed=5, progress=False, **kwargs)
    return weights(net), history


def test_fit_on_a_memory_map_equals_fit_in_memory(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(203, 5))
    y = rng.integers(0, 3, 203)
    w = rng.uniform(0.5, 2.0, 203)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    x_map, y_map = open_npy(tmp_path / "x.npy"), open_npy(tmp_path / "y.npy")
    assert mapped_buffer(x_map) is not None and mapped_buffer(x) is None
    in_memory, h_memory = train(x, y, sample_weight=w, validation_split=0.1)
    on_disk, h_disk = train(x_map, y_map, sample_weight=w, validation_split=0.1)
    for a, b in zip(in_memory, on_disk, strict=True):
        np.testing.assert_array_equal(a, b)
    assert h_memory.history == h_disk.history


def test_a_uint8_map_is_cast_batch_by_batch_as_the_cast_array_would_train(tmp_path):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(150, 12), dtype=np.uint8)
    y = rng.integers(0, 3, 150)
    np.save(tmp_path / "pixels.npy", pixels)
    source = as_batch_source(open_npy(tmp_path / "pixels.npy"), np.dtype(np.float32))
    assert source.dtype == np.uint8 and mapped_buffer(source) is not None  # not copied, not cast
    on_disk, _ = train(open_npy(tmp_path / "pixels.npy"), y, dtype=np.float32)
    in_memory, _ = train(pixels.astype(np.float32), y, dtype=np.float32)
    for a, b in zip(in_memory, on_disk, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_a_map_holding_nan_is_refused_with_the_rows(tmp_path):
    x = np.ones((40, 3))
    x[17, 1] = np.nan
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(DataError, match="NaN or inf"):
        cr.fit(cr.MLP([3, 2]), open_npy(tmp_path / "x.npy"), np.zeros((40, 2)), progress=False)


def test_a_column_slice_of_a_map_is_refused_rather_than_copied(tmp_path):
    np.save(tmp_path / "t.npy", np.ones((10, 4)))
    with pytest.raises(DataError, match="not contiguous"):
        as_batch_source(open_npy(tmp_path / "t.npy")[:, :3], np.dtype(np.float64))


@pytest.mark.parametrize("ranks", [2, 3, 5])
def test_shards_of_every_batch_cover_it_exactly(ranks):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(37, 3))
    y = rng.integers(0, 4, 37)
    w = rng.uniform(size=37)
    order = rng.permutation(37)
    whole = [(lo, hi, xb.copy(), yb.copy(), wb.copy())
             for lo, hi, xb, yb, wb in BatchStream(x, y, w, 7, chunk_bytes=100).epoch(order)]
    shards = [[(lo, hi, xb.copy(), yb.copy(), wb.copy())
               for lo, hi, xb, yb, wb in BatchStream(x, y, w, 7, chunk_bytes=100, shard=(r, ranks)).epoch(order)]
              for r in range(ranks)]
    for i, (lo, hi, *_) in enumerate(whole):
        parts = [s[i] for s in shards]
        assert all(p[:2] == (lo, hi) for p in parts)
        sizes = [len(p[2]) for p in parts]
        assert sizes == [b - a for a, b in (shard_bounds(hi - lo, r, ranks) for r in range(ranks))]
        assert max(sizes) - min(sizes) <= 1
        np.testing.assert_array_equal(np.concatenate([p[2] for p in parts]), x[order[lo:hi]])
        np.testing.assert_array_equal(np.concatenate([p[3] for p in parts]), y[order[lo:hi]])
        np.testing.assert_array_equal(np.concatenate([p[4] for p in parts]), w[order[lo:hi]])


@pytest.mark.parametrize("mode", ["r", "r+", "c"])
def test_batches_of_a_sliced_or_modified_map_hold_the_rows_of_the_array(tmp_path, mode):
    rng = np.random.default_rng(6)
    np.save(tmp_path / "x.npy", rng.integers(0, 256, size=(60, 3, 2)).astype(np.uint8))
    x_map = open_npy(tmp_path / "x.npy", mmap_mode=mode).reshape(60, 6)
    if mode != "r":
        x_map[7:9] = 255  # written to the file ("r+") or only in memory ("c"): the batches see it either way
    x = np.array(x_map[5:])
    order = rng.permutation(55)
    stream = BatchStream(x_map[5:], np.arange(55), None, 4, chunk_bytes=50, dtype=np.float32)
    for lo, hi, xb, yb, _ in stream.epoch(order):
        assert xb.dtype == np.float32
        np.testing.assert_array_equal(xb, x[order[lo:hi]])
        np.testing.assert_array_equal(yb, order[lo:hi])


def _rss_file_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    raise AssertionError("no RssFile line")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc to read the resident set")
def test_gathering_from_a_map_does_not_keep_the_file_resident(tmp_path):
    rows, width = 16384, 512  # 32 MB of float32
    x = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float32, shape=(rows, width))
    x[:] = 1.0
    del x
    x_map = open_npy(tmp_path / "big.npy")
    before = _rss_file_kb()
    stream = BatchStream(x_map, np.zeros(rows, np.int64), None, 64, chunk_bytes=1 << 20)
    total = sum(float(xb[:, 0].sum()) for _, _, xb, _, _ in stream.epoch(np.random.default_rng(0).permutation(rows)))
    grown = _rss_file_kb() - before
    assert total == rows
    assert grown < 12 * 1024, f"the map stayed resident: RssFile grew by {grown} kB for a 32 MB file"
    # reading the same rows through the map keeps most of the file resident (the check above can fail)
    x_map2 = open_npy(tmp_path / "big.npy")
    before = _rss_file_kb()
    for i in np.random.default_rng(0).permutation(rows):
        x_map2[i, 0]
    assert _rss_file_kb() - before > 16 * 1024


def write_idx(path, array, compress=False):
    head = np.array([0x0800 + array.ndim, *array.shape], dtype=">u4").tobytes()
    with (gzip.open(path, "wb") if compress else open(path, "wb")) as f:
        f.write(head + array.astype(np.uint8).tobytes())


def test_map_idx_equals_read_idx_and_refuses_gz_and_truncated_files(tmp_path):
    images = np.random.default_rng(3).integers(0, 256, size=(9, 4, 5))
    write_idx(tmp_path / "img-idx3-ubyte", images)
    write_idx(tmp_path / "img-idx3-ubyte.gz", images, compress=True)
    mapped = map_idx(tmp_path / "img-idx3-ubyte")
    assert mapped.shape == (9, 20) and mapped_buffer(mapped) is not None
    np.testing.assert_array_equal(mapped, read_idx(tmp_path / "img-idx3-ubyte.gz").reshape(9, 20))
    np.testing.assert_array_equal(map_idx(tmp_path / "img-idx3-ubyte", flatten=False), images)
    with pytest.raises(DataError, match="gunzip"):
        map_idx(tmp_path / "img-idx3-ubyte.gz")
    data = (tmp_path / "img-idx3-ubyte").read_bytes()
    (tmp_path / "cut").write_bytes(data[:-3])
    with pytest.raises(DataError, match="truncated"):
        map_idx(tmp_path / "cut")
    (tmp_path / "text").write_bytes(b"hello, world")
    with pytest.raises(DataError, match="not an IDX"):
        map_idx(tmp_path / "text")


@pytest.mark.parametrize("chunk_rows", [1, 4, 1000])
def test_csv_to_npy_equals_load_csv(tmp_path, chunk_rows):
    rng = np.random.default_rng(4)
    table = np.column_stack([rng.normal(size=(11, 3)), rng.integers(0, 3, 11)])
    lines = ["f1,f2,f3,label"] + [",".join(repr(float(v)) for v in row) for row in table]
    lines.insert(6, "")  # a blank line is skipped, as load_csv skips it
    (tmp_path / "t.csv").write_text("\n".join(lines))  # no newline after the last row
    x, y = csv_to_npy(tmp_path / "t.csv", tmp_path / "x.npy", tmp_path / "y.npy", target="label",
                      dtype=np.float64, chunk_rows=chunk_rows)
    x_ref, y_ref = load_csv(tmp_path / "t.csv", target="label")
    assert isinstance(x, np.memmap)
    np.testing.assert_array_equal(x, x_ref)
    np.testing.assert_array_equal(y, y_ref)
    assert y.dtype == y_ref.dtype == np.int64
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), y_ref)


def test_csv_to_npy_names_the_bad_line(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n5,oops\n")
    with pytest.raises(DataError, match="line 4, column 'b'"):
        csv_to_npy(tmp_path / "t.csv", tmp_path / "x.npy", tmp_path / "y.npy", chunk_rows=2)
    (tmp_path / "n.csv").write_text("a,b\n1,2\n3,nan\n")
    with pytest.raises(DataError, match="line 3, column 'b'"):
        csv_to_npy(tmp_path / "n.csv", tmp_path / "x.npy", tmp_path / "y.npy", chunk_rows=1)


def test_csv_to_npy_prints_progress(tmp_path, capsys):
    (tmp_path / "t.csv").write_text("a,b\n" + "".join(f"{i},{i % 2}\n" for i in range(10)))
    x, y = csv_to_npy(tmp_path / "t.csv", tmp_path / "x.npy", tmp_path / "y.npy", chunk_rows=3, progress=True)
    assert "100% of 10 rows" in capsys.readouterr().err
    assert x.shape == (10, 1) and y.tolist() == [i % 2 for i in range(10)]
    assert os.path.getsize(tmp_path / "x.npy") > 10 * 4


def test_predict_and_evaluate_read_a_map_chunk_by_chunk_with_the_in_memory_results(tmp_path):
    rng = np.random.default_rng(8)
    pixels = rng.integers(0, 256, size=(70, 6), dtype=np.uint8)
    y = rng.integers(0, 3, 70)
    np.save(tmp_path / "p.npy", pixels)
    net = cr.MLP([6, 5, 3], dtype=np.float32, seed=1)
    mapped = open_npy(tmp_path / "p.npy")
    np.testing.assert_array_equal(cr.predict(net, mapped, batch_size=16),
                                  cr.predict(net, pixels.astype(np.float32), batch_size=16))
    on_disk = cr.evaluate(net, mapped, y, loss="cross_entropy_with_logits", batch_size=16)
    in_memory = cr.evaluate(net, pixels.astype(np.float32), y, loss="cross_entropy_with_logits", batch_size=16)
    assert on_disk == in_memory
