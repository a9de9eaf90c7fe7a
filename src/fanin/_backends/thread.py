"""The thread backend: a thread pool whose reporters post straight into the hub's inbox.

Runs in: the caller (submit/cancel/shutdown) and the pool's worker threads. Threads share
the main process, so the channel is the hub's in-process inbox (a C-level ``put``, no
pickling). Threads cannot be killed: interrupting a running task makes its reporter's next
``advance`` raise ``TaskCancelled`` instead (see ``Reporter._interrupt``).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from concurrent.futures.thread import ThreadPoolExecutor
from typing import Any

from .._ingest.pump import Pump
from .._wire import CANCELLED, Verdict
from .._worker.reporter import Reporter
from .._worker.runjob import run_job
from .base import FAIL_FAST, BackendConfig, JobSpec, Statistics
from .queues import QueueReporters


class _Direct:
    """A channel that is a bare function call: the inbox's ``put``."""

    __slots__ = ("put",)

    def __init__(self, put: Any) -> None:
        self.put = put


class ThreadBackend:
    def __init__(self, config: BackendConfig) -> None:
        self._config = config
        extra = config.extra
        # The stdlib pool underneath: its initializer semantics (BrokenThreadPool) come free.
        # From the submodule: the stdlib's class even where a program set the package's
        # concurrent.futures.ThreadPoolExecutor to fanin's (which runs on this backend).
        self._executor = ThreadPoolExecutor(
            max_workers=config.workers,
            thread_name_prefix=extra.get("thread_name_prefix") or "fanin-worker",
            initializer=extra.get("initializer"), initargs=extra.get("initargs", ()))
        self._channel = _Direct(config.forward)
        self._lock = threading.Lock()
        self._queued: dict[str, tuple[int, Future[Any]]] = {}
        self._running: dict[str, tuple[int, Reporter]] = {}
        self._pump: Pump | None = None
        self._inside = threading.local()  # .depth: this thread is running our jobs (nested)
        self._stopped: set[int] = set()  # groups cancelled: their later inline jobs don't run
        self._reporters = QueueReporters(config.mp_context, config.forward,
                                         config.flush_interval, self._ensure_pump)

    def start(self) -> None:
        pass

    @property
    def _broken(self) -> str | bool:
        """The stdlib pool's flag (an initializer raised), as the process backend has it."""
        return self._executor._broken

    def submit(self, job: JobSpec) -> Future[Any]:
        reporter = Reporter(self._channel, job.task_id, job.description, job.total,
                            flush_interval=self._config.flush_interval)
        nested = getattr(self._inside, "depth", 0) > 0
        if job.awaited and nested and self._full():
            return self._run_here(job, reporter)
        with self._lock:
            fut = self._executor.submit(self._run, job, reporter)
            if not fut.running() and not fut.done():
                self._queued[job.task_id] = (job.group, fut)
        return fut

    def _full(self) -> bool:
        with self._lock:
            return len(self._running) + len(self._queued) >= self._config.workers

    def _run_here(self, job: JobSpec, reporter: Reporter) -> Future[Any]:
        """A job submitted from inside one of our own jobs while no worker is free runs
        in the submitting thread, now: queued, it would wait for a worker that may be
        its own caller, waiting for it (a nested ``map`` on a full pool deadlocked)."""
        fut: Future[Any] = Future()
        with self._lock:
            stopped = job.group in self._stopped
        if stopped:
            fut.cancel()
            fut.set_running_or_notify_cancel()
            self._config.forward(Verdict((job.task_id,), CANCELLED, FAIL_FAST))
            return fut
        fut.set_running_or_notify_cancel()
        try:
            value = self._run(job, reporter)
        except BaseException as exc:  # noqa: BLE001 - it goes to the future, as in the pool
            fut.set_exception(exc)
        else:
            fut.set_result(value)
        return fut

    def _run(self, job: JobSpec, reporter: Reporter) -> Any:
        with self._lock:
            self._queued.pop(job.task_id, None)
            self._running[job.task_id] = (job.group, reporter)
        self._inside.depth = getattr(self._inside, "depth", 0) + 1
        try:
            return run_job(job.fn, job.item, reporter)
        except BaseException:
            if job.fail_fast:
                self._cancel(FAIL_FAST, job.group)
            raise
        finally:
            self._inside.depth -= 1
            with self._lock:
                self._running.pop(job.task_id, None)

    def _cancel(self, reason: str, group: int | None) -> list[Future[Any]]:
        cancelled: list[str] = []
        futures: list[Future[Any]] = []
        with self._lock:
            if group is not None:
                self._stopped.add(group)
            for task, (g, fut) in list(self._queued.items()):
                if group is None or g == group:
                    del self._queued[task]
                    if fut.cancel():
                        cancelled.append(task)
                        futures.append(fut)
        if cancelled:
            self._config.forward(Verdict(tuple(cancelled), CANCELLED, reason))
        return futures

    def check_callable(self, fn: Any) -> None:
        pass  # threads run any callable

    def cancel_group(self, group: int, reason: str) -> None:
        self._cancel(reason, group)

    def interrupt_group(self, group: int, reason: str) -> None:
        self._interrupt(reason, group)

    def _interrupt(self, reason: str, group: int | None) -> None:
        with self._lock:
            running = [r for g, r in self._running.values() if group is None or g == group]
        for reporter in running:
            reporter._interrupt(reason)

    def shutdown(self, kill: bool = False) -> None:
        queued = self._cancel("hub closed", None)
        if kill:
            self._interrupt("interrupted", None)
        self._executor.shutdown(wait=not kill, cancel_futures=True)
        # shutdown(cancel_futures=True) drops the work items whose pool thread would
        # have woken concurrent.futures.wait()/as_completed() for a cancelled future.
        for fut in queued:
            _notify_if_cancelled(fut)
        if self._pump is not None:
            self._pump.stop()
        self._reporters.close()

    def reporter(self, task_id: str, description: str, total: float | None) -> Reporter:
        return self._reporters.reporter(task_id, description, total)

    def sync(self, timeout: float | None = 10.0) -> bool:
        return self._pump is None or self._pump.sync(timeout)

    def size(self) -> int:
        return self._config.workers

    def pids(self) -> list[int]:
        return []

    def statistics(self) -> Statistics:
        with self._lock:
            return Statistics(self._config.workers, 0, len(self._queued))

    def _ensure_pump(self) -> Pump:
        with self._lock:
            if self._pump is None:
                self._pump = Pump()
                self._pump.start()
            return self._pump


def _notify_if_cancelled(fut: Future[Any]) -> None:
    # Under the future's own (reentrant) condition, so no pool thread can notify it twice.
    with fut._condition:
        if fut._state == "CANCELLED":
            fut.set_running_or_notify_cancel()
