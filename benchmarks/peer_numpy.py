"""A plain hand-written NumPy training loop: the floor for NumPy code.

Written the way one would write it by hand for this one network: expressions that
allocate their results, no buffers, no validation, the delta rule spelled out.
"""

from __future__ import annotations

import numpy as np

from benchmarks.configs import Config, Data, initial_weights
from benchmarks.peers import Peer

__all__ = ["NumPyLoop"]


class NumPyLoop(Peer):
    key = "numpy"
    label = "NumPy loop"
    note = "hand-written forward/backward/update for this network only, allocating expressions"

    def __init__(self, config: Config, data: Data, seed: int = 0) -> None:
        super().__init__(config, data, seed)
        start = initial_weights(config, seed)
        self.weights = [w for w, _ in start]
        self.biases = [b for _, b in start]

    def epoch(self) -> float:
        order = self.rng.permutation(len(self.data.x))
        if self.config.task == "mazur":
            return self._mazur_epoch(self.data.x[order], self.data.rows[order])
        return self._classify_epoch(self.data.x[order], self.data.labels[order])

    def _classify_epoch(self, x: np.ndarray, labels: np.ndarray) -> float:
        weights, biases, lr, batch, n = self.weights, self.biases, self.config.lr, self.config.batch, len(x)
        total = 0.0
        for lo in range(0, n, batch):
            xb, yb = x[lo:lo + batch], labels[lo:lo + batch]
            m = len(xb)
            outs = [xb]
            for w, b in zip(weights[:-1], biases[:-1]):
                outs.append(np.maximum(outs[-1] @ w + b, 0))
            z = outs[-1] @ weights[-1] + biases[-1]
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            rows = np.arange(m)
            total -= float(np.log(p[rows, yb]).sum())
            delta = p
            delta[rows, yb] -= 1
            delta /= m
            for layer in range(len(weights) - 1, -1, -1):
                grad_w = outs[layer].T @ delta
                grad_b = delta.sum(axis=0)
                if layer:
                    delta = (delta @ weights[layer].T) * (outs[layer] > 0)
                weights[layer] -= lr * grad_w
                biases[layer] -= lr * grad_b
        return total / n

    def _mazur_epoch(self, x: np.ndarray, targets: np.ndarray) -> float:
        (w1, w2), (b1, b2), lr = self.weights, self.biases, self.config.lr
        total = 0.0
        for i in range(len(x)):
            xb, tb = x[i:i + 1], targets[i:i + 1]
            h = 1 / (1 + np.exp(-(xb @ w1 + b1)))
            o = 1 / (1 + np.exp(-(h @ w2 + b2)))
            e = o - tb
            total += 0.5 * float((e * e).sum())
            d2 = e * o * (1 - o)
            d1 = (d2 @ w2.T) * h * (1 - h)
            w2 -= lr * (h.T @ d2)
            b2 -= lr * d2[0]
            w1 -= lr * (xb.T @ d1)
            b1 -= lr * d1[0]
        return total / len(x)
