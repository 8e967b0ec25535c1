"""The side panel's answers: chainrule's ``explain``, ``trace`` and ``check``, and model files in and out.

Each function takes a :class:`~chainrule.web.session.Session` and returns a JSON-ready
dict; every number in it comes from chainrule.learn (the engine's forward and backward
pass), rendered by chainrule.learn's text renderer. The page only shows them.

Two networks can be studied: the one on screen, at the current training sample, and
Mazur's 2-2-2 network from "A Step by Step Backpropagation Example" with his sample and
conventions (one bias per layer, b1 and b2, kept fixed), whose first forward pass gives
E_total = 0.298371109.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, ModelFileError
from chainrule.losses import auto_loss
from chainrule.web.config import ACTIVATIONS, merge, output_units

__all__ = ["explain", "trace", "check", "export_model", "export_weights", "import_model", "MAX_MODEL_BYTES"]

MAX_MODEL_BYTES = 4 << 20
_DIGITS = 9


def _network(session: Any, example: str) -> tuple[Any, Any, Any, str, str]:
    """(net, x, target, loss, bias convention) for ``example``: "current" or "mazur"."""
    if example == "mazur":
        from chainrule.examples import mazur

        net, x, target = mazur()
        return net, x, target, "half_squared_error", "shared"
    if example == "current":
        net, x, target, loss = session.current()
        return net, x, target, loss, "per_neuron"
    raise ConfigError(f"example must be 'current' (the network on screen) or 'mazur', got {example!r}")


def _where(names: Any, name: str) -> dict[str, Any]:
    """The kind, layer and index of a named quantity, for highlighting it on the diagram."""
    entry = names.find(name)
    return {"kind": entry.kind, "layer": entry.layer, "index": list(entry.index)}


def diagram(names: Any) -> dict[str, Any]:
    """The names a network diagram shows, layer by layer (bias per neuron or one per layer)."""
    sizes = names.sizes
    return {"sizes": sizes,
            "neurons": [[names.neuron(layer, j) for j in range(n)] for layer, n in enumerate(sizes)],
            "weights": [[[names.weight(layer, i, j) for j in range(sizes[layer])] for i in range(sizes[layer - 1])]
                        for layer in range(1, len(sizes))],
            "biases": [names.biases(layer) for layer in range(1, len(sizes))]}


def explain(session: Any, wrt: str, example: str = "current") -> dict[str, Any]:
    """chainrule.explain's derivation of dE/d``wrt`` at the current sample: paths, factors, delta form."""
    from chainrule.learn import explain as derive
    from chainrule.learn import render

    net, x, target, loss, bias = _network(session, example)
    d = derive(net, wrt, x, target, loss, bias=bias, digits=_DIGITS)
    sections = [{"title": s.title, "lines": [render.line_text(line, d.names, d.values, _DIGITS) for line in s.lines]}
                for s in d.sections()]
    paths = [{"label": p.label(), "neurons": list(p.neurons), "value": p.value, "text": row,
              "factors": [d.names.text(f) for f in p.factors]}
             for p, row in zip(d.paths, d.path_table())]
    return {"type": "explain", "example": example, "wrt": d.wrt, "quantity": d.names.text(d.wrt),
            "target": d.names.text(d.target), "where": _where(d.names, d.wrt), "value": d.backprop,
            "finite_difference": d.numeric, "path_sum": d.path_sum, "agree": d.agree, "note": d.parameter_note(),
            "sections": sections, "paths": paths, "text": d.to_text(),
            "sample": session.sample_info() if example == "current" else {"inputs": np.ravel(x).tolist()}}


def trace(session: Any, example: str = "mazur") -> dict[str, Any]:
    """chainrule.trace's one step, line by line: the forward pass neuron by neuron, the error,
    the deltas from the output back, the gradients and the update, each with its place."""
    from chainrule.learn import trace as run

    net, x, target, loss, bias = _network(session, example)
    lr = 0.5 if example == "mazur" else session.setup["optimizer"]["lr"]
    t = run(net, x, target, loss, lr=lr, update_biases=example != "mazur", bias=bias, digits=_DIGITS)
    data = t.to_dict()
    lines = [{"section": line["section"], "name": line["name"], "text": line["text"], "value": line["value"],
              "where": _where(t.names, line["name"])} for line in data["rounds"][0]["lines"]]
    return {"type": "trace", "example": example, "header": t.header(), "lines": lines,
            "network": diagram(t.names), "values": data["values"]}


def check(session: Any, wrt: str, formula: str, example: str = "current") -> dict[str, Any]:
    """chainrule.check's verdict on a hand-derived formula for dE/d``wrt``: status, mistake key and hint."""
    from chainrule.learn import check as judge

    net, x, target, loss, bias = _network(session, example)
    v = judge(net, wrt, formula, x, target, loss, bias=bias)
    names = v.derivation.names
    return {"type": "check", "example": example, "correct": v.correct, "wrt": v.wrt, "quantity": names.text(v.target),
            "formula": v.formula, "parsed": v.parsed, "expected": v.expected, "finite_difference": v.numeric,
            "got": v.got, "hint": v.hint, "text": v.to_text(), "verdict": v.status, "holds": v.holds,
            "mistake": v.mistake,
            "available": names.available(("input", "net", "out", "target", "weight", "bias"))}


def export_model(session: Any) -> bytes:
    """The network as chainrule's model file (safetensors; :func:`chainrule.save`)."""
    from chainrule import save

    with tempfile.TemporaryDirectory(prefix="chainrule-export-") as folder:
        path = save(session.model, Path(folder) / "playground.safetensors")
        return path.read_bytes()


def export_weights(session: Any) -> dict[str, Any]:
    """The set-up and every layer's w_ij (n_in, n_out) and b_j as JSON, with the epoch and losses."""
    epoch, train, test = session.history[-1]
    return {"format": "chainrule-playground-weights", "setup": session.setup, "epoch": epoch,
            "train_loss": train, "test_loss": test, "sizes": session.model.sizes,
            "layers": session.weights()}


def import_model(session: Any, raw: bytes) -> dict[str, Any]:
    """Read a model file with :func:`chainrule.load` (its checks and messages) and put it on screen.

    The file must be a Linear/activation network whose inputs are the set-up's features and
    whose outputs fit the data's classes; its hidden layers and activations replace the set-up's.
    """
    from chainrule import Activation, Linear, load

    if len(raw) > MAX_MODEL_BYTES:
        raise ModelFileError(f"the model file has {len(raw)} bytes; the playground takes up to {MAX_MODEL_BYTES}")
    with tempfile.TemporaryDirectory(prefix="chainrule-import-") as folder:
        path = Path(folder) / "model.safetensors"
        path.write_bytes(raw)
        model = load(path)
    layers = model.layers()
    acts = [act.name if isinstance(act, Activation) else "identity" for _, act in layers]
    for module in model:
        if not isinstance(module, (Linear, Activation)) and type(module).__name__ != "Dropout":
            raise ModelFileError(f"the playground shows Linear layers with activations; this file holds a "
                                 f"{type(module).__name__}")
    bad = [a for a in acts if a not in ACTIVATIONS]
    if bad:
        raise ModelFileError(f"the playground offers the activations {', '.join(ACTIVATIONS)}; the file uses {bad[0]}")
    if any(linear.bias is None for linear, _ in layers):
        raise ModelFileError("the playground's layers have biases; this file's network has none")
    sizes = [layers[0][0].n_in] + [linear.n_out for linear, _ in layers]
    features = session.setup["features"]
    if sizes[0] != len(features):
        raise ModelFileError(f"the model takes {sizes[0]} inputs; the set-up has {len(features)} features "
                             f"({', '.join(features)}): choose {sizes[0]} features, then import again")
    network = dict(session.setup["network"], hidden=[{"units": n, "activation": a}
                                                     for n, a in zip(sizes[1:-1], acts[:-1])],
                   output_activation=acts[-1])
    if acts[-1] != session.setup["network"]["output_activation"]:
        # The auto rule of fit; on values, as the playground offers no loss on net (no *_with_logits).
        network["loss"] = auto_loss(acts[-1], sizes[-1], classes=False)
    classes = session.points.classes
    if sizes[-1] != output_units(network, classes):
        raise ModelFileError(f"the model has {sizes[-1]} outputs; {classes} classes with a {acts[-1]} output "
                             f"need {output_units(network, classes)}")
    session.configure(merge(session.setup, {"network": network}))
    session.reset()
    for (mine, _), (theirs, _) in zip(session.model.layers(), layers):
        mine.weight.data[...] = theirs.weight.data
        mine.bias.data[...] = theirs.bias.data
    session.history.clear()
    session._record()
    return session.state()


def weights_json_bytes(session: Any) -> bytes:
    return json.dumps(export_weights(session), indent=1).encode("utf-8")
