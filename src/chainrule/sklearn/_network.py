"""The estimators' network: building it, scikit-learn's initialisation, penalties, one batch's loss.

The network is a chainrule :class:`~chainrule.nn.MLP` (the estimator's ``model_``);
its layer l holds w_ij^(l) as ``coefs_[l][i, j]`` and b_j^(l) as ``intercepts_[l][j]``.
Training reads and writes those same arrays.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.losses import get_loss
from chainrule.nn import MLP, Activation, FunctionActivation, Linear, Parameter, Sequential
from chainrule.sklearn._config import Objective, activation_name
from chainrule.tensor import Tensor, no_grad
from chainrule.train import loss_and_grad_fn


def build_network(layer_units: Sequence[int], hidden: Sequence[Any], output: str,
                  dtype: np.dtype, dropout: float = 0.0, seed: np.random.Generator | None = None) -> MLP:
    """An MLP with zero weights; the estimator binds ``coefs_`` and ``intercepts_`` to it.

    ``output`` is the output activation's chainrule name. Poisson's log link ("exp") is
    applied at prediction (``predict_output``): the network ends in identity and its
    output is net = log(rate).
    """
    modules = [copy.deepcopy(h) if isinstance(h, (Activation, FunctionActivation)) else h for h in hidden]
    return MLP(list(layer_units), activation=modules, output_activation="identity" if output == "exp" else output,
               init="zeros", seed=seed, dtype=dtype, dropout=dropout)


def init_factors(activation: Any, hidden: Sequence[str | Activation]) -> list[float]:
    """The Glorot factor c of each layer, bound = sqrt(c / (fan_in + fan_out)).

    scikit-learn uses c = 2 for logistic networks and c = 6 otherwise, for every layer
    including the output layer. With one activation per hidden layer, each layer takes
    its own activation's factor and the output layer the last hidden layer's.
    """
    def factor(spec: Any) -> float:
        return 2.0 if activation_name(spec) == "sigmoid" else 6.0

    if isinstance(activation, (list, tuple)):
        return [factor(h) for h in hidden] + [factor(hidden[-1]) if hidden else 6.0]
    return [factor(activation)] * (len(hidden) + 1)


def glorot_layer(fan_in: int, fan_out: int, factor: float, random_state: np.random.RandomState,
                 dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """One layer's W (fan_in, fan_out) then b (fan_out,), from U(-a, a), a = sqrt(c / (fan_in + fan_out))."""
    bound = math.sqrt(factor / (fan_in + fan_out))
    weight = random_state.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype, copy=False)
    return weight, random_state.uniform(-bound, bound, fan_out).astype(dtype, copy=False)


def glorot_arrays(layer_units: Sequence[int], factors: Sequence[float], random_state: np.random.RandomState,
                  dtype: np.dtype) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """scikit-learn's initialisation, draw for draw: the lists ``coefs_`` and ``intercepts_``.

    Layer after layer, :func:`glorot_layer` with scikit-learn's ``RandomState``; so the
    same ``random_state`` gives the same numbers as scikit-learn's MLP.
    """
    pairs = [glorot_layer(fan_in, fan_out, c, random_state, dtype)
             for fan_in, fan_out, c in zip(layer_units[:-1], layer_units[1:], factors)]
    return [w for w, _ in pairs], [b for _, b in pairs]


def weights_of(model: MLP) -> list[Parameter]:
    """The weight matrices W^(l), input layer first (scikit-learn's ``coefs_``)."""
    return [linear.weight for linear, _ in model.layers()]


def biases_of(model: MLP) -> list[Parameter]:
    """The bias vectors b^(l) (scikit-learn's ``intercepts_``)."""
    return [linear.bias for linear, _ in model.layers()]


def pack(model: MLP, grads: bool = False) -> np.ndarray:
    """All weights, then all biases, as one float64 vector (scikit-learn's order for L-BFGS)."""
    tensors = weights_of(model) + biases_of(model)
    return np.concatenate([(t.grad if grads else t.data).ravel() for t in tensors]).astype(np.float64, copy=False)


def unpack(model: MLP, vector: np.ndarray) -> None:
    """Copy a vector laid out as :func:`pack` writes it into the parameters, in place."""
    start = 0
    for t in weights_of(model) + biases_of(model):
        stop = start + t.data.size
        np.copyto(t.data, vector[start:stop].reshape(t.data.shape), casting="same_kind")
        start = stop


# ------------------------------------------------------------------ penalties
def l2_penalty(weights: Sequence[Parameter], alpha: float, n: float) -> float:
    """E_L2 = alpha / (2 n) sum_l sum_ij (w_ij^(l))^2; adds dE_L2/dw_ij = alpha w_ij / n to each ``.grad``.

    n is the number of samples in the batch (the sum of their weights), so the penalty
    per sample stays the same whatever the batch size, as in scikit-learn.
    """
    if alpha == 0:
        return 0.0
    total = 0.0
    for w in weights:
        flat = w.data.ravel()
        total += float(np.dot(flat, flat))
        w.grad += (alpha / n) * w.data
    return 0.5 * alpha * total / n


def l1_penalty(weights: Sequence[Parameter], l1: float, n: float) -> float:
    """E_L1 = l1 / n sum_l sum_ij |w_ij^(l)|; adds l1 sign(w_ij) / n to each ``.grad``.

    At w_ij = 0 the subgradient 0 is used, so a weight that is exactly zero stays put
    unless the data pull it away.
    """
    if l1 == 0:
        return 0.0
    total = 0.0
    for w in weights:
        total += float(np.abs(w.data).sum())
        w.grad += (l1 / n) * np.sign(w.data)
    return l1 * total / n


# ------------------------------------------------------------------ one batch
class BatchLoss:
    """One batch's forward and backward pass: the loss as scikit-learn reports it, gradients in ``.grad``.

    E_B = L_B + E_L2 + E_L1, where L_B is the data loss of the batch (mean over its
    samples, weighted by ``sample_weight``) and the penalties are those above.

    Parameters
    ----------
    model : MLP
        The network; for a canonical output/loss pair the pass runs without its output
        activation and the loss takes net (see :mod:`chainrule.sklearn._config`).
    objective : Objective
    alpha, l1 : float
        Penalty strengths.
    """

    def __init__(self, model: MLP, objective: Objective, alpha: float, l1: float) -> None:
        self.model = model
        self.objective = objective
        self.alpha = float(alpha)
        self.l1 = float(l1)
        self.network = Sequential(*model.modules_list[:-1]) if objective.fused else model
        self.step = loss_and_grad_fn(self.network, objective.loss)
        self.loss_fn = get_loss(objective.loss)
        self.weights = weights_of(model)
        self.ddp: Any = None

    def distribute(self, comm: Any, n: int, solver: str, random_state: Any) -> None:
        """Compute each batch data-parallel over ``comm`` (:class:`chainrule.distributed.DataParallel`):
        the data term's gradient is all-reduced, the penalties use the global batch's n."""
        from chainrule.distributed import DataParallel

        if solver not in ("sgd", "adam") or not isinstance(random_state, (int, np.integer)) \
                or self.objective.report == "sklearn_poisson":
            raise ConfigError("comm needs solver='sgd' or 'adam', an integer random_state (the same shuffles on "
                              f"every rank) and a loss other than poisson; got solver={solver!r}, "
                              f"random_state={random_state!r}, loss {self.objective.loss!r}")
        self.ddp = DataParallel(comm, self.model, n)
        self.step = self.ddp.wrap(self.step)

    def __call__(self, x: Any, y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """x: (batch, n_in), y: (batch, n_out) in the model's dtype; returns E_B."""
        value = self._reported(self.step(_dense(x), y, sample_weight), y, sample_weight)
        n = x.shape[0] if sample_weight is None else float(np.sum(sample_weight))
        n = n if self.ddp is None else self.ddp.last_share  # the global batch's, under MPI
        return value + l2_penalty(self.weights, self.alpha, n) + l1_penalty(self.weights, self.l1, n)

    def trace(self, x: Any, y: np.ndarray, sample_weight: np.ndarray | None = None
              ) -> tuple[float, list[np.ndarray], list[Tensor]]:
        """The pass of ``__call__`` through the graph, keeping every layer: (E_B, inputs, nets).

        inputs[l] (batch, n_l) is the input of layer l (x first); nets[l] the Tensor
        net^(l) = inputs[l] W^(l) + b^(l), whose ``.grad`` holds dL_B/dnet^(l) after the call;
        parameter gradients (penalties included) are in ``.grad`` as after ``__call__``.
        """
        for p in self.model.parameters():
            p.grad = None
        a = Tensor(_dense(x))
        inputs: list[np.ndarray] = []
        nets: list[Tensor] = []
        for module in self.network:
            if isinstance(module, Linear):
                inputs.append(a.data)
            a = module(a)
            if isinstance(module, Linear):
                nets.append(a)
        loss = self.loss_fn(a, y, sample_weight)
        loss.backward()
        value = self._reported(float(loss.item()), y, sample_weight)
        n = x.shape[0] if sample_weight is None else float(np.sum(sample_weight))
        return value + l2_penalty(self.weights, self.alpha, n) + l1_penalty(self.weights, self.l1, n), inputs, nets

    def evaluate(self, x: Any, y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """The data loss L on (x, y) in evaluation mode, without penalties or gradients."""
        was_training = self.model.training
        self.model.eval()
        try:
            with no_grad():
                value = self.loss_fn(self.network(Tensor(_dense(x))), y, sample_weight).item()
        finally:
            self.model.train(was_training)
        return self._reported(float(value), y, sample_weight)

    def _reported(self, value: float, y: np.ndarray, sample_weight: np.ndarray | None) -> float:
        if self.objective.report == "sklearn_squared":
            # scikit-learn reports 1/2 squared error averaged over outputs too, yet its
            # gradient is that of the per-sample sum: the delta is out - target.
            return value / y.shape[1]
        if self.objective.report == "sklearn_poisson":
            # The half Poisson deviance adds target log(target) - target, constant in w.
            from scipy.special import xlogy

            return value + float(np.average(np.sum(xlogy(y, y) - y, axis=1), weights=sample_weight))
        return value


def _dense(x: Any) -> np.ndarray:
    return x.toarray() if hasattr(x, "toarray") else x


def layer_values(model: MLP, output: str, x: Any) -> list[np.ndarray]:
    """The value of every layer for x (batch, n_in), in evaluation mode: [x, out^(1), ..., out^(L)].

    out^(l) is layer l's output after its activation (scikit-learn's ``activations``);
    the last is the network's output, exp(net) for Poisson's log link.
    """
    values = [x]
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            a = Tensor(np.asarray(_dense(x), dtype=model.dtype))
            for i, module in enumerate(model.modules_list):
                if isinstance(module, Linear) and i > 0:
                    values.append(a.data)
                a = module(a)
    finally:
        model.train(was_training)
    values.append(_link(a.data, output))
    return values


def _link(out: np.ndarray, output: str) -> np.ndarray:
    if output != "exp":
        return out
    with np.errstate(over="ignore", under="ignore"):
        return np.exp(out)


def predict_output(model: MLP, output: str, x: Any) -> np.ndarray:
    """The network's output for x (batch, n_in), in evaluation mode: (batch, n_out).

    ``output`` is the output activation's chainrule name ("exp": the network gives
    net = log(rate) and exp is applied here). Sparse input is multiplied in dense
    blocks of rows.
    """
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            if hasattr(x, "toarray"):
                blocks = [model(Tensor(x[i:i + 1024].toarray().astype(model.dtype, copy=False))).data
                          for i in range(0, x.shape[0], 1024)]
                out = np.concatenate(blocks) if blocks else np.zeros((0, model.sizes[-1]), model.dtype)
            else:
                out = model(Tensor(np.asarray(x, dtype=model.dtype))).data
    finally:
        model.train(was_training)
    return _link(out, output)
