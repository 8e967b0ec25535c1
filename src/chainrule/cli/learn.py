"""``chainrule trace``, ``chainrule explain`` and ``chainrule check``: the learner tools on the command line.

The network comes from ``--example mazur``, ``--model FILE`` or ``--layers ...`` flags
(see :mod:`chainrule.cli.netspec`), the sample from ``--x`` and ``--target``.
``--example mazur`` also brings Mazur's conventions (one bias per layer, never updated);
``--update``, ``--update-biases``/``--no-update-biases``, ``--bias`` and ``--convention``
override them. ``check`` exits with 0 when the formula is right (or the right number typed in),
1 when it is not, and 2 when the formula or a flag cannot be read (one line, no traceback).
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from chainrule.cli.netspec import add_network_arguments, add_sample_arguments, network_from_args
from chainrule.errors import ConfigError

FORMATS = ("text", "markdown", "latex", "json")
#: ``trace --steps`` from this many rounds on shows its progress on standard error.
PROGRESS_STEPS = 2_000


def register(subparsers: argparse._SubParsersAction) -> None:
    trace = subparsers.add_parser("trace", help="every number of gradient descent on one sample, with its formula")
    _common(trace)
    trace.add_argument("--lr", type=float, default=0.5, help="learning rate eta (default 0.5)")
    trace.add_argument("--steps", type=int, default=1, help="rounds of forward, backward and update (default 1)")
    trace.add_argument("--convention", choices=("textbook", "mazur", "mazur_sequential"),
                       help="a named set of the options below (default: textbook; mazur with --example mazur)")
    trace.add_argument("--update", choices=("simultaneous", "sequential"),
                       help="simultaneous (textbook) or sequential (hidden deltas use the updated weights above)")
    trace.add_argument("--update-biases", action=argparse.BooleanOptionalAction, default=None,
                       help="whether biases learn (Mazur's post keeps them fixed)")
    trace.add_argument("--summary", action=argparse.BooleanOptionalAction, default=None,
                       help="trace the first and last rounds in full and tabulate the error (default: steps > 10)")
    trace.add_argument("--digits", type=int, default=9, help="significant digits shown (default 9)")
    trace.add_argument("--alias", action="append", default=[], metavar="NAME=QUANTITY",
                       help="show a quantity under your own name, e.g. --alias y=target_o1 (repeatable)")
    trace.set_defaults(handler=run_trace)

    explain = subparsers.add_parser("explain", help="dE/d(a weight, bias, net input or output) by the chain rule")
    explain.add_argument("wrt", help="the quantity, e.g. w1, dE/dw1, b_h1, net_h1, delta_h1, out_h1, w_12^(2)")
    explain.add_argument("--through", metavar="NEURONS",
                         help="group the paths by the neurons named, e.g. --through j1,j2: "
                              "dE/dw1 = [paths through j1] + [paths through j2], each summed")
    explain.add_argument("--lr", type=float, default=0.5, help="learning rate eta of the updated values (default 0.5)")
    explain.add_argument("--alias", action="append", default=[], metavar="NAME=QUANTITY",
                         help="show a quantity under your own name, e.g. --alias y=target_o1 (repeatable)")
    _common(explain, formats=FORMATS[:3])
    explain.set_defaults(handler=run_explain)

    check = subparsers.add_parser("check", help="judge a hand-derived formula for dE/d(quantity); exit 1 if wrong")
    check.add_argument("wrt", help="the quantity, e.g. w5 or delta_o1; with free indices (delta_j^(l), "
                                    "dE/dw_ij^(l)) the formula is a rule checked for every neuron of every layer")
    check.add_argument("formula", help="e.g. '(out_o1 - target_o1)*out_o1*(1 - out_o1)*out_h1'")
    check.add_argument("--alias", action="append", default=[], metavar="NAME=QUANTITY",
                       help="your own name for a quantity, e.g. --alias y=target_o1 (repeatable)")
    check.add_argument("--lr", type=float, default=0.5,
                       help="learning rate eta that fills the updated weights w5_new (default 0.5, as trace)")
    check.add_argument("--points", type=int, default=12,
                       help="random points of the weight, input and target space where the formula must hold "
                            "(default 12)")
    _common(check, formats=("text", "json", "markdown", "latex"))
    check.set_defaults(handler=run_check)


def _common(parser: argparse.ArgumentParser, formats: tuple[str, ...] = FORMATS) -> None:
    add_network_arguments(parser)
    add_sample_arguments(parser)
    parser.add_argument("--loss", default="half_squared_error",
                        help="half_squared_error (default), squared_error, mse, half_mse, cross_entropy, "
                             "binary_cross_entropy")
    parser.add_argument("--names", choices=("auto", "mazur", "layer"), default="auto",
                        help="naming scheme: auto (Mazur's, extended), mazur, layer (Learning From Data's s_j^(l))")
    parser.add_argument("--bias", choices=("per_neuron", "shared"), default=None,
                        help="one bias per neuron (default) or one per layer (Mazur's b1, b2)")
    parser.add_argument("--format", choices=formats, default="text", help="output format (default text)")
    parser.add_argument("--allow-mismatch", action="store_true",
                        help="go on with a loss the output activation cannot feed (cross-entropy on outputs "
                             "that are not probabilities), with a warning; refused otherwise, as in chainrule train")


def _inputs(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    net, x, target = network_from_args(args)
    if x is None or target is None:
        raise ConfigError("give the sample with --x and --target (e.g. --x 0.05,0.1 --target 0.01,0.99)")
    return net, x, target


def _conventions(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """The trace options and where they came from, flags winning over a preset."""
    from chainrule.learn import PRESETS

    preset = args.convention or ("mazur" if args.example == "mazur" else "textbook")
    options = dict(PRESETS[preset])
    origin = f"preset {preset!r}" + (" (from --example mazur)" if args.convention is None and preset == "mazur"
                                     else "")
    for key, value in (("update", args.update), ("update_biases", args.update_biases), ("bias", args.bias)):
        if value is not None and value != options[key]:
            options[key] = value
            origin += f", --{key.replace('_', '-')}"
    return options, origin


def _print_text(result: Any) -> None:
    if sys.stdout.isatty() and hasattr(result, "print"):
        result.print()
    else:
        print(result.to_text())


class _Progress:
    """Rounds done, on standard error when it is a terminal: a rich bar, or without rich a line
    at each quarter. Nothing for fewer than :data:`PROGRESS_STEPS` rounds (a short trace is done
    at once), and nothing into a pipe or a log (a script reads the result alone).
    """

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.bar: Any = None
        self.task: Any = None
        self.marks = {max(1, steps * q // 4) for q in (1, 2, 3, 4)}
        self.on = steps >= PROGRESS_STEPS and sys.stderr.isatty()
        if self.on:
            try:
                from rich.console import Console
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            except ImportError:
                return
            self.bar = Progress(TextColumn("trace"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("E {task.fields[error]}"), TimeElapsedColumn(),
                                console=Console(stderr=True), transient=True)
            self.task = self.bar.add_task("trace", total=steps, error="-")
            self.bar.start()

    def __call__(self, done: int, steps: int, error: float) -> None:
        if self.bar is not None:
            if done % 100 == 0 or done == steps:
                self.bar.update(self.task, completed=done, error=f"{error:.6g}")
        elif self.on and done in self.marks:
            print(f"trace: round {done:,} of {steps:,} (E = {error:.6g})", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def run_trace(args: argparse.Namespace) -> int:
    from chainrule.learn import trace

    net, x, target = _inputs(args)
    options, origin = _conventions(args)
    progress = _Progress(args.steps)
    try:
        result = trace(net, x, target, loss=args.loss, lr=args.lr, steps=args.steps, names=args.names,
                       summary=args.summary, digits=args.digits, aliases=_aliases(args),
                       allow_mismatch=args.allow_mismatch, progress=progress, **options)
    finally:
        progress.close()
    if args.format == "json":
        data = result.to_dict()
        data["convention_origin"] = origin
        import json

        print(json.dumps(data, indent=2))
        return 0
    if args.format == "markdown":
        print(result.to_markdown())
    elif args.format == "latex":
        print(result.to_latex())
    else:
        print(f"conventions from {origin}")
        _print_text(result)
    return 0


def run_explain(args: argparse.Namespace) -> int:
    from chainrule.learn import explain

    net, x, target = _inputs(args)
    result = explain(net, args.wrt, x, target, loss=args.loss, names=args.names,
                     bias=args.bias or ("shared" if args.example == "mazur" else "per_neuron"), lr=args.lr,
                     aliases=_aliases(args), allow_mismatch=args.allow_mismatch)
    print({"markdown": result.to_markdown, "latex": result.to_latex}.get(args.format, result.to_text)())
    if args.through:
        print("\n" + result.through_text([n for n in args.through.split(",") if n.strip()]))
    return 0


def _aliases(args: argparse.Namespace) -> dict[str, str]:
    """--alias NAME=QUANTITY, each name once."""
    aliases: dict[str, str] = {}
    for item in args.alias:
        name, sep, quantity = item.partition("=")
        if not sep or not name.strip() or not quantity.strip():
            raise ConfigError(f"--alias expects NAME=QUANTITY such as y=target_o1, got {item!r}")
        if name.strip() in aliases:
            raise ConfigError(f"--alias {name.strip()} is given twice ({aliases[name.strip()]} and "
                              f"{quantity.strip()}); give each name once")
        aliases[name.strip()] = quantity.strip()
    return aliases


def run_check(args: argparse.Namespace) -> int:
    from chainrule.learn import check

    aliases = _aliases(args)
    if args.points < 1 or args.points > 200:
        raise ConfigError(f"--points must lie in 1..200, got {args.points}")
    net, x, target = _inputs(args)
    if re.search(r"_\{?[a-z]{1,2}\}?\^\{?\([a-z]\)", args.wrt):  # delta_j^(l): a rule for every neuron
        from chainrule.learn import check_rule

        rule = check_rule(net, args.wrt, args.formula, x, target, loss=args.loss, aliases=aliases,
                          bias=args.bias or ("shared" if args.example == "mazur" else "per_neuron"), lr=args.lr,
                          points=args.points, allow_mismatch=args.allow_mismatch)
        if args.format == "json":
            import json

            print(json.dumps({"verdict": "holds" if rule.holds else "fails", "instances": len(rule.instances),
                              "layers": rule.layers, "counterexample": rule.counterexample[0]
                              if rule.counterexample else None, "mistake": rule.counterexample[1].mistake
                              if rule.counterexample else None, "text": rule.to_text()}, indent=2))
        else:
            print(rule.to_text())
        return 0 if rule.holds else 1
    verdict = check(net, args.wrt, args.formula, x, target, loss=args.loss, names=args.names, aliases=aliases,
                    bias=args.bias or ("shared" if args.example == "mazur" else "per_neuron"), lr=args.lr,
                    points=args.points, allow_mismatch=args.allow_mismatch)
    print({"json": verdict.to_json, "markdown": verdict.to_markdown, "latex": verdict.to_latex}.get(
        args.format, verdict.to_text)())
    return 0 if verdict.correct else 1
