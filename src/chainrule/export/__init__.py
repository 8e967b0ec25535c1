"""Models that travel: a chainrule network or fitted estimator as an ONNX file or a PyTorch module.

- :func:`to_onnx` writes an ONNX model (the ``onnx`` package, extra ``[onnx]``) that
  onnxruntime and other runtimes serve: every layer and activation, and for the
  estimators their probabilities and original class labels, or their predictions.
- :func:`register_skl2onnx` teaches skl2onnx to convert chainrule's ``MLPClassifier`` and
  ``MLPRegressor``, so a whole scikit-learn ``Pipeline`` ending in one converts with
  ``skl2onnx.to_onnx``.
- :func:`to_torch` and :func:`from_torch` move a network to a ``torch.nn.Sequential`` and
  back; chainrule's W (n_in, n_out) is the transpose of ``torch.nn.Linear.weight``.

``import chainrule.export`` imports neither onnx nor torch; each function imports what it
needs when called and says which package to install when it is missing.
"""

from chainrule.export._onnx import OPSET, to_onnx
from chainrule.export._skl2onnx import register_skl2onnx
from chainrule.export._torch import from_torch, to_torch

__all__ = ["to_onnx", "register_skl2onnx", "to_torch", "from_torch", "OPSET"]
