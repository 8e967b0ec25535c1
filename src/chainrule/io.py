"""Model files and training checkpoints that cannot run code.

A chainrule file is a `safetensors <https://huggingface.co/docs/safetensors>`_ file:
8 bytes giving the header's length, a JSON header listing each tensor's dtype, shape
and byte range, then the raw little-endian numbers. The header's ``__metadata__``
holds one JSON document under the key ``"chainrule"``::

    {"format": "chainrule", "format_version": 1, "chainrule_version": "0.1.0",
     "kind": "model" | "checkpoint", "dtype": "float64",
     "architecture": {"container": "MLP", "check_finite": false, "modules": [
         {"kind": "Linear", "n_in": 2, "n_out": 3, "bias": true},
         {"kind": "Activation", "name": "tanh", "attrs": {}},
         {"kind": "Dropout", "p": 0.5}, ...]},
     "state": {...}}                                   (checkpoints only)

Parameters are stored as tensors ``model/<name>`` (``model/0.weight``: (n_in, n_out)).
Loading rebuilds the network from that fixed vocabulary alone; nothing in a file is
unpickled, evaluated or imported by name, so a file can hold numbers but never code.
Files are checked before anything is allocated (magic bytes, header length, every
tensor's byte range against the file size) and written atomically (a temporary file
in the same directory, flushed and fsynced, then renamed over the target).

Checkpoints add the optimizer's and schedule's state, epoch and step counters, the
history and the random generator's state; their arrays are tensors ``state/<i>`` that
the JSON refers to as ``{"$array": "state/<i>"}``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import nn
from chainrule.errors import ConfigError, ModelFileError

__all__ = ["save", "load", "save_checkpoint", "load_checkpoint", "read_metadata", "Checkpoint",
           "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "chainrule"
FORMAT_VERSION = 1
_META_KEY = "chainrule"
_MAX_HEADER = 100_000_000  # bytes; safetensors' own limit
_DTYPES: dict[str, np.dtype] = {
    "F32": np.dtype(np.float32), "F64": np.dtype(np.float64), "I32": np.dtype(np.int32),
    "I64": np.dtype(np.int64), "U32": np.dtype(np.uint32), "U64": np.dtype(np.uint64),
    "U8": np.dtype(np.uint8), "BOOL": np.dtype(np.bool_),
}
_FLOAT_DTYPES = {"float32": "F32", "float64": "F64"}

# The vocabulary of activations a file may name, with the attributes each accepts.
_ACTIVATIONS: dict[str, tuple[type[nn.Activation], dict[str, Any]]] = {
    "identity": (nn.Identity, {}), "sigmoid": (nn.Sigmoid, {}), "tanh": (nn.Tanh, {}), "relu": (nn.ReLU, {}),
    "softplus": (nn.Softplus, {}), "leaky_relu": (nn.LeakyReLU, {"alpha": float}),
    "elu": (nn.ELU, {"alpha": float}), "gelu": (nn.GELU, {"approximate": ("none", "tanh")}),
    "softmax": (nn.Softmax, {"axis": int}), "log_softmax": (nn.LogSoftmax, {"axis": int}),
}


# ------------------------------------------------------------------ architecture
def _describe(model: nn.Module) -> dict[str, Any]:
    """The architecture entry for a Sequential or MLP built from the vocabulary."""
    if not isinstance(model, nn.Sequential):
        raise ConfigError(f"save() writes Sequential and MLP networks, got {type(model).__name__}")
    modules = []
    for i, m in enumerate(model):
        if isinstance(m, nn.Linear):
            modules.append({"kind": "Linear", "n_in": m.n_in, "n_out": m.n_out, "bias": m.bias is not None})
        elif isinstance(m, nn.Activation) and m.name in _ACTIVATIONS:
            attrs = {k: v.item() if isinstance(v, np.generic) else v for k, v in m.attrs.items()}
            if any(not isinstance(v, (int, float, str)) for v in attrs.values()):
                raise ConfigError(f"module {i} ({m.name}) has attributes that are not numbers or strings: {attrs}")
            modules.append({"kind": "Activation", "name": m.name, "attrs": attrs})
        elif isinstance(m, nn.Dropout):
            modules.append({"kind": "Dropout", "p": float(m.p)})
        else:
            raise ConfigError(f"module {i} ({type(m).__name__}) cannot be saved: model files hold Linear layers, "
                              f"the activations {', '.join(_ACTIVATIONS)} and Dropout")
    container = "MLP" if isinstance(model, nn.MLP) else "Sequential"
    return {"container": container, "check_finite": bool(model.check_finite), "modules": modules}


def _fail(path: Path, message: str) -> ModelFileError:
    return ModelFileError(f"{path}: {message}")


def _check_keys(path: Path, entry: dict[str, Any], keys: set[str], where: str) -> None:
    if set(entry) != keys:
        raise _fail(path, f"{where} has keys {sorted(entry)}, expected {sorted(keys)}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_module(path: Path, i: int, entry: Any) -> dict[str, Any]:
    """One architecture entry, checked against the vocabulary (nothing is built yet)."""
    where = f"architecture module {i}"
    if not isinstance(entry, dict) or entry.get("kind") not in ("Linear", "Activation", "Dropout"):
        raise _fail(path, f"{where} is not a Linear, Activation or Dropout entry: {entry!r:.200}")
    kind = entry["kind"]
    if kind == "Linear":
        _check_keys(path, entry, {"kind", "n_in", "n_out", "bias"}, where)
        if not (_is_int(entry["n_in"]) and _is_int(entry["n_out"]) and entry["n_in"] >= 1 and entry["n_out"] >= 1
                and isinstance(entry["bias"], bool)):
            raise _fail(path, f"{where}: Linear needs integer sizes >= 1 and a boolean bias, got {entry}")
    elif kind == "Dropout":
        _check_keys(path, entry, {"kind", "p"}, where)
        if not (isinstance(entry["p"], (int, float)) and not isinstance(entry["p"], bool) and 0 <= entry["p"] < 1):
            raise _fail(path, f"{where}: Dropout needs 0 <= p < 1, got {entry['p']!r}")
    else:
        _check_keys(path, entry, {"kind", "name", "attrs"}, where)
        name, attrs = entry["name"], entry["attrs"]
        if not isinstance(name, str) or name not in _ACTIVATIONS or not isinstance(attrs, dict):
            raise _fail(path, f"{where}: unknown activation {name!r}; files may use {', '.join(_ACTIVATIONS)}")
        allowed = _ACTIVATIONS[name][1]
        for key, value in attrs.items():
            rule = allowed.get(key)
            ok = (rule is float and isinstance(value, (int, float)) and not isinstance(value, bool)
                  and math.isfinite(value)) or (rule is int and _is_int(value)) \
                or (isinstance(rule, tuple) and value in rule)
            if not ok:
                raise _fail(path, f"{where}: {name} does not accept the attribute {key}={value!r}")
    return entry


def _check_architecture(path: Path, arch: Any) -> list[dict[str, Any]]:
    """The architecture's module entries, checked, with consecutive layers fitting together."""
    if not isinstance(arch, dict):
        raise _fail(path, "the architecture is missing")
    _check_keys(path, arch, {"container", "check_finite", "modules"}, "the architecture")
    if arch["container"] not in ("MLP", "Sequential") or not isinstance(arch["check_finite"], bool) \
            or not isinstance(arch["modules"], list) or not arch["modules"]:
        raise _fail(path, f"the architecture is not a non-empty MLP or Sequential: {arch!r:.200}")
    entries = [_check_module(path, i, entry) for i, entry in enumerate(arch["modules"])]
    linears = [e for e in entries if e["kind"] == "Linear"]
    for a, b in zip(linears, linears[1:]):
        if a["n_out"] != b["n_in"]:
            raise _fail(path, f"the layers do not fit together: Linear({a['n_in']}, {a['n_out']}) then "
                              f"Linear({b['n_in']}, {b['n_out']})")
    return entries


def _parameter_shapes(entries: list[dict[str, Any]]) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape that the architecture needs (Sequential names parameters by position)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for i, e in enumerate(entries):
        if e["kind"] == "Linear":
            shapes[f"model/{i}.weight"] = (e["n_in"], e["n_out"])
            if e["bias"]:
                shapes[f"model/{i}.bias"] = (e["n_out"],)
    return shapes


def _make_module(entry: dict[str, Any], dtype: np.dtype) -> nn.Module:
    if entry["kind"] == "Linear":
        return nn.Linear(entry["n_in"], entry["n_out"], bias=entry["bias"], init="zeros", dtype=dtype)
    if entry["kind"] == "Dropout":
        return nn.Dropout(float(entry["p"]))
    return _ACTIVATIONS[entry["name"]][0](**entry["attrs"])


def _build(arch: dict[str, Any], entries: list[dict[str, Any]], dtype: np.dtype) -> nn.Sequential:
    """The network for checked entries: an MLP when the file says so and the layout is MLP's."""
    modules = [_make_module(e, dtype) for e in entries]
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    layout = _mlp_layout(modules) if arch["container"] == "MLP" else None
    if layout is not None:
        acts, drops = layout
        return nn.MLP([linears[0].n_in] + [m.n_out for m in linears], activation=acts[:-1],
                      output_activation=acts[-1], init="zeros", dtype=dtype, bias=linears[0].bias is not None,
                      check_finite=arch["check_finite"], dropout=drops)
    return nn.Sequential(*modules, check_finite=arch["check_finite"])


def _mlp_layout(modules: list[nn.Module]) -> tuple[list[nn.Activation], list[float]] | None:
    """(activations, hidden dropout rates) when ``modules`` is what ``MLP`` builds, else None.

    MLP lays out Linear, activation and, after hidden layers only, Dropout(p > 0).
    """
    acts: list[nn.Activation] = []
    drops: list[float] = []
    biases = set()
    i = 0
    while i < len(modules):
        if not (isinstance(modules[i], nn.Linear) and i + 1 < len(modules)
                and isinstance(modules[i + 1], nn.Activation)):
            return None
        biases.add(modules[i].bias is not None)
        acts.append(modules[i + 1])
        i += 2
        if i < len(modules) and isinstance(modules[i], nn.Dropout):
            if modules[i].p == 0 or i == len(modules) - 1:
                return None
            drops.append(modules[i].p)
            i += 1
        else:
            drops.append(0.0)
    return (acts, drops[:-1]) if len(biases) == 1 else None


# ------------------------------------------------------------------ state trees (checkpoints)
def _flatten(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """JSON-ready copy of ``value``; arrays move into ``arrays`` and are referred to by name."""
    if isinstance(value, np.ndarray):
        name = f"state/{len(arrays)}"
        arrays[name] = np.ascontiguousarray(value)
        return {"$array": name}
    if isinstance(value, dict):
        if "$array" in value:
            raise ConfigError("checkpoint state may not use the key '$array'")
        return {str(k): _flatten(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_flatten(v, arrays) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ConfigError(f"checkpoint state may hold arrays, numbers and strings, not {type(value).__name__}")


def _unflatten(path: Path, value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$array"}:
            name = value["$array"]
            if not isinstance(name, str) or name not in arrays or not name.startswith("state/"):
                raise _fail(path, f"the state refers to a tensor {name!r} the file does not hold")
            return arrays[name]
        return {k: _unflatten(path, v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_unflatten(path, v, arrays) for v in value]
    return value


# ------------------------------------------------------------------ writing
def _atomic_write(path: Path, data: bytes) -> None:
    parent = path.parent
    if not parent.is_dir():
        raise ModelFileError(f"cannot write {path}: the directory {parent} does not exist")
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable (POSIX; not possible on every platform)
        dir_fd = os.open(parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _write(path: str | Path, model: nn.Module, kind: str, state: dict[str, Any] | None) -> Path:
    from safetensors.numpy import save as safetensors_bytes

    from chainrule import __version__

    path = Path(path)
    arch = _describe(model)
    params = dict(model.named_parameters())
    dtypes = {str(p.data.dtype) for p in params.values()}
    if len(dtypes) != 1 or next(iter(dtypes)) not in _FLOAT_DTYPES:
        raise ConfigError(f"model files hold float32 or float64 networks of one dtype, got {sorted(dtypes)}")
    tensors = {f"model/{name}": np.ascontiguousarray(p.data) for name, p in params.items()}
    meta: dict[str, Any] = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                            "chainrule_version": __version__, "kind": kind, "dtype": dtypes.pop(),
                            "architecture": arch}
    if state is not None:
        arrays: dict[str, np.ndarray] = {}
        meta["state"] = _flatten(state, arrays)
        tensors.update(arrays)
    data = safetensors_bytes(tensors, metadata={_META_KEY: json.dumps(meta)})
    _atomic_write(path, data)
    return path


def save(model: nn.Module, path: str | Path) -> Path:
    """Write ``model`` (a Sequential or MLP) to ``path`` as a safetensors file; returns the path.

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
    return _write(path, model, "model", None)


def save_checkpoint(path: str | Path, model: nn.Module, *, optimizer: Any = None, schedule: Any = None,
                    history: Any = None, rng: np.random.Generator | dict | None = None, epoch: int = 0,
                    step: int = 0, callbacks: list[Any] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write the model and the state of a training run, enough to continue it bit for bit.

    ``optimizer``, ``schedule`` and ``history`` may be the objects or their state dicts;
    ``rng`` a Generator (its ``bit_generator.state`` is stored) or that state. The
    generators of modules that draw random numbers (Dropout's masks) are stored too.
    """
    def state_of(obj: Any) -> Any:
        if obj is None or isinstance(obj, dict):
            return obj
        return obj.to_dict() if hasattr(obj, "to_dict") else obj.state_dict()

    rng_state = rng.bit_generator.state if isinstance(rng, np.random.Generator) else rng
    state = {"epoch": int(epoch), "step": int(step), "optimizer": state_of(optimizer),
             "schedule": state_of(schedule), "history": state_of(history), "rng": rng_state,
             "callbacks": list(callbacks or []), "extra": dict(extra or {}),
             "module_rngs": {str(i): m.rng.bit_generator.state for i, m in enumerate(model.modules())
                             if isinstance(getattr(m, "rng", None), np.random.Generator)}}
    return _write(path, model, "checkpoint", state)


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
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise _fail(path, f"the {what} is not valid JSON ({error}); the file is corrupt or not a model file") \
            from None


def _read_header(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(chainrule metadata, tensor table) after checking the file's structure."""
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise _fail(path, "is a directory, not a model file")
        with open(path, "rb") as handle:
            head = handle.read(8)
            _sniff(path, head)
            if len(head) < 8:
                raise _fail(path, f"the file is {size} bytes long, too short for a model file")
            n = int.from_bytes(head, "little")
            if n > size - 8 or n > _MAX_HEADER or n < 2:
                raise _fail(path, f"the first 8 bytes announce a {n}-byte header but the file holds {size} bytes: "
                                  "it is truncated or not a safetensors model file")
            raw = handle.read(n)
    except FileNotFoundError:
        raise ModelFileError(f"no model file at {path}") from None
    except PermissionError:
        raise ModelFileError(f"cannot read {path}: permission denied") from None
    header = _parse_json(path, raw, "header")
    if not isinstance(header, dict):
        raise _fail(path, "the header is not a JSON object; not a safetensors model file")
    metadata = header.pop("__metadata__", None)
    if not isinstance(metadata, dict) or not isinstance(metadata.get(_META_KEY), str):
        raise _fail(path, "a safetensors file without chainrule metadata (not written by chainrule.save)")
    meta = _parse_json(path, metadata[_META_KEY], "chainrule metadata")
    _check_meta(path, meta)
    _check_tensor_table(path, header, size - 8 - n)
    return meta, header


def _check_meta(path: Path, meta: Any) -> None:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise _fail(path, "the metadata does not name the chainrule format")
    version = meta.get("format_version")
    if not _is_int(version) or version < 1:
        raise _fail(path, f"invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise _fail(path, f"written in format version {version} by chainrule {meta.get('chainrule_version')}; "
                          f"this chainrule reads versions up to {FORMAT_VERSION}: upgrade chainrule")
    if meta.get("kind") not in ("model", "checkpoint") or not isinstance(meta.get("dtype"), str) \
            or meta["dtype"] not in _FLOAT_DTYPES:
        raise _fail(path, f"unknown kind {meta.get('kind')!r} or dtype {meta.get('dtype')!r}")


def _check_tensor_table(path: Path, table: dict[str, Any], data_size: int) -> None:
    """Every tensor's dtype, shape and byte range, checked against the data's size before reading it."""
    spans = []
    for name, entry in table.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise _fail(path, f"tensor {name!r} has a malformed entry")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in _DTYPES:
            raise _fail(path, f"tensor {name!r} has dtype {dtype!r}, which chainrule files do not use")
        if not (isinstance(shape, list) and all(_is_int(d) and d >= 0 for d in shape)
                and isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
            raise _fail(path, f"tensor {name!r} has a malformed shape or byte range")
        begin, end = offsets
        expected = math.prod(shape) * _DTYPES[dtype].itemsize
        if not 0 <= begin <= end or end - begin != expected:
            raise _fail(path, f"tensor {name!r} of shape {tuple(shape)} needs {expected} bytes, its byte range "
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


def _read(path: str | Path) -> tuple[dict[str, Any], nn.Sequential, dict[str, np.ndarray]]:
    path = Path(path)
    meta, table = _read_header(path)
    dtype = np.dtype(meta["dtype"])
    arch = meta.get("architecture")
    entries = _check_architecture(path, arch)
    expected = _parameter_shapes(entries)  # checked against the tensors before any layer is built
    extra = sorted(set(table) - set(expected))
    missing = sorted(set(expected) - set(table))
    if missing or any(not name.startswith("state/") or meta["kind"] == "model" for name in extra):
        raise _fail(path, f"the tensors do not match the architecture: missing {missing}, unexpected {extra}")
    for name, shape in expected.items():
        if tuple(table[name]["shape"]) != shape or table[name]["dtype"] != _FLOAT_DTYPES[meta["dtype"]]:
            raise _fail(path, f"tensor {name} is {table[name]['dtype']} {tuple(table[name]['shape'])}, the "
                              f"architecture needs {_FLOAT_DTYPES[meta['dtype']]} {shape}")
    model = _build(arch, entries, dtype)
    from safetensors.numpy import load_file

    try:
        arrays = load_file(str(path))
    except Exception as error:  # safetensors raises its own error types
        raise _fail(path, f"the tensor data cannot be read ({error})") from None
    for name, p in model.named_parameters():
        p.data = np.array(arrays.pop(f"model/{name}"), dtype=dtype, copy=True)
    return meta, model, arrays


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The file's chainrule metadata (format, versions, kind, dtype, architecture), checked, without the tensors."""
    meta, _ = _read_header(Path(path))
    meta.pop("state", None)
    return meta


def load(path: str | Path) -> nn.Sequential:
    """Read a network written by :func:`save` (or the model in a checkpoint).

    Raises
    ------
    ModelFileError
        When the file is missing, truncated, corrupt, foreign (a pickle, an .npz, ...)
        or written in a newer format version; the message says which.
    """
    return _read(path)[1]


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns: the model and the training run's state."""

    model: nn.Sequential
    epoch: int = 0
    step: int = 0
    optimizer: dict[str, Any] | None = None
    schedule: dict[str, Any] | None = None
    history: dict[str, Any] | None = None
    rng: dict[str, Any] | None = None
    callbacks: list[Any] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    module_rngs: dict[str, Any] = field(default_factory=dict)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (or by ``fit(checkpoint=...)``)."""
    path = Path(path)
    meta, model, arrays = _read(path)
    if meta["kind"] != "checkpoint":
        raise _fail(path, "holds a model but no training state; load it with chainrule.load, or pass it to "
                          "fit as a model rather than as resume=")
    state = _unflatten(path, meta.get("state"), arrays)
    if not isinstance(state, dict):
        raise _fail(path, "the checkpoint's state is missing")
    epoch, step = state.get("epoch"), state.get("step")
    if not (_is_int(epoch) and epoch >= 0 and _is_int(step) and step >= 0):
        raise _fail(path, f"invalid epoch/step counters {epoch!r}/{step!r}")
    parts = {}
    for key in ("optimizer", "schedule", "history", "rng"):
        if state.get(key) is not None and not isinstance(state[key], dict):
            raise _fail(path, f"the checkpoint's {key} state is not an object")
        parts[key] = state.get(key)
    callbacks = state.get("callbacks") or []
    extra = state.get("extra") or {}
    module_rngs = state.get("module_rngs") or {}
    if not isinstance(callbacks, list) or not all(isinstance(c, dict) for c in callbacks) \
            or not isinstance(extra, dict) or not isinstance(module_rngs, dict):
        raise _fail(path, "the checkpoint's callback, module or extra state is malformed")
    return Checkpoint(model, epoch, step, callbacks=callbacks, extra=extra, module_rngs=module_rngs, **parts)
