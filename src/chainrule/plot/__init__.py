"""Pictures of networks and training: diagrams, training curves, decision boundaries.

matplotlib is imported inside the functions, so ``import chainrule.plot`` costs nothing
until something is drawn. Every function returns a :class:`matplotlib.figure.Figure`
made without pyplot and, given ``path``, writes it in the format the suffix names
(``.png``, ``.svg`` or ``.pdf``).
"""

from chainrule.plot.boundary import DecisionGrid, decision_grid, plot_decision_boundary
from chainrule.plot.curves import history_columns, plot_history
from chainrule.plot.network import draw_network, format_number

__all__ = [
    "draw_network", "format_number", "plot_history", "history_columns",
    "plot_decision_boundary", "decision_grid", "DecisionGrid",
]
