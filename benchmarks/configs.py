"""What is measured: network shapes, batch sizes, dtypes and the synthetic data.

Two tasks:

* ``classify``: ReLU hidden layers, linear output, softmax cross-entropy on the
  logits, plain SGD (no momentum, no weight decay), on MNIST-shaped data: inputs
  N(0, 1), labels from a fixed random linear teacher so the loss can fall.
* ``mazur``: Mazur's 2-2-2 network (sigmoid hidden and output layers,
  E = 1/2 sum_k (target_k - out_k)^2), one sample per SGD step, learning rate 0.5,
  inputs uniform in [0, 1] and targets uniform in [0.01, 0.99].
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

import chainrule as cr
from chainrule.errors import ConfigError

__all__ = ["Config", "Data", "CONFIGS", "select", "make_data", "flops_per_sample", "build_model", "loss_name",
           "initial_weights"]


@dataclass(frozen=True)
class Config:
    """One benchmark: a network, a batch size, a dtype and the samples in one epoch."""

    name: str
    sizes: tuple[int, ...]
    batch: int
    dtype: str
    n_samples: int
    task: str = "classify"
    lr: float = 0.01

    @property
    def key(self) -> str:
        return f"{self.name}-{'f32' if self.dtype == 'float32' else 'f64'}"

    @property
    def title(self) -> str:
        shape = "-".join(map(str, self.sizes))
        per = "one sample per step" if self.batch == 1 else f"batch {self.batch}"
        return f"{self.key}: {shape}, {per}, {self.dtype}, {self.n_samples} samples per epoch"

    @property
    def steps(self) -> int:
        return -(-self.n_samples // self.batch)


@dataclass(frozen=True)
class Data:
    """x: (n, n_in) in the config's dtype; labels (n,) int64 for ``classify``; rows (n, n_out) for ``mazur``."""

    x: np.ndarray
    labels: np.ndarray | None
    rows: np.ndarray | None

    @property
    def target(self) -> np.ndarray:
        return self.labels if self.labels is not None else self.rows


def _both(name: str, sizes: tuple[int, ...], batch: int, n_samples: int, task: str = "classify",
          lr: float = 0.01) -> list[Config]:
    return [Config(name, sizes, batch, dtype, n_samples, task, lr) for dtype in ("float32", "float64")]


CONFIGS: list[Config] = [
    *_both("mnist", (784, 256, 256, 10), 128, 16384),
    *_both("small", (784, 64, 64, 10), 16, 8192),
    *_both("wide", (784, 1024, 1024, 10), 256, 4096),
    *_both("mazur", (2, 2, 2), 1, 2000, task="mazur", lr=0.5),
]

SMOKE_SIZES = {"classify": (20, 12, 12, 4), "mazur": (2, 2, 2)}


def select(names: list[str] | None, quick: bool = False, smoke: bool = False) -> list[Config]:
    """The configurations named (``mnist`` gives both dtypes, ``mnist-f32`` one), all when None.

    ``quick`` quarters the samples per epoch; ``smoke`` shrinks every network and epoch
    to a few dozen samples (a check that the runner works, not a measurement) and runs
    mnist-f32 and mazur-f64 unless told otherwise.
    """
    if smoke and not names:
        names = ["mnist-f32", "mazur-f64"]
    chosen = [c for c in CONFIGS if not names or c.name in names or c.key in names]
    if names:
        unknown = set(names) - {c.name for c in CONFIGS} - {c.key for c in CONFIGS}
        if unknown:
            known = sorted({c.name for c in CONFIGS} | {c.key for c in CONFIGS})
            raise ConfigError(f"unknown configuration(s) {sorted(unknown)}; choose from {', '.join(known)}")
    if smoke:
        return [replace(c, sizes=SMOKE_SIZES[c.task], batch=min(c.batch, 8), n_samples=48) for c in chosen]
    if quick:
        return [replace(c, n_samples=max(c.batch * 4, c.n_samples // 4)) for c in chosen]
    return chosen


def make_data(config: Config, seed: int = 0) -> Data:
    """The config's synthetic data; the same seed gives every implementation the same numbers."""
    rng = np.random.default_rng(seed)
    n, n_in, n_out = config.n_samples, config.sizes[0], config.sizes[-1]
    if config.task == "mazur":
        x = rng.uniform(0.0, 1.0, (n, n_in)).astype(config.dtype)
        return Data(x, None, rng.uniform(0.01, 0.99, (n, n_out)).astype(config.dtype))
    x = rng.standard_normal((n, n_in), dtype=np.float32).astype(config.dtype, copy=False)
    teacher = rng.standard_normal((n_in, n_out)).astype(np.float32)
    labels = np.argmax(x.astype(np.float32) @ teacher, axis=1).astype(np.int64)
    return Data(x, labels, None)


def build_model(config: Config, seed: int = 0) -> cr.MLP:
    """ReLU MLP with a linear output for ``classify``; Mazur's network with his weights for ``mazur``."""
    if config.task == "mazur":
        net, _, _ = cr.examples.mazur(dtype=config.dtype)
        return net
    return cr.MLP(config.sizes, activation="relu", output_activation=None, seed=seed, dtype=config.dtype)


def loss_name(config: Config) -> str:
    return "half_squared_error" if config.task == "mazur" else "cross_entropy_with_logits"


def initial_weights(config: Config, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W (n_in, n_out), b (n_out,)) per layer, the starting point every implementation copies."""
    linears = [m for m in build_model(config, seed) if isinstance(m, cr.Linear)]
    return [(m.weight.data.copy(), m.bias.data.copy()) for m in linears]


def flops_per_sample(sizes: tuple[int, ...]) -> int:
    """Multiply-adds x 2 of one sample's forward and backward pass through the dense layers.

    Forward net = x @ W: 2 n_in n_out per layer; backward dE/dW = x.T @ delta: the same;
    dE/dx = delta @ W.T: the same again, except for the first layer (nobody needs dE/dx).
    Elementwise work (activations, loss) is not counted.
    """
    products = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * (2 * sum(products) + sum(products[1:]))
