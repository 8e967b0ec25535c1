"""The benchmark runner works (tiny --smoke run), and its implementations do the same arithmetic.

No test here looks at a time: the figures live in BENCHMARKS.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # benchmarks/ is a package of the repository, not of the installed chainrule

from benchmarks.configs import flops_per_sample, make_data, select  # noqa: E402
from benchmarks.peer_chainrule import ChainruleFit, ChainrulePlan  # noqa: E402
from benchmarks.peer_numpy import NumPyLoop  # noqa: E402
from benchmarks.peer_others import Micrograd, TorchEager  # noqa: E402
from benchmarks.peers import UnavailableError  # noqa: E402


def test_runner_smoke(tmp_path):
    report = tmp_path / "report.md"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke", "--markdown", str(report)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    text = report.read_text()
    for heading in ("## Machine", "## Results", "## Targets", "mnist-f32", "mazur-f64"):
        assert heading in text
    for row in ("| chainrule fit |", "| chainrule plan loop |", "| NumPy loop |"):
        assert text.count(row) == 2
    assert "GFLOP/s" in text and "sgemm" in text


def test_unknown_configuration_is_one_line_and_exit_code_2():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--config", "nope"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "nope" in done.stderr


def test_flops_per_sample_counted_by_hand():
    # 2-2-2: forward 2*(4+4), dE/dW 2*(4+4), dE/dx of the second layer only 2*4.
    assert flops_per_sample((2, 2, 2)) == 16 + 16 + 8
    assert flops_per_sample((784, 10)) == 2 * 2 * 7840


@pytest.mark.parametrize("name", ["mazur-f64", "mnist-f64"])
def test_implementations_train_identically(name):
    """Same starting weights and sample order: chainrule, the NumPy loop, PyTorch and micrograd agree.

    The NumPy loop, PyTorch and micrograd are written independently of chainrule, so
    this also checks chainrule's training step against three references.
    """
    config = select([name], smoke=True)[0]
    data = make_data(config)
    losses = {}
    with np.errstate(under="ignore"):
        for cls in (ChainruleFit, ChainrulePlan, NumPyLoop, TorchEager, Micrograd):
            try:
                peer = cls(config, data)
            except UnavailableError:
                continue
            losses[cls.key] = [peer.epoch() for _ in range(3)]
    assert {"chainrule_fit", "chainrule_plan", "numpy"} <= set(losses)
    reference = np.array(losses["numpy"])
    assert reference[-1] < reference[0]  # it learns
    for key, values in losses.items():
        np.testing.assert_allclose(values, reference, rtol=1e-9, err_msg=key)


def test_chainrule_bench_reaches_the_runner(capsys):
    from chainrule.cli import main

    assert main(["bench", "--config", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown configuration" in err


def test_peak_share_compares_each_epoch_with_the_peak_measured_in_its_own_round():
    from benchmarks.measure import ConfigResult, Result

    config = select(["wide-f32"])[0]
    gflop = config.n_samples * flops_per_sample(config.sizes) / 1e9
    # Rounds 1 and 2 ran on a machine slowed down by half: the epochs and the peaks beside them alike.
    result = Result("chainrule_fit", "chainrule fit", "", True, times=[gflop / 40, gflop / 40, gflop / 80])
    cr = ConfigResult(config, [result], [], round_peaks=[50.0, 50.0, 100.0])
    assert cr.peak_share(result) == pytest.approx(0.8)  # a peak taken once, at full speed, would say 40%
