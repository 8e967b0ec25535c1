"""``chainrule draw``: a network diagram written to a PNG or SVG file.

    chainrule draw --example mazur --overlay delta --out mazur.png
    chainrule draw --layers 2,2,2 --activation sigmoid --output-activation sigmoid \\
        --weights 0.15,0.2,0.25,0.3,0.4,0.45,0.5,0.55 --biases 0.35,0.6 \\
        --x 0.05,0.1 --target 0.01,0.99 --out network.svg
    chainrule draw --model mnist.model --out mnist.png
"""

from __future__ import annotations

import argparse

from chainrule.cli import netspec
from chainrule.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "draw", help="draw a network (neurons, weights, one sample's numbers) to PNG or SVG",
        description="Draw a network as columns of neurons joined by weighted edges. The network comes from "
                    "--example, --model or --layers; --x and --target add one sample's net, out, and with "
                    "--overlay its deltas or dE/dw.",
    )
    netspec.add_network_arguments(parser)
    netspec.add_sample_arguments(parser)
    parser.add_argument("--overlay", choices=("grad", "delta"), help="colour edges by dE/dw or neurons by delta "
                        "(needs --x and --target)")
    parser.add_argument("--show", choices=("values", "names", "both"), default="values",
                        help="edge labels: weight values, names (w1..w8) or both (default values)")
    parser.add_argument("--names", choices=("auto", "mazur", "layer"), default="auto",
                        help="naming scheme: Mazur's i/h/o (auto) or per-layer x_j^(l) (layer)")
    parser.add_argument("--bias", choices=("per_neuron", "shared"), default=None,
                        help="label one bias per neuron (b_h1, ...) or one per layer (Mazur's b1, b2; the default "
                        "with --example mazur, as in trace and explain)")
    parser.add_argument("--loss", default="half_squared_error",
                        help="loss for the overlays (default half_squared_error, Mazur's E_total)")
    parser.add_argument("--max-neurons", type=int, default=12, help="most neurons drawn per layer (default 12)")
    parser.add_argument("--out", default="network.png", help="output file, .png, .svg or .pdf (default network.png)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from chainrule.plot._figure import check_path

    path = check_path(args.out)
    net, x, target = netspec.network_from_args(args)
    if args.overlay and (x is None or target is None):
        raise ConfigError(f"--overlay {args.overlay} needs a sample and its target: add --x and --target")
    if target is not None and x is None:
        raise ConfigError("--target needs --x")
    try:
        from chainrule.plot import draw_network

        draw_network(net, x, target, show=args.show, overlay=args.overlay, names=args.names, path=path,
                     loss=args.loss, max_neurons=args.max_neurons, bias=netspec.bias_scheme(args))
    except ImportError as error:
        raise ConfigError(f"chainrule draw needs matplotlib ({error}); install it with "
                          "pip install 'chainrule[plot]'") from None
    print(f"wrote {path}")
    return 0
