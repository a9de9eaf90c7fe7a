"""Ctrl-C and SIGTERM: a first signal stops the run cleanly, a second one exits at once.

Runs in: the caller's main thread (signal handlers can only be installed there).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

SHOW_CURSOR = "\x1b[?25h"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so the same clean shutdown path runs."""


def exit_code(exc: BaseException) -> int:
    """The exit status a shell reports for the signal behind ``exc``: 143 (128 + SIGTERM)
    for ``Terminated``, else 130 (128 + SIGINT)."""
    return 128 + signal.SIGTERM if isinstance(exc, Terminated) else 128 + signal.SIGINT


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"received signal {signum}")


def install_sigterm_as_interrupt() -> Callable[[], None]:
    """Make SIGTERM behave like Ctrl-C; return a function restoring the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = signal.signal(signal.SIGTERM, _raise_terminated)

    def restore() -> None:
        signal.signal(signal.SIGTERM, old)

    return restore


def install_force_exit(pids: Callable[[], list[int]], code: int = 130,
                       file: Any = None) -> Callable[[], None]:
    """From now on, Ctrl-C or SIGTERM exit immediately: kill ``pids``, show the cursor, ``_exit``.

    Used once a first interrupt is being handled, so a stuck cleanup can always be cut
    short by the user. Returns a function restoring the previous handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def force(signum: int, frame: FrameType | None) -> None:
        for pid in pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        out = file if file is not None else sys.stderr
        try:
            if out.isatty():
                out.write(SHOW_CURSOR + "\n")
            out.write("fanin: forced exit\n")
            out.flush()
        except (OSError, ValueError):
            pass
        os._exit(code)

    old_int = signal.signal(signal.SIGINT, force)
    old_term = signal.signal(signal.SIGTERM, force)

    def restore() -> None:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)

    return restore
