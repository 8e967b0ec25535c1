"""The architecture vocabulary of model files: what a file may describe, and how it is rebuilt.

An architecture is ``{"container": "MLP" | "Sequential", "check_finite": bool, "modules": [...]}``
with each module one of::

    {"kind": "Linear", "n_in": 2, "n_out": 3, "bias": true}
    {"kind": "Activation", "name": "tanh", "attrs": {}}
    {"kind": "Dropout", "p": 0.5}

The activation names and the attributes each accepts come from the op registry
(:data:`chainrule.ops.ACTIVATIONS`): an op's ``attrs`` maps each attribute to its default
value (whose type the file's value must have) or to the tuple of values it may take. An
op that declares no attributes takes those of its module's constructor, read from the
constructor's defaults. Nothing is looked up by a name the file chooses outside that
vocabulary, so an architecture can describe a network but never run code.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import nn
from chainrule._display import printable
from chainrule.errors import ConfigError, ModelFileError

__all__ = ["describe", "check_architecture", "parameter_shapes", "build", "activation_names", "MAX_MODULES",
           "MAX_LAYER_SIZE"]

#: Most modules one architecture may list (a 784-1000x40-10 network needs 121).
MAX_MODULES = 10_000
#: Largest n_in or n_out of a Linear layer a file may declare (the bytes are checked as well).
MAX_LAYER_SIZE = 2**31 - 1


def _fail(path: Path, message: str) -> ModelFileError:
    return ModelFileError(f"{path}: {message}")


def activation_names() -> list[str]:
    """The activations a model file may name: the op registry's that have a module."""
    from chainrule.ops import ACTIVATIONS

    return [name for name in ACTIVATIONS if _module_class(name) is not None]


def _module_class(name: str) -> type[nn.Activation] | None:
    try:
        module = nn.make_activation(name)
    except ConfigError:
        return None
    return type(module) if isinstance(module, nn.Activation) and module.name == name else None


def _attribute_rules(name: str) -> dict[str, Any]:
    """Attribute -> its default (a type to match) or a tuple of allowed values, from the registry."""
    from chainrule.ops import ACTIVATIONS

    declared = dict(getattr(ACTIVATIONS[name], "attrs", None) or {})
    if declared:
        return declared
    cls = _module_class(name)
    parameters = inspect.signature(cls.__init__).parameters.values() if cls is not None else ()
    return {p.name: p.default for p in parameters
            if p.name != "self" and p.default is not inspect.Parameter.empty}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _accepts(rule: Any, value: Any) -> bool:
    if isinstance(rule, (tuple, list, frozenset, set)):
        return any(type(value) is type(choice) and value == choice for choice in rule)
    if isinstance(rule, bool):
        return isinstance(value, bool)
    if isinstance(rule, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if isinstance(rule, int):
        return _is_int(value)
    if isinstance(rule, str):
        return isinstance(value, str)
    return False


def describe(model: nn.Module) -> dict[str, Any]:
    """The architecture entry for a Sequential or MLP built from the vocabulary."""
    if not isinstance(model, nn.Sequential):
        raise ConfigError(f"save() writes Sequential and MLP networks, got {type(model).__name__}")
    names = activation_names()
    modules = []
    for i, m in enumerate(model):
        if isinstance(m, nn.Linear):
            modules.append({"kind": "Linear", "n_in": m.n_in, "n_out": m.n_out, "bias": m.bias is not None})
        elif isinstance(m, nn.Activation) and m.name in names:
            attrs = {k: v.item() if isinstance(v, np.generic) else v for k, v in m.attrs.items()}
            if any(not isinstance(v, (int, float, str)) for v in attrs.values()):
                raise ConfigError(f"module {i} ({m.name}) has attributes that are not numbers or strings: {attrs}")
            modules.append({"kind": "Activation", "name": m.name, "attrs": attrs})
        elif isinstance(m, nn.Dropout):
            modules.append({"kind": "Dropout", "p": float(m.p)})
        else:
            raise ConfigError(f"module {i} ({type(m).__name__}) cannot be saved: model files hold Linear layers, "
                              f"the activations {', '.join(names)} and Dropout")
    container = "MLP" if isinstance(model, nn.MLP) else "Sequential"
    return {"container": container, "check_finite": bool(model.check_finite), "modules": modules}


def _check_keys(path: Path, entry: dict[str, Any], keys: set[str], where: str) -> None:
    if set(entry) != keys:
        raise _fail(path, f"{where} has keys {sorted(map(str, entry))[:10]}, expected {sorted(keys)}")


def _check_module(path: Path, i: int, entry: Any, names: list[str]) -> dict[str, Any]:
    """One architecture entry, checked against the vocabulary (nothing is built yet)."""
    where = f"architecture module {i}"
    if not isinstance(entry, dict) or entry.get("kind") not in ("Linear", "Activation", "Dropout"):
        raise _fail(path, f"{where} is not a Linear, Activation or Dropout entry: {entry!r:.200}")
    kind = entry["kind"]
    if kind == "Linear":
        _check_keys(path, entry, {"kind", "n_in", "n_out", "bias"}, where)
        if not (_is_int(entry["n_in"]) and _is_int(entry["n_out"]) and 1 <= entry["n_in"] <= MAX_LAYER_SIZE
                and 1 <= entry["n_out"] <= MAX_LAYER_SIZE and isinstance(entry["bias"], bool)):
            raise _fail(path, f"{where}: Linear needs integer sizes >= 1 (at most {MAX_LAYER_SIZE}) and a boolean "
                              f"bias, got {entry!r:.200}")
    elif kind == "Dropout":
        _check_keys(path, entry, {"kind", "p"}, where)
        if not (isinstance(entry["p"], (int, float)) and not isinstance(entry["p"], bool) and 0 <= entry["p"] < 1):
            raise _fail(path, f"{where}: Dropout needs 0 <= p < 1, got {entry['p']!r:.60}")
    else:
        _check_keys(path, entry, {"kind", "name", "attrs"}, where)
        name, attrs = entry["name"], entry["attrs"]
        if not isinstance(name, str) or name not in names or not isinstance(attrs, dict):
            raise _fail(path, f"{where}: unknown activation {printable(repr(name))}; files may use {', '.join(names)}")
        rules = _attribute_rules(name)
        for key, value in attrs.items():
            if key not in rules or not _accepts(rules[key], value):
                raise _fail(path, f"{where}: {name} does not accept the attribute "
                              f"{printable(key)}={printable(repr(value))}")
    return entry


def check_architecture(path: Path, arch: Any) -> list[dict[str, Any]]:
    """The architecture's module entries, checked: at most :data:`MAX_MODULES`, at least one
    Linear layer, consecutive layers fitting together."""
    if not isinstance(arch, dict):
        raise _fail(path, "the architecture is missing")
    _check_keys(path, arch, {"container", "check_finite", "modules"}, "the architecture")
    if arch["container"] not in ("MLP", "Sequential") or not isinstance(arch["check_finite"], bool) \
            or not isinstance(arch["modules"], list) or not arch["modules"]:
        raise _fail(path, f"the architecture is not a non-empty MLP or Sequential: {arch!r:.200}")
    if len(arch["modules"]) > MAX_MODULES:
        raise _fail(path, f"the architecture lists {len(arch['modules']):,} modules; model files hold at most "
                          f"{MAX_MODULES:,}")
    names = activation_names()
    entries = [_check_module(path, i, entry, names) for i, entry in enumerate(arch["modules"])]
    linears = [e for e in entries if e["kind"] == "Linear"]
    if not linears:
        raise _fail(path, "the architecture has no Linear layer, so it has no weights and no inputs to "
                          "check data against; a model file needs at least one")
    for a, b in zip(linears, linears[1:]):
        if a["n_out"] != b["n_in"]:
            raise _fail(path, f"the layers do not fit together: Linear({a['n_in']}, {a['n_out']}) then "
                              f"Linear({b['n_in']}, {b['n_out']})")
    return entries


def parameter_shapes(entries: list[dict[str, Any]]) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape that the architecture needs (Sequential names parameters by position)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for i, e in enumerate(entries):
        if e["kind"] == "Linear":
            shapes[f"model/{i}.weight"] = (e["n_in"], e["n_out"])
            if e["bias"]:
                shapes[f"model/{i}.bias"] = (e["n_out"],)
    return shapes


def _make_module(path: Path, entry: dict[str, Any], dtype: np.dtype) -> nn.Module:
    if entry["kind"] == "Linear":
        return nn.Linear(entry["n_in"], entry["n_out"], bias=entry["bias"], init="zeros", dtype=dtype)
    if entry["kind"] == "Dropout":
        return nn.Dropout(float(entry["p"]))
    try:
        return _module_class(entry["name"])(**entry["attrs"])
    except (TypeError, ValueError) as error:
        raise _fail(path, f"activation {entry['name']} with {entry['attrs']!r:.100}: {error}") from None


def build(path: Path, arch: dict[str, Any], entries: list[dict[str, Any]], dtype: np.dtype) -> nn.Sequential:
    """The network for checked entries: an MLP when the file says so and the layout is MLP's."""
    modules = [_make_module(path, e, dtype) for e in entries]
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    layout = _mlp_layout(modules) if arch["container"] == "MLP" else None
    if layout is not None:
        acts, drops = layout
        return nn.MLP([linears[0].n_in] + [m.n_out for m in linears], activation=acts[:-1],
                      output_activation=acts[-1], init="zeros", dtype=dtype, bias=linears[0].bias is not None,
                      check_finite=arch["check_finite"], dropout=drops)
    return nn.Sequential(*modules, check_finite=arch["check_finite"])


def _mlp_layout(modules: list[nn.Module]) -> tuple[list[nn.Activation], list[float]] | None:
    """(activations, hidden dropout rates) when ``modules`` is what ``MLP`` builds, else None.

    MLP lays out Linear, activation and, after hidden layers only, Dropout(p > 0).
    """
    acts: list[nn.Activation] = []
    drops: list[float] = []
    biases = set()
    i = 0
    while i < len(modules):
        if not (isinstance(modules[i], nn.Linear) and i + 1 < len(modules)
                and isinstance(modules[i + 1], nn.Activation)):
            return None
        biases.add(modules[i].bias is not None)
        acts.append(modules[i + 1])
        i += 2
        if i < len(modules) and isinstance(modules[i], nn.Dropout):
            if modules[i].p == 0 or i == len(modules) - 1:
                return None
            drops.append(modules[i].p)
            i += 1
        else:
            drops.append(0.0)
    return (acts, drops[:-1]) if len(biases) == 1 else None
