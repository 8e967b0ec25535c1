"""What the command line checks before any work: flag ranges, optional packages, memory, steps.

Every subcommand's flags pass through :func:`check_flags` and :func:`check_extras`
before its handler runs, so a bad value or a missing package is one line and exit
code 2 instead of a traceback after minutes of work. Sizes that decide how much
memory a run takes (layer sizes, sample counts, class counts) are compared with the
memory the machine has free (:func:`check_memory`) before anything is allocated.

Budgets (also listed in SECURITY.md):

- :data:`MAX_OUTPUTS`: the most classes a label column may create (one output each);
- :data:`MAX_TRACE_STEPS`: the most rounds ``chainrule trace --steps`` runs; raise it
  with ``$CHAINRULE_MAX_STEPS``;
- :data:`MEMORY_SHARE`: the share of the free memory one run may plan to use.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from collections.abc import Sequence

from chainrule.errors import ConfigError, DataError

__all__ = ["MAX_OUTPUTS", "MAX_TRACE_STEPS", "MEMORY_SHARE", "EXTRAS", "available_memory", "check_memory",
           "network_bytes", "check_network", "check_flags", "check_extras", "check_outputs", "max_trace_steps",
           "format_bytes", "check_classes"]

#: Most outputs (classes) a CSV label column may create: one cell ``5000000`` would otherwise
#: build a 5,000,001-output network.
MAX_OUTPUTS = 10_000
#: Most rounds of ``chainrule trace --steps`` (each prints a table); ``$CHAINRULE_MAX_STEPS`` raises it.
MAX_TRACE_STEPS = 100_000
#: Share of the machine's available memory one run may plan to use.
MEMORY_SHARE = 0.8
#: Digits ``trace --digits`` may ask for: a float64 has 17 significant digits at most.
_DIGITS = (1, 17)

#: Optional packages by subcommand: (module, extra, what for). ``--plot`` and ``--format`` add their own.
EXTRAS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "check": (("sympy", "explain", "checking a formula symbolically"),),
    "draw": (("matplotlib", "plot", "drawing"),),
}


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units, three significant digits: 1536 -> '1.50 KiB'."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:,.0f} bytes" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux: MemAvailable; else physical memory), or None."""
    try:
        with open("/proc/meminfo") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None


def check_memory(nbytes: float, what: str, fix: str, available: int | None = None) -> None:
    """Refuse ``what`` when its estimated ``nbytes`` exceed :data:`MEMORY_SHARE` of the free memory."""
    available = available_memory() if available is None else available
    if available is None or nbytes <= MEMORY_SHARE * available:
        return
    raise ConfigError(f"{what} would need about {format_bytes(nbytes)} of memory, more than the "
                      f"{format_bytes(available)} this machine has free; {fix}")


def network_bytes(sizes: Sequence[int], batch: int = 1, itemsize: int = 8) -> int:
    """Estimated bytes to train an MLP of layer ``sizes`` on batches of ``batch`` rows.

    Each weight and bias is held five times (value, gradient, and up to three optimizer
    buffers, as Adam keeps), each activation three times (net input, output, delta).
    """
    params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    return itemsize * (5 * params + 3 * batch * sum(sizes))


def check_network(sizes: Sequence[int], batch: int = 1, itemsize: int = 8, flag: str = "--layers") -> None:
    """Refuse layer sizes whose network would not fit in memory (one line naming the sizes)."""
    nbytes = network_bytes(sizes, batch, itemsize)
    shown = ",".join(map(str, sizes)) if len(sizes) <= 8 else ",".join(map(str, sizes[:8])) + ",..."
    n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    batches = f" trained in batches of {batch:,}" if batch > 1 else ""
    check_memory(nbytes, f"{flag} {shown}, {n_params:,} weights and biases{batches},", "choose smaller layers")


def max_trace_steps() -> int:
    """The cap on ``trace --steps``: :data:`MAX_TRACE_STEPS`, or ``$CHAINRULE_MAX_STEPS`` when set."""
    text = os.environ.get("CHAINRULE_MAX_STEPS")
    if text is None:
        return MAX_TRACE_STEPS
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"$CHAINRULE_MAX_STEPS must be a whole number, got {text[:40]!r}") from None
    if value < 1:
        raise ConfigError(f"$CHAINRULE_MAX_STEPS must be >= 1, got {value}")
    return value


def _positive(args: argparse.Namespace, name: str, low: int) -> None:
    value = getattr(args, name, None)
    if value is not None and value < low:
        raise ConfigError(f"--{name.replace('_', '-')} must be >= {low}, got {value}")


def check_flags(args: argparse.Namespace) -> None:
    """Ranges of the flags several subcommands share, checked before any work."""
    _positive(args, "seed", 0)
    seed = getattr(args, "seed", None)
    if seed is not None and seed >= 2**128:
        raise ConfigError(f"--seed must be below 2**128, got a number of {len(str(seed))} digits")
    delimiter = getattr(args, "delimiter", None)
    if delimiter is not None and (len(delimiter) != 1 or delimiter in "\r\n\"" or delimiter.isalnum()):
        raise ConfigError(f"--delimiter must be one character that is not a letter, digit, quote or line break, "
                          f"got {delimiter!r:.20}; e.g. --delimiter ';' or --delimiter $'\\t'")
    digits = getattr(args, "digits", None)
    if digits is not None and not _DIGITS[0] <= digits <= _DIGITS[1]:
        raise ConfigError(f"--digits must lie in {_DIGITS[0]}..{_DIGITS[1]} (a float64 holds 17 significant "
                          f"digits), got {digits}")
    steps = getattr(args, "steps", None)
    if steps is not None and getattr(args, "command", None) == "trace":
        if steps < 0:
            raise ConfigError(f"--steps must be >= 0, got {steps}")
        cap = max_trace_steps()
        if steps > cap:
            raise ConfigError(f"--steps {steps:,} is above the cap of {cap:,} rounds (each round is a forward, "
                              "backward and update pass, traced); set CHAINRULE_MAX_STEPS to raise the cap")
    layers = getattr(args, "layers", None)
    if layers is not None and getattr(args, "command", None) != "train":  # train checks them with its batch size
        from chainrule.cli.netspec import parse_layers

        check_network(parse_layers(layers))
    _positive(args, "samples", 1)
    samples = getattr(args, "samples", None)
    if samples is not None and getattr(args, "dataset", None) not in (None, "digits"):
        # a toy set: float64 points (n, 2), noise, labels, a permutation and the split's copies
        check_memory(96 * samples, f"--samples {samples:,}", "ask for fewer points")


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


def check_extras(args: argparse.Namespace) -> None:
    """Every optional package the command will import, present before any work (one line naming the extra)."""
    command = getattr(args, "command", None)
    needs = list(EXTRAS.get(command, ()))
    if getattr(args, "plot", None):
        needs.append(("matplotlib", "plot", "--plot"))
    for module, extra, purpose in needs:
        if _missing(module):
            raise ConfigError(f"chainrule {command} needs {module} for {purpose}, which is not installed; "
                              f"install it with pip install 'chainrule[{extra}]'")


def check_outputs(args: argparse.Namespace) -> None:
    """``--out`` and ``--plot`` destinations usable before training starts: folder exists, a regular
    file or nothing there (a FIFO or device is refused without opening it), a known image suffix."""
    from chainrule.atomic import check_destination

    for flag in ("out", "plot"):
        path = getattr(args, flag, None)
        if not path:
            continue
        if flag == "plot":
            from chainrule.plot._figure import check_path

            try:
                check_path(path)
            except ConfigError as error:
                raise ConfigError(f"--plot: {error}") from None
        check_destination(path, error=ConfigError)


def check_classes(n_out: int, distinct: int, largest: int, source: str) -> None:
    """Refuse class labels that would make more outputs than :data:`MAX_OUTPUTS`, or more than twice the
    classes present (most outputs never trained: labels such as 0, 1, 7 want renumbering)."""
    if n_out > MAX_OUTPUTS:
        raise DataError(f"{source}: the label {largest:,} is too large: it would make a network with {n_out:,} "
                        f"outputs (one per class 0..{largest:,}), above the limit of {MAX_OUTPUTS:,}; number the "
                        f"{distinct:,} classes 0..{distinct - 1:,}, or for regression give targets that are not "
                        "whole numbers")
    if n_out > 2 * distinct:
        raise DataError(f"{source}: labels go up to {largest:,}, which makes {n_out:,} outputs, but only "
                        f"{distinct:,} classes occur; number the classes 0..{distinct - 1:,} so that every output "
                        "has examples to learn from")
