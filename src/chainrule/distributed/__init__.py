"""Data-parallel training over MPI: one network, R processes, each global batch split among them.

Synchronous data-parallel SGD (the scheme of Horovod and PyTorch's DistributedDataParallel):
every process (rank) holds the whole network and the whole (memory-mapped) data set, walks
the same permutation, and computes the gradient of its shard of each global batch B. One
all-reduce of a flat buffer per step sums the shards' contributions, weighted by their
share S_r of the batch (sample count, or sum of sample weights):

    dE_B/dw = sum_r S_r dE_r/dw / sum_r S_r,       E_B = sum_r S_r E_r / sum_r S_r

which is the single-process gradient of B however unevenly B splits. Every rank then takes
the same optimizer step on the same numbers, so the weights stay identical without being
sent. Use it through ``chainrule.fit(..., comm=MPI.COMM_WORLD)``; see docs/distributed.md.

mpi4py is imported only here (``pip install chainrule[mpi]``).
"""

from chainrule.distributed.collectives import Communicator, DistributedError
from chainrule.distributed.data_parallel import DataParallel
from chainrule.distributed.launch import launched_comm

__all__ = ["Communicator", "DataParallel", "DistributedError", "launched_comm"]
