"""Data-parallel training under mpiexec (2 and 3 ranks on the loopback interface) against one process.

Each test starts ``mpiexec`` itself, bounded by a subprocess timeout, and compares the
weights rank 0 saved with a single-process ``fit`` on the same data, seed and global
batch: equal to 1e-12 in float64 (the sums run in another order), within float32
rounding in float32. Skipped only when mpiexec or mpi4py is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from mpi_common import data, train_kwargs  # noqa: E402

MPIEXEC = shutil.which("mpiexec") or shutil.which("mpirun")
pytestmark = [
    pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not found (install OpenMPI or MPICH)"),
    pytest.mark.skipif(__import__("importlib").util.find_spec("mpi4py") is None, reason="mpi4py not installed"),
]


def _is_open_mpi() -> bool:
    version = subprocess.run([MPIEXEC, "--version"], capture_output=True, text=True, timeout=30)
    return any(name in version.stdout + version.stderr for name in ("Open MPI", "OpenRTE"))


def mpirun(ranks: int, out: Path, scenario: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run rank_script.py on ``ranks`` local processes; loopback TCP only, allowed as root."""
    return mpiexec(ranks, [str(HERE / "rank_script.py"), str(out), scenario], timeout)


def mpiexec(ranks: int, arguments: list[str], timeout: float = 60, cwd: Path | None = None):
    """``mpiexec -n ranks python arguments...`` with this chainrule on the path."""
    command = [MPIEXEC, "-n", str(ranks)]
    if _is_open_mpi():
        command += ["--allow-run-as-root", "--oversubscribe", "--mca", "btl", "self,tcp",
                    "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"]
    source = str(Path(cr.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run(command + [sys.executable, *arguments], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd)


def single_process(dtype=np.float64):
    x, y, w = data(dtype)
    net = cr.MLP([x.shape[1], 7, 5, 3], activation="tanh", dtype=dtype, seed=11)
    history = cr.fit(net, x, y, sample_weight=w, epochs=4, **train_kwargs())
    return np.concatenate([p.data.ravel() for p in net.parameters()]), history


@pytest.mark.parametrize("ranks", [2, 3])
def test_data_parallel_weights_equal_single_process_training(tmp_path, ranks):
    run = mpirun(ranks, tmp_path / "out", "plain")
    assert run.returncode == 0, run.stdout + run.stderr
    saved = np.load(tmp_path / "out.npz")
    reference, history = single_process()
    assert saved["spread"] == 0.0  # every rank holds the same weights, bit for bit
    np.testing.assert_allclose(saved["weights"], reference, rtol=0, atol=1e-12)
    np.testing.assert_allclose(saved["loss"], history.history["loss"], rtol=1e-12)


def test_ranks_reading_memory_maps_train_as_one_process_in_memory(tmp_path):
    x, y, _ = data()
    np.save(tmp_path / "out.x.npy", x)
    np.save(tmp_path / "out.y.npy", y)
    run = mpirun(2, tmp_path / "out", "memmap")
    assert run.returncode == 0, run.stdout + run.stderr
    saved = np.load(tmp_path / "out.npz")
    reference, _ = single_process()
    np.testing.assert_allclose(saved["weights"], reference, rtol=0, atol=1e-12)


def test_ranks_given_different_data_refuse_to_start(tmp_path):
    run = mpirun(2, tmp_path / "out", "mismatch")
    assert run.returncode != 0
    lines = _lines(run, "rank ")
    assert len(lines) == 2, run.stdout + run.stderr
    assert all("the ranks disagree on the data or the network (rank 0: 101 samples" in line and
               "rank 1: 100 samples" in line for line in lines), lines


def test_float32_matches_within_float32_rounding(tmp_path):
    run = mpirun(3, tmp_path / "out", "float32")
    assert run.returncode == 0, run.stdout + run.stderr
    saved = np.load(tmp_path / "out.npz")
    reference, _ = single_process(np.float32)
    assert saved["weights"].dtype == np.float32 and saved["spread"] == 0.0
    np.testing.assert_allclose(saved["weights"], reference, rtol=0, atol=2e-5)


def test_checkpoint_written_by_rank_0_resumes_to_the_uninterrupted_weights(tmp_path):
    run = mpirun(2, tmp_path / "out", "checkpoint")
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "out.ckpt").exists()
    saved = np.load(tmp_path / "out.npz")
    reference, history = single_process()
    np.testing.assert_allclose(saved["weights"], reference, rtol=0, atol=1e-12)
    np.testing.assert_allclose(saved["loss"], history.history["loss"], rtol=1e-12)


def _lines(run: subprocess.CompletedProcess, start: str) -> list[str]:
    """The messages that begin with ``start`` and a rank ("rank 2: ...", "chainrule: rank 2 of 3: ...").

    mpiexec forwards each rank's output in its own pieces, so two ranks' lines can arrive
    joined without a newline between them; each message is cut out at the next one's start.
    """
    text = run.stdout + run.stderr
    # a message starts a line, or follows the end of another one directly; inside a message the
    # words "rank 0: ..." follow "(" or a space
    head = re.compile(r"(?:\A|(?<=\n)|(?<=\w))" + re.escape(start) + r"\d+(?: of \d+)?: ")
    starts = [m.start() for m in head.finditer(text)]
    return [text[a:b].split("\n", 1)[0].strip() for a, b in zip(starts, [*starts[1:], len(text)])]


@pytest.mark.parametrize("scenario, cause", [("raise", "ValueError: a deliberate failure on rank 1"),
                                             ("callback_raises", "RuntimeError: a callback failed on rank 1")])
def test_a_rank_raising_stops_every_rank_with_one_line(tmp_path, scenario, cause):
    run = mpirun(3, tmp_path / "out", scenario)
    assert run.returncode != 0
    expected = f"rank 1 of 3 failed ({cause}); training stopped on every rank"
    lines = _lines(run, "rank ")
    assert sorted(line.split(":", 1)[0] for line in lines) == ["rank 0", "rank 1", "rank 2"], run.stdout + run.stderr
    assert all(line.split(": ", 1)[1] == expected for line in lines), lines
    assert not (tmp_path / "out.npz").exists()


def test_a_stalled_rank_ends_the_job_after_the_timeout_not_a_hang(tmp_path):
    run = mpirun(3, tmp_path / "out", "stall", timeout=45)  # the stalled rank sleeps 60 s: it must be killed
    assert run.returncode != 0
    lines = _lines(run, "chainrule: rank ")
    assert lines and all("no answer from the other ranks within 3 s during the gradient all-reduce" in line
                          for line in lines), run.stdout + run.stderr
    assert {line.split(":")[1].strip() for line in lines} <= {"rank 0 of 3", "rank 2 of 3"}


def test_mpirun_chainrule_train_is_data_parallel_and_rank_0_alone_prints_and_saves(tmp_path):
    from chainrule.cli import main

    flags = ["train", "--dataset", "digits", "--epochs", "2", "--batch-size", "50", "--dtype", "float64",
             "--seed", "1", "--hidden", "16"]
    run = mpiexec(3, ["-m", "chainrule", *flags, "--out", "mpi.safetensors"], cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("saved the model to mpi.safetensors") == 1
    assert run.stdout.count("test accuracy") == 1
    assert main([*flags, "--out", str(tmp_path / "one.safetensors")]) == 0
    for p, q in zip(cr.load(tmp_path / "mpi.safetensors").parameters(),
                    cr.load(tmp_path / "one.safetensors").parameters(), strict=True):
        np.testing.assert_allclose(p.data, q.data, rtol=0, atol=1e-12)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_estimators_fit_data_parallel_as_in_one_process(tmp_path):
    pytest.importorskip("sklearn")
    from mpi_common import sklearn_classifier

    run = mpirun(2, tmp_path / "out", "sklearn")
    assert run.returncode == 0, run.stdout + run.stderr
    x, y, w = data()
    est = sklearn_classifier().fit(x, y, sample_weight=w)
    saved = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(saved["weights"], np.concatenate([a.ravel() for a in est.coefs_ + est.intercepts_]),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(saved["loss"], est.loss_curve_, rtol=1e-12)
