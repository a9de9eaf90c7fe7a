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
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .._backends import Backend
from .._backends.context import default_context
from .._backends.warmup import no_server, pool_forks_now, warm_up
from .._worker.reporter import Reporter, _check_description, _check_total, check_unit
from .above import Above
from .assembly import build_backend, start_backend
from .closing import Closing
from .group import CallGroup
from .hubcalls import Calls
from .options import HubOptions
from .pipeline import Pipeline
from .reads import Reads
from .signals import (
    DefaultTerminated,
    die_by_sigterm,
    exit_code,
    hold_sigterm,
    install_force_exit,
    sigterm_released,
)


class Hub(Reads, Calls):
    """One live progress display fed by any number of threads or processes.

    Args:
        backend: ``"thread"``, ``"process"`` or ``"dask"``: where ``map``/``submit`` run
            functions (``"dask"`` needs ``pip install 'fanin[dask]'``).
        workers: pool size (default: the number of CPUs).
        progress: ``"auto"`` (Rich on a terminal or in Jupyter with ipywidgets, plain
            lines otherwise), ``"rich"``, ``"plain"`` or ``"off"`` (collect only).
        refresh: frames per second, a ceiling (unchanged frames are not redrawn).
        flush_interval: seconds between a worker's progress messages (latency vs. cost).
        start_method: multiprocessing start method for the process backend (default:
            forkserver; when this process is single-threaded at ``start()``, the first
            workers are forked by the hub itself then, and the server is a fork of it; see
            the README's Reliability section), or a context object. Processes you start
            yourself must use ``hub.mp_context``.
        file: where the display goes (default: stderr, like tqdm).
        address: for ``backend="dask"``, a scheduler to connect to (``"tcp://host:8786"``);
            default: start a ``LocalCluster`` of ``workers`` single-threaded processes.
        title: a header line for the Rich display, or a function returning it, called once
            the hub has started (after connecting to ``address``: ``hub.workers`` is then
            the cluster's size).
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
        self._above = Above(self._pipeline, lambda: self._state_name == "started")
        self._release_sigterm: Callable[[], None] = _nothing
        self._release_server: Callable[[], Callable[[], None]] = no_server  # see warm_up

    def __getattr__(self, name: str) -> Any:
        # The options read back as attributes (hub.workers, hub.mp_context, hub.refresh, ...).
        if name in HubOptions._fields and name not in ("view", "clock"):
            value = getattr(self._options, name)
            if name == "mp_context" and value is None:
                return default_context()  # a thread or Dask hub's: resolved when asked for
            return value
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Hub:
        if self._state_name == "closed":
            raise RuntimeError("this Hub is closed; create a new one for another run")
        if self._state_name == "started":
            return self
        self._state_name = "started"
        try:
            atexit.register(self.close)  # a hub left open still restores the terminal at exit
            # A SIGTERM that would kill the process outright cleans up first (the program's
            # own handler, if it has one, is left alone).
            self._release_sigterm = hold_sigterm()
            if self._options.address is not None:
                # A cluster somewhere else: connect before any thread starts, so a wrong
                # address fails here, in a sentence, and the header can show its size.
                self._ensure_backend()
            # The view first (it starts no thread): its imports then happen before the
            # forks below, not in pages the forked children share (each write after a fork
            # copies a page, issue 13).
            self._pipeline.prepare()
            # Before any thread of ours starts: the zygote forks only a single-threaded
            # process, and so does a process pool that forks its first workers itself.
            self._release_server = warm_up(self._options.backend, self._options.mp_context)
            if pool_forks_now(self._options.backend, self._options.mp_context):
                self._ensure_backend()
            self._pipeline.run(lambda: self.worker_pids)
        except BaseException:  # even Ctrl-C half-way: stop what did start
            self.close(kill=True)
            raise
        return self

    def close(self, kill: bool = False) -> None:
        """Stop workers, apply every pending update, draw a final frame, restore the terminal.

        With ``kill``, running process workers are terminated and running thread tasks are
        interrupted at their next ``advance``. Idempotent.

        Interrupt-safe: a Ctrl-C (or SIGTERM) while it waits for running tasks turns it
        into ``close(kill=True)``, the steps not yet done still run (so the display stops
        and the cursor comes back), and the interrupt is re-raised at the end. From that
        interrupt on, a further one exits at once (``install_force_exit``).
        """
        if self._state_name != "started":
            self._state_name = "closed"
            return
        self._state_name = "closing"
        closing = Closing(kill, lambda exc: install_force_exit(
            lambda: self.worker_pids, code=exit_code(exc), file=self._options.file))
        # No worker starts while closing: the zygote may go now, and exits meanwhile.
        release, self._release_server = self._release_server, no_server
        reap = release()
        try:
            closing.run((_flush_reporters, self._stop_backend, lambda _: self._pipeline.stop()))
        finally:
            atexit.unregister(self.close)
            self._pipeline.release()
            self._state_name = "closed"
            if closing.disarm is not None:
                closing.disarm()
            self._release_sigterm()
            reap()  # after the pool stopped (a worker of the zygote's keeps it running)
        if closing.errors:
            raise closing.errors[0]

    def _stop_backend(self, kill: bool) -> None:
        if self._backend is not None:
            self._backend.shutdown(kill=kill)

    def __enter__(self) -> Hub:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc is not None and not isinstance(exc, Exception):
                # KeyboardInterrupt, SystemExit, and asyncio's CancelledError (asyncio.run
                # turns Ctrl-C into one): stop now, do not wait for running jobs.
                # While we clean up, a second Ctrl-C must exit at once, not leave a mess.
                restore = install_force_exit(lambda: self.worker_pids, code=exit_code(exc),
                                             file=self._options.file)
                try:
                    self.close(kill=True)
                finally:
                    restore()
            else:
                self.close()
            sigterm_released()  # ours, if a force-exit handler hid it from close's release
        except DefaultTerminated:  # SIGTERM while closing
            _die_if_sigterm_is_default()
            raise
        if isinstance(exc, DefaultTerminated):
            _die_if_sigterm_is_default()

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
        self._above.print(sep.join(str(v) for v in values) + end)

    @property
    def console(self) -> Any:
        """A ``rich.console.Console`` whose output goes above the bars like :meth:`print`
        (rendered without colour, at the display's width), for tables and the like."""
        return self._above.console()

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

    # -- internals ------------------------------------------------------------------------
    def _group(self, fail_fast: bool = False, awaited: bool = True) -> CallGroup:
        return CallGroup(self._pipeline, self._ensure_backend, fail_fast, awaited)

    def _require_started(self) -> None:
        if self._state_name == "new":
            raise RuntimeError("the Hub is not started; use 'with fanin.Hub() as hub:' or hub.start()")
        if self._state_name != "started":
            raise RuntimeError("this Hub is closed; create a new one for another run")

    def _ensure_backend(self) -> Backend:
        with self._backend_lock:
            if self._backend is None:
                backend = build_backend(self._options, self._pipeline)
                self._backend = backend  # before start: close() must see half-started workers
                try:
                    start_backend(backend)
                except BaseException:
                    self._backend = None
                    raise
            return self._backend


def _nothing() -> None:
    pass


def _die_if_sigterm_is_default() -> None:
    # The SIGTERM found no handler of the program's: once cleaned up, die by it as the
    # default action would have. (Not while an enclosing hub still holds SIGTERM: it
    # does this when its own block ends.)
    if sigterm_released():
        die_by_sigterm()


def _flush_reporters(_kill: bool) -> None:
    from .._worker.flusher import FLUSHER

    FLUSHER.flush_all()  # this process's open hub.reporter()s, before their queues go

