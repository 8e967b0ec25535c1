"""The container: a model file's bytes, written atomically and read through one handle.

A chainrule file is a `safetensors <https://huggingface.co/docs/safetensors>`_ file:
8 bytes giving the header's length, a JSON header listing each tensor's dtype, shape
and byte range, then the raw little-endian numbers. The header's ``__metadata__``
holds one JSON document under the key ``"chainrule"``::

    {"format": "chainrule", "format_version": 1, "chainrule_version": "0.1.0",
     "kind": "model" | "checkpoint", "dtype": "float64",
     "architecture": {...},                           (see chainrule.io.architecture)
     "split": {...},                                  (optional: how the training data was split)
     "state": {...}}                                  (checkpoints only)

Parameters are stored as tensors ``model/<name>`` (``model/0.weight``: (n_in, n_out)).

Reading opens the file once and takes header and tensors from that one handle, so a
save that replaces the file meanwhile (atomically, by rename) yields the old model or
the new one, never one's architecture with the other's weights. Before anything is
allocated every budget below is checked: the header's length, the number of tensors
and of dims per tensor, every string's length, the metadata's nesting depth, and every
tensor's byte range against the file's actual size.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import nn
from chainrule.atomic import describe_os_error, write_bytes
from chainrule.errors import ConfigError, ModelFileError
from chainrule.io import architecture

__all__ = ["save", "load", "read_metadata", "write_file", "read_file", "FORMAT_NAME", "FORMAT_VERSION",
           "MAX_HEADER_BYTES", "MAX_TENSORS", "MAX_DIMS", "MAX_DEPTH", "MAX_STRING"]

FORMAT_NAME = "chainrule"
FORMAT_VERSION = 1
_META_KEY = "chainrule"

#: Longest JSON header a file may announce (bytes). A 784-1000x40-10 network's header is ~10 kB.
MAX_HEADER_BYTES = 16 * 2**20
#: Most tensors one file may list.
MAX_TENSORS = 100_000
#: Most dimensions one tensor may have (chainrule writes 1 and 2).
MAX_DIMS = 8
#: Deepest nesting of lists and objects in the metadata (checkpoint state included).
MAX_DEPTH = 64
#: Longest string (a name, a key, a value) in the header, in characters.
MAX_STRING = 4096

_DTYPES: dict[str, np.dtype] = {
    "F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"), "U32": np.dtype("<u4"), "U64": np.dtype("<u8"),
    "U8": np.dtype(np.uint8), "BOOL": np.dtype(np.bool_),
}
_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items()}
_FLOAT_DTYPES = {"float32": "F32", "float64": "F64"}


def _fail(path: Path, message: str) -> ModelFileError:
    return ModelFileError(f"{path}: {message}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ------------------------------------------------------------------ writing
def _encode(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """The safetensors bytes for ``tensors`` (C order, little-endian) under ``metadata``."""
    header: dict[str, Any] = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        code = _CODES.get(array.dtype.newbyteorder("="))
        if code is None:
            raise ConfigError(f"tensor {name} has dtype {array.dtype}, which model files do not hold")
        blob = array.astype(_DTYPES[code], copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # safetensors aligns the data to 8 bytes
    return len(text).to_bytes(8, "little") + text + b"".join(blobs)


def write_file(path: str | Path, model: nn.Module, kind: str, *, state: Any = None,
               arrays: dict[str, np.ndarray] | None = None, split: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (and a checkpoint's JSON ``state`` with its ``arrays``) atomically."""
    from chainrule import __version__

    path = Path(path)
    arch = architecture.describe(model)
    params = dict(model.named_parameters())
    dtypes = {str(p.data.dtype) for p in params.values()}
    if len(dtypes) != 1 or next(iter(dtypes)) not in _FLOAT_DTYPES:
        raise ConfigError(f"model files hold float32 or float64 networks of one dtype, got {sorted(dtypes)}")
    tensors = {f"model/{name}": p.data for name, p in params.items()}
    meta: dict[str, Any] = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                            "chainrule_version": __version__, "kind": kind, "dtype": dtypes.pop(),
                            "architecture": arch}
    if split is not None:
        meta["split"] = split
    if state is not None:
        meta["state"] = state
        tensors.update(arrays or {})
    data = _encode(tensors, {_META_KEY: json.dumps(meta)})
    return write_bytes(path, data, error=ModelFileError)


def save(model: nn.Module, path: str | Path, *, split: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (a Sequential or MLP) to ``path`` as a safetensors file; returns the path.

    ``split`` (optional) records how the training data was split, e.g. ``{"source": "digits",
    "seed": 0, "test_fraction": 0.2, "rows": 1797}``; ``chainrule evaluate`` reads it back.

    Examples
    --------
    >>> import tempfile, pathlib, chainrule as cr
    >>> net = cr.MLP([2, 3, 1], activation="tanh", seed=0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = cr.save(net, pathlib.Path(folder) / "net.safetensors")
    ...     again = cr.load(path)
    >>> bool((again[0].weight.data == net[0].weight.data).all())
    True
    """
    return write_file(path, model, "model", split=split)


# ------------------------------------------------------------------ reading
_FOREIGN = [
    (b"PK\x03\x04", "a ZIP archive (a NumPy .npz, a PyTorch .pt or a Keras file?)"),
    (b"\x93NUMPY", "a NumPy .npy array file"),
    (b"\x89HDF", "an HDF5 file (a Keras .h5 model?)"),
    (b"\x1f\x8b", "a gzip-compressed file"),
]


def _sniff(path: Path, head: bytes) -> None:
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        raise _fail(path, "this is a Python pickle (from pickle, joblib or torch.save?); chainrule never "
                          "unpickles files, because unpickling can run arbitrary code")
    for magic, what in _FOREIGN:
        if head.startswith(magic):
            raise _fail(path, f"this is {what}, not a chainrule model file")


def _parse_json(path: Path, raw: bytes | str, what: str) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        raise _fail(path, f"the {what} nests deeper than chainrule reads (at most {MAX_DEPTH} levels)") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise _fail(path, f"the {what} is not valid JSON ({str(error)[:200]}); the file is corrupt or not a "
                          "model file") from None


def check_tree(path: Path, value: Any, what: str) -> None:
    """Every string in ``value`` at most :data:`MAX_STRING` long, nesting at most :data:`MAX_DEPTH` (no recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _fail(path, f"the {what} nests deeper than chainrule reads (at most {MAX_DEPTH} levels)")
        if isinstance(item, str):
            if len(item) > MAX_STRING:
                raise _fail(path, f"the {what} holds a string of {len(item):,} characters; at most "
                                  f"{MAX_STRING:,} are allowed")
        elif isinstance(item, dict):
            stack.extend((key, depth + 1) for key in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def _open_regular(path: Path) -> int:
    """A read-only descriptor of the regular file ``path``; a FIFO or device is refused before opening."""
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise _fail(path, "is a directory, not a model file")
        if not stat.S_ISREG(info.st_mode):
            raise _fail(path, "is a FIFO, socket or device, not a model file")
        # O_NONBLOCK: should a FIFO replace the file between stat and open, opening does not block
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ModelFileError(f"no model file at {path}") from None
    except OSError as error:
        raise ModelFileError(f"cannot read {path}: {describe_os_error(error)}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _fail(path, "is not a regular file")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd


def _read_exactly(handle: Any, n: int) -> bytes:
    data = handle.read(n)
    return data if data is not None else b""


def _read_bytes(path: Path) -> tuple[dict[str, Any], dict[str, Any], memoryview]:
    """(chainrule metadata, tensor table, tensor data) from one handle, after checking the structure."""
    fd = _open_regular(path)
    try:
        with os.fdopen(fd, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            head = _read_exactly(handle, 8)
            _sniff(path, head)
            if len(head) < 8:
                raise _fail(path, f"the file is {size} bytes long, too short for a model file")
            n = int.from_bytes(head, "little")
            if n > size - 8 or n < 2:
                raise _fail(path, f"the first 8 bytes announce a {n}-byte header but the file holds {size} bytes: "
                                  "it is truncated or not a safetensors model file")
            if n > MAX_HEADER_BYTES:
                raise _fail(path, f"the first 8 bytes announce a {n:,}-byte header; chainrule reads headers of at "
                                  f"most {MAX_HEADER_BYTES:,} bytes")
            raw = _read_exactly(handle, n)
            header = _parse_json(path, raw, "header")
            if not isinstance(header, dict):
                raise _fail(path, "the header is not a JSON object; not a safetensors model file")
            metadata = header.pop("__metadata__", None)
            if not isinstance(metadata, dict) or not isinstance(metadata.get(_META_KEY), str):
                raise _fail(path, "a safetensors file without chainrule metadata (not written by chainrule.save)")
            check_tree(path, header, "header")
            meta = _parse_json(path, metadata[_META_KEY], "chainrule metadata")
            check_tree(path, meta, "chainrule metadata")
            _check_meta(path, meta)
            data_size = size - 8 - n
            _check_tensor_table(path, header, data_size)
            data = _read_exactly(handle, data_size)
            if len(data) != data_size:
                raise _fail(path, f"the file ended after {len(data)} of {data_size} bytes of tensor data: it is "
                                  "truncated")
    except OSError as error:
        raise ModelFileError(f"cannot read {path}: {describe_os_error(error)}") from None
    return meta, header, memoryview(data)


def _check_meta(path: Path, meta: Any) -> None:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise _fail(path, "the metadata does not name the chainrule format")
    version = meta.get("format_version")
    if not _is_int(version) or version < 1:
        raise _fail(path, f"invalid format version {version!r:.40}")
    if version > FORMAT_VERSION:
        raise _fail(path, f"written in format version {version} by chainrule {meta.get('chainrule_version')!r:.40}; "
                          f"this chainrule reads versions up to {FORMAT_VERSION}: upgrade chainrule")
    if meta.get("kind") not in ("model", "checkpoint") or not isinstance(meta.get("dtype"), str) \
            or meta["dtype"] not in _FLOAT_DTYPES:
        raise _fail(path, f"unknown kind {meta.get('kind')!r:.40} or dtype {meta.get('dtype')!r:.40}")


def _check_tensor_table(path: Path, table: dict[str, Any], data_size: int) -> None:
    """Every tensor's dtype, shape and byte range, checked against the data's size before reading it."""
    if len(table) > MAX_TENSORS:
        raise _fail(path, f"the header lists {len(table):,} tensors; model files hold at most {MAX_TENSORS:,}")
    spans = []
    for name, entry in table.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise _fail(path, f"tensor {name!r:.80} has a malformed entry")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in _DTYPES:
            raise _fail(path, f"tensor {name!r:.80} has dtype {dtype!r:.40}, which chainrule files do not use")
        if not isinstance(shape, list) or len(shape) > MAX_DIMS:
            raise _fail(path, f"tensor {name!r:.80} has a malformed shape or more than {MAX_DIMS} dimensions")
        if not (all(_is_int(d) and 0 <= d < 2**63 for d in shape)
                and isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
            raise _fail(path, f"tensor {name!r:.80} has a malformed shape or byte range")
        begin, end = offsets
        expected = math.prod(shape) * _DTYPES[dtype].itemsize  # at most MAX_DIMS factors below 2^63: cheap
        needed = expected if expected < 10**30 else f"{float(expected):.3g}"
        if not 0 <= begin <= end or end - begin != expected:
            raise _fail(path, f"tensor {name!r:.80} of shape {tuple(shape)} needs {needed} bytes, its byte range "
                              f"[{begin}, {end}) does not match")
        spans.append((begin, end))
    position = 0
    for begin, end in sorted(spans):
        if begin != position:
            raise _fail(path, "the tensors' byte ranges overlap or leave gaps; the file is corrupt")
        position = end
    if position != data_size:
        state = "truncated" if position > data_size else "longer than its header says"
        raise _fail(path, f"the header describes {position} bytes of tensor data but the file holds {data_size}: "
                          f"the file is {state}")


def _tensor(table: dict[str, Any], data: memoryview, name: str) -> np.ndarray:
    entry = table[name]
    begin, end = entry["data_offsets"]
    dtype = _DTYPES[entry["dtype"]]
    array = np.frombuffer(data[begin:end], dtype=dtype).reshape(entry["shape"])
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_file(path: str | Path, *, allow_nonfinite: bool = False) -> tuple[dict[str, Any], nn.Sequential,
                                                                           dict[str, np.ndarray]]:
    """(metadata, model, state arrays) of a model or checkpoint file, read through one handle."""
    path = Path(path)
    meta, table, data = _read_bytes(path)
    dtype = np.dtype(meta["dtype"])
    arch = meta.get("architecture")
    entries = architecture.check_architecture(path, arch)
    expected = architecture.parameter_shapes(entries)  # checked against the tensors before any layer is built
    extra = sorted(set(table) - set(expected))
    missing = sorted(set(expected) - set(table))
    if missing or any(not name.startswith("state/") or meta["kind"] == "model" for name in extra):
        raise _fail(path, f"the tensors do not match the architecture: missing {missing[:5]}, "
                          f"unexpected {[n[:80] for n in extra[:5]]}")
    for name, shape in expected.items():
        if tuple(table[name]["shape"]) != shape or table[name]["dtype"] != _FLOAT_DTYPES[meta["dtype"]]:
            raise _fail(path, f"tensor {name} is {table[name]['dtype']} {tuple(table[name]['shape'])}, the "
                              f"architecture needs {_FLOAT_DTYPES[meta['dtype']]} {shape}")
    model = architecture.build(path, arch, entries, dtype)
    for name, p in model.named_parameters():
        value = _tensor(table, data, f"model/{name}")
        if not allow_nonfinite and not np.isfinite(value).all():
            bad = int(value.size - np.isfinite(value).sum())
            raise _fail(path, f"parameter {name} holds {bad:,} NaN or infinite value(s); the model cannot "
                              "predict anything finite (load(..., allow_nonfinite=True) reads it anyway)")
        np.copyto(p.data, value)  # in place: an MLP's parameters stay views of its flat buffer
    arrays = {name: _tensor(table, data, name) for name in extra}
    return meta, model, arrays


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The file's chainrule metadata (format, versions, kind, dtype, architecture), checked, without the tensors."""
    meta, _, _ = _read_bytes(Path(path))
    meta.pop("state", None)
    return meta


def load(path: str | Path, *, allow_nonfinite: bool = False) -> nn.Sequential:
    """Read a network written by :func:`save` (or the model in a checkpoint).

    Parameters
    ----------
    path : str or Path
    allow_nonfinite : bool
        Read weights that are NaN or infinite instead of refusing the file (default False).

    Raises
    ------
    ModelFileError
        When the file is missing, not a regular file, truncated, corrupt, foreign (a
        pickle, an .npz, ...), over one of the budgets above, holds non-finite weights
        or was written in a newer format version; the message says which.
    """
    return read_file(path, allow_nonfinite=allow_nonfinite)[1]
