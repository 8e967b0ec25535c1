"""The data-parallel step: shard each global batch, all-reduce one flat buffer, keep the ranks agreed.

The flat buffer of one step, in the model's dtype, holds

    [ S_r * dE_r/dw for every parameter w (P numbers) | S_r * E_r | S_r | failed_r ]

and one in-place ``Allreduce`` (sum) turns it into the global numbers on every rank:
the gradient sum_r S_r dE_r/dw, the loss sum, the batch's share S = sum_r S_r and the
number of ranks whose step raised. Dividing by S gives dE_B/dw and E_B exactly as one
process computes them for the whole batch (up to the order of the floating-point sums,
so ~1e-16 relative per step in float64). A rank with an empty shard (a batch smaller
than the number of ranks) sends zeros. A rank whose step raises sends failed_r = 1, so
every rank learns of it in the same collective and raises the same
:class:`DistributedError` (a floating-point error is sent as a NaN loss instead, which
``fit`` handles on every rank as it does in one process).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.distributed.collectives import Communicator, DistributedError
from chainrule.nn import Module

__all__ = ["DataParallel"]


def _fingerprint(obj: Any) -> int:
    """A 63-bit digest of ``repr(obj)``, equal on ranks that hold equal seeds or generator states."""
    return int.from_bytes(hashlib.sha256(repr(obj).encode()).digest()[:8], "little") >> 1


class DataParallel:
    """One rank's part of a data-parallel ``fit``: setup agreement, shards and the reduced step.

    Building it is itself collective: every rank must build it, with the same number of
    samples ``n`` and a network of the same shapes; it copies rank 0's weights to every
    rank (so an unseeded initialisation cannot make them differ) and raises
    :class:`DistributedError` on every rank when the ranks disagree.

    Parameters
    ----------
    comm : mpi4py communicator or Communicator
    model : Module
    n : int
        Training samples on this rank (all ranks read the same data set).
    """

    def __init__(self, comm: Any, model: Module, n: int) -> None:
        self.comm = Communicator.wrap(comm)
        self.rank, self.size = self.comm.rank, self.comm.size
        self.params = model.parameters()
        dtype = self.params[0].data.dtype if self.params else np.dtype(np.float64)
        self.n_weights = sum(p.data.size for p in self.params)
        layout = np.array([n, len(self.params), self.n_weights, dtype.itemsize], np.int64)
        everyone = self.comm.allgather(layout, "the setup (data size and network shape)")
        if (everyone != layout).any():
            rows = "; ".join(f"rank {r}: {row[0]} samples, {row[2]} weights ({8 * row[3]}-bit)"
                             for r, row in enumerate(everyone))
            raise DistributedError(f"the ranks disagree on the data or the network ({rows}); give every rank "
                                   "the same data set and the same network")
        self.buffer = np.zeros(self.n_weights + 3, dtype)
        self._broadcast_weights()
        self.last_share = 0.0
        self._failed = False

    @property
    def is_root(self) -> bool:
        """Whether this is rank 0, the one that writes checkpoints and progress."""
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int]:
        """(rank, size), for :class:`chainrule.batches.BatchStream`."""
        return self.rank, self.size

    def _broadcast_weights(self) -> None:
        flat = self.buffer[:self.n_weights]
        self._pack([p.data for p in self.params], 1.0)
        self.comm.broadcast(flat, "the copy of rank 0's initial weights")
        self._unpack_into([p.data for p in self.params])

    def shared_seed(self, seed: Any) -> Any:
        """The seed every rank uses: rank 0's fresh entropy for ``seed=None``; otherwise ``seed``,
        after checking that every rank was given the same one (a generator: the same state)."""
        if seed is None:
            entropy = np.frombuffer(np.random.SeedSequence().entropy.to_bytes(16, "little"), np.uint64).copy()
            self.comm.broadcast(entropy, "the sharing of rank 0's random seed")
            return int.from_bytes(entropy.tobytes(), "little")
        state = seed.bit_generator.state if isinstance(seed, np.random.Generator) else seed
        prints = self.comm.allgather(np.array([_fingerprint(state)], np.int64), "the seed check")
        if (prints != prints[0]).any():
            raise DistributedError("the ranks were given different seeds; give every rank the same seed "
                                   "(or none, and rank 0's is shared)")
        return seed

    def wrap(self, step: Callable[..., float]) -> Callable[..., float]:
        """The global step: ``f(xb, yb, wb) -> E_B`` on this rank's shard, leaving dE_B/dw in every ``p.grad``."""

        def global_step(xb: np.ndarray, yb: Any, wb: Any = None) -> float:
            share = float(len(xb)) if wb is None else float(np.sum(wb))
            buffer, p_end = self.buffer, self.n_weights
            message = ""
            buffer[:] = 0
            if share > 0:
                try:
                    local = step(xb, yb, wb)
                    self._pack([p.grad for p in self.params], share)
                    buffer[p_end] = local * share
                except FloatingPointError:
                    buffer[:p_end] = 0
                    buffer[p_end] = np.nan
                except Exception as error:  # noqa: BLE001 - every error must reach the other ranks
                    buffer[:p_end + 1] = 0
                    buffer[p_end + 2] = 1
                    message = f"{type(error).__name__}: {error}"
            buffer[p_end + 1] = share
            self.comm.allreduce_sum(buffer, "the gradient all-reduce")
            if buffer[p_end + 2] > 0:
                self._raise_failure(message)
            total = float(buffer[p_end + 1])
            np.divide(buffer[:p_end], total, out=buffer[:p_end])
            self._assign_grads()
            self.last_share = total
            return float(buffer[p_end]) / total

        global_step.plan = getattr(step, "plan", None)  # type: ignore[attr-defined]
        return global_step

    def abandon(self, error: Exception) -> None:
        """Tell the other ranks, waiting in the next step's all-reduce, that this rank stopped
        (an error outside the step: a callback, a checkpoint write); raises the same
        :class:`DistributedError` here as there, caused by ``error``."""
        if self._failed or isinstance(error, DistributedError):
            return
        self.buffer[:] = 0
        self.buffer[-1] = 1
        self.comm.allreduce_sum(self.buffer, "the report of this rank's failure")
        self._raise_failure(f"{type(error).__name__}: {error}", cause=error)

    def _raise_failure(self, message: str, cause: Exception | None = None) -> None:
        self._failed = True
        messages = self.comm.allgather_text(message, "the exchange of error messages")
        failed = [(r, text) for r, text in enumerate(messages) if text]
        rank, text = failed[0] if failed else (-1, "an unknown error")
        who = f"rank {rank} of {self.size}" if rank >= 0 else "a rank"
        raise DistributedError(f"{who} failed ({text}); training stopped on every rank") from cause

    def _pack(self, arrays: list[np.ndarray | None], scale: float) -> None:
        at = 0
        for p, array in zip(self.params, arrays):
            size = p.data.size
            view = self.buffer[at:at + size]
            if array is None:
                view[:] = 0
            elif scale == 1.0:
                view[:] = array.reshape(-1)
            else:
                np.multiply(array.reshape(-1), scale, out=view)
            at += size

    def _unpack_into(self, arrays: list[np.ndarray]) -> None:
        at = 0
        for array in arrays:
            array[...] = self.buffer[at:at + array.size].reshape(array.shape)
            at += array.size

    def _assign_grads(self) -> None:
        at = 0
        for p in self.params:
            p.grad = self.buffer[at:at + p.data.size].reshape(p.data.shape)
            at += p.data.size
