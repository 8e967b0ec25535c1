"""The step-time model of benchmarks/scaling.py against hand-worked numbers and real networks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import chainrule as cr

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.scaling import BIG, SIZES, efficiency, n_params, step_time  # noqa: E402


@pytest.mark.parametrize("sizes", [SIZES, BIG[:3], (3, 5, 2)])
def test_parameter_count_is_the_networks(sizes):
    net = cr.MLP(list(sizes), dtype="float32", seed=0)
    assert n_params(sizes) == sum(p.data.size for p in net.parameters())


def test_ring_allreduce_time_by_hand():
    # 4 nodes, 1000 float32 numbers: each sends and receives 2 * 3/4 * 4000 = 6000 bytes in 2 * 3 = 6 messages
    compute, comm = step_time(4, 10, (9, 100), flops=1e6, alpha=1e-3, beta=6000.0)
    assert comm == pytest.approx(1.0 + 6e-3)
    assert compute == pytest.approx(10 * 2 * (2 * 900) / 1e6)
    assert step_time(1, 10, (9, 100), 1e6, 1e-3, 6000.0)[1] == 0.0


def test_efficiency_falls_with_nodes_and_is_one_on_a_free_network():
    assert efficiency(64, 128, SIZES, 1e11, 0.0, float("inf")) == 1.0
    values = [efficiency(n, 128, SIZES, 1e11, 2e-6, 12.5e9) for n in (2, 4, 8, 16, 32, 64)]
    assert all(a > b for a, b in zip(values, values[1:])) and 0 < values[-1] < values[0] < 1
