"""The ``chainrule`` command.

Each group of subcommands lives in its own module of this package and exposes
``register(subparsers)``, which adds its parsers and sets ``handler`` on each.
Errors a user can fix (:class:`~chainrule.errors.ChainruleError`, a missing file,
bad flags) print one line on stderr and exit with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from chainrule.errors import ChainruleError

__all__ = ["main", "build_parser", "UsageError"]

_GROUPS = ("demo", "training", "learn", "draw", "bench", "playground")


class UsageError(Exception):
    """Bad command-line input: reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2, no usage dump
        raise UsageError(f"{self.prog}: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = _Parser(prog="chainrule", description="Backpropagation you can read.")
    from chainrule import __version__

    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for group in _GROUPS:
        try:
            module = importlib.import_module(f"chainrule.cli.{group}")
        except ModuleNotFoundError as error:
            if error.name != f"chainrule.cli.{group}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "handler", None) is None:
            raise UsageError("chainrule: choose a command, e.g. 'chainrule demo' (see --help)")
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a reader that has gone shows here, not at interpreter exit
        return code
    except (UsageError, ChainruleError) as error:
        print(f"chainrule: error: {error}" if isinstance(error, ChainruleError) else f"error: {error}",
              file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
        print(f"chainrule: error: {error.strerror}: {error.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader closed the pipe (`chainrule predict ... | head`): stop quietly, as Unix
        # tools do, and point stdout at /dev/null so the flush at exit cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
