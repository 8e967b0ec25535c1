"""Run by the tests under mpiexec: one data-parallel fit per rank, the weights saved by rank 0.

    mpiexec -n R python rank_script.py OUT SCENARIO

SCENARIO picks the run: "plain" (float64, weights, uneven batches), "float32",
"checkpoint" (2 epochs with a checkpoint, then resumed to 4), "raise" (rank 1's loss
raises in epoch 2), "callback_raises" (rank 1's callback raises after epoch 1),
"stall" (rank 1 stops answering after epoch 1; short collective timeout), "memmap" (the
data from OUT.x.npy and OUT.y.npy opened as memory maps), "mismatch" (rank 1 drops a sample),
"sklearn" (MLPClassifier.fit with comm; its coefs_ and intercepts_ are saved).
"""

from __future__ import annotations

import sys
import time


def main() -> None:
    import numpy as np
    from mpi4py import MPI
    from mpi_common import data, train_kwargs  # this script's folder is on sys.path

    import chainrule as cr
    from chainrule.callbacks import LambdaCallback
    from chainrule.distributed import Communicator, DistributedError

    out, scenario = sys.argv[1], sys.argv[2]
    world = MPI.COMM_WORLD
    rank = world.Get_rank()
    comm = Communicator(world, timeout=3.0 if scenario == "stall" else 60.0)
    dtype = np.float32 if scenario == "float32" else np.float64
    x, y, w = data(dtype)
    if scenario == "memmap":
        x, y = np.load(f"{out}.x.npy", mmap_mode="r"), np.load(f"{out}.y.npy", mmap_mode="r")
    if scenario == "mismatch" and rank == 1:
        x, y, w = x[:-1], y[:-1], w[:-1]
    net = cr.MLP([x.shape[1], 7, 5, 3], activation="tanh", dtype=dtype, seed=11)
    kwargs = train_kwargs()
    callbacks = []
    if scenario == "raise":
        def loss(output, target, sample_weight=None):
            if rank == 1 and callbacks[0].epoch >= 1:
                raise ValueError("a deliberate failure on rank 1")
            return cr.losses.cross_entropy_with_logits(output, target, sample_weight)

        kwargs["loss"] = loss
    if scenario in ("raise", "callback_raises", "stall"):
        def on_epoch_end(epoch, logs):
            callbacks[0].epoch = epoch + 1
            if rank == 1 and epoch == 0 and scenario == "callback_raises":
                raise RuntimeError("a callback failed on rank 1")
            if rank == 1 and epoch == 0 and scenario == "stall":
                time.sleep(60)

        callbacks.append(LambdaCallback(on_epoch_end=on_epoch_end))
        callbacks[0].epoch = 0
    try:
        if scenario == "sklearn":
            from mpi_common import sklearn_classifier

            est = sklearn_classifier().fit(x, y, sample_weight=w, comm=comm)
            flat = np.concatenate([a.ravel() for a in est.coefs_ + est.intercepts_])
            if rank == 0:
                np.savez(out, weights=flat, loss=np.array(est.loss_curve_))
            return
        if scenario == "checkpoint":
            cr.fit(net, x, y, sample_weight=w, comm=comm, epochs=2, checkpoint=f"{out}.ckpt", **kwargs)
            world.Barrier()
            net = cr.MLP([x.shape[1], 7, 5, 3], activation="tanh", dtype=dtype, seed=99)  # other weights: all come back
            history = cr.fit(net, x, y, sample_weight=w, comm=comm, epochs=4, resume=f"{out}.ckpt", **kwargs)
        else:
            history = cr.fit(net, x, y, sample_weight=w, comm=comm, epochs=4, callbacks=callbacks, **kwargs)
    except DistributedError as error:
        print(f"rank {rank}: {error}", flush=True)
        sys.exit(2)
    flat = np.concatenate([p.data.ravel() for p in net.parameters()])
    gathered = world.gather(flat, root=0)
    if rank == 0:
        np.savez(out, weights=flat, spread=max(float(np.max(np.abs(g - flat))) for g in gathered),
                 loss=np.array(history.history["loss"]))


if __name__ == "__main__":
    main()
