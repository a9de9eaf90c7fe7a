"""Per-process background flusher for reporters.

Runs in: every process that owns live reporters (worker processes, and the main process
for thread workers), on one daemon thread per process.

Why a thread: it keeps ``Reporter.advance`` down to one attribute increment (no clock
read, no branch), while still bounding update latency by the flush interval even when a
worker's items are slow. The thread only reads reporters' counters (atomic under the GIL)
and posts absolute state to their channel; it sleeps on an event when nothing is live, so an
idle process pays nothing. Final reports are sent synchronously by ``finish``/``fail`` and by
an exit hook, so exactness never depends on this thread's timing.
"""

from __future__ import annotations

import multiprocessing.util
import os
import threading
import time
import weakref
from typing import Protocol


class Flushable(Protocol):
    """What the flusher needs of a reporter (kept here so the flusher never imports it)."""

    @property
    def _channel(self) -> object: ...

    def _flush_locked(self) -> bool: ...


DEFAULT_FLUSH_INTERVAL = 0.05  # seconds


class _Flusher:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.live: dict[int, Flushable] = {}
        # Copies that only something else keeps alive (a Dask task's argument): swept like
        # ``live`` while they exist, forgotten when their owner drops them.
        self.weak: weakref.WeakValueDictionary[int, Flushable] = weakref.WeakValueDictionary()
        self.interval = DEFAULT_FLUSH_INTERVAL
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._exit_hook: multiprocessing.util.Finalize | None = None
        self._bootstrapped = threading.Event()
        self._start_lock = threading.Lock()

    # -- registration (slow path, any thread) -------------------------------------------
    def register(self, reporter: Flushable, interval: float) -> None:
        with self.lock:
            self.weak.pop(id(reporter), None)
            self.live[id(reporter)] = reporter
            if interval < self.interval:
                self.interval = interval
        self._ensure_running()
        self._wake.set()

    def register_weak(self, reporter: Flushable, interval: float) -> None:
        """Track a reporter only while something else keeps it alive.

        For a copy unpickled where it *may* run (a Dask worker that was handed the task):
        if the task runs, its advances ship as usual (and ``start`` registers it for
        real); if the task goes elsewhere (work stealing) or is released, the copy is
        garbage-collected instead of being swept, and kept, forever.
        """
        with self.lock:
            if id(reporter) not in self.live:
                self.weak[id(reporter)] = reporter
            if interval < self.interval:
                self.interval = interval
        self._ensure_running()
        self._wake.set()

    def adopt(self, reporter: Flushable, interval: float) -> None:
        """Track a reporter unpickled before its process was bootstrapped (see ``_run``)."""
        with self.lock:
            self.live[id(reporter)] = reporter
            if interval < self.interval:
                self.interval = interval
        self._ensure_running(deferred=True)

    def unregister(self, reporter: Flushable) -> None:
        # Caller holds self.lock.
        self.live.pop(id(reporter), None)
        self.weak.pop(id(reporter), None)

    def forget_channel(self, channel: object) -> None:
        """Drop reporters bound to a closed hub's channel (the main process's stale copies)."""
        with self.lock:
            for key, rep in list(self.live.items()):
                if rep._channel is channel:
                    del self.live[key]
            for key, rep in list(self.weak.items()):
                if rep._channel is channel:
                    self.weak.pop(key, None)

    def start(self) -> None:
        """Start the thread now (it sleeps until a reporter registers), so that the first
        reporter does not pay for it (a worker process calls this before its first job)."""
        self._ensure_running()

    def _ensure_exit_hook(self) -> None:
        # Must run before multiprocessing.Queue closes its buffer (exitpriority 10, and
        # equal priorities run newest first) and joins its feeder (-5): ours is 20. It
        # runs in worker processes (which skip atexit) and the main process alike.
        if self._exit_hook is None or not self._exit_hook.still_active():
            self._exit_hook = multiprocessing.util.Finalize(None, self.flush_all, exitpriority=20)

    def _ensure_running(self, deferred: bool = False) -> None:
        self._ensure_exit_hook()
        # Under a lock of its own: two worker threads registering their first reporters at
        # once each started a flusher (measured: 2 flusher threads in a 2-thread hub, each
        # waking 20 times a second).
        with self._start_lock:
            if (self._thread is not None and self._thread.is_alive()
                    and self._pid == os.getpid()):
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, args=(deferred,),
                                            name="fanin-flusher", daemon=True)
            self._thread.start()

    # -- the loop -------------------------------------------------------------------------
    def _run(self, deferred: bool) -> None:
        if deferred:
            self._await_bootstrap()
        self._ensure_exit_hook()
        while True:
            if not self.live and not len(self.weak):
                self._wake.wait()
                self._wake.clear()
                continue
            self._wake.wait(self.interval)
            self._wake.clear()
            self._ensure_exit_hook()
            self.flush_all()

    def _await_bootstrap(self) -> None:
        """In a child multiprocessing has not bootstrapped yet, send nothing until it has.

        Under fork and forkserver, bootstrapping clears every exit finalizer, including
        those of a queue whose feeder thread started earlier, which would then never be
        joined and lose its last messages. ``_after_mp_fork`` signals the end of that;
        spawn has no such step, so there the end of unpickling is enough.
        """
        deadline = time.monotonic() + BOOTSTRAP_WAIT
        while time.monotonic() < deadline:
            if self._bootstrapped.wait(0.001):
                return
            proc = multiprocessing.current_process()
            if getattr(proc, "_start_method", None) == "spawn" and not getattr(
                    proc, "_inheriting", False):
                return

    def flush_all(self) -> None:
        with self.lock:
            for rep in list(self.live.values()):
                try:
                    rep._flush_locked()
                except Exception:  # noqa: BLE001 - a broken channel must not kill the flusher
                    pass
            for key, rep in list(self.weak.items()):
                try:
                    if rep._flush_locked():
                        # It reported: it is in use here, so keep it (and its final count)
                        # until it finishes, as any other reporter.
                        self.live[key] = rep
                        self.weak.pop(key, None)
                except Exception:  # noqa: BLE001
                    pass

    def _after_fork_in_child(self) -> None:
        # The parent's lock may have been held by a thread that does not exist here.
        self.lock = threading.Lock()
        self._wake = threading.Event()
        self._bootstrapped = threading.Event()
        self._start_lock = threading.Lock()
        self._thread = None
        self._exit_hook = None
        self._pid = os.getpid()
        if self.live:  # reporters inherited through fork keep flushing in the child
            self._ensure_running(deferred=True)

    def _after_mp_fork(self) -> None:
        # multiprocessing's bootstrap (fork, forkserver) just cleared the exit finalizers,
        # in the child's main thread, before the target runs: re-register ours now.
        self._exit_hook = None
        self._ensure_exit_hook()
        self._bootstrapped.set()
        if self.live:
            self._ensure_running()


BOOTSTRAP_WAIT = 2.0  # seconds a fresh child's flusher waits for multiprocessing's bootstrap


FLUSHER = _Flusher()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=FLUSHER._after_fork_in_child)
multiprocessing.util.register_after_fork(FLUSHER, _Flusher._after_mp_fork)
