"""Learning-rate schedules: how eta changes from one epoch to the next.

A schedule is bound to an optimizer and called once at the end of every epoch with
:meth:`Schedule.step`; it then writes the next epoch's eta into ``optimizer.lr``.
eta_0 is the optimizer's ``lr`` when the schedule is bound, and e counts finished
epochs (0 during the first). The closed forms equal PyTorch's ``StepLR``,
``ExponentialLR`` and ``CosineAnnealingLR``; ``invscaling`` and ``adaptive`` follow
scikit-learn's MLP code.

=====================  =============================================================
``Constant``           eta_e = eta_0
``StepDecay``          eta_e = eta_0 gamma^floor(e / step_size)
``ExponentialDecay``   eta_e = eta_0 gamma^e
``CosineAnnealing``    eta_e = eta_min + (eta_0 - eta_min) (1 + cos(pi e / t_max)) / 2
``InvScaling``         eta = eta_0 / (t + 1)^power_t, t = samples seen so far
``Adaptive``           eta <- eta / 5 when the loss stops improving by tol
=====================  =============================================================
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from chainrule.errors import ConfigError

__all__ = [
    "Schedule", "Constant", "StepDecay", "ExponentialDecay", "CosineAnnealing", "InvScaling", "Adaptive",
    "SCHEDULES", "get_schedule",
]


class HasLearningRate(Protocol):
    """What a schedule drives: anything with a learning rate ``lr``, as every :mod:`chainrule.optim` optimizer.

    A protocol, so that this module needs nothing of :mod:`chainrule.optim` (which imports it).
    """

    lr: float


class Schedule:
    """Base class: binds to an optimizer and sets its ``lr`` after each epoch.

    Parameters
    ----------
    optimizer : Optimizer, optional
        Bind at once (otherwise call :meth:`bind`, as ``fit`` does).

    Attributes
    ----------
    base_lr : float or None
        eta_0, the optimizer's ``lr`` when bound.
    epoch : int
        Finished epochs e.
    stop_requested : bool
        True when the schedule has no smaller step left to try (``Adaptive``);
        ``fit`` then stops.
    """

    def __init__(self, *, optimizer: HasLearningRate | None = None) -> None:
        self.optimizer: HasLearningRate | None = None
        self.base_lr: float | None = None
        self.epoch = 0
        self.stop_requested = False
        if optimizer is not None:
            self.bind(optimizer)

    def bind(self, optimizer: HasLearningRate) -> Schedule:
        """Attach to ``optimizer``; eta_0 is its current ``lr`` unless restored from a state."""
        self.optimizer = optimizer
        if self.base_lr is None:
            self.base_lr = float(optimizer.lr)
        return self

    def lr_at(self, epoch: int) -> float:
        """eta for epoch ``epoch`` (closed-form schedules)."""
        raise NotImplementedError

    def step(self, loss: float | None = None, n_samples: int | None = None) -> float:
        """End of an epoch: advance e and set ``optimizer.lr``; returns the new eta.

        Parameters
        ----------
        loss : float, optional
            The epoch's training loss (or the monitored figure; ``Adaptive`` needs it).
        n_samples : int, optional
            Samples trained on in this epoch (``InvScaling`` needs it).
        """
        if self.optimizer is None or self.base_lr is None:
            raise ConfigError(f"{type(self).__name__} is not bound to an optimizer; call bind(optimizer) first")
        self.epoch += 1
        lr = self._next_lr(loss, n_samples)
        self.optimizer.lr = lr
        return lr

    def _next_lr(self, loss: float | None, n_samples: int | None) -> float:
        return self.lr_at(self.epoch)

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Numbers and strings that :meth:`load_state_dict` restores."""
        return {"type": type(self).__name__, "base_lr": self.base_lr, "epoch": self.epoch,
                "stop_requested": self.stop_requested, **self._extra_state()}

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("type") != type(self).__name__:
            raise ConfigError(f"cannot load the state of a {state.get('type')!r} schedule into {type(self).__name__}")
        self.base_lr = None if state.get("base_lr") is None else float(state["base_lr"])
        self.epoch = int(state["epoch"])
        self.stop_requested = bool(state.get("stop_requested", False))
        for name, value in self._extra_state().items():
            if name in state:
                setattr(self, name, type(value)(state[name]) if value is not None else state[name])

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({body})"

    def _params(self) -> dict[str, Any]:
        return {}


def _positive(name: str, value: Any) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


class Constant(Schedule):
    """eta_e = eta_0 for every epoch."""

    def lr_at(self, epoch: int) -> float:
        return float(self.base_lr)


class StepDecay(Schedule):
    """eta_e = eta_0 gamma^floor(e / step_size) (PyTorch's ``StepLR``)."""

    def __init__(self, step_size: int, gamma: float = 0.1, *, optimizer: HasLearningRate | None = None) -> None:
        if not (isinstance(step_size, int) and step_size >= 1):
            raise ConfigError(f"step_size must be an integer >= 1, got {step_size!r}")
        self.step_size = step_size
        self.gamma = _positive("gamma", gamma)
        super().__init__(optimizer=optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)

    def _params(self) -> dict[str, Any]:
        return {"step_size": self.step_size, "gamma": self.gamma}


class ExponentialDecay(Schedule):
    """eta_e = eta_0 gamma^e (PyTorch's ``ExponentialLR``)."""

    def __init__(self, gamma: float, *, optimizer: HasLearningRate | None = None) -> None:
        self.gamma = _positive("gamma", gamma)
        super().__init__(optimizer=optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** epoch

    def _params(self) -> dict[str, Any]:
        return {"gamma": self.gamma}


class CosineAnnealing(Schedule):
    """eta_e = eta_min + (eta_0 - eta_min) (1 + cos(pi e / t_max)) / 2 (PyTorch's ``CosineAnnealingLR``).

    eta falls from eta_0 to eta_min over t_max epochs along half a cosine (and, past
    t_max, rises again as PyTorch's does).
    """

    def __init__(self, t_max: int, eta_min: float = 0.0, *, optimizer: HasLearningRate | None = None) -> None:
        if not (isinstance(t_max, int) and t_max >= 1):
            raise ConfigError(f"t_max must be an integer >= 1, got {t_max!r}")
        if not (isinstance(eta_min, (int, float)) and eta_min >= 0):
            raise ConfigError(f"eta_min must be a number >= 0, got {eta_min!r}")
        self.t_max = t_max
        self.eta_min = float(eta_min)
        super().__init__(optimizer=optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.t_max)) / 2

    def _params(self) -> dict[str, Any]:
        return {"t_max": self.t_max, "eta_min": self.eta_min}


class InvScaling(Schedule):
    """scikit-learn's ``invscaling``: eta = eta_0 / (t + 1)^power_t after each epoch.

    t is the number of training samples seen so far (scikit-learn's ``t_``), so the
    first epoch runs at eta_0 and, after epochs of N samples, eta = eta_0 / (eN + 1)^power_t.
    """

    def __init__(self, power_t: float = 0.5, *, optimizer: HasLearningRate | None = None) -> None:
        if not (isinstance(power_t, (int, float)) and math.isfinite(power_t)):
            raise ConfigError(f"power_t must be a finite number, got {power_t!r}")
        self.power_t = float(power_t)
        self.t = 0
        super().__init__(optimizer=optimizer)

    def _next_lr(self, loss: float | None, n_samples: int | None) -> float:
        if n_samples is None:
            raise ConfigError("InvScaling.step needs n_samples, the number of samples in the epoch")
        self.t += int(n_samples)
        return float(self.base_lr) / (self.t + 1) ** self.power_t

    def lr_at(self, epoch: int) -> float:
        raise ConfigError("InvScaling depends on the samples seen, not on the epoch alone")

    def _extra_state(self) -> dict[str, Any]:
        return {"t": self.t}

    def _params(self) -> dict[str, Any]:
        return {"power_t": self.power_t}


class Adaptive(Schedule):
    """scikit-learn's ``adaptive``: divide eta by ``factor`` when the loss stops improving.

    After each epoch, the epoch is counted as "no improvement" when
    loss > best - tol (``mode="min"``; with ``mode="max"``, for a validation score,
    score < best + tol); an improving epoch resets the count, and best tracks the
    lowest loss (highest score). When the count exceeds ``patience``, eta <- eta / factor
    and the count restarts; if eta is already <= ``min_lr``, ``stop_requested`` becomes True.

    ``patience=1`` divides after two consecutive epochs without improvement, as
    scikit-learn's documentation describes. scikit-learn's code waits for more than
    ``n_iter_no_change`` such epochs (10 by default): pass ``patience=n_iter_no_change``
    to reproduce its estimators exactly.
    """

    def __init__(self, tol: float = 1e-4, patience: int = 1, factor: float = 5.0, min_lr: float = 1e-6,
                 mode: str = "min", *, optimizer: HasLearningRate | None = None) -> None:
        if not (isinstance(tol, (int, float)) and tol >= 0):
            raise ConfigError(f"tol must be a number >= 0, got {tol!r}")
        if not (isinstance(patience, int) and patience >= 0):
            raise ConfigError(f"patience must be an integer >= 0, got {patience!r}")
        if mode not in ("min", "max"):
            raise ConfigError(f"mode must be 'min' (a loss) or 'max' (a score), got {mode!r}")
        self.tol = float(tol)
        self.patience = patience
        self.factor = _positive("factor", factor)
        self.min_lr = float(min_lr)
        self.mode = mode
        self.lr: float = math.nan
        self.best = math.inf if mode == "min" else -math.inf
        self.bad_epochs = 0
        super().__init__(optimizer=optimizer)

    def bind(self, optimizer: HasLearningRate) -> Schedule:
        fresh = self.base_lr is None
        super().bind(optimizer)
        if fresh:
            self.lr = float(self.base_lr)
        return self

    def _next_lr(self, loss: float | None, n_samples: int | None) -> float:
        if loss is None:
            raise ConfigError("Adaptive.step needs the epoch's loss (or score)")
        loss = float(loss)
        if self.mode == "min":
            self.bad_epochs = self.bad_epochs + 1 if loss > self.best - self.tol else 0
            self.best = min(self.best, loss)
        else:
            self.bad_epochs = self.bad_epochs + 1 if loss < self.best + self.tol else 0
            self.best = max(self.best, loss)
        if self.bad_epochs > self.patience:
            if self.lr <= self.min_lr:
                self.stop_requested = True
            else:
                self.lr /= self.factor
                self.bad_epochs = 0
        return self.lr

    def lr_at(self, epoch: int) -> float:
        raise ConfigError("Adaptive depends on the losses seen, not on the epoch alone")

    def _extra_state(self) -> dict[str, Any]:
        return {"lr": self.lr, "best": self.best, "bad_epochs": self.bad_epochs}

    def _params(self) -> dict[str, Any]:
        return {"tol": self.tol, "patience": self.patience, "factor": self.factor, "min_lr": self.min_lr,
                "mode": self.mode}


SCHEDULES: dict[str, type[Schedule]] = {
    "constant": Constant, "step": StepDecay, "exponential": ExponentialDecay, "cosine": CosineAnnealing,
    "invscaling": InvScaling, "adaptive": Adaptive,
}


def get_schedule(spec: str | Schedule | None, epochs: int | None = None) -> Schedule | None:
    """A schedule from a name or an instance (None stays None).

    Names use these settings: ``"constant"``; ``"step"``: gamma 0.1 every third of
    ``epochs``; ``"exponential"``: gamma 0.95; ``"cosine"``: t_max = ``epochs``;
    ``"invscaling"``: power_t 0.5; ``"adaptive"``: tol 1e-4, patience 1. Build the
    class yourself for other settings.
    """
    if spec is None or isinstance(spec, Schedule):
        return spec
    if not isinstance(spec, str) or spec not in SCHEDULES:
        raise ConfigError(f"unknown learning-rate schedule {spec!r}; choose one of {', '.join(SCHEDULES)} "
                          "or pass a Schedule")
    span = max(1, int(epochs or 1))
    if spec == "step":
        return StepDecay(max(1, span // 3))
    if spec == "exponential":
        return ExponentialDecay(0.95)
    if spec == "cosine":
        return CosineAnnealing(span)
    return SCHEDULES[spec]()
