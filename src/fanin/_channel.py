"""The channel a ``hub.reporter()`` reporter carries: one queue, two routes.

Runs in: wherever the reporter is used. In the hub's own process (the caller's threads) a
report goes straight into the collector's in-process inbox, so it is never stuck in a
``multiprocessing.Queue`` feeder buffer when the hub syncs or closes. In any other process
(fork, spawn, forkserver) it goes through the reporter's dedicated ``multiprocessing.Queue``,
which the hub's pump thread reads.
"""

from __future__ import annotations

import os
from typing import Any


class HubChannel:
    __slots__ = ("queue", "_inbox", "_pid")

    def __init__(self, queue: Any, inbox: Any) -> None:
        self.queue = queue
        self._inbox = inbox
        self._pid = os.getpid()

    def put(self, obj: object) -> None:
        if os.getpid() == self._pid:
            self._inbox.put(obj)
        else:
            self.queue.put(obj)

    def __getstate__(self) -> tuple[Any, int]:
        return (self.queue, self._pid)

    def __setstate__(self, state: tuple[Any, int]) -> None:
        self.queue, self._pid = state
        self._inbox = None
