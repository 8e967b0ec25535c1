"""MPI collectives with a deadline: a failed or stalled rank ends the job instead of hanging it.

A blocking ``MPI_Allreduce`` waits for ever when one rank never arrives. Here every
collective is started non-blocking (``Iallreduce``, ``Ibcast``, ``Iallgather``) and polled
until it completes or ``timeout`` seconds pass; then the rank prints one line saying so on
stderr and calls ``MPI_Abort``, which ends every process of the job (a pending collective
cannot be cancelled, so there is nothing else to return to).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import numpy as np

from chainrule.errors import ChainruleError, ConfigError

__all__ = ["Communicator", "DistributedError", "DEFAULT_TIMEOUT"]

#: Seconds a collective may wait for the other ranks ($CHAINRULE_MPI_TIMEOUT overrides it).
DEFAULT_TIMEOUT = 300.0

_MESSAGE_BYTES = 240


class DistributedError(ChainruleError):
    """A rank of a data-parallel job failed; raised on every rank with the same message."""


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ConfigError(f"data-parallel training needs mpi4py ({error}); install it with "
                          "pip install 'chainrule[mpi]' (it builds against the system's MPI)") from None
    return MPI


class Communicator:
    """An mpi4py communicator whose collectives give up after ``timeout`` seconds.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        Usually ``MPI.COMM_WORLD``.
    timeout : float, optional
        Seconds each collective waits for the slowest rank (default
        ``$CHAINRULE_MPI_TIMEOUT`` or 300). It must cover the longest time one rank
        spends away from the others, such as rank 0 writing a checkpoint.
    """

    def __init__(self, comm: Any, timeout: float | None = None) -> None:
        if timeout is None:
            timeout = float(os.environ.get("CHAINRULE_MPI_TIMEOUT", DEFAULT_TIMEOUT))
        if not timeout > 0:
            raise ConfigError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.comm = comm
        self.timeout = float(timeout)
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        #: Seconds spent in collectives so far (the communication share of a step, for benchmarks).
        self.seconds = 0.0

    @classmethod
    def wrap(cls, comm: Any) -> Communicator:
        """``comm`` itself when it is a Communicator, else a Communicator around it."""
        return comm if isinstance(comm, Communicator) else cls(comm)

    def allreduce_sum(self, buffer: np.ndarray, what: str) -> None:
        """Replace ``buffer`` by its elementwise sum over the ranks, in place."""
        mpi = _mpi()
        self._wait(self.comm.Iallreduce(mpi.IN_PLACE, buffer, op=mpi.SUM), what)

    def broadcast(self, buffer: np.ndarray, what: str, root: int = 0) -> None:
        """Overwrite ``buffer`` on every rank with its content on ``root``."""
        self._wait(self.comm.Ibcast(buffer, root=root), what)

    def allgather(self, row: np.ndarray, what: str) -> np.ndarray:
        """Every rank's ``row`` (same shape and dtype on all), stacked: (size, *row.shape)."""
        out = np.empty((self.size, *row.shape), row.dtype)
        self._wait(self.comm.Iallgather(np.ascontiguousarray(row), out), what)
        return out

    def allgather_text(self, text: str, what: str) -> list[str]:
        """Every rank's ``text`` (cut to 240 bytes of UTF-8)."""
        raw = text.encode("utf-8")[:_MESSAGE_BYTES]
        row = np.zeros(_MESSAGE_BYTES + 2, np.uint8)
        row[:2] = divmod(len(raw), 256)
        row[2:2 + len(raw)] = np.frombuffer(raw, np.uint8)
        rows = self.allgather(row, what)
        return [bytes(r[2:2 + 256 * int(r[0]) + int(r[1])]).decode("utf-8", "replace") for r in rows]

    def _wait(self, request: Any, what: str) -> None:
        """Poll ``request`` until it completes; past the deadline, one line on stderr and MPI_Abort.

        Polling (not a blocking wait) also leaves the processor to the other ranks when
        several share a machine: the sleep grows from 0 to 1 ms while the rank waits.
        """
        start = time.monotonic()
        deadline = start + self.timeout
        pause = 0.0
        while not request.Test():
            if time.monotonic() > deadline:
                self.abort(f"no answer from the other ranks within {self.timeout:g} s during {what}; "
                           "a rank has failed or stalled, so the job stops")
            time.sleep(pause)
            pause = min(1e-3, pause + 2e-5)
        self.seconds += time.monotonic() - start

    def abort(self, message: str, code: int = 3) -> None:
        """Print ``chainrule: rank r of R: message`` on stderr and end every process of the job."""
        print(f"chainrule: rank {self.rank} of {self.size}: {message}", file=sys.stderr, flush=True)
        self.comm.Abort(code)
        raise SystemExit(code)  # not reached: MPI_Abort ends this process too
