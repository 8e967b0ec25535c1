"""scikit-learn's two stochastic optimizers, side by side, on chainrule's update rules.

scikit-learn's MLP moves its weights with ``SGDOptimizer`` and ``AdamOptimizer``; here they
are chainrule optimizers under scikit-learn's names and interface (``update_params``,
``iteration_ends``, ``trigger_stopping``, ``learning_rate``, ``velocities``, ``ms``, ``vs``, ``t``):

    SklearnSGD     optim.SGD in its scikit-learn momentum form (the velocity holds eta-scaled steps)
    SklearnAdam    optim.Adam's moments and step count, with scikit-learn's step: the bias
                   correction folded into the learning rate, eta_t = eta sqrt(1 - beta2^t) / (1 - beta1^t),
                   and epsilon added to sqrt(v) uncorrected; its first moment rounded as scikit-learn's

Only those two differences are written here (:meth:`SklearnAdam._first_moment` and
:meth:`SklearnAdam._move`); everything else is :class:`chainrule.optim.Adam`'s.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.errors import ShapeError
from chainrule.optim import SGD, Adam, Optimizer


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

    def _set_momentum(self, mu: float, nesterov: bool) -> None:
        """mu and Nesterov's form as scikit-learn reads them: Nesterov only takes effect with mu > 0."""
        self.hyper["momentum"], self._nesterov = float(mu), bool(nesterov)
        self.hyper["nesterov"] = self._nesterov and self.hyper["momentum"] > 0

    momentum = property(lambda self: self.hyper["momentum"], lambda self, v: self._set_momentum(v, self._nesterov),
                        doc="mu.")
    nesterov = property(lambda self: self._nesterov, lambda self, v: self._set_momentum(self.hyper["momentum"], v),
                        doc="Nesterov's form of the update.")
    velocities = property(lambda self: [self._state_array(i, "velocity") for i in range(len(self.params))],
                          lambda self, values: self._set_state_arrays("velocity", values),
                          doc="v for each parameter (the arrays themselves).")

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

    learning_rate = property(lambda self: self._eta_t, lambda self, v: setattr(self, "_eta_t", float(v)),
                             doc="eta_t of the last step (eta before the first).")
    t = property(lambda self: int(self.state[0].get("step", 0)), lambda self, v: self._set_steps(int(v)),
                 doc="Steps taken.")

    def _set_steps(self, t: int) -> None:
        for i in range(len(self.params)):
            self._moments(i)["step"] = t

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

    @staticmethod
    def _first_moment(m: np.ndarray, g: np.ndarray, beta1: float, tmp: np.ndarray) -> None:
        """m <- beta1 m + (1 - beta1) g, rounded as scikit-learn writes it."""
        m *= beta1
        m += np.multiply(g, 1 - beta1, out=tmp)

    def _move(self, w: np.ndarray, m: np.ndarray, v: np.ndarray, t: int, tmp: np.ndarray) -> None:
        """w <- w - eta_t m / (sqrt(v) + epsilon), eta_t = eta sqrt(1 - beta2^t) / (1 - beta1^t)."""
        h = self.hyper
        self._eta_t = eta_t = self.lr * math.sqrt(1 - h["beta2"] ** t) / (1 - h["beta1"] ** t)
        np.sqrt(v, out=tmp)
        tmp += h["eps"]
        # (-eta_t m) / (sqrt(v) + eps), multiplied before dividing as scikit-learn rounds it
        w += np.divide(np.multiply(m, -eta_t), tmp, out=tmp)


def make_optimizer(est: Any, params: list[Any]) -> Optimizer:
    """scikit-learn's ``_optimizer`` for a fresh run of ``fit`` (or a first ``partial_fit``)."""
    if est.solver == "adam":
        return SklearnAdam(params, lr=est.learning_rate_init, betas=(est.beta_1, est.beta_2), eps=est.epsilon)
    return SklearnSGD(params, est.learning_rate_init, est.learning_rate, float(est.momentum),
                      bool(est.nesterovs_momentum), est.power_t)
