"""Losses: values against the formulas written out in NumPy, gradients against finite differences, numerics."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import losses
from chainrule.losses import LOSS_DEFS, LOSSES
from torch_reference import LOSS_NAMES, assert_matches_finite_differences

SETTINGS = settings(max_examples=40, deadline=None)
seeds = st.integers(0, 2**32 - 1)

PROBABILITY_OUTPUTS = {"cross_entropy", "binary_cross_entropy"}
CLASS_TARGETS = {"cross_entropy", "cross_entropy_with_logits"}


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def bce(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    return -(t * np.log(p) + (1 - t) * np.log(1 - p)).sum(1)


#: l_n per sample, written out independently of chainrule: output (batch, k), target (batch, k) -> (batch,).
PER_SAMPLE = {
    "half_squared_error": lambda o, t: 0.5 * ((t - o) ** 2).sum(1),
    "squared_error": lambda o, t: ((t - o) ** 2).sum(1),
    "mse": lambda o, t: ((t - o) ** 2).mean(1),
    "cross_entropy": lambda o, t: -(t * np.log(o)).sum(1),
    "cross_entropy_with_logits": lambda z, t: -(t * np.log(softmax(z))).sum(1),
    "binary_cross_entropy": lambda o, t: bce(o, t),
    "binary_cross_entropy_with_logits": lambda z, t: bce(sigmoid(z), t),
    "poisson": lambda z, t: (np.exp(z) - t * z).sum(1),
}


def make_case(name: str, seed: int, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """An output in the loss's domain and a matching target (batch, k)."""
    rng = np.random.default_rng(seed)
    if name in PROBABILITY_OUTPUTS:
        output = rng.uniform(0.05, 0.95, size=(n, k))
    else:
        output = rng.normal(size=(n, k))
    if name in ("cross_entropy", "cross_entropy_with_logits"):
        target = rng.dirichlet(np.ones(k), size=n)
    elif name in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
        target = rng.uniform(0, 1, size=(n, k))
    elif name == "poisson":
        target = rng.poisson(2.0, size=(n, k)).astype(float)
    else:
        target = rng.normal(size=(n, k))
    return output, target


def test_every_loss_is_tested():
    assert set(LOSSES) == set(LOSS_NAMES) == set(LOSS_DEFS) == set(PER_SAMPLE)


@pytest.mark.parametrize("name", LOSS_NAMES)
@SETTINGS
@given(n=st.integers(1, 5), k=st.integers(1, 4), seed=seeds, weighted=st.booleans())
def test_loss_values_and_gradients(name, n, k, seed, weighted):
    output, target = make_case(name, seed, n, k)
    weight = np.random.default_rng(seed + 1).uniform(0.1, 3.0, size=n) if weighted else None
    loss = LOSSES[name]
    per_sample = PER_SAMPLE[name](output, target)
    expected = per_sample.mean() if weight is None else (weight * per_sample).sum() / weight.sum()
    assert loss(output, target, weight).item() == pytest.approx(expected, rel=1e-12)
    assert_matches_finite_differences(lambda o: loss(o, target, weight), output, seed=seed)


@pytest.mark.parametrize("name", sorted(CLASS_TARGETS))
@SETTINGS
@given(n=st.integers(1, 5), k=st.integers(2, 4), seed=seeds, weighted=st.booleans())
def test_class_index_targets(name, n, k, seed, weighted):
    output, _ = make_case(name, seed, n, k)
    labels = np.random.default_rng(seed).integers(0, k, size=n)
    weight = np.random.default_rng(seed + 1).uniform(0.1, 3.0, size=n) if weighted else None
    probabilities = output if name == "cross_entropy" else softmax(output)
    per_sample = -np.log(probabilities[np.arange(n), labels])
    expected = per_sample.mean() if weight is None else (weight * per_sample).sum() / weight.sum()
    loss = LOSSES[name]
    assert loss(output, labels, weight).item() == pytest.approx(expected, rel=1e-12)
    assert loss(output, labels.astype(float), weight).item() == pytest.approx(expected, rel=1e-12)
    assert_matches_finite_differences(lambda o: loss(o, labels, weight), output, seed=seed)


def test_one_sample_as_a_vector_is_a_batch_of_one():
    # Mazur's E_total: 1/2 (0.01 - 0.75136507)^2 + 1/2 (0.99 - 0.772928465)^2.
    out, target = [0.75136507, 0.772928465], [0.01, 0.99]
    e_total = 0.5 * (0.01 - 0.75136507) ** 2 + 0.5 * (0.99 - 0.772928465) ** 2
    assert losses.half_squared_error(out, target).item() == pytest.approx(e_total, rel=1e-15)
    assert losses.half_squared_error([out], [target]).item() == pytest.approx(e_total, rel=1e-15)
    assert losses.cross_entropy([0.2, 0.7, 0.1], 1).item() == pytest.approx(-np.log(0.7), rel=1e-15)


def test_single_output_column_accepts_a_flat_target():
    out = np.array([[0.3], [0.8], [0.6]])
    target = np.array([0.0, 1.0, 1.0])
    expected = -np.mean(target * np.log(out[:, 0]) + (1 - target) * np.log(1 - out[:, 0]))
    assert losses.binary_cross_entropy(out, target).item() == pytest.approx(expected, rel=1e-14)


def test_mean_over_samples_of_sums_over_outputs():
    # Doubling the batch with copies leaves the loss unchanged; doubling the outputs doubles it.
    out, target = make_case("squared_error", 0, 3, 2)
    base = losses.squared_error(out, target).item()
    assert losses.squared_error(np.vstack([out, out]), np.vstack([target, target])).item() == pytest.approx(base)
    assert losses.squared_error(np.hstack([out, out]), np.hstack([target, target])).item() == pytest.approx(2 * base)
    assert losses.mse(np.hstack([out, out]), np.hstack([target, target])).item() == pytest.approx(base / 2)


def test_integer_sample_weights_repeat_samples():
    out, target = make_case("binary_cross_entropy_with_logits", 1, 3, 2)
    weighted = losses.binary_cross_entropy_with_logits(out, target, sample_weight=[2, 1, 0]).item()
    repeated = losses.binary_cross_entropy_with_logits(out[[0, 0, 1]], target[[0, 0, 1]]).item()
    assert weighted == pytest.approx(repeated, rel=1e-14)


def test_canonical_pairs_give_delta_out_minus_target():
    # The fused losses' gradient with respect to net is softmax(net) - t and sigmoid(net) - t.
    z, t = make_case("cross_entropy_with_logits", 2, 4, 3)
    net = cr.Tensor(z, requires_grad=True)
    losses.cross_entropy_with_logits(net, t).backward()
    np.testing.assert_allclose(net.grad, (softmax(z) - t) / 4, rtol=1e-12)
    z, t = make_case("binary_cross_entropy_with_logits", 3, 4, 3)
    net = cr.Tensor(z, requires_grad=True)
    losses.binary_cross_entropy_with_logits(net, t).backward()
    np.testing.assert_allclose(net.grad, (sigmoid(z) - t) / 4, rtol=1e-12)


# ---------------------------------------------------------------- numerics
EXTREMES = {
    "cross_entropy with exact 0 and 1": (losses.cross_entropy, [[0.0, 1.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]),
    "cross_entropy indices, p = 0": (losses.cross_entropy, [[0.0, 1.0], [1.0, 0.0]], [0, 1]),
    "binary_cross_entropy with exact 0 and 1": (losses.binary_cross_entropy, [[0.0, 1.0], [1.0, 0.0]],
                                                [[0.0, 1.0], [0.0, 1.0]]),
    "bce with logits at +-1e4": (losses.binary_cross_entropy_with_logits, [[1e4, -1e4], [-1e4, 1e4]],
                                 [[1.0, 0.0], [1.0, 0.0]]),
    "cross_entropy_with_logits at +-1e4": (losses.cross_entropy_with_logits, [[1e4, -1e4], [-1e4, 1e4]], [0, 0]),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(EXTREMES))
def test_extreme_outputs_give_finite_losses_and_gradients_without_warnings(name, dtype):
    loss, output, target = EXTREMES[name]
    out = cr.Tensor(np.array(output, dtype=dtype), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # np.seterr(all="raise") is on as well (conftest)
        value = loss(out, target)
        value.backward()
    assert value.dtype == dtype and out.grad.dtype == dtype
    assert np.isfinite(value.item()) and np.all(np.isfinite(out.grad))


def test_bce_with_logits_at_large_logits_has_the_exact_value():
    # Sample 1 is right with certainty (loss 0); sample 2 is wrong by 1e4 on both outputs.
    value = losses.binary_cross_entropy_with_logits([[1e4, -1e4], [-1e4, 1e4]], [[1.0, 0.0], [1.0, 0.0]])
    assert value.item() == pytest.approx((0 + 2e4) / 2, rel=1e-12)
    value = losses.cross_entropy_with_logits([[1e4, -1e4], [-1e4, 1e4]], [0, 0])
    assert value.item() == pytest.approx((0 + 2e4) / 2, rel=1e-12)


def test_cross_entropy_on_a_certain_right_answer_is_zero():
    assert losses.cross_entropy([[0.0, 1.0, 0.0]], [1]).item() == pytest.approx(0.0, abs=1e-15)
    assert losses.binary_cross_entropy([[0.0, 1.0]], [[0.0, 1.0]]).item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_float32_stays_float32_with_float64_targets_and_weights(name):
    output, target = make_case(name, 4, 3, 2)
    out = cr.Tensor(output.astype(np.float32), requires_grad=True)
    value = LOSSES[name](out * 1.0, target, sample_weight=[1.0, 2.0, 0.5])
    value.backward()
    assert value.dtype == np.float32 and out.grad.dtype == np.float32
    assert LOSSES[name]([[0.5, 0.25]], [[0.0, 1.0]]).dtype == np.float64
