"""The hub's end of a worker's task pipe: written by the pump thread, never blocking it.

Runs in: the main process, on the pump thread only (dispatch, shutdown, a worker's death).

Why not a ``multiprocessing.Queue``: its ``put`` hands every task to a feeder thread of its
own, one per worker, started on the first ``put``. Measured on the benchmark machine (issue
13), starting those feeders held the pump for 0.7-3.4 ms at a run's first dispatch, before
any worker got its first job, and each later task was one more thread wake-up and GIL
hand-off in the main process. Here the pump writes the task's frame itself, in the framing
``multiprocessing.connection`` reads (a 4-byte big-endian length, or -1 and an 8-byte
length), to a non-blocking pipe; what the pipe cannot take now (a large item, a worker
behind on its prefetched jobs) waits in a buffer of its own and is written when the pump's
selector says the pipe is writable. The worker reads it with ``Connection.recv_bytes``.
"""

from __future__ import annotations

import os
import pickle
import struct
from collections import deque
from typing import Any, Protocol

_SHORT = struct.Struct("!i")
_LONG = struct.Struct("!iQ")
_JOIN_BELOW = 16 << 10  # header and payload in one write below this (as Connection does)


class Writable(Protocol):
    """What a task writer needs of the pump: to be called when its pipe takes more."""

    def watch_writable(self, fd: int, on_writable: Any) -> None: ...

    def unwatch_writable(self, fd: int) -> None: ...


def frame(data: bytes) -> list[bytes]:
    """``data`` as ``Connection.send_bytes`` frames it, in one or two pieces."""
    n = len(data)
    if n > 0x7FFFFFFF:
        return [_LONG.pack(-1, n), data]
    if n < _JOIN_BELOW:
        return [_SHORT.pack(n) + data]
    return [_SHORT.pack(n), data]


class TaskWriter:
    """Pickles and sends tasks to one worker in order; ``broken`` once the worker is gone."""

    __slots__ = ("_conn", "_fd", "_pump", "_out", "_watching", "broken")

    def __init__(self, conn: Any, pump: Writable) -> None:
        self._conn = conn  # the Connection: closing it closes the fd
        self._fd = conn.fileno()
        os.set_blocking(self._fd, False)
        self._pump = pump
        self._out: deque[memoryview] = deque()  # what the pipe has not taken yet, in order
        self._watching = False
        self.broken = False

    def put(self, obj: Any) -> None:
        """Send ``obj`` (pickled here) after everything sent before. Raises ValueError when
        the writer was closed; a worker gone (EPIPE) only sets ``broken``: its death is
        the sentinel's to tell."""
        if self._conn.closed:
            raise ValueError("the task pipe is closed")
        if self.broken:
            return
        self._out.extend(memoryview(piece) for piece in frame(
            pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)))
        self._flush()

    def pending(self) -> int:
        """Bytes not yet taken by the pipe."""
        return sum(len(piece) for piece in self._out)

    def _flush(self) -> None:
        out = self._out
        try:
            while out:
                piece = out[0]
                n = os.write(self._fd, piece)
                if n == len(piece):
                    out.popleft()
                else:
                    out[0] = piece[n:]
        except BlockingIOError:
            pass
        except OSError:  # EPIPE: the worker is gone (its sentinel says so next)
            self.broken = True
            out.clear()
        if out and not self._watching:
            self._pump.watch_writable(self._fd, self._flush)
            self._watching = True
        elif not out and self._watching:
            self._pump.unwatch_writable(self._fd)
            self._watching = False

    def close(self) -> None:
        """Drop what was not sent and close this end (the worker reads EOF)."""
        if self._watching:
            self._pump.unwatch_writable(self._fd)
            self._watching = False
        self._out.clear()
        try:
            self._conn.close()
        except OSError:
            pass
