"""The terminal view: the layout of ``layout.frame`` drawn with escape codes, no Rich.

Runs in: the render thread only (started, drawn and stopped there; the summary too).

Why not Rich's ``Live`` here (issue 13): importing Rich costs ~27 ms of the main process's
CPU and a Live refresh re-renders the whole block through Rich's console (~0.35 ms per
frame for 3 lines, measured), where a line-by-line write of ours is a few string joins.
This view draws the same lines with the same glyphs and theme colours and keeps Live's
contract: the cursor is hidden while it draws, a frame is cropped to the terminal's height
and each line to its width (ending in ``…``), lines that did not change are not rewritten,
log lines go above the bars into the scrollback, and ``stop`` shows the cursor again below
the last frame (or erases it when ``transient``). Rich's ``RichView`` stays for notebooks,
consoles given by the caller, non-POSIX terminals and ``FANIN_LIVE=rich``.

Cursor convention: after a frame the cursor is at column 0 of the line below the block,
so the next frame goes ``n`` lines up, and anything printed after ``stop`` lands below it.
Each rewritten line is ``CR``, erase-line, text, ``LF``: erasing before writing avoids the
pending-wrap quirk of a line exactly as wide as the terminal.
"""

from __future__ import annotations

import os
from typing import IO

from .._ingest.state import Snapshot, TaskView
from .._wire import LogRecord
from . import layout

HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
RESET = "\x1b[0m"

_ATTRS = {"bold": "1", "dim": "2", "italic": "3", "underline": "4"}
_COLORS = {"black": "30", "red": "31", "green": "32", "yellow": "33", "blue": "34",
           "magenta": "35", "cyan": "36", "white": "37"}
# Rich's default theme for its progress bar, per colour system.
_THEME = {
    "bar.complete": {"truecolor": "38;2;249;38;114", "256": "38;5;197", "standard": "35"},
    "bar.pulse": {"truecolor": "38;2;249;38;114", "256": "38;5;197", "standard": "35"},
    "bar.finished": {"truecolor": "38;2;114;156;31", "256": "38;5;106", "standard": "32"},
    "bar.back": {"truecolor": "38;2;58;58;58", "256": "38;5;237", "standard": "90"},
}


def color_system(environ: dict[str, str] | None = None) -> str | None:
    """What Rich would pick from the environment: ``truecolor``, ``256``, ``standard``;
    ``None`` (attributes only, no colour) under ``NO_COLOR``."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return None
    if env.get("COLORTERM", "").strip().lower() in ("truecolor", "24bit"):
        return "truecolor"
    if env.get("TERM", "").strip().lower().split("-")[-1] == "256color":
        return "256"
    return "standard"


class Palette:
    """Style name -> SGR prefix, cached (a frame uses a dozen distinct styles)."""

    def __init__(self, system: str | None) -> None:
        self.system = system
        self._cache: dict[str, str] = {}

    def sgr(self, style: str) -> str:
        code = self._cache.get(style)
        if code is None:
            parts = []
            for word in style.split():
                if word in _ATTRS:
                    parts.append(_ATTRS[word])
                elif self.system is not None:
                    theme = _THEME.get(word)
                    if theme is not None:
                        parts.append(theme[self.system])
                    elif word in _COLORS:
                        parts.append(_COLORS[word])
            code = self._cache[style] = f"\x1b[{';'.join(parts)}m" if parts else ""
        return code


def encode(line: layout.Line, palette: Palette, width: int | None) -> str:
    """One line as text with escape codes, cropped to ``width`` cells ending in ``…``
    (what Rich's ``no_wrap`` and ``overflow="ellipsis"`` do); ``None``: never cropped."""
    # One measure of the whole line, not one per piece: most lines fit, and a line's
    # width is the sum of its pieces' widths.
    if width is not None and layout.cell_len("".join([p for p, _ in line])) > width:
        room, cropped = width - 1, []
        for piece, style in line:
            piece = _crop(piece, room)
            room -= layout.cell_len(piece)
            cropped.append((piece, style))
            if room <= 0:
                break
        line = [*cropped, ("…", cropped[-1][1] if cropped else "")]
    out: list[str] = []
    codes, sgr = palette._cache, palette.sgr
    for piece, style in line:
        if style and piece:
            code = codes.get(style)
            if code is None:
                code = sgr(style)
            if code:
                out.append(f"{code}{piece}{RESET}")
                continue
        out.append(piece)
    return "".join(out)


def _crop(text: str, cells: int) -> str:
    if text.isascii():
        return text[:max(0, cells)]
    out, used = [], 0
    for ch in text:
        n = layout.cell_len(ch)
        if used + n > cells:
            break
        out.append(ch)
        used += n
    return "".join(out)


class AnsiView:
    def __init__(self, file: IO[str], header: str | None = None, stall_after: float = 30.0,
                 overall: bool = True, transient: bool = False) -> None:
        self.file = file
        self.header = header
        self.stall_after = stall_after
        self.overall = overall  # False: no overall bar and no task-count line (fanin.track)
        self.transient = transient  # remove the bars when the display stops
        self.palette = Palette(color_system())
        self._drawn: list[str] = []  # the lines on screen now, as written
        self._drawn_width = 0
        self._live = False
        self._frame_size: tuple[int, int] | None = None  # read by max_rows, used by draw

    # -- size -------------------------------------------------------------------------------
    def size(self) -> tuple[int, int]:
        """(columns, lines): ``COLUMNS``/``LINES`` when set (as Rich reads them), else the
        terminal behind the file (or stderr, stdout), else 80 x 25."""
        env_w, env_h = os.environ.get("COLUMNS", ""), os.environ.get("LINES", "")
        width = int(env_w) if env_w.isdigit() and int(env_w) > 0 else 0
        height = int(env_h) if env_h.isdigit() and int(env_h) > 0 else 0
        if not (width and height):
            for fd in _fds(self.file):
                try:
                    size = os.get_terminal_size(fd)
                except (OSError, ValueError):
                    continue
                width, height = width or size.columns, height or size.lines
                break
        return width or 80, height or 25

    @property
    def width(self) -> int:
        return self.size()[0]

    # -- the View protocol ------------------------------------------------------------------
    def start(self) -> None:
        self._live = True
        self._write(HIDE_CURSOR)

    def max_rows(self) -> int:
        # The render thread asks this right before each draw: the size read here serves
        # that draw too (one read of the environment and the terminal per frame, not two).
        self._frame_size = size = self.size()
        return max(1, size[1] - layout.RESERVED_LINES)

    def draw(self, snap: Snapshot, logs: list[LogRecord], final: bool) -> None:
        if not self._live:
            return
        size, self._frame_size = self._frame_size, None
        width, height = size if size is not None else self.size()
        lines = layout.frame(snap, width, self.header, self.stall_after, self.overall)
        new = [encode(line, self.palette, width) for line in lines[:max(1, height - 1)]]
        old = self._drawn
        if not logs and new == old and width == self._drawn_width:
            return  # nothing visible changed: write nothing at all
        out: list[str] = []
        if old:
            out.append(f"\r\x1b[{len(old)}A")
        if logs or len(new) != len(old) or width != self._drawn_width:
            out.append("\x1b[J")  # erase the old block, then logs, then every line
            for record in logs:
                out.append(encode(layout.log_line(record), self.palette, None) + "\n")
            out.extend(f"{line}\n" for line in new)
        else:  # same shape: rewrite only the lines that changed
            skip = 0
            for before, after in zip(old, new):
                if before == after:
                    skip += 1
                    continue
                if skip:
                    out.append(f"\x1b[{skip}B")
                    skip = 0
                out.append(f"\r\x1b[2K{after}\n")
            if skip:
                out.append(f"\x1b[{skip}B")
            out.append("\r")
        self._write("".join(out))
        self._drawn, self._drawn_width = new, width  # only once it is on the screen

    def stop(self) -> None:
        if not self._live:
            return
        self._live = False
        out = ""
        if self.transient and self._drawn:
            out = f"\r\x1b[{len(self._drawn)}A\x1b[J"
        self._drawn = []
        self._write(out + SHOW_CURSOR)

    def summary(self, views: list[TaskView], snap: Snapshot) -> None:
        from .summary import summary_lines

        width = self.size()[0]
        self._write("".join(encode(line, self.palette, width) + "\n"
                            for line in summary_lines(views, snap)))

    def _write(self, text: str) -> None:
        if text:
            self.file.write(text)
            self.file.flush()


def _fds(file: IO[str]) -> list[int]:
    fds = []
    fileno = getattr(file, "fileno", None)
    if fileno is not None:
        try:
            fds.append(fileno())
        except (OSError, ValueError, AttributeError):
            pass
    return [*fds, 2, 1]
