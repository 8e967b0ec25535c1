"""Where a network diagram puts things: columns of neurons, bias nodes, capped layers.

Column l holds layer l's neurons (l = 0 is the input), top to bottom. A layer with more
than ``max_neurons`` neurons shows its first ``max_neurons - 2``, an ellipsis slot that
stands for the hidden ones, and its last neuron. Each layer l >= 1 with a bias gets a
constant-1 node in column l - 1 on a common bottom row: the bias b_j is the weight
from that node to neuron j.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chainrule.errors import ConfigError

#: Horizontal distance between columns, vertical distance between neurons, neuron radius (data units).
COLUMN_GAP = 3.2
ROW_GAP = 1.7
RADIUS = 0.42


def shown(n: int, max_neurons: int) -> list[int | None]:
    """Neuron indices drawn for a layer of ``n``; None marks the ellipsis slot."""
    if n <= max_neurons:
        return list(range(n))
    return list(range(max_neurons - 2)) + [None, n - 1]


@dataclass
class Layout:
    """Positions of every drawn node.

    Attributes
    ----------
    sizes : list of int
        Neurons per layer, input first.
    columns : list of list of (int or None)
        Per layer, the drawn neuron indices top to bottom (None: the ellipsis).
    x : list of float
        Column positions.
    y : list of dict
        Per layer, neuron index -> vertical position; key None is the ellipsis.
    bias_y : float
        Height of the row of constant-1 nodes.
    has_bias : list of bool
        Per layer l >= 1 (index l - 1), whether it has a bias node.
    """

    sizes: list[int]
    columns: list[list[int | None]]
    x: list[float]
    y: list[dict[int | None, float]] = field(default_factory=list)
    bias_y: float = 0.0
    has_bias: list[bool] = field(default_factory=list)

    @property
    def capped(self) -> bool:
        """Whether any layer hides some of its neurons."""
        return any(None in column for column in self.columns)

    def position(self, layer: int, index: int | None) -> tuple[float, float] | None:
        """(x, y) of a neuron (or the ellipsis, index None); None when it is not drawn."""
        y = self.y[layer].get(index)
        return None if y is None else (self.x[layer], y)

    def bias_position(self, layer: int) -> tuple[float, float]:
        """(x, y) of the constant-1 node feeding layer ``layer`` (drawn in column layer - 1)."""
        return self.x[layer - 1], self.bias_y

    def edges(self, layer: int) -> list[tuple[int, int]]:
        """(i, j) pairs of drawn weights into ``layer``: both ends drawn neurons."""
        sources = [i for i in self.columns[layer - 1] if i is not None]
        targets = [j for j in self.columns[layer] if j is not None]
        return [(i, j) for j in targets for i in sources]

    def extent(self) -> tuple[float, float, float, float]:
        """(xmin, xmax, ymin, ymax) of the nodes, without labels."""
        ys = [v for column in self.y for v in column.values()]
        if any(self.has_bias):
            ys.append(self.bias_y)
        return self.x[0], self.x[-1], min(ys), max(ys)


def layout(sizes: list[int], has_bias: list[bool], max_neurons: int = 12, row_gap: float = ROW_GAP) -> Layout:
    """Place the neurons of a network with ``sizes`` (input first) in columns.

    Columns are centred on y = 0; the constant-1 nodes share the row one ``row_gap``
    below the lowest neuron of any column that holds one.
    """
    if int(max_neurons) < 3:
        raise ConfigError(f"max_neurons must be at least 3 (first, ellipsis, last), got {max_neurons}")
    columns = [shown(n, int(max_neurons)) for n in sizes]
    x = [COLUMN_GAP * layer for layer in range(len(sizes))]
    ys = []
    for column in columns:
        top = (len(column) - 1) * row_gap / 2
        ys.append({index: top - k * row_gap for k, index in enumerate(column)})
    feeding = [layer - 1 for layer in range(1, len(sizes)) if has_bias[layer - 1]]
    lowest = min((min(ys[c].values()) for c in feeding), default=0.0)
    return Layout(list(sizes), columns, x, ys, lowest - row_gap, list(has_bias))


#: Inches per data unit at which diagrams are drawn; text sizes below are estimated from it.
SCALE = 0.62
#: Where along an edge (fraction from its source) a label may go, in order of preference.
_LABEL_SPOTS = (0.3, 0.2, 0.4, 0.5, 0.25, 0.35, 0.45, 0.6, 0.15, 0.7)

Box = tuple[float, float, float, float]  # (xmin, ymin, xmax, ymax)


def text_box(text: str, x: float, y: float, fontsize: float, ha: str = "center", va: str = "center") -> Box:
    """An estimate of the box a text takes, in data units (mathtext markup not counted)."""
    lines = text.split("\n")
    chars = max(len(line.replace("$", "").replace("{", "").replace("}", "").replace("^", "").replace("_", ""))
                for line in lines)
    width = chars * fontsize * 0.6 / 72 / SCALE
    height = len(lines) * fontsize * 1.25 / 72 / SCALE
    if "$" in text and ("^" in text or "_" in text):
        height *= 1.7  # mathtext sub- and superscripts stick out above and below the line
    left = x - width / 2 if ha == "center" else x if ha == "left" else x - width
    bottom = y - height / 2 if va == "center" else y - height if va == "top" else y
    return left, bottom, left + width, bottom + height


def _overlap(a: Box, b: Box) -> float:
    dx = min(a[2], b[2]) - max(a[0], b[0])
    dy = min(a[3], b[3]) - max(a[1], b[1])
    return dx * dy if dx > 0 and dy > 0 else 0.0


def place_labels(segments: list[tuple[tuple[float, float], tuple[float, float], str]], fontsize: float,
                 obstacles: list[Box]) -> list[tuple[float, float]]:
    """Centres for edge labels, greedily chosen along each edge to avoid each other and ``obstacles``.

    Each label goes to the first spot (a fraction of the way from the edge's source) where
    its estimated box overlaps nothing placed so far; failing that, where it overlaps least.
    """
    placed: list[Box] = []
    centres: list[tuple[float, float]] = []
    pad = 0.04
    for start, end, text in segments:
        best, best_cost = None, np.inf
        for t in _LABEL_SPOTS:
            x = start[0] + t * (end[0] - start[0])
            y = start[1] + t * (end[1] - start[1])
            box = text_box(text, x, y, fontsize)
            box = (box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad)
            cost = sum(_overlap(box, other) for other in placed) + sum(_overlap(box, o) for o in obstacles)
            if cost < best_cost:
                best, best_cost = (x, y, box), cost
            if cost == 0.0:
                break
        centres.append(best[:2])
        placed.append(best[2])
    return centres
