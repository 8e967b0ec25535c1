"""Model files and checkpoints: one read per file, every size bounded, no saved work lost.

Each test builds a hostile or unusual file with the container's own encoder and checks that
loading it ends in one ModelFileError (or the right behaviour) within a generous time bound.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import atomic
from chainrule.errors import ModelFileError
from chainrule.io import container


def _parts(path: Path) -> tuple[dict, dict, dict[str, np.ndarray]]:
    """(chainrule metadata, tensor table, tensors) of a file written by chainrule.save."""
    meta, table, data = container._read_bytes(path)
    tensors = {name: container._tensor(table, data, name) for name in table}
    return meta, table, tensors


def _rewrite(path: Path, meta: dict, tensors: dict[str, np.ndarray]) -> None:
    path.write_bytes(container._encode(tensors, {container._META_KEY: json.dumps(meta)}))


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return cr.save(cr.MLP([2, 3, 1], activation="tanh", seed=0), tmp_path / "net.safetensors")


def test_a_shape_of_thousands_of_dimensions_is_refused_at_once(saved: Path) -> None:
    raw = saved.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    name = next(k for k in header if k != "__metadata__")
    header[name]["shape"] = [2] * 50_000
    text = json.dumps(header).encode()
    saved.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n:])
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match=f"more than {container.MAX_DIMS} dimensions"):
        cr.load(saved)
    assert time.perf_counter() - start < 5


def test_a_header_longer_than_the_budget_is_refused_before_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "big.safetensors"
    n = container.MAX_HEADER_BYTES + 8
    with open(path, "wb") as handle:
        handle.write(n.to_bytes(8, "little"))
        handle.truncate(8 + n + 8)
    with pytest.raises(ModelFileError, match="header"):
        cr.load(path)


@pytest.mark.parametrize("depth", [container.MAX_DEPTH + 1, 100_000])
def test_metadata_nested_beyond_the_depth_budget_is_refused_without_recursion(saved: Path, depth: int) -> None:
    meta, _, tensors = _parts(saved)
    text = json.dumps(meta)[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}"
    saved.write_bytes(container._encode(tensors, {container._META_KEY: text}))
    with pytest.raises(ModelFileError, match="deep|nest") as caught:
        cr.load(saved)
    assert not isinstance(caught.value.__cause__, RecursionError)


def test_an_architecture_with_no_linear_layer_is_refused_at_load(saved: Path) -> None:
    meta, _, _ = _parts(saved)
    meta["architecture"]["modules"] = [m for m in meta["architecture"]["modules"] if m.get("kind") != "Linear"]
    _rewrite(saved, meta, {})
    with pytest.raises(ModelFileError, match="Linear"):
        cr.load(saved)


def test_non_finite_weights_are_refused_unless_allowed(saved: Path) -> None:
    meta, _, tensors = _parts(saved)
    name = next(iter(tensors))
    tensors[name] = tensors[name].copy()
    tensors[name].flat[0] = np.nan
    _rewrite(saved, meta, tensors)
    with pytest.raises(ModelFileError, match="finite"):
        cr.load(saved)
    model = cr.load(saved, allow_nonfinite=True)
    assert np.isnan(dict(model.named_parameters())[name.removeprefix("model/")].data.flat[0])


@pytest.mark.parametrize("lr", [-5.0, "abc", float("inf")])
def test_a_tampered_checkpoint_learning_rate_is_refused(tmp_path: Path, lr: object) -> None:
    net = cr.MLP([2, 3, 1], seed=0)
    path = cr.io.save_checkpoint(tmp_path / "run.ckpt", net, optimizer=cr.optim.SGD(net.parameters(), lr=0.1))
    meta, _, tensors = _parts(path)
    meta["state"]["optimizer"]["lr"] = lr if lr != float("inf") else 1e400
    _rewrite(path, meta, tensors)
    with pytest.raises(ModelFileError):
        cr.io.load_checkpoint(path)


def test_a_fifo_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(ModelFileError, match="FIFO"):
        cr.load(fifo)  # opening a FIFO for reading would block forever


def test_model_files_respect_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        path = cr.save(cr.MLP([2, 2, 1], seed=0), tmp_path / "private.safetensors")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_stale_temporary_file_of_a_dead_writer_is_removed_on_the_next_save(tmp_path: Path) -> None:
    child = multiprocessing.get_context("fork").Process(target=lambda: None)
    child.start()
    child.join()
    stale = tmp_path / f".net.safetensors.{child.pid}.0a1b2c3d{atomic.TEMP_SUFFIX}"
    stale.write_bytes(b"half a model")
    cr.save(cr.MLP([2, 2, 1], seed=0), tmp_path / "net.safetensors")
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.safetensors"]


def test_a_failed_write_leaves_the_previous_file_and_no_temporary_file(saved: Path, monkeypatch) -> None:
    before = saved.read_bytes()

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full_disk)
    with pytest.raises(ModelFileError, match="space"):
        cr.save(cr.MLP([2, 5, 1], seed=1), saved)
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


# ------------------------------------------------------------------ a save racing loads
def _model(width: int, value: float) -> cr.Sequential:
    net = cr.MLP([2, width, 1], seed=0)
    for p in net.parameters():
        p.data[...] = value
    return net


def _keep_saving(path: str, seconds: float) -> None:
    models = [_model(3, 1.0), _model(7, 2.0)]
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        cr.save(models[i % 2], path)
        i += 1


def test_a_load_racing_atomic_saves_gets_one_model_whole(tmp_path: Path) -> None:
    path = tmp_path / "raced.safetensors"
    cr.save(_model(3, 1.0), path)
    writer = multiprocessing.get_context("spawn").Process(target=_keep_saving, args=(str(path), 3.0))
    writer.start()
    seen = {3: 0, 7: 0}
    try:
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            model = cr.load(path)
            width = model[0].weight.data.shape[1]
            expected = {3: 1.0, 7: 2.0}[width]  # the architecture says which weights must come with it
            assert all((p.data == expected).all() for p in model.parameters())
            seen[width] += 1
    finally:
        writer.join(timeout=30)
    assert seen[3] + seen[7] > 20
