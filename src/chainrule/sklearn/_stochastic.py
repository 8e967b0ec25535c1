"""The stochastic solvers ('sgd', 'adam'): scikit-learn's epoch loop, step for step.

Each epoch (scikit-learn's "iteration") shuffles the sample order with the estimator's
``RandomState``, walks it in mini-batches B, and for each batch runs the forward and
backward pass (:class:`~chainrule.sklearn._network.BatchLoss`) and one optimizer step

    w <- w + v,    v <- mu v - eta dE_B/dw            ('sgd', Nesterov: w <- w + mu v - eta dE_B/dw)
    w <- w - eta_t m / (sqrt(v) + epsilon)            ('adam', see :class:`SklearnAdam`)

through :mod:`chainrule.optim`. After the epoch: the loss curve, the stopping rule
(no improvement of the training loss, or of the validation score with
``early_stopping``, by ``tol`` for more than ``n_iter_no_change`` epochs) and the
learning-rate schedule (:mod:`chainrule.schedules`), in scikit-learn's order.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import gen_batches, shuffle

from chainrule.batches import shard_bounds
from chainrule.callbacks import Callback, FitState, History, PrintProgress, RichProgress
from chainrule.errors import ConfigError, DataError
from chainrule.optim import SGD, Adam, Optimizer
from chainrule.schedules import Adaptive, InvScaling, Schedule
from chainrule.sklearn._network import BatchLoss, biases_of, weights_of


class SklearnAdam(Adam):
    """Adam as scikit-learn's MLP computes it.

    With first moment m and second moment v (both start at 0), at step t::

        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        eta_t = eta sqrt(1 - beta2^t) / (1 - beta1^t)
        w <- w - eta_t m / (sqrt(v) + epsilon)

    :class:`chainrule.optim.Adam` (PyTorch's form) adds epsilon to sqrt(v / (1 - beta2^t))
    instead; the two differ while sqrt(v) is small, in the first steps.
    """

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, Any], tmp: np.ndarray) -> None:
        beta1, beta2, eps = self.hyper["beta1"], self.hyper["beta2"], self.hyper["eps"]
        if "step" not in state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(w)
            state["exp_avg_sq"] = np.zeros_like(w)
        state["step"] = t = int(state["step"]) + 1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += np.multiply(g, 1 - beta1, out=tmp)
        v *= beta2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - beta2
        v += tmp
        eta_t = self.lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
        np.sqrt(v, out=tmp)
        tmp += eps
        # (-eta_t m) / (sqrt(v) + eps), multiplied before dividing as scikit-learn rounds it
        w += np.divide(np.multiply(m, -eta_t), tmp, out=tmp)


def make_optimizer(est: Any) -> tuple[Optimizer, Schedule | None]:
    """The optimizer and learning-rate schedule for a fresh run of ``fit`` (or a first ``partial_fit``)."""
    params = weights_of(est.model_) + biases_of(est.model_)
    if est.solver == "adam":
        return SklearnAdam(params, lr=est.learning_rate_init, betas=(est.beta_1, est.beta_2), eps=est.epsilon), None
    momentum = float(est.momentum)
    opt = SGD(params, lr=est.learning_rate_init, momentum=momentum,
              nesterov=bool(est.nesterovs_momentum) and momentum > 0, momentum_form="sklearn")
    if est.learning_rate == "invscaling":
        schedule = InvScaling(est.power_t, optimizer=opt)
        schedule.t = est.t_  # scikit-learn counts samples over warm starts too
        return opt, schedule
    if est.learning_rate == "adaptive":
        # scikit-learn divides eta by 5 when its no-improvement count exceeds
        # n_iter_no_change, the count that also stops the other schedules; the count
        # and the best figure carry over from an earlier fit.
        patience = sys.maxsize if math.isinf(est.n_iter_no_change) else int(est.n_iter_no_change)
        schedule = Adaptive(tol=float(est.tol), patience=patience, factor=5.0, min_lr=1e-6,
                            mode="max" if est.early_stopping else "min", optimizer=opt)
        schedule.best = est.best_validation_score_ if est.early_stopping else est.best_loss_
        schedule.bad_epochs = est._no_improvement_count
        return opt, schedule
    return opt, None


def _callbacks(est: Any) -> list[Callback]:
    cbs = list(est.callbacks or ())
    for cb in cbs:
        if not isinstance(cb, Callback):
            raise ConfigError(f"callbacks must be chainrule.callbacks.Callback instances, got {type(cb).__name__}")
    if est.progress:
        import importlib.util

        rich = importlib.util.find_spec("rich") is not None and sys.stdout.isatty()
        cbs.append(RichProgress() if rich else PrintProgress())
    return cbs


def _split(est: Any, x: Any, y: np.ndarray, sample_weight: np.ndarray | None, random_state: Any):
    """scikit-learn's validation split for early stopping (stratified for single-output classifiers)."""
    stratify = y if est._is_classifier and est.n_outputs_ == 1 else None
    arrays = (x, y) if sample_weight is None else (x, y, sample_weight)
    try:
        parts = train_test_split(*arrays, random_state=random_state, test_size=est.validation_fraction,
                                 stratify=stratify)
    except ValueError as error:
        raise DataError(str(error)) from error
    x_train, x_val, y_train, y_val = parts[:4]
    w_train, w_val = (parts[4], parts[5]) if sample_weight is not None else (None, None)
    if x_val.shape[0] < 2:
        raise DataError("The validation set is too small. Increase 'validation_fraction' or the size of your "
                        "dataset.")
    return x_train, y_train, w_train, (x_val, y_val, w_val)


def fit_stochastic(est: Any, x: Any, y: np.ndarray, sample_weight: np.ndarray | None, batch_loss: BatchLoss,
                   incremental: bool, random_state: np.random.RandomState) -> None:
    """Train ``est.model_`` with 'sgd' or 'adam' and set the fitted attributes as scikit-learn does.

    x: (n_samples, n_features) dense or CSR in the model's dtype; y: (n_samples, n_outputs)
    encoded targets; ``incremental``: one epoch for ``partial_fit``.
    """
    if not incremental or est._optimizer is None:
        est._optimizer, est._schedule = make_optimizer(est)
    opt, schedule = est._optimizer, est._schedule
    if est.early_stopping and incremental:
        raise ConfigError("partial_fit does not support early_stopping=True")
    val = None
    if est.early_stopping:
        x, y, sample_weight, val = _split(est, x, y, sample_weight, random_state)
    n = x.shape[0]
    order = np.arange(n, dtype=int)
    if est.batch_size == "auto":
        batch_size = min(200, n)
    else:
        if est.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                          stacklevel=3)
        batch_size = int(np.clip(est.batch_size, 1, n))
    cbs = _callbacks(est)
    state = FitState(est.model_, opt, schedule, History(), None, est.max_iter, -(-n // batch_size),
                     batch_loss.objective.loss, cbs)
    for cb in cbs:
        cb.on_train_begin(state)
    logs: dict[str, float] = {}
    est.model_.train()
    try:
        est.n_iter_ = 0
        for epoch in range(est.max_iter):
            for cb in cbs:
                cb.on_epoch_begin(epoch)
            start, lr_used = time.perf_counter(), opt.lr
            if est.shuffle:
                order = shuffle(order, random_state=random_state)
            accumulated, stop_request = 0.0, False
            for b, rows in enumerate(gen_batches(n, batch_size)):
                index = order[rows] if est.shuffle else rows
                if batch_loss.ddp is not None:  # this rank's shard of the global batch
                    a, b = shard_bounds(rows.stop - rows.start, batch_loss.ddp.rank, batch_loss.ddp.size)
                    index = index[a:b] if est.shuffle else slice(rows.start + a, rows.start + b)
                batch_value = batch_loss(x[index], y[index], None if sample_weight is None else sample_weight[index])
                accumulated += batch_value * (rows.stop - rows.start)
                opt.step()
                state.step += 1
                stop_request |= any([cb.on_batch_end(b, {"loss": batch_value, "size": rows.stop - rows.start})
                                     for cb in cbs])
            est.n_iter_ += 1
            est.loss_ = accumulated / n
            est.t_ += n
            est.loss_curve_.append(est.loss_)
            if est.verbose:
                print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
            logs = {"loss": est.loss_, **_validate(est, val, batch_loss), "lr": lr_used}
            monitored = _count_no_improvement(est, logs)
            if isinstance(schedule, InvScaling):
                schedule.step(n_samples=n)
            elif isinstance(schedule, Adaptive):
                schedule.step(loss=monitored)
            logs["time"] = time.perf_counter() - start
            state.epoch += 1
            state.history.append({k: v for k, v in logs.items() if k != "time"}, logs["time"])
            stop_request |= any([cb.on_epoch_end(epoch, logs) for cb in cbs])
            if est._no_improvement_count > est.n_iter_no_change:
                what = "Validation score" if est.early_stopping else "Training loss"
                message = (f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} "
                           "consecutive epochs.")
                if isinstance(schedule, Adaptive) and not schedule.stop_requested:
                    est._no_improvement_count = 0  # the schedule has divided eta by 5
                    if est.verbose:
                        print(f"{message} Setting learning rate to {opt.lr:f}")
                else:
                    if est.verbose:
                        small = " Learning rate too small." if isinstance(schedule, Adaptive) else ""
                        print(f"{message}{small} Stopping.")
                    state.history.stop_reason, state.history.message = "early_stopping", message
                    break
            if stop_request:
                state.history.stop_reason = "callback"
                break
            if incremental:
                break
            if est.n_iter_ == est.max_iter:
                warnings.warn(f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and the "
                              "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=3)
    except KeyboardInterrupt:
        state.history.stop_reason = "interrupted"
        warnings.warn("Training interrupted by user.", stacklevel=3)
    finally:
        est.model_.eval()
        for cb in cbs:
            cb.on_train_end(logs)
    if est.early_stopping:
        est.model_.load_state_dict(est._best_state)


def _validate(est: Any, val: tuple | None, batch_loss: BatchLoss) -> dict[str, float]:
    """The validation figures of one epoch: score (accuracy or R^2) and data loss."""
    if val is None:
        return {}
    x_val, y_val, w_val = val
    score = est._validation_score(x_val, y_val, w_val)
    est.validation_scores_.append(score)
    val_loss = batch_loss.evaluate(x_val, y_val, w_val)
    est.validation_loss_curve_.append(val_loss)
    if est.verbose:
        print(f"Validation score: {score:f}")
    return {"val_loss": val_loss, ("val_accuracy" if est._is_classifier else "val_r2"): score}


def _count_no_improvement(est: Any, logs: dict[str, float]) -> float:
    """scikit-learn's rule: count epochs that do not improve the best figure by more than tol.

    Returns the monitored figure (validation score with early stopping, else the loss).
    With early stopping, the best epoch's weights are kept to be restored at the end.
    """
    if est.early_stopping:
        score = est.validation_scores_[-1]
        est._no_improvement_count = est._no_improvement_count + 1 \
            if score < est.best_validation_score_ + est.tol else 0
        if score > est.best_validation_score_:
            est.best_validation_score_ = score
            est._best_state = est.model_.state_dict()
        return score
    loss = logs["loss"]
    est._no_improvement_count = est._no_improvement_count + 1 if loss > est.best_loss_ - est.tol else 0
    est.best_loss_ = min(est.best_loss_, loss)
    return loss
