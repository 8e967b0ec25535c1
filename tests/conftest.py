"""Strict numerics for every test: silent overflow, division by zero or invalid values fail."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(os.environ.get("CHAINRULE_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(autouse=True)
def strict_numerics():
    old = np.seterr(all="raise")
    yield
    np.seterr(**old)


@pytest.fixture
def shared_data() -> Path:
    """The real MNIST / Fashion-MNIST files; the test is skipped with a reason when absent."""
    path = SHARED_DATA.resolve()
    if not (path / "mnist" / "t10k-labels-idx1-ubyte.gz").exists():
        pytest.skip(f"real data not found at {path} (set CHAINRULE_TEST_DATA)")
    return path
