"""Starting fanin's own threads so that a Ctrl-C cannot hide one from its ``stop``.

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
