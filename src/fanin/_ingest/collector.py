"""The collector: turns the inbox's message stream into state changes.

Runs in: the main process, on the "fanin-collector" thread. It blocks on the inbox for
the first message (an idle collector costs no CPU), drains a bounded batch, keeps only the
newest report per task (coalescing), applies the batch under the state lock in one go and
releases any barrier waiting on it. A malformed message is counted and ignored: nothing a
worker sends can kill this thread.
"""

from __future__ import annotations

import numbers
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from .._ingest.state import ProgressState
from .._text import sanitize
from .._threads import start_thread
from .._wire import QUEUED, RUNNING, Barrier, LogBatch, LogRecord, Report, Verdict
from .._worker.logs import sanitize_log

MAX_BATCH = 4096  # messages applied per lock hold
MAX_LOG_BACKLOG = 1000  # log lines kept for the renderer; older ones are counted as dropped

STOP = object()


class _Coalesced(tuple):  # type: ignore[type-arg]
    """The newest report per task from a run of consecutive reports in one batch."""


class Collector:
    def __init__(
        self,
        inbox: queue.SimpleQueue[Any],
        state: ProgressState,
        lock: threading.Lock,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.inbox = inbox
        self.state = state
        self.lock = lock
        self.on_change = on_change
        self.logs: deque[LogRecord] = deque()
        self.logs_dropped = 0
        self.listeners: list[Callable[[str, Any], None]] = []
        self._barriers: dict[int, threading.Event] = {}
        self._barrier_ids = 0
        self._barrier_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="fanin-collector", daemon=True)

    def start(self) -> None:
        start_thread(self._thread)

    def stop(self, timeout: float | None = 10.0) -> None:
        """Apply everything posted so far, then end the thread."""
        if self._thread.is_alive():
            self.inbox.put(STOP)
            self._thread.join(timeout)

    def barrier(self) -> threading.Event:
        """An event set once every message posted before this call has been applied."""
        with self._barrier_lock:
            self._barrier_ids += 1
            token = self._barrier_ids
            event = threading.Event()
            self._barriers[token] = event
        self.inbox.put(Barrier(token))
        if not self._thread.is_alive():
            event.set()
        return event

    def _run(self) -> None:
        get, get_nowait = self.inbox.get, self.inbox.get_nowait
        stop = False
        while not stop:
            batch = [get()]
            try:
                while len(batch) < MAX_BATCH:
                    batch.append(get_nowait())
            except queue.Empty:
                pass
            try:
                stop = self._apply(batch)
            except Exception:  # noqa: BLE001 - the collector never dies (a last resort)
                self.state.note_malformed()
                stop = any(msg is STOP for msg in batch)

    def _apply(self, batch: list[Any]) -> bool:
        latest: dict[str, Report] = {}
        others: list[Any] = []
        stop = False
        for msg in batch:
            if msg is STOP:
                stop = True
            elif (type(msg) is Report and type(msg.task) is str and type(msg.seq) is int
                  and type(msg.attempt) is int):
                prev = latest.get(msg.task)
                # Keep the newest report per task; a new attempt supersedes older ones.
                if prev is None or (msg.attempt, msg.seq) >= (prev.attempt, prev.seq):
                    latest[msg.task] = msg
            else:
                if latest:
                    others.append(_Coalesced(latest.values()))
                    latest = {}
                others.append(msg)
        if latest:
            others.append(_Coalesced(latest.values()))
        released: list[threading.Event] = []
        with self.lock:
            for item in others:
                try:
                    if type(item) is _Coalesced:
                        for report in item:
                            self._apply_report(report)
                    elif type(item) is Verdict:
                        for task in item.tasks:
                            if self.state.fail_task(task, item.reason, item.status):
                                self._emit("status", self.state.tasks[task])
                    elif type(item) is LogRecord:
                        self._add_log(item)
                    elif type(item) is LogBatch:
                        for record in item.records:
                            if type(record) is LogRecord:
                                self._add_log(record)
                            else:
                                self.state.note_malformed()
                    elif type(item) is Barrier:
                        event = self._barriers.pop(item.token, None)
                        if event is not None:
                            released.append(event)
                    else:
                        self.state.note_malformed()
                except Exception:  # noqa: BLE001 - never let a message kill the collector
                    self.state.note_malformed()
        for event in released:
            event.set()
        if self.on_change is not None:
            self.on_change()
        return stop

    def _apply_report(self, report: Report) -> None:
        try:
            ok = (
                isinstance(report.task, str)
                and isinstance(report.seq, int)
                and isinstance(report.completed, numbers.Real)
                and report.completed == report.completed
                and (report.total is None or (isinstance(report.total, numbers.Real)
                                              and 0 <= report.total < float("inf")))
                and isinstance(report.description, str)
                and isinstance(report.status, str)
            )
        except Exception:  # noqa: BLE001
            ok = False
        if not ok:
            self.state.note_malformed()
            return
        before = self.state.tasks.get(report.task)
        old_status = before.status if before is not None else None
        old_note = before.note if before is not None else ""
        old_attempt = before.attempt if before is not None else 0
        if self.state.apply(report):
            ts = self.state.tasks.get(report.task)
            if ts is None:  # a part of a map: its parent's bar moved, no event of its own
                return
            if ts.note != old_note:
                self._emit("note", ts)
            if ts.attempt != old_attempt:
                # A rerun (its worker died): restarted and running again within one apply,
                # so the status may not change; the new attempt's start is still an event.
                self._emit("started", ts)
                if ts.status != RUNNING:
                    self._emit("status", ts)
            elif ts.status != old_status:
                if old_status in (None, QUEUED) and ts.status != RUNNING:
                    self._emit("started", ts)  # began and ended within one batch
                self._emit("status", ts)

    def _add_log(self, record: LogRecord) -> None:
        if len(self.logs) >= MAX_LOG_BACKLOG:
            self.logs.popleft()
            self.logs_dropped += 1
        self.logs.append(record._replace(text=sanitize_log(str(record.text)),
                                         worker=sanitize(str(record.worker), 60),
                                         level=sanitize(str(record.level), 10)))
        self._emit("log", record)

    def _emit(self, kind: str, payload: Any) -> None:
        for listener in self.listeners:
            try:
                listener(kind, payload)
            except Exception:  # noqa: BLE001
                pass
