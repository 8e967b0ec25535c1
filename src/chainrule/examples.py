"""Worked examples with published numbers: Matt Mazur's 2-2-2 network, and XOR.

Mazur, "A Step by Step Backpropagation Example" (2015): inputs i1 = 0.05, i2 = 0.10,
targets 0.01 and 0.99, sigmoid hidden and output layers, E_total = sum 1/2 (target - out)^2.
His weights map onto chainrule's (n_in, n_out) layout as ``W[i, j]`` = weight from
neuron i to neuron j:

    hidden layer "0.weight" = [[w1, w3],      output layer "2.weight" = [[w5, w7],
                               [w2, w4]]                                 [w6, w8]]

His biases b1 = 0.35 and b2 = 0.60 are one number per layer, stored here as the same
value for each neuron of the layer; his post never updates them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn import MLP

__all__ = ["mazur", "MAZUR_WEIGHTS", "MAZUR_BIASES", "xor"]

#: Mazur's weight names -> (parameter name, index into it).
MAZUR_WEIGHTS: dict[str, tuple[str, tuple[int, int]]] = {
    "w1": ("0.weight", (0, 0)), "w2": ("0.weight", (1, 0)),
    "w3": ("0.weight", (0, 1)), "w4": ("0.weight", (1, 1)),
    "w5": ("2.weight", (0, 0)), "w6": ("2.weight", (1, 0)),
    "w7": ("2.weight", (0, 1)), "w8": ("2.weight", (1, 1)),
}
#: Mazur's bias names -> parameter name (one value shared by the layer's neurons).
MAZUR_BIASES: dict[str, str] = {"b1": "0.bias", "b2": "2.bias"}


def mazur(dtype: Any = np.float64) -> tuple[MLP, np.ndarray, np.ndarray]:
    """Mazur's network with his starting weights, his input and his target.

    Returns
    -------
    net : MLP
        2-2-2, sigmoid hidden and output layers.
    x : numpy.ndarray, shape (1, 2)
        [[i1, i2]] = [[0.05, 0.10]].
    target : numpy.ndarray, shape (1, 2)
        [[0.01, 0.99]].

    Notes
    -----
    The post trains with learning rate 0.5, every weight updated from the round's
    original weights (w5..w8 are not updated before w1..w4 are computed), biases fixed.
    Its "after repeating this process 10,000 times ... the error plummets to
    0.0000351085" is the error computed in round 10,000 *before* that round's update,
    that is after 9,999 updates (3.5108548e-05); after 10,000 updates it is
    3.510187783e-05. tests/test_mazur.py checks both by computation.

    Examples
    --------
    >>> import chainrule as cr
    >>> net, x, target = cr.examples.mazur()
    >>> round(cr.losses.half_squared_error(net(x), target).item(), 9)
    0.298371109
    """
    net = MLP([2, 2, 2], activation="sigmoid", output_activation="sigmoid", dtype=dtype)
    net.load_state_dict({
        "0.weight": np.array([[0.15, 0.25], [0.20, 0.30]]),
        "0.bias": np.array([0.35, 0.35]),
        "2.weight": np.array([[0.40, 0.50], [0.45, 0.55]]),
        "2.bias": np.array([0.60, 0.60]),
    })
    x = np.array([[0.05, 0.10]], dtype=dtype)
    target = np.array([[0.01, 0.99]], dtype=dtype)
    return net, x, target


def xor(dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """The four XOR points, x (4, 2), and their labels, target (4, 1)."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=dtype)
    target = np.array([[0], [1], [1], [0]], dtype=dtype)
    return x, target
