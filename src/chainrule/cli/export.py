"""``chainrule export``: a model file as an ONNX model, for serving with onnxruntime and other runtimes.

    chainrule export mnist.safetensors --onnx mnist.onnx
    chainrule export mnist.safetensors --onnx mnist.onnx --dtype float32 --opset 20
"""

from __future__ import annotations

import argparse

from chainrule.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="write a model file as an ONNX model (needs the [onnx] extra)",
        description="Write a model saved by chainrule (chainrule train --out, chainrule.save) as an ONNX model: "
                    "input X (batch, n_in), output 'output' (batch, n_out). The file is written atomically.",
    )
    parser.add_argument("model", help="a model file written by chainrule")
    parser.add_argument("--onnx", required=True, metavar="OUT", help="the ONNX file to write, e.g. model.onnx")
    parser.add_argument("--dtype", choices=("float32", "float64"),
                        help="the graph's float type (default: the model's own)")
    parser.add_argument("--opset", type=int, default=None,
                        help="ONNX operator set, 13 or newer (default 17; 20 writes float32 GELU as one operator)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        import onnx  # noqa: F401  (checked before any work is done)
    except ImportError:
        raise ConfigError('chainrule export needs the onnx package: pip install "chainrule[onnx]"') from None
    from chainrule.atomic import check_destination
    from chainrule.export import OPSET, to_onnx
    from chainrule.io import load

    check_destination(args.onnx)
    model = load(args.model)
    proto = to_onnx(model, args.onnx, dtype=args.dtype, opset=OPSET if args.opset is None else args.opset)
    element = {1: "float32", 11: "float64"}.get(proto.graph.input[0].type.tensor_type.elem_type, "?")
    print(f"wrote {args.onnx} (ONNX opset {proto.opset_import[0].version}, {element}, input X, output 'output')")
    return 0
