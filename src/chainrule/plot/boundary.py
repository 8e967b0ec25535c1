"""Decision boundaries: a classifier's answer on a grid over 2-D data, with the data on top.

The grid covers the data's bounding box plus a margin. Every grid point is classified
by the model itself (``predict`` where the model has one), so the coloured regions are
exactly the model's predictions; where a probability is available (``predict_proba``,
or a network's sigmoid/softmax output) it shades the regions by confidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, DataError, ShapeError
from chainrule.plot import _figure

__all__ = ["DecisionGrid", "decision_grid", "plot_decision_boundary"]


@dataclass(frozen=True)
class DecisionGrid:
    """A model's predictions on a regular grid over the plane.

    Attributes
    ----------
    xx, yy : numpy.ndarray, shape (resolution, resolution)
        Grid coordinates (``numpy.meshgrid`` of the two axes).
    labels : numpy.ndarray, shape (resolution, resolution)
        Index into ``classes`` of the predicted class at each grid point.
    proba : numpy.ndarray or None, shape (resolution, resolution)
        Probability of ``classes[1]`` for two classes, of the predicted class for more,
        None when the model gives no probabilities.
    classes : numpy.ndarray, shape (n_classes,)
        The class labels, in the model's order.
    """

    xx: np.ndarray
    yy: np.ndarray
    labels: np.ndarray
    proba: np.ndarray | None
    classes: np.ndarray

    @property
    def points(self) -> np.ndarray:
        """The grid points as rows, shape (resolution**2, 2), in ``labels.ravel()`` order."""
        return np.column_stack([self.xx.ravel(), self.yy.ravel()])


def _check_xy(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray | None]:  # noqa: N803 - scikit-learn's name
    data = np.asarray(X)
    if data.dtype.kind not in "biuf":
        raise DataError(f"X must hold numbers, got an array of dtype {data.dtype}")
    if data.ndim != 2 or data.shape[1] != 2:
        raise ShapeError(
            f"a decision boundary is drawn for 2-D data: X must have shape (n_samples, 2), got shape "
            f"{data.shape}; project the data to two features first (e.g. with PCA)"
        )
    if data.shape[0] == 0:
        raise DataError("X is empty: a decision boundary needs at least one sample to set the plot's extent")
    if not np.all(np.isfinite(data)):
        raise DataError("X contains NaN or inf; the grid's extent cannot be computed")
    if y is None:
        return data.astype(np.float64), None
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = np.argmax(y, axis=1)  # one-hot targets
    y = y.reshape(-1) if y.ndim == 2 else y
    if y.ndim != 1 or y.shape[0] != data.shape[0]:
        raise ShapeError(f"y must have one label per row of X, shape ({data.shape[0]},); got shape {y.shape}")
    return data.astype(np.float64), y


def _final_activation(model: Any) -> str | None:
    from chainrule.nn import Activation, Sequential

    if isinstance(model, Sequential) and len(model) and isinstance(model[len(model) - 1], Activation):
        return model[len(model) - 1].name
    return None


def _network_predict(model: Any, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class index, probability and classes from a chainrule module's output.

    One output: a sigmoid output is P(class 1); a tanh output is mapped by (out + 1) / 2;
    any other (a linear output) is read as a logit. Several outputs: the predicted class
    is the largest; softmax outputs are probabilities, others are passed through softmax.
    """
    from chainrule import ops
    from chainrule.plot._numbers import evaluating
    from chainrule.tensor import no_grad

    dtype = getattr(model, "dtype", np.float64)
    with no_grad(), evaluating(model):
        out = np.asarray(model(points.astype(dtype)).data, dtype=np.float64)
    if out.ndim == 1:
        out = out[:, None]
    last = _final_activation(model)
    if out.shape[1] == 1:
        score = out[:, 0]
        if last == "sigmoid":
            p = score
        elif last == "tanh":
            p = (score + 1.0) / 2.0
        else:
            p = ops.ACTIVATIONS["sigmoid"].forward(score)
        return (p > 0.5).astype(np.intp), p, np.array([0, 1])
    if last == "softmax":
        probabilities = out
    elif last == "log_softmax":
        probabilities = np.exp(out)
    else:
        probabilities = ops.ACTIVATIONS["softmax"].forward(out, axis=-1)
    index = np.argmax(out, axis=1)
    p = probabilities[:, 1] if out.shape[1] == 2 else probabilities[np.arange(len(index)), index]
    return index, p, np.arange(out.shape[1])


def _estimator_predict(model: Any, points: np.ndarray, y: np.ndarray | None
                       ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Class index, probability and classes from a fitted estimator's own predict/predict_proba."""
    proba = np.asarray(model.predict_proba(points), dtype=np.float64) if hasattr(model, "predict_proba") else None
    classes = getattr(model, "classes_", None)
    if hasattr(model, "predict"):
        predicted = np.asarray(model.predict(points))
        if classes is None:
            known = predicted if y is None else np.concatenate([predicted, y.astype(predicted.dtype)])
            classes = np.unique(known)
            if len(classes) > 50:
                raise ConfigError(
                    f"the model predicted {len(classes)} different values on the grid: a decision boundary needs "
                    "a classifier (give it classes_ or predict_proba), not a regressor"
                )
        classes = np.asarray(classes)
        index = _label_index(predicted, classes)
        if np.any(index < 0):
            raise DataError(
                f"the model predicted labels {sorted(set(predicted[index < 0].tolist()))} that are not among "
                f"its classes {classes.tolist()}"
            )
    else:
        index = np.argmax(proba, axis=1)
        classes = np.asarray(classes) if classes is not None else np.arange(proba.shape[1])
    p = None
    if proba is not None:
        p = proba[:, 1] if proba.shape[1] == 2 else proba[np.arange(len(index)), index]
    return index.astype(np.intp), p, classes


def decision_grid(model: Any, X: Any, y: Any = None, resolution: int = 200,  # noqa: N803 - scikit-learn's name
                  margin: float = 0.1) -> DecisionGrid:
    """Classify every point of a grid over 2-D data.

    Parameters
    ----------
    model : chainrule Module, fitted estimator, or callable
        A network (its output read as in the module notes), an estimator with ``predict``
        and/or ``predict_proba`` (chainrule's or scikit-learn's), or a function mapping
        points (n, 2) to network-like outputs (n, k).
    X : array_like, shape (n_samples, 2)
        The data; the grid spans its bounding box plus ``margin`` times its size.
    y : array_like, shape (n_samples,), optional
        Labels; used only to name the classes of an estimator that has no ``classes_``.
    resolution : int
        Grid points per axis (at least 2).
    margin : float
        Extra space around the data, as a fraction of its width and height.

    Returns
    -------
    DecisionGrid
    """
    data, y = _check_xy(X, y)
    if int(resolution) < 2:
        raise ConfigError(f"resolution must be at least 2 grid points per axis, got {resolution}")
    resolution = int(resolution)
    low, high = data.min(axis=0), data.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    low, high = low - margin * span, high + margin * span
    xx, yy = np.meshgrid(np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution))
    points = np.column_stack([xx.ravel(), yy.ravel()])

    from chainrule.nn import Module

    if isinstance(model, Module):
        index, p, classes = _network_predict(model, points)
    elif hasattr(model, "predict") or hasattr(model, "predict_proba"):
        index, p, classes = _estimator_predict(model, points, y)
    elif callable(model):
        index, p, classes = _network_predict(_Callable(model), points)
    else:
        raise ConfigError(
            f"cannot classify with a {type(model).__name__}: expected a chainrule Module, a fitted "
            "estimator with predict or predict_proba, or a function of the points"
        )
    shape = xx.shape
    return DecisionGrid(xx, yy, index.reshape(shape), None if p is None else p.reshape(shape), classes)


class _Callable:
    """A plain function seen as a network with a linear output."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, points: np.ndarray) -> Any:
        from chainrule.tensor import Tensor

        return Tensor(np.asarray(self.fn(points), dtype=np.float64))


def plot_decision_boundary(model: Any, X: Any, y: Any = None, path: str | Path | None = None,  # noqa: N803
                           resolution: int = 200, ax: Any = None, margin: float = 0.1,
                           title: str | None = None) -> Any:
    """Draw the model's predicted class over the plane, with the data points on top.

    Two classes are shaded by P(second class) from blue to red, with the boundary
    P = 0.5 drawn as a black line; more classes get one colour each, lighter where the
    model is less sure. Points are coloured by their true label ``y``.

    Parameters
    ----------
    model : chainrule Module, fitted estimator, or callable
        See :func:`decision_grid`.
    X : array_like, shape (n_samples, 2)
        2-D data.
    y : array_like, shape (n_samples,), optional
        True labels, for the points' colours.
    path : str or Path, optional
        Save to this file; the suffix picks the format (``.png``, ``.svg``, ``.pdf``).
    resolution : int
        Grid points per axis.
    ax : matplotlib Axes, optional
        Draw here instead of on a new figure.
    margin : float
        Extra space around the data, as a fraction of its size.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ShapeError
        When X is not (n_samples, 2) or y does not match it.
    """
    path = _figure.check_path(path)
    grid = decision_grid(model, X, y, resolution=resolution, margin=margin)
    data, y = _check_xy(X, y)
    from matplotlib.colors import ListedColormap, to_rgba

    fig, ax = _figure.new_axes(ax, figsize=(5.6, 4.8))
    n_classes = len(grid.classes)
    edges = (grid.xx[0, 0], grid.xx[0, -1], grid.yy[0, 0], grid.yy[-1, 0])
    if n_classes == 2 and grid.proba is not None:
        mesh = ax.pcolormesh(grid.xx, grid.yy, grid.proba, cmap="RdBu_r", vmin=0.0, vmax=1.0,
                             shading="auto", alpha=0.75, rasterized=True)
        mesh.set_gid("decision-proba")
        bar = fig.colorbar(mesh, ax=ax, shrink=0.85)
        bar.set_label(f"P(class {grid.classes[1]})")
        point_colours = [to_rgba("#2166ac"), to_rgba("#b2182b")]
    else:
        palette = [to_rgba(c) for c in _palette(n_classes)]
        mesh = ax.pcolormesh(grid.xx, grid.yy, grid.labels, cmap=ListedColormap(palette),
                             vmin=-0.5, vmax=n_classes - 0.5, shading="auto", alpha=0.35, rasterized=True)
        if grid.proba is not None:
            # Fade the colour where the model is unsure: white over the regions, more where p is low.
            unsure = np.clip((1.0 - grid.proba) * n_classes / (n_classes - 1), 0.0, 1.0) if n_classes > 1 else 0
            veil = np.zeros(grid.labels.shape + (4,))
            veil[..., :3] = 1.0
            veil[..., 3] = 0.6 * unsure
            ax.imshow(veil, extent=edges, origin="lower", aspect="auto", interpolation="bilinear")
        point_colours = palette
    mesh.set_gid("decision-regions")
    if n_classes > 1 and np.ptp(grid.labels) > 0:
        levels = np.arange(n_classes - 1) + 0.5
        ax.contour(grid.xx, grid.yy, grid.labels, levels=levels, colors="k", linewidths=1.2)

    if y is not None:
        index = _label_index(y, grid.classes)
        for k, label in enumerate(grid.classes):
            chosen = index == k
            if np.any(chosen):
                ax.scatter(data[chosen, 0], data[chosen, 1], s=18, color=point_colours[k % len(point_colours)],
                           edgecolors="k", linewidths=0.5, label=str(label), zorder=3)
        unknown = index < 0
        if np.any(unknown):
            ax.scatter(data[unknown, 0], data[unknown, 1], s=18, color="0.5", edgecolors="k", linewidths=0.5,
                       label="other", zorder=3)
        ax.legend(title="class", loc="best", fontsize="small", framealpha=0.85)
    else:
        ax.scatter(data[:, 0], data[:, 1], s=14, color="0.2", zorder=3)
    ax.set_xlim(edges[0], edges[1])
    ax.set_ylim(edges[2], edges[3])
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    if title:
        ax.set_title(title)
    _figure.save(fig, path)
    return fig


def _palette(n: int) -> list[str]:
    base = ["#2166ac", "#b2182b", "#1b7837", "#e08214", "#762a83", "#35978f", "#8c510a", "#de77ae",
            "#4d4d4d", "#bf812d"]
    return [base[k % len(base)] for k in range(n)]


def _label_index(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Position of each label in ``classes``; -1 for labels the model does not know."""
    lookup = {c.item() if hasattr(c, "item") else c: k for k, c in enumerate(classes)}
    return np.array([lookup.get(v.item() if hasattr(v, "item") else v, -1) for v in y], dtype=np.intp)
