"""Modules: ``Parameter``, ``Linear``, activation modules, ``Dropout``, ``Sequential`` and ``MLP``.

Weights follow the textbooks: a layer computes ``net = x @ W + b`` with ``W`` of shape
(n_in, n_out), so ``W[i, j]`` is w_ij from neuron i of the previous layer to neuron
j of this one. This is the transpose of PyTorch's ``nn.Linear.weight`` (n_out, n_in).

The base classes ``Module`` and ``Parameter`` live in :mod:`chainrule.module`, the
activation modules in :mod:`chainrule.activations`; every name is importable from here
as well.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from chainrule.activations import (
    ELU,
    GELU,
    Activation,
    FunctionActivation,
    Identity,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
    _auto_init,
    make_activation,
)
from chainrule.errors import ConfigError, ShapeError
from chainrule.init import get_initializer, make_rng
from chainrule.module import Module, Parameter, _check_finite
from chainrule.ops import ACTIVATIONS
from chainrule.tensor import Tensor

__all__ = [
    "Module", "Parameter", "Linear", "Activation", "Identity", "Sigmoid", "Tanh", "ReLU",
    "LeakyReLU", "ELU", "Softplus", "GELU", "Softmax", "LogSoftmax", "Dropout", "Sequential", "MLP",
    "make_activation", "FunctionActivation",
]


class Linear(Module):
    """A fully connected layer: net = x @ weight + bias.

    net_j = sum_i x_i w_ij + b_j, where the bias b_j is a weight from a constant-1 input.

    Parameters
    ----------
    n_in, n_out : int
        Neurons in the previous layer and in this one.
    bias : bool
        Whether the layer has a bias.
    init : str or callable
        Weight initialiser (see :mod:`chainrule.init`); biases start at zero.
    seed : int or numpy.random.Generator, optional
        Randomness for the initialiser.
    dtype : numpy dtype
        float64 (default) or float32.

    Shapes: x (batch, n_in) -> net (batch, n_out); weight (n_in, n_out); bias (n_out,).
    """

    def __init__(self, n_in: int, n_out: int, bias: bool = True, init: Any = "xavier_uniform",
                 seed: int | np.random.Generator | None = None, dtype: Any = np.float64) -> None:
        if int(n_in) < 1 or int(n_out) < 1:
            raise ConfigError(f"Linear needs n_in >= 1 and n_out >= 1, got {n_in} and {n_out}")
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.init = init
        self.dtype = np.dtype(dtype)
        self.weight = Parameter(np.zeros((self.n_in, self.n_out), dtype=self.dtype))
        self.bias = Parameter(np.zeros(self.n_out, dtype=self.dtype)) if bias else None
        self.reset_parameters(seed)

    def reset_parameters(self, seed: int | np.random.Generator | None = None) -> None:
        """Draw new weights with the layer's initialiser and zero the bias."""
        rng = make_rng(seed)
        # Written in place, so that parameters that are views of a flat buffer stay views.
        np.copyto(self.weight.data, get_initializer(self.init)((self.n_in, self.n_out), rng, self.dtype))
        if self.bias is not None:
            self.bias.data.fill(0)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 0 or x.shape[-1] != self.n_in:
            raise ShapeError(
                f"Linear({self.n_in}, {self.n_out}) expects inputs of shape (batch, {self.n_in}), "
                f"got shape {x.shape}"
            )
        net = x @ self.weight
        return net + self.bias if self.bias is not None else net

    def extra_repr(self) -> str:
        return f"n_in={self.n_in}, n_out={self.n_out}, bias={self.bias is not None}"


class Dropout(Module):
    """Inverted dropout: in training, each input is zeroed with probability p, the rest scaled by 1/(1 - p).

    out_j = x_j m_j / (1 - p) with m_j ~ Bernoulli(1 - p) drawn afresh at every forward
    pass in ``train()`` mode, so dE/dx_j = dE/dout_j m_j / (1 - p); in ``eval()`` mode
    out = x. The scaling keeps the expected out equal to x, so prediction needs no change.

    Parameters
    ----------
    p : float
        Probability of dropping each input, 0 <= p < 1.
    seed : int or numpy.random.Generator, optional
        Randomness of the masks.

    Shapes: x (batch, n) -> out (batch, n).
    """

    def __init__(self, p: float = 0.5, seed: int | np.random.Generator | None = None) -> None:
        if not (isinstance(p, (int, float, np.floating)) and 0 <= p < 1):
            raise ConfigError(f"Dropout needs a probability 0 <= p < 1, got {p!r}")
        self.p = float(p)
        self.rng = make_rng(seed)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        mask = (self.rng.random(x.shape) >= self.p).astype(x.dtype)
        mask /= 1 - self.p
        return x * Tensor(mask)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Sequential(Module):
    """Modules applied one after another.

    Every ``Linear`` starts a new layer l = 1, 2, ...; the activation after it belongs to
    the same layer. Their results are tagged in the graph as that layer's ``net``
    (Learning From Data's s^(l)) and ``out`` (its x^(l)) so the learner tools can name every number.

    Parameter names are the positions: ``"0.weight"``, ``"0.bias"``, ``"2.weight"``, ...
    """

    def __init__(self, *modules: Module, check_finite: bool = False) -> None:
        if len(modules) == 1 and isinstance(modules[0], (list, tuple)):
            modules = tuple(modules[0])
        for m in modules:
            if not isinstance(m, Module):
                raise ConfigError(f"Sequential takes Modules, got {type(m).__name__}")
        self.modules_list = list(modules)
        self.check_finite = check_finite
        self._tags = self._layer_tags()

    def _layer_tags(self) -> list[tuple[str | None, int | None]]:
        tags: list[tuple[str | None, int | None]] = []
        layer = 0
        for m in self.modules_list:
            if isinstance(m, Linear):
                layer += 1
                tags.append(("net", layer))
            elif isinstance(m, Activation) and layer > 0:
                tags.append(("out", layer))
            else:
                tags.append((None, None))
        return tags

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for i, m in enumerate(self.modules_list):
            yield str(i), m

    def __getitem__(self, i: int) -> Module:
        return self.modules_list[i]

    def __len__(self) -> int:
        return len(self.modules_list)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.modules_list)

    def layers(self) -> list[LayerView]:
        """The neuron layers, input to output, each a :class:`LayerView` (Linear, activation after it or None).

        A view unpacks as the pair ``(linear, activation)`` and also gives the activation's
        registry op and attributes and the ``Dropout`` after it: the one way the plan, the
        learner tools, model files and drawings read a network.
        """
        views: list[LayerView] = []
        previous: Module | None = None
        for m in self.modules_list:
            if isinstance(m, Linear):
                views.append(LayerView(m, None))
            elif isinstance(m, Activation) and isinstance(previous, Linear):
                views[-1] = LayerView(previous, m)
            elif isinstance(m, Dropout) and views and previous in (views[-1].linear, views[-1].activation):
                views[-1].dropout = m
            previous = m
        return views

    def is_layered(self) -> bool:
        """Whether :meth:`layers` accounts for every module: each a Linear, the activation right after
        one, or a Dropout after those; nothing else, nothing before the first Linear."""
        views = self.layers()
        counted = sum(1 + (v.activation is not None) + (v.dropout is not None) for v in views)
        return bool(views) and counted == len(self.modules_list) and isinstance(self.modules_list[0], Linear)

    def forward(self, x: Tensor) -> Tensor:
        for i, (m, (role, layer)) in enumerate(zip(self.modules_list, self._tags)):
            x = m(x)
            if self.check_finite:  # NaN or inf born inside the pass: a bad weight or an overflow
                _check_finite(x.data, f"the output of module {i} ({type(m).__name__})",
                              "check the parameters for NaN or inf, or lower the learning rate if training diverged")
            if role is not None:
                x.role, x.layer = role, layer
        return x


class LayerView(tuple):
    """One neuron layer of a :class:`Sequential`: the pair (linear, activation or None), and the dropout after it.

    It unpacks as ``linear, activation = view``. ``name``, ``op`` and ``attrs`` describe the
    activation as the op registry has it ("identity" for a linear layer); ``dropout`` is
    the ``Dropout`` module that follows, or None.
    """

    def __new__(cls, linear: Linear, activation: Activation | None, dropout: Dropout | None = None) -> LayerView:
        view = super().__new__(cls, (linear, activation))
        view.dropout = dropout
        return view

    @property
    def linear(self) -> Linear:
        return self[0]

    @property
    def activation(self) -> Activation | None:
        return self[1]

    @property
    def name(self) -> str:
        """The activation's registry name; "identity" for a layer with none."""
        return "identity" if self[1] is None else self[1].name

    @property
    def op(self) -> Any:
        """The activation's registered op (forward, vjp, f')."""
        return ACTIVATIONS[self.name]

    @property
    def attrs(self) -> dict[str, Any]:
        """The activation's attributes (softmax's axis, leaky ReLU's alpha, ...)."""
        return {} if self[1] is None else dict(self[1].attrs)


class MLP(Sequential):
    """A multilayer perceptron: Linear layers with activations between them.

    Parameters
    ----------
    sizes : sequence of int
        Neurons per layer, input first: ``[784, 30, 10]`` has one hidden layer of 30.
    activation : str, Activation, function of a Tensor, or list of them
        Hidden-layer activation, or one per hidden layer; a function becomes a
        :class:`FunctionActivation`.
    output_activation : str, Activation or None
        Output activation; None leaves the output linear (logits), to pair with
        ``cross_entropy_with_logits`` or ``mse``.
    init : str or callable
        Weight initialiser; ``"auto"`` uses He for ReLU-like layers, Xavier otherwise.
    seed : int or numpy.random.Generator, optional
        The same seed gives the same network on every machine.
    dtype : numpy dtype
        float64 (default) or float32, kept end to end.
    bias : bool
        Whether layers have biases.
    check_finite : bool
        Refuse inputs that contain NaN or inf, and stop at the first module whose output does
        (a NaN weight, an overflow), with a :class:`~chainrule.errors.DataError`.
    dropout : float or list of float
        A :class:`Dropout` with this p after each hidden layer's activation (or one p per
        hidden layer); 0 adds none. Its masks draw from ``seed``'s generator.

    Examples
    --------
    >>> import chainrule as cr
    >>> net = cr.MLP([2, 3, 1], activation="tanh", output_activation="sigmoid", seed=0)
    >>> net([[0.5, -1.0]]).shape
    (1, 1)
    >>> [name for name, _ in net.named_parameters()]
    ['0.weight', '0.bias', '2.weight', '2.bias']
    """

    def __init__(self, sizes: Sequence[int], activation: Any = "sigmoid", output_activation: Any = None,
                 init: Any = "auto", seed: int | np.random.Generator | None = None,
                 dtype: Any = np.float64, bias: bool = True, check_finite: bool = False,
                 dropout: float | Sequence[float] = 0.0) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ConfigError(f"MLP sizes need at least an input and an output size, all >= 1; got {sizes}")
        n_hidden = len(sizes) - 2
        hidden = list(activation) if isinstance(activation, (list, tuple)) else [activation] * n_hidden
        if len(hidden) != n_hidden:
            raise ConfigError(f"MLP with {n_hidden} hidden layers got {len(hidden)} activations: {hidden}")
        drops = list(dropout) if isinstance(dropout, (list, tuple)) else [dropout] * n_hidden
        if len(drops) != n_hidden:
            raise ConfigError(f"MLP with {n_hidden} hidden layers got {len(drops)} dropout rates: {drops}")
        rng = make_rng(seed)
        modules: list[Module] = []
        for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            act = make_activation(hidden[layer] if layer < n_hidden else output_activation)
            layer_init = _auto_init(act) if init == "auto" else init
            modules += [Linear(n_in, n_out, bias=bias, init=layer_init, seed=rng, dtype=dtype), act]
            if layer < n_hidden and drops[layer] > 0:
                modules.append(Dropout(drops[layer], seed=rng))
        super().__init__(*modules, check_finite=check_finite)
        self.sizes = sizes
        self.dtype = np.dtype(dtype)
        self.flatten_parameters()

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}"


def output_activation_name(model: Module) -> str | None:
    """The registry name of the activation ``model`` ends with: "identity" for a linear output.

    None when the last module (dropout aside) is neither a ``Linear`` nor an ``Activation``
    (a function activation, a custom module): then nothing is known of the outputs.
    """
    if not isinstance(model, Sequential):
        return None
    for m in reversed(model.modules_list):
        if isinstance(m, Dropout):
            continue
        if isinstance(m, Activation):
            return m.name
        return "identity" if isinstance(m, Linear) else None
    return None


def parameters_of(params: Any) -> list[tuple[str, Tensor]]:
    """(name, tensor) pairs from a Module, a dict of tensors, or a sequence of tensors."""
    if isinstance(params, Module):
        return list(params.named_parameters())
    if isinstance(params, dict):
        return list(params.items())
    if isinstance(params, Tensor):
        return [(params.name or "param", params)]
    return [(t.name or f"param{i}", t) for i, t in enumerate(params)]
