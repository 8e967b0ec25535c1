"""Real-data results: chainrule on MNIST and Fashion-MNIST, run through ``chainrule train``.

Three set-ups, each with the accuracy it should reach on the 10,000 test images:

(a) Nielsen's network from "Neural Networks and Deep Learning", chapter 1: sizes
    [784, 30, 10], sigmoid hidden and output layers, E = 1/2 sum_k (target_k - out_k)^2,
    plain SGD with mini-batches of 10 and learning rate 3.0, 30 epochs: >= 95% on MNIST.
(b) ReLU hidden layers [784, 512, 256, 10], softmax cross-entropy on the logits, Adam
    (learning rate 1e-3 annealed along a cosine to 0 over the 20 epochs): >= 98% on MNIST
    within 20 epochs.
(c) The same as (b) on Fashion-MNIST: >= 88%.

Usage::

    python benchmarks/real_data.py [--data DIR] [--only a,b,c] [--smoke] [--markdown FILE]

``--smoke`` runs each set-up for one epoch on 2,000 training images (a few seconds)
to check the plumbing; its accuracies are not the results. The data folder defaults
to ``$CHAINRULE_DATA`` or ../shared/data beside the repository. Each run prints its
per-epoch table, then a summary table with the exact command of every run.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Setup:
    key: str
    title: str
    flags: str
    target: float


SETUPS = (
    Setup("a", "MNIST, Nielsen: 784-30-10 sigmoid, half squared error, SGD lr 3.0, batch 10",
          "--kind mnist --layers 784,30,10 --activation sigmoid --output-activation sigmoid "
          "--loss half_squared_error --optimizer sgd --lr 3.0 --batch-size 10 --epochs 30 --seed 0", 0.95),
    Setup("b", "MNIST: 784-512-256-10 ReLU, softmax cross-entropy (logits), Adam lr 1e-3 cosine, batch 128",
          "--kind mnist --layers 784,512,256,10 --activation relu --output-activation none "
          "--loss cross_entropy_with_logits --optimizer adam --lr 0.001 --lr-schedule cosine "
          "--batch-size 128 --epochs 20 --seed 0", 0.98),
    Setup("c", "Fashion-MNIST: 784-512-256-10 ReLU, softmax cross-entropy (logits), Adam lr 1e-3 cosine, "
          "batch 128",
          "--kind fashion --layers 784,512,256,10 --activation relu --output-activation none "
          "--loss cross_entropy_with_logits --optimizer adam --lr 0.001 --lr-schedule cosine "
          "--batch-size 128 --epochs 20 --seed 0", 0.88),
)

SMOKE_FLAGS = ("--epochs", "1", "--limit", "2000")


def default_data() -> Path:
    env = os.environ.get("CHAINRULE_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def command(setup: Setup, data: Path, smoke: bool) -> list[str]:
    argv = ["train", "--data", str(data), *shlex.split(setup.flags)]
    if smoke:
        for flag, value in zip(SMOKE_FLAGS[::2], SMOKE_FLAGS[1::2]):
            if flag in argv:
                argv[argv.index(flag) + 1] = value
            else:
                argv += [flag, value]
    return argv


def run(setup: Setup, data: Path, smoke: bool) -> dict:
    from chainrule.cli import build_parser
    from chainrule.cli.training import train_from_args

    argv = command(setup, data, smoke)
    print(f"\n({setup.key}) {setup.title}\n$ chainrule {shlex.join(argv)}", flush=True)
    start = time.perf_counter()
    result = train_from_args(build_parser().parse_args(argv))
    wall = time.perf_counter() - start
    accuracies = [row["test_accuracy"] for row in result.epochs]
    reached = next((i + 1 for i, a in enumerate(accuracies) if a >= setup.target), None)
    return {"setup": setup, "argv": argv, "accuracy": result.test["accuracy"], "best": max(accuracies, default=0.0),
            "epochs": result.history.epochs, "reached": reached, "train_seconds": result.seconds, "wall": wall}


def summary(rows: list[dict], smoke: bool) -> str:
    lines = ["| set-up | test accuracy | target | best epoch's accuracy | first epoch at target | epochs "
             "| training time | wall time |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        setup = row["setup"]
        verdict = "" if smoke else (" (met)" if row["accuracy"] >= setup.target else " (missed)")
        lines.append(f"| ({setup.key}) {setup.title} | {100 * row['accuracy']:.2f}%{verdict} | "
                     f"{100 * setup.target:.0f}% | {100 * row['best']:.2f}% | {row['reached'] or '-'} | "
                     f"{row['epochs']} | {row['train_seconds']:.0f} s | {row['wall']:.0f} s |")
    lines.append("")
    lines.append("Commands:")
    lines.append("")
    lines += [f"    chainrule {shlex.join(row['argv'])}" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    import chainrule

    return (f"chainrule {chainrule.__version__}, NumPy {np.__version__}, Python {platform.python_version()}, "
            f"{platform.machine()}, {os.cpu_count()} CPUs visible")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data(), help="folder with mnist/ and fashion-mnist/")
    parser.add_argument("--only", default="a,b,c", help="which set-ups, e.g. a or b,c (default all)")
    parser.add_argument("--smoke", action="store_true", help="one epoch on 2,000 images each: a plumbing check")
    parser.add_argument("--markdown", type=Path, help="also write the summary table to this file")
    args = parser.parse_args(argv)
    chosen = [s for s in SETUPS if s.key in args.only.split(",")]
    if not chosen:
        parser.error(f"--only: choose among {', '.join(s.key for s in SETUPS)}")
    rows = [run(setup, args.data, args.smoke) for setup in chosen]
    text = summary(rows, args.smoke)
    print(f"\n{'Smoke run (not results)' if args.smoke else 'Results'}: {machine()}\n\n{text}")
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
