"""The protocol every timed implementation follows, and the list of them."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from benchmarks.configs import Config, Data

__all__ = ["Peer", "PartialFitPeer", "UnavailableError", "peer_classes", "sgd_estimator_settings"]


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


def sgd_estimator_settings(config: Config, seed: int) -> dict[str, Any]:
    """scikit-learn MLP parameters for the benchmark's plain SGD: no momentum, no penalty, one epoch per call."""
    return dict(hidden_layer_sizes=config.sizes[1:-1], solver="sgd", learning_rate_init=config.lr,
                batch_size=config.batch, momentum=0.0, nesterovs_momentum=False, alpha=0.0,
                learning_rate="constant", max_iter=1, shuffle=True, random_state=seed)


class PartialFitPeer(Peer):
    """A scikit-learn-style ``estimator`` timed one ``partial_fit`` (one epoch) at a time.

    ``classes`` holds every label for a classifier and is None for a regressor (Mazur's rows).
    """

    estimator: Any
    classes: np.ndarray | None

    def epoch(self) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.classes is None:
                self.estimator.partial_fit(self.data.x, self.data.rows)
            else:
                self.estimator.partial_fit(self.data.x, self.data.labels, classes=self.classes)
        return float(getattr(self.estimator, "loss_", np.nan))


def peer_classes() -> list[type[Peer]]:
    """Every implementation, chainrule's first, in the order they run within a round."""
    from benchmarks.peer_chainrule import ChainruleFit, ChainrulePlan, ChainruleSklearn
    from benchmarks.peer_numpy import NumPyLoop
    from benchmarks.peer_others import Micrograd, SklearnMLP, TorchEager

    return [ChainruleFit, ChainrulePlan, ChainruleSklearn, TorchEager, SklearnMLP, NumPyLoop, Micrograd]
