"""Which view a hub draws with: Rich bars, plain lines or nothing.

Runs in: the caller, once per hub start. Rich is imported only when bars are drawn.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import IO, Literal

from .notebook import notebook_mode
from .plain import PlainView
from .render import OffView, View

ProgressMode = Literal["auto", "rich", "plain", "off"]
MODES: tuple[ProgressMode, ...] = ("auto", "rich", "plain", "off")


def _isatty(file: IO[str]) -> bool:
    isatty = getattr(file, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except (OSError, ValueError):
        return False


def can_move_cursor() -> bool:
    """A terminal that cannot move the cursor (``TERM=dumb``, Emacs' shell, some CI
    consoles) would show one frame at the very end: it gets plain lines instead."""
    return os.environ.get("TERM", "").strip().lower() not in ("dumb", "unknown")


def resolve_mode(mode: ProgressMode, file: IO[str] | None) -> ProgressMode:
    """What ``auto`` means here: Rich on a terminal that can move the cursor (or in
    Jupyter with ipywidgets), plain lines otherwise."""
    if mode != "auto":
        return mode
    if _isatty(file) if file is not None else False:
        return "rich" if can_move_cursor() else "plain"
    return notebook_mode()  # a notebook's stderr is no TTY, but Rich draws there


def choose_view(mode: ProgressMode, file: IO[str] | None, *, log_every: float = 5.0,
                clock: Callable[[], float] = time.monotonic, title: str | None = None,
                stall_after: float = 30.0, overall: bool = True,
                transient: bool = False, quiet_short: bool = False) -> View:
    """``auto``: Rich on a terminal (or in Jupyter with ipywidgets), plain lines otherwise."""
    file = file if file is not None else sys.stderr
    if file is None:  # the process was started with stderr closed
        return OffView()
    mode = resolve_mode(mode, file)
    if mode == "off":
        return OffView()
    if mode == "plain":
        return PlainView(file, every=log_every, clock=clock, overall=overall,
                         quiet_short=quiet_short)
    if draws_itself(file):
        from .ansiview import AnsiView

        return AnsiView(file, header=title, stall_after=stall_after, overall=overall,
                        transient=transient)
    from .richview import RichView

    return RichView(file=file, header=title, stall_after=stall_after, overall=overall,
                    transient=transient)


def draws_itself(file: IO[str]) -> bool:
    """Bars on a POSIX terminal are drawn by ``AnsiView`` (no Rich import, only changed
    lines rewritten; issue 13). Rich's ``Live`` draws in notebooks, on Windows consoles, on
    files that are not terminals, and whenever ``FANIN_LIVE=rich`` is set."""
    if os.environ.get("FANIN_LIVE", "").strip().lower() == "rich" or os.name != "posix":
        return False
    # Its bar glyphs need UTF-8 (a str-only file, encoding None, takes any text); Rich
    # falls back to ASCII on other encodings.
    encoding = getattr(file, "encoding", None)
    if isinstance(encoding, str) and not encoding.lower().replace("-", "").startswith("utf"):
        return False
    return _isatty(file)


def mode_of(view: View) -> str:
    """The mode a view draws in: ``rich``, ``plain``, ``off`` (or ``custom``)."""
    if isinstance(view, OffView):
        return "off"
    if isinstance(view, PlainView):
        return "plain"
    return "rich" if type(view).__name__ in ("RichView", "AnsiView") else "custom"


def is_drawing(view: View) -> bool:
    return not isinstance(view, OffView)


def summary_view(view: View, file: IO[str] | None) -> View:
    """Where the summary goes: the view itself, or plain text for ``progress="off"``."""
    if isinstance(view, OffView):
        file = file if file is not None else sys.stderr
        return PlainView(file) if file is not None else OffView()
    return view
