"""Mini-batches gathered chunk by chunk hold exactly the numbers of the permuted data set."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.batches import BatchStream
from chainrule.metrics import all_finite


def permuted_batches(x, y, w, order, batch_size):
    xs, ys = x[order], y[order]
    ws = None if w is None else w[order]
    for lo in range(0, len(x), batch_size):
        hi = min(lo + batch_size, len(x))
        yield lo, hi, xs[lo:hi], ys[lo:hi], None if ws is None else ws[lo:hi]


@pytest.mark.parametrize("chunk_bytes", [1, 100, 1000, 1 << 20])
@pytest.mark.parametrize("batch_size", [1, 3, 7, 50])
@pytest.mark.parametrize("targets", ["labels", "rows"])
def test_batches_match_indexing_the_permuted_arrays(chunk_bytes, batch_size, targets):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(23, 4)).astype(np.float32)
    y = rng.integers(0, 3, 23) if targets == "labels" else rng.normal(size=(23, 2))
    w = rng.uniform(0.5, 2, 23)
    order = rng.permutation(23)
    stream = BatchStream(x, y, w, batch_size, chunk_bytes=chunk_bytes)
    for _ in range(2):  # the buffers are reused from epoch to epoch
        got = stream.epoch(order)  # compared batch by batch: a batch is valid until the next is drawn
        want = list(permuted_batches(x, y, w, order, batch_size))
        for (lo, hi, xb, yb, wb), (elo, ehi, xe, ye, we) in zip(got, want, strict=True):
            assert (lo, hi) == (elo, ehi)
            np.testing.assert_array_equal(xb, xe)
            np.testing.assert_array_equal(yb, ye)
            np.testing.assert_array_equal(wb, we)
            assert xb.dtype == x.dtype and yb.dtype == y.dtype


def test_unshuffled_batches_are_views_of_the_data():
    x, y = np.arange(12.0).reshape(6, 2), np.arange(6)
    batches = list(BatchStream(x, y, None, 4).epoch(None))
    assert [(lo, hi) for lo, hi, *_ in batches] == [(0, 4), (4, 6)]
    assert all(np.shares_memory(xb, x) and wb is None for _, _, xb, _, wb in batches)


def test_chunk_buffers_stay_small_for_a_large_data_set():
    x = np.zeros((100_000, 100), np.float32)  # 40 MB
    stream = BatchStream(x, np.zeros(100_000, np.int64), None, 128, chunk_bytes=1 << 20)
    xb = next(iter(stream.epoch(np.arange(100_000))))[2]
    assert stream.chunk_rows % 128 == 0 and stream.chunk_rows * 400 <= 1 << 20
    assert xb.base.nbytes <= 1 << 20


def test_fit_is_unchanged_by_the_chunk_size(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)

    def weights_after_fit(chunk_bytes):
        monkeypatch.setattr("chainrule.batches.CHUNK_BYTES", chunk_bytes)
        monkeypatch.setattr(BatchStream.__init__, "__defaults__", (chunk_bytes,))
        net = cr.MLP([8, 6, 2], activation="tanh", seed=3)
        cr.fit(net, x, y, optimizer="sgd", lr=0.1, epochs=3, batch_size=16, seed=5, progress=False)
        return [p.data.copy() for p in net.parameters()]

    for a, b in zip(weights_after_fit(200), weights_after_fit(1 << 22)):
        np.testing.assert_array_equal(a, b)


def test_all_finite_finds_nan_and_inf_and_survives_an_overflowing_sum():
    big = np.full(10, 3e38, np.float32)  # finite numbers whose float32 sum overflows
    assert all_finite(big)
    for bad in (np.nan, np.inf, -np.inf):
        spoiled = big.copy()
        spoiled[7] = bad
        assert not all_finite(spoiled)
    assert all_finite(np.arange(5)) and all_finite(np.zeros((0, 3)))
