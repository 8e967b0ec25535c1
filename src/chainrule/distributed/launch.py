"""Whether this process was started by ``mpirun``/``mpiexec`` as one of several ranks.

Open MPI sets ``OMPI_COMM_WORLD_SIZE``, MPICH and Intel MPI ``PMI_SIZE``; a process started
alone sees neither, and then mpi4py is not even imported. This is how ``mpirun -n 4
chainrule train ...`` becomes data-parallel with no flag.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["launched_comm"]

_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS")


def launched_comm(environ: dict[str, str] | None = None) -> Any:
    """``MPI.COMM_WORLD`` when launched by an MPI starter with more than one rank, else None.

    >>> launched_comm({}) is None
    True
    """
    environ = os.environ if environ is None else environ
    sizes = [environ.get(name, "") for name in _SIZE_VARIABLES]
    if not any(size.isdigit() and int(size) > 1 for size in sizes):
        return None
    from chainrule.distributed.collectives import _mpi

    return _mpi().COMM_WORLD
