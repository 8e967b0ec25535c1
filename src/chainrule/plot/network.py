"""Network diagrams: neurons in columns, weights as coloured edges, one sample's numbers on top.

What a learner draws by hand for Mazur's example: inputs i1, i2, hidden h1, h2, outputs
o1, o2, weights w1..w8 on the edges, the bias as a weight from a constant-1 node, and
for one sample each neuron's net and out (and, after backpropagation, its delta
and each weight's dE/dw).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.plot import _figure, _layout, _numbers
from chainrule.plot._names import DiagramNames, diagram_names

__all__ = ["draw_network", "format_number"]

_SHOW = ("values", "names", "both")
_OVERLAYS = (None, "grad", "delta")
#: More drawn edges than this and edge labels would overlap: they are left out.
_MAX_LABELLED_EDGES = 30
_INPUT_FACE = "#eeeeee"
_NEURON_FACE = "#ffffff"
_BIAS_FACE = "#fff3c4"


def format_number(value: float) -> str:
    """Four decimals as in Mazur's post (0.3775, 0.5933), trailing zeros dropped; small or
    large magnitudes in three significant digits (0.000439, 1.23e+05)."""
    value = float(value)
    if value == 0.0:
        return "0"
    if 0.01 <= abs(value) < 1e4:
        text = f"{value:.4f}".rstrip("0").rstrip(".")
        return text if text not in ("-0", "") else "0"
    return f"{value:.3g}"


def _unwrap(net: Any) -> Any:
    """The network itself: a fitted chainrule estimator's ``model_``, or ``net``."""
    from chainrule.nn import Sequential

    inner = getattr(net, "model_", None)
    return inner if not isinstance(net, Sequential) and isinstance(inner, Sequential) else net


def _check_network(net: Any) -> list[Any]:
    from chainrule.nn import Sequential

    if not isinstance(net, Sequential):
        raise ConfigError(
            f"draw_network draws a Sequential or MLP (layers of neurons), got a {type(net).__name__}; "
            "wrap its layers in chainrule.Sequential"
        )
    linears = [view.linear for view in net.layers()]
    if not linears:
        raise ConfigError("the network has no Linear layer, so it has no neurons to draw")
    for previous, following in zip(linears, linears[1:]):
        if previous.n_out != following.n_in:
            raise ConfigError(
                f"consecutive Linear layers do not fit: {previous.n_out} outputs feed {following.n_in} inputs"
            )
    return linears


def _activation_names(net: Any) -> list[str]:
    """Per layer l >= 1, the activation applied after its Linear ("identity" if none)."""
    return [view.name for view in net.layers()]


def draw_network(net: Any, x: Any = None, target: Any = None, ax: Any = None, show: str = "values",
                 overlay: str | None = None, names: str = "auto", path: str | Path | None = None,
                 loss: str = "half_squared_error", max_neurons: int = 12, edge_labels: bool | None = None,
                 title: str | None = None, bias: str = "per_neuron") -> Any:
    """Draw a feedforward network as columns of neurons joined by weighted edges.

    Neuron j of layer l computes net_j = sum_i out_i w_ij + b_j and out_j = f(net_j); the
    bias b_j is drawn as the weight from a constant-1 node. Edges are blue for positive
    and red for negative weights, wider for larger |w|.

    Parameters
    ----------
    net : Sequential, MLP or fitted chainrule estimator
        The network (an estimator's ``model_``); weight[i, j] of each Linear is the edge
        from neuron i to neuron j.
    x : array_like, shape (n_in,) or (1, n_in), optional
        One sample: each neuron then shows its net and out for it.
    target : array_like, shape (n_out,) or (1, n_out), optional
        Its target: outputs show it, the title shows E_total, and overlays become possible.
    ax : matplotlib Axes, optional
        Draw here instead of on a new figure.
    show : {"values", "names", "both"}
        Edge labels: weight values, weight names (w1..w8 on Mazur's network), or
        "name = value". Neurons always show their names; their numbers appear when a
        sample is given, except with "names".
    overlay : {None, "grad", "delta"}
        "grad" colours and labels edges by dE/dw; "delta" fills neurons by
        delta_j = dE/dnet_j. Both need ``x`` and ``target`` and come from ``backward()``.
    names : str
        Naming scheme: "auto" (Mazur's i/h/o for one hidden layer, i, h, j, k, ..., o
        for deeper nets), "mazur", or "layer" (the per-layer s_j^(l), x_j^(l), w_ij^(l)).
    path : str or Path, optional
        Save to this file; the suffix picks the format (``.png``, ``.svg``, ``.pdf``).
    loss : str
        Loss for the overlays; the default is Mazur's E_total = sum_k 1/2 (target_k - out_k)^2.
    max_neurons : int
        Most neurons drawn per layer; larger layers show the first ones, an ellipsis
        with the number hidden, and the last one.
    edge_labels : bool, optional
        Force edge labels on or off; by default they are drawn when every neuron is
        shown and there are at most 30 edges, bias edges included.
    title : str, optional
        Axes title (default: the architecture, and E_total when a target is given).
    bias : {"per_neuron", "shared"}
        "per_neuron" labels each neuron's bias b_j on its edge (b_h1, b_h2, ...); "shared"
        names each layer's one bias once at its constant-1 node (Mazur's b1, b2, with
        dE/db = sum_j delta_j under the "grad" overlay), as ``trace`` and ``explain`` do
        with the same keyword. "shared" needs equal biases within each layer.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.plot import draw_network
    >>> net, x, target = cr.examples.mazur()
    >>> fig = draw_network(net, x, target, overlay="delta")
    >>> "0.3775" in [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "value:1:0:net"][0]
    True
    >>> fig = draw_network(net, show="both", bias="shared")
    >>> [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "edgelabel:1:b"]
    ['b1 = 0.35']
    """
    if show not in _SHOW:
        raise ConfigError(f"show must be one of {', '.join(_SHOW)}; got {show!r}")
    if overlay not in _OVERLAYS:
        raise ConfigError(f"overlay must be None, 'grad' or 'delta'; got {overlay!r}")
    if overlay is not None and (x is None or target is None):
        raise ConfigError(f"overlay={overlay!r} needs a sample and its target (x=..., target=...) to backpropagate")
    if target is not None and x is None:
        raise ConfigError("a target needs its sample: pass x as well")
    path = _figure.check_path(path)
    net = _unwrap(net)
    linears = _check_network(net)
    sizes = [linears[0].n_in] + [m.n_out for m in linears]
    has_bias = [m.bias is not None for m in linears]
    numbers = None if x is None else _numbers.compute(net, x, target, loss)
    _check_bias(net, bias)
    label_names = diagram_names(net, names, bias)
    value_lines = 0 if numbers is None or show == "names" else 2 + (target is not None) + (overlay == "delta")
    row_gap = 2 * _layout.RADIUS + 0.5 + 0.28 * value_lines
    geometry = _layout.layout(sizes, has_bias, max_neurons=max_neurons, row_gap=row_gap)
    n_edges = sum(len(geometry.edges(layer)) + sizes[layer] * has_bias[layer - 1] for layer in range(1, len(sizes)))
    if edge_labels is None:
        edge_labels = not geometry.capped and n_edges <= _MAX_LABELLED_EDGES

    xmin, xmax, ymin, ymax = geometry.extent()
    scale = _layout.SCALE
    width = min(18.0, (xmax - xmin + 3.2) * scale + (1.2 if overlay else 0))
    height = min(16.0, (ymax - ymin + 3.4) * scale)
    fig, ax = _figure.new_axes(ax, figsize=(width, height))
    drawer = _Drawer(ax, geometry, label_names, numbers, linears, show, overlay, bool(edge_labels))
    drawer.edges()
    drawer.neurons()
    drawer.edge_labels_text()
    drawer.headers(_activation_names(net))
    ax.set_xlim(xmin - 1.4, xmax + 1.4)
    ax.set_ylim(ymin - 1.0, ymax + _layout.RADIUS + 1.3)
    ax.set_aspect("equal")
    ax.axis("off")
    drawer.legend(fig)
    if title is None:
        title = "-".join(str(n) for n in sizes) + " network"
        if numbers is not None and numbers.loss is not None:
            title += f",  E_total = {format_number(numbers.loss)}" if loss == "half_squared_error" else \
                f",  E ({loss}) = {format_number(numbers.loss)}"
    ax.set_title(title)
    _figure.save(fig, path)
    return fig


class _Drawer:
    """Draws one diagram's artists onto an axes; every artist gets a gid naming what it shows."""

    def __init__(self, ax: Any, geometry: _layout.Layout, names: DiagramNames, numbers: Any,
                 linears: list[Any], show: str, overlay: str | None, edge_labels: bool) -> None:
        self.ax, self.geometry, self.names, self.numbers = ax, geometry, names, numbers
        self.linears, self.show, self.overlay, self.edge_labels = linears, show, overlay, edge_labels
        self.pending: list[tuple[tuple[float, float], tuple[float, float], str, str]] = []
        self.obstacles: list[_layout.Box] = []
        self.many = sum(len(geometry.edges(layer)) for layer in range(1, len(geometry.sizes))) > 150
        self.grad_norm = self.delta_norm = None
        if overlay == "grad":
            biggest = max(max(np.max(np.abs(n.weight_grad)),
                              0.0 if n.bias_grad is None else np.max(np.abs(n.bias_grad)))
                          for n in numbers.layers)
            self.grad_norm = _symmetric_norm(biggest)
        if overlay == "delta":
            self.delta_norm = _symmetric_norm(max(np.max(np.abs(n.delta)) for n in numbers.layers))
        self.max_weight = max(max(float(np.max(np.abs(m.weight.data))),
                                  0.0 if m.bias is None else float(np.max(np.abs(m.bias.data))))
                              for m in linears) or 1.0

    # ---------------------------------------------------------------- edges
    def edges(self) -> None:
        shared = self.names.bias_scheme == "shared"  # one label per layer, at the bias node (see neurons)
        for layer in range(1, len(self.geometry.sizes)):
            linear = self.linears[layer - 1]
            for i, j in self.geometry.edges(layer):
                start = self.geometry.position(layer - 1, i)
                end = self.geometry.position(layer, j)
                grad = None if self.overlay != "grad" else self.numbers.layers[layer - 1].weight_grad[i, j]
                name = self.names.weight(layer, i, j) if self.edge_labels else ""
                self._edge(start, end, float(linear.weight.data[i, j]), grad, name, f"edge:{layer}:{i}:{j}")
            if linear.bias is not None:
                start = self.geometry.bias_position(layer)
                for j in self.geometry.columns[layer]:
                    if j is None:
                        continue
                    grad = None if self.overlay != "grad" else self.numbers.layers[layer - 1].bias_grad[j]
                    name = None if shared else self.names.bias(layer, j) if self.edge_labels else ""
                    self._edge(start, self.geometry.position(layer, j), float(linear.bias.data[j]), grad, name,
                               f"edge:{layer}:b:{j}")

    def _edge(self, start: tuple[float, float], end: tuple[float, float], weight: float, grad: float | None,
              name: str | None, gid: str) -> None:
        """One edge; ``name`` None draws it unlabelled (a shared bias is labelled at its node)."""
        xs, ys = [start[0], end[0]], [start[1], end[1]]
        strength = abs(weight) / self.max_weight
        if grad is not None:
            # The structure stays visible as a thin grey line under the gradient, which may be tiny.
            (line,) = self.ax.plot(xs, ys, color="0.75", linewidth=0.8, zorder=1)
            line.set_gid(gid)
            colour = _cmap("PuOr_r")(self.grad_norm(grad))
            strength = abs(grad) / self.grad_norm.vmax
            (over,) = self.ax.plot(xs, ys, color=colour, linewidth=0.6 + 4.4 * strength, alpha=0.9,
                                   solid_capstyle="round", zorder=1.5)
            over.set_gid(gid.replace("edge:", "grad:", 1))
        else:
            colour = _figure.POSITIVE if weight > 0 else _figure.NEGATIVE if weight < 0 else "0.6"
            width, alpha = (0.2 + 1.2 * strength, 0.45) if self.many else (0.6 + 3.4 * strength, 0.85)
            (line,) = self.ax.plot(xs, ys, color=colour, linewidth=width, alpha=alpha, solid_capstyle="round",
                                   zorder=1)
            line.set_gid(gid)
        if not self.edge_labels or name is None:
            return
        text = self._label(name, weight, grad, "\n")
        self.pending.append((start, end, text, gid.replace("edge:", "edgelabel:", 1)))

    def _label(self, name: str, weight: float, grad: float | None, gap: str) -> str:
        """A parameter's label: its name, its value or both; with the "grad" overlay, dE/d(name)."""
        value = format_number(weight if grad is None else grad)
        if self.show == "names":
            return name
        if self.show == "values":
            return value
        return f"{name} = {value}" if grad is None else f"∂E/∂{name}{gap}{value}"

    def edge_labels_text(self) -> None:
        """Write the edge labels, placed along their edges clear of each other and of the nodes."""
        spots = _layout.place_labels([(a, b, text) for a, b, text, _ in self.pending], 8, self.obstacles)
        for (_, _, text, gid), where in zip(self.pending, spots):
            box = {"boxstyle": "round,pad=0.12", "facecolor": "white", "edgecolor": "none", "alpha": 0.9}
            label = self.ax.text(*where, text, fontsize=8, ha="center", va="center", zorder=4, color="0.1",
                                 linespacing=1.4 if "$" in text else 1.0, bbox=box)
            label.set_gid(gid)

    # ---------------------------------------------------------------- neurons
    def neurons(self) -> None:
        from matplotlib.patches import Circle, FancyBboxPatch

        radius = _layout.RADIUS
        last = len(self.geometry.sizes) - 1
        for layer, column in enumerate(self.geometry.columns):
            for index in column:
                x, y = self.geometry.position(layer, index)
                if index is None:
                    hidden = self.geometry.sizes[layer] - len(column) + 1
                    marker = self.ax.text(x, y, f"⋮\n{hidden} more", ha="center", va="center", fontsize=8,
                                          color="0.3", zorder=3)
                    marker.set_gid(f"ellipsis:{layer}")
                    continue
                face = _INPUT_FACE if layer == 0 else _NEURON_FACE
                text_colour = "black"
                if self.overlay == "delta" and layer > 0:
                    delta = self.numbers.layers[layer - 1].delta[index]
                    face = _cmap("PuOr_r")(self.delta_norm(delta))
                    text_colour = _ink_on(face)
                circle = Circle((x, y), radius, facecolor=face, edgecolor="0.15", linewidth=1.2, zorder=2)
                circle.set_gid(f"neuron:{layer}:{index}")
                self.obstacles.append((x - radius, y - radius, x + radius, y + radius))
                self.ax.add_patch(circle)
                name = self.ax.text(x, y, self.names.neuron(layer, index), ha="center", va="center",
                                    fontsize=10 if not self.many else 8, color=text_colour, zorder=3)
                name.set_gid(f"name:{layer}:{index}")
                if self.numbers is not None and self.show != "names":
                    self._values(layer, index, x, y - radius - 0.08, last)
        for layer in range(1, len(self.geometry.sizes)):
            if not self.geometry.has_bias[layer - 1]:
                continue
            x, y = self.geometry.bias_position(layer)
            box = FancyBboxPatch((x - 0.3, y - 0.3), 0.6, 0.6, boxstyle="round,pad=0.02", facecolor=_BIAS_FACE,
                                 edgecolor="0.15", linewidth=1.2, zorder=2)
            box.set_gid(f"bias:{layer}")
            self.obstacles.append((x - 0.3, y - 0.3, x + 0.3, y + 0.3))
            self.ax.add_patch(box)
            self.ax.text(x, y, "1", ha="center", va="center", fontsize=10, zorder=3).set_gid(f"biasnode:{layer}")
            caption_y = y - 0.42
            if self.names.bias_scheme == "shared" and self.edge_labels:
                self._shared_bias_label(layer, x, caption_y)
                caption_y -= 0.3
            self.ax.text(x, caption_y, f"bias into {self.names.layer(layer)}", ha="center", va="top",
                         fontsize=7, color="0.35", zorder=3)

    def _shared_bias_label(self, layer: int, x: float, y: float) -> None:
        """The layer's one bias (Mazur's b1), written once under its node: dE/db = sum_j delta_j."""
        bias = self.linears[layer - 1].bias.data
        grad = None if self.overlay != "grad" else float(np.sum(self.numbers.layers[layer - 1].bias_grad))
        text = self._label(self.names.bias(layer, 0), float(bias[0]), grad, " = ")
        label = self.ax.text(x, y, text, ha="center", va="top", fontsize=8, color="0.1", zorder=4,
                             bbox={"boxstyle": "round,pad=0.12", "facecolor": "white", "edgecolor": "none",
                                   "alpha": 0.9})
        label.set_gid(f"edgelabel:{layer}:b")
        self.obstacles.append(_layout.text_box(text, x, y, 8, va="top"))

    def _values(self, layer: int, index: int, x: float, y: float, last: int) -> None:
        lines: list[tuple[str, str]] = []
        if layer == 0:
            lines.append(("out", f"{self.names.neuron(0, index)} = {format_number(self.numbers.x[index])}"))
        else:
            numbers = self.numbers.layers[layer - 1]
            lines.append(("net", f"net {format_number(numbers.net[index])}"))
            lines.append(("out", f"out {format_number(numbers.out[index])}"))
            if layer == last and self.numbers.target is not None and self.numbers.target.size == len(numbers.out):
                lines.append(("target", f"target {format_number(self.numbers.target[index])}"))
            if self.overlay == "delta":
                lines.append(("delta", f"δ {format_number(numbers.delta[index])}"))
        for k, (what, text) in enumerate(lines):
            label = self.ax.text(x, y - 0.27 * k, text, ha="center", va="top", fontsize=7.5, zorder=4,
                                 color="0.1", bbox={"boxstyle": "square,pad=0.05", "facecolor": "white",
                                                    "edgecolor": "none", "alpha": 0.85})
            label.set_gid(f"value:{layer}:{index}:{what}")
            self.obstacles.append(_layout.text_box(text, x, y - 0.27 * k, 7.5, va="top"))

    # ---------------------------------------------------------------- frame
    def headers(self, activations: list[str]) -> None:
        top = max(max(column.values()) for column in self.geometry.y) + _layout.RADIUS + 0.35
        last = len(self.geometry.sizes) - 1
        for layer, x in enumerate(self.geometry.x):
            size = self.geometry.sizes[layer]
            if layer == 0:
                text = f"input ({size})"
            else:
                kind = "output" if layer == last else f"hidden {layer}" if last > 2 else "hidden"
                text = f"{kind} ({size})\n{activations[layer - 1]}"
            self.ax.text(x, top, text, ha="center", va="bottom", fontsize=9, color="0.25").set_gid(f"header:{layer}")

    def legend(self, fig: Any) -> None:
        from matplotlib.cm import ScalarMappable
        from matplotlib.lines import Line2D

        if self.overlay in ("grad", "delta"):
            norm = self.grad_norm if self.overlay == "grad" else self.delta_norm
            mappable = ScalarMappable(norm=norm, cmap=_cmap("PuOr_r"))
            bar = fig.colorbar(mappable, ax=self.ax, shrink=0.6, pad=0.02)
            bar.set_label("∂E/∂w (edges)" if self.overlay == "grad" else "δ = ∂E/∂net (neurons)")
        if self.overlay != "grad":
            handles = [Line2D([], [], color=_figure.POSITIVE, linewidth=2.5, label="w > 0"),
                       Line2D([], [], color=_figure.NEGATIVE, linewidth=2.5, label="w < 0")]
            self.ax.legend(handles=handles, loc="lower right", fontsize=8, frameon=False,
                           title="width ~ |w|", title_fontsize=8)


def _check_bias(net: Any, bias: str) -> None:
    """The bias scheme is the learner tools' (see :mod:`chainrule.learn.conventions`); "shared" needs equal biases."""
    from chainrule.learn.conventions import Convention
    from chainrule.learn.descent import check_shared_biases
    from chainrule.learn.network import read_network

    convention = Convention(bias=bias)  # refuses an unknown scheme with the learner tools' message
    if bias == "shared":
        check_shared_biases(read_network(net), convention)


def _symmetric_norm(biggest: float) -> Any:
    from matplotlib.colors import Normalize

    biggest = float(biggest) if biggest > 0 else 1.0
    return Normalize(vmin=-biggest, vmax=biggest)


def _cmap(name: str) -> Any:
    import matplotlib

    return matplotlib.colormaps[name]


def _ink_on(face: Any) -> str:
    """Black or white text, whichever reads better on ``face`` (relative luminance)."""
    r, g, b = face[:3]
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "white"
