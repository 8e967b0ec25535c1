"""Applying a model to data: ``predict``, ``evaluate``, and the loss ``fit`` and ``evaluate`` use.

``predict`` runs the model in evaluation mode without recording a graph; ``evaluate``
scores its output with a loss and metrics of :mod:`chainrule.metrics`; ``resolve_loss``
turns ``loss="auto"`` into a loss and refuses a loss that does not fit the output layer.
Data enters through :mod:`chainrule.boundary`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.batches import as_batch_source, release_pages
from chainrule.boundary import as_targets, as_weights, model_dtype
from chainrule.errors import ConfigError
from chainrule.losses import are_class_labels, auto_loss, check_pair, get_loss, loss_name
from chainrule.metrics import get_metric
from chainrule.nn import Module, Sequential, output_activation_name
from chainrule.tensor import Tensor, no_grad

__all__ = ["predict", "evaluate", "score", "resolve_loss"]


def resolve_loss(model: Module, loss: str | Callable[..., Tensor], y: np.ndarray | None = None,
                 allow_mismatch: bool = False) -> str | Callable[..., Tensor]:
    """The loss to train or score with, checked against the output layer; ``"auto"`` picks one.

    ``"auto"`` is :func:`chainrule.losses.auto_loss` of the output activation, the number
    of outputs and whether ``y`` holds class labels (:func:`chainrule.losses.are_class_labels`).
    A named loss that does not fit the output activation raises the
    :func:`chainrule.losses.check_pair` ConfigError (a warning with ``allow_mismatch=True``).
    """
    output = output_activation_name(model)
    if loss != "auto":
        get_loss(loss)  # raises ConfigError for an unknown name
        check_pair(output, loss, allow_mismatch)
        return loss
    layers = model.layers() if isinstance(model, Sequential) else []
    n_out = layers[-1][0].n_out if layers else 1
    classes = y is not None and are_class_labels(y, n_out)
    # A last module that is no registry activation (a function, a custom module) counts as linear here.
    return auto_loss(output or "identity", n_out, classes)


# ------------------------------------------------------------------ applying a model
def predict(model: Module, X: Any, batch_size: int | None = 1024) -> np.ndarray:  # noqa: N803
    """The model's output for every row of X: (n_samples, n_out), in the model's dtype.

    Runs in evaluation mode (dropout off) without recording a graph, ``batch_size``
    rows at a time (None: all at once); the model's mode is restored afterwards.
    A memory-mapped X is read and cast chunk by chunk (:mod:`chainrule.batches`), never whole.
    """
    dtype = model_dtype(model)
    x = as_batch_source(X, dtype)
    step = len(x) if batch_size is None else int(batch_size)
    if step < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size!r}")
    outputs = []
    with model.evaluating(), no_grad():
        for i in range(0, len(x), step):
            outputs.append(model(Tensor(np.asarray(x[i:i + step], dtype=dtype))).data)
            release_pages(x)
    return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)


def score(model: Module, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, loss: Any,
          metrics: Sequence[Any], batch_size: int | None = 1024) -> dict[str, Any]:
    """:func:`evaluate` on data already checked (x in the model's dtype)."""
    out = predict(model, x, batch_size)
    with no_grad():
        results: dict[str, Any] = {"loss": float(get_loss(loss).__call__(out, y, w).item())}
    name = loss_name(loss) or ""
    threshold = 0.0 if name.endswith("_with_logits") else 0.5
    for spec in metrics:
        metric_name, fn = get_metric(spec)
        if metric_name == "accuracy":
            results[metric_name] = fn(y, out, threshold=threshold, sample_weight=w)
        elif metric_name in ("mse", "mean_squared_error", "r2"):
            results[metric_name] = fn(y, out, sample_weight=w)
        else:
            results[metric_name] = fn(y, out)
    return results


def evaluate(model: Module, X: Any, y: Any, loss: Any = "auto",  # noqa: N803
             metrics: Sequence[Any] = ("accuracy",), batch_size: int | None = 1024,
             sample_weight: Any = None, allow_mismatch: bool = False) -> dict[str, Any]:
    """The loss and metrics of the model on (X, y), in evaluation mode.

    Returns ``{"loss": E, "<metric>": value, ...}``. ``loss="auto"`` picks the loss as
    :func:`resolve_loss` does. Metric names are those of this module
    (``"accuracy"``, ``"top5_accuracy"``, ``"mse"``, ``"r2"``) or functions
    f(y_true, y_pred). With one output per sample, accuracy thresholds probabilities
    at 0.5 and logits (a ``*_with_logits`` loss) at 0. For regression pass
    ``metrics=("mse", "r2")``. A loss that does not fit the output activation is refused
    as :func:`resolve_loss` refuses it, unless ``allow_mismatch=True``.

    Examples
    --------
    >>> import chainrule as cr
    >>> net = cr.MLP([2, 2], output_activation="softmax", seed=0)
    >>> from chainrule.evaluation import evaluate
    >>> sorted(evaluate(net, [[0.0, 1.0], [1.0, 0.0]], [0, 1]))
    ['accuracy', 'loss']
    """
    dtype = model_dtype(model)
    x = as_batch_source(X, dtype)  # a memory map stays on disk
    targets = as_targets(y, len(x), dtype)
    loss = resolve_loss(model, loss, targets, allow_mismatch)
    return score(model, x, targets, as_weights(sample_weight, len(x), dtype), loss, metrics, batch_size)
