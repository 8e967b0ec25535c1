"""Data entering the library: inputs, targets, sample weights, checked here and nowhere else.

Everything a user hands to ``fit``, ``predict``, ``evaluate``, a loss function or the
captured plan passes through these functions, which trust nothing and raise one error
class per mistake; past them the library trusts its arrays. Shapes:

* inputs X: (n_samples, n_features), a float dtype (the model's);
* targets: rows (n_samples, n_out) of numbers, or class indices (n_samples,) that become
  one-hot rows (target_k = 1 for the true class k, else 0) for the losses that take them;
* sample weights w: (n_samples,), finite, >= 0 and not all zero.

Each error class below is a :class:`~chainrule.errors.DataError` (and a
:class:`~chainrule.errors.ShapeError` where the mistake is a shape), so code catching
either keeps working.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ConfigError, DataError, ShapeError
from chainrule.tensor import Tensor

__all__ = [
    "NotNumbersError", "RaggedRowsError", "EmptyDataError", "NonFiniteError", "LayoutError", "SampleCountError",
    "ClassIndexError", "WeightValueError",
    "as_numbers", "all_finite", "require_finite", "model_dtype", "as_inputs", "as_targets", "as_weights",
    "loss_targets", "one_hot", "loss_weights",
]

Array = np.ndarray


# ------------------------------------------------------------------ one error class per mistake
class NotNumbersError(DataError):
    """An array of strings, objects or anything else that is not numbers."""


class RaggedRowsError(DataError):
    """Rows of different lengths, which NumPy cannot stack into one array."""


class EmptyDataError(DataError):
    """No samples at all."""


class NonFiniteError(DataError):
    """NaN or inf among the numbers."""


class LayoutError(DataError, ShapeError):
    """An array of the wrong shape for its role: X not (n_samples, n_features), targets not matching the outputs."""


class SampleCountError(DataError, ShapeError):
    """Targets or weights whose count differs from the number of samples."""


class ClassIndexError(DataError):
    """Class indices that are not whole numbers or fall outside 0 .. n_out - 1."""


class WeightValueError(DataError):
    """Sample weights that are negative, NaN or inf, or all zero."""


# ------------------------------------------------------------------ arrays
def as_numbers(data: Any, what: str, items: str = "numbers") -> Array:
    """``data`` (a Tensor, array or nested lists) as a NumPy array of numbers (booleans included)."""
    try:
        array = np.asarray(data.data if isinstance(data, Tensor) else data)
    except ValueError:  # NumPy refuses rows of different lengths
        raise RaggedRowsError(f"{what} has rows of different lengths; every sample needs the same number of "
                              f"{items}") from None
    if array.dtype.kind not in "biuf":
        raise NotNumbersError(f"{what} must be numbers, got an array of dtype {array.dtype}")
    return array


def all_finite(array: Array) -> bool:
    """Whether every number in ``array`` is finite, without a boolean copy of a large array.

    A sum is finite when every term is (NaN and inf propagate); only when the sum is not
    (a NaN or inf, or finite numbers whose sum overflows) is each number looked at.
    """
    if array.dtype.kind not in "fc":
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(array, axis=None)
    return bool(np.isfinite(total)) or bool(np.isfinite(array).all())


def require_finite(array: Array, what: str, fix: str = "clean or impute the data first") -> None:
    """Raise :class:`NonFiniteError` when ``array`` holds NaN or inf."""
    if not all_finite(array):
        raise NonFiniteError(f"{what} contains NaN or inf; {fix}")


def model_dtype(model: Any) -> np.dtype:
    """The dtype of the model's parameters (one for all of them), which data entering it takes."""
    dtypes = {p.data.dtype for p in model.parameters()}
    if not dtypes:
        raise ConfigError(f"{type(model).__name__} has no parameters")
    if len(dtypes) > 1:
        raise ConfigError(f"the model mixes parameter dtypes {sorted(map(str, dtypes))}; use one")
    return dtypes.pop()


# ------------------------------------------------------------------ whole data sets (fit, predict, evaluate)
def as_inputs(data: Any, dtype: np.dtype, what: str = "X") -> Array:
    """``data`` as a finite, C-contiguous (n_samples, n_features) array of ``dtype``."""
    array = as_numbers(data, what, "features")
    if array.ndim != 2:
        hint = "; reshape one feature with X.reshape(-1, 1)" if array.ndim == 1 else ""
        raise LayoutError(f"{what} must have shape (n_samples, n_features), got {array.shape}{hint}")
    if array.shape[0] == 0:
        raise EmptyDataError(f"{what} holds no samples")
    array = np.ascontiguousarray(array, dtype=dtype)
    require_finite(array, what)
    return array


def as_targets(data: Any, n: int, dtype: np.dtype, what: str = "y") -> Array:
    """Targets with one row per sample; float and boolean targets take ``dtype``, class indices stay integers."""
    array = as_numbers(data, what, "targets")
    if array.ndim == 0 or array.shape[0] != n:
        raise SampleCountError(f"{what} must hold one target per sample ({n}), got shape {array.shape}")
    if array.dtype.kind in "fb":
        array = array.astype(dtype, copy=False)
        require_finite(array, what, "clean or drop those samples first")
    return array


def as_weights(sample_weight: Any, n: int, dtype: np.dtype, what: str = "sample_weight") -> Array | None:
    """Sample weights (n,) of ``dtype``, finite, >= 0 and not all zero; None stays None."""
    if sample_weight is None:
        return None
    w = as_numbers(sample_weight, what).astype(dtype, copy=False).reshape(-1)
    if w.shape != (n,):
        raise SampleCountError(f"{what} must hold one weight per sample, shape ({n},), got shape {w.shape}")
    if not all_finite(w) or (w < 0).any() or not w.sum() > 0:
        raise WeightValueError(f"{what} must be finite, >= 0 and not all zero")
    return w


# ------------------------------------------------------------------ one batch for a loss
def loss_targets(name: str, target: Any, n: int, k: int, dtype: np.dtype, class_targets: bool,
                 out: Array | None = None, rows: Array | None = None) -> Array:
    """``target`` as (n, k) rows of ``dtype`` for the loss ``name`` on n outputs rows of k.

    Class indices (n,) become one-hot rows where the loss takes them (``class_targets``;
    for k = 1 only integer indices do, float (n,) is one value per sample), written into
    ``out`` when given (``rows``: ``np.arange(n)``, when the caller keeps one). A (n,)
    target for one output becomes a column.
    """
    raw = target if type(target) is np.ndarray else as_numbers(target, f"{name}: targets")
    if raw.dtype.kind not in "biuf":
        raise NotNumbersError(f"{name}: targets must be numbers, got dtype {raw.dtype}")
    if class_targets and raw.ndim == 1 and raw.shape[0] == n and (k > 1 or raw.dtype.kind in "biu"):
        return one_hot(name, raw, n, k, dtype, out, rows)
    if raw.ndim == 1 and k == 1 and raw.shape[0] == n:
        raw = raw.reshape(n, 1)
    if raw.shape != (n, k):
        expected = f"({n}, {k})" + (f" or class indices of shape ({n},)" if class_targets else "")
        raise LayoutError(f"{name}: target shape {raw.shape} does not match the output; expected {expected}")
    return raw if raw.dtype is dtype else raw.astype(dtype)


def one_hot(name: str, labels: Array, n: int, k: int, dtype: np.dtype, out: Array | None = None,
            rows: Array | None = None) -> Array:
    """One-hot rows (n, k) for class indices ``labels`` (n,) in 0 .. k - 1, into ``out`` when given."""
    if labels.dtype.kind == "f" and not (np.isfinite(labels).all() and (labels == np.round(labels)).all()):
        raise ClassIndexError(f"{name}: class-index targets must be whole numbers, got {labels[:5]}")
    if labels.dtype != np.intp:
        labels = labels.astype(np.intp)
    if out is None:
        out = np.empty((n, k), dtype)
    out.fill(0)
    if n and (labels.min() < 0 or labels.max() >= k):  # a negative index would count from the end
        raise ClassIndexError(f"{name}: class indices must lie in 0..{k - 1} for {k} outputs, got values from "
                              f"{labels.min()} to {labels.max()}")
    out[np.arange(n) if rows is None else rows, labels] = 1
    return out


def loss_weights(name: str, sample_weight: Any, n: int, dtype: np.dtype) -> Array:
    """Sample weights of one batch for the loss ``name``: (n,), finite, >= 0 and not all zero."""
    return as_weights(sample_weight, n, dtype, f"{name}: sample_weight")
