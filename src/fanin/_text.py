"""Making worker-supplied text inert before it reaches a terminal.

Runs in: the collector thread. Workers are not trusted: a description may carry ANSI
escapes (cursor moves, screen clears, OSC titles), other control characters or a megabyte
of text. Rich markup is neutralised separately by always building ``rich.text.Text``
objects, never parsing markup.
"""

from __future__ import annotations

import re

MAX_DISPLAY = 200  # characters of a description kept for display

# C0 controls, DEL, and C1 controls (0x80-0x9f: 0x9b is a one-byte CSI on some terminals);
# the bidirectional controls (U+061C, U+200E-200F, U+202A-202E, U+2066-2069), which reorder
# what follows them on screen (U+202E makes "evil.exe" read backwards), and the line and
# paragraph separators U+2028-2029; lone surrogates (U+D800-DFFF), which no strict UTF-8
# stream can encode (written to sys.stdout in a UTF-8 locale they raise, and the display
# would stop).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
                      "\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in "\t\n\r":
        return " "
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def sanitize(text: str, limit: int = MAX_DISPLAY) -> str:
    """Return ``text`` with every control character shown as ``\\xNN`` (or ``\\uNNNN``)
    and cut to ``limit``."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if _CONTROL.search(text):
        text = _CONTROL.sub(_escape, text)
        if len(text) > limit:
            text = text[: limit - 1] + "…"
    return text
