"""Hostile and damaged model files: refused with a ModelFileError, nothing executed, memory bounded.

A model file is safetensors: 8 bytes of header length, a JSON header, raw numbers.
Each case below builds a file an attacker (or a broken disk) could hand to
``chainrule.io.load``; the loader must say what is wrong without running code from the
file and without allocating what the file merely declares.
"""

from __future__ import annotations

import io
import json
import pickle
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ModelFileError
from chainrule.io import load, load_checkpoint, read_metadata, save, save_checkpoint

#: Refusing a file may cost some bookkeeping, never the sizes it declares.
MEMORY_LIMIT = 16 << 20


class CreatesAFile:
    """Unpickling this object opens (creates) ``path``: proof that code from a file ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def _split(raw: bytes) -> tuple[dict, bytes]:
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def _join(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


def _meta(header: dict) -> dict:
    return json.loads(header["__metadata__"]["chainrule"])


def _with_meta(header: dict, meta: dict) -> dict:
    header = dict(header)
    header["__metadata__"] = {"chainrule": json.dumps(meta)}
    return header


@pytest.fixture
def valid(tmp_path) -> bytes:
    """The bytes of a real model file (a 3-4-2 MLP in float64)."""
    return save(cr.MLP([3, 4, 2], activation="tanh", seed=0), tmp_path / "valid.safetensors").read_bytes()


def _refused(path: Path, pattern: str, loader=load) -> ModelFileError:
    """``loader(path)`` raises ModelFileError matching ``pattern`` while holding little memory."""
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=pattern) as info:
            loader(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, f"refusing {path.name} took {peak / 2**20:.1f} MiB"
    assert str(path) in str(info.value)
    return info.value


# ------------------------------------------------------------------ pickles and foreign formats
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("loader", [load, load_checkpoint, read_metadata])
def test_a_pickle_renamed_to_a_model_file_is_never_unpickled(tmp_path, protocol, loader):
    witness = tmp_path / "witness"
    pickle.loads(pickle.dumps(CreatesAFile(witness), protocol=protocol)).close()
    assert witness.exists(), "the payload must be live for this test to mean anything"
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps(CreatesAFile(marker), protocol=protocol))
    # Protocols 2+ start with the PROTO opcode and are named as pickles; 0 and 1 are just not a model file.
    pattern = r"pickle.*never unpickles" if protocol >= 2 else r"not a safetensors model file"
    _refused(path, pattern, loader)
    assert not marker.exists()


def test_a_torch_style_zip_holding_a_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(CreatesAFile(marker), protocol=2))
    path = tmp_path / "model.pt"
    path.write_bytes(buffer.getvalue())
    _refused(path, r"ZIP archive .* not a chainrule model file")
    assert not marker.exists()


def test_a_zip_bomb_like_npz_is_refused_without_inflating_it(tmp_path):
    # 64 MiB of zeros deflate to about 64 KiB; the loader must not inflate them.
    path = tmp_path / "weights.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("0.weight.npy", "w", force_zip64=True) as member:
            member.write(b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (8388608,), }"
                         .ljust(128 - 1) + b"\n")
            zeros = bytes(1 << 20)
            for _ in range(64):
                member.write(zeros)
    assert path.stat().st_size < 1 << 20
    renamed = path.rename(tmp_path / "model.safetensors")
    _refused(renamed, r"ZIP archive")


@pytest.mark.parametrize("head,what", [
    (b"\x93NUMPY\x01\x00", "NumPy .npy"),
    (b"\x89HDF\r\n\x1a\n", "HDF5"),
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "gzip"),
])
def test_other_foreign_formats_are_named(tmp_path, head, what):
    path = tmp_path / "model.safetensors"
    path.write_bytes(head + bytes(100))
    _refused(path, what)


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes_are_refused(tmp_path, seed):
    path = tmp_path / "noise.safetensors"
    size = int(np.random.default_rng(seed).integers(0, 5000))
    path.write_bytes(np.random.default_rng(seed).bytes(size))
    _refused(path, r".")


def test_an_empty_file_and_a_missing_file(tmp_path):
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    _refused(empty, r"0 bytes long, too short")
    with pytest.raises(ModelFileError, match="no model file at"):
        load(tmp_path / "absent.safetensors")


# ------------------------------------------------------------------ lying headers
def test_a_header_length_past_the_end(tmp_path, valid):
    path = tmp_path / "model.safetensors"
    path.write_bytes((2**62).to_bytes(8, "little") + valid[8:])
    _refused(path, r"announce a \d+-byte header but the file holds \d+ bytes")


def test_huge_declared_tensor_shapes(tmp_path, valid):
    header, data = _split(valid)
    # 8 TiB declared, byte range consistent with the shape, so only the file size gives it away.
    for name in ("model/2.bias", "model/2.weight"):
        del header[name]
    header["model/2.weight"] = {"dtype": "F64", "shape": [1 << 20, 1 << 20], "data_offsets": [128, 128 + (8 << 40)]}
    path = tmp_path / "model.safetensors"
    path.write_bytes(_join(header, data[:128]))
    _refused(path, r"describes \d+ bytes of tensor data but the file holds 128: the file is truncated")


def test_tensor_offsets_past_the_end_of_the_file(tmp_path, valid):
    header, data = _split(valid)
    begin, end = header["model/2.weight"]["data_offsets"]
    path = tmp_path / "model.safetensors"
    path.write_bytes(_join(header, data[:begin + 8]))
    _refused(path, r"the file is truncated")


def test_overlapping_tensor_ranges(tmp_path, valid):
    header, data = _split(valid)
    begin, _ = header["model/0.bias"]["data_offsets"]
    header["model/2.bias"]["data_offsets"] = [begin, begin + 16]  # the right length, inside 0.bias
    path = tmp_path / "model.safetensors"
    path.write_bytes(_join(header, data))
    _refused(path, r"overlap or leave gaps")


def test_an_architecture_declaring_a_huge_layer_is_refused_before_allocating_it(tmp_path, valid):
    header, data = _split(valid)
    meta = _meta(header)
    meta["architecture"]["modules"][0].update(n_in=4000, n_out=4000)  # 128 MB of float64 declared
    meta["architecture"]["modules"][2].update(n_in=4000)
    path = tmp_path / "model.safetensors"
    path.write_bytes(_join(_with_meta(header, meta), data))
    _refused(path, r"tensor|architecture")


def test_an_absurd_architecture_is_a_model_file_error_not_a_memory_error(tmp_path, valid):
    header, data = _split(valid)
    meta = _meta(header)
    meta["architecture"]["modules"][0].update(n_in=10**9, n_out=10**9)
    meta["architecture"]["modules"][2].update(n_in=10**9)
    path = tmp_path / "model.safetensors"
    path.write_bytes(_join(_with_meta(header, meta), data))
    _refused(path, r"tensor|architecture")


def test_deeply_nested_metadata(tmp_path, valid):
    header, data = _split(valid)
    header["__metadata__"] = {"chainrule": "[" * 100_000 + "]" * 100_000}
    path = tmp_path / "model.safetensors"
    path.write_bytes(_join(header, data))
    _refused(path, r"not valid JSON|metadata")


# ------------------------------------------------------------------ metadata outside the vocabulary
def test_a_newer_format_version_asks_for_an_upgrade(tmp_path, valid):
    header, data = _split(valid)
    meta = _meta(header)
    meta["format_version"] = 2
    path = tmp_path / "model.safetensors"
    path.write_bytes(_join(_with_meta(header, meta), data))
    _refused(path, r"format version 2 .* reads versions up to 1: upgrade chainrule")


@pytest.mark.parametrize("entry,pattern", [
    ({"kind": "Conv2d", "channels": 3}, r"module 0 is not a Linear, Activation or Dropout entry"),
    ({"kind": "__import__('os').system('touch pwned')"}, r"module 0 is not a Linear, Activation or Dropout"),
    ({"kind": "Activation", "name": "os.system", "attrs": {}}, r"unknown activation 'os.system'"),
    ({"kind": "Activation", "name": "leaky_relu", "attrs": {"alpha": "__import__('os')"}},
     r"does not accept the attribute alpha="),
    ({"kind": "Linear", "n_in": 3, "n_out": 4, "bias": True, "init": "eval"}, r"has keys .* expected"),
    ({"kind": "Linear", "n_in": -3, "n_out": 4, "bias": True}, r"integer sizes >= 1"),
], ids=["unknown-kind", "code-as-kind", "unknown-activation", "code-as-attribute", "extra-key", "negative"])
def test_modules_outside_the_vocabulary_are_refused(tmp_path, valid, entry, pattern):
    header, data = _split(valid)
    meta = _meta(header)
    meta["architecture"]["modules"][0] = entry
    path = tmp_path / "model.safetensors"
    path.write_bytes(_join(_with_meta(header, meta), data))
    _refused(path, pattern)
    assert not (tmp_path / "pwned").exists()


def test_a_safetensors_file_from_elsewhere_is_refused(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "foreign.safetensors"
    save_file({"weight": np.ones((2, 2))}, str(path))
    _refused(path, r"without chainrule metadata")


def test_a_checkpoint_referring_to_a_missing_array(tmp_path):
    net = cr.MLP([2, 2], seed=0)
    path = save_checkpoint(tmp_path / "run.safetensors", net, extra={"table": np.arange(3.0)})
    header, data = _split(path.read_bytes())
    meta = _meta(header)
    meta["state"]["extra"]["table"] = {"$array": "model/0.weight/../../etc/passwd"}
    path.write_bytes(_join(_with_meta(header, meta), data))
    _refused(path, r"refers to a tensor .* the file does not hold", load_checkpoint)


def test_a_valid_file_still_loads(tmp_path, valid):
    path = tmp_path / "model.safetensors"
    path.write_bytes(valid)
    net = load(path)
    np.testing.assert_array_equal(net[0].weight.data, cr.MLP([3, 4, 2], activation="tanh", seed=0)[0].weight.data)
