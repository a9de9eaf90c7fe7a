"""``hub.reporter()`` for the thread and process backends: one queue per reporter.

Runs in: the caller (``reporter``, ``close``) and the pump thread (watching the queues).
Each reporter owns a dedicated ``multiprocessing.Queue``, so a process killed while holding
a queue's write lock can only wedge its own queue; in the hub's own process its reports skip
the queue and go straight to the inbox (see ``HubChannel``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._ingest.pump import Pump
from .._worker.channel import HubChannel
from .._worker.flusher import FLUSHER
from .._worker.reporter import Reporter


class QueueReporters:
    def __init__(self, ctx: Any, forward: Callable[[object], None], flush_interval: float,
                 pump: Callable[[], Pump]) -> None:
        self._ctx = ctx
        self._forward = forward
        self._flush_interval = flush_interval
        self._pump = pump
        self._channels: list[HubChannel] = []

    def reporter(self, task_id: str, description: str, total: float | None) -> Reporter:
        if self._ctx is None:  # a thread hub's first reporter for processes of the user's
            from .context import default_context

            self._ctx = default_context()
        q = self._ctx.Queue()
        channel = HubChannel(q, self._forward)
        self._channels.append(channel)
        pump = self._pump()
        pump.call_soon(lambda: pump.watch(q, self._forward))
        rep = Reporter(channel, task_id, description, total, flush_interval=self._flush_interval)
        rep.flush()  # register the task now, so it shows as queued
        FLUSHER.register(rep, self._flush_interval)
        return rep

    def close(self) -> None:
        """Release every queue (and its fds); this process's copies stop flushing.

        Called once the pump has stopped reading them. A reporter still used afterwards
        in this process is told so once (``HubChannel.close``)."""
        channels, self._channels = self._channels, []
        for channel in channels:
            FLUSHER.forget_channel(channel)
            channel.close()
            release_queue(channel.queue)


def release_queue(q: Any) -> None:
    """Close both pipe ends of a ``multiprocessing.Queue`` that this process holds.

    ``Queue.close()`` alone closes nothing unless the queue's feeder thread ever started
    (it is the feeder that closes the ends): a queue this process only reads, or never
    wrote to, would keep two fds until it is garbage-collected (issue 15, item 15). With
    a feeder, the feeder closes them after writing what is buffered; closing its writer
    under it would make it print an error.
    """
    feeder = getattr(q, "_thread", None) is not None
    try:
        q.close()
    except (OSError, ValueError):
        pass
    if feeder:
        return
    for end in (getattr(q, "_reader", None), getattr(q, "_writer", None)):
        if end is not None:
            try:
                end.close()
            except OSError:
                pass
