"""Independent references for the core's tests: PyTorch in float64, and central differences.

PyTorch parity goes through one helper, :func:`assert_matches_torch`. An expression is
written once against a namespace of functions, ``expr(ns, *inputs)``, and run twice:
with ``ns = CR`` (chainrule's tensors, functions and losses) and with the namespace of
:func:`torch_namespace` (the same names on ``torch.Tensor``). Operators (``+ - * / ** @``,
indexing, ``.T``) are shared by both tensor types. The helper compares the values and,
after backpropagating the same random cotangent, the gradient of every input.

Finite differences go through :func:`assert_matches_finite_differences`, which needs
NumPy alone. PyTorch is imported only when a parity helper runs, so tests that use
finite differences do not need it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import chainrule.functional as F
from chainrule import losses
from chainrule.tensor import Tensor, no_grad

__all__ = [
    "CR", "ACTIVATION_NAMES", "LOSS_NAMES", "torch_namespace", "assert_matches_torch",
    "relative_error", "numeric_gradients", "assert_matches_finite_differences",
]

ACTIVATION_NAMES = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu",
                    "softmax", "log_softmax")
LOSS_NAMES = ("half_squared_error", "squared_error", "mse", "cross_entropy", "cross_entropy_with_logits",
              "binary_cross_entropy", "binary_cross_entropy_with_logits", "poisson")


def _cr_mlp(net: Any, x: Tensor, params: Sequence[Tensor]) -> Tensor:
    """chainrule side of an MLP: the module itself (``params`` are its own parameters)."""
    own = net.parameters()
    if len(own) != len(params) or any(p is not q for p, q in zip(own, params)):
        raise ValueError("pass the network's own parameters, in named_parameters() order")
    return net(x)


CR = SimpleNamespace(
    **{name: getattr(F, name) for name in F.__all__},
    **{name: getattr(losses, name) for name in LOSS_NAMES},
    mlp=_cr_mlp,
)


def relative_error(actual: Any, expected: Any) -> float:
    """max |actual - expected| / max |expected| (0 when both are zero)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise AssertionError(f"shapes differ: {actual.shape} vs {expected.shape}")
    if actual.size == 0:
        return 0.0
    diff = float(np.max(np.abs(actual - expected)))
    scale = float(np.max(np.abs(expected)))
    if diff == 0.0:
        return 0.0
    return diff / scale if scale > 0 else float("inf")


# ---------------------------------------------------------------- the PyTorch namespace
@functools.cache
def torch_namespace() -> SimpleNamespace:
    """chainrule's function names, implemented with PyTorch (float64 inputs expected)."""
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional

    def dims(a: Any, axis: Any) -> tuple[int, ...]:
        if axis is None:
            return tuple(range(a.ndim))
        return (axis,) if isinstance(axis, int) else tuple(axis)

    def as_index(index: Any) -> Any:
        if isinstance(index, tuple):
            return tuple(as_index(i) for i in index)
        if isinstance(index, (np.ndarray, list)):
            return torch.as_tensor(np.asarray(index))
        return index

    def activation(name: str, net: Any, **attrs: Any) -> Any:
        return getattr(ns, name)(net, **attrs)

    def target_tensor(target: Any, like: Any) -> Any:
        target = np.asarray(target)
        if target.dtype.kind in "iu":
            return torch.as_tensor(target.astype(np.int64))
        return torch.as_tensor(target, dtype=like.dtype)

    def per_sample(name: str, out: Any, t: Any) -> Any:
        """l_n, the loss of each sample: shape (batch,)."""
        class_indices = t.dtype == torch.int64
        if name == "half_squared_error":
            return 0.5 * tf.mse_loss(out, t, reduction="none").sum(-1)
        if name == "squared_error":
            return tf.mse_loss(out, t, reduction="none").sum(-1)
        if name == "mse":
            return tf.mse_loss(out, t, reduction="none").mean(-1)
        if name == "cross_entropy":
            if class_indices:
                return tf.nll_loss(torch.log(out), t, reduction="none")
            return -(t * torch.log(out)).sum(-1)
        if name == "cross_entropy_with_logits":
            return tf.cross_entropy(out, t, reduction="none")
        if name == "binary_cross_entropy":
            return tf.binary_cross_entropy(out, t, reduction="none").sum(-1)
        if name == "binary_cross_entropy_with_logits":
            return tf.binary_cross_entropy_with_logits(out, t, reduction="none").sum(-1)
        if name == "poisson":
            return tf.poisson_nll_loss(out, t, log_input=True, full=False, reduction="none").sum(-1)
        raise KeyError(name)

    def unweighted(name: str, out: Any, t: Any) -> Any:
        """PyTorch's own reductions, rescaled to chainrule's mean over samples of per-sample sums."""
        n, k = out.shape
        if name == "half_squared_error":
            return 0.5 * torch.nn.MSELoss(reduction="sum")(out, t) / n
        if name == "squared_error":
            return torch.nn.MSELoss(reduction="sum")(out, t) / n
        if name == "mse":
            return torch.nn.MSELoss()(out, t)
        if name == "cross_entropy" and t.dtype == torch.int64:
            return torch.nn.NLLLoss()(torch.log(out), t)
        if name == "cross_entropy_with_logits":
            return torch.nn.CrossEntropyLoss()(out, t)
        if name == "binary_cross_entropy":
            return torch.nn.BCELoss(reduction="sum")(out, t) / n
        if name == "binary_cross_entropy_with_logits":
            return torch.nn.BCEWithLogitsLoss(reduction="sum")(out, t) / n
        if name == "poisson":
            # PoissonNLLLoss averages over all n * k elements; chainrule sums over outputs.
            return torch.nn.PoissonNLLLoss(log_input=True, full=False)(out, t) * k
        return per_sample(name, out, t).mean()

    def make_loss(name: str) -> Callable[..., Any]:
        def loss(output: Any, target: Any, sample_weight: Any = None) -> Any:
            t = target_tensor(target, output)
            if sample_weight is None:
                return unweighted(name, output, t)
            w = torch.as_tensor(np.asarray(sample_weight, dtype=np.float64))
            return (w * per_sample(name, output, t)).sum() / w.sum()

        return loss

    def mlp(net: Any, x: Any, params: Sequence[Any]) -> Any:
        """net = x @ W + b and out = f(net) per layer, from the same parameters."""
        params = list(params)
        for linear, act in net.layers():
            x = x @ params.pop(0)
            if linear.bias is not None:
                x = x + params.pop(0)
            if act is not None:
                x = activation(act.name, x, **act.attrs)
        return x

    ns = SimpleNamespace(
        add=lambda a, b: a + b,
        sub=lambda a, b: a - b,
        mul=lambda a, b: a * b,
        div=lambda a, b: a / b,
        pow=lambda a, b: a ** b,
        neg=lambda a: -a,
        matmul=lambda a, b: a @ b,
        transpose=lambda a, axes=None: a.permute(tuple(reversed(range(a.ndim))) if axes is None else tuple(axes)),
        reshape=lambda a, shape: a.reshape(shape),
        getitem=lambda a, index: a[as_index(index)],
        sum=lambda a, axis=None, keepdims=False: torch.sum(a, dim=dims(a, axis), keepdim=keepdims),
        mean=lambda a, axis=None, keepdims=False: torch.mean(a, dim=dims(a, axis), keepdim=keepdims),
        max=lambda a, axis=None, keepdims=False: torch.amax(a, dim=dims(a, axis), keepdim=keepdims),
        concatenate=lambda tensors, axis=0: torch.cat(list(tensors), dim=axis),
        stack=lambda tensors, axis=0: torch.stack(list(tensors), dim=axis),
        exp=torch.exp,
        log=torch.log,
        sqrt=torch.sqrt,
        abs=torch.abs,
        clip=lambda a, low=None, high=None: torch.clamp(a, low, high),
        where=lambda condition, a, b: torch.where(torch.as_tensor(np.asarray(condition, dtype=bool)), a, b),
        identity=lambda net: net,
        sigmoid=torch.sigmoid,
        tanh=torch.tanh,
        relu=torch.relu,
        leaky_relu=lambda net, alpha=0.01: tf.leaky_relu(net, alpha),
        elu=lambda net, alpha=1.0: tf.elu(net, alpha),
        softplus=tf.softplus,
        gelu=lambda net, approximate="none": tf.gelu(net, approximate=approximate),
        softmax=lambda net, axis=-1: torch.softmax(net, dim=axis),
        log_softmax=lambda net, axis=-1: torch.log_softmax(net, dim=axis),
        activation=activation,
        mlp=mlp,
        **{name: make_loss(name) for name in LOSS_NAMES},
    )
    return ns


# ---------------------------------------------------------------- the parity helper
def assert_matches_torch(expr: Callable[..., Any], *inputs: Any, rtol: float = 1e-10,
                         seed: int = 0) -> float:
    """Run ``expr(ns, *inputs)`` in chainrule and in PyTorch (float64); compare value and gradients.

    Parameters
    ----------
    expr : callable
        ``expr(ns, *tensors) -> tensor``, written once with ``ns.<function>`` and operators.
    *inputs : array_like or chainrule Tensor
        The differentiable inputs. A chainrule tensor that requires grad (a network's
        Parameter) is used as it is on the chainrule side; anything else becomes a new
        float64 leaf. Constants (targets, masks) belong in ``expr``'s closure.
    rtol : float
        Largest relative error allowed, max |cr - torch| / max |torch|, for the value
        and for each input's gradient.
    seed : int
        Seed of the random cotangent backpropagated from a non-scalar output.

    Returns
    -------
    float
        The largest relative error seen.
    """
    torch = pytest.importorskip("torch")

    cr_inputs = [x if isinstance(x, Tensor) and x.requires_grad
                 else Tensor(np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64),
                             requires_grad=True)
                 for x in inputs]
    for t in cr_inputs:
        t.grad = None
    torch_inputs = [torch.tensor(np.array(t.data, dtype=np.float64), requires_grad=True) for t in cr_inputs]

    cr_out = expr(CR, *cr_inputs)
    torch_out = expr(torch_namespace(), *torch_inputs)
    expected = torch_out.detach().numpy()
    if cr_out.shape != expected.shape:
        raise AssertionError(f"output shape {cr_out.shape} but PyTorch gives {expected.shape}")
    errors = {"value": relative_error(cr_out.data, expected)}

    if cr_out.size == 1:
        cotangent = np.ones(cr_out.shape)
    else:
        cotangent = np.random.default_rng(seed).standard_normal(cr_out.shape)
    cr_out.backward(cotangent)
    torch_out.backward(torch.as_tensor(cotangent))
    for i, (c, t) in enumerate(zip(cr_inputs, torch_inputs)):
        mine = c.grad if c.grad is not None else np.zeros(c.shape)
        theirs = t.grad.numpy() if t.grad is not None else np.zeros(c.shape)
        errors[f"grad of input {i} {c.shape}"] = relative_error(mine, theirs)

    worst = max(errors, key=errors.get)
    if not errors[worst] < rtol:
        raise AssertionError(f"chainrule and PyTorch differ: relative error {errors[worst]:.3g} in {worst} "
                             f"(allowed {rtol:g}); all: {errors}")
    return errors[worst]


# ---------------------------------------------------------------- finite differences
def numeric_gradients(fn: Callable[..., Tensor], arrays: Sequence[np.ndarray], cotangent: np.ndarray,
                      eps: float = 1e-6) -> list[np.ndarray]:
    """Central differences of <cotangent, fn(*arrays)> with respect to every element of every array."""
    grads = []
    with no_grad():
        def objective(values: Sequence[np.ndarray]) -> float:
            return float(np.sum(fn(*(Tensor(v) for v in values)).data * cotangent))

        for i, a in enumerate(arrays):
            grad = np.zeros_like(a)
            for index in np.ndindex(a.shape):
                values = [v.copy() for v in arrays]
                values[i][index] = a[index] + eps
                plus = objective(values)
                values[i][index] = a[index] - eps
                minus = objective(values)
                grad[index] = (plus - minus) / (2 * eps)
            grads.append(grad)
    return grads


def assert_matches_finite_differences(fn: Callable[..., Tensor], *arrays: Any, seed: int = 0,
                                      eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Backprop's J^T u for a random cotangent u against central differences, in float64.

    ``fn(*tensors)`` may return a tensor of any shape. Every element of every input is
    perturbed, so keep the inputs small.
    """
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*tensors)
    cotangent = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(cotangent)
    numeric = numeric_gradients(fn, arrays, cotangent, eps)
    for i, (t, expected) in enumerate(zip(tensors, numeric)):
        analytic = t.grad if t.grad is not None else np.zeros_like(expected)
        np.testing.assert_allclose(analytic, expected, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}, shape {t.shape}")
