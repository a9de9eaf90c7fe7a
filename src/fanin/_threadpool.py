"""The thread backend: a thread pool whose reporters post straight into the hub's inbox.

Runs in: the caller (submit/cancel/shutdown) and the pool's worker threads. Threads share
the main process, so the channel is the collector's in-process ``SimpleQueue`` (a C-level
``put``, no pickling). Threads cannot be killed: cancelling a running task makes its
reporter's next ``advance`` raise ``TaskCancelled`` instead (see ``Reporter._interrupt``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ._flusher import Channel
from ._logs import set_current_task
from ._reporter import Reporter
from ._wire import CANCELLED, Verdict


class ThreadPool:
    def __init__(self, workers: int, channel: Channel, forward: Callable[[object], None],
                 flush_interval: float) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fanin-worker")
        self._channel = channel
        self._forward = forward
        self._flush_interval = flush_interval
        self._lock = threading.Lock()
        self._queued: dict[str, Future[Any]] = {}
        self._running: dict[str, Reporter] = {}

    def start(self) -> None:
        pass

    def submit(self, fn: Callable[..., Any], item: Any, task_id: str, description: str,
               total: float | None = None) -> Future[Any]:
        reporter = Reporter(self._channel, task_id, description, total,
                            flush_interval=self._flush_interval)
        reporter._managed = True
        fut = self._executor.submit(self._run, fn, item, reporter)
        with self._lock:
            if not fut.running() and not fut.done():
                self._queued[task_id] = fut
        return fut

    def _run(self, fn: Callable[..., Any], item: Any, reporter: Reporter) -> Any:
        with self._lock:
            self._queued.pop(reporter._task, None)
            self._running[reporter._task] = reporter
        set_current_task(reporter._task, reporter._desc)
        try:
            reporter.start()
            value = fn(item, reporter)
        except BaseException as exc:
            reporter.fail(exc)
            raise
        finally:
            set_current_task(None, None)
            with self._lock:
                self._running.pop(reporter._task, None)
        reporter.finish()
        return value

    def cancel_pending(self, reason: str) -> None:
        cancelled = []
        with self._lock:
            for task, fut in self._queued.items():
                if fut.cancel():
                    cancelled.append(task)
            self._queued.clear()
        if cancelled:
            self._forward(Verdict(tuple(cancelled), CANCELLED, reason))

    def interrupt_running(self, reason: str) -> None:
        with self._lock:
            running = list(self._running.values())
        for reporter in running:
            reporter._interrupt(reason)

    def shutdown(self, kill: bool = False, timeout: float | None = None) -> None:
        with self._lock:
            queued = list(self._queued.values())
        self.cancel_pending("hub closed")
        if kill:
            self.interrupt_running("interrupted")
        self._executor.shutdown(wait=not kill, cancel_futures=True)
        # shutdown(cancel_futures=True) drops the work items whose pool thread would
        # have woken concurrent.futures.wait()/as_completed() for a cancelled future.
        for fut in queued:
            _notify_if_cancelled(fut)

    def pids(self) -> list[int]:
        return []


def _notify_if_cancelled(fut: Future[Any]) -> None:
    # Under the future's own (reentrant) condition, so no pool thread can notify it twice.
    with fut._condition:
        if fut._state == "CANCELLED":
            fut.set_running_or_notify_cancel()
