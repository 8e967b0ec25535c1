"""Callbacks: small objects that watch :func:`chainrule.fit` and may stop it; the ``History`` it keeps.

The protocol is five methods, all optional (the base class makes each a no-op)::

    on_train_begin(state)          state: the run's FitState (model, optimizer, history, ...)
    on_epoch_begin(epoch)
    on_batch_end(batch, logs)      logs: {"loss": batch loss, "size": samples in the batch}
    on_epoch_end(epoch, logs)      logs: {"loss", "val_loss", "val_<metric>", "lr", "time"}; return True to stop
    on_train_end(logs)             logs: the last epoch's logs

Epochs count from 0. Callbacks run in the order given. A callback that stops training
may say why in ``stop_message``. A callback with ``state_dict()``/``load_state_dict()``
has that state saved in checkpoints, so a resumed run continues where it left off.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from chainrule._display import plural
from chainrule.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from chainrule.nn import Module
    from chainrule.optim import Optimizer
    from chainrule.schedules import Schedule

__all__ = [
    "Callback", "History", "FitState", "EarlyStopping", "ModelCheckpoint", "LambdaCallback", "PrintProgress",
    "RichProgress", "progress_display", "STOP_REASONS",
]

#: Why training ended, as recorded in ``History.stop_reason``.
STOP_REASONS = ("completed", "early_stopping", "callback", "schedule", "interrupted", "non_finite")


@dataclass
class History:
    """What :func:`fit` records, one entry per finished epoch.

    Attributes
    ----------
    history : dict of str to list of float
        ``"loss"`` (the epoch's mean batch loss), ``"lr"``, and with validation data
        ``"val_loss"`` and ``"val_<metric>"`` (``"<metric>"`` on the training data
        when there is none).
    epoch_time : list of float
        Wall-clock seconds per epoch, validation included.
    stop_reason : str
        One of :data:`STOP_REASONS`.
    message : str
        The stop reason in words (empty when training completed).
    """

    history: dict[str, list[float]] = field(default_factory=dict)
    epoch_time: list[float] = field(default_factory=list)
    stop_reason: str = "completed"
    message: str = ""

    def append(self, logs: dict[str, float], seconds: float) -> None:
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        self.epoch_time.append(float(seconds))

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __contains__(self, key: object) -> bool:
        return key in self.history

    @property
    def epochs(self) -> int:
        """Finished epochs."""
        return len(self.epoch_time)

    @property
    def loss(self) -> list[float]:
        return self.history.get("loss", [])

    @property
    def val_loss(self) -> list[float]:
        return self.history.get("val_loss", [])

    def to_dict(self) -> dict[str, Any]:
        """Numbers, strings and lists of them (for checkpoints and JSON)."""
        return {"history": {k: list(v) for k, v in self.history.items()}, "epoch_time": list(self.epoch_time),
                "stop_reason": self.stop_reason, "message": self.message}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        return cls({str(k): [float(x) for x in v] for k, v in data.get("history", {}).items()},
                   [float(x) for x in data.get("epoch_time", [])],
                   str(data.get("stop_reason", "completed")), str(data.get("message", "")))

    def __repr__(self) -> str:
        last = f", loss={self.loss[-1]:.6g}" if self.loss else ""
        return f"History(epochs={self.epochs}{last}, stop_reason={self.stop_reason!r})"


@dataclass
class FitState:
    """Everything a run of :func:`fit` holds; callbacks receive it in ``on_train_begin``.

    ``epoch`` counts finished epochs and ``step`` optimizer steps, over resumed runs too.
    """

    model: Module
    optimizer: Optimizer
    schedule: Schedule | None
    history: History
    rng: np.random.Generator
    epochs: int
    n_batches: int
    loss: str | Callable[..., Any]
    callbacks: list[Callback]
    epoch: int = 0
    step: int = 0

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write a checkpoint that ``fit(..., resume=path)`` continues bit for bit."""
        from chainrule.io import save_checkpoint

        return save_checkpoint(
            path, self.model, optimizer=self.optimizer, schedule=self.schedule, history=self.history,
            rng=self.rng, epoch=self.epoch, step=self.step,
            callbacks=[_callback_state(cb) for cb in self.callbacks],
        )


def _callback_state(cb: Callback) -> dict[str, Any]:
    state = cb.state_dict() if hasattr(cb, "state_dict") else None
    return {"class": type(cb).__name__, "state": state}




class Callback:
    """Base class: every hook does nothing."""

    state: FitState | None = None
    stop_message: str | None = None

    def on_train_begin(self, state: FitState) -> None:
        self.state = state

    def on_epoch_begin(self, epoch: int) -> None:
        pass

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> bool | None:
        return None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        return None

    def on_train_end(self, logs: dict[str, float]) -> None:
        pass


class EarlyStopping(Callback):
    """Stop when a monitored figure has not improved for ``patience`` epochs.

    An epoch improves when value < best - min_delta (a loss; for a figure where higher
    is better, such as accuracy or r2: value > best + min_delta). After ``patience``
    epochs in a row without improvement training stops.

    Parameters
    ----------
    monitor : str, optional
        A key of the epoch logs; default ``"val_loss"`` when there is validation data,
        else ``"loss"``.
    patience : int
        Epochs without improvement to tolerate.
    min_delta : float
        The smallest change that counts as an improvement.
    restore_best : bool
        At the end of training, give the model the weights of its best epoch.
    mode : {"auto", "min", "max"}
        Whether lower or higher is better; "auto" picks "max" for accuracy and r2.
    """

    def __init__(self, monitor: str | None = None, patience: int = 5, min_delta: float = 0.0,
                 restore_best: bool = True, mode: str = "auto") -> None:
        if not (isinstance(patience, int) and patience >= 1):
            raise ConfigError(f"patience must be an integer >= 1, got {patience!r}")
        if not (isinstance(min_delta, (int, float)) and min_delta >= 0):
            raise ConfigError(f"min_delta must be a number >= 0, got {min_delta!r}")
        if mode not in ("auto", "min", "max"):
            raise ConfigError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = float(min_delta)
        self.restore_best = restore_best
        self.mode = mode
        self._reset()

    def _reset(self) -> None:
        self.best = math.nan
        self.best_epoch = -1
        self.wait = 0
        self.best_weights: dict[str, Any] | None = None
        self.last_epoch = -1

    def on_train_begin(self, state: FitState) -> None:
        super().on_train_begin(state)
        self._reset()

    def _key(self, logs: dict[str, float]) -> str:
        key = self.monitor or ("val_loss" if "val_loss" in logs else "loss")
        if key not in logs:
            raise ConfigError(f"EarlyStopping monitors {key!r}, but the epoch logs hold only {sorted(logs)}")
        return key

    def _higher_is_better(self, key: str) -> bool:
        if self.mode != "auto":
            return self.mode == "max"
        return "accuracy" in key or key.endswith("r2")

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        key = self._key(logs)
        value = float(logs[key])
        self.last_epoch = epoch
        if self._higher_is_better(key):
            improved = math.isnan(self.best) and math.isfinite(value) or value > self.best + self.min_delta
        else:
            improved = math.isnan(self.best) and math.isfinite(value) or value < self.best - self.min_delta
        if improved:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best and self.state is not None:
                self.best_weights = self.state.model.state_dict()
            return None
        self.wait += 1
        if self.wait >= self.patience:
            self.stop_message = (
                f"{key} did not improve by more than {self.min_delta:g} for {plural(self.patience, 'epoch')} "
                f"(best {self.best:.6g} at epoch {self.best_epoch + 1})"
            )
            return True
        return None

    def on_train_end(self, logs: dict[str, float]) -> None:
        if (self.restore_best and self.best_weights is not None and self.state is not None
                and self.best_epoch != self.last_epoch):
            self.state.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "last_epoch": self.last_epoch, "best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.wait = int(state["wait"])
        self.last_epoch = int(state["last_epoch"])
        self.best_weights = state.get("best_weights")


class ModelCheckpoint(Callback):
    """Save the training state every ``every`` epochs.

    Parameters
    ----------
    path : str or Path
        The file; ``{epoch}`` in it is replaced by the epoch number (from 1), e.g.
        ``"run-{epoch:03d}.safetensors"``, else each save replaces the last (atomically).
    every : int
        Save after epochs every, 2 every, ...
    weights_only : bool
        Save the model file alone (:func:`chainrule.save`) instead of a checkpoint that
        ``fit(resume=...)`` continues from (:func:`chainrule.io.save_checkpoint`).
    """

    def __init__(self, path: str | Path, every: int = 1, weights_only: bool = False) -> None:
        if not (isinstance(every, int) and every >= 1):
            raise ConfigError(f"every must be an integer >= 1, got {every!r}")
        self.path = str(path)
        self.every = every
        self.weights_only = weights_only
        self.saved: list[str] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        if (epoch + 1) % self.every or self.state is None:
            return None
        path = self.path.format(epoch=epoch + 1)
        if self.weights_only:
            from chainrule.io import save

            save(self.state.model, path)
        else:
            self.state.save_checkpoint(path)
        self.saved.append(path)
        return None


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=lambda e, logs: print(logs))``.

    Each argument is called with the hook's arguments; ``on_epoch_end`` and
    ``on_batch_end`` may return True to stop training.
    """

    def __init__(self, on_train_begin: Callable[..., Any] | None = None,
                 on_epoch_begin: Callable[..., Any] | None = None,
                 on_batch_end: Callable[..., Any] | None = None,
                 on_epoch_end: Callable[..., Any] | None = None,
                 on_train_end: Callable[..., Any] | None = None) -> None:
        self._hooks = {"on_train_begin": on_train_begin, "on_epoch_begin": on_epoch_begin,
                       "on_batch_end": on_batch_end, "on_epoch_end": on_epoch_end, "on_train_end": on_train_end}

    def on_train_begin(self, state: FitState) -> None:
        super().on_train_begin(state)
        if self._hooks["on_train_begin"]:
            self._hooks["on_train_begin"](state)

    def on_epoch_begin(self, epoch: int) -> None:
        if self._hooks["on_epoch_begin"]:
            self._hooks["on_epoch_begin"](epoch)

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> bool | None:
        return self._hooks["on_batch_end"](batch, logs) if self._hooks["on_batch_end"] else None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        return self._hooks["on_epoch_end"](epoch, logs) if self._hooks["on_epoch_end"] else None

    def on_train_end(self, logs: dict[str, float]) -> None:
        if self._hooks["on_train_end"]:
            self._hooks["on_train_end"](logs)


def format_logs(logs: dict[str, float]) -> str:
    """``loss 0.2345, val_loss 0.2567, lr 0.001`` (the epoch's time is left out)."""
    return ", ".join(f"{k} {v:.6g}" for k, v in logs.items() if k != "time")


class PrintProgress(Callback):
    """One plain line per epoch, e.g. ``epoch 3/10: loss 0.2345, val_loss 0.2567, lr 0.001 (1.2 s)``.

    ``fit`` uses it when standard output is not a terminal (logs, notebooks' files, CI).
    """

    def __init__(self, file: TextIO | None = None) -> None:
        self.file = file

    def _print(self, text: str) -> None:
        print(text, file=self.file or sys.stdout, flush=True)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        total = self.state.epochs if self.state is not None else "?"
        self._print(f"epoch {epoch + 1}/{total}: {format_logs(logs)} ({logs.get('time', 0.0):.2f} s)")
        return None

    def on_train_end(self, logs: dict[str, float]) -> None:
        history = self.state.history if self.state is not None else None
        if history is not None and history.stop_reason != "completed":
            self._print(f"stopped ({history.stop_reason}): {history.message}")


class RichProgress(Callback):
    """A rich progress bar over each epoch's batches, and a summary line per epoch.

    ``fit`` uses it when standard output is a terminal. ``console`` is a
    ``rich.console.Console`` (default: a new one on standard output).
    """

    def __init__(self, console: Any = None) -> None:
        self.console = console
        self._progress: Any = None
        self._task: Any = None

    def on_train_begin(self, state: FitState) -> None:
        super().on_train_begin(state)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(),
            console=self.console, transient=True,
        )
        self._progress.start()

    def on_epoch_begin(self, epoch: int) -> None:
        if self._progress is None:
            return
        total = self.state.epochs if self.state is not None else 0
        batches = self.state.n_batches if self.state is not None else None
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task("train", total=batches, epoch=f"{epoch + 1}/{total}", loss="-")
        self._sum, self._count = 0.0, 0

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> bool | None:
        if self._progress is not None and self._task is not None:
            self._sum += logs["loss"] * logs["size"]
            self._count += logs["size"]
            self._progress.update(self._task, advance=1, loss=f"{self._sum / self._count:.4g}")
        return None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        if self._progress is not None:
            total = self.state.epochs if self.state is not None else "?"
            self._progress.console.print(
                f"epoch {epoch + 1}/{total}: {format_logs(logs)} ({logs.get('time', 0.0):.2f} s)",
                highlight=False,
            )
        return None

    def on_train_end(self, logs: dict[str, float]) -> None:
        if self._progress is None:
            return
        self._progress.stop()
        history = self.state.history if self.state is not None else None
        if history is not None and history.stop_reason != "completed":
            self._progress.console.print(f"stopped ({history.stop_reason}): {history.message}", highlight=False)
        self._progress = None


def progress_display() -> Callback:
    """The progress display of ``fit(progress=True)`` and the estimators' ``progress=True``.

    A rich progress bar on a terminal when rich is installed, one plain line per epoch otherwise.
    """
    import importlib.util
    import sys

    rich = importlib.util.find_spec("rich") is not None and sys.stdout.isatty()
    return RichProgress() if rich else PrintProgress()
