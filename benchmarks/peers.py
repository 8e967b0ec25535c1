"""The protocol every timed implementation follows, and the list of them."""

from __future__ import annotations

import numpy as np

from benchmarks.configs import Config, Data

__all__ = ["Peer", "UnavailableError", "peer_classes"]


class UnavailableError(Exception):
    """This implementation cannot run this configuration here (not installed, or not applicable)."""


class Peer:
    """One implementation, set up for one configuration; :meth:`epoch` is what is timed.

    ``__init__`` builds the network and the optimizer (not timed) and raises
    :class:`UnavailableError` when the implementation cannot run. ``epoch`` trains one
    epoch on the data, in a fresh random order, and returns the epoch's mean batch loss.
    """

    key = ""
    label = ""
    #: What it does differently from the others, for the report.
    note = ""
    #: Whether tracemalloc sees its allocations (NumPy and Python objects: yes; PyTorch's allocator: no).
    traced = True
    #: Counted as chainrule for the targets and ratios.
    chainrule = False

    def __init__(self, config: Config, data: Data, seed: int = 0) -> None:
        self.config = config
        self.data = data
        self.rng = np.random.default_rng(seed)

    def epoch(self) -> float:
        raise NotImplementedError


def peer_classes() -> list[type[Peer]]:
    """Every implementation, chainrule's first, in the order they run within a round."""
    from benchmarks.peer_chainrule import ChainruleFit, ChainrulePlan, ChainruleSklearn
    from benchmarks.peer_numpy import NumPyLoop
    from benchmarks.peer_others import Micrograd, SklearnMLP, TorchEager

    return [ChainruleFit, ChainrulePlan, ChainruleSklearn, TorchEager, SklearnMLP, NumPyLoop, Micrograd]
