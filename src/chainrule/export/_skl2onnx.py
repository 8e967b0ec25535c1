"""chainrule's estimators in skl2onnx's converter registry, so whole scikit-learn pipelines convert.

skl2onnx converts a pipeline step by step, looking each estimator's class up in its
registry: a *shape calculator* declares the step's outputs (types and shapes) and a
*converter* writes its nodes. :func:`register_skl2onnx` registers both for
``chainrule.sklearn.MLPClassifier`` and ``MLPRegressor``; the converter writes the same
graph as :func:`chainrule.export.to_onnx` through an adapter of its :class:`Builder`.

A classifier has skl2onnx's two outputs, ``label`` (int64 or string labels, as skl2onnx's
own classifiers; boolean labels become 0/1) and ``probabilities``, followed by skl2onnx's ZipMap unless the option
``zipmap=False`` is given; a regressor has one output of shape (batch, n_outputs). The graph
computes in the type of the step's input (float32 for ``FloatTensorType``, float64 for
``DoubleTensorType``); the weights are cast to it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.export._layers import estimator_parts, network_steps
from chainrule.export._onnx import MIN_OPSET, Builder, emit_head, emit_network, label_array, require_onnx

__all__ = ["register_skl2onnx"]

_INSTALL_HINT = 'pip install "chainrule[onnx]"'


def register_skl2onnx() -> None:
    """Register chainrule's ``MLPClassifier`` and ``MLPRegressor`` with skl2onnx (calling it again is harmless).

    Examples
    --------
    After registering, ``skl2onnx.to_onnx(Pipeline([("scale", StandardScaler()), ("mlp",
    MLPClassifier())]).fit(X, y), X[:1].astype(np.float32))`` converts the whole pipeline.

    Raises
    ------
    ImportError
        Without skl2onnx or scikit-learn (``pip install "chainrule[onnx]"``).
    """
    require_onnx("registering with skl2onnx")
    try:
        from skl2onnx import update_registered_converter
    except ImportError as error:
        raise ImportError(f"registering with skl2onnx needs the skl2onnx package: {_INSTALL_HINT}") from error
    from chainrule.sklearn import MLPClassifier, MLPRegressor

    update_registered_converter(MLPClassifier, "ChainruleMLPClassifier", _shape_calculator, _converter,
                                options={"zipmap": [True, False, "columns"], "nocl": [False]})
    update_registered_converter(MLPRegressor, "ChainruleMLPRegressor", _shape_calculator, _converter)


def _float_type(variable_type: Any) -> np.dtype:
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    if isinstance(variable_type, DoubleTensorType):
        return np.dtype(np.float64)
    if isinstance(variable_type, FloatTensorType):
        return np.dtype(np.float32)
    raise ConfigError(f"chainrule's estimators take float inputs in skl2onnx (FloatTensorType or DoubleTensorType), "
                      f"got {type(variable_type).__name__}")


def _shape_calculator(operator: Any) -> None:
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, Int64TensorType, StringTensorType

    estimator = operator.raw_operator
    network, head = estimator_parts(estimator)
    dtype = _float_type(operator.inputs[0].type)
    tensor_type = DoubleTensorType if dtype == np.float64 else FloatTensorType
    n = operator.inputs[0].get_first_dimension()
    if head.kind == "regressor":
        operator.outputs[0].type = tensor_type([n, head.n_outputs])
        return
    if head.kind == "multilabel":
        raise ConfigError("skl2onnx's classifier outputs hold one label per sample; a multilabel MLPClassifier "
                          "converts with chainrule.export.to_onnx, whose label output is (batch, n_labels)")
    labels = label_array(head.classes)
    if labels.dtype.kind == "O":
        label_type = StringTensorType([n])
    elif labels.dtype.kind in "biu":  # booleans as 0/1, as skl2onnx's own classifiers give them
        label_type = Int64TensorType([n])
    else:
        raise ConfigError(f"skl2onnx's classifiers output int64 or string labels, these classes_ are "
                          f"{labels.dtype}; encode the labels as integers or strings, or use "
                          "chainrule.export.to_onnx, which keeps them as they are")
    operator.outputs[0].type = label_type
    operator.outputs[1].type = tensor_type([n, len(labels)])


class _SklBuilder(Builder):
    """The :class:`Builder` writing into skl2onnx's scope and container."""

    def __init__(self, scope: Any, container: Any, dtype: Any) -> None:
        opset = container.target_opset
        if isinstance(opset, dict):
            opset = opset.get("", max(opset.values()))
        if opset is not None and opset < MIN_OPSET:
            raise ConfigError(f"chainrule's estimators convert with target_opset >= {MIN_OPSET}, got {opset}")
        super().__init__(dtype, opset or MIN_OPSET)
        self.scope = scope
        self.container = container

    def unique(self, hint: str) -> str:
        return self.scope.get_unique_variable_name(hint)

    def constant(self, value: Any, hint: str, dtype: Any = None) -> str:
        array = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        name = self.unique(hint)
        if array.dtype.kind == "O":
            self.container.add_initializer(name, self.onnx.TensorProto.STRING, list(array.shape),
                                           [str(v).encode() for v in array.ravel()])
        else:
            self.container.add_initializer(name, None, None, self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op_type: str, inputs: Sequence[str], hint: str, output: str | None = None, **attrs: Any) -> str:
        out = output if output is not None else self.unique(hint)
        self.container.add_node(op_type, list(inputs), [out], name=self.scope.get_unique_operator_name(hint),
                                **attrs)
        return out


def _converter(scope: Any, operator: Any, container: Any) -> None:
    estimator = operator.raw_operator
    network, head = estimator_parts(estimator)
    b = _SklBuilder(scope, container, _float_type(operator.inputs[0].type))
    out = emit_network(b, operator.inputs[0].full_name, network_steps(network))
    if head.classes is not None and head.classes.dtype.kind in "biu":
        head = dataclasses.replace(head, classes=head.classes.astype(np.int64))
    emit_head(b, out, head, [o.full_name for o in operator.outputs], flatten_single=False)
