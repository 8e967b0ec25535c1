"""The captured training plan: forward and backward of an MLP without building a graph.

A :class:`~chainrule.nn.Sequential` of ``Linear`` layers, each followed by at most one
activation, computes for layers l = 1..L (Learning From Data's notation, out^(0) = x)::

    net^(l) = out^(l-1) @ W^(l) + b^(l)          s^(l) in Learning From Data
    out^(l) = f_l(net^(l))                       x^(l)

and backpropagation is the delta rule of the lecture notes (x, y, z), for a whole batch at once::

    delta^(L)   = dE/dnet^(L)                    from the loss and f_L
    dE/dW^(l)   = out^(l-1).T @ delta^(l)        dE/dw_ij = out_i delta_j, summed over the batch
    dE/db^(l)   = sum over the batch of delta^(l)
    delta^(l-1) = (delta^(l) @ W^(l).T) * f'_{l-1}(net^(l-1))

A :class:`Plan` runs exactly that with NumPy calls into buffers it allocates once
per batch size, so a training step records no graph and allocates (almost) nothing.
It reads the same definitions as the graph: f' comes from the op registry
(:data:`chainrule.ops.ACTIVATIONS`, in place where the op offers ``derivative_into``),
the loss, dE/dout and its in-place form from :data:`chainrule.losses.LOSS_DEFS`. An
output activation that is its loss's canonical one is fused with it, because their
delta is simply ``out - target`` (the loss's ``canonical_delta_into``).

Use :func:`compile_plan`; it returns None for what a plan cannot capture, and the
caller falls back to the graph (:func:`chainrule.train.loss_and_grad_fn` does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import boundary
from chainrule._plan_buffers import Buffers, Layer
from chainrule.losses import LOSS_DEFS, LossDef, loss_name
from chainrule.nn import Activation, LayerView, Linear, Module, Parameter, Sequential

__all__ = ["Plan", "compile_plan"]

Array = np.ndarray

# Buffers are kept for this many batch sizes (the training batch, the last smaller
# batch of an epoch, prediction chunks); older ones are dropped.
_MAX_CACHED_SIZES = 4
# Plan.forward runs at most this many numbers per layer at once.
_FORWARD_CHUNK_NUMBERS = 1 << 20


class Plan:
    """Forward and backward passes of a captured MLP, into reused buffers.

    Build it with :func:`compile_plan`. Parameter values are read at every call (an
    optimizer or ``load_state_dict`` may change them between calls); the structure (the
    modules and their Parameter objects), the loss and the dtype are fixed when the plan
    is built. Not thread-safe: the buffers are shared.

    Attributes
    ----------
    loss : str
        The loss's name in :data:`chainrule.losses.LOSS_DEFS`.
    dtype : numpy.dtype
        The parameters' dtype; inputs and targets are cast to it.
    n_in, n_out : int
        Sizes of the input and output layers.
    fused : bool
        Whether delta^(L) is already dE/dnet: a linear output, or the loss's canonical
        output activation (its delta is out - target).
    """

    def __init__(self, model: Sequential, pairs: list[LayerView], loss: LossDef,
                 dtype: np.dtype) -> None:
        self.model = model
        self.loss = loss.name
        self.dtype = dtype
        self._loss = loss
        self.grads = np.empty(sum(Layer.size(view) for view in pairs), dtype)  # every dE/dp, one flat buffer
        self._layers, start = [], 0
        for view in pairs:
            self._layers.append(Layer(view, self.grads[start:start + Layer.size(view)]))
            start += Layer.size(view)
        self.n_in = pairs[0][0].n_in
        self.n_out = pairs[-1][0].n_out
        last_name = pairs[-1].name
        self._delta_into = loss.delta_into
        self.fused = last_name == "identity"
        if last_name == loss.canonical_activation and loss.canonical_delta_into is not None:
            self._delta_into, self.fused = loss.canonical_delta_into, True
        self._check_finite = bool(getattr(model, "check_finite", False))
        self._cache: dict[int, Buffers] = {}

    def __repr__(self) -> str:
        sizes = [self.n_in] + [layer.linear.n_out for layer in self._layers]
        acts = [layer.op.name for layer in self._layers]
        return f"Plan(sizes={sizes}, activations={acts}, loss={self.loss!r}, dtype={self.dtype})"

    # ------------------------------------------------------------ public
    def loss_and_grad(self, x: Any, target: Any, sample_weight: Any = None) -> float:
        """Run forward and backward for one batch; set every ``p.grad``; return the loss E.

        E = (1/N) sum_n l_n, or sum_n w_n l_n / sum_n w_n with ``sample_weight`` w, as the
        loss functions define it. Every parameter's ``.grad`` is *replaced* by dE/dp (not
        accumulated), a view of the plan's flat gradient buffer ``grads`` (in the order of the
        model's parameters), which the plan overwrites on its next call.

        For the fused pairs (the loss's ``canonical_delta_into`` in :mod:`chainrule.losses`),
        delta^(L) = (out - target) / N without going through dE/dout:
        softmax + ``cross_entropy`` (for target rows not summing to 1 it is
        out * sum_k target_k - target), a linear output + ``cross_entropy_with_logits``
        (out = softmax(net)) and sigmoid + ``binary_cross_entropy``. The graph gives the
        same numbers up to rounding, except where it clips a saturated probability to
        [eps, 1 - eps]; the plan's delta stays exact there.

        Parameters
        ----------
        x : array_like, (batch, n_in)
            Cast to the plan's dtype.
        target : array_like
            (batch, n_out) rows, or class indices (batch,) for the cross-entropies.
        sample_weight : array_like (batch,), optional

        Returns
        -------
        float
            The batch loss E.
        """
        x, target = self._inputs(x, target)
        n = x.shape[0]
        bufs = self._buffers(n).for_backward(self._layers)
        t = self._targets(target, n, bufs)
        weight = None if sample_weight is None else self._weights(sample_weight, n)
        with np.errstate(under="ignore"):
            self._forward(x, bufs)
            loss = self._output_delta(bufs, t, weight, n)
            self._backward(x, bufs)
        return loss

    def forward(self, x: Any) -> Array:
        """The network's output for ``x``: (batch, n_out) for x (batch, n_in), (n_out,) for x (n_in,).

        A new array, computed chunk by chunk through the plan's buffers.
        """
        x = self._as_input(x)
        single = x.ndim == 1
        if single:
            x = x.reshape(1, -1)
        n = x.shape[0]
        result = np.empty((n, self.n_out), self.dtype)
        widest = max(layer.linear.n_out for layer in self._layers)
        chunk = max(1, min(n, _FORWARD_CHUNK_NUMBERS // widest))
        with np.errstate(under="ignore"):
            for lo in range(0, n, chunk):
                part = x[lo:lo + chunk]
                bufs = self._buffers(part.shape[0])
                self._forward(part, bufs)
                result[lo:lo + part.shape[0]] = bufs.out[-1]
        return result[0] if single else result

    # ------------------------------------------------------------ the passes
    def _forward(self, x: Array, bufs: Buffers) -> None:
        a = x
        for layer, net, out in zip(self._layers, bufs.net, bufs.out):
            # np.dot and np.matmul run the same BLAS product; np.dot costs less per call.
            np.dot(a, layer.weight.data, out=net)
            if layer.bias is not None:
                np.add(net, layer.bias.data, out=net)
            if layer.forward_into is not None:
                layer.forward_into(net, out, **layer.attrs)
            elif layer.forward is not None:
                np.copyto(out, layer.forward(net, **layer.attrs))
            a = out

    def _output_delta(self, bufs: Buffers, t: Array, weight: Array | None, n: int) -> float:
        """E for the batch, and delta^(L) (dE/dout, or dE/dnet when fused) into bufs.delta[-1].

        Both come from the loss's own in-place form; with sample weights w the delta of
        sample n is scaled by w_n / sum w and E = sum_n w_n l_n / sum_n w_n.
        """
        out, delta, onehot = bufs.out[-1], bufs.delta[-1], t is bufs.onehot
        if weight is None:
            return self._delta_into(out, t, delta, n, onehot, bufs.loss_scratch)
        total = float(weight.sum())
        value = float(np.dot(weight, self._loss.terms(out, t).sum(axis=1))) / total
        self._delta_into(out, t, delta, 1, onehot, bufs.loss_scratch)
        np.multiply(delta, (weight / total)[:, None], out=delta)
        return value

    def _backward(self, x: Array, bufs: Buffers) -> None:
        layers = self._layers
        i = len(layers) - 1
        skip_activation = self.fused  # delta^(L) is already dE/dnet
        while i >= 0:
            layer, delta = layers[i], bufs.delta[i]
            # delta <- dE/dnet = dE/dout * f'(net) (for softmax-like ops, the full Jacobian's VJP).
            if skip_activation or layer.identity:
                skip_activation = False  # f' = 1 for the identity
            elif layer.derivative_into is not None:
                scratch = bufs.scratch[i]
                layer.derivative_into(bufs.net[i], bufs.out[i], scratch, **layer.attrs)
                np.multiply(delta, scratch, out=delta)
            elif layer.derivative is not None:
                np.multiply(delta, layer.derivative(bufs.net[i], bufs.out[i], **layer.attrs), out=delta)
            else:
                np.copyto(delta, layer.op.vjp(delta, bufs.out[i], bufs.net[i], **layer.attrs)[0])
            np.dot(x.T if i == 0 else bufs.out[i - 1].T, delta, out=layer.grad_weight)
            layer.weight.grad = layer.grad_weight
            if layer.bias is not None:
                if not bufs.bias_is_delta:
                    np.add.reduce(delta, 0, None, layer.grad_bias)
                layer.bias.grad = layer.grad_bias
            if i:
                np.dot(delta, layer.weight.data.T, out=bufs.delta[i - 1])
            i -= 1

    # ------------------------------------------------------------ buffers and checks
    def _buffers(self, n: int) -> Buffers:
        bufs = self._cache.get(n)
        if bufs is None:
            if len(self._cache) >= _MAX_CACHED_SIZES:
                del self._cache[next(iter(self._cache))]
            bufs = self._cache[n] = Buffers(self._layers, n, self.dtype)
        return bufs

    def _as_input(self, x: Any) -> Array:
        if type(x) is not np.ndarray or x.dtype is not self.dtype:  # else: the fast path of fit's batches
            x = boundary.as_numbers(x, "inputs").astype(self.dtype, copy=False)
        if x.ndim not in (1, 2) or x.shape[-1] != self.n_in:
            raise boundary.LayoutError(f"the network expects inputs of shape (batch, {self.n_in}), "
                                       f"got shape {x.shape}")
        if self._check_finite:
            boundary.require_finite(x, "the input", "clean or impute the data first")
        return x

    def _inputs(self, x: Any, target: Any) -> tuple[Array, Any]:
        x = self._as_input(x)
        if x.ndim == 1:  # one sample, as the graph takes it
            x = x.reshape(1, -1)
            target = boundary.as_numbers(target, f"{self.loss}: targets")
            target = target.reshape(1) if target.ndim == 0 else target.reshape(1, -1)
        return x, target

    def _targets(self, target: Any, n: int, bufs: Buffers) -> Array:
        """target as (n, n_out) rows of the plan's dtype; class indices become one-hot rows (in bufs.onehot)."""
        if self._loss.class_targets and bufs.onehot is None:
            bufs.onehot = np.empty((n, self.n_out), self.dtype)
        return boundary.loss_targets(self.loss, target, n, self.n_out, self.dtype, self._loss.class_targets,
                                     bufs.onehot, bufs.rows)

    def _weights(self, sample_weight: Any, n: int) -> Array:
        return boundary.loss_weights(self.loss, sample_weight, n, self.dtype)


def _pairs(model: Module) -> list[LayerView] | None:
    """The model's layers as the plan can run them, or None when it is anything else."""
    if not isinstance(model, Sequential) or type(model).forward is not Sequential.forward or not model.is_layered():
        return None
    layers = model.layers()
    for layer in layers:
        act = layer.activation
        if (layer.dropout is not None or type(layer.linear).forward is not Linear.forward
                or (act is not None and type(act).forward is not Activation.forward)):
            return None
        # Softmax-like ops must act along the features: the plan always holds (batch, n) arrays.
        if layer.name in ("softmax", "log_softmax") and layer.attrs.get("axis", -1) not in (-1, 1):
            return None
    return layers


def compile_plan(model: Module, loss: str | Callable[..., Any]) -> Plan | None:
    """A :class:`Plan` for ``model`` trained with ``loss``, or None when it cannot capture them.

    Captured: a ``Sequential`` (``MLP`` included) of ``Linear`` layers, each followed by at
    most one registered activation (softmax included), all parameters of one float dtype,
    and a loss named in :data:`chainrule.losses.LOSS_DEFS` or given as one of the
    :mod:`chainrule.losses` functions. Anything else (other modules, subclasses that
    override ``forward``, a custom loss function) gives None: use the graph.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.plan import compile_plan
    >>> net, x, target = cr.examples.mazur()
    >>> plan = compile_plan(net, "half_squared_error")
    >>> round(plan.loss_and_grad(x, target), 9)  # Mazur's E_total
    0.298371109
    >>> round(float(net[2].weight.grad[0, 0]), 9)  # his dE_total/dw5
    0.082167041
    >>> compile_plan(net, lambda out, target, w=None: out.sum()) is None
    True
    """
    name = loss_name(loss)
    definition = None if name is None else LOSS_DEFS[name]
    pairs = _pairs(model)
    if definition is None or pairs is None:
        return None
    params: list[Parameter] = model.parameters()
    dtypes = {p.data.dtype for p in params}
    if len(dtypes) != 1:
        return None
    dtype = dtypes.pop()
    if dtype.kind != "f":
        return None
    return Plan(model, pairs, definition, dtype)
