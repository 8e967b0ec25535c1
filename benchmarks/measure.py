"""Timing by alternated rounds with medians, and memory by tracemalloc."""

from __future__ import annotations

import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from benchmarks.configs import Config, flops_per_sample, make_data
from benchmarks.peers import Peer, UnavailableError

__all__ = ["Result", "ConfigResult", "run_config", "fit_memory"]

MB = 1 << 20
# Pause before each timed epoch, so that no thread of the previous implementation still spins.
SETTLE_SECONDS = 0.25


@dataclass
class Result:
    """One implementation on one configuration."""

    key: str
    label: str
    note: str
    chainrule: bool
    times: list[float] = field(default_factory=list)
    loss: float = float("nan")
    peak_bytes: int | None = None
    retained_bytes: int | None = None

    @property
    def seconds(self) -> float:
        """Median seconds per epoch."""
        return statistics.median(self.times)


@dataclass
class ConfigResult:
    config: Config
    results: list[Result]
    skipped: list[tuple[str, str]]
    #: The gemm peak (GFLOP/s) measured at the end of each round, beside that round's epochs.
    round_peaks: list[float] = field(default_factory=list)

    def peak_share(self, result: Result) -> float:
        """Median over rounds of (GFLOP/s of ``result`` in round r) / (gemm peak measured in round r).

        Measured round by round, so a machine that slows down for a while (a noisy neighbour
        on a virtual machine) slows the epoch and the peak beside it alike.
        """
        flop = self.config.n_samples * flops_per_sample(self.config.sizes) / 1e9
        return statistics.median(flop / t / peak for t, peak in zip(result.times, self.round_peaks))

    def get(self, key: str) -> Result | None:
        return next((r for r in self.results if r.key == key), None)

    @property
    def chainrule(self) -> Result | None:
        """``chainrule fit`` when it ran, else the plan loop: what the targets are judged on."""
        return self.get("chainrule_fit") or self.get("chainrule_plan")

    def speedup(self, peer: Result, over: Result | None = None) -> float:
        """How many times faster ``over`` (default: :attr:`chainrule`) is than ``peer``.

        The median over rounds of the two times' ratio *within* each round: a load that
        comes and goes between rounds cancels, where a ratio of medians would keep it.
        """
        over = over or self.chainrule
        if over is None:
            return float("nan")
        return statistics.median(p / c for p, c in zip(peer.times, over.times))


def _traced(fn: Callable[[], float]) -> tuple[float, int, int]:
    """Run ``fn`` under tracemalloc: (its result, peak bytes allocated during it, bytes still held after)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        value = fn()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return value, peak - before, current - before


def run_config(config: Config, classes: list[type[Peer]], rounds: int, seed: int, memory: bool,
               log: Callable[[str], None], settle: float = SETTLE_SECONDS,
               peak_probe: Callable[[], float] | None = None) -> ConfigResult:
    """Set every implementation up, warm each with one epoch, then time ``rounds`` alternated rounds.

    Round r runs every implementation once, in the same order (A B C A B C ...), so
    a change in the machine's load touches all of them. Each timed epoch starts
    ``settle`` seconds after the previous one ended: the worker threads of BLAS and
    OpenMP spin for a while after their last task (OpenBLAS about 0.1 s), and on a
    2-core machine threads left spinning by one implementation would slow the next
    one down severalfold. With ``memory``, each
    implementation then runs one more epoch, under tracemalloc where it can see the
    allocations (not timed). Implementations that start from the same weights and
    visit the samples in the same order end with the same loss.
    """
    data = make_data(config, seed)
    peers: list[Peer] = []
    skipped: list[tuple[str, str]] = []
    for cls in classes:
        try:
            peers.append(cls(config, data, seed))
        except UnavailableError as reason:
            skipped.append((cls.label, str(reason)))
    results = [Result(p.key, p.label, p.note, p.chainrule) for p in peers]
    round_peaks: list[float] = []
    for peer, result in zip(peers, results):
        result.loss = peer.epoch()
    for r in range(rounds):
        for peer, result in zip(peers, results):
            time.sleep(settle)
            start = time.perf_counter()
            result.loss = peer.epoch()
            result.times.append(time.perf_counter() - start)
        if peak_probe is not None:
            time.sleep(settle)
            round_peaks.append(peak_probe())
        log(f"  round {r + 1}/{rounds}: "
            + ", ".join(f"{p.key} {res.times[-1]:.3f}s" for p, res in zip(peers, results))
            + (f", gemm peak {round_peaks[-1]:.0f} GFLOP/s" if round_peaks else ""))
    if memory:  # every peer runs this epoch, so all have run as many epochs at the end
        for peer, result in zip(peers, results):
            if peer.traced:
                result.loss, result.peak_bytes, result.retained_bytes = _traced(peer.epoch)
            else:
                result.loss = peer.epoch()
    return ConfigResult(config, results, skipped, round_peaks)


def fit_memory(n: int = 60000, sizes: tuple[int, ...] = (784, 256, 256, 10), batch: int = 128,
               seed: int = 0) -> dict[str, float]:
    """Extra memory of one epoch of ``chainrule.train.fit`` on MNIST-sized float32 data.

    The data (n x 784 float32 and the labels) exists before ``fit`` is called, so the
    peak that tracemalloc records during ``fit`` is what fit adds on top of the data.
    Returns sizes in bytes: data, model, tracemalloc's peak during fit, what fit still
    holds afterwards, and the budget 3 x model + 50 MB.
    """
    import chainrule as cr
    from chainrule.train import fit

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, sizes[0]), dtype=np.float32)
    labels = rng.integers(0, sizes[-1], n)
    model = cr.MLP(sizes, activation="relu", seed=seed, dtype=np.float32)
    optimizer = cr.optim.SGD(model, lr=0.01)
    model_bytes = sum(p.data.nbytes for p in model.parameters())
    _, peak, retained = _traced(lambda: fit(model, x, labels, loss="cross_entropy_with_logits", optimizer=optimizer,
                                            epochs=1, batch_size=batch, seed=seed, progress=False))
    return {"data": x.nbytes + labels.nbytes, "model": model_bytes, "peak": peak, "retained": retained,
            "budget": 3 * model_bytes + 50 * MB}
