"""benchmarks/soak.py with a handful of cycles, and proof that its two checks can fail."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from .conftest import REPO

SOAK = REPO / "benchmarks" / "soak.py"


@pytest.fixture(scope="module")
def soak():
    spec = importlib.util.spec_from_file_location("benchmark_soak", SOAK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_a_short_soak_is_stable_and_reloads_identically():
    result = subprocess.run([sys.executable, str(SOAK), "--cycles", "15", "--warm", "5", "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(result.stdout)
    assert figures["cycles"] == 15 and figures["identical"] and figures["mismatches"] == []
    assert figures["ok"] and figures["growth_percent"] < 5.0
    assert 0 < figures["rss_start"] <= figures["rss_warm"]


def test_the_soak_notices_a_reload_that_predicts_differently(soak, tmp_path, monkeypatch):
    real = soak.cycle
    calls = []

    def drifting(x, y, path):
        trained, loaded = real(x, y, path)
        calls.append(1)
        return trained, loaded + (1e-12 if len(calls) == 3 else 0.0)

    monkeypatch.setattr(soak, "cycle", drifting)
    result = soak.run(4, 1, tmp_path)
    assert not result.identical and result.mismatches == [3]


def test_the_soak_notices_memory_that_is_never_freed(soak, tmp_path, monkeypatch):
    real = soak.cycle
    kept = []
    leak_per_cycle = max(4 << 20, soak.rss_bytes() // 20)  # 5% of what the process holds now, per cycle

    def leaking(x, y, path):
        kept.append(np.ones(leak_per_cycle, dtype=np.uint8))  # touched, so it is resident
        return real(x, y, path)

    monkeypatch.setattr(soak, "cycle", leaking)
    result = soak.run(6, 1, tmp_path)
    assert result.identical and result.growth_percent > 5.0
