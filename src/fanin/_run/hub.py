"""The hub: the user's handle on one run. Lifecycle and assembly, nothing else.

Runs in: the caller's thread. Constructors allocate, ``start``/``__enter__`` starts the
threads, ``close`` is idempotent and leaves the terminal clean, and reuse after close
raises. Shutdown is in-band: backend stopped, queues drained, reporters flushed, collector
drained up to its stop marker, one final frame drawn, display stopped.

The data flow (each arrow a queue; commands go back only through the Backend interface)::

    worker thread/process/Dask task          main process
    -------------------------------          ---------------------------------------------
    Reporter --(flusher, every 50 ms)--> Channel --> [pump | Dask topic] --> inbox
                                                                              |
                                                                          Collector
                                                                   (coalesce, apply)
                                                                              |
                                            View <-- RenderThread <-- ProgressState
                                       (Rich/plain)   (10 Hz ceiling)    (snapshot)
    Hub --submit/cancel_group/shutdown--> Backend (thread | process | dask)
"""

from __future__ import annotations

import atexit
import io
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from types import TracebackType
from typing import IO, Any, Literal, NamedTuple, TypeVar, cast, overload

from .._backends import Backend, BackendConfig, create_backend
from .._backends.warmup import warm_up
from .._ingest.state import Snapshot, TaskView
from .._wire import FAILED
from .._worker.reporter import Reporter, _check_description, _check_total, check_unit
from .calls import check_takes_reporter
from .chunks import check_chunksize, imap
from .group import CallGroup
from .naming import check_description_arg, describe_items, name_of
from .options import HubOptions, OnError, check_on_error
from .pipeline import Pipeline
from .policy import Failure, results, settle
from .signals import install_force_exit

T = TypeVar("T")
R = TypeVar("R")


class HubStatistics(NamedTuple):
    """Supported numbers about a run, for tests and users (no private attributes needed)."""

    frames: int  # frames drawn
    health_samples: int  # psutil samples taken
    malformed: int  # messages the collector could not use
    workers: int  # live workers of the backend (0 before the first job)
    deaths: int  # worker processes that died while running a job
    queued: int  # jobs waiting for a worker


class Hub:
    """One live progress display fed by any number of threads or processes.

    Args:
        backend: ``"thread"``, ``"process"`` or ``"dask"``: where ``map``/``submit`` run
            functions (``"dask"`` needs ``pip install 'fanin[dask]'``).
        workers: pool size (default: the number of CPUs).
        progress: ``"auto"`` (Rich on a terminal or in Jupyter with ipywidgets, plain
            lines otherwise), ``"rich"``, ``"plain"`` or ``"off"`` (collect only).
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
        redirect: while Rich draws, this process's ``print``/stdout/stderr writes and
            ``logging`` records appear above the bars, printed by the render thread
            (default True; only terminal streams are replaced).
        disable: the same as ``progress="off"`` (tqdm's spelling). ``FANIN_PROGRESS=
            off|plain|rich|auto`` in the environment overrides both.
        tqdm: ``tqdm`` bars created inside jobs (third-party code included) show as
            sub-tasks of the job instead of drawing themselves.
        overall, transient: show the overall bar and task counts (default True); remove
            the bars when the display stops (default False).
        clock, view: injection points for tests (a manual clock, a custom view).
    """

    def __init__(self, backend: Any = "thread", workers: int | None = None, **options: Any) -> None:
        self._options = HubOptions.build(backend, workers, **options)
        self._pipeline = Pipeline(self._options)
        self._backend: Backend | None = None
        self._backend_lock = threading.Lock()
        self._state_name = "new"

    def __getattr__(self, name: str) -> Any:
        # The options read back as attributes (hub.workers, hub.mp_context, hub.refresh, ...).
        if name in HubOptions.__dataclass_fields__ and name not in ("view", "clock"):
            return getattr(self._options, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Hub:
        if self._state_name == "closed":
            raise RuntimeError("this Hub is closed; create a new one for another run")
        if self._state_name == "started":
            return self
        self._state_name = "started"
        atexit.register(self.close)  # a hub left open still restores the terminal at exit
        try:
            warm_up(self._options.backend, self._options.mp_context)
            self._pipeline.start(lambda: self.worker_pids)
        except BaseException:  # even Ctrl-C half-way: stop what did start
            self.close(kill=True)
            raise
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
            from .._worker.flusher import FLUSHER

            FLUSHER.flush_all()  # this process's open hub.reporter()s, before their queues go
            if self._backend is not None:
                self._backend.shutdown(kill=kill)
            self._pipeline.stop()
        finally:
            atexit.unregister(self.close)
            self._pipeline.release()
            self._state_name = "closed"

    def __enter__(self) -> Hub:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None and not isinstance(exc, Exception):
            # KeyboardInterrupt, SystemExit, and asyncio's CancelledError (asyncio.run turns
            # Ctrl-C into one): stop now, do not wait for running jobs.
            # While we clean up, a second Ctrl-C must exit at once, not leave a mess.
            restore = install_force_exit(lambda: self.worker_pids, file=self._options.file)
            try:
                self.close(kill=True)
            finally:
                restore()
        else:
            self.close()

    # -- reporters ------------------------------------------------------------------------
    def reporter(self, description: str = "", total: float | None = None, *, unit: str = "",
                 scale: int | None = None) -> Reporter:
        """A reporter for a task you run yourself: in a thread, a process you start from
        ``hub.mp_context``, or (Dask) your own ``client.submit``. For many tasks inside one
        process, make sub-tasks with ``reporter.task(...)``. ``unit="B"`` counts bytes
        (shown as KiB/MiB); ``scale=1000`` shows other units scaled (k, M, G).

        Use it as ``with r:`` (or call ``finish()``); one still open when the hub closes
        ends "done" if it reached its total, else "unfinished"."""
        self._require_started()
        description, total = _check_description(description), _check_total(total)
        unit, scale = check_unit(unit, scale)
        task_id = self._pipeline.new_id("r")
        self._pipeline.add_tasks([(task_id, description, total)])
        rep = self._ensure_backend().reporter(task_id, description, total)
        if unit or scale:
            rep.set_unit(unit, scale)
        return rep

    def local_reporter(self, description: str = "", total: float | None = None, *,
                       unit: str = "", scale: int | None = None) -> Reporter:
        """A reporter for code in this process only (threads, coroutines): no queue, no pump;
        it cannot be sent to another process."""
        self._require_started()
        return self._pipeline.local_reporter(_check_description(description), _check_total(total),
                                             unit=unit, scale=scale)

    # -- printing above the bars ----------------------------------------------------------
    @property
    def mode(self) -> str:
        """The display in effect: ``"rich"``, ``"plain"`` or ``"off"`` (after ``auto``,
        ``TERM=dumb``, ``disable=`` and ``FANIN_PROGRESS``)."""
        return self._pipeline.mode

    def print(self, *values: object, sep: str = " ", end: str = "\n") -> None:
        """``print`` that appears above the bars while Rich draws (printed by the render
        thread, so it survives on screen and in the scrollback); a plain ``print`` to
        stdout otherwise."""
        text = sep.join(str(v) for v in values) + end
        if self._state_name == "started" and self._pipeline.mode in ("rich", "custom"):
            if text.endswith("\n"):
                text = text[:-1]
            self._pipeline.post_output(text)
        else:
            sys.stdout.write(text)

    @property
    def console(self) -> Any:
        """A ``rich.console.Console`` whose output goes above the bars like :meth:`print`
        (rendered without colour, at the display's width), for tables and the like."""
        from rich.console import Console

        if self._state_name == "started" and self._pipeline.mode in ("rich", "custom"):
            view = self._pipeline.view
            width = getattr(view, "width", None) or getattr(getattr(view, "console", None),
                                                            "width", 80)
            return Console(file=cast(IO[str], _Above(self)), width=width, highlight=False, color_system=None,
                           force_terminal=False)
        return Console(highlight=False)

    # -- running functions ----------------------------------------------------------------
    def submit(self, fn: Callable[[T, Reporter], R], item: T, description: str | None = None,
               total: float | None = None) -> Future[R]:
        """Run ``fn(item, reporter)`` on the backend; the task shows as its own bar."""
        self._require_started()
        check_takes_reporter(fn)
        desc = _check_description(description if description is not None else name_of(fn))
        return self._group().submit(fn, [item], [desc], [_check_total(total)])[1][0]

    @overload
    def map(self, fn: Callable[[T, Reporter], R], items: Iterable[T], *,
            description: str | Callable[[T], str] | None = None,
            total: Callable[[T], float | None] | None = None,
            on_error: Literal["raise"] = "raise") -> list[R]: ...

    @overload
    def map(self, fn: Callable[[T, Reporter], R], items: Iterable[T], *,
            description: str | Callable[[T], str] | None = None,
            total: Callable[[T], float | None] | None = None,
            on_error: Literal["collect"]) -> list[R | Failure]: ...

    def map(self, fn: Callable[[T, Reporter], R], items: Iterable[T], *,
            description: str | Callable[[T], str] | None = None,
            total: Callable[[T], float | None] | None = None,
            on_error: OnError = "raise") -> list[R] | list[R | Failure]:
        """Run ``fn(item, reporter)`` for every item; results in input order.

        Failure policy (``policy.settle``): with ``on_error="raise"`` (fail-fast) the first
        failure cancels this call's queued items, lets running ones end, and is re-raised
        here with the worker's traceback as its cause. With ``"collect"`` every item runs
        and failed ones come back as :class:`Failure` objects.
        """
        on_error = check_on_error(on_error)
        check_description_arg(description)
        self._require_started()
        check_takes_reporter(fn)
        items = list(items)
        descs = describe_items(fn, items, description)
        totals = [_check_total(total(item)) if total is not None else None for item in items]
        group = self._group(fail_fast=on_error == "raise")
        ids, futures = group.submit(fn, items, descs, totals)
        settle(futures, group, on_error, self.sync)
        return results(futures, ids, descs)

    def imap(self, fn: Callable[..., R], items: Iterable[Any], *, ordered: bool = True,
             chunksize: int | None = None, description: str | None = None,
             on_error: OnError = "raise", star: bool = False) -> Iterator[R]:
        """``fn(item)`` for every item, called unchanged; results as they are ready.

        Items travel to workers in chunks (default: about four per worker, as
        ``multiprocessing.Pool`` sizes them) and the call is one bar counting items, with
        the item count as its total when ``items`` has a length. ``ordered=False`` yields
        results as chunks finish (the ``imap_unordered`` shape). A generator is read as
        results are consumed, a bounded number of chunks ahead. ``fanin.current()`` inside
        ``fn`` is the chunk's reporter. ``star``: each item is an argument tuple,
        ``fn(*item)``. Failure policy as for :meth:`map` (``"collect"`` yields a
        :class:`Failure` in a failed item's place).
        """
        on_error = check_on_error(on_error)
        size = check_chunksize(chunksize)
        self._require_started()
        group = self._group(fail_fast=on_error == "raise")
        group.check(fn)
        return imap(self._pipeline, group, self.workers, self.sync, fn, items, ordered=ordered,
                    chunksize=size, on_error=on_error, star=star,
                    description=_check_description(description or name_of(fn)))

    async def amap(self, fn: Callable[[T, Reporter], Any], items: Iterable[T], *,
                   description: str | Callable[[T], str] | None = None,
                   total: Callable[[T], float | None] | None = None,
                   concurrency: int | None = None) -> list[Any]:
        """Awaitable ``map``: results in input order, the first failure cancels the rest.

        A coroutine function runs as ``fn(item, reporter)`` coroutines in the current event
        loop, at most ``concurrency`` (default ``workers``) at a time; their reporters post
        to the hub's in-process inbox and never block the loop. A plain function runs on
        the backend (threads or processes) while the loop awaits its futures.
        """
        from .aio import amap

        self._require_started()
        return await amap(self._pipeline, self._group(fail_fast=True), self.workers, self.sync, fn, items,
                          description=description, total=total, concurrency=concurrency)

    # -- reading --------------------------------------------------------------------------
    def sync(self, timeout: float | None = 10.0) -> bool:
        """Wait until everything reported so far (and flushed by this process) is applied."""
        if self._state_name not in ("started", "closing"):
            return True
        from .._worker.flusher import FLUSHER

        FLUSHER.flush_all()
        if self._backend is not None and not self._backend.sync(timeout):
            return False
        return self._pipeline.barrier(timeout)

    def snapshot(self, max_rows: int | None = None) -> Snapshot:
        return self._pipeline.snapshot(max_rows)

    def tasks(self) -> list[TaskView]:
        """Every task's current view (status, counts, rate, error), in creation order."""
        return self._pipeline.tasks()

    @property
    def failed(self) -> list[TaskView]:
        return [t for t in self.tasks() if t.status == FAILED]

    @property
    def render_thread(self) -> threading.Thread | None:
        return self._pipeline.render_thread

    @property
    def worker_pids(self) -> list[int]:
        return self._backend.pids() if self._backend is not None else []

    def statistics(self) -> HubStatistics:
        p = self._pipeline.statistics()
        b = self._backend.statistics() if self._backend is not None else None
        return HubStatistics(p.frames, p.health_samples, p.malformed,
                             b.workers if b else 0, b.deaths if b else 0, b.queued if b else 0)

    # -- internals ------------------------------------------------------------------------
    def _group(self, fail_fast: bool = False) -> CallGroup:
        return CallGroup(self._pipeline, self._ensure_backend, fail_fast)

    def _require_started(self) -> None:
        if self._state_name == "new":
            raise RuntimeError("the Hub is not started; use 'with fanin.Hub() as hub:' or hub.start()")
        if self._state_name != "started":
            raise RuntimeError("this Hub is closed; create a new one for another run")

    def _ensure_backend(self) -> Backend:
        with self._backend_lock:
            if self._backend is None:
                o, capture = self._options, self._pipeline.capture
                backend = create_backend(o.backend, BackendConfig(
                    o.workers, self._pipeline.inbox.put, o.flush_interval, o.mp_context,
                    o.address, log_level=self._pipeline.worker_log_level(),
                    capture_print=o.capture_print and capture is not None,
                    extra=o.worker_options))
                self._backend = backend  # before start: close() must see half-started workers
                try:
                    backend.start()
                except BaseException:  # a failed start (or Ctrl-C in it) leaves no worker
                    self._backend = None
                    try:
                        backend.shutdown(kill=True)
                    except Exception:  # noqa: BLE001 - the start's own error is the one to see
                        pass
                    raise
            return self._backend


class _Above(io.TextIOBase):
    """A text file whose lines go above the bars (``hub.console``'s file)."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._buf = ""

    def write(self, s: str) -> int:
        self._buf += s
        *lines, self._buf = self._buf.split("\n")
        for line in lines:
            self._hub.print(line)
        return len(s)

    def flush(self) -> None:
        if self._buf:
            line, self._buf = self._buf, ""
            self._hub.print(line)

    def isatty(self) -> bool:
        return False
