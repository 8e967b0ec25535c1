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

_GROUPS = ("demo", "training", "learn", "draw", "bench", "export", "playground")


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
        from chainrule.cli import limits

        limits.check_flags(args)
        limits.check_extras(args)
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a reader that has gone shows here, not at interpreter exit
        return code
    except (UsageError, ChainruleError) as error:
        from chainrule._display import one_line

        # An error may carry advice worded for the command line (--data DIR rather than path=...).
        text = one_line(getattr(error, "cli_message", None) or str(error))  # no control characters reach the terminal
        print(f"chainrule: error: {text}" if isinstance(error, ChainruleError) else f"error: {text}",
              file=sys.stderr)
        return 2
    except OSError as error:
        if isinstance(error, BrokenPipeError):
            return _reader_gone()
        from chainrule._display import printable
        from chainrule.atomic import describe_os_error

        where = f": {printable(error.filename, 200)}" if error.filename is not None else ""
        print(f"chainrule: error: {describe_os_error(error)}{where}", file=sys.stderr)
        return 2
    except MemoryError:
        print("chainrule: error: out of memory; ask for smaller layers, fewer samples or a smaller batch",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return 130


def _reader_gone() -> int:
    # The reader closed the pipe (`chainrule predict ... | head`): stop quietly, as Unix
    # tools do, and point stdout at /dev/null so the flush at exit cannot fail again.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 141


if __name__ == "__main__":
    sys.exit(main())
