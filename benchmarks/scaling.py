"""Data-parallel scaling: samples/s on 1 and 2 MPI ranks here, and the step-time model for N nodes.

    python -m benchmarks.scaling                 # measure 1 and 2 ranks, print the model's predictions
    python -m benchmarks.scaling --ranks 1 2 4 --samples 8192 --json scaling.json

Each rank runs ``chainrule.fit(..., comm=MPI.COMM_WORLD)`` on the 784-1024-1024-10 ReLU
network (float32, plain SGD, global batch 256) with one BLAS thread, so R ranks use R
cores; samples/s is taken from the fastest epoch after the first. The same job times the
all-reduce alone: a 1-number buffer (latency alpha) and the P-number gradient buffer
(bandwidth beta). The model (docs/distributed.md) is, for N nodes each with b samples,

    T_step(N) = b * flops_per_sample / F  +  2 (N-1)/N * P * bytes / beta  +  2 (N-1) alpha
    efficiency(N) = T_step(1) / T_step(N)        (weak scaling: b per node fixed)

with F the flop rate of one node (measured here from the 1-rank run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.configs import flops_per_sample

SIZES = (784, 1024, 1024, 10)
BIG = (1024, 2048, 2048, 2048, 10)  # 10.5 million parameters
NODES = (2, 4, 8, 16, 32, 64)
# Stated interconnects (alpha: seconds per message, beta: bytes per second).
NETWORKS = {
    "InfiniBand EDR 100 Gb/s": (2e-6, 12.5e9),
    "Ethernet 10 Gb/s": (30e-6, 1.25e9),
}
SERVER_FLOPS = 1e12  # a 32-core AVX-512 server in float32 SGEMM, stated not measured


def n_params(sizes: tuple[int, ...]) -> int:
    """Weights and biases of an MLP: sum over layers of (n_in + 1) n_out."""
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def step_time(nodes: int, per_node_batch: int, sizes: tuple[int, ...], flops: float, alpha: float, beta: float,
              bytes_per_number: int = 4) -> tuple[float, float]:
    """(compute, communication) seconds of one step on ``nodes`` nodes: the ring all-reduce model."""
    compute = per_node_batch * flops_per_sample(sizes) / flops
    if nodes == 1:
        return compute, 0.0
    volume = 2 * (nodes - 1) / nodes * n_params(sizes) * bytes_per_number
    return compute, volume / beta + 2 * (nodes - 1) * alpha


def efficiency(nodes: int, per_node_batch: int, sizes: tuple[int, ...], flops: float, alpha: float,
               beta: float) -> float:
    """Weak-scaling efficiency T(1) / T(N) with ``per_node_batch`` samples per node and step."""
    compute, comm = step_time(nodes, per_node_batch, sizes, flops, alpha, beta)
    return compute / (compute + comm)


# ------------------------------------------------------------------ one MPI job
def worker(samples: int, batch: int, epochs: int) -> None:
    from mpi4py import MPI

    import chainrule as cr
    from chainrule.distributed import Communicator

    comm = Communicator(MPI.COMM_WORLD, timeout=600)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((samples, SIZES[0]), dtype=np.float32)
    y = (x @ rng.standard_normal((SIZES[0], SIZES[-1]), dtype=np.float32)).argmax(axis=1)
    net = cr.MLP(list(SIZES), activation="relu", dtype=np.float32, seed=0)
    history = cr.fit(net, x, y, loss="cross_entropy_with_logits", optimizer="sgd", lr=0.01, epochs=epochs,
                     batch_size=batch, seed=0, progress=False, comm=comm)
    best = min(history.epoch_time[1:] or history.epoch_time)
    waiting = comm.seconds / sum(history.epoch_time)  # share of the training time spent in all-reduces
    timings = {}
    for name, size, repeats in (("alpha", 1, 200), ("gradient", n_params(SIZES), 10)):
        buffer = np.zeros(size, np.float32)
        comm.allreduce_sum(buffer, "warm-up")
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            comm.allreduce_sum(buffer, "timing")
            times.append(time.perf_counter() - start)
        timings[name] = float(np.median(times))
    if comm.rank == 0:
        print("RESULT " + json.dumps({"ranks": comm.size, "samples_per_s": samples / best, "epoch_s": best,
                                      "comm_share": waiting, "allreduce_1_s": timings["alpha"],
                                      "allreduce_P_s": timings["gradient"], "loss": history["loss"][-1]}))


def launch(ranks: int, samples: int, batch: int, epochs: int) -> dict:
    mpiexec = shutil.which("mpiexec") or shutil.which("mpirun")
    if mpiexec is None:
        raise SystemExit("scaling: mpiexec not found; install OpenMPI or MPICH and mpi4py")
    command = [mpiexec, "-n", str(ranks)]
    version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True)
    if "Open MPI" in version.stdout + version.stderr or "OpenRTE" in version.stdout:
        command += ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,tcp",
                    "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"]
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(command + [sys.executable, "-m", "benchmarks.scaling", "--worker", "--samples",
                                    str(samples), "--batch", str(batch), "--epochs", str(epochs)],
                         capture_output=True, text=True, env=env, cwd=root, timeout=1800)
    for line in run.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise SystemExit(f"scaling: the {ranks}-rank job failed:\n{run.stdout}\n{run.stderr}")


def report(results: list[dict], batch: int) -> str:
    base = results[0]["samples_per_s"] / results[0]["ranks"]
    lines = ["| ranks | samples/s | speedup | efficiency | time in all-reduce | all-reduce 1 number "
             "| all-reduce P numbers |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        speedup = r["samples_per_s"] / base
        lines.append(f"| {r['ranks']} | {r['samples_per_s']:,.0f} | {speedup:.2f} | {speedup / r['ranks']:.0%} | "
                     f"{r['comm_share']:.0%} | {1e6 * r['allreduce_1_s']:.0f} us | {1e3 * r['allreduce_P_s']:.1f} ms |")
    flops = base * flops_per_sample(SIZES)
    multi = [r for r in results if r["ranks"] > 1]
    alpha = multi[0]["allreduce_1_s"] / (2 * (multi[0]["ranks"] - 1)) if multi else 50e-6
    beta = (2 * (multi[0]["ranks"] - 1) / multi[0]["ranks"] * n_params(SIZES) * 4 / multi[0]["allreduce_P_s"]
            if multi else 1e9)
    lines += ["", f"one rank: {flops / 1e9:.1f} GFLOP/s; loopback alpha = {1e6 * alpha:.0f} us, "
                  f"beta = {beta / 1e9:.2f} GB/s (from the {multi[0]['ranks'] if multi else '-'}-rank job)", ""]
    networks = {"loopback (measured)": (alpha, beta), **NETWORKS}
    for sizes in (SIZES, BIG):
        lines.append(f"predicted weak-scaling efficiency, {'-'.join(map(str, sizes))} "
                     f"({n_params(sizes) / 1e6:.2f} M parameters), {batch} samples per node and step:")
        header = [f"{name}, {'this core' if flops_ == flops else '1 TFLOP/s node'}"
                  for name in networks for flops_ in (flops, SERVER_FLOPS)]
        lines.append("| nodes | " + " | ".join(header) + " |")
        lines.append("|---:|" + "---:|" * len(header))
        for nodes in NODES:
            cells = [f"{efficiency(nodes, batch, sizes, f, a, b):.0%}"
                     for a, b in networks.values() for f in (flops, SERVER_FLOPS)]
            lines.append(f"| {nodes} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--samples", type=int, default=6144)
    parser.add_argument("--batch", type=int, default=256, help="global batch (default 256)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--json", help="also write the measurements to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.samples, args.batch, args.epochs)
        return
    results = [launch(r, args.samples, args.batch, args.epochs) for r in args.ranks]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    print(report(results, args.batch // max(1, results[0]["ranks"])))


if __name__ == "__main__":
    main()
