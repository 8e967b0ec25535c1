"""Mini-batches of a data set in a fresh random order each epoch, without copying the data set.

One epoch visits the samples in the order of a permutation pi of 0..N-1, in batches
B_1 = pi[0:b], B_2 = pi[b:2b], ...  Gathering all of X[pi] at once would cost a second
copy of the data (180 MB for MNIST in float32); :class:`BatchStream` instead gathers a
chunk of whole batches at a time (about ``chunk_bytes`` of inputs) into buffers it
allocates once, and hands out the batches as views of them. The batches hold exactly
the numbers X[pi][lo:hi] would, so a seeded run is unchanged by the chunking.

The data may be a memory-mapped file (``np.load(path, mmap_mode="r")``, ``np.memmap``):
only the rows of the current chunk are read, cast to the model's dtype chunk by chunk, so
the process keeps a few megabytes of the file resident however large the file is. The
input rows are read with ``pread`` from the map's file rather than through the map:
touching a row of a map makes the kernel map a whole neighbourhood of cached pages
(large page-cache folios, fault-around), measured at ~0.85 MB of resident memory per
random 4 kB row, so 1000 random rows through the map cost 900 MB of RSS.

Under data-parallel training each of the R processes (ranks) takes a *shard* of every
global batch: rank r of R gets the rows B[o_r : o_{r+1}] with o_r = r q + min(r, m),
where |B| = q R + m, so shard sizes differ by at most one and their union is B.

Shapes: x (N, n_in); y (N,) class indices or (N, n_out) rows; sample weights w (N,).
"""

from __future__ import annotations

import mmap
import os
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

from chainrule.errors import DataError

__all__ = ["BatchStream", "CHUNK_BYTES", "as_batch_source", "mapped_buffer", "release_pages", "shard_bounds"]

Array = np.ndarray

CHUNK_BYTES = 4 << 20


def mapped_buffer(array: Any) -> np.memmap | None:
    """The ``np.memmap`` behind ``array`` (a map, or a view of one), or None for data in memory."""
    for _ in range(64):
        if isinstance(array, np.memmap) and isinstance(getattr(array, "_mmap", None), mmap.mmap):
            return array
        array = getattr(array, "base", None)
        if array is None:
            return None
    return None


def release_pages(array: Any) -> None:
    """Drop the pages of a memory-mapped ``array`` from this process's resident set.

    The file's pages stay in the operating system's page cache (a later read is served
    from there, and written pages of a shared map are kept and written back), but they no
    longer count in the process's RSS. A copy-on-write map (``mmap_mode="c"``) is left
    alone: dropping its pages would discard the changes made in memory. Does nothing for
    data in memory.
    """
    owner = mapped_buffer(array)
    if owner is None or owner.mode == "c" or not hasattr(mmap, "MADV_DONTNEED"):
        return
    try:
        owner._mmap.madvise(mmap.MADV_DONTNEED)
    except (OSError, ValueError, AttributeError):  # a closed map, or a platform that refuses: keep the pages
        pass


class _FileRows:
    """Reads rows of a memory-mapped, row-contiguous array straight from its file with ``pread``.

    Row i of ``array`` starts at byte ``start + i * row_bytes`` of the file, where ``start``
    is where the ``mmap`` begins in the file (``np.memmap`` maps from its offset rounded down
    to the allocation granularity; views and reshapes keep that offset) plus the array's
    distance from the mmap's first byte.
    """

    def __init__(self, array: Array, owner: np.memmap) -> None:
        self.row_bytes = array[:1].nbytes
        mapped_from = owner.offset - owner.offset % mmap.ALLOCATIONGRANULARITY
        first_byte = np.frombuffer(owner._mmap, np.uint8, count=1).__array_interface__["data"][0]
        self.start = mapped_from + array.__array_interface__["data"][0] - first_byte
        self.fd = os.open(owner.filename, os.O_RDONLY)
        weakref.finalize(self, os.close, self.fd)

    @classmethod
    def open(cls, array: Array) -> _FileRows | None:
        """A reader for ``array``, or None when it is not a file map with rows laid end to end."""
        owner = mapped_buffer(array)
        if owner is None or owner.mode == "c" or not hasattr(os, "preadv") \
                or getattr(owner, "filename", None) is None:  # a copy-on-write map's changes are not in the file
            return None
        if array.ndim < 1 or len(array) == 0 or not array[:1].flags.c_contiguous \
                or array.strides[0] != array[:1].nbytes:
            return None
        try:
            return cls(array, owner)
        except OSError:
            return None

    def take(self, rows: Array, out: Array) -> None:
        """out[j] = array[rows[j]]; ``out`` is C-contiguous of the array's dtype."""
        size = self.row_bytes
        view = memoryview(out.reshape(-1).view(np.uint8))
        for j, row in enumerate(rows.tolist()):
            got = os.preadv(self.fd, [view[j * size:(j + 1) * size]], self.start + row * size)
            if got != size:
                raise DataError(f"the memory-mapped file ended while reading row {row} (the file was cut short)")


def as_batch_source(data: Any, dtype: np.dtype, what: str = "X") -> Array:
    """Inputs for :class:`BatchStream`: in-memory data as :func:`chainrule.boundary.as_inputs`
    makes it (C-contiguous, ``dtype``, finite), a memory map checked but *not* copied or cast.

    A map keeps its own dtype (uint8 pixels stay uint8 on disk); the stream casts each
    chunk to ``dtype``. The check for NaN and inf reads the file once, chunk by chunk.
    """
    from chainrule.boundary import all_finite, as_inputs

    if mapped_buffer(data) is None:
        return as_inputs(data, dtype, what)
    array = np.asarray(data)
    if array.dtype.kind not in "biuf":
        raise DataError(f"{what} must be numbers, got a memory map of dtype {array.dtype}")
    if array.ndim != 2:
        raise DataError(f"{what} must have shape (n_samples, n_features), got a memory map of shape {array.shape}; "
                        "reshape it (a reshaped map stays a map)")
    if array.shape[0] == 0:
        raise DataError(f"{what} holds no samples")
    if not array.flags.c_contiguous:
        raise DataError(f"{what} is a memory map whose rows are not contiguous (a column slice of a wider map?); "
                        "store the features as their own .npy file")
    if array.dtype.kind == "f":
        step = max(1, CHUNK_BYTES // max(1, array[:1].nbytes))
        for lo in range(0, len(array), step):
            finite = all_finite(array[lo:lo + step])
            release_pages(array)
            if not finite:
                raise DataError(f"{what} contains NaN or inf (in rows {lo}..{min(lo + step, len(array)) - 1}); "
                                "clean or impute the data first")
    return array


def shard_bounds(size: int, rank: int, ranks: int) -> tuple[int, int]:
    """Rank ``rank``'s share [a, b) of ``size`` consecutive items split over ``ranks``.

    >>> [shard_bounds(7, r, 3) for r in range(3)]
    [(0, 3), (3, 5), (5, 7)]
    """
    q, m = divmod(size, ranks)
    a = rank * q + min(rank, m)
    return a, a + q + (rank < m)


class BatchStream:
    """Batches of (x, y, w) for one fit: ``stream.epoch(order)`` yields ``(lo, hi, xb, yb, wb)``.

    ``order`` is a permutation of the N samples, or None for the stored order (the
    batches are then plain views of x, y and w when nothing needs casting). ``xb`` has
    shape (hi - lo, n_in) and stays valid until the next batch is drawn; ``wb`` is None
    when w is None. ``dtype`` casts the inputs batch by batch (default: x's own);
    ``shard=(rank, ranks)`` yields only this rank's rows of each global batch
    [lo, hi) (see :func:`shard_bounds`; ``xb`` may then be empty).

    Examples
    --------
    >>> x = np.arange(10.0).reshape(5, 2)
    >>> stream = BatchStream(x, np.arange(5), None, batch_size=2)
    >>> [(lo, hi, yb.tolist()) for lo, hi, xb, yb, wb in stream.epoch(np.array([4, 3, 2, 1, 0]))]
    [(0, 2, [4, 3]), (2, 4, [2, 1]), (4, 5, [0])]
    >>> sharded = BatchStream(x, np.arange(5), None, batch_size=3, shard=(1, 2))
    >>> [(lo, hi, yb.tolist()) for lo, hi, xb, yb, wb in sharded.epoch(None)]
    [(0, 3, [2]), (3, 5, [4])]
    """

    def __init__(self, x: Array, y: Array, w: Array | None, batch_size: int,
                 chunk_bytes: int = CHUNK_BYTES, *, dtype: Any = None,
                 shard: tuple[int, int] | None = None) -> None:
        self.x, self.y, self.w = x, y, w
        self.n = len(x)
        self.batch_size = batch_size
        self.dtype = x.dtype if dtype is None else np.dtype(dtype)
        self.shard = None if shard is None or shard[1] == 1 else shard
        self.mapped = any(mapped_buffer(a) is not None for a in (x, y, w))
        self._file = _FileRows.open(x)
        row_bytes = max(1, x[:1].nbytes + y[:1].nbytes)
        batches_per_chunk = max(1, chunk_bytes // (row_bytes * batch_size))
        self.chunk_rows = min(self.n, batches_per_chunk * batch_size)
        self._buffers: tuple[Array, Array, Array | None] | None = None

    def epoch(self, order: Array | None) -> Iterator[tuple[int, int, Array, Array, Array | None]]:
        """The batches of one epoch, in ``order``."""
        if order is None:
            if self.dtype == self.x.dtype and self.shard is None and not self.mapped:
                yield from self._views(self.x, self.y, self.w, self.n)
                return
            order = np.arange(self.n)
        xs, ys, ws = self._chunk_buffers()
        for start in range(0, self.n, self.chunk_rows):
            stop = min(start + self.chunk_rows, self.n)
            rows, bounds = self._rows(order, start, stop)
            m = len(rows)
            self._gather(rows, xs[:m], ys[:m], None if ws is None else ws[:m])
            for (lo, hi), (a, b) in zip(self._global(start, stop), bounds):
                yield lo, hi, xs[a:b], ys[a:b], None if ws is None else ws[a:b]

    def _global(self, start: int, stop: int) -> Iterator[tuple[int, int]]:
        for lo in range(start, stop, self.batch_size):
            yield lo, min(lo + self.batch_size, stop)

    def _rows(self, order: Array, start: int, stop: int) -> tuple[Array, list[tuple[int, int]]]:
        """The sample indices this process gathers for global rows [start, stop) of the epoch,
        and each batch's [a, b) within them."""
        if self.shard is None:
            return order[start:stop], [(lo - start, hi - start) for lo, hi in self._global(start, stop)]
        rank, ranks = self.shard
        pieces, bounds, at = [], [], 0
        for lo, hi in self._global(start, stop):
            a, b = shard_bounds(hi - lo, rank, ranks)
            pieces.append(order[lo + a:lo + b])
            bounds.append((at, at + b - a))
            at += b - a
        return np.concatenate(pieces), bounds

    def _gather(self, rows: Array, xs: Array, ys: Array, ws: Array | None) -> None:
        # mode="clip" lets take() write straight into out (the indices are valid anyway).
        if self._file is not None:
            staging = xs if self.x.dtype == xs.dtype else np.empty((len(rows), *self.x.shape[1:]), self.x.dtype)
            self._file.take(rows, staging)
            if staging is not xs:
                xs[...] = staging
        elif self.x.dtype == xs.dtype:
            np.take(self.x, rows, axis=0, out=xs, mode="clip")
        else:
            xs[...] = np.take(self.x, rows, axis=0, mode="clip")
        np.take(self.y, rows, axis=0, out=ys, mode="clip")
        if ws is not None:
            np.take(self.w, rows, axis=0, out=ws, mode="clip")
        if self.mapped:
            for source in (self.x, self.y, self.w):
                release_pages(source)

    def _views(self, x: Array, y: Array, w: Array | None, m: int):
        """Consecutive batches of the first m rows, as views."""
        for lo, hi in self._global(0, m):
            yield lo, hi, x[lo:hi], y[lo:hi], None if w is None else w[lo:hi]

    def _chunk_buffers(self) -> tuple[Array, Array, Array | None]:
        if self._buffers is None:
            rows = self.chunk_rows
            self._buffers = (np.empty((rows, *self.x.shape[1:]), self.dtype),
                             np.empty((rows, *self.y.shape[1:]), self.y.dtype),
                             None if self.w is None else np.empty(rows, self.w.dtype))
        return self._buffers
