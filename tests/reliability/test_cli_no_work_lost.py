"""Nothing saved is lost: Ctrl-C, a full disk, a read-only file system or a bad destination.

Ctrl-C is a real SIGINT sent to a ``chainrule train`` subprocess once it prints its
first epoch. A full disk is a small tmpfs this test mounts when it can (root on Linux),
and otherwise (always, as well) an ``OSError`` injected at the write, for every kind of
file the command line writes: trained models, predictions, drawings and checkpoints.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import atomic
from chainrule.cli import main
from chainrule.errors import ModelFileError

from .conftest import REPO, assert_user_error, blobs, run_cli, write_csv


def _env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO / "src"), TMPDIR=str(tmp_path / "rescue"),
                CHAINRULE_DATA=str(tmp_path / "no-data-here"))


def _one_line(capsys: pytest.CaptureFixture, code: int, *needles: str) -> str:
    out, err = capsys.readouterr()
    assert code == 2, (code, err)
    assert "Traceback" not in out + err
    lines = err.splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle.lower() in lines[0].lower(), (needle, lines[0])
    return out


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(atomic.TEMP_SUFFIX))


# ------------------------------------------------------------------ Ctrl-C during training
@pytest.mark.parametrize("save_interrupted", [False, True])
def test_ctrl_c_keeps_the_existing_model_and_exits_130(tmp_path: Path, saved_model: Path,
                                                       save_interrupted: bool) -> None:
    before = saved_model.read_bytes()
    command = [sys.executable, "-m", "chainrule", "train", "--dataset", "digits", "--epochs", "100000",
               "--out", str(saved_model)] + (["--save-interrupted"] if save_interrupted else [])
    process = subprocess.Popen(command, cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in process.stdout:  # the epoch table's first row: training is under way
            seen.append(line)
            if line.strip().startswith("1 "):
                break
        process.send_signal(signal.SIGINT)
        rest, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(seen) + rest
    assert process.returncode == 130, (process.returncode, output, err)
    assert "Traceback" not in output + err
    assert "interrupted" in output
    if save_interrupted:
        assert saved_model.read_bytes() != before
        assert cr.load(saved_model).sizes == [64, 30, 10]
    else:
        assert saved_model.read_bytes() == before
        assert "was not written" in output and "--save-interrupted" in output
    assert _temporaries(saved_model.parent) == []


# ------------------------------------------------------------------ destinations checked before training
def _bad_destinations(tmp_path: Path) -> dict[str, tuple[str, str]]:
    (tmp_path / "a-file").write_text("x")
    os.symlink(tmp_path / "loop-b", tmp_path / "loop-a")
    os.symlink(tmp_path / "loop-a", tmp_path / "loop-b")
    os.mkfifo(tmp_path / "fifo")
    return {
        "missing folder": ("--out", str(tmp_path / "absent" / "m.safetensors"), "does not exist"),
        "not a folder": ("--out", str(tmp_path / "a-file" / "m.safetensors"), "not a folder"),
        "symlink loop": ("--out", str(tmp_path / "loop-a"), "symbolic links"),
        "long name": ("--out", str(tmp_path / ("n" * 300 + ".safetensors")), "too long"),
        "fifo": ("--out", str(tmp_path / "fifo"), "FIFO"),
        "device": ("--out", "/dev/full", "device"),
        "a folder": ("--out", str(tmp_path), "folder"),
        "plot suffix": ("--plot", str(tmp_path / "curves.txt"), "suffix '.txt'"),
        "plot folder": ("--plot", str(tmp_path / "absent" / "c.png"), "does not exist"),
    }


@pytest.mark.parametrize("case", ["missing folder", "not a folder", "symlink loop", "long name", "fifo", "device",
                                  "a folder", "plot suffix", "plot folder"])
def test_a_bad_destination_is_refused_before_training(tmp_path: Path, capsys, case: str) -> None:
    flag, path, needle = _bad_destinations(tmp_path)[case]
    code = main(["train", "--dataset", "xor", "--epochs", "1", flag, path])
    out = _one_line(capsys, code, needle)
    assert out == ""  # refused before the data was even loaded: no training happened


# ------------------------------------------------------------------ a write that fails
def _fail_first_fsync(monkeypatch: pytest.MonkeyPatch, number: int) -> list[int]:
    """The first fsync of a file chainrule writes raises OSError(number); later ones succeed."""
    calls: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            raise OSError(number, os.strerror(number))
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    return calls


@pytest.mark.parametrize("number,reason", [(errno.ENOSPC, "no space left"), (errno.EROFS, "read-only"),
                                           (errno.EACCES, "permission denied"), (errno.EDQUOT, "quota")])
def test_train_keeps_the_trained_model_when_out_cannot_be_written(tmp_path: Path, saved_model: Path, capsys,
                                                                  monkeypatch, number: int, reason: str) -> None:
    before = saved_model.read_bytes()
    rescue = tmp_path / "rescue"
    rescue.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(rescue))
    _fail_first_fsync(monkeypatch, number)
    code = main(["train", "--dataset", "xor", "--epochs", "1", "--out", str(saved_model)])
    _one_line(capsys, code, reason, str(saved_model), "saved to", str(rescue))
    assert saved_model.read_bytes() == before
    assert _temporaries(saved_model.parent) == []
    [rescued] = [p for p in rescue.iterdir() if p.name.startswith("chainrule-rescued-")]
    assert cr.load(rescued).sizes == [2, 30, 2]


@pytest.mark.parametrize("number,reason", [(errno.ENOSPC, "no space left"), (errno.EROFS, "read-only")])
def test_predict_out_stays_whole_when_the_write_fails(tmp_path: Path, saved_model: Path, capsys, monkeypatch,
                                                      number: int, reason: str) -> None:
    x, y = blobs()
    write_csv(tmp_path / "t.csv", "a,b,c,y", [",".join(f"{v:.4f}" for v in row) + f",{k}" for row, k in zip(x, y)])
    target = tmp_path / "predictions.csv"
    target.write_text("label\n1\n" * 2000)  # more than one 4,096-byte block
    before = target.read_bytes()
    _fail_first_fsync(monkeypatch, number)
    code = main(["predict", str(saved_model), "--csv", str(tmp_path / "t.csv"), "--target", "y", "--out",
                 str(target)])
    _one_line(capsys, code, reason, str(target))
    assert target.read_bytes() == before
    assert _temporaries(tmp_path) == []


def test_predict_out_is_written_whole_and_respects_the_umask(tmp_path: Path, saved_model: Path, capsys) -> None:
    x, y = blobs()
    write_csv(tmp_path / "t.csv", "a,b,c", [",".join(f"{v:.4f}" for v in row) for row in x])
    old = os.umask(0o077)
    try:
        code = main(["predict", str(saved_model), "--csv", str(tmp_path / "t.csv"), "--out",
                     str(tmp_path / "p.csv")])
    finally:
        os.umask(old)
    assert code == 0, capsys.readouterr().err
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[0] == "label,p_0,p_1,p_2" and len(rows) == 1 + len(x)
    assert (tmp_path / "p.csv").stat().st_mode & 0o777 == 0o600


def test_draw_keeps_an_existing_image_when_the_write_fails(tmp_path: Path, capsys, monkeypatch) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "net.svg"
    target.write_text("<svg>old</svg>")
    _fail_first_fsync(monkeypatch, errno.ENOSPC)
    code = main(["draw", "--example", "mazur", "--out", str(target)])
    _one_line(capsys, code, "no space left", str(target))
    assert target.read_text() == "<svg>old</svg>"
    assert _temporaries(tmp_path) == []


def test_train_plot_keeps_an_existing_image_when_the_write_fails(tmp_path: Path, capsys, monkeypatch) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "curves.svg"
    target.write_text("<svg>old</svg>")
    _fail_first_fsync(monkeypatch, errno.ENOSPC)
    code = main(["train", "--dataset", "xor", "--epochs", "2", "--plot", str(target)])
    _one_line(capsys, code, "no space left", str(target))
    assert target.read_text() == "<svg>old</svg>"
    assert _temporaries(tmp_path) == []


def test_a_checkpoint_that_cannot_be_written_stops_fit_and_keeps_the_last_one(tmp_path: Path, monkeypatch) -> None:
    x, y = blobs()
    path = tmp_path / "run.ckpt.safetensors"
    net = cr.MLP([3, 4, 3], seed=0)
    cr.fit(net, x, y, epochs=1, batch_size=10, seed=0, progress=False, checkpoint=path)
    before = path.read_bytes()
    _fail_first_fsync(monkeypatch, errno.ENOSPC)
    with pytest.raises(ModelFileError, match="no space left"):
        cr.fit(net, x, y, epochs=3, batch_size=10, seed=0, progress=False, checkpoint=path)
    assert path.read_bytes() == before
    assert _temporaries(tmp_path) == []


# ------------------------------------------------------------------ a real full or read-only file system
@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """A 256 KiB tmpfs mounted on tmp_path/fs (skipped where mounting is not allowed)."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux; the injected-error tests cover this case")
    folder = tmp_path / "fs"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _fill(folder: Path) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError as error:
        assert error.errno == errno.ENOSPC
    finally:
        os.close(fd)


def test_train_on_a_full_tmpfs_saves_the_model_elsewhere(tmp_path: Path, small_tmpfs: Path) -> None:
    (tmp_path / "rescue").mkdir()
    existing = cr.save(cr.MLP([2, 3, 2], seed=5), small_tmpfs / "model.safetensors")
    before = existing.read_bytes()
    _fill(small_tmpfs)
    result = subprocess.run([sys.executable, "-m", "chainrule", "train", "--dataset", "xor", "--epochs", "1",
                             "--out", str(existing)], cwd=tmp_path, env=_env(tmp_path), capture_output=True,
                            text=True, timeout=120)
    line = assert_user_error(result, "no space left on the device", "saved to")
    assert existing.read_bytes() == before
    assert _temporaries(small_tmpfs) == []
    rescued = Path(line.split("saved to ")[1].split(" instead")[0])
    assert rescued.parent == tmp_path / "rescue" and cr.load(rescued).sizes == [2, 30, 2]


def test_predict_on_a_read_only_tmpfs_is_one_line(tmp_path: Path, saved_model: Path, small_tmpfs: Path) -> None:
    x, _ = blobs()
    write_csv(tmp_path / "t.csv", "a,b,c", [",".join(f"{v:.4f}" for v in row) for row in x])
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    result = run_cli("predict", saved_model, "--csv", tmp_path / "t.csv", "--out", small_tmpfs / "p.csv",
                     cwd=tmp_path)
    assert_user_error(result, "p.csv")
    assert not (small_tmpfs / "p.csv").exists()


def test_the_injected_failure_hits_one_write_only(tmp_path: Path) -> None:
    """A sanity check of the injected-error helper itself: it fails exactly one write."""
    calls: list[int] = []
    with pytest.MonkeyPatch.context() as patch:
        calls = _fail_first_fsync(patch, errno.ENOSPC)
        with pytest.raises(ModelFileError):
            cr.save(cr.MLP([2, 2], seed=0), tmp_path / "a.safetensors")
        cr.save(cr.MLP([2, 2], seed=0), tmp_path / "b.safetensors")
    assert len(calls) >= 2 and np.array_equal(cr.load(tmp_path / "b.safetensors")[0].weight.data,
                                                cr.MLP([2, 2], seed=0)[0].weight.data)
