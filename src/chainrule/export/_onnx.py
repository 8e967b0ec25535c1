"""A chainrule network as an ONNX graph, built with the ``onnx`` package's helper API.

The graph is emitted through a small :class:`Builder` (``constant`` and ``node``) so the same
code writes a standalone file (:func:`to_onnx`) and a step inside a scikit-learn pipeline
converted by skl2onnx (:mod:`chainrule.export._skl2onnx`).

Each layer is ``MatMul`` then ``Add``, as chainrule computes it: net = x @ W + b with W
(n_in, n_out), so no transpose is needed. Activations use the ONNX operator that defines
them (Sigmoid, Tanh, Relu, LeakyRelu, Softplus, Softmax, LogSoftmax; Gelu from opset 20)
where the runtime computes it as chainrule does, and are composed from primitive operators
where it does not:

- GELU, out = net Phi(net) = 0.5 net (1 + erf(net / sqrt(2))), is an operator only from
  opset 20; below that (and always in float64) it is composed, ``approximate="tanh"`` as
  0.5 net (1 + tanh(sqrt(2/pi) (net + 0.044715 net^3))).
- onnxruntime has no float64 kernels for Elu, Softplus and Erf, and LeakyRelu's alpha is a
  float32 attribute, so in float64 graphs leaky_relu = where(net > 0, net, alpha net);
  softplus = max(net, 0) + log(1 + exp(-|net|)); and erf(z) on |z| <= 6 comes from four
  Chebyshev interpolants of degree 20 (error below 1e-14, computed from ``math.erf`` when
  the file is written), with erf(z) = sign(z) for |z| > 6, where 1 - erf(6) < 3e-17.
- elu = where(net > 0, net, alpha (exp(min(net, 0)) - 1)) in both types.
- In float32 graphs, tanh, elu's exp(x) - 1, GELU's erf, cube and tanh are computed on a
  float64 copy and rounded once (:func:`_in_float64`): onnxruntime's float32 Tanh and Erf are
  approximations, and exp(x) - 1 loses expm1's accuracy near 0; a few units in the last
  place per layer would add up past 1e-6 over six layers.
- Dropout is the identity at inference and emits nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.export._layers import (
    ActivationStep,
    DropoutStep,
    Head,
    LinearStep,
    Step,
    describe,
    estimator_parts,
    input_width,
    is_chainrule_estimator,
    model_dtype,
    network_steps,
)

__all__ = ["OPSET", "MIN_OPSET", "to_onnx", "Builder", "emit_network", "emit_head", "label_array", "require_onnx"]

#: The default opset of exported files (ONNX 1.12, 2022): every runtime of the last years reads it.
OPSET = 17
#: The oldest opset the graphs are written for (Softmax over one axis, ReduceSum with an axes input).
MIN_OPSET = 13

_INSTALL_HINT = 'pip install "chainrule[onnx]"'


def require_onnx(feature: str = "ONNX export") -> Any:
    """The ``onnx`` module, or an ImportError naming the extra that brings it."""
    try:
        import onnx
    except ImportError as error:
        raise ImportError(f"{feature} needs the onnx package: {_INSTALL_HINT}") from error
    return onnx


def _float_dtype(dtype: Any) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ConfigError(f"ONNX export writes float32 or float64 networks, got dtype {dtype}")
    return dtype


class Builder:
    """Collects ONNX nodes and initializers; names are unique within the graph.

    ``dtype`` is the graph's float type (float32 or float64); ``opset`` the operator set
    written into the file. Subclasses (the skl2onnx adapter) override :meth:`constant`,
    :meth:`node` and :meth:`unique`.
    """

    def __init__(self, dtype: Any, opset: int) -> None:
        self.onnx = require_onnx()
        self.dtype = _float_dtype(dtype)
        self.opset = int(opset)
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._used: set[str] = set()

    def unique(self, hint: str) -> str:
        name, i = hint, 1
        while name in self._used:
            i += 1
            name = f"{hint}_{i}"
        self._used.add(name)
        return name

    def constant(self, value: Any, hint: str, dtype: Any = None) -> str:
        """An initializer holding ``value`` (in the graph's float type unless ``dtype`` says otherwise)."""
        array = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        name = self.unique(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op_type: str, inputs: Sequence[str], hint: str, output: str | None = None, **attrs: Any) -> str:
        """Adds one node; returns the name of its output (``output`` when given)."""
        out = output if output is not None else self.unique(hint)
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [out], name=self.unique(f"{hint}_node"),
                                                     **attrs))
        return out

    def scalar(self, value: float, hint: str) -> str:
        """A 0-d constant in the graph's float type."""
        return self.constant(np.array(value, dtype=self.dtype), hint)


# ------------------------------------------------------------------ activations
def _erf_float64(b: Builder, z: str, hint: str) -> str:
    """erf(z) in float64 from primitive operators (onnxruntime has no float64 Erf kernel).

    |z| is clipped to [0, 6] and split into four pieces of width 1.5; on piece k, with
    t = (|z| - 1.5 k) / 0.75 - 1 in [-1, 1], erf is the degree-20 polynomial whose
    coefficients (row k of a table, gathered per element) come from the Chebyshev
    interpolant of ``math.erf`` on that piece, evaluated by Horner's rule.
    """
    table = _erf_table()
    pieces, degree = table.shape[0], table.shape[1] - 1
    width = 6.0 / pieces
    a = b.node("Abs", [z], f"{hint}_abs")
    a = b.node("Clip", [a, b.scalar(0.0, f"{hint}_zero"), b.scalar(6.0, f"{hint}_six")], f"{hint}_clip")
    scaled = b.node("Div", [a, b.scalar(width, f"{hint}_width")], f"{hint}_scaled")
    k = b.node("Floor", [scaled], f"{hint}_floor")
    k = b.node("Min", [k, b.scalar(pieces - 1, f"{hint}_last")], f"{hint}_piece")
    # t = 2 (scaled - k) - 1 maps the piece [1.5 k, 1.5 (k + 1)] onto [-1, 1]
    t = b.node("Sub", [scaled, k], f"{hint}_frac")
    t = b.node("Mul", [t, b.scalar(2.0, f"{hint}_two")], f"{hint}_frac2")
    t = b.node("Sub", [t, b.scalar(1.0, f"{hint}_one")], f"{hint}_t")
    index = b.node("Cast", [k], f"{hint}_index", to=b.onnx.TensorProto.INT64)
    y = b.node("Gather", [b.constant(table[:, degree], f"{hint}_c{degree}"), index], f"{hint}_h{degree}")
    for j in range(degree - 1, -1, -1):
        c = b.node("Gather", [b.constant(table[:, j], f"{hint}_c{j}"), index], f"{hint}_g{j}")
        y = b.node("Add", [b.node("Mul", [y, t], f"{hint}_m{j}"), c], f"{hint}_h{j}")
    return b.node("Mul", [y, b.node("Sign", [z], f"{hint}_sign")], f"{hint}_erf")


_ERF_TABLE: np.ndarray | None = None


def _erf_table(pieces: int = 4, degree: int = 20) -> np.ndarray:
    """(pieces, degree + 1): monomial coefficients in t of erf on each piece of [0, 6]."""
    global _ERF_TABLE
    if _ERF_TABLE is None:
        from numpy.polynomial import chebyshev

        erf = np.vectorize(math.erf, otypes=[np.float64])
        rows = []
        width = 6.0 / pieces
        for k in range(pieces):
            coefficients = chebyshev.chebinterpolate(lambda t, k=k: erf(width * (k + (t + 1) / 2)), degree)
            rows.append(chebyshev.cheb2poly(coefficients))
        _ERF_TABLE = np.array(rows)
    return _ERF_TABLE


def _in_float64(b: Builder, x: str, hint: str, fn) -> str:
    """fn applied to x in float64, rounded once to the graph's type (float32 graphs cast there and back).

    Used where onnxruntime's float32 kernels are less accurate than chainrule's float32
    functions (exp(x) - 1 against expm1, its approximate Erf and Tanh, x * x * x against
    pow), whose error would otherwise add up past 1e-6 over a few layers.
    """
    if b.dtype == np.float64:
        return fn(b, x)
    wide = b.node("Cast", [x], f"{hint}_f64", to=b.onnx.TensorProto.DOUBLE)
    b.dtype = np.dtype(np.float64)
    try:
        result = fn(b, wide)
    finally:
        b.dtype = np.dtype(np.float32)
    return b.node("Cast", [result], hint, to=b.onnx.TensorProto.FLOAT)


def _gelu(b: Builder, x: str, hint: str, approximate: str = "none") -> str:
    if b.opset >= 20 and b.dtype == np.float32:
        return b.node("Gelu", [x], hint, approximate=approximate)
    half_x = b.node("Mul", [b.scalar(0.5, f"{hint}_half"), x], f"{hint}_half_x")
    if approximate == "tanh":
        # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = _in_float64(b, x, f"{hint}_cube",
                           lambda b, v: b.node("Mul", [b.node("Mul", [v, v], f"{hint}_sq"), v], f"{hint}_cube64"))
        inner = b.node("Add", [x, b.node("Mul", [b.scalar(0.044715, f"{hint}_k"), cube], f"{hint}_kc")],
                       f"{hint}_inner")
        inner = b.node("Mul", [b.scalar(math.sqrt(2 / math.pi), f"{hint}_c"), inner], f"{hint}_scaled")
        curve = _in_float64(b, inner, f"{hint}_tanh", lambda b, v: b.node("Tanh", [v], f"{hint}_tanh64"))
    else:
        # 0.5 x (1 + erf(x / sqrt(2)))
        z = b.node("Div", [x, b.scalar(math.sqrt(2), f"{hint}_sqrt2")], f"{hint}_z")
        curve = _in_float64(b, z, f"{hint}_erf", lambda b, v: _erf_float64(b, v, f"{hint}_erf64"))
    one_plus = b.node("Add", [b.scalar(1.0, f"{hint}_one"), curve], f"{hint}_one_plus")
    return b.node("Mul", [half_x, one_plus], hint)


def _elu(b: Builder, x: str, hint: str, alpha: float = 1.0) -> str:
    # where(x > 0, x, alpha (e^min(x, 0) - 1)), the difference taken in float64 as expm1 would give it
    zero = b.scalar(0.0, f"{hint}_zero")
    negative = b.node("Min", [x, zero], f"{hint}_min")
    curve = _in_float64(b, negative, f"{hint}_em1", lambda b, v: b.node(
        "Sub", [b.node("Exp", [v], f"{hint}_exp"), b.scalar(1.0, f"{hint}_one")], f"{hint}_em1_64"))
    curve = b.node("Mul", [b.scalar(alpha, f"{hint}_alpha"), curve], f"{hint}_curve")
    return b.node("Where", [b.node("Greater", [x, zero], f"{hint}_pos"), x, curve], hint)


def _leaky_relu(b: Builder, x: str, hint: str, alpha: float = 0.01) -> str:
    if b.dtype == np.float32:
        return b.node("LeakyRelu", [x], hint, alpha=alpha)
    # LeakyRelu's alpha is a float32 attribute: 0.01 would become 0.0099999998
    scaled = b.node("Mul", [b.scalar(alpha, f"{hint}_alpha"), x], f"{hint}_scaled")
    return b.node("Where", [b.node("Greater", [x, b.scalar(0.0, f"{hint}_zero")], f"{hint}_pos"), x, scaled], hint)


def _softplus(b: Builder, x: str, hint: str) -> str:
    if b.dtype == np.float32:
        return b.node("Softplus", [x], hint)
    # log(1 + e^x) = max(x, 0) + log(1 + e^-|x|): e^-|x| <= 1 never overflows
    tail = b.node("Exp", [b.node("Neg", [b.node("Abs", [x], f"{hint}_abs")], f"{hint}_neg")], f"{hint}_exp")
    tail = b.node("Log", [b.node("Add", [b.scalar(1.0, f"{hint}_one"), tail], f"{hint}_1p")], f"{hint}_log")
    return b.node("Add", [b.node("Relu", [x], f"{hint}_relu"), tail], hint)


def _activation(b: Builder, x: str, step: ActivationStep, hint: str) -> str:
    attrs = step.attrs
    name = step.name
    if name == "identity":
        return x
    if name == "tanh":
        return _in_float64(b, x, hint, lambda b, v: b.node("Tanh", [v], f"{hint}_64"))
    if name in ("sigmoid", "relu"):
        return b.node({"sigmoid": "Sigmoid", "relu": "Relu"}[name], [x], hint)
    if name == "leaky_relu":
        return _leaky_relu(b, x, hint, float(attrs.get("alpha", 0.01)))
    if name == "elu":
        return _elu(b, x, hint, float(attrs.get("alpha", 1.0)))
    if name == "softplus":
        return _softplus(b, x, hint)
    if name == "gelu":
        return _gelu(b, x, hint, str(attrs.get("approximate", "none")))
    if name in ("softmax", "log_softmax"):
        return b.node("Softmax" if name == "softmax" else "LogSoftmax", [x], hint, axis=int(attrs.get("axis", -1)))
    raise ConfigError(f"the activation {name!r} has no ONNX form yet; export supports identity, sigmoid, tanh, "
                      "relu, leaky_relu, elu, softplus, gelu, softmax and log_softmax")


def emit_network(b: Builder, x: str, steps: Sequence[Step]) -> str:
    """Adds the network's nodes after the tensor ``x`` (batch, n_in); returns its output (batch, n_out)."""
    layer = 0
    for step in steps:
        if isinstance(step, LinearStep):
            layer += 1
            w = b.constant(step.weight, f"W{layer}")
            x = b.node("MatMul", [x, w], f"net{layer}" if step.bias is None else f"xW{layer}")
            if step.bias is not None:
                x = b.node("Add", [x, b.constant(step.bias, f"b{layer}")], f"net{layer}")
        elif isinstance(step, ActivationStep):
            x = _activation(b, x, step, f"out{layer}_{step.name}")
        elif not isinstance(step, DropoutStep):  # dropout is the identity at inference
            raise ConfigError(f"unexpected step {step!r}")
    return x


# ------------------------------------------------------------------ estimator heads
def emit_head(b: Builder, out: str, head: Head, names: Sequence[str], flatten_single: bool = True) -> None:
    """Turns the network's output into the estimator's answers, written to ``names``.

    Classifiers write (label, probabilities), regressors (predictions,); see :class:`Head`.
    ``flatten_single`` gives a one-output regressor's predictions the shape (batch,), as
    ``predict`` does (skl2onnx's convention is (batch, 1)).
    """
    onnx = b.onnx
    if head.kind == "regressor":
        if head.exp:  # Poisson's log link: the network's output is log(rate)
            out = b.node("Exp", [out], "rate")
        if flatten_single and head.n_outputs == 1:
            b.node("Reshape", [out, b.constant([-1], "flat", np.int64)], "predictions", output=names[0])
        else:
            b.node("Identity", [out], "predictions", output=names[0])
        return
    label, probabilities = names
    labels = label_array(head.classes)
    classes = b.constant(labels, "classes", dtype=labels.dtype)
    if head.kind in ("binary", "binary_softmax"):
        if head.kind == "binary":
            p = out
            b.node("Concat", [b.node("Sub", [b.scalar(1.0, "one"), p], "negative"), p], "probabilities",
                   output=probabilities, axis=1)
        else:
            b.node("Identity", [out], "probabilities", output=probabilities)
            p = b.node("Slice", [out, b.constant([1], "start", np.int64), b.constant([2], "stop", np.int64),
                                 b.constant([1], "axis1", np.int64)], "positive_column")
        index = b.node("Cast", [b.node("Greater", [p, b.scalar(0.5, "threshold")], "positive")], "index",
                       to=onnx.TensorProto.INT64)
        index = b.node("Reshape", [index, b.constant([-1], "flat", np.int64)], "index_flat")
        b.node("Gather", [classes, index], "label", output=label)
    elif head.kind in ("softmax", "ovr"):
        if head.kind == "ovr":
            # one-vs-rest: each row divided by its sum, 1 / n_classes where the sum is 0
            total = b.node("ReduceSum", [out, b.constant([1], "axis1", np.int64)], "total", keepdims=1)
            ratio = b.node("Div", [out, total], "ratio")
            positive = b.node("Greater", [total, b.scalar(0.0, "zero")], "positive_total")
            b.node("Where", [positive, ratio, b.scalar(1.0 / head.n_outputs, "uniform")], "probabilities",
                   output=probabilities)
        else:
            b.node("Identity", [out], "probabilities", output=probabilities)
        index = b.node("ArgMax", [out], "index", axis=1, keepdims=0)
        b.node("Gather", [classes, index], "label", output=label)
    elif head.kind == "multilabel":
        b.node("Identity", [out], "probabilities", output=probabilities)
        b.node("Cast", [b.node("Greater", [out, b.scalar(0.5, "threshold")], "positive")], "label", output=label,
               to=onnx.TensorProto.INT64)
    else:
        raise ConfigError(f"unknown estimator head {head.kind!r}")


def label_array(classes: np.ndarray) -> np.ndarray:
    """The class labels as an array ONNX can hold: strings, booleans, integers or floats."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "OUS":
        return np.array([str(c) for c in classes], dtype=object)
    if classes.dtype.kind in "biuf":
        return classes
    raise ConfigError(f"class labels of dtype {classes.dtype} have no ONNX tensor type; use integers, floats, "
                      "booleans or strings")


# ------------------------------------------------------------------ the file
def to_onnx(model: Any, path: str | Path | None = None, *, dtype: Any = None, opset: int = OPSET,
            name: str | None = None) -> Any:
    """Write a chainrule network or fitted estimator as an ONNX model; returns the ``onnx.ModelProto``.

    Parameters
    ----------
    model : chainrule Module or fitted chainrule.sklearn estimator
        A ``Sequential``/``MLP`` (nested containers allowed) of ``Linear``, registered
        activations and ``Dropout``; or a fitted ``MLPClassifier``/``MLPRegressor``.
    path : str or Path, optional
        Where to write the file (atomically: a reader sees the old file or the new one).
    dtype : float32 or float64, optional
        The graph's float type; the model's own by default. Weights are cast to it.
    opset : int
        The ONNX operator set, 13 or newer (default 17; from 20 float32 GELU is one operator).
    name : str, optional
        The graph's name (the model's class name by default).

    Returns
    -------
    onnx.ModelProto
        Input ``X`` (batch, n_in). Outputs: ``output`` (batch, n_out) for a module;
        ``label`` (batch,) in the original labels and ``probabilities`` (batch, n_classes)
        for a classifier (``label`` is (batch, n_labels) of 0/1 for multilabel targets);
        ``predictions`` (batch,) or (batch, n_outputs) for a regressor.

    Raises
    ------
    ImportError
        Without the onnx package (``pip install "chainrule[onnx]"``).
    ConfigError
        For an unfitted estimator, a module export cannot express, or a bad dtype or opset.

    Examples
    --------
    >>> import chainrule as cr
    >>> proto = to_onnx(cr.MLP([2, 3, 1], activation="tanh", output_activation="sigmoid", seed=0))
    >>> [n.op_type for n in proto.graph.node]
    ['MatMul', 'Add', 'Tanh', 'MatMul', 'Add', 'Sigmoid', 'Identity']
    """
    onnx = require_onnx()
    newest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or isinstance(opset, bool) or not MIN_OPSET <= opset <= newest:
        raise ConfigError(f"opset must be an int from {MIN_OPSET} to {newest} (the installed onnx's newest), "
                          f"got {opset!r}")
    head: Head | None = None
    if is_chainrule_estimator(model):
        network, head = estimator_parts(model)
    elif hasattr(model, "get_params") and hasattr(model, "fit"):
        raise ConfigError(f"expected a chainrule Module or a fitted chainrule.sklearn estimator, got "
                          f"{describe(model)}; for scikit-learn's own estimators and pipelines use skl2onnx "
                          "(chainrule.export.register_skl2onnx() lets it convert chainrule's estimators inside them)")
    else:
        network = model
    steps = network_steps(network)
    graph_dtype = _float_dtype(model_dtype(steps) if dtype is None else dtype)
    b = Builder(graph_dtype, opset)
    elem = onnx.helper.np_dtype_to_tensor_dtype(graph_dtype)
    n_in = input_width(steps)
    inputs = [onnx.helper.make_tensor_value_info("X", elem, ["batch", n_in if n_in is not None else "n_in"])]
    b.unique("X")
    out = emit_network(b, "X", steps)
    if head is None:
        b.node("Identity", [out], "output", output="output")
        outputs = [onnx.helper.make_tensor_value_info("output", elem, None)]
    else:
        if head.kind == "regressor":
            names, types = ["predictions"], [elem]
        else:
            label_type = onnx.numpy_helper.from_array(label_array(head.classes)).data_type
            names = ["label", "probabilities"]
            types = [onnx.TensorProto.INT64 if head.kind == "multilabel" else label_type, elem]
        emit_head(b, out, head, names)
        outputs = [onnx.helper.make_tensor_value_info(n, t, None) for n, t in zip(names, types)]
    graph = onnx.helper.make_graph(b.nodes, name or type(model).__name__, inputs, outputs, b.initializers)
    opsets = [onnx.helper.make_opsetid("", opset)]
    from chainrule import __version__

    proto = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="chainrule",
                                   producer_version=__version__,
                                   ir_version=onnx.helper.find_min_ir_version_for(opsets))
    proto = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    onnx.checker.check_model(proto)
    if path is not None:
        from chainrule.atomic import write_bytes

        write_bytes(path, proto.SerializeToString())
    return proto
