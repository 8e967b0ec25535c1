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
from chainrule.errors import ConfigError, DataError, ShapeError
from chainrule.optim import SGD, Adam, Optimizer
from chainrule.sklearn._network import BatchLoss, biases_of, weights_of


class SklearnOptimizerNames:
    """scikit-learn's optimizer interface (``update_params``, ``iteration_ends``, ``trigger_stopping``)."""

    lr: float
    params: list[Any]
    state: list[dict[str, Any]]

    @property
    def learning_rate(self) -> float:
        """eta, the step size of the next update (scikit-learn's name)."""
        return self.lr

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self.lr = float(value)

    def update_params(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Update each array of ``params`` in place with its gradient in ``grads`` (one step)."""
        with np.errstate(under="ignore"):
            for i, (w, g) in enumerate(zip(params, grads)):
                grad, tmp = self._checked(i, g, w)
                self._update(w, grad, self.state[i], tmp)

    def iteration_ends(self, time_step: int) -> None:
        """Called after each epoch with the samples seen so far, t_."""

    def trigger_stopping(self, msg: str, verbose: bool) -> bool:
        """True: stop training (no improvement for ``n_iter_no_change`` epochs); prints why when verbose."""
        if verbose:
            print(msg + " Stopping.")
        return True

    def _state_array(self, i: int, name: str) -> np.ndarray:
        array = self.state[i].get(name)
        if array is None:
            array = self.state[i][name] = np.zeros_like(self.params[i].data)
        return array

    def _set_state_arrays(self, name: str, values: list[Any]) -> None:
        if len(values) != len(self.params):
            raise ShapeError(f"{name} needs {len(self.params)} arrays, one per parameter, got {len(values)}")
        for i, value in enumerate(values):
            array = np.array(value, dtype=self.params[i].data.dtype, copy=True)
            if array.shape != self.params[i].data.shape:
                raise ShapeError(f"{name}[{i}] must have shape {self.params[i].data.shape}, got {array.shape}")
            self.state[i][name] = array


class SklearnSGD(SklearnOptimizerNames, SGD):
    """SGD as scikit-learn's MLP runs it, under the names of scikit-learn's ``SGDOptimizer``.

    With velocity v (starts at 0) and learning rate eta::

        v <- mu v - eta g
        w <- w + mu v - eta g   (nesterov)   or   w <- w + v

    ``learning_rate`` is eta, ``velocities`` the list of v (weights first, then biases);
    ``iteration_ends(t)`` sets eta = eta_0 / (t + 1)^power_t for ``lr_schedule='invscaling'``;
    ``trigger_stopping`` divides eta by 5 for ``'adaptive'`` until eta <= 1e-6.
    """

    def __init__(self, params: list[Any], learning_rate_init: float = 0.1, lr_schedule: str = "constant",
                 momentum: float = 0.9, nesterov: bool = True, power_t: float = 0.5) -> None:
        super().__init__(params, lr=learning_rate_init, momentum=momentum, nesterov=nesterov and momentum > 0,
                         momentum_form="sklearn")
        self.learning_rate_init = learning_rate_init
        self.lr_schedule = lr_schedule
        self.power_t = power_t
        self._nesterov = bool(nesterov)

    @property
    def momentum(self) -> float:
        """mu."""
        return self.hyper["momentum"]

    @momentum.setter
    def momentum(self, value: float) -> None:
        self.hyper["momentum"] = float(value)
        self.hyper["nesterov"] = self._nesterov and value > 0

    @property
    def nesterov(self) -> bool:
        """Nesterov's form of the update."""
        return self._nesterov

    @nesterov.setter
    def nesterov(self, value: bool) -> None:
        self._nesterov = bool(value)
        self.hyper["nesterov"] = self._nesterov and self.hyper["momentum"] > 0

    @property
    def velocities(self) -> list[np.ndarray]:
        """v for each parameter (the arrays themselves)."""
        return [self._state_array(i, "velocity") for i in range(len(self.params))]

    @velocities.setter
    def velocities(self, values: list[Any]) -> None:
        self._set_state_arrays("velocity", values)

    def step(self) -> None:
        """One update of every parameter with a ``.grad`` (velocities kept even without momentum)."""
        super(SGD, self).step()

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, Any], tmp: np.ndarray) -> None:
        if self.hyper["momentum"] != 0:
            super()._update(w, g, state, tmp)
            return
        # mu = 0: v <- -eta g and w <- w + v, so that ``velocities`` holds the last step as in scikit-learn
        v = state.get("velocity")
        if v is None:
            v = state["velocity"] = np.zeros_like(w)
        np.multiply(g, self.lr, out=tmp)
        np.negative(tmp, out=v)
        w += v

    def iteration_ends(self, time_step: int) -> None:
        if self.lr_schedule == "invscaling":
            self.lr = float(self.learning_rate_init) / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg: str, verbose: bool) -> bool:
        if self.lr_schedule != "adaptive":
            return super().trigger_stopping(msg, verbose)
        if self.lr <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.lr /= 5.0
        if verbose:
            print(f"{msg} Setting learning rate to {self.lr:f}")
        return False


class SklearnAdam(SklearnOptimizerNames, Adam):
    """Adam as scikit-learn's MLP computes it, under the names of scikit-learn's ``AdamOptimizer``.

    With first moment m and second moment v (both start at 0), at step t::

        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        eta_t = eta sqrt(1 - beta2^t) / (1 - beta1^t)
        w <- w - eta_t m / (sqrt(v) + epsilon)

    :class:`chainrule.optim.Adam` (PyTorch's form) adds epsilon to sqrt(v / (1 - beta2^t))
    instead; the two differ while sqrt(v) is small, in the first steps. ``learning_rate_init``
    is eta, ``learning_rate`` the last eta_t (eta before the first step), ``t``, ``ms``, ``vs``
    the step count and moments (weights first, then biases).
    """

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps)
        self._eta_t = float(lr)

    learning_rate_init = property(lambda self: self.lr, SklearnOptimizerNames.learning_rate.fset,
                                  doc="eta, the step size before bias correction.")
    beta_1 = property(lambda self: self.hyper["beta1"], lambda self, v: self.hyper.__setitem__("beta1", float(v)))
    beta_2 = property(lambda self: self.hyper["beta2"], lambda self, v: self.hyper.__setitem__("beta2", float(v)))
    epsilon = property(lambda self: self.hyper["eps"], lambda self, v: self.hyper.__setitem__("eps", float(v)))

    @property
    def learning_rate(self) -> float:
        """eta_t of the last step (eta before the first)."""
        return self._eta_t

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self._eta_t = float(value)

    @property
    def t(self) -> int:
        """Steps taken."""
        return int(self.state[0].get("step", 0))

    @t.setter
    def t(self, value: int) -> None:
        for i in range(len(self.params)):
            self._moments(i)["step"] = int(value)

    ms = property(lambda self: [self._moments(i)["exp_avg"] for i in range(len(self.params))],
                  lambda self, values: self._set_state_arrays("exp_avg", values), doc="m for each parameter.")
    vs = property(lambda self: [self._moments(i)["exp_avg_sq"] for i in range(len(self.params))],
                  lambda self, values: self._set_state_arrays("exp_avg_sq", values), doc="v for each parameter.")

    def _moments(self, i: int) -> dict[str, Any]:
        state = self.state[i]
        if "step" not in state:
            state["step"] = 0
        self._state_array(i, "exp_avg")
        self._state_array(i, "exp_avg_sq")
        return state

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, Any], tmp: np.ndarray) -> None:
        beta1, beta2, eps = self.hyper["beta1"], self.hyper["beta2"], self.hyper["eps"]
        if "exp_avg" not in state or "exp_avg_sq" not in state:
            state.setdefault("step", 0)
            state.setdefault("exp_avg", np.zeros_like(w))
            state.setdefault("exp_avg_sq", np.zeros_like(w))
        state["step"] = t = int(state["step"]) + 1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += np.multiply(g, 1 - beta1, out=tmp)
        v *= beta2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - beta2
        v += tmp
        self._eta_t = eta_t = self.lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
        np.sqrt(v, out=tmp)
        tmp += eps
        # (-eta_t m) / (sqrt(v) + eps), multiplied before dividing as scikit-learn rounds it
        w += np.divide(np.multiply(m, -eta_t), tmp, out=tmp)


def make_optimizer(est: Any, params: list[Any]) -> Optimizer:
    """scikit-learn's ``_optimizer`` for a fresh run of ``fit`` (or a first ``partial_fit``)."""
    if est.solver == "adam":
        return SklearnAdam(params, lr=est.learning_rate_init, betas=(est.beta_1, est.beta_2), eps=est.epsilon)
    return SklearnSGD(params, est.learning_rate_init, est.learning_rate, float(est.momentum),
                      bool(est.nesterovs_momentum), est.power_t)


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
