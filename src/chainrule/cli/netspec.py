"""Command-line flags that describe one network and one sample, shared by subcommands.

A network comes from exactly one of:

``--example mazur``
    Mazur's 2-2-2 network with his weights, input and target.
``--model FILE``
    A model saved with :func:`chainrule.save`.
``--layers 2,2,2 [--activation sigmoid] [--output-activation ...] [--weights ...] [--biases ...]``
    Layer sizes, input first: the network ``chainrule.MLP(sizes, activation, output_activation)``
    builds, so without ``--output-activation`` the output is linear, as MLP's is. ``--weights``
    lists the weights in the naming order w1, w2, ...: layer by layer, and within a layer each
    neuron's incoming weights in turn (Mazur's w1 = i1->h1, w2 = i2->h1, w3 = i1->h2, ...), so
    his network is ``--output-activation sigmoid --weights 0.15,0.2,0.25,0.3,0.4,0.45,0.5,0.55``;
    a ``;`` may separate layers.
    ``--biases`` gives one value per layer (Mazur's ``0.35,0.6``, shared by the
    layer's neurons) or one per neuron. Without ``--weights`` the weights are random
    (``--seed``) and the biases zero.

``--x 0.05,0.1`` and ``--target 0.01,0.99`` give one sample. A list that starts with a
minus sign needs the ``=`` form, ``--x=-1,2``, or argparse reads it as a flag.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, DataError, ModelFileError, ShapeError

__all__ = ["add_network_arguments", "add_sample_arguments", "network_from_args", "network_from_flags",
           "sample_from_args", "bias_scheme",
           "parse_numbers", "parse_layers", "weights_from_flat"]

EXAMPLES = ("mazur",)


def add_network_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --example / --model / --layers (one of them required) and the --layers options."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--example", choices=EXAMPLES, help="a worked example: Mazur's 2-2-2 network")
    source.add_argument("--model", metavar="FILE", help="a model file written by chainrule.save")
    source.add_argument("--layers", metavar="SIZES", help="layer sizes, input first, e.g. 2,2,2")
    parser.add_argument("--activation", default="sigmoid",
                        help="with --layers: hidden-layer activation (default sigmoid)")
    parser.add_argument("--output-activation", default=None,
                        help="with --layers: output activation (default none: linear, as chainrule.MLP's; "
                        "Mazur's network needs sigmoid)")
    parser.add_argument("--weights", metavar="W", help="with --layers: w1,w2,... in the naming order; "
                        "';' may separate layers; write --weights=-0.5,... when the first is negative")
    parser.add_argument("--biases", metavar="B", help="with --layers: one bias per layer or one per neuron")
    parser.add_argument("--seed", type=int, default=0, help="with --layers and no --weights: random weights' seed")


def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --x and --target (comma-separated numbers)."""
    parser.add_argument("--x", metavar="X", help="one input sample, e.g. 0.05,0.1 (--x=-1,2 when the first "
                        "number is negative)")
    parser.add_argument("--target", metavar="T", help="its target, e.g. 0.01,0.99")


def parse_numbers(text: str, what: str) -> np.ndarray:
    """Comma-separated numbers as a float64 array; a DataError names the bad item."""
    items = [item.strip() for item in str(text).replace(";", ",").split(",")]
    if not any(items):
        raise DataError(f"{what}: expected comma-separated numbers, got {text!r}")
    values = []
    for item in items:
        try:
            values.append(float(item))
        except ValueError:
            raise DataError(f"{what}: {item!r} is not a number (expected comma-separated numbers)") from None
    array = np.array(values, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise DataError(f"{what}: expected finite numbers, got {text!r}")
    return array


def parse_layers(text: str) -> list[int]:
    """Layer sizes such as ``2,2,2``: at least two positive integers."""
    try:
        sizes = [int(item) for item in str(text).split(",")]
    except ValueError:
        raise ConfigError(f"--layers: expected positive integers such as 2,2,2, got {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise ConfigError(f"--layers: expected at least an input and an output size, all >= 1, got {text!r}")
    return sizes


def weights_from_flat(values: np.ndarray, n_in: int, n_out: int) -> np.ndarray:
    """A layer's weight matrix (n_in, n_out) from its weights in the naming order.

    The order lists neuron j's incoming weights w_1j, w_2j, ... for j = 1, 2, ...,
    so ``W[i, j] = values[j * n_in + i]``.
    """
    return np.asarray(values, dtype=np.float64).reshape(n_out, n_in).T.copy()


def _split_layers(text: str, counts: list[int], what: str, shared_ok: bool = False) -> list[np.ndarray]:
    """Per-layer chunks of a flag's numbers; ';' between layers is checked when present."""
    expected = " + ".join(str(c) for c in counts)
    if ";" in text:
        chunks = [parse_numbers(part, what) for part in text.split(";")]
        if len(chunks) != len(counts):
            raise ShapeError(f"{what}: {len(chunks)} ';'-separated groups for a network with {len(counts)} layers")
        for layer, (chunk, count) in enumerate(zip(chunks, counts), start=1):
            if len(chunk) != count and not (shared_ok and len(chunk) == 1):
                raise ShapeError(f"{what}: layer {layer} needs {count} values, got {len(chunk)}")
        return chunks
    values = parse_numbers(text, what)
    if shared_ok and len(values) == len(counts) and len(values) != sum(counts):
        return [values[k:k + 1] for k in range(len(counts))]
    if len(values) != sum(counts):
        per_layer = f" or {len(counts)} (one per layer)" if shared_ok else ""
        raise ShapeError(f"{what}: the network needs {sum(counts)} values ({expected}){per_layer}, "
                         f"got {len(values)}")
    chunks, start = [], 0
    for count in counts:
        chunks.append(values[start:start + count])
        start += count
    return chunks


def network_from_flags(sizes: list[int], activation: str = "sigmoid", output_activation: str | None = None,
                       weights: str | None = None, biases: str | None = None, seed: int = 0) -> Any:
    """An MLP from --layers style flags (see the module notes): ``MLP(sizes, activation, output_activation, seed=seed)``
    with the given weights and biases. Without ``output_activation`` MLP's own default applies (a linear output):
    the same words give the same network here and in Python."""
    from chainrule.nn import MLP

    chosen = {} if output_activation is None else {"output_activation": output_activation}
    net = MLP(sizes, activation=activation, seed=seed, **chosen)
    linears = [m for m, _ in net.layers()]
    if weights is not None:
        counts = [a * b for a, b in zip(sizes, sizes[1:])]
        for linear, chunk in zip(linears, _split_layers(weights, counts, "--weights")):
            # Written in place: the weights stay in the network's flat parameter buffer.
            np.copyto(linear.weight.data, weights_from_flat(chunk, linear.n_in, linear.n_out))
    elif biases is not None:
        raise ConfigError("--biases needs --weights as well (random weights come with zero biases)")
    if biases is not None:
        chunks = _split_layers(biases, sizes[1:], "--biases", shared_ok=True)
        for linear, chunk in zip(linears, chunks):
            linear.bias.data[...] = chunk  # one value per layer (Mazur's b1, b2) fills the layer
    return net


def _network_of(obj: Any, path: str) -> Any:
    """The Sequential inside a loaded model (a network, or a fitted estimator holding one)."""
    from chainrule.nn import Sequential

    if isinstance(obj, Sequential):
        return obj
    for attribute in ("network_", "net_", "model_", "module_", "model", "net"):
        inner = getattr(obj, attribute, None)
        if isinstance(inner, Sequential):
            return inner
    raise ModelFileError(f"{path} holds a {type(obj).__name__}, not a network of layers that can be drawn")


def network_from_args(args: argparse.Namespace) -> tuple[Any, np.ndarray | None, np.ndarray | None]:
    """(network, sample or None, target or None) from parsed flags; the sample flags override an example's."""
    x = target = None
    if args.layers is None:
        given = [flag for flag, value in (("--weights", args.weights), ("--biases", args.biases)) if value]
        if given:
            raise ConfigError(f"{' and '.join(given)} go with --layers, not with --example or --model")
    if args.example == "mazur":
        from chainrule.examples import mazur

        net, x, target = mazur()
    elif args.model is not None:
        try:
            from chainrule.io import load
        except ImportError:
            raise ConfigError("this chainrule cannot read model files (chainrule.io is missing)") from None
        net = _network_of(load(args.model), args.model)
    else:
        net = network_from_flags(parse_layers(args.layers), args.activation, args.output_activation,
                                 args.weights, args.biases, args.seed)
    sample, sample_target = sample_from_args(args)
    from chainrule.cli.targets import class_index_target, n_outputs

    sample_target = class_index_target(sample_target, n_outputs(net))  # --target 1: a class index
    return net, (sample if sample is not None else x), (sample_target if sample_target is not None else target)


def bias_scheme(args: argparse.Namespace) -> str:
    """``--bias`` if given, else Mazur's shared b1, b2 for ``--example mazur`` and one bias per neuron otherwise."""
    from chainrule.learn.conventions import PRESETS

    if getattr(args, "bias", None):
        return args.bias
    return PRESETS["mazur"]["bias"] if args.example == "mazur" else "per_neuron"


def sample_from_args(args: argparse.Namespace) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(x, target) from --x and --target, each (1, n) or None."""
    x = None if getattr(args, "x", None) is None else parse_numbers(args.x, "--x")[None, :]
    target = None if getattr(args, "target", None) is None else parse_numbers(args.target, "--target")[None, :]
    return x, target
