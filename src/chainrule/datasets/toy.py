"""Seeded two-dimensional toy sets for classification: xor, circles, moons, spirals, gaussians.

Every function returns ``x`` of shape (n_samples, 2) and integer labels ``y`` of shape
(n_samples,), with the classes as equal in size as ``n_samples`` allows and the rows
shuffled. The points are drawn from a :class:`numpy.random.Generator` made from
``seed``, so the same seed gives the same set on every machine; ``noise`` is the
standard deviation of Gaussian noise added to each coordinate after the label is fixed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.init import make_rng

__all__ = ["xor", "circles", "moons", "spirals", "gaussians", "TOY_SETS"]


def _check(n_samples: int, noise: float, n_classes: int = 2) -> None:
    if int(n_samples) != n_samples or n_samples < n_classes:
        raise ConfigError(f"n_samples must be an integer >= {n_classes} (one per class), got {n_samples!r}")
    if not np.isfinite(noise) or noise < 0:
        raise ConfigError(f"noise is a standard deviation and must be >= 0, got {noise!r}")


def _class_sizes(n_samples: int, n_classes: int) -> list[int]:
    return [n_samples // n_classes + (k < n_samples % n_classes) for k in range(n_classes)]


def _finish(rng: np.random.Generator, parts: list[np.ndarray], noise: float,
            dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """Stack the per-class points, add noise, shuffle the rows."""
    x = np.concatenate(parts)
    y = np.concatenate([np.full(len(p), k, dtype=np.int64) for k, p in enumerate(parts)])
    if noise:
        x = x + rng.normal(scale=noise, size=x.shape)
    order = rng.permutation(len(x))
    return x[order].astype(dtype), y[order]


def xor(n_samples: int = 200, noise: float = 0.0, seed: Any = None,
        dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Points uniform in the square [-1, 1]^2, labelled 1 where exactly one coordinate is positive.

    ``y = (x_1 > 0) XOR (x_2 > 0)``: class 0 in the first and third quadrants, class 1
    in the second and fourth, so no straight line separates them.

    Examples
    --------
    >>> from chainrule.datasets import xor
    >>> x, y = xor(8, seed=0)
    >>> x.shape, y.shape, bool(((x[:, 0] > 0) != (x[:, 1] > 0)).tolist() == y.tolist())
    ((8, 2), (8,), True)
    """
    _check(n_samples, noise)
    rng = make_rng(seed)
    parts = []
    for k, size in enumerate(_class_sizes(n_samples, 2)):
        # Draw |x| in (0, 1] and give each point the signs of a quadrant of class k.
        magnitude = 1.0 - rng.random((size, 2))
        first = rng.choice([-1.0, 1.0], size=size)
        second = first if k == 0 else -first
        parts.append(magnitude * np.column_stack([first, second]))
    return _finish(rng, parts, noise, dtype)


def circles(n_samples: int = 200, noise: float = 0.05, factor: float = 0.5, seed: Any = None,
            dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric circles: class 0 on radius 1, class 1 on radius ``factor`` (0 < factor < 1)."""
    _check(n_samples, noise)
    if not 0 < factor < 1:
        raise ConfigError(f"factor is the inner radius over the outer one, expected 0 < factor < 1, got {factor!r}")
    rng = make_rng(seed)
    parts = []
    for radius, size in zip((1.0, factor), _class_sizes(n_samples, 2)):
        angle = rng.uniform(0.0, 2 * np.pi, size)
        parts.append(radius * np.column_stack([np.cos(angle), np.sin(angle)]))
    return _finish(rng, parts, noise, dtype)


def moons(n_samples: int = 200, noise: float = 0.1, seed: Any = None,
          dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles of radius 1.

    Class 0: (cos t, sin t); class 1: (1 - cos t, 1/2 - sin t), for t uniform in [0, pi].
    """
    _check(n_samples, noise)
    rng = make_rng(seed)
    sizes = _class_sizes(n_samples, 2)
    t0, t1 = rng.uniform(0.0, np.pi, sizes[0]), rng.uniform(0.0, np.pi, sizes[1])
    parts = [np.column_stack([np.cos(t0), np.sin(t0)]),
             np.column_stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)])]
    return _finish(rng, parts, noise, dtype)


def spirals(n_samples: int = 200, noise: float = 0.05, n_classes: int = 2, turns: float = 1.0, seed: Any = None,
            dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """``n_classes`` interleaved spiral arms around the origin.

    Arm k holds the points r (cos theta, sin theta) with r = t uniform in [0, 1] and
    theta = 2 pi (turns t + k / n_classes).
    """
    _check(n_samples, noise, n_classes)
    if turns <= 0:
        raise ConfigError(f"turns must be > 0, got {turns!r}")
    rng = make_rng(seed)
    parts = []
    for k, size in enumerate(_class_sizes(n_samples, n_classes)):
        t = rng.random(size)
        theta = 2 * np.pi * (turns * t + k / n_classes)
        parts.append(t[:, None] * np.column_stack([np.cos(theta), np.sin(theta)]))
    return _finish(rng, parts, noise, dtype)


def gaussians(n_samples: int = 200, n_classes: int = 3, noise: float = 0.5, seed: Any = None,
              centers: Any = None, dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Round Gaussian blobs of standard deviation ``noise``, one per class.

    The centres default to ``n_classes`` points evenly spaced on the circle of radius 2;
    ``centers`` (n_classes, 2) sets them instead.
    """
    if centers is None:
        angle = 2 * np.pi * np.arange(n_classes) / n_classes
        centers = 2.0 * np.column_stack([np.cos(angle), np.sin(angle)])
    centers = np.asarray(centers, dtype=np.float64)
    if centers.ndim != 2 or centers.shape[1] != 2:
        raise ConfigError(f"centers must have shape (n_classes, 2), got {centers.shape}")
    n_classes = len(centers)
    _check(n_samples, noise, n_classes)
    rng = make_rng(seed)
    parts = [np.repeat(c[None, :], size, axis=0) for c, size in zip(centers, _class_sizes(n_samples, n_classes))]
    return _finish(rng, parts, noise, dtype)


#: The toy sets by name, for the command line.
TOY_SETS = {"xor": xor, "circles": circles, "moons": moons, "spirals": spirals, "gaussians": gaussians}
