"""A sample's target as the command line takes it: values, one per output, or one class index.

``--target 0.01,0.99`` gives the output values (Mazur's targets); for a network of K > 1
outputs a single whole number ``--target 1`` names the true class, and becomes the
class index ``[1]`` (the losses turn it into the one-hot row (0, 1, 0, ...)).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ConfigError

__all__ = ["class_index_target", "n_outputs"]


def class_index_target(target: np.ndarray | None, n_out: int) -> np.ndarray | None:
    """``target`` as given, or, when it is one whole number for a network of ``n_out`` > 1 outputs,
    the class index array ``[k]`` of shape (1,)."""
    if target is None or n_out <= 1 or target.size != 1:
        return target
    value = float(target.ravel()[0])
    if value != round(value):
        raise ConfigError(f"--target: one value for a network of {n_out} outputs is read as a class index, which "
                          f"must be a whole number in 0..{n_out - 1}, got {value:g}; or give {n_out} values")
    if not 0 <= value < n_out:
        raise ConfigError(f"--target {value:g}: a class index must lie in 0..{n_out - 1} for {n_out} outputs")
    return np.array([int(value)], dtype=np.int64)


def n_outputs(net: Any) -> int:
    """Outputs of the network's last Linear layer."""
    return int(net.layers()[-1][0].n_out)
