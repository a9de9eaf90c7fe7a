"""The main-process half of a run: inbox, collector, state, render thread, events, health.

Runs in: the caller (``start``/``stop`` and the reads); it owns the threads that do the
work (collector, render, events, health). Everything a backend delivers lands in ``inbox``;
this object turns it into state and frames. It knows nothing about backends: ``pids`` is a
function it is given.

Exactly one display per process: the first pipeline started in a process registers itself
as the live one (``live_pipeline``); a pipeline started while it is live *joins* it as a
guest: it uses the host's inbox, state and render thread, its tasks show as sub-tasks of
the task running where it was opened (a ``fanin.track`` loop, a job), and only the host
draws a summary.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

from .._display.choose import choose_view, is_drawing, mode_of, summary_view
from .._display.render import RenderThread, View
from .._errors import FaninWarning
from .._ingest.collector import Collector
from .._ingest.events import EventsWriter
from .._ingest.health import HealthSampler
from .._ingest.state import ProgressState, Snapshot, TaskView
from .._wire import Verdict
from .._worker import tqdm_patch
from .._worker.current import running
from .._worker.flusher import FLUSHER
from .._worker.logs import Capture, logging_level
from .._worker.reporter import Reporter
from .options import HubOptions

_LIVE: list[tuple[int, Pipeline]] = []  # (pid, pipeline): the process's display, if any
_LIVE_LOCK = threading.Lock()


def live_pipeline() -> Pipeline | None:
    """The pipeline drawing in this process now (a forked child's inherited one is not)."""
    with _LIVE_LOCK:
        for pid, pipeline in _LIVE:
            if pid == os.getpid():
                return pipeline
    return None


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
        self.host: Pipeline | None = None  # set when this pipeline joined a live one
        self.under: str | None = None  # guest: the host task its tasks show under
        self.own: list[str] = []  # guest: the task ids it created
        self.mode = "off"
        self._registered = False
        self._tqdm = False
        self._stopped: set[str] = set()  # the steps of stop() already done
        self._final: tuple[Snapshot, list[TaskView] | None] | None = None  # set by _close_state

    def start(self, pids: Callable[[], list[int]]) -> None:
        self.prepare()
        self.run(pids)

    def prepare(self) -> None:
        """What starts no thread: the view is chosen (and with it what workers route to
        it), a hub inside a running one joins it. ``Hub.start`` may fork workers between
        this and ``run``, while the process is still single-threaded."""
        o = self.options
        if o.tqdm:
            tqdm_patch.acquire()
            self._tqdm = True
        host = live_pipeline() if o.view is None else None
        if host is not None:
            self._join(host)
            return
        title = o.title() if callable(o.title) else o.title
        view = o.view or choose_view(o.progress, o.file, log_every=o.log_every, clock=o.clock,
                                     quiet_short=o.quiet_short,
                                     title=title, stall_after=o.stall_after,
                                     overall=o.overall, transient=o.transient)
        self.mode = mode_of(view)
        if o.events is not None:  # fails here, clearly, if the path is not writable
            self._events = EventsWriter(o.events, self.state, self.lock,
                                        overwrite=o.overwrite_events)
        self.view = view
        rich = self.mode in ("rich", "custom")
        root = o.capture_logs if o.capture_logs is not None else rich
        streams = o.redirect and rich
        if root or streams or o.capture_print:
            # Installed in run(): a worker forked before must not inherit its stand-ins.
            self.capture = Capture(self.inbox, o.capture_print, root=root, streams=streams)

    def run(self, pids: Callable[[], list[int]]) -> None:
        """Start the collector, the render thread and the rest (after ``prepare``)."""
        if self.host is not None:
            return
        o, view = self.options, self.view
        assert view is not None, "run() before prepare()"
        on_event = getattr(view, "on_event", None)
        if on_event is not None:
            self.collector.listeners.append(on_event)
        if self._events is not None:
            self.collector.listeners.append(self._events.on_event)
            self._events.start()
        self._render = RenderThread(view, self.state, self.lock, self.collector.logs,
                                    o.refresh, o.clock)
        self.collector.on_change = self._render.poke  # an idle render thread sleeps until then
        self.collector.start()
        self._render.start()
        if self.capture is not None:
            self.capture.install()
        if o.health:
            self._health = HealthSampler(pids, self.state, self.lock)
            self._health.start()
        with _LIVE_LOCK:
            _LIVE.append((os.getpid(), self))
            self._registered = True

    def _join(self, host: Pipeline) -> None:
        """Share the host's inbox, state and display; show our tasks under the task that
        is running here (the enclosing ``fanin.track`` loop or job), if it is the host's."""
        self.host = host
        self.inbox, self.lock, self.state = host.inbox, host.lock, host.state
        self.collector, self.view, self.mode = host.collector, host.view, host.mode
        self.capture = host.capture
        rep = running()
        with self.lock:
            if rep is not None and rep.task_id in self.state.tasks:
                self.under = rep.task_id

    def _unregister(self) -> None:
        with _LIVE_LOCK:
            if self._registered:
                _LIVE[:] = [(pid, p) for pid, p in _LIVE if p is not self]
                self._registered = False

    def worker_log_level(self) -> int | None:
        """Process workers route their logging to the display whenever it draws."""
        o = self.options
        route = o.capture_logs if o.capture_logs is not None else self.mode != "off"
        return logging_level() if route else None

    def stop(self) -> None:
        """Apply every pending update, then draw the final frame and the summary.

        Resumable: each step is done once, and a call interrupted half-way (Ctrl-C in
        ``close``) is called again to finish the steps not yet done, in order.
        """
        if self.host is not None:  # a guest: settle our tasks; the host draws
            FLUSHER.flush_all()
            self.barrier(10.0)
            with self.lock:
                self.state.close(self.own)
            return
        for name, step in (("capture", self._stop_capture), ("collector", self._stop_collector),
                           ("health", self._stop_health), ("state", self._close_state),
                           ("events", self._stop_events), ("render", self._stop_render)):
            if name not in self._stopped:
                step()
                self._stopped.add(name)

    def _stop_capture(self) -> None:
        self._unregister()
        if self.capture is not None:
            self.capture.uninstall()

    def _stop_collector(self) -> None:
        FLUSHER.flush_all()
        self.collector.stop()

    def _stop_health(self) -> None:
        if self._health is not None:
            self._health.stop()

    def _close_state(self) -> None:
        with self.lock:
            self.state.close()
            self._final = (self.state.snapshot(max_rows=0),
                           self.state.all_views() if self._want_summary() else None)

    def _stop_events(self) -> None:
        if self._events is not None and self._final is not None:
            self._events.stop(final=self._final[0])
            if self._events.failed_writes:
                warnings.warn(f"fanin: {self._events.failed_writes} records could not be written "
                              f"to the events file {os.fspath(self._events.path)!r} "
                              f"({self._events.first_error})", FaninWarning, stacklevel=4)

    def _stop_render(self) -> None:
        if self._render is not None and self.view is not None and self._final is not None:
            snap, views = self._final
            summary = None
            if views is not None:
                summary = (summary_view(self.view, self.options.file), views, snap)
            self._render.stop(summary=summary)

    def release(self) -> None:
        """Whatever happened in ``stop``: nothing of ours stays installed in the process."""
        if self._tqdm:
            self._tqdm = False
            tqdm_patch.release()
        if self.host is not None:
            return  # the inbox, capture and display are the host's
        self._unregister()
        if self.capture is not None:
            self.capture.uninstall()
        FLUSHER.forget_channel(self.inbox)

    def _want_summary(self) -> bool:
        if self.options.summary is not None:
            return self.options.summary
        return self.view is not None and is_drawing(self.view)

    # -- tasks ------------------------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        if self.host is not None:  # ids unique across the host and all its guests
            task_id = self.host.new_id(prefix)
            self.own.append(task_id)
            return task_id
        return f"{prefix}{next(self._ids)}"

    def add_tasks(self, tasks: list[tuple[str, str, float | None]],
                  parent: str | None = None, leave: bool = False) -> None:
        """Register tasks now, so they show as queued and count in the overall total."""
        with self.lock:
            for task_id, description, total in tasks:
                self.state.add_task(task_id, description, total, parent,
                                    under=self.under if parent is None else None, leave=leave)

    def settle_soon(self, task_id: str, status: str, reason: str = "") -> None:
        """End a task the main process owns (a map's bar), after what is in the inbox now."""
        self.inbox.put(Verdict((task_id,), status, reason))

    def settle(self, task_id: str, status: str, reason: str = "") -> None:
        """End a task the main process owns (a map's bar) once everything before is applied."""
        self.inbox.put(Verdict((task_id,), status, reason))
        self.barrier(10.0)

    def local_reporter(self, description: str, total: float | None, prefix: str = "r",
                       unit: str = "", scale: int | None = None) -> Reporter:
        """A reporter posting straight into the inbox, for code in this process.

        No ``multiprocessing.Queue``, no pump, and no call on it ever waits for the
        collector, so threads and coroutines can use it freely.
        """
        task_id = self.new_id(prefix)
        self.add_tasks([(task_id, description, total)], leave=self.options.leave)
        return Reporter(self.inbox, task_id, description, total,
                        flush_interval=self.options.flush_interval, unit=unit, scale=scale)

    # -- reads ------------------------------------------------------------------------------
    def barrier(self, timeout: float | None) -> bool:
        return self.collector.barrier().wait(timeout)

    def snapshot(self, max_rows: int | None = None) -> Snapshot:
        with self.lock:
            return self.state.snapshot(max_rows)

    def tasks(self) -> list[TaskView]:
        with self.lock:
            views = self.state.all_views()
        if self.host is not None:
            own = set(self.own)
            views = [v for v in views if v.id in own or v.id.split("/", 1)[0] in own]
        return views

    def statistics(self) -> PipelineStatistics:
        if self.host is not None:
            return self.host.statistics()
        return PipelineStatistics(
            self._render.frames if self._render is not None else 0,
            self._health.samples if self._health is not None else 0,
            self.state.malformed,
        )

    @property
    def render_thread(self) -> threading.Thread | None:
        if self.host is not None:
            return self.host.render_thread
        return self._render.thread if self._render is not None else None

    def post_output(self, text: str) -> None:
        """Print ``text`` above the bars, through the render thread (``hub.print``)."""
        from .._wire import LogRecord

        for line in text.split("\n"):
            self.inbox.put(LogRecord(None, os.getpid(), "", "OUTPUT", line))
