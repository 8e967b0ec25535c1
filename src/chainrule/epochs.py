"""The epoch loop, shared by :func:`chainrule.fit` and the scikit-learn estimators' 'sgd' and 'adam'.

One run of :func:`run_epochs` is

    until max_epochs epochs are done or something stops the run:
        for each mini-batch B, in the order the policy draws (shuffled or not, seeded):
            E_B, dE_B/dw          forward and backward pass
            w <- w + update       the optimizer's step
        E = sum_B share_B E_B / sum_B share_B             the epoch's loss (share: samples or weights)
        the epoch's figures (validation loss and scores)
        eta <- the policy's next learning rate            (a schedule; scikit-learn's invscaling)
        the policy's stopping rule                         (tol and n_iter_no_change, with scikit-learn's
                                                            adaptive eta / 5; a schedule that ran out)

and around it the things every run shares: the callbacks (each may ask to stop, after a batch or
an epoch), Ctrl-C (the first stops at the next batch boundary with every step taken whole, a second
stops at once), the history of the epochs, and, when the policy asks for it, the guard against a
loss or weights that became NaN or inf (the weights go back to the start of that epoch).

What differs between ``fit`` and the estimators is an :class:`EpochPolicy`: the order of the
samples, the step, the figures after an epoch, the learning-rate change and the stopping rule.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from chainrule.boundary import all_finite
from chainrule.callbacks import EarlyStopping, FitState
from chainrule.tensor import Tensor

__all__ = ["EpochPolicy", "Interrupts", "run_epochs"]

Batch = tuple[int, Any, Any, Any]  # (samples in the batch, x_B, y_B, w_B or None)


class EpochPolicy:
    """What one kind of training decides; :func:`run_epochs` calls these, in this order.

    ``max_epochs`` bounds the epochs of this run (counted by ``FitState.epoch``);
    ``guard_nonfinite`` turns on the NaN/inf guard.
    """

    max_epochs: int = 0
    guard_nonfinite: bool = False

    def running(self) -> contextlib.AbstractContextManager[Any]:
        """A context held while the epochs run (thread settings, ...)."""
        return contextlib.nullcontext()

    def learning_rate(self) -> float:
        """eta of the next step, as the epoch's logs report it."""
        raise NotImplementedError

    def batches(self) -> Iterator[Batch]:
        """One epoch's mini-batches in this epoch's order."""
        raise NotImplementedError

    def loss_and_grad(self, x: Any, y: Any, w: Any) -> float:
        """E_B for one batch, leaving dE_B/dw in every parameter's ``.grad``."""
        raise NotImplementedError

    def share(self, size: int, w: Any) -> float:
        """The batch's weight in the epoch's loss (its samples, or the sum of its sample weights)."""
        return float(size)

    def update(self) -> None:
        """The optimizer's step from the gradients of the last batch."""
        raise NotImplementedError

    def epoch_figures(self, loss: float) -> dict[str, float]:
        """Figures logged after an epoch with training loss ``loss`` (validation loss, scores, ...)."""
        return {}

    def change_learning_rate(self, logs: dict[str, float]) -> None:
        """The learning rate for the next epoch, from this epoch's logs."""

    def stopping_rule(self) -> tuple[str, str] | None:
        """(reason, message) when the policy's own rule ends training after this epoch, else None."""
        return None

    def abandon(self, error: BaseException) -> None:
        """Called with an error that ends the run (data-parallel ranks waiting on this one are told)."""


class Interrupts:
    """Turns the first Ctrl-C into a request to stop at the next batch boundary.

    A second Ctrl-C raises KeyboardInterrupt at once, which :func:`run_epochs` catches wherever it
    lands (possibly in the middle of a step). Signal handlers can be set only in the main
    thread; elsewhere the first KeyboardInterrupt is caught in the same way.
    """

    def __init__(self) -> None:
        self.requested = False
        self._installed = False
        self._previous: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._installed:
            # None means a handler installed from C that Python cannot reinstate; use the default.
            signal.signal(signal.SIGINT, self._previous if self._previous is not None else signal.default_int_handler)


def _copy_into(snapshot: list[np.ndarray], params: list[Tensor]) -> list[np.ndarray]:
    """The parameters' values, copied into ``snapshot``'s arrays (reused from epoch to epoch)."""
    if len(snapshot) != len(params) or any(s.shape != p.data.shape or s.dtype != p.data.dtype
                                           for s, p in zip(snapshot, params)):
        return [p.data.copy() for p in params]
    for s, p in zip(snapshot, params):
        np.copyto(s, p.data)
    return snapshot


def _step(policy: EpochPolicy, x: Any, y: Any, w: Any) -> tuple[float, str]:
    """E_B of one batch and what went wrong ("" when nothing did); the optimizer steps only when nothing did.

    Without the policy's guard nothing is checked: the loss may be NaN and the step is taken.
    """
    if not policy.guard_nonfinite:
        value = policy.loss_and_grad(x, y, w)
        policy.update()
        return value, ""
    try:
        value = policy.loss_and_grad(x, y, w)
    except FloatingPointError as error:
        return math.nan, f"a floating-point error ({error})"
    if not math.isfinite(value):
        return value, f"the loss became {value}"
    policy.update()
    return value, ""


def run_epochs(state: FitState, policy: EpochPolicy) -> dict[str, float]:
    """Train ``state.model`` epoch by epoch as ``policy`` says; returns the last epoch's logs.

    Epochs and steps are counted in ``state`` and recorded in ``state.history``, whose
    ``stop_reason`` and ``message`` say why the run ended: "completed" (``max_epochs``
    reached), "early_stopping" (an :class:`~chainrule.callbacks.EarlyStopping` or the
    policy's rule), "schedule", "callback", "interrupted" or "non_finite" (with a
    RuntimeWarning); when the policy's rule and a callback both stop the same epoch, the
    policy's reason is recorded. The callbacks' ``on_train_begin`` is the caller's; their
    ``on_train_end`` is called here, whatever happens. The model's mode (training or
    evaluation) is the one it had before.
    """
    model, history, cbs = state.model, state.history, state.callbacks
    params = model.parameters()
    was_training = model.training
    snapshot: list[np.ndarray] = []
    logs: dict[str, float] = {}

    def stop(reason: str, message: str) -> None:
        history.stop_reason, history.message = reason, message

    try:
        with Interrupts() as interrupts, policy.running():
            while state.epoch < policy.max_epochs and history.stop_reason == "completed":
                epoch = state.epoch
                for cb in cbs:
                    cb.on_epoch_begin(epoch)
                start, lr_used = time.perf_counter(), policy.learning_rate()
                if policy.guard_nonfinite:
                    snapshot = _copy_into(snapshot, params)
                model.train()
                total = seen = 0.0
                for b, (size, xb, yb, wb) in enumerate(policy.batches()):
                    batch_loss, problem = _step(policy, xb, yb, wb)
                    if not problem:
                        state.step += 1
                        share = policy.share(size, wb)
                        total += batch_loss * share
                        seen += share
                        requests = [cb.on_batch_end(b, {"loss": batch_loss, "size": size}) for cb in cbs]
                    if policy.guard_nonfinite and (problem or (b == state.n_batches - 1
                                                               and not all(all_finite(p.data) for p in params))):
                        for p, value in zip(params, snapshot):
                            np.copyto(p.data, value)
                        stop("non_finite", f"{problem or 'the weights became NaN or inf'} at epoch {epoch + 1}, "
                                           f"batch {b + 1}; the weights are back to their values at the start of "
                                           f"epoch {epoch + 1}. Lower the learning rate (it was "
                                           f"{policy.learning_rate():g}) or clip gradients (clip_norm=...)")
                        warnings.warn(history.message, RuntimeWarning, stacklevel=3)
                        break
                    if any(requests):
                        stop("callback", f"a callback stopped training during epoch {epoch + 1}, batch {b + 1}")
                        break
                    if interrupts.requested:
                        stop("interrupted", f"interrupted (Ctrl-C) during epoch {epoch + 1} after {b + 1} of "
                                            f"{state.n_batches} batches")
                        break
                if history.stop_reason != "completed":
                    break
                logs = {"loss": total / seen}
                logs.update(policy.epoch_figures(logs["loss"]))
                logs["lr"] = lr_used
                policy.change_learning_rate(logs)
                logs["time"] = time.perf_counter() - start
                state.epoch += 1
                history.append({k: v for k, v in logs.items() if k != "time"}, logs["time"])
                requests = [(cb, cb.on_epoch_end(epoch, logs)) for cb in cbs]
                stopper = next((cb for cb, wants in requests if wants), None)
                verdict = policy.stopping_rule()
                if verdict is not None:
                    stop(*verdict)
                elif stopper is not None:
                    reason = "early_stopping" if isinstance(stopper, EarlyStopping) else "callback"
                    stop(reason, stopper.stop_message or f"{type(stopper).__name__} stopped training")
    except KeyboardInterrupt:
        stop("interrupted", f"interrupted (Ctrl-C) during epoch {state.epoch + 1}")
    except Exception as error:
        policy.abandon(error)
        raise
    finally:
        model.train(was_training)
        for cb in cbs:
            cb.on_train_end(logs)
    return logs
