"""Helpers for the reliability battery: small data sets, a saved model, the command line in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.io import save

REPO = Path(__file__).resolve().parents[2]


def blobs(n: int = 30, n_features: int = 3, n_classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features (n, n_features) and class labels (n,) taking every value 0..n_classes-1."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    x = rng.normal(size=(n, n_features)) + y[:, None]
    return x, y.astype(np.int64)


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``chainrule ARGS`` in a fresh interpreter, as a user's shell would run it."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), CHAINRULE_DATA=str(cwd / "no-data-here"))
    return subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def assert_user_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit code 2, exactly one line on stderr naming every needle, no traceback anywhere."""
    stderr = result.stderr
    assert "Traceback" not in stderr + result.stdout, stderr
    assert result.returncode == 2, (result.returncode, stderr)
    lines = stderr.splitlines()
    assert len(lines) == 1 and stderr.endswith("\n"), stderr
    for needle in needles:
        assert needle.lower() in lines[0].lower(), (needle, lines[0])
    return lines[0]


@pytest.fixture
def classification() -> tuple[np.ndarray, np.ndarray]:
    return blobs()


@pytest.fixture
def saved_model(tmp_path: Path) -> Path:
    """A trained 3-4-3 classifier saved with chainrule.save."""
    x, y = blobs()
    net = cr.MLP([3, 4, 3], activation="tanh", seed=0)
    cr.fit(net, x, y, epochs=2, batch_size=10, seed=0, progress=False)
    return save(net, tmp_path / "model.safetensors")
