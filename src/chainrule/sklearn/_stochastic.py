"""The stochastic solvers ('sgd', 'adam'): scikit-learn's epoch loop, step for step.

Each epoch (scikit-learn's "iteration") shuffles the sample order with the estimator's
``RandomState``, walks it in mini-batches B, and for each batch runs the forward and
backward pass (:class:`~chainrule.sklearn._network.BatchLoss`) and one optimizer step

    w <- w + v,    v <- mu v - eta dE_B/dw            ('sgd', Nesterov: w <- w + mu v - eta dE_B/dw)
    w <- w - eta_t m / (sqrt(v) + epsilon)            ('adam', see :class:`SklearnAdam`)

through the estimator's ``_optimizer`` (:class:`SklearnSGD`, :class:`SklearnAdam`: chainrule
optimizers with scikit-learn's names and interface). After the epoch: the loss curve, the
stopping rule (no improvement of the training loss, or of the validation score with
``early_stopping``, by ``tol`` for more than ``n_iter_no_change`` epochs), the schedule's
``iteration_ends`` and, when progress stalls, ``trigger_stopping`` ('adaptive' divides eta
by 5 there), in scikit-learn's order.
"""

from __future__ import annotations

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
from chainrule.optim import Optimizer
from chainrule.sklearn._network import BatchLoss, biases_of, weights_of
from chainrule.sklearn._optimizers import make_optimizer


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
    if stratify is not None:
        _check_two_per_class(est, y)
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


def _check_two_per_class(est: Any, y: np.ndarray) -> None:
    """A stratified split needs two samples of each class; name the lonely ones as the user wrote them."""
    labels = est._label_binarizer.inverse_transform(y.ravel())
    classes, counts = np.unique(labels, return_counts=True)
    few = [c.item() if hasattr(c, "item") else c for c in classes[counts < 2]]
    if few:
        raise DataError(f"The least populated classes in y have only 1 member, which is too few. The minimum number "
                        f"of groups for any class cannot be less than 2. Classes with too few members are: {few}")


def fit_stochastic(est: Any, x: Any, y: np.ndarray, sample_weight: np.ndarray | None, batch_loss: BatchLoss,
                   incremental: bool, random_state: np.random.RandomState) -> None:
    """Train the network with 'sgd' or 'adam' and set the fitted attributes as scikit-learn does.

    x: (n_samples, n_features) dense or CSR in the network's dtype; y: (n_samples, n_outputs)
    encoded targets; ``incremental``: one epoch for ``partial_fit``. ``est._optimizer`` is
    made afresh unless ``partial_fit`` continues, and any object with scikit-learn's
    optimizer interface set there by hand is used as it is.
    """
    model = batch_loss.model
    params = weights_of(model) + biases_of(model)
    if not incremental or est.__dict__.get("_optimizer") is None:
        est._optimizer = make_optimizer(est, params)
    opt = est._optimizer
    if isinstance(opt, Optimizer) and len(opt.params) == len(params):
        opt.params = params  # the network may have been rebuilt around the same arrays
    if est.early_stopping and incremental:
        raise ConfigError("partial_fit does not support early_stopping=True")
    val = None
    val_labels = None
    if est.early_stopping:
        x, y, sample_weight, val = _split(est, x, y, sample_weight, random_state)
        val_labels = (val[0], est._decode(val[1]), val[2])
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
    state = FitState(model, opt, None, History(), None, est.max_iter, -(-n // batch_size),
                     batch_loss.objective.loss, cbs)
    for cb in cbs:
        cb.on_train_begin(state)
    logs: dict[str, float] = {}
    model.train()
    try:
        est.n_iter_ = 0
        for epoch in range(est.max_iter):
            for cb in cbs:
                cb.on_epoch_begin(epoch)
            start, lr_used = time.perf_counter(), float(getattr(opt, "lr", opt.learning_rate))
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
                opt.update_params([p.data for p in params], [p.grad for p in params])
                state.step += 1
                stop_request |= any([cb.on_batch_end(b, {"loss": batch_value, "size": rows.stop - rows.start})
                                     for cb in cbs])
            est.n_iter_ += 1
            est.loss_ = accumulated / n
            est.t_ += n
            est.loss_curve_.append(est.loss_)
            if est.verbose:
                print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
            est._update_no_improvement_count(est.early_stopping, *(val_labels or (None, None, None)))
            logs = {"loss": est.loss_, **_validation_logs(est, val, batch_loss), "lr": lr_used}
            opt.iteration_ends(est.t_)
            logs["time"] = time.perf_counter() - start
            state.epoch += 1
            state.history.append({k: v for k, v in logs.items() if k != "time"}, logs["time"])
            stop_request |= any([cb.on_epoch_end(epoch, logs) for cb in cbs])
            if est._no_improvement_count > est.n_iter_no_change:
                what = "Validation score" if est.early_stopping else "Training loss"
                message = (f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} "
                           "consecutive epochs.")
                if opt.trigger_stopping(message, est.verbose):
                    state.history.stop_reason, state.history.message = "early_stopping", message
                    break
                est._no_improvement_count = 0
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
        model.eval()
        for cb in cbs:
            cb.on_train_end(logs)
        # a callback may have loaded other weights into the network (EarlyStopping(restore_best=True))
        est.coefs_[:] = [w.data for w in weights_of(model)]
        est.intercepts_[:] = [b.data for b in biases_of(model)]
    if est.early_stopping:
        # scikit-learn's restore: the lists become the best epoch's copies, which a warm start then trains in
        # place; here the copies go into the network's arrays and the best lists are those arrays
        for p, best in zip(params, est._best_coefs + est._best_intercepts):
            np.copyto(p.data, best, casting="unsafe")
        est._best_coefs, est._best_intercepts = est.coefs_, est.intercepts_


def _validation_logs(est: Any, val: tuple | None, batch_loss: BatchLoss) -> dict[str, float]:
    """The validation figures of one epoch: the score just recorded and the data loss (recorded here)."""
    if val is None:
        return {}
    val_loss = batch_loss.evaluate(*val)
    est.validation_loss_curve_.append(val_loss)
    return {"val_loss": val_loss, ("val_accuracy" if est._is_classifier else "val_r2"): est.validation_scores_[-1]}
