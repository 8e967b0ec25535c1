"""Loss functions, each with its closed-form gradient.

Every loss is the mean over samples of a per-sample sum over outputs,

    E = (1 / N) sum_n l_n,     l_n = sum_k e(out_nk, target_nk),

unless its name says otherwise (``mse`` averages over outputs too). With
``sample_weight`` w the mean is weighted: E = sum_n w_n l_n / sum_n w_n.
For one sample, ``half_squared_error`` is the E_total of Mazur's post, the 1-1-1 chain question and the lecture notes:
E_total = sum_k 1/2 (target_k - out_k)^2.

Each loss is one op in :mod:`chainrule.ops`'s registry: its forward and dl_n/dout
sit together in a :class:`LossDef`, read by the graph, the training plan and the
learner tools alike. ``terms`` gives the per-output error terms (Mazur's E_o1, E_o2).

Output and target shapes: output (batch, n_out) or, for one sample, (n_out,);
target the same shape, or for the cross-entropies class indices of shape (batch,).

Each loss also says which output activations it makes sense after (``outputs``): the
cross-entropy -sum_k target_k log(out_k) needs probabilities that sum to 1 (softmax),
the binary one needs each output in (0, 1) (sigmoid), and the losses ``*_with_logits``
and ``poisson`` take net itself (their link is inside the loss), so the layer before
them is linear. :func:`check_pair` refuses any other pair and :func:`auto_loss` is the
one rule that picks a loss for ``loss="auto"``; ``fit``, the command line and the
scikit-learn estimators all read them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from chainrule import boundary, ops
from chainrule.errors import ConfigError, ShapeError
from chainrule.ops import Op, register
from chainrule.tensor import Tensor

__all__ = [
    "LossDef", "LOSSES", "get_loss", "half_squared_error", "squared_error", "mse",
    "cross_entropy", "cross_entropy_with_logits", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "poisson", "loss_name", "check_pair", "auto_loss", "probability_form",
    "are_class_labels",
]

Array = np.ndarray


#: Writes dE/dout (or dE/dnet) divided by n into ``delta`` and returns E's sum over the
#: terms divided by n: ``into(out, target, delta, n, onehot, scratch) -> float``. ``onehot``
#: says every target row sums to 1; ``scratch`` is a spare array of ``out``'s shape.
DeltaInto = Callable[[np.ndarray, np.ndarray, np.ndarray, int, bool, np.ndarray], float]


@dataclass(frozen=True)
class LossDef:
    """One loss: per-output terms e(out, target), their derivative de/dout, and its pairs.

    ``terms(out, target)`` and ``grad(out, target)`` take and return (batch, n_out)
    arrays; l_n is the sum of a row of terms. ``delta_into`` is the same value and
    gradient computed in place (for :mod:`chainrule.plan`, as ops carry ``derivative_into``).

    ``canonical_activation`` is the output activation f that makes the output delta
    dE/dnet_k = dE/dout_k f'(net_k) simply out_k - target_k (the canonical pairs of
    generalised linear models); ``canonical_delta_into`` computes that delta from f's output
    where it differs from ``delta_into``. ``outputs`` lists the output activations the loss
    makes sense after (None: any); ``needs_probabilities`` marks losses that take log(out).
    """

    name: str
    terms: Callable[[Array, Array], Array]
    grad: Callable[[Array, Array], Array]
    formula: str
    grad_formula: str
    class_targets: bool = False
    canonical_activation: str = "identity"
    outputs: frozenset[str] | None = None
    needs_probabilities: bool = False
    #: What the loss expects of its input, for error messages.
    expects: str = ""
    delta_into: DeltaInto | None = None
    canonical_delta_into: DeltaInto | None = None


def _eps(a: Array) -> float:
    return float(np.finfo(a.dtype).eps)


def _clip_probability(p: Array, upper: bool = False) -> Array:
    # log(0) is -inf; probabilities are clipped to [eps, 1 - eps] (machine epsilon), as
    # scikit-learn does, so the loss and its gradient stay finite.
    eps = _eps(p)
    return np.clip(p, eps, 1 - eps if upper else None)


def _ce_terms(p: Array, t: Array) -> Array:
    return -t * np.log(_clip_probability(p))


def _ce_grad(p: Array, t: Array) -> Array:
    return -t / _clip_probability(p)


def _bce_terms(p: Array, t: Array) -> Array:
    p = _clip_probability(p, upper=True)
    return -(t * np.log(p) + (1 - t) * np.log1p(-p))


def _bce_grad(p: Array, t: Array) -> Array:
    p = _clip_probability(p, upper=True)
    return (p - t) / (p * (1 - p))


def _ce_logits_grad(z: Array, t: Array) -> Array:
    # Fused softmax + cross-entropy: d/dz_j [-sum_i t_i log softmax_i(z)] = softmax_j sum_i t_i - t_j,
    # which is softmax(z) - t for target rows summing to 1: no division by a tiny probability.
    return ops.softmax(z) * np.sum(t, axis=-1, keepdims=True) - t


def _bce_logits_terms(z: Array, t: Array) -> Array:
    # softplus(z) - t z = -[t log sigmoid(z) + (1-t) log(1 - sigmoid(z))], with no overflow.
    return ops.softplus(z) - t * z


# ------------------------------------------------------------------ in-place forms for the plan
def _generic_into(terms: Callable[[Array, Array], Array], grad: Callable[[Array, Array], Array]) -> DeltaInto:
    """E / n and dE/dout / n from the loss's own ``terms`` and ``grad``."""
    def into(out: Array, t: Array, delta: Array, n: int, onehot: bool, scratch: Array) -> float:
        value = float(terms(out, t).sum()) / n
        g = grad(out, t)
        if n != 1 or g is not delta:
            np.divide(g, n, out=delta)
        return value

    return into


def _squared_into(scale: Callable[[int], float]) -> DeltaInto:
    """E = c sum_k (target_k - out_k)^2: one subtraction gives both E and delta = 2 c (out - target)."""
    def into(out: Array, t: Array, delta: Array, n: int, onehot: bool, scratch: Array) -> float:
        np.subtract(out, t, out=delta)
        c = scale(out.shape[-1])
        value = c * float(np.vdot(delta, delta)) / n
        factor = 2 * c / n
        if factor != 1:
            np.multiply(delta, factor, out=delta)
        return value

    return into


def _probabilities_minus_target_into(terms: Callable[[Array, Array], Array], softmax: bool) -> DeltaInto:
    """The canonical delta from the output's probabilities p: dE/dnet_j = p_j sum_i t_i - t_j.

    softmax + cross-entropy: sum_i (-t_i / p_i) p_i (1[i=j] - p_j) = p_j sum_i t_i - t_j;
    sigmoid + binary cross-entropy: (p - t) / (p (1 - p)) * p (1 - p) = p - t. Both are
    p - t for one-hot rows (and for sigmoid always, whose rows are single outputs).
    """
    def into(p: Array, t: Array, delta: Array, n: int, onehot: bool, scratch: Array) -> float:
        value = float(terms(p, t).sum()) / n
        if onehot or not softmax:
            np.subtract(p, t, out=delta)
        else:
            np.multiply(p, t.sum(axis=1, keepdims=True), out=delta)
            np.subtract(delta, t, out=delta)
        if n != 1:
            np.divide(delta, n, out=delta)
        return value

    return into


def _ce_logits_into(net: Array, t: Array, delta: Array, n: int, onehot: bool, scratch: Array) -> float:
    """cross_entropy_with_logits in place: E = -(1/N) sum_n sum_k t_nk log p_nk, p = softmax(net).

    log p = shifted - log sum_k exp(shifted_k) with shifted = net - max_k net_k (so exp never
    overflows); delta = (p sum_k t_k - t) / N, which is (p - t) / N for one-hot rows.
    """
    np.subtract(net, np.maximum.reduce(net, axis=1, keepdims=True), out=scratch)
    p = np.exp(scratch, out=delta)
    sums = np.add.reduce(p, axis=1, keepdims=True)
    np.divide(p, sums, out=p)
    np.subtract(scratch, np.log(sums, out=sums), out=scratch)  # log p
    value = -float(np.vdot(t, scratch)) / n
    if not onehot:
        np.multiply(p, np.add.reduce(t, axis=1, keepdims=True), out=p)
    np.subtract(p, t, out=delta)
    if n != 1:
        np.divide(delta, n, out=delta)
    return value


LOSS_DEFS: dict[str, LossDef] = {}


def _define(definition: LossDef) -> LossDef:
    if definition.delta_into is None:
        definition = replace(definition, delta_into=_generic_into(definition.terms, definition.grad))
    LOSS_DEFS[definition.name] = definition

    def forward(out: Array, target: Array, weight: Array | None) -> Array:
        per_sample = np.sum(definition.terms(out, target), axis=-1)
        if weight is None:
            return np.mean(per_sample)
        return np.sum(weight * per_sample) / np.sum(weight)

    def vjp(g: Array, result: Array, out: Array, target: Array, weight: Array | None):
        grad = definition.grad(out, target)
        if weight is None:
            return (g * grad / out.shape[0],)
        return (g * grad * (weight / np.sum(weight))[:, None],)

    # Saturated outputs give gradients that round to subnormals or 0: benign underflow, as in ops.
    register(Op(definition.name, ops._underflow_is_zero(forward), ops._underflow_is_zero(vjp),
                formula=definition.formula, derivative_formula=definition.grad_formula))
    return definition


def _squared_error(name: str, scale: Callable[[int], float], formula: str, grad_formula: str,
                   **options: Any) -> LossDef:
    """E = c sum_k (target_k - out_k)^2 with c = scale(K), so dE/dout_k = 2 c (out_k - target_k)."""
    return LossDef(name, lambda o, t: (t - o) ** 2 * scale(o.shape[-1]),
                   lambda o, t: (o - t) * (2 * scale(o.shape[-1])),
                   formula, grad_formula, expects="any outputs", delta_into=_squared_into(scale), **options)


_define(_squared_error("half_squared_error", lambda k: 0.5,
                       "E = 1/2 sum_k (target_k - out_k)^2", "dE/dout_k = out_k - target_k"))
_define(_squared_error("squared_error", lambda k: 1.0,
                       "E = sum_k (target_k - out_k)^2", "dE/dout_k = 2 (out_k - target_k)"))
_define(_squared_error("mse", lambda k: 1.0 / k,
                       "E = 1/K sum_k (target_k - out_k)^2", "dE/dout_k = 2 (out_k - target_k) / K"))
_define(LossDef(
    "cross_entropy", _ce_terms, _ce_grad,
    "E = -sum_k target_k log(out_k)", "dE/dout_k = -target_k / out_k",
    class_targets=True, canonical_activation="softmax", outputs=frozenset({"softmax"}), needs_probabilities=True,
    expects="outputs that sum to 1 (probabilities)",
    canonical_delta_into=_probabilities_minus_target_into(_ce_terms, softmax=True),
))
_define(LossDef(
    "cross_entropy_with_logits",
    lambda z, t: -t * ops.log_softmax(z),
    _ce_logits_grad,
    "E = -sum_k target_k log(softmax(net)_k)", "dE/dnet_k = softmax(net)_k - target_k",
    class_targets=True, outputs=frozenset({"identity"}), expects="net itself (it applies softmax)",
    delta_into=_ce_logits_into,
))
_define(LossDef(
    "binary_cross_entropy", _bce_terms, _bce_grad,
    "E = -sum_k [target_k log(out_k) + (1 - target_k) log(1 - out_k)]",
    "dE/dout_k = (out_k - target_k) / (out_k (1 - out_k))",
    canonical_activation="sigmoid", outputs=frozenset({"sigmoid"}), needs_probabilities=True,
    expects="each output in (0, 1) (probabilities)",
    canonical_delta_into=_probabilities_minus_target_into(_bce_terms, softmax=False),
))
_define(LossDef(
    "binary_cross_entropy_with_logits", _bce_logits_terms,
    lambda z, t: ops.sigmoid(z) - t,
    "E = -sum_k [target_k log(sigmoid(net_k)) + (1 - target_k) log(1 - sigmoid(net_k))]",
    "dE/dnet_k = sigmoid(net_k) - target_k",
    outputs=frozenset({"identity"}), expects="net itself (it applies sigmoid)",
))
_define(LossDef(
    "poisson",
    lambda z, t: np.exp(z) - t * z,
    lambda z, t: np.exp(z) - t,
    "E = sum_k exp(net_k) - target_k net_k  (net = log of the rate)",
    "dE/dnet_k = exp(net_k) - target_k",
    outputs=frozenset({"identity"}), expects="net itself, the log of the rate (a log link)",
))


# ------------------------------------------------------------------ the data a loss takes
def _prepare(name: str, output: Any, target: Any, sample_weight: Any) -> tuple[Tensor, Array, Array | None]:
    """Validate and align output (batch, k), target (batch, k) and weights (batch,) (see :mod:`chainrule.boundary`)."""
    if not isinstance(output, Tensor):
        output = Tensor(output)
    if output.ndim == 1:  # one sample
        output = output.reshape(1, -1)
        target = boundary.as_numbers(target, f"{name}: targets")
        target = target.reshape(1) if target.ndim == 0 else target.reshape(1, -1)
    if output.ndim != 2:
        raise ShapeError(f"{name}: expected output of shape (batch, n_out) or (n_out,), got {output.shape}")
    n, k = output.shape
    target = boundary.loss_targets(name, target, n, k, output.dtype, LOSS_DEFS[name].class_targets)
    weight = None if sample_weight is None else boundary.loss_weights(name, sample_weight, n, output.dtype)
    return output, target, weight


def _loss(name: str, output: Any, target: Any, sample_weight: Any) -> Tensor:
    output, target, weight = _prepare(name, output, target, sample_weight)
    return Tensor._from_op(ops.get_op(name), (output,), {"target": target, "weight": weight})


# ------------------------------------------------------------------ public functions
def half_squared_error(output: Any, target: Any, sample_weight: Any = None) -> Tensor:
    """E = 1/2 sum_k (target_k - out_k)^2, averaged over samples.

    The E_total of Mazur's post, Nielsen's book and the lecture notes (x, y, z); dE/dout_k = out_k - target_k.

    Examples
    --------
    >>> from chainrule.losses import half_squared_error
    >>> float(half_squared_error([[0.75136507, 0.772928465]], [[0.01, 0.99]]).item())  # doctest: +ELLIPSIS
    0.29837110...
    """
    return _loss("half_squared_error", output, target, sample_weight)


def squared_error(output: Any, target: Any, sample_weight: Any = None) -> Tensor:
    """E = sum_k (target_k - out_k)^2 per sample (Learning From Data's e(w)); dE/dout_k = 2 (out_k - target_k)."""
    return _loss("squared_error", output, target, sample_weight)


def mse(output: Any, target: Any, sample_weight: Any = None) -> Tensor:
    """Mean squared error over all elements, as PyTorch's ``MSELoss`` and Keras compute it."""
    return _loss("mse", output, target, sample_weight)


def cross_entropy(output: Any, target: Any, sample_weight: Any = None) -> Tensor:
    """E = -sum_k target_k log(out_k) on probabilities ``output`` (e.g. after softmax).

    ``target``: class indices (batch,) or probability rows (batch, n_out). Probabilities
    are clipped to [eps, 1 - eps] before the log. Prefer :func:`cross_entropy_with_logits`
    in training: it is fused and stable.
    """
    return _loss("cross_entropy", output, target, sample_weight)


def cross_entropy_with_logits(output: Any, target: Any, sample_weight: Any = None) -> Tensor:
    """Softmax then cross-entropy, fused: E = -sum_k target_k log softmax(net)_k.

    dE/dnet_k = softmax(net)_k - target_k: the delta of a softmax output layer.
    """
    return _loss("cross_entropy_with_logits", output, target, sample_weight)


def binary_cross_entropy(output: Any, target: Any, sample_weight: Any = None) -> Tensor:
    """E = -sum_k [t_k log(out_k) + (1 - t_k) log(1 - out_k)] on probabilities."""
    return _loss("binary_cross_entropy", output, target, sample_weight)


def binary_cross_entropy_with_logits(output: Any, target: Any, sample_weight: Any = None) -> Tensor:
    """Sigmoid then binary cross-entropy, fused: dE/dnet_k = sigmoid(net_k) - t_k."""
    return _loss("binary_cross_entropy_with_logits", output, target, sample_weight)


def poisson(output: Any, target: Any, sample_weight: Any = None) -> Tensor:
    """Poisson deviance with a log link: E = sum_k exp(net_k) - t_k net_k (``output`` = log rate).

    Up to terms without net this is the negative log-likelihood of counts t_k with
    rate exp(net_k), as PyTorch's ``PoissonNLLLoss(log_input=True)`` (which also averages over outputs).
    """
    return _loss("poisson", output, target, sample_weight)


LOSSES: dict[str, Callable[..., Tensor]] = {
    "half_squared_error": half_squared_error,
    "squared_error": squared_error,
    "mse": mse,
    "cross_entropy": cross_entropy,
    "cross_entropy_with_logits": cross_entropy_with_logits,
    "binary_cross_entropy": binary_cross_entropy,
    "binary_cross_entropy_with_logits": binary_cross_entropy_with_logits,
    "poisson": poisson,
}


def get_loss(loss: str | Callable[..., Tensor]) -> Callable[..., Tensor]:
    """A loss function by name, or ``loss`` itself when it is callable."""
    if callable(loss):
        return loss
    try:
        return LOSSES[loss]
    except KeyError:
        raise ConfigError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}") from None


def loss_name(loss: str | Callable[..., Any]) -> str | None:
    """The name in :data:`LOSS_DEFS` of a loss given by name or as one of this module's functions."""
    if isinstance(loss, str):
        return loss if loss in LOSS_DEFS else None
    return next((name for name, fn in LOSSES.items() if fn is loss), None)


# ------------------------------------------------------------------ output/loss pairs
#: The loss on net that applies an output activation itself, for each loss on probabilities.
_WITH_LOGITS = {"cross_entropy": "cross_entropy_with_logits",
                "binary_cross_entropy": "binary_cross_entropy_with_logits"}


def probability_form(loss: str) -> str:
    """The loss on probabilities that a ``*_with_logits`` loss fuses with its activation; others unchanged."""
    return next((p for p, logits in _WITH_LOGITS.items() if logits == loss), loss)


def check_pair(output: str | None, loss: str | Callable[..., Any], allow_mismatch: bool = False) -> None:
    """Refuse an output activation and a loss that do not belong together.

    ``output`` is the name of the network's output activation ("identity" for a linear
    output; None when it is not an op of the registry, which is not checked), ``loss`` a
    name or a function of this module (custom losses are not checked). With
    ``allow_mismatch=True`` the pair passes with a RuntimeWarning (shown once per pair).

    Raises
    ------
    ConfigError
        E.g. for a linear output with ``cross_entropy``, which takes log(out) of numbers
        that are not probabilities.
    """
    name = loss_name(loss)
    if output is None or name is None:
        return
    definition = LOSS_DEFS[name]
    if definition.outputs is None or output in definition.outputs:
        return
    allowed = " or ".join(repr(a) for a in sorted(definition.outputs))
    message = (f"loss {name!r} expects {definition.expects}: the output activation must be {allowed}, "
               f"but the network's output is {output!r}")
    if output == "identity" and name in _WITH_LOGITS:
        message += f"; for a linear output use loss={_WITH_LOGITS[name]!r}"
    elif output == LOSS_DEFS[probability_form(name)].canonical_activation and name != probability_form(name):
        message += f"; after {output} use loss={probability_form(name)!r}"
    else:
        message += f"; use output_activation={sorted(definition.outputs)[0]!r}"
    if not allow_mismatch:
        raise ConfigError(message + " (or allow_mismatch=True, --allow-mismatch on the command line, to train it "
                                    "anyway)")
    # Issued from here, so Python's default filter shows it once per pair, however many calls check it.
    warnings.warn(message, RuntimeWarning, stacklevel=1)


def auto_loss(output: str | None, n_out: int, classes: bool) -> str:
    """The loss ``loss="auto"`` means, from the output activation, the output count and the task.

    softmax -> ``cross_entropy``; sigmoid -> ``binary_cross_entropy`` (the canonical pairs);
    class labels on a linear output -> ``cross_entropy_with_logits`` for several outputs,
    ``binary_cross_entropy_with_logits`` for one; anything else -> ``mse``.

    Examples
    --------
    >>> auto_loss("identity", 1, classes=True)
    'binary_cross_entropy_with_logits'
    >>> auto_loss("tanh", 3, classes=True)
    'mse'
    """
    if output == "softmax":
        return "cross_entropy"
    if output == "sigmoid":
        return "binary_cross_entropy"
    if classes and output == "identity":
        return "cross_entropy_with_logits" if n_out > 1 else "binary_cross_entropy_with_logits"
    return "mse"


def are_class_labels(target: Any, n_out: int) -> bool:
    """Whether ``target`` reads as class labels for :func:`auto_loss`: integers (n_samples,), 0 or 1 for one output."""
    y = np.asarray(target.data if isinstance(target, Tensor) else target)
    if y.ndim != 1 or y.dtype.kind not in "biu":
        return False
    return n_out > 1 or bool(np.isin(y, (0, 1)).all())
