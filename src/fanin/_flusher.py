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
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ._reporter import Reporter


class Channel(Protocol):
    """Worker-side half of a transport: anything with a non-blocking ``put``."""

    def put(self, obj: object) -> None: ...


DEFAULT_FLUSH_INTERVAL = 0.05  # seconds


class _Flusher:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.live: dict[int, Reporter] = {}
        self.interval = DEFAULT_FLUSH_INTERVAL
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._exit_hook: multiprocessing.util.Finalize | None = None

    # -- registration (slow path, any thread) -------------------------------------------
    def register(self, reporter: Reporter, interval: float) -> None:
        with self.lock:
            self.live[id(reporter)] = reporter
            if interval < self.interval:
                self.interval = interval
        self._ensure_running()
        self._wake.set()

    def unregister(self, reporter: Reporter) -> None:
        # Caller holds self.lock.
        self.live.pop(id(reporter), None)

    def forget_channel(self, channel: object) -> None:
        """Drop reporters bound to a closed hub's channel (the main process's stale copies)."""
        with self.lock:
            for key, rep in list(self.live.items()):
                if rep._channel is channel:
                    del self.live[key]

    def _ensure_exit_hook(self) -> None:
        # Runs before multiprocessing.Queue's feeder join (exitpriority -5), in worker
        # processes (which skip atexit) and in the main process alike. multiprocessing
        # clears its finalizers when a child bootstraps, *after* unpickling the Process
        # arguments (which registered our reporters), hence the re-check.
        if self._exit_hook is None or not self._exit_hook.still_active():
            self._exit_hook = multiprocessing.util.Finalize(None, self.flush_all, exitpriority=10)

    def _ensure_running(self) -> None:
        self._ensure_exit_hook()
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="fanin-flusher", daemon=True)
        self._thread.start()

    # -- the loop -------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            if not self.live:
                self._wake.wait()
                self._wake.clear()
                continue
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush_all()

    def flush_all(self) -> None:
        with self.lock:
            reporters = list(self.live.values())
            for rep in reporters:
                try:
                    rep._flush_locked()
                except Exception:  # noqa: BLE001 - a broken channel must not kill the flusher
                    pass

    def _after_fork_in_child(self) -> None:
        # The parent's lock may have been held by a thread that does not exist here.
        self.lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
        self._exit_hook = None
        self._pid = os.getpid()

    def _after_mp_fork(self) -> None:
        # multiprocessing clears its finalizers in a child *after* os-level fork hooks
        # and after unpickling, so the exit hook and the thread are (re)started from here.
        self._exit_hook = None
        if self.live:
            self._ensure_running()


FLUSHER = _Flusher()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=FLUSHER._after_fork_in_child)
multiprocessing.util.register_after_fork(FLUSHER, _Flusher._after_mp_fork)
