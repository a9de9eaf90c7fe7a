"""The main-process half of a run: inbox, collector, state, render thread, events, health.

Runs in: the caller (``start``/``stop`` and the reads); it owns the threads that do the
work (collector, render, events, health). Everything a backend delivers lands in ``inbox``;
this object turns it into state and frames. It knows nothing about backends: ``pids`` is a
function it is given.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

from .._display.choose import choose_view, is_drawing, summary_view
from .._display.render import RenderThread, View
from .._errors import FaninWarning
from .._ingest.collector import Collector
from .._ingest.events import EventsWriter
from .._ingest.health import HealthSampler
from .._ingest.state import ProgressState, Snapshot, TaskView
from .._wire import Verdict
from .._worker.flusher import FLUSHER
from .._worker.logs import Capture
from .._worker.reporter import Reporter
from .options import HubOptions


class PipelineStatistics(NamedTuple):
    frames: int  # frames the render thread drew
    health_samples: int  # psutil samples taken
    malformed: int  # messages the collector could not use


class Pipeline:
    def __init__(self, options: HubOptions) -> None:
        self.options = options
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.state = ProgressState(clock=options.clock)
        self.collector = Collector(self.inbox, self.state, self.lock)
        self.view: View | None = None
        self.capture: Capture | None = None
        self._ids = itertools.count(1)
        self._render: RenderThread | None = None
        self._events: EventsWriter | None = None
        self._health: HealthSampler | None = None

    def start(self, pids: Callable[[], list[int]]) -> None:
        o = self.options
        view = o.view or choose_view(o.progress, o.file, log_every=o.log_every, clock=o.clock,
                                     title=o.title, stall_after=o.stall_after)
        if o.events is not None:  # fails here, clearly, if the path is not writable
            self._events = EventsWriter(o.events, self.state, self.lock,
                                        overwrite=o.overwrite_events)
        self.view = view
        on_event = getattr(view, "on_event", None)
        if on_event is not None:
            self.collector.listeners.append(on_event)
        if self._events is not None:
            self.collector.listeners.append(self._events.on_event)
            self._events.start()
        self._render = RenderThread(view, self.state, self.lock, self.collector.logs,
                                    o.refresh, o.clock)
        self.collector.start()
        self._render.start()
        if o.capture_logs if o.capture_logs is not None else is_drawing(view):
            self.capture = Capture(self.inbox, o.capture_print)
            self.capture.install()
        if o.health:
            self._health = HealthSampler(pids, self.state, self.lock)
            self._health.start()

    def stop(self) -> None:
        """Apply every pending update, then draw the final frame and the summary."""
        if self.capture is not None:
            self.capture.uninstall()
        FLUSHER.flush_all()
        self.collector.stop()
        if self._health is not None:
            self._health.stop()
        with self.lock:
            self.state.close()
            snap = self.state.snapshot(max_rows=0)
            views = self.state.all_views() if self._want_summary() else None
        if self._events is not None:
            self._events.stop(final=snap)
            if self._events.failed_writes:
                warnings.warn(f"fanin: {self._events.failed_writes} records could not be written "
                              f"to the events file {os.fspath(self._events.path)!r} "
                              f"({self._events.first_error})", FaninWarning, stacklevel=3)
        if self._render is not None and self.view is not None:
            summary = None
            if views is not None:
                summary = (summary_view(self.view, self.options.file), views, snap)
            self._render.stop(summary=summary)

    def release(self) -> None:
        """Whatever happened in ``stop``: nothing of ours stays installed in the process."""
        if self.capture is not None:
            self.capture.uninstall()
        FLUSHER.forget_channel(self.inbox)

    def _want_summary(self) -> bool:
        if self.options.summary is not None:
            return self.options.summary
        return self.view is not None and is_drawing(self.view)

    # -- tasks ------------------------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def add_tasks(self, tasks: list[tuple[str, str, float | None]],
                  parent: str | None = None) -> None:
        """Register tasks now, so they show as queued and count in the overall total."""
        with self.lock:
            for task_id, description, total in tasks:
                self.state.add_task(task_id, description, total, parent)

    def settle_soon(self, task_id: str, status: str, reason: str = "") -> None:
        """End a task the main process owns (a map's bar), after what is in the inbox now."""
        self.inbox.put(Verdict((task_id,), status, reason))

    def settle(self, task_id: str, status: str, reason: str = "") -> None:
        """End a task the main process owns (a map's bar) once everything before is applied."""
        self.inbox.put(Verdict((task_id,), status, reason))
        self.barrier(10.0)

    def local_reporter(self, description: str, total: float | None, prefix: str = "r") -> Reporter:
        """A reporter posting straight into the inbox, for code in this process.

        No ``multiprocessing.Queue``, no pump, and no call on it ever waits for the
        collector, so threads and coroutines can use it freely.
        """
        task_id = self.new_id(prefix)
        self.add_tasks([(task_id, description, total)])
        return Reporter(self.inbox, task_id, description, total,
                        flush_interval=self.options.flush_interval)

    # -- reads ------------------------------------------------------------------------------
    def barrier(self, timeout: float | None) -> bool:
        return self.collector.barrier().wait(timeout)

    def snapshot(self, max_rows: int | None = None) -> Snapshot:
        with self.lock:
            return self.state.snapshot(max_rows)

    def tasks(self) -> list[TaskView]:
        with self.lock:
            return self.state.all_views()

    def statistics(self) -> PipelineStatistics:
        return PipelineStatistics(
            self._render.frames if self._render is not None else 0,
            self._health.samples if self._health is not None else 0,
            self.state.malformed,
        )

    @property
    def render_thread(self) -> threading.Thread | None:
        return self._render.thread if self._render is not None else None
