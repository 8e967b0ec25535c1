"""``chainrule bench``: the speed benchmarks, ``python -m benchmarks`` under the ``chainrule`` command.

The benchmark runner lives in the repository (``benchmarks/`` beside ``src/``), not in
the installed package: it needs PyTorch, scikit-learn and micrograd, which chainrule
does not. ``chainrule bench`` runs it when chainrule is installed from a checkout
(``pip install -e .``); elsewhere it says where to get it. Only the checkout that holds
this very chainrule is looked at, never the current directory.
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


def find_runner() -> ModuleType | None:
    """``benchmarks.runner`` of the checkout this chainrule was installed from, or None."""
    import chainrule

    package = Path(chainrule.__file__).resolve().parent
    root = package.parents[1]  # <root>/src/chainrule
    if not (root / "benchmarks" / "runner.py").is_file() or package != (root / "src" / "chainrule").resolve():
        return None
    sys.path.insert(0, str(root))
    try:
        module = importlib.import_module("benchmarks.runner")
    except ImportError:
        return None
    finally:
        sys.path.remove(str(root))
    return module if callable(getattr(module, "add_arguments", None)) and callable(getattr(module, "run", None)) \
        else None


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
