"""Reading the IDX format of MNIST and Fashion-MNIST, with every field checked.

An IDX file is a header of big-endian 32-bit integers followed by the data:

    bytes 0-1   always 0
    byte  2     element type (0x08 = unsigned byte, the only one these data sets use)
    byte  3     number of dimensions d
    then d sizes (each 4 bytes), then prod(sizes) elements in C order.

So an image file (N, 28, 28) starts with the magic number 0x00000803 = 2051 and
a 16-byte header; a label file (N,) with 0x00000801 = 2049 and an 8-byte header.
Files ending in ``.gz`` are decompressed on the fly.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from chainrule._display import printable
from chainrule.errors import DataError, for_cli

__all__ = ["read_idx", "IMAGES_MAGIC", "LABELS_MAGIC", "MAX_IDX_BYTES"]

#: Magic number of an unsigned-byte file with 3 dimensions (images N x rows x cols).
IMAGES_MAGIC = 0x00000803
#: Magic number of an unsigned-byte file with 1 dimension (labels N).
LABELS_MAGIC = 0x00000801

_UBYTE = 0x08
_CHUNK = 1 << 20

#: Most data bytes an IDX file may declare (256 MiB; MNIST's training images are 47 MB).
#: A 762 KB .gz file can declare and deliver 784 MB of zeros; the declared size is
#: checked against this budget before any data is read (``read_idx(max_bytes=None)`` lifts it).
MAX_IDX_BYTES = 256 * 2**20


def _read_upto(stream: BinaryIO, n: int) -> bytearray:
    """At most ``n`` bytes from ``stream``, in chunks, so a huge ``n`` allocates nothing up front."""
    data = bytearray()
    while len(data) < n:
        chunk = stream.read(min(n - len(data), _CHUNK))
        if not chunk:
            break
        data += chunk
    return data


def _read_bytes(path: Path, max_bytes: int | None) -> bytearray:
    """The file's content, decompressed when its name ends in ``.gz``, read in 1 MiB chunks.

    The size the header declares is checked against ``max_bytes`` before any data is
    read, and reading stops one byte past it: a small compressed file whose data
    inflates far beyond what its header promises is refused without being inflated,
    and nothing of the declared size is allocated before the bytes have arrived.
    """
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as stream:
            raw = _read_upto(stream, 4)
            if len(raw) < 4 or raw[0] or raw[1] or raw[2] != _UBYTE or raw[3] == 0:
                return raw  # not an IDX file of unsigned bytes: the header alone says so
            raw += _read_upto(stream, 4 * raw[3])
            if len(raw) < 4 + 4 * raw[3]:
                return raw
            shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", offset=4))
            declared = math.prod(shape)
            if max_bytes is not None and declared > max_bytes:
                head = (f"{printable(path, 200)}: the header declares shape {shape}, {declared:,} bytes of data, "
                        f"above the limit of {max_bytes:,} bytes for one IDX file; MNIST's largest file holds "
                        "47,040,000")
                raise for_cli(DataError(f"{head} (read_idx(path, max_bytes=None) lifts the limit)"),
                              f"{head}; the file is damaged or not MNIST")
            return raw + _read_upto(stream, declared + 1)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as error:
        # gzip raises BadGzipFile (an OSError) for a foreign file and EOFError for a cut one.
        raise DataError(f"{path}: not a readable gzip file ({error}); the file is damaged or truncated, "
                        "delete it and copy or download it again") from None


def read_idx(path: str | os.PathLike[str], expected_magic: int | None = None, *,
             max_bytes: int | None = MAX_IDX_BYTES) -> np.ndarray:
    """Read one IDX file of unsigned bytes into an array shaped as its header says.

    Parameters
    ----------
    path : str or path-like
        An IDX file, gzip-compressed when its name ends in ``.gz``.
    expected_magic : int, optional
        :data:`IMAGES_MAGIC` (2051) or :data:`LABELS_MAGIC` (2049) to insist on a kind.
    max_bytes : int or None
        The most data bytes the header may declare (default :data:`MAX_IDX_BYTES`);
        None for no limit.

    Returns
    -------
    numpy.ndarray of uint8
        Images ``(N, rows, cols)`` or labels ``(N,)``, exactly the bytes of the file.

    Raises
    ------
    DataError
        A wrong magic number, an element type other than unsigned byte, a declared
        size above ``max_bytes``, or a data part shorter or longer than the header's
        sizes promise (a truncated file).

    Examples
    --------
    >>> import gzip, os, tempfile
    >>> import numpy as np
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "labels-idx1-ubyte.gz")
    >>> with gzip.open(path, "wb") as f:
    ...     _ = f.write(np.array([2049, 3], dtype=">u4").tobytes() + bytes([7, 2, 1]))
    >>> read_idx(path, expected_magic=LABELS_MAGIC)
    array([7, 2, 1], dtype=uint8)
    """
    path = Path(path)
    raw = _read_bytes(path, max_bytes)
    if len(raw) < 4:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an IDX header (at least 8 bytes)")
    magic = int.from_bytes(raw[:4], "big")
    zero, dtype_code, ndim = raw[0] << 8 | raw[1], raw[2], raw[3]
    if expected_magic is not None and magic != expected_magic:
        kinds = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}
        wanted = kinds.get(expected_magic, "IDX")
        raise DataError(f"{path}: expected the IDX magic number {expected_magic} ({wanted}), found {magic}; "
                        "this is not an IDX " + wanted + " file (or it is the wrong one of the pair)")
    if zero != 0 or dtype_code != _UBYTE or ndim == 0:
        raise DataError(f"{path}: expected an IDX magic number 0x000008dd (unsigned bytes, dd dimensions), "
                        f"found 0x{magic:08x}; the file is not IDX or not of unsigned bytes")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: header of {ndim} dimensions needs {header} bytes, the file has {len(raw)}")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + math.prod(shape)
    if len(raw) < expected:
        raise DataError(f"{path}: header says shape {shape}, so {expected:,} bytes uncompressed, "
                        f"found {len(raw):,}; the file truncated: delete it and copy or download it again")
    if len(raw) > expected:
        raise DataError(f"{path}: header says shape {shape}, so {expected:,} bytes uncompressed, found more; "
                        "the file has trailing bytes: delete it and copy or download it again")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)  # a view of the bytes read, no copy
