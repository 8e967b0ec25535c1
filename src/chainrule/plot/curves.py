"""Training curves: loss and metrics per epoch, training and validation side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, DataError
from chainrule.plot import _figure

__all__ = ["history_columns", "plot_history"]

_VALIDATION_PREFIXES = ("val_", "valid_", "validation_")


def history_columns(history: Any) -> dict[str, np.ndarray]:
    """Per-epoch series from a training history, as ``{name: values (n_epochs,)}``.

    Accepts a :class:`chainrule.train.History` (or its ``to_dict()``), any object with a
    ``history`` mapping of lists (Keras style) or an ``epochs`` list of per-epoch mappings,
    or a plain mapping of lists. Validation series are the names starting with ``val_``.
    Non-numeric columns (such as timestamps kept as text) are left out.
    """
    columns: Any = None
    if isinstance(getattr(history, "history", None), Mapping):
        columns = history.history
    elif isinstance(history, Mapping):
        columns = history.get("history") if isinstance(history.get("history"), Mapping) else history
    else:
        for attribute in ("as_dict", "to_dict"):
            method = getattr(history, attribute, None)
            if callable(method):
                columns = method()
                if isinstance(columns, Mapping) and isinstance(columns.get("history"), Mapping):
                    columns = columns["history"]
                break
    if columns is None and isinstance(getattr(history, "epochs", None), Sequence):
        rows = list(history.epochs)
        if rows and all(isinstance(r, Mapping) for r in rows):
            names = list(dict.fromkeys(k for r in rows for k in r))
            columns = {k: [r.get(k, np.nan) for r in rows] for k in names}
    if columns is None:
        raise DataError(
            f"cannot read training curves from a {type(history).__name__}: expected a chainrule History, "
            "a mapping of per-epoch lists such as {'loss': [...], 'val_loss': [...]}, or an object with "
            "a .history mapping"
        )
    series: dict[str, np.ndarray] = {}
    for name, values in dict(columns).items():
        if name in ("epoch", "epochs"):
            continue
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if array.ndim == 1 and array.size:
            series[str(name)] = array
    if not series:
        raise DataError(f"the history holds no per-epoch numbers (columns: {sorted(map(str, columns))})")
    return series


def _split(name: str) -> tuple[str, bool]:
    for prefix in _VALIDATION_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):], True
    return name, False


def plot_history(history: Any, path: str | Path | None = None, metrics: Sequence[str] | None = None,
                 log_loss: bool = False, title: str | None = None) -> Any:
    """Plot training curves: one panel per metric, training solid, validation dashed.

    Parameters
    ----------
    history : History, mapping or Keras-like object
        Per-epoch figures (see :func:`history_columns`), e.g. ``{"loss": [...],
        "val_loss": [...], "accuracy": [...], "val_accuracy": [...]}``.
    path : str or Path, optional
        Save to this file; the suffix picks the format (``.png``, ``.svg``, ``.pdf``).
    metrics : sequence of str, optional
        Which series to plot, by their training name (``"loss"``, ``"accuracy"``); the
        matching ``val_`` series joins each panel. Default: the loss, then every other metric.
    log_loss : bool
        Use a logarithmic y axis for loss panels (those whose name contains "loss").
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ConfigError
        When a requested metric is not in the history.
    DataError
        When the history holds no per-epoch numbers.
    """
    path = _figure.check_path(path)
    series = history_columns(history)
    panels: dict[str, dict[str, np.ndarray]] = {}
    for name, values in series.items():
        base, validation = _split(name)
        panels.setdefault(base, {})["validation" if validation else "training"] = values
    if metrics is None:
        order = sorted(panels, key=lambda m: (m != "loss", "loss" not in m))
        metrics = [m for m in order if m not in ("lr", "learning_rate", "time", "seconds")]
    else:
        metrics = [str(m) for m in metrics]
        missing = [m for m in metrics if m not in panels]
        if missing:
            raise ConfigError(f"the history has no metric {missing[0]!r}; it holds {sorted(panels)}")

    from matplotlib.ticker import FuncFormatter, MaxNLocator

    fig = _figure.new_figure((4.6 * len(metrics), 3.6))
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        curves = panels[metric]
        for kind, style, colour in (("training", "-", "#2166ac"), ("validation", "--", "#b2182b")):
            values = curves.get(kind)
            if values is None:
                continue
            epochs = np.arange(1, len(values) + 1)
            (line,) = ax.plot(epochs, values, style, color=colour, label=kind, marker="o" if len(values) <= 20
                              else None, markersize=3)
            line.set_gid(f"curve:{metric}:{kind}")
        is_loss = "loss" in metric
        if is_loss and log_loss:
            if all(np.nanmin(v) > 0 for v in curves.values()):
                ax.set_yscale("log")
                low = min(np.nanmin(v) for v in curves.values())
                high = max(np.nanmax(v) for v in curves.values())
                if high / low < 30:  # within about a decade: plain numbers read better than 4 x 10^-1
                    plain = FuncFormatter(lambda v, _: f"{v:g}")
                    ax.yaxis.set_major_formatter(plain)
                    ax.yaxis.set_minor_formatter(plain)
            else:
                raise DataError(f"log_loss=True needs positive {metric!r} values; the history has zero or less")
        best = curves.get("validation", curves.get("training"))
        if best is not None and np.any(np.isfinite(best)):
            k = int(np.nanargmin(best) if is_loss else np.nanargmax(best))
            ax.plot([k + 1], [best[k]], marker="*", markersize=11, color="#e08214", linestyle="none",
                    label=f"best{' validation' if 'validation' in curves else ''} {best[k]:.4g} (epoch {k + 1})",
                    zorder=3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    _figure.save(fig, path)
    return fig
