"""The fitted network as scikit-learn shows it: ``coefs_``, ``intercepts_``, ``out_activation_`` and its methods.

scikit-learn keeps a fitted MLP in plain attributes: the lists ``coefs_`` (W^(l),
(n_in, n_out)) and ``intercepts_`` (b^(l), (n_out,)), ``n_layers_``, ``out_activation_``
and the ``activation`` parameter. Users set them by hand and continue with
``partial_fit`` or ``warm_start``, or replace one array, and the next call uses them.

Here those lists are the truth. The chainrule network ``model_`` is built from them
and shares their arrays (no copies), so training moves ``coefs_`` in place; whenever
the estimator is used, :meth:`NetworkState._network` rebinds any array a user has
replaced and rebuilds the network if the layer sizes or activations changed.

scikit-learn's private methods that users call for gradient checks and traces are
here under its names and signatures: ``_forward_pass``, ``_forward_pass_fast``,
``_backprop``, ``_loss_grad_lbfgs``, ``_unpack``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ConfigError, ShapeError
from chainrule.nn import MLP, Dropout, Parameter, make_activation
from chainrule.sklearn._config import activation_name, hidden_activations
from chainrule.sklearn._network import (
    BatchLoss,
    biases_of,
    build_network,
    layer_values,
    predict_output,
    weights_of,
)

#: scikit-learn's output activation names -> chainrule's ("exp" is Poisson's log link).
_OUTPUT_NAMES = {"logistic": "sigmoid", "identity": "identity", "softmax": "softmax", "tanh": "tanh",
                 "relu": "relu", "exp": "exp"}


def output_name(out_activation: Any) -> str:
    """The chainrule name of ``out_activation_`` (scikit-learn's or chainrule's word)."""
    if not isinstance(out_activation, str):
        raise ConfigError(f"out_activation_ must be a name such as 'logistic', 'softmax', 'identity' or 'exp', "
                          f"got {out_activation!r}")
    return _OUTPUT_NAMES.get(out_activation, activation_name(out_activation))


def _activation_key(spec: Any) -> str:
    return activation_name(spec) if isinstance(spec, str) else repr(make_activation(spec))


class NetworkState:
    """``coefs_``/``intercepts_`` as plain lists, ``model_`` built on them, and scikit-learn's pass methods."""

    # ------------------------------------------------------------ the network behind the lists
    @property
    def model_(self) -> MLP:
        """The chainrule network whose weights are ``coefs_`` and ``intercepts_`` (the same arrays)."""
        return self._network()

    def _sizes(self) -> list[int]:
        """Layer sizes read from ``coefs_``/``intercepts_``, checked for a chain of matching shapes."""
        coefs, intercepts = self.__dict__.get("coefs_"), self.__dict__.get("intercepts_")
        if coefs is None or intercepts is None:
            raise AttributeError(f"{type(self).__name__} has no coefs_ and intercepts_: call fit, or set both")
        coefs, intercepts = [np.asarray(c) for c in coefs], [np.asarray(b) for b in intercepts]
        if not coefs or len(coefs) != len(intercepts):
            raise ShapeError(f"coefs_ and intercepts_ need one array per layer each, got {len(coefs)} and "
                             f"{len(intercepts)}")
        sizes = [coefs[0].shape[0] if coefs[0].ndim == 2 else -1]
        for i, (w, b) in enumerate(zip(coefs, intercepts)):
            if w.ndim != 2 or w.shape[0] != sizes[-1]:
                raise ShapeError(f"coefs_[{i}] must have shape ({sizes[-1]}, n_out) to follow the layer before, "
                                 f"got {w.shape}")
            if b.shape != (w.shape[1],):
                raise ShapeError(f"intercepts_[{i}] must have shape ({w.shape[1]},) to match coefs_[{i}], "
                                 f"got {b.shape}")
            sizes.append(w.shape[1])
        n_layers = self.__dict__.get("n_layers_")
        if n_layers is not None and n_layers != len(sizes):
            raise ShapeError(f"n_layers_ is {n_layers}, but coefs_ holds {len(coefs)} layers, which makes "
                             f"{len(sizes)} with the input layer")
        return sizes

    def _network(self) -> MLP:
        """``model_`` for the current ``coefs_``, ``intercepts_``, ``activation`` and ``out_activation_``.

        Built when missing or when sizes, activations or dtype changed; every array in the
        lists is bound to its parameter (cast to the network's dtype and put back in the
        list when it was not), so both views always hold the same numbers.
        """
        sizes = self._sizes()
        if "out_activation_" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__} has coefs_ but no out_activation_; set it too "
                                 "('identity', 'logistic', 'softmax' or 'exp')")
        self.n_layers_ = len(sizes)
        output = output_name(self.out_activation_)
        hidden = hidden_activations(self.activation, len(sizes) - 2)
        arrays = [*self.coefs_, *self.intercepts_]
        dtype = np.result_type(*arrays)
        dtype = dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)
        key = (tuple(sizes), tuple(_activation_key(h) for h in hidden), output, dtype.name, float(self.dropout))
        model = self.__dict__.get("_model")
        if model is None or self.__dict__.get("_model_key") != key:
            model = build_network(sizes, hidden, output, dtype, self.dropout)
            model.eval()
            if self.dropout > 0:
                seed = self.random_state if isinstance(self.random_state, (int, np.integer)) else None
                masks = np.random.default_rng(seed)
                for module in model.modules():
                    if isinstance(module, Dropout):
                        module.rng = masks
            self._model, self._model_key = model, key
        self.coefs_, self.intercepts_ = list(self.coefs_), list(self.intercepts_)
        _bind(weights_of(model), self.coefs_, model.dtype)
        _bind(biases_of(model), self.intercepts_, model.dtype)
        return model

    # ------------------------------------------------------------ scikit-learn's pass methods
    def _forward_pass_fast(self, X: Any, check_input: bool = True) -> np.ndarray:  # noqa: N803
        """The output layer's values for X (n_samples, n_features): (n_samples, n_outputs_)."""
        if check_input:
            X = self._check_X(X)  # noqa: N806
        return predict_output(self._network(), output_name(self.out_activation_), X)

    def _forward_pass(self, activations: list[Any]) -> list[Any]:
        """scikit-learn's forward pass: fills ``activations[1:]`` from ``activations[0]`` = X.

        activations[l] (n_samples, n_l) is layer l's output after its activation, the last
        the network's output (probabilities, exp(net) for Poisson). Returns the list.
        """
        values = layer_values(self._network(), output_name(self.out_activation_), activations[0])
        activations[1:] = values[1:]
        return activations

    def _backprop(self, X: Any, y: Any, sample_weight: Any, activations: list[Any], deltas: list[Any],  # noqa: N803
                  coef_grads: list[Any], intercept_grads: list[Any]) -> tuple[float, list[Any], list[Any]]:
        """One forward and backward pass over (X, y) as scikit-learn's ``_backprop`` returns it.

        y: (n_samples, n_outputs_) encoded targets (a vector for one output). Fills, in
        place, ``activations`` (as :meth:`_forward_pass`), ``deltas[l]`` = sum_w dL/dnet^(l+1),
        the unnormalised delta of layer l+1 (out - target at the output for the canonical
        pairs, times each sample's weight), and ``coef_grads``/``intercept_grads`` = dE/dW^(l),
        dE/db^(l), penalties included. Returns (E, coef_grads, intercept_grads), E the loss
        as ``loss_`` reports it. The network is used in its current mode (evaluation outside fit).
        """
        model = self._network()
        x = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
        x = x.astype(model.dtype, copy=False)
        target = np.asarray(y, dtype=model.dtype)
        target = target.reshape(-1, 1) if target.ndim == 1 else target
        weight = None if sample_weight is None else np.asarray(sample_weight, dtype=model.dtype)
        objective = self._trained_objective()
        value, inputs, nets = BatchLoss(model, objective, self.alpha, self.l1).trace(x, target, weight)
        sw_sum = x.shape[0] if weight is None else float(weight.sum())
        activations[1:] = layer_values(model, output_name(self.out_activation_), x)[1:]
        deltas[:] = [net.grad * sw_sum for net in nets]
        coef_grads[:] = [w.grad for w in weights_of(model)]
        intercept_grads[:] = [b.grad for b in biases_of(model)]
        return value, coef_grads, intercept_grads

    def _compute_loss_grad(self, layer: int, sw_sum: float, activations: list[Any], deltas: list[Any],
                           coef_grads: list[Any], intercept_grads: list[Any]) -> None:
        """Layer ``layer``'s gradients from its input and delta, into the lists (scikit-learn's step).

        dE/dW^(l) = (out^(l-1)^T delta^(l) + alpha W^(l) + l1 sign(W^(l))) / n and
        dE/db^(l) = sum_n delta^(l) / n, n the (weighted) number of samples ``sw_sum``.
        """
        weight = np.asarray(self.coefs_[layer])
        grad = activations[layer].T @ deltas[layer] + self.alpha * weight
        if self.l1:
            grad += self.l1 * np.sign(weight)
        coef_grads[layer] = grad / sw_sum
        intercept_grads[layer] = np.sum(deltas[layer], axis=0) / sw_sum

    def _loss_grad_lbfgs(self, packed_coef_inter: np.ndarray, X: Any, y: Any, sample_weight: Any,  # noqa: N803
                         activations: list[Any], deltas: list[Any], coef_grads: list[Any],
                         intercept_grads: list[Any]) -> tuple[float, np.ndarray]:
        """E(w) and dE/dw for the packed vector w (all weights, then all biases): what L-BFGS-B asks.

        Sets the weights to w (as :meth:`_unpack`) and runs :meth:`_backprop`; the gradient
        comes packed in the same order.
        """
        self._unpack(packed_coef_inter)
        value, coef_grads, intercept_grads = self._backprop(X, y, sample_weight, activations, deltas, coef_grads,
                                                            intercept_grads)
        return value, np.hstack([g.ravel() for g in [*coef_grads, *intercept_grads]])

    def _unpack(self, packed_parameters: np.ndarray) -> None:
        """Set ``coefs_`` and ``intercepts_`` to views into one vector packed as L-BFGS packs them."""
        if "_coef_indptr" not in self.__dict__:
            self._set_indptr(self._sizes())
        for i, ((start, end, shape), (b_start, b_end)) in enumerate(zip(self._coef_indptr, self._intercept_indptr)):
            self.coefs_[i] = np.reshape(packed_parameters[start:end], shape)
            self.intercepts_[i] = packed_parameters[b_start:b_end]

    def _set_indptr(self, layer_units: list[int]) -> None:
        """scikit-learn's offsets of each W^(l) and b^(l) in the packed vector."""
        self._coef_indptr, self._intercept_indptr, start = [], [], 0
        for n_in, n_out in zip(layer_units[:-1], layer_units[1:]):
            self._coef_indptr.append((start, start + n_in * n_out, (n_in, n_out)))
            start += n_in * n_out
        for n_out in layer_units[1:]:
            self._intercept_indptr.append((start, start + n_out))
            start += n_out


def _bind(params: list[Parameter], arrays: list[Any], dtype: np.dtype) -> None:
    """Copy each array of ``arrays`` into its parameter's ``.data`` and put that array back in the list.

    Copied, not rebound, so the parameters stay views of the network's flat buffer (the
    optimizers' fast path); the list then holds the network's own arrays again.
    """
    for i, (p, value) in enumerate(zip(params, arrays)):
        if p.data is value:
            continue
        if p.data.flags.writeable:
            np.copyto(p.data, value, casting="unsafe")
        else:  # a network unpickled from a read-only memory map: its own writeable copy
            p.data = np.array(value, dtype=dtype, order="C")
        arrays[i] = p.data
