"""``chainrule bench``: the speed benchmarks, ``python -m benchmarks`` under the ``chainrule`` command.

The benchmark runner lives in the repository (``benchmarks/`` beside ``src/``), not in
the installed package: it needs PyTorch, scikit-learn and micrograd, which chainrule
does not. ``chainrule bench`` finds it when ``benchmarks`` is importable, in the
current directory, or beside the source tree of an editable install; elsewhere it
says where to get it.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
from pathlib import Path
from types import ModuleType

from chainrule.errors import ConfigError

_HELP = "time chainrule against PyTorch, scikit-learn, a NumPy loop and micrograd (needs a source checkout)"


def _is_runner(module: ModuleType) -> bool:
    return callable(getattr(module, "add_arguments", None)) and callable(getattr(module, "run", None))


def find_runner() -> ModuleType | None:
    """``benchmarks.runner`` from the import path, the current directory or the source checkout, or None."""
    import chainrule

    roots = [Path.cwd(), Path(chainrule.__file__).resolve().parents[2]]
    for root in [None, *roots]:
        if root is not None:
            if not (root / "benchmarks" / "runner.py").is_file():
                continue
            if str(root) not in sys.path:
                sys.path.append(str(root))
        try:
            module = importlib.import_module("benchmarks.runner")
        except ImportError:
            continue
        if _is_runner(module):
            return module
    return None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help=_HELP, description=_HELP)
    runner = find_runner()
    if runner is None:
        parser.set_defaults(handler=_missing)
        return
    runner.add_arguments(parser)
    parser.set_defaults(handler=lambda args: runner.run(args, command=shlex.join(["chainrule", *sys.argv[1:]])))


def _missing(args: argparse.Namespace) -> int:
    raise ConfigError("the benchmark runner is not installed with chainrule; run `python -m benchmarks` "
                      "from a checkout of the chainrule repository (it holds benchmarks/)")
