"""Starting fanin's own threads so that a Ctrl-C cannot hide one from its ``stop``; and
``Alarm``, the one-lock wake-up their loops sleep on.

``Thread.start()`` waits for the new thread to signal that it runs; a KeyboardInterrupt
landing in that wait leaves the thread running while ``is_alive()`` still says no for a
moment, and a ``stop`` that checks ``is_alive()`` then skips it: the thread outlives its
hub (seen about once in 60 random Ctrl-Cs during ``Hub.start``).
"""

from __future__ import annotations

import threading
import time

START_GRACE = 1.0  # seconds to wait for an interrupted start's thread to show itself


def start_thread(thread: threading.Thread) -> None:
    """``thread.start()``; interrupted, wait until the thread is visibly alive, re-raise."""
    try:
        thread.start()
    except BaseException:
        # The thread may be running (or have ended: then this waits out the grace, on the
        # interrupt's path only).
        deadline = time.monotonic() + START_GRACE
        while not thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.001)
        raise


class Alarm:
    """A wake-up for one sleeping thread: ``sleep(timeout)`` returns True once ``ring`` was
    called (consuming the ring), False when the timeout passed.

    One raw lock, held while nobody rang, so a sleep is a single ``acquire`` with a
    timeout. ``threading.Event.wait`` builds a Condition waiter lock on every call: about
    20 us more per wake-up on a loaded 2-core machine (measured), paid ten times a second
    by the render and collector loops.
    """

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def ring(self) -> None:
        try:
            self._lock.release()
        except RuntimeError:  # rung already, not yet consumed
            pass

    def sleep(self, timeout: float) -> bool:
        return self._lock.acquire(timeout=max(0.0, timeout))
