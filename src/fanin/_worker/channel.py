"""Channels: the worker-side half of a transport, and a ``hub.reporter()``'s one queue, two routes.

Runs in: wherever the reporter is used. In the hub's own process (the caller's threads) a
report goes straight into the collector's in-process inbox, so it is never stuck in a
``multiprocessing.Queue`` feeder buffer when the hub syncs or closes. In any other process
(fork, spawn, forkserver) it goes through the reporter's dedicated ``multiprocessing.Queue``,
which the hub's pump thread reads.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any, Protocol

from .._errors import FaninWarning


class Channel(Protocol):
    """Worker-side half of a transport: anything with a non-blocking ``put``.

    A channel may also have ``adopt(reporter)``, called when a reporter bound to it is
    unpickled (instead of the flusher registering it there): for transports whose copies
    land in processes that will never run the task (a Dask scheduler unpickles every graph,
    a worker a task may be stolen from), the channel decides whether the copy is tracked.
    """

    def put(self, obj: object) -> None: ...


class HubChannel:
    __slots__ = ("queue", "_forward", "_pid", "_closed")

    def __init__(self, queue: Any, forward: Callable[[object], None]) -> None:
        self.queue = queue
        self._forward: Callable[[object], None] | None = forward
        self._pid = os.getpid()
        self._closed = False

    def put(self, obj: object) -> None:
        if os.getpid() == self._pid and self._forward is not None:
            if self._closed:
                self._late(obj)
                return
            self._forward(obj)
        else:
            self.queue.put(obj)

    def close(self) -> None:
        """The hub closed: nobody reads the inbox any more. A later report in this process
        is dropped with one warning, not posted where it silently vanishes."""
        self._closed = True

    def _late(self, obj: object) -> None:
        if self._forward is None:
            return
        self._forward = None  # warn once; later puts in this process are dropped quietly
        self.queue = _Dropped()
        task = getattr(obj, "task", "?")
        desc = getattr(obj, "description", "")
        warnings.warn(f"fanin: reporter {task!r} ({desc!r}) was used after its hub closed; "
                      "its updates are dropped", FaninWarning, stacklevel=5)

    def __getstate__(self) -> tuple[Any, int]:
        return (self.queue, self._pid)

    def __setstate__(self, state: tuple[Any, int]) -> None:
        self.queue, self._pid = state
        self._forward = None


class _Dropped:
    """A closed hub's queue stand-in: ``put`` does nothing (its fds are released)."""

    __slots__ = ()

    def put(self, obj: object) -> None:
        pass
