"""The stochastic solvers ('sgd', 'adam'): scikit-learn's epochs, step for step, in the shared loop.

Each epoch (scikit-learn's "iteration") shuffles the sample order with the estimator's
``RandomState``, walks it in mini-batches B, and for each batch runs the forward and
backward pass (:class:`~chainrule.sklearn._network.BatchLoss`) and one optimizer step

    w <- w + v,    v <- mu v - eta dE_B/dw            ('sgd', Nesterov: w <- w + mu v - eta dE_B/dw)
    w <- w - eta_t m / (sqrt(v) + epsilon)            ('adam', see :class:`SklearnAdam`)

through the estimator's ``_optimizer`` (:class:`~chainrule.sklearn._optimizers.SklearnSGD`,
:class:`~chainrule.sklearn._optimizers.SklearnAdam`: chainrule optimizers with scikit-learn's
names and interface). After the epoch: the loss curve, the
stopping rule (no improvement of the training loss, or of the validation score with
``early_stopping``, by ``tol`` for more than ``n_iter_no_change`` epochs), the schedule's
``iteration_ends`` and, when progress stalls, ``trigger_stopping`` ('adaptive' divides eta
by 5 there), in scikit-learn's order. The loop itself, with the callbacks and Ctrl-C, is
:func:`chainrule.epochs.run_epochs`, the one ``chainrule.fit`` runs; what is scikit-learn's
here is its :class:`~chainrule.epochs.EpochPolicy`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import gen_batches, shuffle

from chainrule.batches import shard_bounds
from chainrule.callbacks import Callback, FitState, History, progress_display
from chainrule.epochs import Batch, EpochPolicy, run_epochs
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
        cbs.append(progress_display())
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
    policy = _SklearnPolicy(est, batch_loss, params, (x, y, sample_weight), val, val_labels, batch_size,
                            random_state, 1 if incremental else est.max_iter)
    for cb in cbs:
        cb.on_train_begin(state)
    est.n_iter_ = 0
    try:
        run_epochs(state, policy)
        if state.history.stop_reason == "interrupted":
            warnings.warn("Training interrupted by user.", stacklevel=3)
        elif not incremental and state.history.stop_reason == "completed" and est.n_iter_ == est.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=3)
    finally:
        model.eval()
        # a callback may have loaded other weights into the network (EarlyStopping(restore_best=True))
        est.coefs_[:] = [w.data for w in weights_of(model)]
        est.intercepts_[:] = [b.data for b in biases_of(model)]
    if est.early_stopping:
        # scikit-learn's restore: the lists become the best epoch's copies, which a warm start then trains in
        # place; here the copies go into the network's arrays and the best lists are those arrays
        for p, best in zip(params, est._best_coefs + est._best_intercepts):
            np.copyto(p.data, best, casting="unsafe")
        est._best_coefs, est._best_intercepts = est.coefs_, est.intercepts_


class _SklearnPolicy(EpochPolicy):
    """scikit-learn's choices in the shared epoch loop (:mod:`chainrule.epochs`), in its order.

    Order: the sample order shuffled in place each epoch by the estimator's ``RandomState``
    (``shuffle=True``), cut by ``gen_batches`` (under MPI each rank takes its shard of every
    batch); step: ``_optimizer.update_params`` on the gradients; after each epoch ``n_iter_``,
    ``loss_``, ``t_``, ``loss_curve_``, the no-improvement count (validation score with
    ``early_stopping``) and ``validation_loss_curve_``, then ``iteration_ends(t_)`` (invscaling);
    stopping: more than ``n_iter_no_change`` epochs without improvement by ``tol`` asks the
    optimizer's ``trigger_stopping`` ('adaptive' divides eta by 5 instead, down to 1e-6).
    """

    def __init__(self, est: Any, batch_loss: BatchLoss, params: list[Any], train: tuple, val: tuple | None,
                 val_labels: tuple | None, batch_size: int, random_state: Any, max_epochs: int) -> None:
        self.est, self.batch_loss, self.params, self.val, self.val_labels = est, batch_loss, params, val, val_labels
        self.x, self.y, self.w = train
        self.batch_size, self.random_state, self.max_epochs = batch_size, random_state, max_epochs
        self.n = self.x.shape[0]
        self.order = np.arange(self.n, dtype=int)

    def learning_rate(self) -> float:
        opt = self.est._optimizer
        return float(getattr(opt, "lr", opt.learning_rate))

    def batches(self) -> Iterator[Batch]:
        shuffled, ddp = self.est.shuffle, self.batch_loss.ddp
        if shuffled:
            self.order = shuffle(self.order, random_state=self.random_state)
        for rows in gen_batches(self.n, self.batch_size):
            index = self.order[rows] if shuffled else rows
            if ddp is not None:  # this rank's shard of the global batch
                a, b = shard_bounds(rows.stop - rows.start, ddp.rank, ddp.size)
                index = index[a:b] if shuffled else slice(rows.start + a, rows.start + b)
            yield (rows.stop - rows.start, self.x[index], self.y[index],
                   None if self.w is None else self.w[index])

    def loss_and_grad(self, x: Any, y: Any, w: Any) -> float:
        return self.batch_loss(x, y, w)

    def update(self) -> None:
        self.est._optimizer.update_params([p.data for p in self.params], [p.grad for p in self.params])

    def epoch_figures(self, loss: float) -> dict[str, float]:
        est = self.est
        est.n_iter_ += 1
        est.loss_ = loss
        est.t_ += self.n
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        est._update_no_improvement_count(est.early_stopping, *(self.val_labels or (None, None, None)))
        return _validation_logs(est, self.val, self.batch_loss)

    def change_learning_rate(self, logs: dict[str, float]) -> None:
        self.est._optimizer.iteration_ends(self.est.t_)

    def stopping_rule(self) -> tuple[str, str] | None:
        est = self.est
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if est.early_stopping else "Training loss"
            message = (f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} "
                       "consecutive epochs.")
            if est._optimizer.trigger_stopping(message, est.verbose):
                return "early_stopping", message
            est._no_improvement_count = 0
        return None

    def abandon(self, error: BaseException) -> None:
        if self.batch_loss.ddp is not None:
            self.batch_loss.ddp.abandon(error)  # the other ranks wait in an all-reduce: end it for them too


def _validation_logs(est: Any, val: tuple | None, batch_loss: BatchLoss) -> dict[str, float]:
    """The validation figures of one epoch: the score just recorded and the data loss (recorded here)."""
    if val is None:
        return {}
    val_loss = batch_loss.evaluate(*val)
    est.validation_loss_curve_.append(val_loss)
    return {"val_loss": val_loss, ("val_accuracy" if est._is_classifier else "val_r2"): est.validation_scores_[-1]}
