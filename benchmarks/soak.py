"""Soak test: many fit / save / load / predict cycles in one process.

Each cycle trains a fresh seeded MLP on a small data set, saves it, loads it back and
predicts. Two things must hold over the whole run:

* every reloaded model predicts exactly (bit for bit) what the trained one did, and
  every cycle predicts what the first one did (nothing leaks from one cycle into the next);
* the resident set size stays flat: RSS at the end may exceed RSS at an early warm
  point (after caches, imports and allocator pools have settled) by less than
  ``--max-growth`` percent (default 5).

RSS is read from /proc/self/status (VmRSS) where it exists, else the peak RSS from
``resource.getrusage``. Not part of the test suite's time budget; a test runs a
handful of cycles. Usage::

    python benchmarks/soak.py --cycles 1000
    python benchmarks/soak.py --cycles 20 --warm 5 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.io import load, save


def rss_bytes() -> int:
    """The process's resident set size now (VmRSS), or its peak where /proc is missing."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def make_data(n: int = 256, n_features: int = 8, n_classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs: x (n, n_features), labels y (n,) in 0..n_classes-1."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    centres = rng.normal(scale=2.0, size=(n_classes, n_features))
    return centres[y] + rng.normal(size=(n, n_features)), y


def cycle(x: np.ndarray, y: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Fit a fresh seeded MLP, save it, load it; (predictions before saving, after loading)."""
    net = cr.MLP([x.shape[1], 16, 3], activation="tanh", seed=0)
    cr.fit(net, x, y, epochs=3, batch_size=32, seed=1, progress=False)
    trained = cr.predict(net, x)
    save(net, path)
    return trained, cr.predict(load(path), x)


@dataclass
class SoakResult:
    """Figures of one soak run; RSS in bytes."""

    cycles: int
    warm_cycle: int
    seconds: float
    rss_start: int
    rss_warm: int
    rss_end: int
    identical: bool
    mismatches: list[int] = field(default_factory=list)

    @property
    def growth_percent(self) -> float:
        """(RSS at the end - RSS at the warm point) / RSS at the warm point, in percent."""
        return 100.0 * (self.rss_end - self.rss_warm) / self.rss_warm

    @property
    def cycles_per_second(self) -> float:
        return self.cycles / self.seconds

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "growth_percent": self.growth_percent, "cycles_per_second": self.cycles_per_second}


def run(cycles: int, warm: int, folder: Path) -> SoakResult:
    """Run ``cycles`` cycles in ``folder``; RSS is sampled before the first and after cycles ``warm`` and last."""
    x, y = make_data()
    path = folder / "soak.safetensors"
    rss_start = rss_bytes()
    rss_warm = rss_start
    first = None
    mismatches = []
    start = time.perf_counter()
    for i in range(1, cycles + 1):
        trained, loaded = cycle(x, y, path)
        first = trained if first is None else first
        if not (np.array_equal(trained, loaded) and np.array_equal(trained, first)):
            mismatches.append(i)
        if i == warm:
            rss_warm = rss_bytes()
    seconds = time.perf_counter() - start
    return SoakResult(cycles, warm, seconds, rss_start, rss_warm, rss_bytes(), not mismatches, mismatches[:10])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=1000, help="fit/save/load/predict cycles (default 1000)")
    parser.add_argument("--warm", type=int, default=None,
                        help="cycle after which RSS is the baseline (default: a tenth of the cycles, at least 1)")
    parser.add_argument("--max-growth", type=float, default=5.0, help="allowed RSS growth in percent (default 5)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    if args.cycles < 2:
        parser.error("--cycles must be at least 2")
    warm = args.warm if args.warm is not None else max(1, args.cycles // 10)
    if not 1 <= warm < args.cycles:
        parser.error("--warm must lie between 1 and cycles - 1")
    with tempfile.TemporaryDirectory() as folder:
        result = run(args.cycles, warm, Path(folder))
    ok = result.identical and result.growth_percent < args.max_growth
    if args.json:
        print(json.dumps({**result.as_dict(), "max_growth_percent": args.max_growth, "ok": ok}))
    else:
        mib = 1 << 20
        print(f"{result.cycles} cycles in {result.seconds:.1f} s ({result.cycles_per_second:.1f} cycles/s)")
        print(f"RSS start {result.rss_start / mib:.1f} MiB, after cycle {warm} {result.rss_warm / mib:.1f} MiB, "
              f"end {result.rss_end / mib:.1f} MiB: growth {result.growth_percent:+.2f}% "
              f"(allowed {args.max_growth:g}%)")
        print("predictions identical after every reload and across cycles" if result.identical else
              f"predictions differ in cycles {result.mismatches}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
