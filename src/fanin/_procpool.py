"""The process backend: a small pool of worker processes, one queue pair per worker.

Runs in: the caller (``submit``/``shutdown``) and the pump thread (everything else), plus
``_worker_main`` in each worker process.

Why our own pool rather than ``ProcessPoolExecutor``: each worker needs its *own* report
queue (a SIGKILLed worker holding a shared queue's write lock would wedge every other
writer), results must travel *after* the task's final progress report on the same FIFO
(so a finished future implies exact counts), and a dead worker must fail only its own
tasks and be replaced while the run goes on.
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
import queue
import signal
import sys
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from typing import Any

from ._errors import RemoteTraceback, TaskCancelled, WorkerDied
from ._logs import ChannelLogHandler, PrintCapture, set_current_task
from ._pump import Pump
from ._reporter import Reporter
from ._wire import CANCELLED, FAILED, JobResult, Report, Verdict

PREFETCH = 2  # jobs in flight per worker: hides the dispatch round trip
ORPHAN_CHECK = 2.0  # seconds an idle worker waits before checking that its parent lives


def _worker_main(task_q: Any, report_q: Any, flush_interval: float,
                 log_level: int | None = None, capture_print: bool = False) -> None:
    # Ctrl-C goes to the whole foreground process group; the hub decides what to do, so
    # workers ignore SIGINT and are stopped by the hub instead.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A forked worker inherits the caller's handlers; the hub stops workers with SIGTERM
    # and expects them to die at once, not to run a handler meant for the caller.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Drop our copy of the task queue's write end, so the hub's death reads as EOF here.
    task_q._writer.close()
    if log_level is not None:
        # Log records travel to the hub like progress does; nothing here writes to the
        # terminal (a forked worker would otherwise inherit the caller's handlers).
        root = logging.getLogger()
        root.handlers = [ChannelLogHandler(report_q)]
        root.setLevel(log_level)
    if capture_print:
        sys.stdout = PrintCapture(report_q, sys.stdout)
    parent = os.getppid()
    while True:
        try:
            job = task_q.get(timeout=ORPHAN_CHECK)
        except queue.Empty:
            if os.getppid() != parent:
                return  # the hub's process is gone: do not linger as an orphan
            continue
        except (EOFError, OSError):
            return
        if job is None:
            break
        job_id, payload, task_id, description, total, attempt = job
        try:
            fn, item = pickle.loads(payload)
        except BaseException as exc:  # noqa: BLE001 - e.g. a module missing under spawn
            report_q.put(_error_result(job_id, exc))
            continue
        reporter = Reporter(report_q, task_id, description, total,
                            flush_interval=flush_interval, attempt=attempt)
        reporter._managed = True
        set_current_task(task_id, description)
        reporter.start()
        try:
            value = fn(item, reporter)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            reporter.fail(exc)
            report_q.put(_error_result(job_id, exc))
            continue
        try:
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001
            err = TypeError(f"the result of task {task_id!r} cannot be pickled: {exc}")
            reporter.fail(err)
            report_q.put(_error_result(job_id, err))
            continue
        reporter.finish()
        if capture_print:
            sys.stdout.flush()
        report_q.put(JobResult(job_id, True, payload))


def _error_result(job_id: int, exc: BaseException) -> JobResult:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        payload = pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(payload)
    except Exception:  # noqa: BLE001 - exceptions with odd constructors
        payload = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
    return JobResult(job_id, False, payload, tb)


@dataclass
class _Job:
    id: int
    fn: Callable[..., Any]
    item: Any
    task_id: str
    description: str
    future: Future[Any]
    total: float | None = None
    attempt: int = 0
    started: bool = False  # its worker reported it running (else safe to requeue)
    claimed: bool = False  # its future was moved to RUNNING


@dataclass
class _Worker:
    proc: Any
    task_q: Any
    report_q: Any
    inflight: dict[int, _Job] = field(default_factory=dict)
    by_task: dict[str, _Job] = field(default_factory=dict)
    dead: bool = False


class ProcessPool:
    def __init__(
        self,
        workers: int,
        ctx: BaseContext,
        pump: Pump,
        forward: Callable[[object], None],
        flush_interval: float,
        log_level: int | None = None,
        capture_print: bool = False,
    ) -> None:
        self._n = workers
        self._log_level = log_level
        self._capture_print = capture_print
        self._ctx = ctx
        self._pump = pump
        self._forward = forward
        self._flush_interval = flush_interval
        self._workers: list[_Worker] = []
        self._pending: deque[_Job] = deque()
        self._ids = itertools.count()
        self._closing = False
        self.deaths = 0

    # -- caller side ----------------------------------------------------------------------
    def start(self) -> None:
        done: Future[None] = Future()

        def spawn_all() -> None:
            try:
                for _ in range(self._n):
                    self._spawn()
                done.set_result(None)
            except BaseException as exc:  # noqa: BLE001
                done.set_exception(exc)

        self._pump.call_soon(spawn_all)
        done.result()

    def submit(self, fn: Callable[..., Any], item: Any, task_id: str, description: str,
               total: float | None = None) -> Future[Any]:
        fut: Future[Any] = Future()
        job = _Job(next(self._ids), fn, item, task_id, description, fut, total)
        self._pump.call_soon(lambda: self._enqueue(job))
        return fut

    def cancel_pending(self, reason: str) -> None:
        self._pump.call_soon(lambda: self._cancel_pending(reason))

    def shutdown(self, kill: bool = False, timeout: float = 5.0) -> None:
        """Stop the workers: politely after their current jobs, or at once with ``kill``."""
        done: Future[None] = Future()

        def begin() -> None:
            self._closing = True
            self._cancel_pending("hub closed")
            for w in self._workers:
                if w.dead:
                    continue
                if kill:
                    _terminate(w.proc)
                else:
                    try:
                        w.task_q.put(None)
                    except (OSError, ValueError):
                        _terminate(w.proc)
            done.set_result(None)

        self._pump.call_soon(begin)
        done.result()
        for w in list(self._workers):
            w.proc.join(timeout)
            if w.proc.is_alive():
                _terminate(w.proc)
                w.proc.join(1.0)
                if w.proc.is_alive():
                    w.proc.kill()
                    w.proc.join(1.0)

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers if not w.dead and w.proc.pid is not None]

    # -- pump thread ----------------------------------------------------------------------
    def _spawn(self) -> _Worker:
        ctx: Any = self._ctx  # typeshed's BaseContext lacks Process; Queue privates below
        task_q = ctx.Queue()
        report_q = ctx.Queue()
        proc = ctx.Process(
            target=_worker_main,
            args=(task_q, report_q, self._flush_interval, self._log_level, self._capture_print),
            name="fanin-worker",
            daemon=True,
        )
        proc.start()
        # Keep only our ends: EOF on a dead worker's report queue, EPIPE on its task queue.
        report_q._writer.close()
        task_q._reader.close()
        task_q._ignore_epipe = True
        w = _Worker(proc, task_q, report_q)
        self._workers.append(w)
        self._pump.watch(report_q, lambda msg: self._on_message(w, msg))
        self._pump.watch_sentinel(proc.sentinel, lambda: self._on_exit(w))
        return w

    def _enqueue(self, job: _Job) -> None:
        if self._closing:
            _cancel(job.future)
            self._forward(Verdict((job.task_id,), CANCELLED, "hub closed"))
            return
        self._pending.append(job)
        self._dispatch()

    def _dispatch(self) -> None:
        # Every worker gets a job before any gets a prefetched second one (filling worker
        # by worker ran 2 jobs on 2 workers one after the other; found by benchmarks/).
        for depth in range(1, PREFETCH + 1):
            self._dispatch_to(depth)

    def _dispatch_to(self, depth: int) -> None:
        for w in self._workers:
            while self._pending and not w.dead and len(w.inflight) < depth:
                job = self._pending.popleft()
                if not job.claimed:  # a requeued job was claimed on its first dispatch
                    if not job.future.set_running_or_notify_cancel():
                        self._forward(Verdict((job.task_id,), CANCELLED, "cancelled"))
                        continue
                    job.claimed = True
                try:
                    # Pickled here, not in the queue's feeder thread, so an unpicklable
                    # function or item fails its task with a clear error instead of
                    # vanishing in a background thread.
                    payload = pickle.dumps((job.fn, job.item), protocol=pickle.HIGHEST_PROTOCOL)
                except Exception as exc:  # noqa: BLE001
                    err = TypeError(
                        f"cannot send task {job.task_id!r} ({job.description!r}) to a worker "
                        f"process: {exc}. Use a module-level function and picklable items."
                    )
                    self._forward(Verdict((job.task_id,), FAILED, str(err)))
                    job.future.set_exception(err)
                    continue
                w.inflight[job.id] = job
                w.by_task[job.task_id] = job
                w.task_q.put((job.id, payload, job.task_id, job.description, job.total,
                              job.attempt))

    def _cancel_pending(self, reason: str) -> None:
        cancelled = []
        while self._pending:
            job = self._pending.popleft()
            _cancel(job.future)
            cancelled.append(job.task_id)
        if cancelled:
            self._forward(Verdict(tuple(cancelled), CANCELLED, reason))

    def _on_message(self, w: _Worker, msg: object) -> None:
        if isinstance(msg, JobResult):
            job = w.inflight.pop(msg.job, None)
            if job is None:
                return
            w.by_task.pop(job.task_id, None)
            try:
                value = pickle.loads(msg.payload)
            except Exception as exc:  # noqa: BLE001
                job.future.set_exception(exc)
            else:
                if msg.ok:
                    job.future.set_result(value)
                else:
                    if msg.tb and isinstance(value, BaseException):
                        value.__cause__ = RemoteTraceback(msg.tb)
                    job.future.set_exception(value)
            self._dispatch()
        else:
            if type(msg) is Report:
                job = w.by_task.get(msg.task)
                if job is not None:
                    job.started = True
            self._forward(msg)

    def _on_exit(self, w: _Worker) -> None:
        # Everything the worker managed to send is delivered before we judge it.
        self._pump.drain(w.report_q)
        self._pump.unwatch(w.report_q)
        w.dead = True
        w.task_q.cancel_join_thread()
        w.task_q.close()
        w.report_q.close()
        self._workers.remove(w)
        started = [job for job in w.inflight.values() if job.started or self._closing]
        # Jobs prefetched but never started go back to the queue, in order.
        for job in reversed([j for j in w.inflight.values() if j not in started]):
            self._pending.appendleft(job)
        w.inflight.clear()
        w.by_task.clear()
        if started:
            self.deaths += 1
            w.proc.join(1.0)  # the sentinel fired: reaping is immediate, and gives the exit code
            code = w.proc.exitcode
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            reason = f"worker process {w.proc.pid} died ({how})"
            tasks = tuple(job.task_id for job in started)
            self._forward(Verdict(tasks, CANCELLED if self._closing else FAILED, reason, w.proc.pid))
            for job in started:
                job.future.set_exception(
                    TaskCancelled(reason) if self._closing
                    else WorkerDied(f"task {job.description!r} ({job.task_id}): {reason}",
                                    pid=w.proc.pid, tasks=(job.task_id,))
                )
        if not self._closing:
            self._spawn()
            self._dispatch()


def _cancel(fut: Future[Any]) -> None:
    # cancel() alone does not wake concurrent.futures.wait(); the executor protocol is to
    # follow it with set_running_or_notify_cancel(), which does. A requeued job's future
    # is already RUNNING and cannot be cancelled: settle it with TaskCancelled instead.
    if fut.cancel():
        fut.set_running_or_notify_cancel()
    elif not fut.done():
        fut.set_exception(TaskCancelled("cancelled before it started"))


def _terminate(proc: Any) -> None:
    try:
        proc.terminate()
    except (OSError, ValueError, AttributeError):
        pass
