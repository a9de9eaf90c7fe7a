"""The hub: the user's handle on one run (pool, transport, collector, renderer).

Runs in: the caller's thread. Constructors allocate, ``start``/``__enter__`` starts the
threads, ``close`` is idempotent and leaves the terminal clean, and reuse after close
raises. Shutdown is in-band: pool stopped, queues drained, reporters flushed, collector
drained up to its stop marker, one final frame drawn, display stopped.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import multiprocessing
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Literal, TypeVar

from ._channel import HubChannel
from ._collector import Collector
from ._errors import TaskCancelled
from ._events import EventsWriter
from ._flusher import DEFAULT_FLUSH_INTERVAL, FLUSHER
from ._health import HealthSampler
from ._logs import Capture, logging_level
from ._procpool import ProcessPool
from ._pump import Pump
from ._render import OffView, PlainView, RenderThread, View
from ._reporter import Reporter, _check_description, _check_total
from ._signals import install_force_exit
from ._state import ProgressState, Snapshot, TaskView
from ._threadpool import ThreadPool
from ._wire import FAILED

if TYPE_CHECKING:
    from ._dask import DaskPool

T = TypeVar("T")
R = TypeVar("R")

Backend = Literal["thread", "process", "dask"]
ProgressMode = Literal["auto", "rich", "plain", "off"]
OnError = Literal["raise", "collect"]

_BACKENDS = ("thread", "process", "dask")
_MODES = ("auto", "rich", "plain", "off")
_START_METHODS = ("fork", "spawn", "forkserver")


@dataclass(frozen=True)
class Failure:
    """Stands in for a failed item's result when ``map(..., on_error="collect")``."""

    index: int
    task: str
    description: str
    error: BaseException

    def __bool__(self) -> bool:
        return False


def _positive_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or value == float("inf"):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


class Hub:
    """One live progress display fed by any number of threads or processes.

    Args:
        backend: ``"thread"``, ``"process"`` or ``"dask"``: where ``map``/``submit`` run
            functions (``"dask"`` needs ``pip install 'fanin[dask]'``).
        workers: pool size (default: the number of CPUs).
        progress: ``"auto"`` (Rich on a terminal or in Jupyter with ipywidgets, plain
            lines otherwise), ``"rich"``,
            ``"plain"`` or ``"off"`` (collect only).
        refresh: frames per second, a ceiling (unchanged frames are not redrawn).
        flush_interval: seconds between a worker's progress messages (latency vs. cost).
        start_method: multiprocessing start method for the process backend (default: the
            platform's). Processes you start yourself must use ``hub.mp_context``.
        file: where the display goes (default: stderr, like tqdm).
        address: for ``backend="dask"``, a scheduler to connect to (``"tcp://host:8786"``);
            default: start a ``LocalCluster`` of ``workers`` single-threaded processes.
        title: a header line for the Rich display.
        log_every: plain mode: seconds between status lines of a running task.
        summary: print a per-task summary at the end (default: when drawing).
        events: a path to write JSON-lines events and 1 s snapshots to.
        capture_logs: route ``logging`` from workers and the caller above the bars (default:
            when drawing); ``capture_print`` also routes ``print()``.
        stall_after: seconds without progress before a running task is flagged stalled.
        health: sample worker CPU%/RSS with psutil about once a second.
        clock, view: injection points for tests (a manual clock, a custom view).
    """

    def __init__(
        self,
        backend: Backend = "thread",
        workers: int | None = None,
        *,
        progress: ProgressMode = "auto",
        refresh: float = 10.0,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        start_method: str | None = None,
        file: IO[str] | None = None,
        title: str | None = None,
        log_every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        view: View | None = None,
        address: str | None = None,
        summary: bool | None = None,
        events: str | os.PathLike[str] | None = None,
        capture_logs: bool | None = None,
        capture_print: bool = False,
        stall_after: float = 30.0,
        health: bool = True,
    ) -> None:
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
        if address is not None and backend != "dask":
            raise ValueError(f"address is for backend='dask', got backend={backend!r}")
        if backend == "dask":
            _require_dask()
        if progress not in _MODES:
            raise ValueError(f"progress must be one of {_MODES}, got {progress!r}")
        if workers is None:
            workers = os.cpu_count() or 1
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive int, got {workers!r}")
        if start_method is not None and start_method not in _START_METHODS:
            raise ValueError(f"start_method must be one of {_START_METHODS}, got {start_method!r}")
        self.backend = backend
        self.address = address
        self.workers = workers
        self.progress = progress
        self.refresh = _positive_number("refresh", refresh)
        self.flush_interval = _positive_number("flush_interval", flush_interval)
        self.log_every = _positive_number("log_every", log_every)
        self.stall_after = _positive_number("stall_after", stall_after)
        self.summary = summary
        self.events = events
        self.capture_logs = capture_logs
        self.capture_print = bool(capture_print)
        self.health = bool(health)
        self.mp_context: BaseContext = multiprocessing.get_context(start_method)
        self.title = title
        self._file = file
        self._clock = clock
        self._custom_view = view
        self._state_name = "new"
        self._ids = itertools.count(1)
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._state = ProgressState(clock=clock)
        self._collector = Collector(self._inbox, self._state, self._lock)
        self._render: RenderThread | None = None
        self._pump: Pump | None = None
        self._pool: ThreadPool | ProcessPool | DaskPool | None = None
        self._queues: list[Any] = []
        self._pool_lock = threading.Lock()
        self._view: View | None = None
        self._events_writer: EventsWriter | None = None
        self._capture: Capture | None = None
        self._health: HealthSampler | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Hub:
        if self._state_name == "closed":
            raise RuntimeError("this Hub is closed; create a new one for another run")
        if self._state_name == "started":
            return self
        view = self._custom_view or self._make_view()
        if self.events is not None:  # fails here, clearly, if the path is not writable
            self._events_writer = EventsWriter(self.events, self._state, self._lock)
        self._state_name = "started"
        self._view = view
        if isinstance(view, PlainView):
            self._collector.listeners.append(view.on_event)
        if self._events_writer is not None:
            self._collector.listeners.append(self._events_writer.on_event)
            self._events_writer.start()
        self._render = RenderThread(view, self._state, self._lock, self._collector.logs,
                                    self.refresh, self._clock)
        self._collector.start()
        self._render.start()
        if self._capture_logs_enabled(view):
            self._capture = Capture(self._inbox, self.capture_print)
            self._capture.install()
        if self.health:
            self._health = HealthSampler(lambda: self.worker_pids, self._state, self._lock)
            self._health.start()
        # A hub left open (no ``with``, no close) still restores the terminal at exit.
        atexit.register(self.close)
        return self

    def close(self, kill: bool = False) -> None:
        """Stop workers, apply every pending update, draw a final frame, restore the terminal.

        With ``kill``, running process workers are terminated and running thread tasks are
        interrupted at their next ``advance``. Idempotent.
        """
        if self._state_name != "started":
            self._state_name = "closed"
            return
        self._state_name = "closing"
        try:
            if self._pool is not None:
                self._pool.shutdown(kill=kill)
            if self._pump is not None:
                self._pump.stop()
            if self._capture is not None:
                self._capture.uninstall()
            FLUSHER.flush_all()
            self._collector.stop()
            if self._health is not None:
                self._health.stop()
            with self._lock:
                self._state.close()
                snap = self._state.snapshot(max_rows=0)
                views = self._state.all_views() if self._want_summary() else None
            if self._events_writer is not None:
                self._events_writer.stop(final=snap)
            if self._render is not None:
                summary = None
                if views is not None:
                    summary = (self._summary_view(), views, snap)
                self._render.stop(summary=summary)
        finally:
            atexit.unregister(self.close)
            if self._capture is not None:
                self._capture.uninstall()
            FLUSHER.forget_channel(self._inbox)
            for channel in self._queues:
                FLUSHER.forget_channel(channel)
                try:
                    channel.queue.close()
                except (OSError, ValueError):
                    pass
            self._state_name = "closed"

    def __enter__(self) -> Hub:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            # While we clean up, a second Ctrl-C must exit at once, not leave a mess.
            restore = install_force_exit(lambda: self.worker_pids, file=self._file)
            try:
                self.close(kill=True)
            finally:
                restore()
        else:
            self.close()

    # -- reporters ------------------------------------------------------------------------
    def reporter(self, description: str = "", total: float | None = None) -> Reporter:
        """A reporter for a task you run yourself, in a thread or a process you start.

        It owns a dedicated ``multiprocessing.Queue`` (so a killed process can only wedge
        its own queue), which is why processes must come from ``hub.mp_context``. For many
        tasks inside one process, make sub-tasks with ``reporter.task(...)``.
        """
        self._require_started()
        description = _check_description(description)
        total = _check_total(total)
        if self.backend == "dask":  # pass it to your own client.submit / client.map calls
            return self._ensure_pool().reporter(  # type: ignore[union-attr]
                f"r{next(self._ids)}", description, total)
        q = self.mp_context.Queue()
        channel = HubChannel(q, self._inbox)
        self._queues.append(channel)
        pump = self._ensure_pump()
        pump.call_soon(lambda: pump.watch(q, self._inbox.put))
        rep = Reporter(channel, f"r{next(self._ids)}", description, total,
                       flush_interval=self.flush_interval)
        rep.flush()  # register the task now, so it shows as queued
        FLUSHER.register(rep, self.flush_interval)
        return rep

    # -- running functions ----------------------------------------------------------------
    def submit(
        self,
        fn: Callable[[T, Reporter], R],
        item: T,
        description: str | None = None,
        total: float | None = None,
    ) -> Future[R]:
        """Run ``fn(item, reporter)`` on the backend; the task shows as its own bar."""
        self._require_started()
        task_id = f"t{next(self._ids)}"
        desc = _check_description(description if description is not None else _name(fn))
        total = _check_total(total)
        with self._lock:
            self._state.add_task(task_id, desc, total)
        return self._ensure_pool().submit(fn, item, task_id, desc, total)

    def map(
        self,
        fn: Callable[[T, Reporter], R],
        items: Iterable[T],
        *,
        description: str | Callable[[T], str] | None = None,
        total: Callable[[T], float | None] | None = None,
        on_error: OnError = "raise",
    ) -> list[R | Failure]:
        """Run ``fn(item, reporter)`` for every item; results in input order.

        Failure policy: with ``on_error="raise"`` (fail-fast, the default) the first
        failure cancels the queued items, lets running ones end, and is re-raised here
        with the worker's traceback as its cause. With ``"collect"`` every item runs and
        failed ones come back as :class:`Failure` objects. Ctrl-C cancels queued items,
        stops process workers at once and interrupts thread workers at their next report.

        ``description`` names each item's bar (a prefix string or a callable), ``total``
        (a callable) gives each bar's size up front so the overall ETA is known early.
        """
        if on_error not in ("raise", "collect"):
            raise ValueError(f"on_error must be 'raise' or 'collect', got {on_error!r}")
        if description is not None and not (isinstance(description, str) or callable(description)):
            raise TypeError("description must be a str, a callable(item) -> str, or None")
        self._require_started()
        items = list(items)
        pool = self._ensure_pool()
        ids = [f"t{next(self._ids)}" for _ in items]
        descs = describe_items(fn, items, description)
        totals = [_check_total(total(item)) if total is not None else None for item in items]
        with self._lock:
            for task_id, d, t in zip(ids, descs, totals):
                self._state.add_task(task_id, d, t)
        if isinstance(pool, ProcessPool):
            # The pool itself stops this map's other jobs at its first failure (fail-fast),
            # including jobs a worker has prefetched but not started.
            group = next(self._ids)
            futures = [pool.submit(fn, item, task_id, d, t, group=group,
                                   fail_fast=on_error == "raise")
                       for item, task_id, d, t in zip(items, ids, descs, totals)]
        else:
            futures = [pool.submit(fn, item, task_id, d, t)
                       for item, task_id, d, t in zip(items, ids, descs, totals)]
        try:
            if on_error == "raise":
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                # The failure itself, not a task cancelled because of it.
                failed = next((f for f in futures if f in done and not f.cancelled()
                               and f.exception() is not None
                               and not isinstance(f.exception(), TaskCancelled)), None)
                if failed is None:
                    failed = next((f for f in futures if f in done and not f.cancelled()
                                   and f.exception() is not None), None)
                if failed is not None:
                    pool.cancel_pending("cancelled after another task failed (fail-fast)")
                    wait(futures)
                    self.sync()
                    raise failed.exception()  # type: ignore[misc]
            else:
                wait(futures)
        except BaseException:
            if not all(f.done() for f in futures):
                pool.cancel_pending("interrupted")
                if isinstance(pool, ThreadPool):
                    pool.interrupt_running("interrupted")
            raise
        self.sync()
        results: list[R | Failure] = []
        for i, f in enumerate(futures):
            if f.cancelled():
                results.append(Failure(i, ids[i], descs[i], TaskCancelled("cancelled")))
                continue
            exc = f.exception()
            if exc is not None:
                results.append(Failure(i, ids[i], descs[i], exc))
            else:
                results.append(f.result())
        return results

    async def amap(
        self,
        fn: Callable[[T, Reporter], Any],
        items: Iterable[T],
        *,
        description: str | Callable[[T], str] | None = None,
        total: Callable[[T], float | None] | None = None,
        concurrency: int | None = None,
    ) -> list[Any]:
        """Awaitable ``map``: results in input order, the first failure cancels the rest.

        A coroutine function runs as ``fn(item, reporter)`` coroutines in the current event
        loop, at most ``concurrency`` (default ``workers``) at a time; their reporters post
        to the hub's in-process queue and never block the loop. A plain function runs on
        the backend (threads or processes) while the loop awaits its futures.
        """
        from ._integrations import amap

        return await amap(self, fn, items, description=description, total=total,
                          concurrency=concurrency)

    # -- reading --------------------------------------------------------------------------
    def sync(self, timeout: float | None = 10.0) -> bool:
        """Wait until everything reported so far (and flushed by this process) is applied."""
        if self._state_name not in ("started", "closing"):
            return True
        FLUSHER.flush_all()
        if self._pump is not None and not self._pump.sync(timeout):
            return False
        if self.backend == "dask" and self._pool is not None \
                and not self._pool.sync(timeout):  # type: ignore[union-attr]
            return False
        return self._collector.barrier().wait(timeout)

    def snapshot(self, max_rows: int | None = None) -> Snapshot:
        with self._lock:
            return self._state.snapshot(max_rows)

    def tasks(self) -> list[TaskView]:
        """Every task's current view (status, counts, rate, error), in creation order."""
        with self._lock:
            return self._state.all_views()

    @property
    def failed(self) -> list[TaskView]:
        return [t for t in self.tasks() if t.status == FAILED]

    @property
    def render_thread(self) -> threading.Thread | None:
        return self._render.thread if self._render is not None else None

    @property
    def worker_pids(self) -> list[int]:
        return self._pool.pids() if self._pool is not None else []

    # -- internals ------------------------------------------------------------------------
    def _require_started(self) -> None:
        if self._state_name == "new":
            raise RuntimeError("the Hub is not started; use 'with fanin.Hub() as hub:' or hub.start()")
        if self._state_name != "started":
            raise RuntimeError("this Hub is closed; create a new one for another run")

    def _ensure_pump(self) -> Pump:
        with self._pool_lock:
            if self._pump is None:
                self._pump = Pump()
                self._pump.start()
            return self._pump

    def _ensure_pool(self) -> ThreadPool | ProcessPool | DaskPool:
        if self._pool is not None:
            return self._pool
        pump = self._ensure_pump() if self.backend == "process" else None
        with self._pool_lock:
            if self._pool is None:
                if self.backend == "thread":
                    pool: ThreadPool | ProcessPool | DaskPool = ThreadPool(
                        self.workers, self._inbox, self._inbox.put, self.flush_interval)
                elif self.backend == "dask":
                    from ._dask import DaskPool

                    pool = DaskPool(self.workers, self.address, self._inbox.put,
                                    self.flush_interval)
                else:
                    assert pump is not None
                    pool = ProcessPool(
                        self.workers, self.mp_context, pump, self._inbox.put,
                        self.flush_interval,
                        log_level=logging_level() if self._capture is not None else None,
                        capture_print=self.capture_print and self._capture is not None)
                pool.start()
                self._pool = pool
            return self._pool

    def _capture_logs_enabled(self, view: View) -> bool:
        if self.capture_logs is not None:
            return self.capture_logs
        return not isinstance(view, OffView)  # no display to tear, nothing to capture for

    def _want_summary(self) -> bool:
        if self.summary is not None:
            return self.summary
        return self._view is not None and not isinstance(self._view, OffView)

    def _summary_view(self) -> Any:
        if isinstance(self._view, OffView):  # summary=True with progress="off": plain text
            file = self._file if self._file is not None else sys.stderr
            return PlainView(file) if file is not None else OffView()
        return self._view

    def _make_view(self) -> View:
        mode = self.progress
        file = self._file if self._file is not None else sys.stderr
        if file is None:  # the process was started with stderr closed
            return OffView()
        if mode == "auto":
            isatty = getattr(file, "isatty", None)
            try:
                tty = bool(isatty()) if isatty is not None else False
            except (OSError, ValueError):
                tty = False
            if tty:
                mode = "rich"
            else:  # a notebook's stderr is no TTY, but Rich draws there (with ipywidgets)
                from ._integrations import _notebook_mode

                mode = _notebook_mode()
        if mode == "off":
            return OffView()
        if mode == "plain":
            return PlainView(file, every=self.log_every, clock=self._clock)
        from ._richview import RichView

        return RichView(file=file, header=self.title, stall_after=self.stall_after)


def _require_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "backend='dask' needs Dask's distributed scheduler, which is not importable "
            f"({exc}); install it with: pip install 'fanin[dask]'"
        ) from exc


def _name(fn: Callable[..., Any]) -> str:
    """A bar's name for ``fn``: ``functools.partial`` is unwrapped to the function it calls."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "__name__", None) or type(fn).__name__


def describe_items(fn: Callable[..., Any], items: list[Any],
                   description: str | Callable[[Any], str] | None) -> list[str]:
    """Each item's bar name: ``"fn i/n"``, ``"prefix i/n"``, or ``description(item)``."""
    base = _name(fn)
    out = []
    for i, item in enumerate(items):
        if callable(description):
            d = description(item)
        elif isinstance(description, str):
            d = f"{description} {i + 1}/{len(items)}"
        else:
            d = f"{base} {i + 1}/{len(items)}"
        out.append(_check_description(str(d)))
    return out
