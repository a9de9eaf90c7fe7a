"""Printing above the bars: ``hub.print`` and ``hub.console``.

While Rich draws, anything written straight to the terminal would be erased by the next
frame, so text goes to the render thread (the only drawer), which prints it above the
bars. When nothing draws, it is an ordinary write to stdout.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from typing import IO, Any, cast

from .pipeline import Pipeline


class Above:
    """The hub's printer; ``live`` says whether the hub is started (so the bars exist)."""

    def __init__(self, pipeline: Pipeline, live: Callable[[], bool]) -> None:
        self._pipeline = pipeline
        self._live = live

    def _drawing(self) -> bool:
        return self._live() and self._pipeline.mode in ("rich", "custom")

    def print(self, text: str) -> None:
        if self._drawing():
            self._pipeline.post_output(text[:-1] if text.endswith("\n") else text)
        else:
            sys.stdout.write(text)

    def console(self) -> Any:
        from rich.console import Console

        if self._drawing():
            view = self._pipeline.view
            width = getattr(view, "width", None) or getattr(getattr(view, "console", None),
                                                            "width", 80)
            return Console(file=cast(IO[str], _LineFile(self.print)), width=width, highlight=False,
                           color_system=None, force_terminal=False)
        return Console(highlight=False)


class _LineFile(io.TextIOBase):
    """A text file that hands whole lines to ``emit`` (``hub.console``'s file)."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._buf = ""

    def write(self, s: str) -> int:
        self._buf += s
        *lines, self._buf = self._buf.split("\n")
        for line in lines:
            self._emit(line)
        return len(s)

    def flush(self) -> None:
        if self._buf:
            line, self._buf = self._buf, ""
            self._emit(line)

    def isatty(self) -> bool:
        return False
