"""The exceptions chainrule raises for input a user can fix.

Every class is a ``ValueError`` so code that already catches ``ValueError`` keeps
working; each message says what was expected, what came, and how to fix it.
The command line turns any of them into one line and exit code 2; an error whose
advice differs there (``--data DIR`` rather than ``path=...``) carries that wording in
its ``cli_message`` attribute, which the command line shows instead.
"""

from __future__ import annotations

from typing import TypeVar

_E = TypeVar("_E", bound=BaseException)

__all__ = [
    "ChainruleError",
    "ShapeError",
    "DataError",
    "ModelFileError",
    "GradientError",
    "GradcheckError",
    "FormulaError",
    "ConfigError",
    "for_cli",
]


class ChainruleError(ValueError):
    """Base class of every error chainrule raises on purpose."""


class ShapeError(ChainruleError):
    """Arrays whose shapes do not fit together (a matrix product, a layer, a loss)."""


class DataError(ChainruleError):
    """Data that cannot be used as given: NaN or inf, wrong dtype, empty, malformed files."""


class ModelFileError(ChainruleError):
    """A model or checkpoint file that is missing, corrupt, foreign or from a newer version."""


class GradientError(ChainruleError):
    """A gradient that cannot be computed as asked, e.g. ``backward()`` on a non-scalar."""


class GradcheckError(ChainruleError):
    """Backpropagation and finite differences disagree beyond the tolerance."""

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class FormulaError(ChainruleError):
    """A user's formula that cannot be parsed or names unknown quantities."""


class ConfigError(ChainruleError):
    """An option or combination of options that chainrule does not support."""


def for_cli(error: _E, message: str) -> _E:
    """``error`` carrying ``message``, its text worded for the command line (``--download`` where
    Python callers read ``download=True``); the ``chainrule`` command shows that one instead."""
    error.cli_message = message  # type: ignore[attr-defined]
    return error
