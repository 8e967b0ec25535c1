"""``python -m benchmarks``: time chainrule and its peers in one process and print Markdown.

Usage::

    python -m benchmarks [--config NAME ...] [--quick] [--smoke] [--rounds N] [--threads N]
                         [--peers KEY,...] [--no-memory] [--markdown FILE]

Configurations: mnist (784-256-256-10, batch 128), small (784-64-64-10, batch 16),
wide (784-1024-1024-10, batch 256), mazur (2-2-2, one sample per step), each in
float32 and float64 (``mnist-f32`` picks one). ``--quick`` quarters the epochs and
runs 3 rounds; ``--smoke`` runs tiny networks once (a check that everything runs).
"""

from __future__ import annotations

import argparse
import functools
import os
import shlex
import sys
import time
from collections.abc import Sequence

import numpy as np

from benchmarks import report
from benchmarks.configs import select
from benchmarks.machine import describe, gemm_peak, limit_threads
from benchmarks.measure import SETTLE_SECONDS, fit_memory, run_config
from benchmarks.peers import peer_classes
from chainrule.errors import ConfigError

__all__ = ["main", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The runner's options (shared with ``chainrule bench``)."""
    parser.add_argument("--config", action="append", default=None,
                        help="configuration to run (repeat or comma-separate); default: all")
    parser.add_argument("--quick", action="store_true", help="shorter epochs and 3 rounds")
    parser.add_argument("--smoke", action="store_true", help="tiny networks, one round: only checks that it runs")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per configuration (default 7)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="BLAS, OpenMP and PyTorch threads (default: the number of cores)")
    parser.add_argument("--peers", default=None, help="comma-separated implementations to run (keys as in the table)")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--profile", action="store_true",
                        help="also time each part of chainrule's step (plan, optimizer, fit) per configuration")
    parser.add_argument("--settle", type=float, default=None,
                        help=f"seconds of pause before each timed epoch (default {SETTLE_SECONDS}; 0 with --smoke)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", default=None, help="also write the report to this file")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks``: parse ``argv`` (default: the command line) and run."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return run(parser.parse_args(argv), command=shlex.join(["python", "-m", "benchmarks", *argv]))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, command: str = "python -m benchmarks") -> int:
    """Run what ``args`` asks for and print the Markdown report; ``command`` is quoted in it."""
    if args.rounds is not None and args.rounds < 1 or args.threads < 1:
        raise ConfigError(f"--rounds and --threads must be >= 1, got {args.rounds} and {args.threads}")
    names = [n for item in args.config or [] for n in item.split(",") if n] or None
    configs = select(names, quick=args.quick, smoke=args.smoke)
    rounds = args.rounds or (1 if args.smoke else 3 if args.quick else 7)
    settle = args.settle if args.settle is not None else 0.0 if args.smoke else SETTLE_SECONDS
    classes = peer_classes()
    if args.peers:
        wanted = set(args.peers.split(","))
        unknown = wanted - {c.key for c in classes}
        if unknown:
            raise ConfigError(f"unknown peers {sorted(unknown)}; choose from {', '.join(c.key for c in classes)}")
        classes = [c for c in classes if c.key in wanted]

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    started = time.perf_counter()
    with limit_threads(args.threads) as threads_note:
        out = ["## Machine", "", *[f"- {line}" for line in describe(args.threads)], f"- {threads_note}",
               f"- Each timed epoch starts after a {settle:g} s pause, so no BLAS or OpenMP thread of the "
               "implementation timed before it still spins on the cores",
               f"- Command: `{command}`", ""]
        dtypes = sorted({c.dtype for c in configs})
        peaks = {dtype: gemm_peak(dtype, n=256 if args.smoke else 2048) for dtype in dtypes}
        out += ["- Measured gemm peak: " + ", ".join(f"{d} {p:.0f} GFLOP/s" for d, p in peaks.items()), ""]
        fit_mem = None
        memory = not args.no_memory
        if memory and not args.smoke and any(c.key == "mnist-f32" for c in configs):
            log("MNIST-sized fit under tracemalloc")
            fit_mem = fit_memory()
        by_key = {}
        with np.errstate(under="ignore"):
            for config in configs:
                log(config.title)
                probe = functools.partial(gemm_peak, config.dtype, n=256 if args.smoke else 2048, repeats=2)
                by_key[config.key] = run_config(config, classes, rounds, args.seed, memory, log, settle, probe)
    out += ["## Results", ""]
    for result in by_key.values():
        out += report.config_table(result, peaks[result.config.dtype])
    if fit_mem is not None:
        out += report.memory_lines(fit_mem)
    if args.profile:
        from benchmarks.profile import profile_table

        with limit_threads(args.threads), np.errstate(under="ignore"):
            for config in configs:
                log(f"profile {config.key}")
                out += profile_table(config)
    notes = {}
    for result in by_key.values():
        for r in result.results:
            notes.setdefault(r.label, r.note)
    out += ["What each implementation does:", "", *[f"- {label}: {note}" for label, note in notes.items()], ""]
    out += ["## Targets", "", *report.targets_table(report.targets(by_key, fit_mem))]
    out.append(f"Total time {time.perf_counter() - started:.0f} s.")
    text = "\n".join(out) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    return 0
