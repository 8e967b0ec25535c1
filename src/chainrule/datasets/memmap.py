"""Data larger than memory: ``.npy`` and IDX files opened as memory maps, and CSV tables
converted once to ``.npy``.

A memory map is an array whose elements stay in the file: reading ``x[rows]`` reads
those rows from disk (or from the operating system's page cache), and nothing else.
:func:`chainrule.fit` takes such arrays as they are; its batches are gathered from the
map a chunk at a time (:mod:`chainrule.batches`), so a 4 GB file trains in a process
of a few hundred megabytes.

Shapes: features (n_samples, n_features); targets (n_samples,) or (n_samples, n_out).
"""

from __future__ import annotations

import csv
import math
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from chainrule.datasets.idx import IMAGES_MAGIC, LABELS_MAGIC
from chainrule.errors import ConfigError, DataError

__all__ = ["open_npy", "map_idx", "csv_to_npy"]


def open_npy(path: str | os.PathLike[str], mmap_mode: str = "r") -> np.memmap:
    """The array of a ``.npy`` file as a memory map (``np.load(path, mmap_mode=...)``), checked.

    ``mmap_mode`` is ``"r"`` (read-only, the default), ``"r+"`` or ``"c"`` (copy-on-write).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npy")
    >>> np.save(path, np.arange(6.0).reshape(3, 2))
    >>> x = open_npy(path)
    >>> type(x).__name__, x.shape, float(x[2, 1])
    ('memmap', (3, 2), 5.0)
    """
    path = Path(path)
    if mmap_mode not in ("r", "r+", "c"):
        raise ConfigError(f"mmap_mode must be 'r', 'r+' or 'c', got {mmap_mode!r}")
    if not path.is_file():
        raise DataError(f"{path}: .npy file not found" if not path.exists() else f"{path}: not a file")
    try:
        array = np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DataError(f"{path}: not a readable .npy file ({error})") from None
    if not isinstance(array, np.memmap):
        raise DataError(f"{path}: holds an empty or object array, which cannot be memory-mapped")
    return array


def map_idx(path: str | os.PathLike[str], flatten: bool = True) -> np.memmap:
    """An uncompressed IDX file (MNIST's format, see :mod:`chainrule.datasets.idx`) as a memory map.

    Images come as raw unsigned bytes 0..255, (N, rows * cols) when ``flatten`` (the
    shape ``fit`` takes) else (N, rows, cols); labels as (N,). Unlike
    :func:`chainrule.datasets.load_mnist` nothing is scaled: ``fit`` casts each batch to
    the model's dtype, so scale the inputs inside the model or train on 0..255.
    A ``.gz`` file cannot be mapped: decompress it once (``gunzip -k``).
    """
    path = Path(path)
    if path.suffix == ".gz":
        raise DataError(f"{path}: a compressed IDX file cannot be memory-mapped; decompress it once "
                        f"(gunzip -k {path.name}) and map the result, or read it whole with read_idx")
    try:
        size = path.stat().st_size
        with open(path, "rb") as stream:
            head = stream.read(4)
            ndim = head[3] if len(head) == 4 else 0
            dims = stream.read(4 * ndim)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error})") from None
    magic = int.from_bytes(head, "big") if len(head) == 4 else -1
    if len(head) < 4 or head[0] or head[1] or head[2] != 0x08 or ndim == 0 or len(dims) < 4 * ndim:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (found the magic number 0x{max(magic, 0):08x}, "
                        f"expected {IMAGES_MAGIC:#010x} for images or {LABELS_MAGIC:#010x} for labels)")
    shape = tuple(int(s) for s in np.frombuffer(dims, dtype=">u4"))
    header = 4 + 4 * ndim
    if size != header + math.prod(shape):
        raise DataError(f"{path}: header says shape {shape}, so {header + math.prod(shape):,} bytes, the file has "
                        f"{size:,}; it is truncated or has trailing bytes: copy or download it again")
    array = np.memmap(path, dtype=np.uint8, mode="r", offset=header, shape=shape)
    if flatten and array.ndim > 2:
        array = array.reshape(shape[0], -1)
    return array


def _count_rows(path: Path, header: bool) -> int:
    """Lines in the file (a last line without a newline counts), less the header: an upper bound
    on the data rows (blank lines are counted here and skipped when parsing)."""
    lines, last = 0, b"\n"
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 24), b""):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n") - int(header)


def _shrink(x_path: str | os.PathLike[str], rows: int) -> None:
    """Rewrite the .npy at ``x_path`` keeping its first ``rows`` rows, a chunk at a time."""
    old = np.load(x_path, mmap_mode="r")
    temp = Path(f"{x_path}.part")
    new = np.lib.format.open_memmap(temp, mode="w+", dtype=old.dtype, shape=(rows, *old.shape[1:]))
    step = max(1, (64 << 20) // max(1, old[:1].nbytes))
    for lo in range(0, rows, step):
        new[lo:lo + step] = old[lo:min(lo + step, rows)]
    new.flush()
    del new, old
    os.replace(temp, x_path)


def csv_to_npy(path: str | os.PathLike[str], x_path: str | os.PathLike[str],
               y_path: str | os.PathLike[str] | None = None, target: str | int | None = -1,
               delimiter: str = ",", header: bool = True, dtype: Any = np.float32,
               chunk_rows: int = 65536, progress: bool | TextIO = False) -> tuple[np.memmap, np.ndarray | None]:
    """Convert a numeric CSV table to ``.npy`` files once, a chunk of rows at a time.

    The features go to ``x_path`` as (n_samples, n_features) of ``dtype``, written
    through a memory map so the table never sits in memory whole; the target column (as
    in :func:`chainrule.datasets.load_csv`: by name or index, int64 when every value is
    a whole number) goes to ``y_path``. Returns the features opened read-only as a map
    and the targets (or None when ``target`` is None). ``progress=True`` prints the
    percentage done on stderr (or pass a stream).

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "t.csv"), "w") as f:
    ...     _ = f.write("a,b,label\\n1,2,0\\n3,4,1\\n5,6,1\\n")
    >>> x, y = csv_to_npy(os.path.join(folder, "t.csv"), os.path.join(folder, "x.npy"),
    ...                   os.path.join(folder, "y.npy"), target="label", chunk_rows=2)
    >>> x.tolist(), y.tolist()
    ([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [0, 1, 1])
    """
    from chainrule.datasets.tabular import _target_index

    path = Path(path)
    if target is not None and y_path is None:
        raise ConfigError("give y_path for the target column, or target=None to keep every column as a feature")
    if not path.is_file():
        raise DataError(f"{path}: CSV file not found" if not path.exists() else f"{path}: not a file")
    if not (isinstance(chunk_rows, int) and chunk_rows >= 1):
        raise ConfigError(f"chunk_rows must be an integer >= 1, got {chunk_rows!r}")
    n = _count_rows(path, header)
    if n < 1:
        raise DataError(f"{path}: no data rows")
    stream_out = sys.stderr if progress is True else (progress or None)
    with open(path, newline="", encoding="utf-8-sig") as stream:
        names = [name.strip() for name in next(csv.reader(stream, delimiter=delimiter))] if header else None
        x_out = y_all = None
        done, line_no = 0, int(header)
        while done < n:
            raw = [line for _, line in zip(range(chunk_rows), stream)]
            if not raw:
                break
            numbers = [line_no + 1 + i for i, line in enumerate(raw) if line.strip()]
            line_no += len(raw)
            if not numbers:
                continue
            part = _parse([line for line in raw if line.strip()], numbers, path, delimiter, header, names)
            if x_out is None:
                index = None if target is None else _target_index(target, names, part.shape[1], path)
                n_features = part.shape[1] - (index is not None)
                if n_features < 1:
                    raise DataError(f"{path}: only the target column is present, expected at least one feature")
                x_out = np.lib.format.open_memmap(x_path, mode="w+", dtype=dtype, shape=(n, n_features))
                y_all = None if index is None else np.empty(n, np.float64)
            rows = slice(done, done + len(part))
            if index is None:
                x_out[rows] = part
            else:
                x_out[rows] = np.delete(part, index, axis=1)
                y_all[rows] = part[:, index]
            done += len(part)
            if stream_out is not None:
                print(f"\r{path.name}: {100 * done // n}% of {n:,} rows", end="", file=stream_out, flush=True)
    if stream_out is not None:
        print(file=stream_out)
    if x_out is None:
        raise DataError(f"{path}: no data rows")
    x_out.flush()
    del x_out
    if done < n:  # blank lines: the count above saw more lines than there are rows
        _shrink(x_path, done)
        y_all = None if y_all is None else y_all[:done]
    y = None if y_all is None else (y_all.astype(np.int64) if np.all(y_all == np.round(y_all))
                                    else y_all.astype(dtype))
    if y is not None:
        np.save(y_path, y)
    return np.load(x_path, mmap_mode="r"), y


def _parse(lines: list[str], numbers: list[int], path: Path, delimiter: str, header: bool,
           names: list[str] | None) -> np.ndarray:
    """One chunk of non-blank lines (the file's lines ``numbers``) as a 2-D float64 array of
    finite numbers; errors name the file's line."""
    from chainrule.datasets.tabular import _diagnose

    try:
        part = np.loadtxt(lines, delimiter=delimiter, dtype=np.float64, ndmin=2, comments=None, quotechar='"')
    except ValueError as error:
        diagnosis = _diagnose(path, delimiter, header, names)
        raise diagnosis or DataError(f"{path}: cannot read as numbers: {error}") from None
    if names is not None and part.shape[1] != len(names):
        raise DataError(f"{path}: the header has {len(names)} names but the rows have {part.shape[1]} fields")
    bad = ~np.isfinite(part)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        column = repr(names[col]) if names is not None else str(col)
        raise DataError(f"{path}, line {numbers[row]}, column {column}: expected a finite number, "
                        f"found {part[row, col]}; drop or fill missing values first")
    return part
