"""Outside values in log lines: quoted, escaped and bounded, so a message can neither forge a line nor flood the log.

A routing key or a message id may carry a newline (a forged second log line),
terminal escapes, or megabytes. Every value that comes from outside (a bus
message, a request) goes into a log line through ``quote`` (a value, shown
repr-like) or ``clean`` (free text such as an exception's message).
"""

from __future__ import annotations

import reprlib
from typing import Any

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 200
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = 20


def _escaped(text: str) -> str:
    """``text`` with every character that is not printable (newlines, escapes, separators) written as ``\\x..``."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _bounded(text: str, limit: int, more: int = 0) -> str:
    if len(text) <= limit and not more:
        return text
    more += max(0, len(text) - limit)
    return f"{text[:limit]}…(+{more})"


def quote(value: Any, limit: int = 200) -> str:
    """``value`` as one bounded, printable token for a log line: repr-like (strings quoted), at most ``limit``
    characters before a ``…(+N)`` mark of what was cut. Never raises; cost bounded by ``limit``, not by the value."""
    try:
        if isinstance(value, str):
            head: str | bytes = str(value[: limit + 1])
        elif isinstance(value, (bytes, bytearray)):
            head = bytes(value[: limit + 1])
        else:
            return _bounded(_escaped(_REPR.repr(value)), limit)
        return _bounded(_escaped(repr(head)), limit, len(value) - len(head))
    except Exception:  # a __repr__ that raises is someone else's bug, not a reason to lose the line
        return f"<{type(value).__name__}>"


def clean(text: Any, limit: int = 300) -> str:
    """Free text (an exception's message, a library's sentence) on one line, unquoted, at most ``limit`` characters."""
    try:
        text = text if isinstance(text, str) else str(text)
    except Exception:
        return "<unprintable>"
    head = text[: limit + 1]
    return _bounded(_escaped(head), limit, len(text) - len(head))
