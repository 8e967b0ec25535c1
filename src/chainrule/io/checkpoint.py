"""Training checkpoints: a model file that also holds the state of a training run.

Checkpoints add the optimizer's and schedule's state, epoch and step counters, the
history and the random generator's state; their arrays are tensors ``state/<i>`` that
the JSON refers to as ``{"$array": "state/<i>"}``. State trees are flattened and
rebuilt without recursion, to at most :data:`~chainrule.io.container.MAX_DEPTH` levels,
and the optimizer's and schedule's numbers are checked when read: a learning rate or
hyperparameter that is negative or not finite, a counter that is not a non-negative
integer, or an optimizer array holding NaN is refused before training resumes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import nn
from chainrule.errors import ConfigError, ModelFileError
from chainrule.io.container import MAX_DEPTH, read_file, write_file

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint"]


def _fail(path: Path, message: str) -> ModelFileError:
    return ModelFileError(f"{path}: {message}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _leaf(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, np.ndarray):
        name = f"state/{len(arrays)}"
        arrays[name] = np.ascontiguousarray(value)
        return {"$array": name}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ConfigError(f"checkpoint state may hold arrays, numbers and strings, not {type(value).__name__}")


def flatten(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """JSON-ready copy of ``value``; arrays move into ``arrays`` and are referred to by name."""
    def convert(item: Any) -> Any:
        if isinstance(item, dict):
            if "$array" in item:
                raise ConfigError("checkpoint state may not use the key '$array'")
            return {}
        if isinstance(item, (list, tuple)):
            return []
        return _leaf(item, arrays)

    root = convert(value)
    stack = [(value, root, 0)]
    while stack:
        source, target, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigError(f"checkpoint state nests deeper than {MAX_DEPTH} levels")
        items = source.items() if isinstance(source, dict) else enumerate(source) if isinstance(
            source, (list, tuple)) else ()
        for key, child in items:
            copy = convert(child)
            if isinstance(target, dict):
                target[str(key)] = copy
            else:
                target.append(copy)
            if isinstance(copy, (dict, list)) and not (isinstance(copy, dict) and "$array" in copy):
                stack.append((child, copy, depth + 1))
    return root


def unflatten(path: Path, value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """``value`` with each ``{"$array": name}`` replaced by its tensor; iterative, depth-bounded."""
    def convert(item: Any) -> Any:
        if isinstance(item, dict) and set(item) == {"$array"}:
            name = item["$array"]
            if not isinstance(name, str) or name not in arrays or not name.startswith("state/"):
                raise _fail(path, f"the state refers to a tensor {name!r:.80} the file does not hold")
            return arrays[name]
        if isinstance(item, dict):
            return {}
        if isinstance(item, list):
            return []
        return item

    root = convert(value)
    stack = [(value, root, 0)]
    while stack:
        source, target, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _fail(path, f"the checkpoint's state nests deeper than {MAX_DEPTH} levels")
        if isinstance(target, np.ndarray) or not isinstance(source, (dict, list)):
            continue
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, child in items:
            copy = convert(child)
            if isinstance(target, dict):
                target[key] = copy
            else:
                target.append(copy)
            if isinstance(copy, (dict, list)):
                stack.append((child, copy, depth + 1))
    return root


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns: the model and the training run's state."""

    model: nn.Sequential
    epoch: int = 0
    step: int = 0
    optimizer: dict[str, Any] | None = None
    schedule: dict[str, Any] | None = None
    history: dict[str, Any] | None = None
    rng: dict[str, Any] | None = None
    callbacks: list[Any] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    module_rngs: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(path: str | Path, model: nn.Module, *, optimizer: Any = None, schedule: Any = None,
                    history: Any = None, rng: np.random.Generator | dict | None = None, epoch: int = 0,
                    step: int = 0, callbacks: list[Any] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write the model and the state of a training run, enough to continue it bit for bit.

    ``optimizer``, ``schedule`` and ``history`` may be the objects or their state dicts;
    ``rng`` a Generator (its ``bit_generator.state`` is stored) or that state. The
    generators of modules that draw random numbers (Dropout's masks) are stored too.
    The file is written atomically (:mod:`chainrule.atomic`).
    """
    def state_of(obj: Any) -> Any:
        if obj is None or isinstance(obj, dict):
            return obj
        return obj.to_dict() if hasattr(obj, "to_dict") else obj.state_dict()

    rng_state = rng.bit_generator.state if isinstance(rng, np.random.Generator) else rng
    state = {"epoch": int(epoch), "step": int(step), "optimizer": state_of(optimizer),
             "schedule": state_of(schedule), "history": state_of(history), "rng": rng_state,
             "callbacks": list(callbacks or []), "extra": dict(extra or {}),
             "module_rngs": {str(i): m.rng.bit_generator.state for i, m in enumerate(model.modules())
                             if isinstance(getattr(m, "rng", None), np.random.Generator)}}
    arrays: dict[str, np.ndarray] = {}
    tree = flatten(state, arrays)
    return write_file(path, model, "checkpoint", state=tree, arrays=arrays)


_RATES = ("lr", "base_lr")
_COUNTERS = ("step", "epoch", "t", "n_iter", "bad_epochs", "wait")


def _optimizer_defaults(kind: str) -> dict[str, Any]:
    """The constructor defaults of the optimizer class named ``kind`` (from chainrule.optim's table only)."""
    import inspect

    from chainrule.optim import OPTIMIZERS

    for cls in OPTIMIZERS.values():
        if cls.__name__ == kind:
            return {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()
                    if p.default is not inspect.Parameter.empty}
    return {}


def _check_numbers(path: Path, state: dict[str, Any], what: str) -> None:
    """An optimizer's or schedule's state: a string type, finite non-negative numbers, integer counters,
    and each hyperparameter of the type its optimizer's constructor takes."""
    kind = state.get("type")
    if not isinstance(kind, str):
        raise _fail(path, f"the checkpoint's {what} state has no type name")
    defaults = _optimizer_defaults(kind) if what == "optimizer" else {}
    for key, value in state.items():
        label = f"the checkpoint's {what} {key[:80]}"
        short = key.rsplit(".", 1)[-1]
        default = defaults.get(key)
        if isinstance(default, str) and not isinstance(value, str) \
                or isinstance(default, bool) and not isinstance(value, bool) \
                or isinstance(default, (int, float)) and not isinstance(default, bool) \
                and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise _fail(path, f"{label} is {value!r:.60}, expected a {type(default).__name__} like {default!r}")
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "fiub":
                raise _fail(path, f"{label} is an array of {value.dtype}, expected numbers")
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                raise _fail(path, f"{label} holds NaN or infinite values")
        elif isinstance(value, bool) or value is None or (isinstance(value, str) and key == "type"):
            continue
        elif isinstance(value, (int, float)):
            if not math.isfinite(value):
                raise _fail(path, f"{label} is {value}, expected a finite number")
            if short in _COUNTERS and not _is_int(value):
                raise _fail(path, f"{label} is {value!r}, expected a whole number")
            if value < 0 and (short in _RATES or short in _COUNTERS or what == "optimizer"):
                raise _fail(path, f"{label} is {value!r}, expected a number >= 0 (a negative learning rate would "
                                  "climb the loss instead of descending it)")
        elif isinstance(value, str) and short not in _RATES and short not in _COUNTERS:
            continue
        else:
            raise _fail(path, f"{label} is {type(value).__name__} {value!r:.60}, expected a number")
    if what == "optimizer" and not isinstance(state.get("lr"), (int, float)):
        raise _fail(path, f"the checkpoint's optimizer state has no learning rate (lr={state.get('lr')!r:.60})")


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (or by ``fit(checkpoint=...)``)."""
    path = Path(path)
    meta, model, arrays = read_file(path)
    if meta["kind"] != "checkpoint":
        raise _fail(path, "holds a model but no training state; load it with chainrule.load, or pass it to "
                          "fit as a model rather than as resume=")
    state = unflatten(path, meta.get("state"), arrays)
    if not isinstance(state, dict):
        raise _fail(path, "the checkpoint's state is missing")
    epoch, step = state.get("epoch"), state.get("step")
    if not (_is_int(epoch) and epoch >= 0 and _is_int(step) and step >= 0):
        raise _fail(path, f"invalid epoch/step counters {epoch!r:.40}/{step!r:.40}; expected whole numbers >= 0")
    parts = {}
    for key in ("optimizer", "schedule", "history", "rng"):
        if state.get(key) is not None and not isinstance(state[key], dict):
            raise _fail(path, f"the checkpoint's {key} state is not an object")
        parts[key] = state.get(key)
    for key in ("optimizer", "schedule"):
        if parts[key] is not None:
            _check_numbers(path, parts[key], key)
    callbacks = state.get("callbacks") or []
    extra = state.get("extra") or {}
    module_rngs = state.get("module_rngs") or {}
    if not isinstance(callbacks, list) or not all(isinstance(c, dict) for c in callbacks) \
            or not isinstance(extra, dict) or not isinstance(module_rngs, dict):
        raise _fail(path, "the checkpoint's callback, module or extra state is malformed")
    return Checkpoint(model, epoch, step, callbacks=callbacks, extra=extra, module_rngs=module_rngs, **parts)
