"""Hypothesis over model-file headers: loading ends in a model or one ModelFileError, and quickly.

Three kinds of hostile header are drawn: arbitrary JSON values in place of the tensor table,
a real file's tensor entries with their dtype, shape and offsets replaced by arbitrary JSON,
and a real file's chainrule metadata with one field replaced at any depth of its
architecture. Whatever comes, ``chainrule.load`` must return a model or raise
``ModelFileError``; any other exception, or a load slower than the generous bound, fails.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.errors import ModelFileError

#: A generous bound on one load: the budgets make every refusal take milliseconds.
SECONDS = 2.0

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6),
    max_leaves=40,
)


def _saved_parts(tmp_path: Path) -> tuple[dict, bytes]:
    path = cr.save(cr.MLP([2, 3, 1], activation="tanh", seed=0), tmp_path / "net.safetensors")
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def _load_within_bound(path: Path, header: object, data: bytes) -> None:
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data)
    start = time.perf_counter()
    try:
        model = cr.load(path)
    except ModelFileError:
        pass
    else:
        assert isinstance(model, cr.Module)
    assert time.perf_counter() - start < SECONDS


def _replace_at(tree: object, path: list[int], value: object) -> object:
    """``tree`` with the node reached by following ``path`` (indices modulo each level's size) replaced."""
    if not path or not isinstance(tree, (dict, list)) or not tree:
        return value
    keys = list(tree) if isinstance(tree, dict) else list(range(len(tree)))
    key = keys[path[0] % len(keys)]
    copy = dict(tree) if isinstance(tree, dict) else list(tree)
    copy[key] = _replace_at(tree[key], path[1:], value)
    return copy


fuzz = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@fuzz
@given(header=json_values)
def test_any_json_header_loads_or_is_refused(tmp_path: Path, header: object) -> None:
    _, data = _saved_parts(tmp_path)
    _load_within_bound(tmp_path / "fuzz.safetensors", header, data)


@fuzz
@given(field=st.sampled_from(["dtype", "shape", "data_offsets"]), value=json_values, which=st.integers(0, 3))
def test_tensor_entries_with_any_field_load_or_are_refused(tmp_path: Path, field: str, value: object,
                                                           which: int) -> None:
    header, data = _saved_parts(tmp_path)
    name = sorted(k for k in header if k != "__metadata__")[which]
    header[name][field] = value
    _load_within_bound(tmp_path / "fuzz.safetensors", header, data)


@fuzz
@given(path=st.lists(st.integers(0, 50), max_size=6), value=json_values)
def test_metadata_with_any_field_replaced_loads_or_is_refused(tmp_path: Path, path: list[int],
                                                              value: object) -> None:
    header, data = _saved_parts(tmp_path)
    meta = json.loads(header["__metadata__"]["chainrule"])
    header["__metadata__"]["chainrule"] = json.dumps(_replace_at(meta, path, value))
    _load_within_bound(tmp_path / "fuzz.safetensors", header, data)


@pytest.mark.parametrize("metadata", [None, 7, [], {"chainrule": 7}, {"chainrule": "not json"}, {"other": "x"}])
def test_metadata_of_the_wrong_kind_is_refused(tmp_path: Path, metadata: object) -> None:
    header, data = _saved_parts(tmp_path)
    header["__metadata__"] = metadata
    path = tmp_path / "wrong.safetensors"
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data)
    with pytest.raises(ModelFileError):
        cr.load(path)
