"""Faults during training and saving: divergence, Ctrl-C, a crash mid-write, resuming.

Each fault must leave something a user can keep: finite weights and a message after
divergence; a usable model and the history so far after an interrupt; the previous
model file, intact, after a crash while saving; and a resumed run that reaches the
same weights, bit for bit, as one that was never interrupted.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.train
from chainrule.callbacks import LambdaCallback
from chainrule.errors import ModelFileError
from chainrule.io import load, load_checkpoint, save

from .conftest import REPO, blobs

FIT = {"epochs": 6, "batch_size": 8, "seed": 3, "progress": False}


def _net(seed: int = 0):
    return cr.MLP([3, 6, 3], activation="tanh", seed=seed)


def _weights(net) -> list[np.ndarray]:
    return [p.data.copy() for p in net.parameters()]


def _assert_same(a, b) -> None:
    for p, q in zip(_weights(a) if hasattr(a, "parameters") else a, _weights(b) if hasattr(b, "parameters") else b):
        np.testing.assert_array_equal(p, q)


def _at(epoch: int, batch: int, action):
    """A callback that runs ``action()`` after batch ``batch`` of epoch ``epoch`` (both from 0)."""
    now = {"epoch": -1}

    def begin(e):
        now["epoch"] = e

    def end(b, logs):
        if now["epoch"] == epoch and b == batch:
            return action()
        return None

    return LambdaCallback(on_epoch_begin=begin, on_batch_end=end)


def _stop():
    return True


# ------------------------------------------------------------------ divergence
def _regression():
    x, _ = blobs()
    return x, x @ np.array([[1.0], [-2.0], [0.5]])


def test_a_huge_learning_rate_stops_with_a_message_and_the_last_finite_weights():
    x, y = _regression()
    net = cr.MLP([3, 6, 1], activation="tanh", seed=0)
    starts = []
    record = LambdaCallback(on_epoch_begin=lambda epoch: starts.append(_weights(net)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = cr.fit(net, x, y, loss="mse", optimizer="sgd", lr=1e6, callbacks=[record], **FIT)
    assert history.stop_reason == "non_finite"
    assert "Lower the learning rate (it was 1e+06)" in history.message
    assert [str(w.message) for w in caught if w.category is RuntimeWarning] == [history.message]
    # Back to the weights at the start of the epoch that diverged: the last known to be finite.
    _assert_same(net, starts[-1])
    assert history.epochs == len(starts) - 1 and np.isfinite(history.loss).all()
    assert all(np.isfinite(p.data).all() for p in net.parameters())
    assert np.isfinite(cr.predict(net, x)).all()


def test_divergence_without_floating_point_traps_ends_the_same_way():
    x, y = _regression()
    runs = []
    for mode in ("raise", "ignore"):
        net = cr.MLP([3, 6, 1], activation="tanh", seed=0)
        with np.errstate(all=mode), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            history = cr.fit(net, x, y, loss="mse", optimizer="sgd", lr=1e6, **FIT)
        assert history.stop_reason == "non_finite"
        runs.append(net)
    _assert_same(*runs)


# ------------------------------------------------------------------ Ctrl-C
def _reference(x, y, epoch: int, batch: int):
    """The same run stopped cleanly by a callback after the same batch."""
    net = _net()
    history = cr.fit(net, x, y, callbacks=[_at(epoch, batch, _stop)], **FIT)
    assert history.stop_reason == "callback"
    return net, history


def _raise_interrupt():
    raise KeyboardInterrupt


def test_keyboard_interrupt_from_a_callback_keeps_the_model_and_the_history():
    x, y = blobs()
    net = _net()
    history = cr.fit(net, x, y, callbacks=[_at(2, 1, _raise_interrupt)], **FIT)
    assert history.stop_reason == "interrupted"
    assert "during epoch 3" in history.message
    assert history.epochs == 2 and len(history.loss) == 2
    expected, expected_history = _reference(x, y, 2, 1)
    _assert_same(net, expected)  # every step taken is whole: the same weights as a clean stop
    assert history.loss == expected_history.loss
    assert net.training
    assert np.isfinite(cr.evaluate(net, x, y)["loss"])


def test_a_real_sigint_stops_at_the_next_batch_boundary():
    x, y = blobs()
    before = signal.getsignal(signal.SIGINT)
    net = _net()
    history = cr.fit(net, x, y, callbacks=[_at(1, 0, lambda: os.kill(os.getpid(), signal.SIGINT))], **FIT)
    assert signal.getsignal(signal.SIGINT) is before
    assert history.stop_reason == "interrupted" and "epoch 2 after 1 of 4 batches" in history.message
    assert history.epochs == 1
    _assert_same(net, _reference(x, y, 1, 0)[0])


def test_an_interrupt_inside_the_batch_step_leaves_the_previous_steps(monkeypatch):
    x, y = blobs()
    make = chainrule.train.loss_and_grad_fn
    calls = {"n": 0}

    def interrupted_after_ten_steps(model, loss):
        step = make(model, loss)

        def wrapped(*args):
            calls["n"] += 1
            if calls["n"] == 11:
                raise KeyboardInterrupt
            return step(*args)

        return wrapped

    monkeypatch.setattr(chainrule.train, "loss_and_grad_fn", interrupted_after_ten_steps)
    net = _net()
    history = cr.fit(net, x, y, **FIT)
    monkeypatch.undo()
    assert history.stop_reason == "interrupted" and history.epochs == 2  # 4 batches per epoch
    _assert_same(net, _reference(x, y, 2, 1)[0])  # ten whole steps, the eleventh never started
    # The model trains on from where it stopped.
    assert cr.fit(net, x, y, **{**FIT, "epochs": 1}).stop_reason == "completed"


# ------------------------------------------------------------------ atomic saving
def _temporaries(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("stage", ["write", "fsync", "replace"])
def test_a_failed_save_leaves_the_previous_file_intact(tmp_path, monkeypatch, stage):
    x, y = blobs()
    old = _net()
    path = save(old, tmp_path / "model.safetensors")
    before = path.read_bytes()
    new = _net(seed=1)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if stage == "write":  # the temporary file is open; writing into it fails
        real_fdopen = os.fdopen

        class FullDisk:
            def __init__(self, handle):
                self.handle = handle

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.handle.close()

            def fileno(self):
                return self.handle.fileno()

            flush = fileno
            write = disk_full

        monkeypatch.setattr(os, "fdopen", lambda *args, **kwargs: FullDisk(real_fdopen(*args, **kwargs)))
    else:
        monkeypatch.setattr(os, stage, disk_full)
    with pytest.raises(ModelFileError, match="cannot write .*model.safetensors: no space left on the device"):
        save(new, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    _assert_same(load(path), old)
    assert _temporaries(tmp_path) == []


KILLED_WHILE_SAVING = """
import os, signal, sys
import numpy as np
import chainrule as cr
from chainrule.io import save

path, = sys.argv[1:]
save(cr.MLP([3, 6, 3], activation="tanh", seed=0), path)
real_fsync, calls = os.fsync, []

def die_while_writing(fd):
    calls.append(fd)
    os.kill(os.getpid(), signal.SIGKILL)  # the new bytes are in the temporary file, not yet renamed

os.fsync = die_while_writing
save(cr.MLP([3, 6, 3], activation="tanh", seed=1), path)
print("not reached")
"""


def test_a_process_killed_mid_write_leaves_the_previous_model_loadable(tmp_path):
    path = tmp_path / "model.safetensors"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLED_WHILE_SAVING), str(path)],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == -signal.SIGKILL and "not reached" not in result.stdout
    _assert_same(load(path), _net(seed=0))
    assert all(name.startswith(".model.safetensors.") for name in _temporaries(tmp_path))


# ------------------------------------------------------------------ resuming
def _uninterrupted(x, y, **extra):
    net = _net()
    history = cr.fit(net, x, y, **{**FIT, **extra})
    return net, history


@pytest.mark.parametrize("optimizer,schedule", [("adam", None), ("sgd", "cosine"), ("rmsprop", "step")])
def test_resume_from_a_checkpoint_is_bit_identical(tmp_path, optimizer, schedule):
    x, y = blobs()
    options = {"optimizer": optimizer, "lr_schedule": schedule, "lr": 0.05}
    expected, expected_history = _uninterrupted(x, y, **options)
    path = tmp_path / "run.safetensors"
    first = _net()  # stopped by a callback after epoch 2 of 6 (schedules depend on the planned epochs)
    stop = LambdaCallback(on_epoch_end=lambda epoch, logs: epoch == 1)
    cr.fit(first, x, y, checkpoint=path, callbacks=[stop], **{**FIT, **options})
    assert load_checkpoint(path).epoch == 2
    resumed = _net(seed=99)  # other initial weights: everything must come from the checkpoint
    history = cr.fit(resumed, x, y, resume=path, **{**FIT, **options, "seed": 12345})
    _assert_same(resumed, expected)
    assert history.loss == expected_history.loss and history.epochs == FIT["epochs"]


def test_resume_after_an_interrupt_mid_epoch_is_bit_identical(tmp_path):
    x, y = blobs()
    expected, _ = _uninterrupted(x, y)
    path = tmp_path / "run.safetensors"
    interrupted = _net()
    history = cr.fit(interrupted, x, y, checkpoint=path, callbacks=[_at(3, 2, _raise_interrupt)], **FIT)
    assert history.stop_reason == "interrupted" and load_checkpoint(path).epoch == 3
    resumed = _net(seed=7)
    cr.fit(resumed, x, y, resume=path, **FIT)
    _assert_same(resumed, expected)


KILLED_DURING_A_CHECKPOINT = """
import os, signal, stat, sys
import numpy as np
import chainrule as cr

path, = sys.argv[1:]
rng = np.random.default_rng(0)
y = np.arange(30) % 3
x = rng.normal(size=(30, 3)) + y[:, None]
saves = []
real_fsync = os.fsync

def fsync(fd):
    if stat.S_ISREG(os.fstat(fd).st_mode):
        saves.append(fd)
        if len(saves) == 3:  # die inside the third save, its bytes written but not renamed
            os.kill(os.getpid(), signal.SIGKILL)
    real_fsync(fd)

os.fsync = fsync
cr.fit(cr.MLP([3, 6, 3], activation="tanh", seed=0), x, y, epochs=6, batch_size=8, seed=3, progress=False,
       checkpoint=path)
print("not reached")
"""


def test_a_crash_while_writing_a_checkpoint_keeps_the_last_one_and_resumes_bit_identical(tmp_path):
    x, y = blobs()
    path = tmp_path / "run.safetensors"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLED_DURING_A_CHECKPOINT), str(path)],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert load_checkpoint(path).epoch == 2
    resumed = _net(seed=5)
    cr.fit(resumed, x, y, resume=path, **FIT)
    _assert_same(resumed, _uninterrupted(x, y)[0])
