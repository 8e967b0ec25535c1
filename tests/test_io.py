"""Model files and checkpoints: round trips, resumed training, and every kind of file refused."""

from __future__ import annotations

import json
import os
import pickle
import struct

import numpy as np
import pytest

import chainrule as cr
from chainrule import io as cio
from chainrule.callbacks import EarlyStopping, ModelCheckpoint
from chainrule.errors import ConfigError, ModelFileError

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def data(n=90, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    return x, (x[:, 0] * x[:, 1] > 0).astype(np.int64)


def same_weights(a, b):
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    return pa.keys() == pb.keys() and all(
        pa[k].data.dtype == pb[k].data.dtype and np.array_equal(pa[k].data, pb[k].data) for k in pa)


def raw_parts(path):
    """(metadata dict, tensors) of a safetensors file, read with the safetensors library itself."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        meta = json.loads(f.metadata()["chainrule"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return meta, tensors


def rewrite(path, meta, tensors):
    path.write_bytes(safetensors_numpy.save(tensors, metadata={"chainrule": json.dumps(meta)}))


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_model_round_trip(tmp_path, dtype):
    net = cr.MLP([3, 5, 4, 2], activation=["tanh", cr.LeakyReLU(0.2)], output_activation="softmax", seed=0,
                 dtype=dtype)
    path = cr.save(net, tmp_path / "net.safetensors")
    again = cr.load(path)
    assert isinstance(again, cr.MLP) and again.sizes == [3, 5, 4, 2] and same_weights(net, again)
    assert repr(again) == repr(net)
    x, _ = data()
    np.testing.assert_array_equal(cr.predict(again, x), cr.predict(net, x))
    meta = cio.read_metadata(path)
    assert meta["format"] == "chainrule" and meta["format_version"] == cio.FORMAT_VERSION
    assert meta["dtype"] == np.dtype(dtype).name and meta["chainrule_version"] == cr.__version__
    stored = raw_parts(path)[1]  # the safetensors library reads the same numbers
    np.testing.assert_array_equal(stored["model/0.weight"], net[0].weight.data)


def test_dropout_round_trips(tmp_path):
    net = cr.MLP([3, 5, 4, 2], activation="relu", dropout=[0.25, 0.5], seed=0)
    again = cr.load(cr.save(net, tmp_path / "net.safetensors"))
    assert isinstance(again, cr.MLP) and repr(again) == repr(net) and same_weights(net, again)
    seq = cr.Sequential(cr.Linear(3, 3), cr.nn.Dropout(0.2), cr.Linear(3, 1))
    assert repr(cr.load(cr.save(seq, tmp_path / "seq.safetensors"))) == repr(seq)


def test_every_activation_in_the_vocabulary_round_trips(tmp_path):
    net = cr.Sequential(cr.Linear(3, 4, bias=False), cr.ELU(0.5), cr.Linear(4, 4), cr.GELU("tanh"),
                        cr.Linear(4, 4), cr.Softplus(), cr.Linear(4, 4), cr.Sigmoid(), cr.Linear(4, 4), cr.ReLU(),
                        cr.Linear(4, 5), cr.LogSoftmax(axis=1), check_finite=True)
    again = cr.load(cr.save(net, tmp_path / "seq.safetensors"))
    assert type(again) is cr.Sequential and again.check_finite and same_weights(net, again)
    assert [type(m) for m in again] == [type(m) for m in net]
    assert [getattr(m, "attrs", None) for m in again] == [getattr(m, "attrs", None) for m in net]


def test_models_outside_the_vocabulary_are_refused(tmp_path):
    class Custom(cr.Module):
        def forward(self, x):
            return x

    with pytest.raises(ConfigError, match="Sequential"):
        cr.save(cr.Linear(2, 2), tmp_path / "x")
    with pytest.raises(ConfigError, match="cannot be saved"):
        cr.save(cr.Sequential(cr.Linear(2, 2), Custom()), tmp_path / "x")


# ------------------------------------------------------------------ atomic writes
def test_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "net.safetensors"
    first = cr.MLP([2, 2], seed=0)
    cr.save(first, path)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(ModelFileError, match="cannot write .*: disk full"):  # one line, not a traceback
        cr.save(cr.MLP([2, 2], seed=1), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.safetensors"]  # no temporary file left behind
    cr.save(cr.MLP([2, 2], seed=1), path)
    assert same_weights(cr.load(path), cr.MLP([2, 2], seed=1))
    with pytest.raises(ModelFileError, match="does not exist"):
        cr.save(first, tmp_path / "missing" / "net.safetensors")


# ------------------------------------------------------------------ refusals
class CreatesAFile:
    """A pickle payload: unpickling it calls open(path, "w"), which creates the file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("protocol", [0, pickle.HIGHEST_PROTOCOL])
def test_a_pickle_is_refused_and_never_unpickled(tmp_path, protocol):
    proof = tmp_path / "proof.txt"
    pickle.loads(pickle.dumps(CreatesAFile(proof), protocol=protocol)).close()
    assert proof.exists()  # the payload works: unpickling it creates its file
    marker = tmp_path / "pwned.txt"
    model_file = tmp_path / "model.safetensors"
    model_file.write_bytes(pickle.dumps(CreatesAFile(marker), protocol=protocol))
    with pytest.raises(ModelFileError) as caught:
        cr.load(model_file)
    assert not marker.exists()
    if protocol >= 2:
        assert "pickle" in str(caught.value)


def test_foreign_files_are_named(tmp_path):
    npz = tmp_path / "weights.npz"
    np.savez(npz, w=np.zeros(3))
    renamed = tmp_path / "model.safetensors"
    npz.rename(renamed)
    with pytest.raises(ModelFileError, match="ZIP"):
        cr.load(renamed)
    npy = tmp_path / "w.safetensors"
    with open(npy, "wb") as handle:
        np.save(handle, np.zeros(3))
    with pytest.raises(ModelFileError, match="npy"):
        cr.load(npy)
    torch = pytest.importorskip("torch")
    pt = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, pt)
    with pytest.raises(ModelFileError, match="ZIP"):
        cr.load(pt)


def test_missing_short_and_random_files(tmp_path):
    with pytest.raises(ModelFileError, match="no model file"):
        cr.load(tmp_path / "nothing.safetensors")
    with pytest.raises(ModelFileError, match="directory"):
        cr.load(tmp_path)
    short = tmp_path / "short"
    short.write_bytes(b"abc")
    with pytest.raises(ModelFileError, match="too short"):
        cr.load(short)
    noise = tmp_path / "noise"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelFileError, match="truncated or not"):
        cr.load(noise)


def test_truncated_and_corrupt_files(tmp_path):
    path = cr.save(cr.MLP([3, 8, 2], seed=0), tmp_path / "net.safetensors")
    raw = path.read_bytes()
    cut = tmp_path / "cut"
    cut.write_bytes(raw[:-20])
    with pytest.raises(ModelFileError, match="truncated"):
        cr.load(cut)
    header_only = tmp_path / "header_only"
    n = struct.unpack("<Q", raw[:8])[0]
    header_only.write_bytes(raw[:8 + n])
    with pytest.raises(ModelFileError, match="truncated"):
        cr.load(header_only)
    broken = tmp_path / "broken"
    broken.write_bytes(raw[:8] + b"#" + raw[9:])
    with pytest.raises(ModelFileError, match="JSON"):
        cr.load(broken)
    plain = tmp_path / "plain.safetensors"
    plain.write_bytes(safetensors_numpy.save({"w": np.zeros(3)}))
    with pytest.raises(ModelFileError, match="without chainrule metadata"):
        cr.load(plain)


def test_shapes_are_checked_against_the_file_size_before_allocating(tmp_path):
    # A hand-made header claiming a 10^12-element tensor backed by 8 bytes: allocating it would need 8 TB.
    meta = {"format": "chainrule", "format_version": 1, "chainrule_version": "0", "kind": "model",
            "dtype": "float64", "architecture": {"container": "Sequential", "check_finite": False, "modules": [
                {"kind": "Linear", "n_in": 1_000_000, "n_out": 1_000_000, "bias": False}]}}
    header = json.dumps({"__metadata__": {"chainrule": json.dumps(meta)},
                         "model/0.weight": {"dtype": "F64", "shape": [1_000_000, 1_000_000],
                                            "data_offsets": [0, 8]}}).encode()
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    with pytest.raises(ModelFileError, match="needs 8000000000000 bytes"):
        cr.load(path)


def test_an_architecture_larger_than_its_tensors_is_refused_before_building_it(tmp_path):
    path = cr.save(cr.MLP([2, 3, 2], seed=0), tmp_path / "net.safetensors")
    meta, tensors = raw_parts(path)
    meta["architecture"]["modules"][0].update(n_in=10**9, n_out=10**9)  # 8 EB of weights if built
    meta["architecture"]["modules"][2].update(n_in=10**9)
    rewrite(path, meta, tensors)
    with pytest.raises(ModelFileError, match="tensor"):
        cr.load(path)


def test_newer_format_version_is_refused(tmp_path):
    path = cr.save(cr.MLP([2, 2], seed=0), tmp_path / "net.safetensors")
    meta, tensors = raw_parts(path)
    meta["format_version"] = cio.FORMAT_VERSION + 1
    rewrite(path, meta, tensors)
    with pytest.raises(ModelFileError, match="upgrade chainrule"):
        cr.load(path)


@pytest.mark.parametrize("change,message", [
    (lambda m: m["architecture"]["modules"].__setitem__(1, {"kind": "Activation", "name": "os.system",
                                                           "attrs": {}}), "unknown activation"),
    (lambda m: m["architecture"]["modules"].__setitem__(1, {"kind": "Lambda", "code": "print(1)"}),
     "not a Linear"),
    (lambda m: m["architecture"]["modules"][1]["attrs"].__setitem__("__class__", "x"), "does not accept"),
    (lambda m: m["architecture"]["modules"][0].__setitem__("n_out", 5), "do not fit together"),
    (lambda m: m["architecture"]["modules"][2].update(n_in=5, n_out=9), "tensors"),
    (lambda m: m.__setitem__("format", "keras"), "format"),
])
def test_architectures_outside_the_vocabulary_are_refused(tmp_path, change, message):
    path = cr.save(cr.MLP([2, 3, 2], activation="tanh", seed=0), tmp_path / "net.safetensors")
    meta, tensors = raw_parts(path)
    change(meta)
    rewrite(path, meta, tensors)
    with pytest.raises(ModelFileError, match=message):
        cr.load(path)


def test_a_model_file_is_not_a_checkpoint(tmp_path):
    path = cr.save(cr.MLP([2, 2], seed=0), tmp_path / "net.safetensors")
    with pytest.raises(ModelFileError, match="no training state"):
        cio.load_checkpoint(path)


# ------------------------------------------------------------------ checkpoints and resume
RUNS = {
    "adam-step-float64": dict(optimizer="adam", lr=0.01, lr_schedule=lambda: cr.optim.StepDecay(1, 0.7),
                              dtype=np.float64),
    "sgd-adaptive-float32": dict(optimizer="sgd", lr=0.5, lr_schedule=lambda: cr.optim.Adaptive(patience=0),
                                 dtype=np.float32),
    "rmsprop-dropout": dict(optimizer="rmsprop", lr=0.01, lr_schedule=lambda: None, dtype=np.float64,
                            dropout=0.3),
}


@pytest.mark.parametrize("name", list(RUNS))
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, name):
    setting = RUNS[name]
    x, y = data()

    def run(epochs, **extra):
        net = cr.MLP([3, 6, 2], activation="tanh", seed=1, dtype=setting["dtype"],
                     dropout=setting.get("dropout", 0.0))
        history = cr.fit(net, x, y, optimizer=setting["optimizer"], lr=setting["lr"], epochs=epochs, batch_size=8,
                         seed=3, validation_split=0.2, lr_schedule=setting["lr_schedule"](),
                         early_stopping=EarlyStopping(patience=10), progress=False, **extra)
        return net, history

    straight, h_straight = run(4)
    ckpt = tmp_path / "run.safetensors"
    _, h_first = run(2, checkpoint=ckpt)
    assert h_first.epochs == 2
    resumed, h_resumed = run(4, resume=ckpt, checkpoint=ckpt)
    assert same_weights(straight, resumed)
    assert h_resumed.history == h_straight.history and h_resumed.epochs == 4
    final = cio.load_checkpoint(ckpt)  # holds epoch 4's weights; EarlyStopping restores the best after it
    assert final.epoch == 4 and final.callbacks[0]["class"] == "EarlyStopping"


def test_checkpoint_holds_the_generator_state_as_json(tmp_path):
    x, y = data(40)
    ckpt = tmp_path / "c.safetensors"
    cr.fit(cr.MLP([3, 2], seed=0), x, y, epochs=2, seed=11, checkpoint=ckpt, progress=False)
    reference = np.random.default_rng(11)
    reference.permutation(40)
    reference.permutation(40)  # fit draws one permutation per epoch and nothing else
    state = cio.load_checkpoint(ckpt)
    assert state.rng == reference.bit_generator.state
    assert state.epoch == 2 and state.step == 2 * 2 and state.optimizer["type"] == "Adam"
    meta = cio.read_metadata(ckpt)
    assert meta["kind"] == "checkpoint" and "state" not in meta


def test_model_checkpoint_every_and_epoch_names(tmp_path):
    x, y = data(40)
    saver = ModelCheckpoint(tmp_path / "e{epoch:02d}.safetensors", every=2, weights_only=True)
    net = cr.MLP([3, 2], seed=0)
    cr.fit(net, x, y, epochs=5, callbacks=[saver], progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e02.safetensors", "e04.safetensors"]
    assert isinstance(cr.load(tmp_path / "e04.safetensors"), cr.MLP)


def test_resume_refuses_another_network(tmp_path):
    x, y = data(40)
    ckpt = tmp_path / "c.safetensors"
    cr.fit(cr.MLP([3, 2], seed=0), x, y, epochs=1, checkpoint=ckpt, progress=False)
    with pytest.raises(ConfigError, match="different network"):
        cr.fit(cr.MLP([3, 4, 2], seed=0), x, y, epochs=2, resume=ckpt, progress=False)
    with pytest.raises(ConfigError, match="SGD"):
        cr.fit(cr.MLP([3, 2], seed=0), x, y, epochs=2, optimizer="sgd", resume=ckpt, progress=False)
