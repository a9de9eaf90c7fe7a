"""Making worker-supplied text inert before it reaches a terminal.

Runs in: the collector thread. Workers are not trusted: a description may carry ANSI
escapes (cursor moves, screen clears, OSC titles), other control characters or a megabyte
of text. Rich markup is neutralised separately by always building ``rich.text.Text``
objects, never parsing markup.
"""

from __future__ import annotations

import re

MAX_DISPLAY = 200  # characters of a description kept for display

# C0 controls, DEL, and C1 controls (0x80-0x9f: 0x9b is a one-byte CSI on some terminals).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in "\t\n\r":
        return " "
    return f"\\x{ord(ch):02x}"


def sanitize(text: str, limit: int = MAX_DISPLAY) -> str:
    """Return ``text`` with every control character shown as ``\\xNN`` and cut to ``limit``."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if _CONTROL.search(text):
        text = _CONTROL.sub(_escape, text)
        if len(text) > limit:
            text = text[: limit - 1] + "…"
    return text
