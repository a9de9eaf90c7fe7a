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


class DefaultTerminated(Terminated):
    """A SIGTERM that would have killed the process outright (no handler was installed):
    once the hub has cleaned up, the process still dies by that signal (``Hub.__exit__``)."""


_held = 0  # hubs running in this process that hold SIGTERM (see hold_sigterm)
_held_pid = 0  # the process they run in: a forked child inherits the handler, not the hubs
_held_lock = threading.Lock()


def _terminated_by_default(signum: int, frame: FrameType | None) -> None:
    if _held == 0 or os.getpid() != _held_pid:
        # A stale handler (released from another thread), or a forked child's copy (e.g. a
        # process the user started from hub.mp_context): act as the default would.
        die_by_sigterm()
    raise DefaultTerminated(f"received signal {signum}")


def hold_sigterm() -> Callable[[], None]:
    """While a hub runs, a SIGTERM that would kill the process outright raises instead.

    Only when SIGTERM's handler is the default and we are in the main thread: a handler of
    the program's own (or ``SIG_IGN``) is left alone, never replaced. The raised
    ``Terminated`` goes through the same clean shutdown as Ctrl-C (workers and their
    process groups stopped, final frame, cursor shown), and ``Hub.__exit__`` then ends the
    process by SIGTERM as the default would have. Counted, so nested hubs share one
    handler; the last release puts the default back. Returns the release function.
    """
    global _held, _held_pid
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    with _held_lock:
        if _held_pid != os.getpid():  # counts inherited through fork are not ours
            _held, _held_pid = 0, os.getpid()
        if _held == 0:
            if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, _terminated_by_default):
                return lambda: None
            signal.signal(signal.SIGTERM, _terminated_by_default)
        _held += 1
    released = False

    def release() -> None:
        global _held
        nonlocal released
        if released:
            return
        released = True
        with _held_lock:
            _held -= 1
            if (_held == 0 and threading.current_thread() is threading.main_thread()
                    and signal.getsignal(signal.SIGTERM) is _terminated_by_default):
                signal.signal(signal.SIGTERM, signal.SIG_DFL)

    return release


def sigterm_released() -> bool:
    """No hub of this process holds SIGTERM any more.

    Our handler may still be installed if another one was stacked on it while the last
    hub released it (``install_force_exit`` during a kill close): the default goes back now.
    """
    with _held_lock:
        if _held > 0 and _held_pid == os.getpid():
            return False
    try:
        if signal.getsignal(signal.SIGTERM) is _terminated_by_default:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except ValueError:  # not the main thread
        pass
    return True


def die_by_sigterm() -> None:
    """End this process by SIGTERM with the default action, as an unhandled SIGTERM does
    (the parent sees "killed by signal 15"; a shell reports 143)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
    os._exit(128 + signal.SIGTERM)  # pragma: no cover - only if the signal is blocked


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
