"""Figures of merit for predictions, and ``predict``/``evaluate`` that apply a model to data.

Everything here is NumPy alone. Classification metrics accept the network's raw output: scores of shape
(batch, n_classes) are turned into labels by argmax, a single score per sample
(batch,) or (batch, 1) by a threshold; targets may be class indices (batch,) or
one-hot rows (batch, n_classes). Regression metrics follow scikit-learn's
definitions, averaging uniformly over outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, DataError, ShapeError
from chainrule.losses import LOSSES, get_loss
from chainrule.nn import Module
from chainrule.tensor import Tensor, no_grad

__all__ = [
    "accuracy", "top_k_accuracy", "confusion_matrix", "mean_squared_error", "r2", "to_labels",
    "METRICS", "get_metric", "predict", "evaluate",
]


def _as_numeric(value: Any, what: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise DataError(f"{what} must be numbers, got an array of dtype {array.dtype}")
    return array


def to_labels(values: Any, threshold: float = 0.5, what: str = "y") -> np.ndarray:
    """Class labels (batch,) from labels, one-hot rows, scores (argmax) or single scores (threshold).

    Integer or boolean arrays of shape (batch,) are labels already; float arrays of
    shape (batch,) or (batch, 1) are binary scores, label = 1 where score > threshold;
    (batch, k) with k > 1 is argmax over k.
    """
    array = _as_numeric(values, what)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 1:
        if array.dtype.kind in "biu":
            return array.astype(np.int64)
        return (array > threshold).astype(np.int64)
    if array.ndim == 2:
        return np.argmax(array, axis=1)
    raise ShapeError(f"{what}: expected labels (batch,) or scores (batch, n_classes), got shape {array.shape}")


def _target_labels(y_true: Any) -> np.ndarray:
    """Class indices (batch,) from targets given as indices (any numeric dtype) or one-hot rows."""
    truth = _as_numeric(y_true, "y_true")
    if truth.ndim == 2 and truth.shape[1] > 1:
        return np.argmax(truth, axis=1)
    truth = truth.reshape(-1) if truth.ndim == 2 else truth
    if truth.ndim != 1:
        raise ShapeError(f"y_true: expected class indices (batch,) or one-hot rows, got shape {truth.shape}")
    if truth.dtype.kind == "f" and np.any(truth != np.round(truth)):
        raise DataError("this metric needs class labels as targets, got non-integer values; "
                        "for regression use metrics=('mse', 'r2')")
    return truth.astype(np.int64)


def _pair(y_true: Any, y_pred: Any, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    true_labels = _target_labels(y_true)
    pred_labels = to_labels(y_pred, threshold, "y_pred")
    if true_labels.shape != pred_labels.shape:
        raise ShapeError(f"y_true holds {true_labels.shape[0]} samples, y_pred {pred_labels.shape[0]}")
    if true_labels.size == 0:
        raise DataError("cannot score an empty set of samples")
    return true_labels, pred_labels


def accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5, sample_weight: Any = None) -> float:
    """Fraction of samples whose predicted class equals the target class.

    Parameters
    ----------
    y_true : array_like
        Class indices (batch,) or one-hot rows (batch, n_classes).
    y_pred : array_like
        Labels (batch,), scores (batch, n_classes), or one score per sample (batch,)
        or (batch, 1) compared with ``threshold`` (0.5 for probabilities, 0 for logits).
    sample_weight : array_like, optional
        Weights (batch,): the weighted fraction.

    Examples
    --------
    >>> accuracy([0, 1, 1], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    0.6666666666666666
    >>> accuracy([1, 0], [0.7, 0.2])
    1.0
    """
    truth, pred = _pair(y_true, y_pred, threshold)
    return float(np.average(truth == pred, weights=sample_weight))


def top_k_accuracy(y_true: Any, y_score: Any, k: int = 5) -> float:
    """Fraction of samples whose target class is among the k highest scores.

    y_true: class indices (batch,) or one-hot rows; y_score: (batch, n_classes).
    """
    scores = _as_numeric(y_score, "y_score")
    if scores.ndim != 2:
        raise ShapeError(f"top_k_accuracy needs scores of shape (batch, n_classes), got {scores.shape}")
    if not (isinstance(k, (int, np.integer)) and k >= 1):
        raise ConfigError(f"k must be an integer >= 1, got {k!r}")
    truth = _target_labels(y_true)
    if truth.shape[0] != scores.shape[0]:
        raise ShapeError(f"y_true holds {truth.shape[0]} samples, y_score {scores.shape[0]}")
    if k >= scores.shape[1]:
        return 1.0
    # A class is in the top k when fewer than k classes score strictly higher.
    target_scores = scores[np.arange(len(truth)), truth]
    higher = np.sum(scores > target_scores[:, None], axis=1)
    return float(np.mean(higher < k))


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int | None = None, threshold: float = 0.5) -> np.ndarray:
    """Counts C[i, j] of samples of true class i predicted as class j, shape (n_classes, n_classes).

    Rows are true classes, columns predicted ones, as in scikit-learn; labels must be
    0 .. n_classes - 1 (``n_classes`` defaults to the largest label + 1).
    """
    truth, pred = _pair(y_true, y_pred, threshold)
    if min(truth.min(), pred.min()) < 0:
        raise DataError("confusion_matrix needs labels >= 0")
    n = int(max(truth.max(), pred.max()) + 1) if n_classes is None else int(n_classes)
    if max(truth.max(), pred.max()) >= n:
        raise DataError(f"labels reach {max(truth.max(), pred.max())}, more than n_classes={n} allows")
    return np.bincount(truth * n + pred, minlength=n * n).reshape(n, n)


def _regression_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    truth = _as_numeric(y_true, "y_true").astype(np.float64)
    pred = _as_numeric(y_pred, "y_pred").astype(np.float64)
    truth = truth.reshape(len(truth), -1) if truth.ndim != 2 else truth
    pred = pred.reshape(len(pred), -1) if pred.ndim != 2 else pred
    if truth.shape != pred.shape:
        raise ShapeError(f"y_true has shape {truth.shape}, y_pred {pred.shape}")
    if truth.shape[0] == 0:
        raise DataError("cannot score an empty set of samples")
    return truth, pred


def mean_squared_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """mean_n mean_k (target_nk - out_nk)^2 (weighted over samples), as scikit-learn's.

    Examples
    --------
    >>> mean_squared_error([1.0, 2.0], [1.5, 2.0])
    0.125
    """
    truth, pred = _regression_pair(y_true, y_pred)
    return float(np.mean(np.average((truth - pred) ** 2, axis=0, weights=sample_weight)))


def r2(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """Coefficient of determination R^2 = 1 - SS_res / SS_tot, averaged over outputs.

    SS_res = sum_n w_n (target_n - out_n)^2, SS_tot = sum_n w_n (target_n - mean target)^2.
    An output whose target is constant scores 1 when predicted exactly and 0 otherwise,
    as in scikit-learn.
    """
    truth, pred = _regression_pair(y_true, y_pred)
    w = np.ones(truth.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    w = w[:, None]
    residual = np.sum(w * (truth - pred) ** 2, axis=0)
    mean = np.sum(w * truth, axis=0) / np.sum(w)
    total = np.sum(w * (truth - mean) ** 2, axis=0)
    scores = np.ones(truth.shape[1])
    nonzero = total != 0
    scores[nonzero] = 1 - residual[nonzero] / total[nonzero]
    scores[~nonzero & (residual != 0)] = 0.0
    return float(np.mean(scores))


METRICS: dict[str, Callable[..., float]] = {
    "accuracy": accuracy,
    "top_k_accuracy": top_k_accuracy,
    "mse": mean_squared_error,
    "mean_squared_error": mean_squared_error,
    "r2": r2,
}


def get_metric(spec: str | Callable[..., float]) -> tuple[str, Callable[..., float]]:
    """(name, function) for a metric name, ``"top<k>_accuracy"`` (e.g. ``"top5_accuracy"``), or a callable.

    A callable is called as ``f(y_true, y_pred)`` and named by its ``__name__``.
    """
    if callable(spec):
        return getattr(spec, "__name__", "metric"), spec
    if isinstance(spec, str):
        if spec in METRICS:
            return spec, METRICS[spec]
        if spec.startswith("top") and spec.endswith("_accuracy") and spec[3:-9].isdigit():
            k = int(spec[3:-9])
            return spec, lambda y_true, y_pred: top_k_accuracy(y_true, y_pred, k=k)
    raise ConfigError(f"unknown metric {spec!r}; choose one of {', '.join(METRICS)}, 'top<k>_accuracy', "
                      "or pass a function f(y_true, y_pred) -> float")


# ------------------------------------------------------------------ checking data for a model
def model_dtype(model: Module) -> np.dtype:
    """The dtype of the model's parameters (one for all of them)."""
    dtypes = {p.data.dtype for p in model.parameters()}
    if not dtypes:
        raise ConfigError(f"{type(model).__name__} has no parameters")
    if len(dtypes) > 1:
        raise ConfigError(f"the model mixes parameter dtypes {sorted(map(str, dtypes))}; use one")
    return dtypes.pop()


def all_finite(array: np.ndarray) -> bool:
    """Whether every number in ``array`` is finite, without a boolean copy of a large array.

    A sum is finite when every term is (NaN and inf propagate); only when the sum is not
    (a NaN or inf, or finite numbers whose sum overflows) is each number looked at.
    """
    if array.dtype.kind not in "fc":
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(array, axis=None)
    return bool(np.isfinite(total)) or bool(np.isfinite(array).all())


def as_inputs(data: Any, dtype: np.dtype, what: str = "X") -> np.ndarray:
    """``data`` as a finite, C-contiguous (n_samples, n_features) array of ``dtype``."""
    array = _as_array(data, what, "features")
    if array.dtype.kind not in "biuf":
        raise DataError(f"{what} must be numbers, got an array of dtype {array.dtype}")
    if array.ndim != 2:
        hint = "; reshape one feature with X.reshape(-1, 1)" if array.ndim == 1 else ""
        raise DataError(f"{what} must have shape (n_samples, n_features), got {array.shape}{hint}")
    if array.shape[0] == 0:
        raise DataError(f"{what} holds no samples")
    array = np.ascontiguousarray(array, dtype=dtype)
    if not all_finite(array):
        raise DataError(f"{what} contains NaN or inf; clean or impute the data first")
    return array


def as_targets(data: Any, n: int, dtype: np.dtype, what: str = "y") -> np.ndarray:
    """Targets with one row per sample; float and boolean targets take ``dtype``, class indices stay integers."""
    array = _as_array(data, what, "targets")
    if array.dtype.kind not in "biuf":
        raise DataError(f"{what} must be numbers, got an array of dtype {array.dtype}")
    if array.ndim == 0 or array.shape[0] != n:
        raise DataError(f"{what} must hold one target per sample ({n}), got shape {array.shape}")
    if array.dtype.kind in "fb":
        array = array.astype(dtype, copy=False)
        if not all_finite(array):
            raise DataError(f"{what} contains NaN or inf; clean or drop those samples first")
    return array


def _as_array(data: Any, what: str, items: str) -> np.ndarray:
    try:
        return np.asarray(data.data if isinstance(data, Tensor) else data)
    except ValueError:  # NumPy refuses rows of different lengths
        raise DataError(f"{what} has rows of different lengths; every sample needs the same number of "
                        f"{items}") from None


def as_weights(sample_weight: Any, n: int, dtype: np.dtype) -> np.ndarray | None:
    """Sample weights (n,) of ``dtype``, or None."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=dtype).reshape(-1)
    if w.shape != (n,):
        raise DataError(f"sample_weight must hold one weight per sample ({n}), got shape {w.shape}")
    return w


# ------------------------------------------------------------------ applying a model
def predict(model: Module, X: Any, batch_size: int | None = 1024) -> np.ndarray:  # noqa: N803
    """The model's output for every row of X: (n_samples, n_out), in the model's dtype.

    Runs in evaluation mode (dropout off) without recording a graph, ``batch_size``
    rows at a time (None: all at once); the model's mode is restored afterwards.
    A memory-mapped X is read and cast chunk by chunk (:mod:`chainrule.batches`), never whole.
    """
    from chainrule.batches import as_batch_source, release_pages

    dtype = model_dtype(model)
    x = as_batch_source(X, dtype)
    step = len(x) if batch_size is None else int(batch_size)
    if step < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size!r}")
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            outputs = []
            for i in range(0, len(x), step):
                outputs.append(model(Tensor(np.asarray(x[i:i + step], dtype=dtype))).data)
                release_pages(x)
    finally:
        model.train(was_training)
    return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)


def score(model: Module, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, loss: Any,
          metrics: Sequence[Any], batch_size: int | None = 1024) -> dict[str, Any]:
    """:func:`evaluate` on data already checked (x in the model's dtype)."""
    out = predict(model, x, batch_size)
    with no_grad():
        results: dict[str, Any] = {"loss": float(get_loss(loss).__call__(out, y, w).item())}
    name = loss if isinstance(loss, str) else next((k for k, f in LOSSES.items() if f is loss), "")
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
             sample_weight: Any = None) -> dict[str, Any]:
    """The loss and metrics of the model on (X, y), in evaluation mode.

    Returns ``{"loss": E, "<metric>": value, ...}``. ``loss="auto"`` picks the loss as
    :func:`chainrule.train.resolve_loss` does. Metric names are those of this module
    (``"accuracy"``, ``"top5_accuracy"``, ``"mse"``, ``"r2"``) or functions
    f(y_true, y_pred). With one output per sample, accuracy thresholds probabilities
    at 0.5 and logits (a ``*_with_logits`` loss) at 0. For regression pass
    ``metrics=("mse", "r2")``.

    Examples
    --------
    >>> import chainrule as cr
    >>> net = cr.MLP([2, 2], output_activation="softmax", seed=0)
    >>> sorted(evaluate(net, [[0.0, 1.0], [1.0, 0.0]], [0, 1]))
    ['accuracy', 'loss']
    """
    from chainrule.batches import as_batch_source
    from chainrule.train import resolve_loss

    dtype = model_dtype(model)
    x = as_batch_source(X, dtype)  # a memory map stays on disk
    targets = as_targets(y, len(x), dtype)
    return score(model, x, targets, as_weights(sample_weight, len(x), dtype), resolve_loss(model, loss, targets),
                 metrics, batch_size)
