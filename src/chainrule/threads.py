"""BLAS threads chosen per fit from the size of its matrix products.

Training an MLP is a sequence of products: layer l's forward pass multiplies the batch's
activations (batch, n_in) by W^(l) (n_in, n_out), batch * n_in * n_out multiply-adds, and
the backward pass does two more of the same size. OpenBLAS splits each product among its
threads. For small products (a 200 x 64 x 128 product is 1.6 million multiply-adds, a
fraction of a millisecond) the split costs about as much as it saves, and when another
process holds one of the cores the threads wait for each other at every product: the
same fit then runs 10 to 30 times slower than on one thread.

So a fit runs its products on one thread unless its largest product reaches
:data:`SMALL_PRODUCT` multiply-adds; then on one thread per ``SMALL_PRODUCT`` of work, at
most the cores this process may use and never more than BLAS was already limited to.
The choice is overridden by an explicit count (the estimators' ``n_threads``, ``-1``
for every core) or by the environment variable ``CHAINRULE_NUM_THREADS``.

Limits are set with threadpoolctl (the ``[speed]`` extra); without it, BLAS keeps its
default and :func:`fit_threads` says so.

Examples
--------
>>> choose_threads([64, 128, 10], batch=200, requested=None, environ={}).n
1
>>> choose_threads([64, 128, 10], batch=200, requested=3, environ={}).reason
'n_threads=3'
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from chainrule.errors import ConfigError

#: The environment variable that sets the BLAS threads of every fit (an integer >= 1, or -1 for every core).
ENV_VAR = "CHAINRULE_NUM_THREADS"

#: Multiply-adds in a fit's largest product below which it runs on one thread (2^22, e.g. 256 x 128 x 128).
SMALL_PRODUCT = 1 << 22

_controller: Any = None


@dataclass(frozen=True)
class ThreadChoice:
    """How many BLAS threads a fit uses, and why (a phrase for reports)."""

    n: int
    reason: str


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def largest_product(layer_sizes: Sequence[int], batch: int) -> int:
    """max over layers of batch * n_in * n_out: the multiply-adds of the biggest product of a step."""
    return max((int(batch) * int(a) * int(b) for a, b in zip(layer_sizes[:-1], layer_sizes[1:])), default=0)


def layer_sizes_of(model: Any) -> list[int]:
    """[n_in, n_out, ...] of the Linear layers of a chainrule module, in order (chained as found)."""
    sizes: list[int] = []
    for module in model.modules():
        if hasattr(module, "n_in") and hasattr(module, "n_out"):
            sizes += [int(module.n_in), int(module.n_out)] if not sizes else [int(module.n_out)]
    return sizes


def _parse(value: Any, source: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if isinstance(value, bool) or not (n >= 1 or n == -1) or (isinstance(value, float) and value != n):
        raise ConfigError(f"{source} must be an integer >= 1, or -1 for every core; got {value!r}")
    return available_cores() if n == -1 else n


def choose_threads(layer_sizes: Sequence[int], batch: int, requested: int | None = None,
                   environ: Mapping[str, str] | None = None) -> ThreadChoice:
    """The BLAS threads for a fit of a network with ``layer_sizes`` (input first) on batches of ``batch``.

    ``requested`` (an integer >= 1, or -1 for every core) wins; then ``CHAINRULE_NUM_THREADS``
    in ``environ`` (default ``os.environ``); then the rule of this module.
    """
    if requested is not None:
        return ThreadChoice(_parse(requested, "n_threads"), f"n_threads={requested}")
    environ = os.environ if environ is None else environ
    if environ.get(ENV_VAR, "").strip():
        return ThreadChoice(_parse(environ[ENV_VAR].strip(), ENV_VAR), f"{ENV_VAR}={environ[ENV_VAR].strip()}")
    work = largest_product(layer_sizes, batch)
    if work < SMALL_PRODUCT:
        return ThreadChoice(1, f"largest product {work:,} multiply-adds < {SMALL_PRODUCT:,}")
    n = max(1, min(available_cores(), work // SMALL_PRODUCT))
    return ThreadChoice(n, f"largest product {work:,} multiply-adds, {available_cores()} cores")


def _blas_controller() -> Any:
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


def current_blas_threads() -> int | None:
    """The threads NumPy's BLAS uses now (the largest over BLAS libraries), or None without threadpoolctl."""
    try:
        infos = [lib for lib in _blas_controller().info() if lib.get("user_api") == "blas"]
    except ImportError:
        return None
    return max((int(lib["num_threads"]) for lib in infos), default=None)


@contextmanager
def blas_threads(n: int) -> Iterator[int | None]:
    """Run the block with BLAS limited to ``n`` threads; yields n, or None when threadpoolctl is missing."""
    try:
        controller = _blas_controller()
    except ImportError:
        yield None
        return
    with controller.limit(limits=int(n), user_api="blas"):
        yield int(n)


@contextmanager
def fit_threads(layer_sizes: Sequence[int], batch: int, requested: int | None = None) -> Iterator[ThreadChoice]:
    """Choose (:func:`choose_threads`) and apply the BLAS threads of one fit; yields the choice.

    An automatic choice never raises BLAS above the limit already in force (a
    ``threadpool_limits`` block around the fit is respected); an explicit one is applied.
    """
    choice = choose_threads(layer_sizes, batch, requested)
    current = current_blas_threads()
    if current is None:
        yield ThreadChoice(choice.n, "threadpoolctl not installed: BLAS threads left at their default")
        return
    if requested is None and not os.environ.get(ENV_VAR, "").strip() and choice.n > current:
        choice = ThreadChoice(current, f"{choice.reason}, BLAS already limited to {current}")
    if choice.n == current:
        yield choice
        return
    with blas_threads(choice.n):
        yield choice


def describe(layer_sizes: Sequence[int], batch: int, requested: int | None = None) -> str:
    """One line for reports: the threads a fit of this shape would use and why."""
    choice = choose_threads(layer_sizes, batch, requested)
    return f"{choice.n} BLAS thread{'s' if choice.n != 1 else ''} ({choice.reason})"
