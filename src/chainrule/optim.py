"""Optimizers: the rule that turns dE/dw into a change of w.

Every optimizer here is plain gradient descent,

    w <- w - eta * dE/dw,

with a different idea of what to subtract. The formulas are PyTorch's, term for
term, so a chainrule optimizer and ``torch.optim`` move the same weights by the same
amounts; ``SGD(momentum_form="sklearn")`` follows scikit-learn's MLP instead.

Notation in the docstrings: w a parameter, g = dE/dw its gradient for the current
batch, eta the learning rate ``lr`` (read afresh at every step, so a schedule or an
estimator may change it between steps), t the step number of that parameter
(1 on its first update), lambda the weight decay. Arrays are updated in place, and
every operation is elementwise: w, g and each state array share w's shape.

When a model's parameters are views of one flat buffer (an ``MLP``'s are, see
:meth:`chainrule.nn.Module.flatten_parameters`) and their gradients views of another
(the training plan's), an elementwise optimizer updates all of them at once: the same
formulas on the two flat arrays, a handful of NumPy calls per step instead of a handful
per parameter. The per-parameter state stays readable, as views of flat state arrays.

Learning-rate schedules live in :mod:`chainrule.schedules` and are re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, ShapeError
from chainrule.nn import Module
from chainrule.tensor import Tensor

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "OPTIMIZERS", "get_optimizer",
    "clip_grad_norm",
    "Schedule", "Constant", "StepDecay", "ExponentialDecay", "CosineAnnealing", "InvScaling", "Adaptive",
    "SCHEDULES", "get_schedule",
]

StateValue = np.ndarray | int | float | str | bool


def _collect(params: Module | Iterable[Tensor]) -> list[Tensor]:
    if isinstance(params, Module):
        found = params.parameters()
    elif isinstance(params, Tensor):
        found = [params]
    else:
        try:
            found = list(params)
        except TypeError:
            raise ConfigError(
                f"an optimizer takes a Module or an iterable of Parameters, got {type(params).__name__}"
            ) from None
    for p in found:
        if not isinstance(p, Tensor):
            raise ConfigError(f"an optimizer takes Parameters (Tensors), got an item of type {type(p).__name__}")
    if not found:
        raise ConfigError("the optimizer got no parameters to update")
    if len({id(p) for p in found}) != len(found):
        raise ConfigError("the same parameter appears twice in the optimizer's list; pass each once")
    return found


def _check_nonnegative(**values: float) -> None:
    for name, value in values.items():
        if not (isinstance(value, (int, float, np.floating, np.integer)) and math.isfinite(value) and value >= 0):
            raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")


def _check_beta(name: str, value: float) -> None:
    if not (isinstance(value, (int, float, np.floating)) and 0.0 <= value < 1.0):
        raise ConfigError(f"{name} must lie in [0, 1), got {value!r}")


class _Flat:
    """Parameters (``data``) and their gradients (``grad``) as views of two flat buffers, in order."""

    __slots__ = ("data", "grad", "data_views", "grad_views", "tmp")

    def __init__(self, data: np.ndarray, grad: np.ndarray, params: list[Tensor]) -> None:
        self.data, self.grad = data, grad
        self.data_views = [p.data for p in params]
        self.grad_views = [p.grad for p in params]
        self.tmp = np.empty_like(data)


def _find_flat(params: list[Tensor]) -> _Flat | None:
    """The flat buffers behind ``params`` and their gradients, or None when they are not both one buffer each."""
    first, first_grad = params[0].data, params[0].grad
    data, grad = first.base, getattr(first_grad, "base", None)
    if (data is None or grad is None or type(grad) is not np.ndarray or data.ndim != 1 or grad.ndim != 1
            or data.dtype != grad.dtype or data.size != grad.size):
        return None
    item, start, start_grad, offset = data.itemsize, data.ctypes.data, grad.ctypes.data, 0
    for p in params:
        w, g = p.data, p.grad
        if (w.base is not data or type(g) is not np.ndarray or g.base is not grad or g.shape != w.shape
                or not (w.flags.c_contiguous and g.flags.c_contiguous)
                or w.ctypes.data != start + offset * item or g.ctypes.data != start_grad + offset * item):
            return None
        offset += w.size
    return _Flat(data, grad, params) if offset == data.size else None


class Optimizer:
    """Base class: holds the parameters, the learning rate and per-parameter state.

    Parameters
    ----------
    params : Module or iterable of Parameter
        What to update; a Module contributes ``module.parameters()``.
    lr : float
        The learning rate eta, the attribute ``lr``; it is read at every :meth:`step`.

    Subclasses set their hyperparameters in ``self.hyper`` (numbers and strings) and
    implement ``_update(w, g, state, tmp)``, which changes the array ``w`` in place;
    ``tmp`` is a scratch array shaped like ``w``, reused across steps so that a step
    allocates nothing. A subclass whose update is elementwise (every built-in one) sets
    ``elementwise = True``: then ``_update`` may receive every parameter at once, as the
    flat buffers described in this module's docstring.
    """

    elementwise = False

    def __init__(self, params: Module | Iterable[Tensor], lr: float) -> None:
        self.params: list[Tensor] = _collect(params)
        _check_nonnegative(lr=lr)
        self.lr = float(lr)
        self.hyper: dict[str, Any] = {}
        self.state: list[dict[str, StateValue]] = [{} for _ in self.params]
        self._scratch: list[np.ndarray | None] = [None for _ in self.params]
        self._flat: _Flat | None = None
        self._flat_state: dict[str, StateValue] | None = None  # set while self.state holds views of it

    def step(self) -> None:
        """Update every parameter whose ``.grad`` is not None, using the current ``lr``."""
        # Squared small gradients and decaying moments reach subnormals (float32 especially);
        # flushing them toward zero is the intended behaviour, not an error.
        with np.errstate(under="ignore"):
            flat = self._flat_now()
            if flat is not None and self._gather_state(flat):
                self._update(flat.data, flat.grad, self._flat_state, flat.tmp)
                self._share_state(flat)
                return
            self._flat_state = None  # the loop below may create per-parameter state arrays
            for i, w, grad, tmp in self._pending():
                self._update(w, grad, self.state[i], tmp)

    # ------------------------------------------------------------ all parameters at once
    def _flat_now(self) -> _Flat | None:
        """The flat buffers of the parameters and gradients as they are now, or None."""
        flat = self._flat
        if flat is not None:
            for p, w, g in zip(self.params, flat.data_views, flat.grad_views):
                if p.data is not w or p.grad is not g:
                    break
            else:
                return flat
        if not self.elementwise:
            return None
        self._flat = flat = _find_flat(self.params)
        self._flat_state = None
        return flat

    def _gather_state(self, flat: _Flat) -> bool:
        """Make each state array a view of one flat array (copied once); False when the states differ in kind."""
        if self._flat_state is not None:
            return True
        keys = set(self.state[0])
        if any(set(state) != keys for state in self.state):
            return False
        gathered: dict[str, StateValue] = {}
        for key in keys:
            values = [state[key] for state in self.state]
            if isinstance(values[0], np.ndarray):
                if any(not isinstance(v, np.ndarray) or v.shape != p.data.shape for v, p in zip(values, self.params)):
                    return False
                gathered[key] = np.concatenate([v.reshape(-1) for v in values]).astype(flat.data.dtype, copy=False)
            elif any(v != values[0] for v in values):
                return False  # e.g. step counts that differ: some parameters once had no gradient
            else:
                gathered[key] = values[0]
        self._flat_state = gathered
        self._share_state(flat)
        return True

    def _share_state(self, flat: _Flat) -> None:
        """Per-parameter state from the flat state: array views (made once) and the numbers."""
        for key, value in self._flat_state.items():
            if isinstance(value, np.ndarray):
                if self.state[0].get(key) is None or self.state[0][key].base is not value:
                    start = 0
                    for p, state in zip(self.params, self.state):
                        state[key] = value[start:start + p.data.size].reshape(p.data.shape)
                        start += p.data.size
            else:
                for state in self.state:
                    state[key] = value

    def _pending(self) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """(i, w, dE/dw, scratch array) for every parameter i whose ``.grad`` is not None.

        One quick look per parameter; only when grad is not an array of w's shape, or the
        scratch array is missing or stale (the first step, a replaced parameter), does
        :meth:`_checked` convert, check and allocate.
        """
        for i, p in enumerate(self.params):
            grad, w, tmp = p.grad, p.data, self._scratch[i]
            if grad is None:
                continue
            if not (type(grad) is np.ndarray and tmp is not None and grad.shape == w.shape == tmp.shape
                    and tmp.dtype == w.dtype):
                grad, tmp = self._checked(i, grad, w)
            yield i, w, grad, tmp

    def _checked(self, i: int, grad: Any, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``grad`` as an array of w's shape (else ShapeError), and parameter i's scratch array."""
        grad = np.asarray(grad)
        if grad.shape != w.shape:
            raise ShapeError(f"gradient of shape {grad.shape} for a parameter of shape {w.shape}")
        tmp = self._scratch[i]
        if tmp is None or tmp.shape != w.shape or tmp.dtype != w.dtype:
            tmp = self._scratch[i] = np.empty_like(w)
        return grad, tmp

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, StateValue], tmp: np.ndarray) -> None:
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set ``.grad`` to None)."""
        for p in self.params:
            p.grad = None

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict[str, StateValue]:
        """The optimizer's whole state as a flat dict of NumPy arrays, numbers and strings.

        Keys: ``"type"`` (the class name), ``"lr"``, each hyperparameter by name, and
        ``"state.<i>.<name>"`` for parameter i's state (arrays are copies).
        """
        out: dict[str, StateValue] = {"type": type(self).__name__, "lr": self.lr}
        out.update(self.hyper)
        for i, state in enumerate(self.state):
            for name, value in state.items():
                out[f"state.{i}.{name}"] = value.copy() if isinstance(value, np.ndarray) else value
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (the same optimizer type, same parameters)."""
        kind = state.get("type")
        if kind != type(self).__name__:
            raise ConfigError(f"cannot load the state of a {kind!r} optimizer into {type(self).__name__}")
        new_state: list[dict[str, StateValue]] = [{} for _ in self.params]
        for key, value in state.items():
            if not key.startswith("state."):
                continue
            _, index, name = (key.split(".", 2) + ["", ""])[:3]
            if not (index.isdigit() and name):
                raise ConfigError(f"malformed optimizer state key {key!r}; expected 'state.<index>.<name>'")
            i = int(index)
            if not 0 <= i < len(self.params):
                raise ConfigError(
                    f"optimizer state names parameter {i}, but this optimizer has {len(self.params)} parameters"
                )
            if isinstance(value, np.ndarray):
                if value.shape != self.params[i].data.shape:
                    raise ShapeError(
                        f"optimizer state {key!r} has shape {value.shape}, parameter {i} has "
                        f"{self.params[i].data.shape}"
                    )
                value = value.astype(self.params[i].data.dtype, copy=True)
            new_state[i][name] = value
        unknown = sorted(k for k in state if k not in self.hyper and k not in ("type", "lr")
                         and not k.startswith("state."))
        if unknown:
            raise ConfigError(f"unknown keys in {type(self).__name__} state: {unknown}")
        self.lr = float(state.get("lr", self.lr))
        for name in self.hyper:
            if name in state:
                self.hyper[name] = type(self.hyper[name])(state[name])
        self.state = new_state
        self._flat_state = None

    def __repr__(self) -> str:
        hyper = "".join(f", {k}={v!r}" for k, v in self.hyper.items())
        return f"{type(self).__name__}(lr={self.lr!r}{hyper})"


def _average_square(avg: np.ndarray, g: np.ndarray, beta: float, tmp: np.ndarray) -> None:
    """avg <- beta avg + (1 - beta) g^2 in place, the running average of squared gradients
    of Adam (v, beta = beta2) and RMSprop (beta = alpha); tmp is scratch of avg's shape."""
    avg *= beta
    np.multiply(g, g, out=tmp)
    tmp *= 1 - beta
    avg += tmp


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum, Nesterov momentum and weight decay.

    PyTorch's form (``momentum_form="pytorch"``, the default), with buffer b::

        g <- g + lambda w                      (weight decay)
        b <- g                                 at t = 1
        b <- mu b + (1 - dampening) g          afterwards
        g <- g + mu b   (nesterov)   or   g <- b
        w <- w - eta g

    scikit-learn's form (``momentum_form="sklearn"``), whose velocity v holds steps
    already scaled by eta (v starts at 0)::

        v <- mu v - eta g
        w <- w + mu v - eta g   (nesterov)   or   w <- w + v

    The two forms move w identically while eta is constant; they differ once eta
    changes, because scikit-learn's velocity remembers the old eta.

    Parameters
    ----------
    params : Module or iterable of Parameter
    lr : float
        eta.
    momentum : float
        mu; 0 is plain gradient descent w <- w - eta dE/dw.
    dampening : float
        Scales the new gradient in the buffer (PyTorch form only).
    nesterov : bool
        Nesterov momentum (needs momentum > 0 and no dampening).
    weight_decay : float
        lambda, the L2 penalty's coefficient: adds lambda w to g.
    momentum_form : {"pytorch", "sklearn"}

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.Parameter([1.0, 2.0])
    >>> opt = SGD([w], lr=0.1)
    >>> w.grad = np.array([0.5, -1.0])
    >>> opt.step()
    >>> w.data
    array([0.95, 2.1 ])
    """

    elementwise = True

    def __init__(self, params: Module | Iterable[Tensor], lr: float = 0.01, momentum: float = 0.0,
                 dampening: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0,
                 momentum_form: str = "pytorch") -> None:
        super().__init__(params, lr)
        _check_nonnegative(momentum=momentum, dampening=dampening, weight_decay=weight_decay)
        if momentum_form not in ("pytorch", "sklearn"):
            raise ConfigError(f"momentum_form must be 'pytorch' or 'sklearn', got {momentum_form!r}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ConfigError("Nesterov momentum needs momentum > 0 and dampening = 0")
        if momentum_form == "sklearn" and dampening != 0:
            raise ConfigError("dampening exists only in the PyTorch momentum form; use momentum_form='pytorch'")
        self.hyper = {"momentum": float(momentum), "dampening": float(dampening), "nesterov": bool(nesterov),
                      "weight_decay": float(weight_decay), "momentum_form": momentum_form}

    def step(self) -> None:
        """Update every parameter whose ``.grad`` is not None, using the current ``lr``.

        Plain gradient descent (no momentum, no weight decay), the step of the worked
        examples, runs w <- w - eta g directly: two NumPy calls per parameter.
        """
        h = self.hyper
        if h["momentum"] != 0 or h["weight_decay"] != 0:
            super().step()
            return
        lr = self.lr
        with np.errstate(under="ignore"):
            flat = self._flat_now()
            if flat is not None:  # every parameter at once
                np.multiply(flat.grad, lr, out=flat.tmp)
                np.subtract(flat.data, flat.tmp, out=flat.data)
                return
            for _, w, grad, tmp in self._pending():
                np.multiply(grad, lr, out=tmp)
                np.subtract(w, tmp, out=w)

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, StateValue], tmp: np.ndarray) -> None:
        h = self.hyper
        mu, lr = h["momentum"], self.lr
        if h["weight_decay"] != 0:
            g = g + h["weight_decay"] * w
        if mu == 0:
            np.multiply(g, lr, out=tmp)
            w -= tmp
            return
        if h["momentum_form"] == "sklearn":
            v = state.get("velocity")
            if v is None:
                v = state["velocity"] = np.zeros_like(w)
            v *= mu
            np.multiply(g, lr, out=tmp)
            v -= tmp
            if h["nesterov"]:
                w += mu * v - tmp
            else:
                w += v
            return
        b = state.get("momentum_buffer")
        if b is None:
            b = state["momentum_buffer"] = np.array(g, dtype=w.dtype, copy=True)
        else:
            b *= mu
            np.multiply(g, 1 - h["dampening"], out=tmp)
            b += tmp
        if h["nesterov"]:
            np.multiply(b, mu, out=tmp)
            tmp += g
            tmp *= lr
        else:
            np.multiply(b, lr, out=tmp)
        w -= tmp


class Adam(Optimizer):
    """Adam (Kingma and Ba), with optional AMSGrad, as PyTorch computes it.

    With first moment m and second moment v (both start at 0)::

        g <- g + lambda w                                  (weight decay, L2 form)
        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        v_max <- max(v_max, v)                             (amsgrad; then use v_max for v)
        w <- w - eta / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + epsilon)

    Parameters
    ----------
    params : Module or iterable of Parameter
    lr : float
        eta (default 1e-3).
    betas : (float, float)
        beta1, beta2: decay of the running averages of g and g^2.
    eps : float
        epsilon, keeps the division finite where v is 0.
    weight_decay : float
        lambda, added to the gradient (see :class:`AdamW` for the decoupled form).
    amsgrad : bool
        Divide by the largest v seen so far.

    The rounding of m's update (:meth:`_first_moment`) and the step from m and v
    (:meth:`_move`) are the two places a variant may differ: scikit-learn's Adam
    (:class:`chainrule.sklearn.SklearnAdam`) overrides just those.
    """

    _decoupled = False

    elementwise = True

    def __init__(self, params: Module | Iterable[Tensor], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(params, lr)
        if len(betas) != 2:
            raise ConfigError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        _check_beta("beta1", betas[0])
        _check_beta("beta2", betas[1])
        _check_nonnegative(eps=eps, weight_decay=weight_decay)
        self.hyper = {"beta1": float(betas[0]), "beta2": float(betas[1]), "eps": float(eps),
                      "weight_decay": float(weight_decay), "amsgrad": bool(amsgrad)}

    @property
    def betas(self) -> tuple[float, float]:
        return self.hyper["beta1"], self.hyper["beta2"]

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, StateValue], tmp: np.ndarray) -> None:
        h = self.hyper
        beta1, beta2, lr = h["beta1"], h["beta2"], self.lr
        if "step" not in state or "exp_avg" not in state or "exp_avg_sq" not in state:
            state.setdefault("step", 0)  # moments set by hand (scikit-learn's ``ms``, ``vs``) are kept
            state.setdefault("exp_avg", np.zeros_like(w))
            state.setdefault("exp_avg_sq", np.zeros_like(w))
            if h["amsgrad"]:
                state.setdefault("max_exp_avg_sq", np.zeros_like(w))
        state["step"] = t = int(state["step"]) + 1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if h["weight_decay"] != 0:
            if self._decoupled:
                w *= 1 - lr * h["weight_decay"]
            else:
                g = g + h["weight_decay"] * w
        self._first_moment(m, g, beta1, tmp)
        _average_square(v, g, beta2, tmp)
        if h["amsgrad"]:
            v_max = state["max_exp_avg_sq"]
            np.maximum(v_max, v, out=v_max)
            v = v_max
        self._move(w, m, v, t, tmp)

    @staticmethod
    def _first_moment(m: np.ndarray, g: np.ndarray, beta1: float, tmp: np.ndarray) -> None:
        """m <- beta1 m + (1 - beta1) g, as PyTorch's lerp rounds it: m + (1 - beta1)(g - m)."""
        np.subtract(g, m, out=tmp)
        tmp *= 1 - beta1
        m += tmp

    def _move(self, w: np.ndarray, m: np.ndarray, v: np.ndarray, t: int, tmp: np.ndarray) -> None:
        """w <- w - eta / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + epsilon), epsilon after the correction."""
        h = self.hyper
        np.sqrt(v, out=tmp)
        tmp /= math.sqrt(1 - h["beta2"] ** t)
        tmp += h["eps"]
        np.divide(m, tmp, out=tmp)
        tmp *= self.lr / (1 - h["beta1"] ** t)
        w -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter), as PyTorch computes it.

    The weights shrink before the Adam step instead of lambda w entering g::

        w <- w (1 - eta lambda)
        then Adam's update with g as it came (weight_decay default 1e-2)
    """

    _decoupled = True

    def __init__(self, params: Module | Iterable[Tensor], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


class RMSprop(Optimizer):
    """RMSprop (Hinton), with optional momentum and centring, as PyTorch computes it.

    With running average s of g^2 (starts at 0)::

        g <- g + lambda w
        s <- alpha s + (1 - alpha) g^2
        a <- sqrt(s) + epsilon                   or, centred, with running mean gbar of g:
             gbar <- gbar + (1 - alpha)(g - gbar),  a <- sqrt(s - gbar^2) + epsilon
        b <- mu b + g / a;  w <- w - eta b       (momentum mu > 0)
        w <- w - eta g / a                       (otherwise)

    Defaults: eta = 1e-2, alpha = 0.99, epsilon = 1e-8.
    """

    elementwise = True

    def __init__(self, params: Module | Iterable[Tensor], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False) -> None:
        super().__init__(params, lr)
        _check_beta("alpha", alpha)
        _check_nonnegative(eps=eps, weight_decay=weight_decay, momentum=momentum)
        self.hyper = {"alpha": float(alpha), "eps": float(eps), "weight_decay": float(weight_decay),
                      "momentum": float(momentum), "centered": bool(centered)}

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, StateValue], tmp: np.ndarray) -> None:
        h = self.hyper
        alpha = h["alpha"]
        if "step" not in state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(w)
            if h["momentum"] > 0:
                state["momentum_buffer"] = np.zeros_like(w)
            if h["centered"]:
                state["grad_avg"] = np.zeros_like(w)
        state["step"] = int(state["step"]) + 1
        if h["weight_decay"] != 0:
            g = g + h["weight_decay"] * w
        s = state["square_avg"]
        _average_square(s, g, alpha, tmp)
        if h["centered"]:
            gbar = state["grad_avg"]
            np.subtract(g, gbar, out=tmp)
            tmp *= 1 - alpha
            gbar += tmp
            np.multiply(gbar, gbar, out=tmp)
            np.subtract(s, tmp, out=tmp)
            np.sqrt(tmp, out=tmp)
        else:
            np.sqrt(s, out=tmp)
        tmp += h["eps"]  # tmp is now a, the denominator
        np.divide(g, tmp, out=tmp)
        if h["momentum"] > 0:
            b = state["momentum_buffer"]
            b *= h["momentum"]
            b += tmp
            np.multiply(b, self.lr, out=tmp)
        else:
            tmp *= self.lr
        w -= tmp


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), as PyTorch computes it.

    With the running sum S of g^2 (starts at ``initial_accumulator_value``)::

        g <- g + lambda w
        eta_t = eta / (1 + (t - 1) lr_decay)
        S <- S + g^2
        w <- w - eta_t g / (sqrt(S) + epsilon)

    Defaults: eta = 1e-2, epsilon = 1e-10.
    """

    elementwise = True

    def __init__(self, params: Module | Iterable[Tensor], lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> None:
        super().__init__(params, lr)
        _check_nonnegative(lr_decay=lr_decay, weight_decay=weight_decay,
                           initial_accumulator_value=initial_accumulator_value, eps=eps)
        self.hyper = {"lr_decay": float(lr_decay), "weight_decay": float(weight_decay),
                      "initial_accumulator_value": float(initial_accumulator_value), "eps": float(eps)}
        # PyTorch creates the accumulator with the optimizer, not at the first step.
        for p, state in zip(self.params, self.state):
            state["step"] = 0
            state["sum"] = np.full_like(p.data, self.hyper["initial_accumulator_value"])

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, StateValue], tmp: np.ndarray) -> None:
        h = self.hyper
        state["step"] = t = int(state["step"]) + 1
        if h["weight_decay"] != 0:
            g = g + h["weight_decay"] * w
        clr = self.lr / (1 + (t - 1) * h["lr_decay"])
        total = state["sum"]
        np.multiply(g, g, out=tmp)
        total += tmp
        np.sqrt(total, out=tmp)
        tmp += h["eps"]
        np.divide(g, tmp, out=tmp)
        tmp *= clr
        w -= tmp


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad,
}


def get_optimizer(spec: str | Optimizer, params: Module | Iterable[Tensor], lr: float | None = None,
                  **options: Any) -> Optimizer:
    """An optimizer from a name ("sgd", "adam", "adamw", "rmsprop", "adagrad") or an instance.

    ``lr`` and ``options`` go to the constructor; ``lr=None`` keeps its default.
    An instance is returned as it is (``lr``, when given, overrides its ``lr``).
    """
    if isinstance(spec, Optimizer):
        if lr is not None:
            spec.lr = float(lr)
        return spec
    if not isinstance(spec, str) or spec.lower() not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {spec!r}; choose one of {', '.join(OPTIMIZERS)} or pass an Optimizer")
    kwargs = dict(options)
    if lr is not None:
        kwargs["lr"] = lr
    return OPTIMIZERS[spec.lower()](params, **kwargs)


def clip_grad_norm(params: Module | Iterable[Tensor], max_norm: float, norm_type: float = 2.0) -> float:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    total = ||(g_1, g_2, ...)||_p over every element of every gradient; when
    total > max_norm each g is multiplied by max_norm / (total + 1e-6), as PyTorch's
    ``clip_grad_norm_`` does. The direction of descent is kept, only its length shrinks.

    Returns
    -------
    float
        The total norm *before* clipping (inf or NaN when a gradient holds them).
    """
    _check_nonnegative(max_norm=max_norm)
    grads = [p.grad for p in _collect(params) if p.grad is not None]
    if not grads:
        return 0.0
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    elif norm_type == 2.0:
        total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    elif norm_type > 0:
        total = sum(float(np.sum(np.abs(g) ** norm_type)) for g in grads) ** (1.0 / norm_type)
    else:
        raise ConfigError(f"norm_type must be > 0 or inf, got {norm_type!r}")
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= coef
    return total


from chainrule.schedules import (  # noqa: E402  (re-exported; schedules need no optimizer code)
    SCHEDULES,
    Adaptive,
    Constant,
    CosineAnnealing,
    ExponentialDecay,
    InvScaling,
    Schedule,
    StepDecay,
    get_schedule,
)
