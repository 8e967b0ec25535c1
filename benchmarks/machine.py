"""The machine: CPU model, cores, NumPy and BLAS, thread limits and the measured gemm peak."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = ["cpu_model", "describe", "gemm_peak", "limit_threads"]


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _blas() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [info for info in threadpool_info() if info.get("user_api") == "blas"]


@contextmanager
def limit_threads(threads: int) -> Iterator[str]:
    """BLAS (and OpenMP) limited to ``threads``, PyTorch's intra-op threads matched; yields a note."""
    torch_note = ""
    try:
        import torch
    except ImportError:
        torch = None
    previous = None
    if torch is not None:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        torch_note = f"; torch.set_num_threads({threads})"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield f"threadpoolctl not installed: BLAS threads left at their default{torch_note}"
    else:
        with threadpool_limits(limits=threads):
            yield f"BLAS and OpenMP limited to {threads} threads (threadpoolctl){torch_note}"
    if torch is not None and previous is not None:
        torch.set_num_threads(previous)


def gemm_peak(dtype: str, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of NumPy's matrix product (BLAS sgemm or dgemm) on n x n matrices: the best of ``repeats``."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    c = np.empty((n, n), dtype)
    np.dot(a, b, out=c)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.dot(a, b, out=c)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def _chainrule_threads() -> str:
    """How chainrule picks BLAS threads per fit (it never goes above the benchmark's limit)."""
    from chainrule.threads import ENV_VAR, describe

    setting = os.environ.get(ENV_VAR, "").strip() or "unset"
    return (f"chainrule chooses BLAS threads per fit, at most the limit above ({ENV_VAR} {setting}); "
            f"MLP 64-128-10 on batches of 200: {describe([64, 128, 10], 200)}")


def describe(threads: int) -> list[str]:
    """Lines that say what ran where: CPU, cores, SIMD, Python, NumPy and its BLAS, peers' versions."""
    flags = _cpu_flags()
    simd = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16") if f in flags]
    lines = [
        f"CPU: {cpu_model()}, {os.cpu_count()} logical cores{', ' + ' '.join(simd) if simd else ''}",
        f"Python {platform.python_version()}, NumPy {np.__version__}",
    ]
    for info in _blas()[:1]:
        lines.append(f"NumPy's BLAS: {info.get('internal_api')} {info.get('version')} "
                     f"({info.get('architecture')}), default {info.get('num_threads')} threads; "
                     f"benchmarks use {threads}")
    lines.append(_chainrule_threads())
    versions = []
    for name in ("torch", "sklearn", "micrograd"):
        try:
            module = __import__(name)
        except ImportError:
            versions.append(f"{name} not installed")
            continue
        version = getattr(module, "__version__", None)
        if version is None:
            from importlib.metadata import PackageNotFoundError
            from importlib.metadata import version as dist_version

            try:
                version = dist_version(name)
            except PackageNotFoundError:
                version = "?"
        versions.append(f"{name} {version}")
    lines.append("Peers: " + ", ".join(versions))
    return lines
