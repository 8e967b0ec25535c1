"""The data and settings shared by the single-process reference and the ranks under mpiexec."""

from __future__ import annotations

import numpy as np


def data(dtype=np.float64):
    """101 samples, batches of 16: 6 batches of 16 and one of 5 (uneven over 2 and 3 ranks)."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(101, 4)).astype(dtype)
    y = (x[:, 0] + x[:, 1] ** 2 > 0.5).astype(np.int64) + (x[:, 2] > 0.8)
    w = rng.uniform(0.2, 2.0, 101).astype(dtype)
    return x, y, w


def train_kwargs():
    return dict(loss="cross_entropy_with_logits", optimizer="adam", lr=0.01, batch_size=16, seed=3,
                progress=False, clip_norm=5.0)


def sklearn_classifier():
    """Adam, an L2 penalty scaled by the batch, shuffling: the parts a sharded fit must get right."""
    from chainrule.sklearn import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(6,), alpha=1e-2, batch_size=16, max_iter=5, random_state=2,
                         learning_rate_init=0.01, dtype="float64")
