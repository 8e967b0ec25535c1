"""Strings from files, safe to show: control characters escaped, length cut.

Anything echoed from a file or a CSV header goes through :func:`printable`, so a
file cannot move the cursor, clear the screen or print a line of its own (a spoofed
"chainrule: model OK") through an error message, and a 20 MB string costs a line.
"""

from __future__ import annotations

import unicodedata
from typing import Any

__all__ = ["printable", "one_line", "plural", "MAX_SHOWN", "MAX_LINE"]

#: Most characters of one string shown in a message.
MAX_SHOWN = 80
#: Most characters of one whole error line.
MAX_LINE = 2000


def _escape(char: str) -> str:
    if char == "\\":
        return "\\\\"
    if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):  # controls, bidi overrides, ...
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return char


def printable(value: Any, limit: int = MAX_SHOWN) -> str:
    """``str(value)`` with control and format characters escaped, cut to ``limit`` characters.

    Examples
    --------
    >>> printable("ok\\x1b[2J\\nchainrule: model OK")
    'ok\\\\x1b[2J\\\\x0achainrule: model OK'
    >>> printable("x" * 100, limit=10)
    'xxxxxxxxxx... (100 characters)'
    """
    text = value if isinstance(value, str) else str(value)
    head = text[:limit]
    shown = "".join(_escape(c) for c in head)
    return shown if len(text) <= limit else f"{shown}... ({len(text):,} characters)"


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """An error message made safe for a terminal line: control and format characters escaped
    (backslashes left alone, unlike :func:`printable`), cut to ``limit`` characters.

    Examples
    --------
    >>> one_line("bad\\ncell\\x1b[2J")
    'bad\\\\x0acell\\\\x1b[2J'
    """
    if text.isprintable() and len(text) <= limit:
        return text
    shown = "".join(c if c == "\\" else _escape(c) for c in text[:limit])
    return shown if len(text) <= limit else f"{shown}... ({len(text):,} characters)"


def plural(n: int, word: str) -> str:
    """``n`` and ``word`` in English: "1 epoch", "2 epochs", "1,000 epochs"."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"
