"""Mini-batches of a data set in a fresh random order each epoch, without copying the data set.

One epoch visits the samples in the order of a permutation pi of 0..N-1, in batches
B_1 = pi[0:b], B_2 = pi[b:2b], ...  Gathering all of X[pi] at once would cost a second
copy of the data (180 MB for MNIST in float32); :class:`BatchStream` instead gathers a
chunk of whole batches at a time (about ``chunk_bytes`` of inputs) into buffers it
allocates once, and hands out the batches as views of them. The batches hold exactly
the numbers X[pi][lo:hi] would, so a seeded run is unchanged by the chunking.

Shapes: x (N, n_in); y (N,) class indices or (N, n_out) rows; sample weights w (N,).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["BatchStream", "CHUNK_BYTES"]

Array = np.ndarray

CHUNK_BYTES = 4 << 20


class BatchStream:
    """Batches of (x, y, w) for one fit: ``stream.epoch(order)`` yields ``(lo, hi, xb, yb, wb)``.

    ``order`` is a permutation of the N samples, or None for the stored order (the
    batches are then plain views of x, y and w). ``xb`` has shape (hi - lo, n_in) and
    stays valid until the next batch is drawn; ``wb`` is None when w is None.

    Examples
    --------
    >>> x = np.arange(10.0).reshape(5, 2)
    >>> stream = BatchStream(x, np.arange(5), None, batch_size=2)
    >>> [(lo, hi, yb.tolist()) for lo, hi, xb, yb, wb in stream.epoch(np.array([4, 3, 2, 1, 0]))]
    [(0, 2, [4, 3]), (2, 4, [2, 1]), (4, 5, [0])]
    """

    def __init__(self, x: Array, y: Array, w: Array | None, batch_size: int,
                 chunk_bytes: int = CHUNK_BYTES) -> None:
        self.x, self.y, self.w = x, y, w
        self.n = len(x)
        self.batch_size = batch_size
        row_bytes = max(1, x[:1].nbytes + y[:1].nbytes)
        batches_per_chunk = max(1, chunk_bytes // (row_bytes * batch_size))
        self.chunk_rows = min(self.n, batches_per_chunk * batch_size)
        self._buffers: tuple[Array, Array, Array | None] | None = None

    def epoch(self, order: Array | None) -> Iterator[tuple[int, int, Array, Array, Array | None]]:
        """The batches of one epoch, in ``order``."""
        if order is None:
            yield from self._views(self.x, self.y, self.w, self.n)
            return
        xs, ys, ws = self._chunk_buffers()
        for start in range(0, self.n, self.chunk_rows):
            rows = order[start:start + self.chunk_rows]
            m = len(rows)
            # mode="clip" lets take() write straight into out (the indices are valid anyway).
            np.take(self.x, rows, axis=0, out=xs[:m], mode="clip")
            np.take(self.y, rows, axis=0, out=ys[:m], mode="clip")
            if ws is not None:
                np.take(self.w, rows, axis=0, out=ws[:m], mode="clip")
            for lo, hi, xb, yb, wb in self._views(xs, ys, ws, m):
                yield start + lo, start + hi, xb, yb, wb

    def _views(self, x: Array, y: Array, w: Array | None, m: int):
        """Consecutive batches of the first m rows, as views."""
        b = self.batch_size
        for lo in range(0, m, b):
            hi = min(lo + b, m)
            yield lo, hi, x[lo:hi], y[lo:hi], None if w is None else w[lo:hi]

    def _chunk_buffers(self) -> tuple[Array, Array, Array | None]:
        if self._buffers is None:
            rows = self.chunk_rows
            self._buffers = (np.empty((rows, *self.x.shape[1:]), self.x.dtype),
                             np.empty((rows, *self.y.shape[1:]), self.y.dtype),
                             None if self.w is None else np.empty(rows, self.w.dtype))
        return self._buffers
