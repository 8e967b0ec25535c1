"""Small fits on an idle machine and with one core kept busy: chainrule, scikit-learn and PyTorch.

The fit is ``MLPClassifier((128,), max_iter=20)`` on scikit-learn's digits (pixels / 16,
1797 x 64, ten classes; batches of 200, Adam, eta 1e-3); PyTorch runs the same network,
batches and epochs with its own Adam. Each is timed ``--repeats`` times (median shown)

- idle: nothing else started by the benchmark (other users of the machine still count,
  so the load average is printed);
- busy: while one extra process spins on a core, started here and stopped when the
  timing ends (it also stops itself after ``--busy-limit`` seconds).

Contenders: chainrule with its per-fit BLAS thread choice (:mod:`chainrule.threads`),
chainrule forced to BLAS's default thread count (``n_threads``, what it did before),
scikit-learn with BLAS's default, scikit-learn with one BLAS thread (threadpoolctl), and
PyTorch with its default threads and with one (``torch.set_num_threads``).

    python -m benchmarks.busy_core [--repeats 3] [--busy-limit 300] [--skip torch]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import numpy as np

SPIN = "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end:\n    pass\n"


@contextmanager
def busy_core(limit: float):
    """One process spinning on a core for the block (at most ``limit`` seconds), then stopped."""
    proc = subprocess.Popen([sys.executable, "-c", SPIN.format(limit=float(limit))])
    try:
        time.sleep(0.3)  # let it reach its loop
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x / 16.0, y


def _estimator_fit(make: Callable[[], Any], x: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    def run() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            make().fit(x, y)
    return run


def contenders(x: np.ndarray, y: np.ndarray, skip: set[str]) -> dict[str, Callable[[], None]]:
    """name -> a function doing one whole fit."""
    from sklearn.neural_network import MLPClassifier as SkMLP
    from threadpoolctl import threadpool_limits

    from chainrule.sklearn import MLPClassifier
    from chainrule.threads import current_blas_threads

    default = current_blas_threads() or 1
    params = dict(hidden_layer_sizes=(128,), max_iter=20, random_state=0)
    out: dict[str, Callable[[], None]] = {
        "chainrule (threads chosen per fit)": _estimator_fit(lambda: MLPClassifier(**params), x, y),
        f"chainrule, n_threads={default} (BLAS default)": _estimator_fit(
            lambda: MLPClassifier(n_threads=default, **params), x, y),
        f"scikit-learn ({default} BLAS threads, default)": _estimator_fit(lambda: SkMLP(**params), x, y),
    }
    sk_fit = _estimator_fit(lambda: SkMLP(**params), x, y)

    def sk_one_thread() -> None:
        with threadpool_limits(1, user_api="blas"):
            sk_fit()

    out["scikit-learn, 1 BLAS thread"] = sk_one_thread
    if "torch" not in skip:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("PyTorch not installed: left out", file=sys.stderr)
        else:
            default_torch = torch.get_num_threads()
            out[f"PyTorch ({default_torch} threads, default)"] = _torch_fit(x, y, default_torch)
            out["PyTorch, 1 thread"] = _torch_fit(x, y, 1)
    return out


def _torch_fit(x: np.ndarray, y: np.ndarray, threads: int) -> Callable[[], None]:
    import torch

    xt, yt = torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.long)

    def run() -> None:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            gen = torch.Generator().manual_seed(0)
            net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)).double()
            opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
            loss_fn = torch.nn.CrossEntropyLoss()
            for _ in range(20):
                order = torch.randperm(len(xt), generator=gen)
                for lo in range(0, len(xt), 200):
                    rows = order[lo:lo + 200]
                    opt.zero_grad()
                    loss_fn(net(xt[rows]), yt[rows]).backward()
                    opt.step()
        finally:
            torch.set_num_threads(previous)
    return run


def time_all(fits: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Median seconds per fit, the contenders interleaved so that outside load hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in fits}
    for fit in fits.values():
        fit()  # warm-up: imports, plans, BLAS buffers
    for _ in range(repeats):
        for name, fit in fits.items():
            start = time.perf_counter()
            fit()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed fits per contender and condition (default 3)")
    parser.add_argument("--busy-limit", type=float, default=300.0,
                        help="seconds after which the busy process stops itself (default 300)")
    parser.add_argument("--skip", default="", help="comma-separated contenders to leave out: torch")
    args = parser.parse_args(argv)
    from chainrule.threads import available_cores, describe

    x, y = digits()
    fits = contenders(x, y, set(filter(None, args.skip.split(","))))
    print(f"cores available: {available_cores()}; load average before: {os.getloadavg()[0]:.2f}")
    print(f"chainrule's choice for this fit: {describe([64, 128, 10], 200)}")
    idle = time_all(fits, args.repeats)
    with busy_core(args.busy_limit):
        busy = time_all(fits, args.repeats)
    print(f"load average after: {os.getloadavg()[0]:.2f}\n")
    print("| MLPClassifier((128,), max_iter=20), digits | idle (s) | one core busy (s) | busy / idle |")
    print("|---|---|---|---|")
    for name in fits:
        print(f"| {name} | {idle[name]:.3f} | {busy[name]:.3f} | {busy[name] / idle[name]:.1f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
