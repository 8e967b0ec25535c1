"""Weight initialisers, all drawing from an explicit ``numpy.random.Generator``.

Each takes ``(shape, rng, dtype)`` for a weight of shape (n_in, n_out), so
fan_in = n_in and fan_out = n_out. The same seed gives the same numbers on every
machine (NumPy's PCG64 generator is platform-independent).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.errors import ConfigError

__all__ = [
    "zeros", "constant", "uniform", "normal", "xavier_uniform", "xavier_normal",
    "he_uniform", "he_normal", "get_initializer", "make_rng", "INITIALIZERS",
]

Initializer = Callable[..., np.ndarray]


def make_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A Generator from a seed (an existing Generator is used as it is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 1:
        return shape[0], shape[0]
    return shape[0], shape[1]


def zeros(shape: tuple[int, ...], rng: np.random.Generator, dtype: Any = np.float64) -> np.ndarray:
    """All zeros."""
    return np.zeros(shape, dtype=dtype)


def constant(shape: tuple[int, ...], rng: np.random.Generator, dtype: Any = np.float64,
             value: float = 0.0) -> np.ndarray:
    """Every element equal to ``value``."""
    return np.full(shape, value, dtype=dtype)


def uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype: Any = np.float64,
            low: float = -0.05, high: float = 0.05) -> np.ndarray:
    """U(low, high)."""
    return rng.uniform(low, high, size=shape).astype(dtype)


def normal(shape: tuple[int, ...], rng: np.random.Generator, dtype: Any = np.float64,
           mean: float = 0.0, std: float = 0.05) -> np.ndarray:
    """N(mean, std^2)."""
    return rng.normal(mean, std, size=shape).astype(dtype)


def xavier_uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype: Any = np.float64,
                   gain: float = 1.0) -> np.ndarray:
    """Glorot & Bengio (2010): U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def xavier_normal(shape: tuple[int, ...], rng: np.random.Generator, dtype: Any = np.float64,
                  gain: float = 1.0) -> np.ndarray:
    """Glorot & Bengio (2010): N(0, s^2) with s = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape)
    return rng.normal(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), size=shape).astype(dtype)


def he_uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype: Any = np.float64,
               gain: float = math.sqrt(2.0)) -> np.ndarray:
    """He et al. (2015), for ReLU layers: U(-a, a) with a = gain * sqrt(3 / fan_in)."""
    fan_in, _ = _fans(shape)
    bound = gain * math.sqrt(3.0 / fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def he_normal(shape: tuple[int, ...], rng: np.random.Generator, dtype: Any = np.float64,
              gain: float = math.sqrt(2.0)) -> np.ndarray:
    """He et al. (2015), for ReLU layers: N(0, s^2) with s = gain / sqrt(fan_in)."""
    fan_in, _ = _fans(shape)
    return rng.normal(0.0, gain / math.sqrt(fan_in), size=shape).astype(dtype)


INITIALIZERS: dict[str, Initializer] = {
    "zeros": zeros,
    "constant": constant,
    "uniform": uniform,
    "normal": normal,
    "xavier_uniform": xavier_uniform,
    "glorot_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "glorot_normal": xavier_normal,
    "he_uniform": he_uniform,
    "kaiming_uniform": he_uniform,
    "he_normal": he_normal,
    "kaiming_normal": he_normal,
}


def get_initializer(init: str | Initializer) -> Initializer:
    """An initialiser by name, or ``init`` itself when it is callable."""
    if callable(init):
        return init
    try:
        return INITIALIZERS[init]
    except KeyError:
        raise ConfigError(
            f"unknown initialiser {init!r}; choose one of {', '.join(INITIALIZERS)} or pass a "
            f"callable (shape, rng, dtype) -> array"
        ) from None
