"""Figures and files shared by the plotting functions: one axes to draw on, one way to save.

Figures are :class:`matplotlib.figure.Figure` objects made without pyplot, so drawing
never opens a window, needs no GUI backend and leaves no global figure behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chainrule.errors import ConfigError

#: File suffixes :func:`save` understands, mapped to matplotlib's format names.
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

#: Colours for positive and negative numbers (weights, gradients): a blue/red pair
#: that stays distinct under the common colour-vision deficiencies.
POSITIVE = "#2166ac"
NEGATIVE = "#b2182b"


def check_path(path: str | Path | None) -> Path | None:
    """The output path, refused early (before any drawing) when its suffix is unknown."""
    if path is None:
        return None
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(
            f"cannot tell the image format of {str(path)!r}: expected a file name ending in "
            f"{', '.join(FORMATS)}, got suffix {path.suffix or '(none)'!r}"
        )
    return path


def new_axes(ax: Any = None, figsize: tuple[float, float] = (6.4, 4.8)) -> tuple[Any, Any]:
    """(figure, axes): ``ax`` and its figure when given, else a new figure with one axes."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def new_figure(figsize: tuple[float, float]) -> Any:
    """A new pyplot-free figure with constrained layout."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def save(fig: Any, path: Path | None, dpi: int = 110) -> None:
    """Write ``fig`` to ``path`` in the format its suffix names (PNG, SVG or PDF), atomically; no-op for None."""
    if path is None:
        return
    from chainrule.atomic import writing

    path.parent.mkdir(parents=True, exist_ok=True)
    with writing(path, "wb") as handle:  # atomic: an existing image stays whole if drawing or writing fails
        fig.savefig(handle, format=FORMATS[path.suffix.lower()], dpi=dpi)
