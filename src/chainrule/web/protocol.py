"""The WebSocket messages: what the page may send, checked before anything acts on it.

Every message is a JSON object with a ``type`` and that type's fields (an optional
``id``, a string or integer, comes back in the reply so the page can pair them)::

    setup    setup: object          a (partial) set-up, see chainrule.web.config
    play     fps: int 1-60          train and stream frames until pause
    pause
    step     epochs: int 1-100      train this many epochs, then one frame
    reset    seed: int              a fresh network (from the set-up's seed if none given)
    sample   index: int             the training point that explain, trace and check use
    explain  wrt: str, example      dE/dwrt by chainrule.explain ("current" network or "mazur")
    trace    example                one step of gradient descent by chainrule.trace
    check    wrt, formula: str, example
    upload   csv: str, x1, x2, label: str   a CSV table as text (columns by name or index)
    columns  x1, x2, label: str     plot other columns of the uploaded table (by name or index)
    export   format: "model" | "json"
    import   data: str              a model file, base64
    state                           everything again (after a reconnect the server sends it unasked)
    ping

A message that is not JSON, has an unknown type, misses a field, has one too many or one
of the wrong type gets ``{"type": "error", "message": ...}``; the session goes on.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MESSAGES", "ProtocolError", "parse", "MAX_MESSAGE_BYTES"]

MAX_MESSAGE_BYTES = 6 << 20

_EXAMPLE = ("example", str, False)
#: type -> [(field, type, required)]
MESSAGES: dict[str, list[tuple[str, type | tuple[type, ...], bool]]] = {
    "setup": [("setup", dict, True)],
    "play": [("fps", int, False)],
    "pause": [],
    "step": [("epochs", int, False)],
    "reset": [("seed", int, False)],
    "sample": [("index", int, True)],
    "explain": [("wrt", str, True), _EXAMPLE],
    "trace": [_EXAMPLE],
    "check": [("wrt", str, True), ("formula", str, True), _EXAMPLE],
    "upload": [("csv", str, True), ("x1", str, False), ("x2", str, False), ("label", str, False)],
    "columns": [("x1", str, True), ("x2", str, True), ("label", str, True)],
    "export": [("format", str, True)],
    "import": [("data", str, True)],
    "state": [],
    "ping": [],
}
_RANGES = {"fps": (1, 60), "epochs": (1, 100), "seed": (0, 2**31 - 1), "index": (0, 10**6)}
_MAX_TEXT = {"wrt": 40, "formula": 600, "example": 20, "format": 10, "x1": 100, "x2": 100, "label": 100}


class ProtocolError(ValueError):
    """A message the server cannot act on; its text goes back to the page."""


def _type_name(kind: type | tuple[type, ...]) -> str:
    return {int: "an integer", str: "a string", dict: "an object"}.get(kind, str(kind))  # type: ignore[call-overload]


def parse(text: str | bytes) -> dict[str, Any]:
    """The message in ``text``, checked against ``MESSAGES``; raises ProtocolError saying what is wrong."""
    if len(text) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(text)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    try:
        message = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ProtocolError(f"a message must be JSON: {error}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"a message must be a JSON object with a 'type', got {type(message).__name__}")
    kind = message.get("type")
    if kind not in MESSAGES:
        raise ProtocolError(f"unknown message type {kind!r}; the types are {', '.join(MESSAGES)}")
    fields = MESSAGES[kind]
    known = {name for name, _, _ in fields} | {"type", "id"}
    extra = sorted(set(message) - known)
    if extra:
        raise ProtocolError(f"message {kind!r} has no field {extra[0]!r}"
                            + (f"; its fields are {', '.join(n for n, _, _ in fields)}" if fields else ""))
    if "id" in message and (isinstance(message["id"], bool) or not isinstance(message["id"], (int, str))):
        raise ProtocolError("a message id must be a string or an integer")
    for name, kind_, required in fields:
        if name not in message:
            if required:
                raise ProtocolError(f"message {kind!r} needs the field {name!r} ({_type_name(kind_)})")
            continue
        value = message[name]
        if isinstance(value, bool) or not isinstance(value, kind_):
            raise ProtocolError(f"field {name!r} of message {kind!r} must be {_type_name(kind_)}, got {value!r}"[:300])
        if name in _RANGES and not _RANGES[name][0] <= value <= _RANGES[name][1]:
            low, high = _RANGES[name]
            raise ProtocolError(f"field {name!r} of message {kind!r} must lie in {low}..{high}, got {value}")
        if name in _MAX_TEXT and len(value) > _MAX_TEXT[name]:
            raise ProtocolError(f"field {name!r} of message {kind!r} is longer than {_MAX_TEXT[name]} characters")
    return message
