"""The training loop: ``fit``, and ``loss_and_grad_fn``, the forward and backward pass it runs.

One epoch of :func:`fit` is, for each mini-batch B of a fresh permutation of the data,

    E_B = (1 / |B|) sum_{n in B} l_n          forward pass, the batch loss
    dE_B/dw for every weight w               backward pass (backpropagation)
    w <- w - eta dE_B/dw                     the optimizer's step (or Adam's, ...)

and :func:`loss_and_grad_fn` is the forward and backward part, shared by ``fit`` and
the scikit-learn estimators. The loop over epochs and batches is :func:`chainrule.epochs.run_epochs`,
also shared with the estimators; ``fit``'s choices in it (order, step, schedule, figures) are
its ``_FitPolicy``. ``History`` and the callbacks live in :mod:`chainrule.callbacks`,
``evaluate``, ``predict`` and ``resolve_loss`` in :mod:`chainrule.evaluation` (all re-exported here).

Shapes: X (n_samples, n_in); y (n_samples, n_out), or class indices (n_samples,) for
the cross-entropies.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.batches import BatchStream, as_batch_source
from chainrule.boundary import as_inputs, as_targets, as_weights, model_dtype
from chainrule.callbacks import (
    STOP_REASONS,
    Callback,
    EarlyStopping,
    FitState,
    History,
    ModelCheckpoint,
    progress_display,
)
from chainrule.epochs import Batch, EpochPolicy, run_epochs
from chainrule.errors import ConfigError, DataError, ModelFileError
from chainrule.evaluation import evaluate, predict, resolve_loss, score
from chainrule.losses import get_loss, loss_name
from chainrule.nn import Module
from chainrule.optim import Optimizer, clip_grad_norm, get_optimizer
from chainrule.schedules import Schedule, get_schedule
from chainrule.tensor import Tensor
from chainrule.threads import fit_threads, layer_sizes_of

__all__ = ["fit", "evaluate", "predict", "History", "FitState", "loss_and_grad_fn", "resolve_loss", "STOP_REASONS"]

LossFn = Callable[..., Tensor]


# ------------------------------------------------------------------ loss and gradient
def _compile_plan(model: Module, loss: str | LossFn) -> Any:
    try:
        from chainrule.plan import compile_plan
    except ModuleNotFoundError as error:
        if error.name != "chainrule.plan":
            raise
        return None
    return compile_plan(model, loss)


def loss_and_grad_fn(model: Module, loss: str | LossFn) -> Callable[..., float]:
    """A function ``f(x, target, sample_weight=None) -> float`` for one batch.

    ``f`` runs the forward and backward pass, *replaces* every parameter's ``.grad``
    with dE_B/dw for this batch (it does not accumulate), and returns the batch loss
    E_B. x: (batch, n_in), already in the model's dtype; target as the loss takes it.

    When :mod:`chainrule.plan` can capture the model and loss (``compile_plan``
    returns a plan; it receives the loss's name for a built-in loss, else the
    function), ``f`` runs that plan; otherwise it builds the graph and calls
    ``backward()``. ``f.plan`` is the plan or None.
    """
    loss_fn = get_loss(loss)
    name = loss_name(loss)
    plan = _compile_plan(model, name if name is not None else loss_fn)
    if plan is not None:
        def step_with_plan(x: np.ndarray, target: Any, sample_weight: Any = None) -> float:
            return float(plan.loss_and_grad(x, target, sample_weight))

        step_with_plan.plan = plan  # type: ignore[attr-defined]
        return step_with_plan

    params = model.parameters()

    def step_with_graph(x: np.ndarray, target: Any, sample_weight: Any = None) -> float:
        for p in params:
            p.grad = None
        value = loss_fn(model(Tensor(x)), target, sample_weight)
        value.backward()
        return float(value.item())

    step_with_graph.plan = None  # type: ignore[attr-defined]
    return step_with_graph


# ------------------------------------------------------------------ inputs
def _check_optimizer(optimizer: Optimizer, model: Module) -> None:
    owned = {id(p) for p in optimizer.params}
    if any(id(p) not in owned for p in model.parameters()):
        raise ConfigError("the optimizer was built for other parameters; build it with the model you fit")


def _split_validation(x, y, w, validation_data, validation_split, dtype):
    if validation_data is not None and validation_split is not None:
        raise ConfigError("give validation_data or validation_split, not both")
    if validation_split is not None:
        if not 0 < validation_split < 1:
            raise ConfigError(f"validation_split must lie in (0, 1), got {validation_split!r}")
        n_val = int(math.floor(len(x) * validation_split))
        if n_val < 1 or n_val >= len(x):
            raise DataError(f"validation_split={validation_split} of {len(x)} samples leaves no validation "
                            "or no training data")
        cut = len(x) - n_val
        val = (x[cut:], y[cut:], None if w is None else w[cut:])
        return x[:cut], y[:cut], None if w is None else w[:cut], val
    if validation_data is None:
        return x, y, w, None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ConfigError("validation_data must be (X_val, y_val) or (X_val, y_val, sample_weight_val)")
    x_val = as_inputs(validation_data[0], dtype, "X_val")
    y_val = as_targets(validation_data[1], len(x_val), dtype, "y_val")
    w_val = as_weights(validation_data[2], len(x_val), dtype) if len(validation_data) == 3 else None
    return x, y, w, (x_val, y_val, w_val)


# ------------------------------------------------------------------ fit
def _build_callbacks(callbacks: Iterable[Callback], early_stopping: Any, checkpoint: Any,
                     progress: bool) -> list[Callback]:
    result: list[Callback] = []
    if early_stopping is True:
        result.append(EarlyStopping())
    elif isinstance(early_stopping, EarlyStopping):
        result.append(early_stopping)
    elif isinstance(early_stopping, int) and not isinstance(early_stopping, bool):
        result.append(EarlyStopping(patience=early_stopping))
    elif early_stopping not in (None, False):
        raise ConfigError(f"early_stopping must be None, True, a patience (int) or an EarlyStopping, "
                          f"got {early_stopping!r}")
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise ConfigError(f"callbacks must be Callback instances, got {type(cb).__name__}")
        result.append(cb)
    if checkpoint is not None:
        result.append(checkpoint if isinstance(checkpoint, ModelCheckpoint) else ModelCheckpoint(checkpoint))
    if progress:
        result.append(progress_display())
    return result


def _resume(path: str | Path, state: FitState) -> list[dict[str, Any]]:
    """Load a checkpoint into the run's model, optimizer, schedule, history and RNG."""
    from chainrule.io import load_checkpoint

    ckpt = load_checkpoint(path)
    saved = ckpt.model.state_dict()
    own = dict(state.model.named_parameters())
    layout = {k: v.shape for k, v in saved.items()}
    if layout != {k: p.data.shape for k, p in own.items()}:
        raise ConfigError(f"checkpoint {path} holds a different network ({layout}) than the model to fit")
    for name, value in saved.items():
        if value.dtype != own[name].data.dtype:
            raise ConfigError(f"checkpoint {path} stores {value.dtype} weights, the model is {own[name].data.dtype}")
        np.copyto(own[name].data, value)
    if ckpt.optimizer is not None:
        state.optimizer.load_state_dict(ckpt.optimizer)
    if ckpt.schedule is not None:
        if state.schedule is None:
            raise ConfigError(f"checkpoint {path} was trained with a {ckpt.schedule.get('type')} schedule; "
                              "pass the same lr_schedule to resume it")
        state.schedule.load_state_dict(ckpt.schedule)
    if ckpt.history is not None:
        state.history = History.from_dict(ckpt.history)
        state.history.stop_reason, state.history.message = "completed", ""
    if ckpt.rng is not None:
        kind = state.rng.bit_generator.state["bit_generator"]
        if ckpt.rng.get("bit_generator") != kind:
            raise ConfigError(f"checkpoint {path} stores a {ckpt.rng.get('bit_generator')} generator state, "
                              f"the run uses {kind}")
        try:
            state.rng.bit_generator.state = ckpt.rng
        except (ValueError, TypeError, KeyError) as error:
            raise ModelFileError(f"{path}: the random generator's state is malformed ({error})") from None
    for i, module in enumerate(state.model.modules()):
        saved_rng = ckpt.module_rngs.get(str(i))
        if saved_rng is not None and isinstance(getattr(module, "rng", None), np.random.Generator):
            try:
                module.rng.bit_generator.state = saved_rng
            except (ValueError, TypeError, KeyError) as error:
                raise ModelFileError(f"{path}: module {i}'s random generator state is malformed ({error})") from None
    state.epoch, state.step = ckpt.epoch, ckpt.step
    return ckpt.callbacks


def _restore_callbacks(callbacks: list[Callback], saved: list[dict[str, Any]]) -> None:
    for cb, entry in zip(callbacks, saved):
        if entry.get("class") != type(cb).__name__:
            warnings.warn(f"the checkpoint's callback {entry.get('class')} does not match {type(cb).__name__}; "
                          "its state is not restored", RuntimeWarning, stacklevel=3)
        elif entry.get("state") is not None and hasattr(cb, "load_state_dict"):
            cb.load_state_dict(entry["state"])


class _FitPolicy(EpochPolicy):
    """``fit``'s choices in the shared epoch loop (:mod:`chainrule.epochs`).

    Order: a fresh permutation from the run's Generator each epoch (or none); step: the
    (possibly all-reduced) forward and backward pass, optional clipping, the optimizer's step;
    after each epoch the validation figures and metrics, then the schedule steps with the
    epoch's loss; stopping: the schedule's stop request (callbacks stop the rest); the
    NaN/inf guard is on.
    """

    guard_nonfinite = True

    def __init__(self, state: FitState, step_fn: Callable[..., float], stream: BatchStream, shuffle: bool,
                 clip_norm: float | None, ddp: Any, train: tuple, val: tuple | None, metrics: Sequence[Any]) -> None:
        self.state, self.step_fn, self.stream, self.shuffle = state, step_fn, stream, shuffle
        self.clip_norm, self.ddp, self.train, self.val, self.metrics = clip_norm, ddp, train, val, metrics
        self.max_epochs, self.params, self.n = state.epochs, state.model.parameters(), len(train[0])

    def running(self) -> Any:
        return fit_threads(layer_sizes_of(self.state.model), self.stream.batch_size)

    def learning_rate(self) -> float:
        return self.state.optimizer.lr

    def batches(self) -> Iterator[Batch]:
        order = self.state.rng.permutation(self.n) if self.shuffle else None
        return ((hi - lo, xb, yb, wb) for lo, hi, xb, yb, wb in self.stream.epoch(order))

    def loss_and_grad(self, x: Any, y: Any, w: Any) -> float:
        return self.step_fn(x, y, w)

    def share(self, size: int, w: Any) -> float:
        return self.ddp.last_share if self.ddp else size if w is None else float(np.sum(w))

    def update(self) -> None:
        if self.clip_norm is not None:
            clip_grad_norm(self.params, self.clip_norm)
        self.state.optimizer.step()

    def epoch_figures(self, loss: float) -> dict[str, float]:
        model, name = self.state.model, self.state.loss
        if self.val is not None:
            return {f"val_{k}": v for k, v in score(model, *self.val, name, self.metrics).items()}
        if self.metrics:
            return {k: v for k, v in score(model, *self.train, name, self.metrics).items() if k != "loss"}
        return {}

    def change_learning_rate(self, logs: dict[str, float]) -> None:
        if self.state.schedule is not None:
            self.state.schedule.step(loss=logs["loss"], n_samples=self.n)

    def stopping_rule(self) -> tuple[str, str] | None:
        schedule = self.state.schedule
        if schedule is not None and schedule.stop_requested:
            return "schedule", (f"the learning rate cannot shrink further ({self.state.optimizer.lr:g}) and the "
                                "loss stopped improving")
        return None

    def abandon(self, error: BaseException) -> None:
        if self.ddp is not None:
            self.ddp.abandon(error)  # the other ranks wait in an all-reduce: end it for them too


def fit(model: Module, X: Any, y: Any, loss: str | LossFn = "auto", optimizer: str | Optimizer = "adam",  # noqa: N803
        epochs: int = 10, batch_size: int = 32, shuffle: bool = True,
        seed: int | np.random.Generator | None = None, validation_data: tuple | None = None,
        validation_split: float | None = None, early_stopping: bool | int | EarlyStopping | None = None,
        callbacks: Iterable[Callback] = (), progress: bool = True, resume: str | Path | None = None,
        checkpoint: str | Path | ModelCheckpoint | None = None, lr_schedule: str | Schedule | None = None,
        clip_norm: float | None = None, sample_weight: Any = None, *, lr: float | None = None,
        metrics: Sequence[Any] = (), allow_mismatch: bool = False, comm: Any = None) -> History:
    """Train ``model`` on (X, y) by mini-batch gradient descent; returns the :class:`History`.

    Each epoch draws one permutation of the samples from a NumPy Generator seeded
    by ``seed`` and walks it in batches of ``batch_size``, gathered a few megabytes at a
    time into buffers reused all along (:mod:`chainrule.batches`; the data is never copied whole):
    forward, backward (:func:`loss_and_grad_fn`), optional clipping, optimizer step.
    Same seed, same data, same machine: bit-identical weights.

    Parameters
    ----------
    model : Module
        Trained in place. X is cast to its parameters' dtype (float32 stays float32).
    X : array_like, (n_samples, n_in)
    y : array_like
        (n_samples, n_out), or class indices (n_samples,) for the cross-entropies.
    loss : str or callable
        A name from :mod:`chainrule.losses` or ``"auto"`` (see :func:`resolve_loss`).
    optimizer : str or Optimizer
        ``"adam"`` (default), ``"sgd"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"`` with
        ``lr`` (default: the optimizer's own, 1e-3 for Adam), or an instance.
    epochs : int
        Total epochs, counting those of a resumed checkpoint (default 10).
    batch_size : int
        Samples per step (default 32); the last batch may be smaller.
    shuffle, seed :
        Fresh permutation each epoch from ``numpy.random.default_rng(seed)``.
    validation_data : (X_val, y_val) or (X_val, y_val, w_val), optional
    validation_split : float, optional
        Hold out this fraction of the *last* rows of X (before shuffling).
    early_stopping : None, True, int or EarlyStopping
        True: stop after 5 epochs without improvement of val_loss (else loss) and
        restore the best weights; an int sets the patience.
    callbacks : iterable of Callback
        Run in order after the built-in early stopping and before checkpoint and progress.
    progress : bool
        A rich progress bar on a terminal, one plain line per epoch otherwise; False: silent.
    resume : path, optional
        A checkpoint to continue from: weights, optimizer and schedule state, history,
        epoch counter and the random generator's state are restored.
    checkpoint : path or ModelCheckpoint, optional
        Write a resumable checkpoint after every epoch (atomically).
    lr_schedule : str or Schedule, optional
        See :mod:`chainrule.schedules`; stepped once per epoch with the epoch's loss.
    clip_norm : float, optional
        Clip the joint gradient norm to this before each step.
    sample_weight : array_like (n_samples,), optional
    lr : float, optional
        Learning rate for an optimizer given by name.
    metrics : sequence
        Metric names or functions, computed on the validation data each epoch
        (``val_accuracy``, ...), or on the training data when there is none.
    allow_mismatch : bool
        Train an output activation and a loss that do not belong together (a linear output
        with ``cross_entropy``, ...) with a warning instead of a ConfigError.
    comm : mpi4py communicator or chainrule.distributed.Communicator, optional
        Data-parallel training (:mod:`chainrule.distributed`): call ``fit`` on every rank
        with the same data and seed; each rank computes its shard of every batch, one
        all-reduce per step sums the gradients, rank 0 alone writes checkpoints and progress.

    Returns
    -------
    History
        ``stop_reason`` says why training ended: it completed, early stopping or a
        callback stopped it, the schedule ran out of step sizes, Ctrl-C (the run stops at
        the end of the current batch; the model keeps that batch's update), or the loss
        became NaN/inf (with a RuntimeWarning; the weights go back to their values at
        the start of that epoch, the last ones known to be finite).
    """
    if not (isinstance(epochs, int) and epochs >= 0):
        raise ConfigError(f"epochs must be an integer >= 0, got {epochs!r}")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if clip_norm is not None and not clip_norm > 0:
        raise ConfigError(f"clip_norm must be > 0, got {clip_norm!r}")
    dtype = model_dtype(model)
    x = as_batch_source(X, dtype)  # a memory map stays on disk, read batch by batch
    y = as_targets(y, len(x), dtype)
    w = as_weights(sample_weight, len(x), dtype)
    x, y, w, val = _split_validation(x, y, w, validation_data, validation_split, dtype)
    loss = resolve_loss(model, loss, y, allow_mismatch)
    opt = get_optimizer(optimizer, model, lr)
    _check_optimizer(opt, model)
    n = len(x)
    ddp = None
    if comm is not None:  # data-parallel over MPI: agree on data, weights and seed; rank 0 reports
        from chainrule.distributed import DataParallel

        ddp = DataParallel(comm, model, n)
        seed, progress = ddp.shared_seed(seed), progress and ddp.is_root
        checkpoint = checkpoint if ddp.is_root else None
    cbs = _build_callbacks(callbacks, early_stopping, checkpoint, progress)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    state = FitState(model, opt, get_schedule(lr_schedule, epochs), History(), rng, epochs,
                     -(-n // batch_size), loss, cbs)
    saved_callbacks = _resume(resume, state) if resume is not None else []
    if state.schedule is not None:
        state.schedule.bind(opt)
    step_fn = loss_and_grad_fn(model, loss) if ddp is None else ddp.wrap(loss_and_grad_fn(model, loss))
    stream = BatchStream(x, y, w, batch_size, dtype=dtype, shard=None if ddp is None else ddp.shard)
    policy = _FitPolicy(state, step_fn, stream, shuffle, clip_norm, ddp, (x, y, w), val, metrics)
    for cb in cbs:
        cb.on_train_begin(state)
    _restore_callbacks(cbs, saved_callbacks)
    run_epochs(state, policy)
    return state.history
