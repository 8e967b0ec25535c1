"""The peers: PyTorch eager, scikit-learn's MLP and micrograd, set up to do what chainrule does."""

from __future__ import annotations

import math

import numpy as np

from benchmarks.configs import Config, Data, initial_weights
from benchmarks.peers import PartialFitPeer, Peer, UnavailableError, sgd_estimator_settings

__all__ = ["TorchEager", "SklearnMLP", "Micrograd"]

class TorchEager(Peer):
    key = "torch"
    label = "PyTorch eager"
    note = "`nn.Sequential`, `CrossEntropyLoss` (Mazur: 1/2 sum of squares), `optim.SGD`, `loss.item()` each step"
    traced = False

    def __init__(self, config: Config, data: Data, seed: int = 0) -> None:
        super().__init__(config, data, seed)
        try:
            import torch
        except ImportError:
            raise UnavailableError("torch is not installed") from None
        self.torch = torch
        torch.manual_seed(seed)
        dtype = torch.float32 if config.dtype == "float32" else torch.float64
        sizes = config.sizes
        layers: list = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(torch.nn.Linear(a, b, dtype=dtype))
            if config.task == "mazur":
                layers.append(torch.nn.Sigmoid())
            elif i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        self.model = torch.nn.Sequential(*layers)
        with torch.no_grad():  # chainrule's starting weights; PyTorch stores W transposed
            for linear, (w, b) in zip(self.model[::2], initial_weights(config, seed)):
                linear.weight.copy_(torch.from_numpy(w.T))
                linear.bias.copy_(torch.from_numpy(b))
        if config.task == "mazur":
            self.loss = lambda out, t: 0.5 * ((out - t) ** 2).sum() / len(out)
        else:
            self.loss = torch.nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lr, momentum=0.0)
        self.x = torch.from_numpy(data.x)
        self.target = torch.from_numpy(data.target)

    def epoch(self) -> float:
        order = self.torch.from_numpy(self.rng.permutation(len(self.x)))
        x, target = self.x[order], self.target[order]
        model, loss_fn, optimizer, batch, n = self.model, self.loss, self.optimizer, self.config.batch, len(x)
        total = 0.0
        for lo in range(0, n, batch):
            xb, tb = x[lo:lo + batch], target[lo:lo + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), tb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(xb)
        return total / n


class SklearnMLP(PartialFitPeer):
    key = "sklearn"
    label = "scikit-learn MLP"
    note = ("`partial_fit` = one epoch; per call it validates X, one-hot encodes y; per batch it adds "
            "alpha * W (alpha=0) to every gradient, sums every squared weight for the loss's L2 term "
            "and builds SGD's velocity arrays (momentum=0)")

    def __init__(self, config: Config, data: Data, seed: int = 0) -> None:
        super().__init__(config, data, seed)
        try:
            from sklearn.neural_network import MLPClassifier, MLPRegressor
        except ImportError:
            raise UnavailableError("scikit-learn is not installed") from None
        common = sgd_estimator_settings(config, seed)
        if config.task == "mazur":
            # scikit-learn has no sigmoid output: MLPRegressor's output is linear.
            self.label = "scikit-learn MLPRegressor"
            self.estimator = MLPRegressor(activation="logistic", **common)
            self.classes = None
        else:
            self.estimator = MLPClassifier(activation="relu", **common)
            self.classes = np.arange(config.sizes[-1])


class Micrograd(Peer):
    key = "micrograd"
    label = "micrograd"
    note = "one Python object per number; a sigmoid op added in micrograd's style (0.1.0 has no exp)"

    def __init__(self, config: Config, data: Data, seed: int = 0) -> None:
        super().__init__(config, data, seed)
        if config.task != "mazur":
            raise UnavailableError("scalar engine: run on Mazur's network only")
        try:
            from micrograd.engine import Value
        except ImportError:
            raise UnavailableError("micrograd is not installed") from None
        self.Value = Value
        start = initial_weights(config, seed)
        self.weights = [[[Value(w) for w in row] for row in layer.tolist()] for layer, _ in start]
        self.biases = [[Value(b) for b in layer.tolist()] for _, layer in start]
        self.params = [v for layer in self.weights for row in layer for v in row] + \
                      [v for layer in self.biases for v in layer]
        self.x = data.x.tolist()
        self.rows = data.rows.tolist()

    def _sigmoid(self, v):
        s = 1.0 / (1.0 + math.exp(-v.data))
        out = self.Value(s, (v,), "sigmoid")

        def _backward():
            v.grad += s * (1.0 - s) * out.grad

        out._backward = _backward
        return out

    def epoch(self) -> float:
        lr, total = self.config.lr, 0.0
        for i in self.rng.permutation(len(self.x)):
            a = self.x[i]
            for w, b in zip(self.weights, self.biases):
                a = [self._sigmoid(sum((a[k] * w[k][j] for k in range(len(a))), b[j])) for j in range(len(b))]
            loss = sum((0.5 * (o - t) ** 2 for o, t in zip(a, self.rows[i])), self.Value(0.0))
            for p in self.params:
                p.grad = 0.0
            loss.backward()
            for p in self.params:
                p.data -= lr * p.grad
            total += loss.data
        return total / len(self.x)
