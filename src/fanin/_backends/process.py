"""The process backend: a small pool of worker processes, one queue pair per worker.

Runs in: the caller (``submit``/``shutdown``) and the pump thread (everything else); the
worker processes run ``child.worker_main``.

Why our own pool rather than ``ProcessPoolExecutor``: each worker needs its *own* report
queue (a SIGKILLed worker holding a shared queue's write lock would wedge every other
writer), results must travel *after* the task's final progress report on the same FIFO
(so a finished future implies exact counts), and a dead worker must fail only its own
tasks and be replaced while the run goes on.

Dispatch: every worker gets a job before any gets a second; a second (prefetched) job is
sent only once results show jobs are short, since behind a long job it would wait while
other workers idle. Prefetched jobs can be withdrawn (fail-fast, close) through a
per-worker pipe the worker checks before starting each job. Running jobs are not
interrupted by ``interrupt_group``: a process job ends, or its worker is stopped by
``shutdown(kill=True)``.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import wait
from typing import Any

from .._died import WorkerDied
from .._errors import FaninWarning, RemoteTraceback, TaskCancelled
from .._ingest.pump import Pump, Undecodable
from .._wire import (
    CANCELLED,
    FAILED,
    FINAL_STATUSES,
    JobResult,
    JobStarted,
    Report,
    ResultFollows,
    Verdict,
)
from .._worker.reporter import Reporter
from .base import FAIL_FAST, BackendConfig, JobSpec, Statistics
from .child import INIT_FAILED
from .queues import QueueReporters, release_queue
from .taskpipe import TaskWriter
from .workerproc import (
    KILL_GRACE,
    Launched,
    abandon,
    close_fd,
    death_fd,
    ends_of,
    keep_our_ends,
    launch,
    note,
    terminate,
)

PREFETCH = 2  # jobs in flight per worker for short jobs: hides the dispatch round trip
PREFETCH_BELOW = 0.05  # seconds: prefetch only while jobs are shorter than this on average
MAX_REQUEUES = 3  # a job whose worker keeps dying before it starts fails after this
SPAWN_RETRY_FIRST = 0.1  # seconds before retrying a failed worker start; doubles each time
SPAWN_RETRY_MAX = 5.0
SPAWN_GIVE_UP = 5.0  # seconds with no worker at all before queued jobs fail


class _Job:
    """One submitted job, from ``submit`` until its future settles. (Plain classes here:
    ``dataclasses`` would cost a process hub's start ~5 ms of imports, issue 13.)"""

    __slots__ = ("id", "fn", "item", "task_id", "description", "future", "total", "attempt",
                 "started", "claimed", "requeues", "group", "fail_fast", "abandoned", "sent_at",
                 "final")

    def __init__(self, id: int, fn: Callable[..., Any], item: Any, task_id: str,
                 description: str, future: Future[Any], total: float | None = None,
                 attempt: int = 0, group: int = 0, fail_fast: bool = False) -> None:
        self.id = id
        self.fn = fn
        self.item = item
        self.task_id = task_id
        self.description = description
        self.future = future
        self.total = total
        self.attempt = attempt
        self.started = False  # its worker took it (JobStarted): else it never ran, requeue it
        self.claimed = False  # its future was moved to RUNNING
        self.requeues = 0  # times put back after its worker died before starting it
        self.group = group  # the call (map, executor, ...) it belongs to
        self.fail_fast = fail_fast  # its failure stops its group at once
        self.abandoned = False  # settled as cancelled while prefetched; its result is ignored
        self.sent_at = 0.0  # monotonic time it was sent to a worker
        self.final: Report | None = None  # its final report, held until its result arrives


class _Worker:
    """One worker process as the scheduler sees it."""

    __slots__ = ("proc", "tasks", "report_q", "cancel_w", "inflight", "by_task", "dead",
                 "reaped", "last_done", "between", "sent", "stopped_by_hub", "sentinel",
                 "incoming")

    def __init__(self, proc: Any, tasks: TaskWriter, report_q: Any, cancel_w: Any) -> None:
        self.proc = proc
        self.tasks = tasks
        self.report_q = report_q
        self.cancel_w = cancel_w
        self.inflight: dict[int, _Job] = {}
        self.by_task: dict[str, _Job] = {}
        self.dead = False
        self.reaped = threading.Event()
        self.last_done = 0.0  # monotonic time of its last result
        # it just sent a result: its oldest (prefetched) job may not have started
        self.between = False
        self.sent = 0  # jobs sent to it (it retires after max_tasks_per_child of them)
        self.stopped_by_hub = False  # the hub signalled it: its death is a cancellation
        self.sentinel = -1  # readable once the worker has exited (see ProcessBackend._death_fd)
        self.incoming: ResultFollows | None = None  # a large result announced and not yet read


class ProcessBackend:
    def __init__(self, config: BackendConfig) -> None:
        self._n = config.workers
        self._log_level = config.log_level
        self._capture_print = config.capture_print
        self._redirect_stderr = config.redirect_stderr
        self._ctx = config.mp_context
        self._pump = Pump()
        self._forward = config.forward
        self._flush_interval = config.flush_interval
        self._workers: list[_Worker] = []
        self._pending: deque[_Job] = deque()
        self._ids = itertools.count()
        self._closing = False
        self._job_seconds: float | None = None  # moving average of job service time
        self._deaths = 0
        self._reporters = QueueReporters(self._ctx, self._forward, self._flush_interval,
                                         lambda: self._pump)
        extra = config.extra
        self._initializer = extra.get("initializer")
        self._initargs: tuple[Any, ...] = tuple(extra.get("initargs", ()))
        self._max_tasks: int | None = extra.get("max_tasks_per_child")
        self._broken: str | None = None  # why the pool cannot run jobs (an initializer raised)
        self._spawn_failures = 0  # failed worker starts in a row
        self._spawn_failing_since: float | None = None
        self._no_worker: str | None = None  # why jobs fail now: no worker could be started
        self._pidfds: list[int] = []  # pidfds of workers (forkserver); closed at shutdown

    def start(self) -> None:
        forked = self._fork_first_workers()  # before the pump, our first thread
        self._pump.start()
        done: Future[None] = Future()

        def spawn_all() -> None:
            # Every process is started before any is wired to the pump: a start that fails
            # (as the stdlib pool's constructor does) raises with no worker left behind; the
            # ones already started are stopped and joined through the Process API itself.
            launched: list[Launched] = forked
            try:
                while len(launched) < self._n:
                    launched.append(self._launch(len(launched)))
            except BaseException as exc:  # noqa: BLE001
                abandon(launched)
                done.set_exception(exc)
                return
            try:
                for parts in launched:
                    self._wire(parts)
                done.set_result(None)
            except BaseException as exc:  # noqa: BLE001 - shutdown(kill) stops the wired ones
                abandon(launched[len(self._workers):])
                done.set_exception(exc)

        self._pump.call_soon(spawn_all)
        try:
            done.result()
        except BaseException:
            # The future holds the error, whose traceback holds this frame (and the pool):
            # break the cycle, so the dead workers' pipes close now, not at some later gc.
            done = None  # type: ignore[assignment]
            raise

    def _fork_first_workers(self) -> list[Launched]:
        """Fork the pool's first workers from this process itself, when it has no other
        thread (``zygote.forks_directly``): no fork server round trip, no pickled process
        object, no named semaphores (a process hub's short run was ~12 ms slower than
        with ``start_method="fork"``, issue 13). Each starts from the program's state now,
        as one forked by the zygote would; replacements come from the zygote later."""
        zygote = sys.modules.get("fanin._backends.zygote")
        if zygote is None or not zygote.forks_directly(self._ctx):
            return []
        ctx = multiprocessing.get_context("fork")
        launched: list[Launched] = []
        server = zygote.SERVER
        hatch = server.take_hatch()  # the first worker forks the zygote, not this process
        try:
            for i in range(self._n):
                foreign = self._pump.fds() + ends_of(launched)
                if i == 0 and hatch is not None:
                    forked = False
                    try:
                        parts = launch(ctx, i, self._n, self._options(), foreign=foreign,
                                       hatch=hatch)
                        forked = True
                    finally:  # our copies of the zygote's ends go before the next fork
                        server.hatched(forked)
                else:
                    parts = launch(ctx, i, self._n, self._options(), foreign=foreign)
                keep_our_ends(parts)  # before the next fork: it must not copy these
                launched.append(parts)
        except BaseException:
            abandon(launched)
            raise
        return launched

    def submit(self, spec: JobSpec) -> Future[Any]:
        if self._broken is not None:
            raise BrokenProcessPool(self._broken)
        fut: Future[Any] = Future()
        job = _Job(next(self._ids), spec.fn, spec.item, spec.task_id, spec.description, fut,
                   spec.total, group=spec.group, fail_fast=spec.fail_fast)
        self._pump.call_soon(lambda: self._enqueue(job))
        return fut

    def check_callable(self, fn: Any) -> None:
        try:
            pickle.dumps(fn, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise pickle.PicklingError(
                f"cannot send {getattr(fn, '__qualname__', fn)!r} to a worker process: it does "
                "not pickle (lambdas, closures and functions defined inside other functions "
                "don't). Define it at module level, or use the thread backend."
            ) from exc

    def cancel_group(self, group: int, reason: str) -> None:
        self._pump.call_soon(lambda: self._cancel_group(group, reason))

    def interrupt_group(self, group: int, reason: str) -> None:
        pass  # see the module docstring: process jobs are stopped by shutdown(kill=True)

    def reporter(self, task_id: str, description: str, total: float | None) -> Reporter:
        return self._reporters.reporter(task_id, description, total)

    def sync(self, timeout: float | None = 10.0) -> bool:
        return self._pump.sync(timeout)

    def statistics(self) -> Statistics:
        return Statistics(len(self._workers), self._deaths, len(self._pending))

    def shutdown(self, kill: bool = False, timeout: float | None = None) -> None:
        """Stop the workers: after their current jobs (like the thread backend and the
        stdlib executors; ``timeout`` bounds the wait), or at once with ``kill``.

        May be called again, e.g. with ``kill`` after a Ctrl-C cut a graceful one short."""

        def begin() -> None:
            self._closing = True
            self._cancel_pending("hub closed")
            withdrawn: list[str] = []
            for w in self._workers:
                if not w.dead and not kill:
                    withdrawn += self._withdraw(w, "hub closed", any_group=True)
            if withdrawn:
                self._forward(Verdict(tuple(withdrawn), CANCELLED, "hub closed"))
            for w in self._workers:
                if w.dead:
                    continue
                if kill:
                    _stop(w)
                else:
                    try:
                        w.tasks.put(None)
                    except (OSError, ValueError):
                        _stop(w)

        self._pump.run(begin, timeout=10.0)
        # Wait on sentinels, never join here: the pump thread reaps each worker in
        # _on_exit, and two threads reaping one process lose its exit code. A stopped
        # (SIGSTOP) worker never acts on SIGTERM: with kill, SIGKILL follows a short grace.
        for w in list(self._workers):
            if not wait([w.sentinel], KILL_GRACE if kill else timeout):
                _stop(w)
                if not wait([w.sentinel], KILL_GRACE):
                    _stop(w, signal.SIGKILL)
                    wait([w.sentinel], 1.0)
            w.reaped.wait(5.0)
        self._pump.stop()
        self._reporters.close()
        for fd in self._pidfds:  # not before: the loop above may still have waited on them
            close_fd(fd)
        self._pidfds.clear()

    def size(self) -> int:
        return self._n

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers if not w.dead and w.proc.pid is not None]

    # -- pump thread ----------------------------------------------------------------------
    def _spawn(self) -> _Worker:
        return self._wire(self._launch(len(self._workers)))

    def _launch(self, index: int) -> Launched:
        return launch(self._ctx, index, self._n, self._options())

    def _options(self) -> tuple[Any, ...]:
        return (self._flush_interval, self._log_level, self._capture_print, self._initializer,
                self._initargs, self._max_tasks, os.getpid(), self._redirect_stderr)

    def _wire(self, launched: Launched) -> _Worker:
        """Keep only our ends of a started worker's queues and watch it from the pump."""
        proc, task_w, report_q, cancel_w = keep_our_ends(launched)
        w = _Worker(proc, TaskWriter(task_w, self._pump), report_q, cancel_w)
        w.sentinel, is_pidfd = death_fd(self._ctx, proc)
        if is_pidfd:
            self._pidfds.append(w.sentinel)
        self._workers.append(w)
        self._pump.watch(report_q, lambda msg: self._on_message(w, msg))
        self._pump.watch_sentinel(w.sentinel, lambda: self._on_exit(w))
        return w

    def _enqueue(self, job: _Job) -> None:
        if self._closing:
            _cancel(job.future)
            self._forward(Verdict((job.task_id,), CANCELLED, "hub closed"))
            return
        self._pending.append(job)
        if self._no_worker is not None:
            self._fail_pending(self._no_worker)
            return
        self._dispatch()

    def _dispatch(self) -> None:
        # Every worker gets a job before any gets a prefetched second one (filling worker
        # by worker ran 2 jobs on 2 workers one after the other; found by benchmarks/).
        for depth in range(1, self._depth() + 1):
            self._dispatch_to(depth)

    def _depth(self) -> int:
        # Prefetching only pays for short jobs; behind a long job a prefetched one waits
        # while other workers may sit idle (head-of-line blocking). So: one job per worker
        # until results show jobs are short.
        if self._max_tasks is not None:
            return 1  # a worker about to retire must not hold a prefetched job
        return PREFETCH if self._job_seconds is not None and self._job_seconds < PREFETCH_BELOW else 1

    def _dispatch_to(self, depth: int) -> None:
        for w in self._workers:
            while (self._pending and not w.dead and len(w.inflight) < depth
                   and (self._max_tasks is None or w.sent < self._max_tasks)):
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
                    # The pickling error itself, as the stdlib executor raises it, with advice.
                    note(exc, f"(fanin: cannot send task {job.task_id!r} ({job.description!r}) "
                               "to a worker process; use a module-level function and "
                               "picklable arguments, or the thread backend)")
                    self._forward(Verdict((job.task_id,), FAILED, f"{type(exc).__name__}: {exc}"))
                    job.future.set_exception(exc)
                    continue
                if not w.inflight:
                    w.between = False  # an idle worker starts this job at once
                w.inflight[job.id] = job
                w.by_task[job.task_id] = job
                w.sent += 1
                job.sent_at = time.monotonic()
                w.tasks.put((job.id, payload, job.task_id, job.description, job.total,
                             job.attempt))

    def _cancel_group(self, group: int, reason: str) -> None:
        """Nothing more of ``group`` starts: queued jobs are cancelled; jobs a worker has
        prefetched but not started are settled as cancelled now (the worker skips them, or
        if it started one already, its result and progress are ignored)."""
        keep: deque[_Job] = deque()
        cancelled = []
        for job in self._pending:
            if job.group == group:
                _cancel(job.future)
                cancelled.append(job.task_id)
            else:
                keep.append(job)
        self._pending = keep
        for w in self._workers:
            cancelled += self._withdraw(w, reason, group, between_jobs=w.between)
        if cancelled:
            self._forward(Verdict(tuple(cancelled), CANCELLED, reason))

    def _withdraw(self, w: _Worker, reason: str, group: int = 0,
                  any_group: bool = False, between_jobs: bool = False) -> list[str]:
        """Take back jobs ``w`` prefetched but has not started; return their task ids.

        A worker runs its jobs in order, so its oldest job is running, unless it is
        between jobs (it just reported one). The worker skips withdrawn jobs; if it had
        already started one, its result and progress are ignored.
        """
        withdrawn = []
        first = 0 if between_jobs else 1
        for i, job in enumerate(w.inflight.values()):
            if (i >= first and (any_group or job.group == group) and not job.started
                    and not job.abandoned):
                job.abandoned = True
                withdrawn.append(job.task_id)
                try:
                    w.cancel_w.send(job.id)
                except (OSError, ValueError):
                    pass
                if not job.future.done():
                    job.future.set_exception(TaskCancelled(reason))
        return withdrawn

    def _cancel_pending(self, reason: str) -> None:
        cancelled = []
        while self._pending:
            job = self._pending.popleft()
            _cancel(job.future)
            cancelled.append(job.task_id)
        if cancelled:
            self._forward(Verdict(tuple(cancelled), CANCELLED, reason))

    def _on_message(self, w: _Worker, msg: object) -> None:
        if type(msg) is Report:
            job = w.by_task.get(msg.task) if type(msg.task) is str else None
            if job is not None:
                job.started = True
                w.between = False
                if msg.status in FINAL_STATUSES:
                    # Held until the result arrives: a worker killed while sending its
                    # result must leave its task failed, not done (the verdict follows).
                    job.final = msg
                    return
            self._forward(msg)
        elif type(msg) is JobStarted:
            job = w.inflight.get(msg.job)
            if job is not None:
                job.started = True
                w.between = False
        elif type(msg) is ResultFollows:
            w.incoming = msg if msg.job in w.inflight else None
        elif type(msg) is JobResult:
            w.incoming = None
            if msg.job == INIT_FAILED:
                self._break(msg)
            else:
                self._on_result(w, msg)
        elif (type(msg) is Undecodable and w.incoming is not None
              and msg.size >= w.incoming.size):
            self._on_lost_result(w, w.incoming.job, msg)
        else:
            self._forward(msg)

    def _finished(self, w: _Worker, job_id: int) -> _Job | None:
        """Take ``job_id`` off ``w``'s books as its outcome arrives; None if not ours."""
        job = w.inflight.pop(job_id, None)
        if job is None:
            return None
        w.by_task.pop(job.task_id, None)
        w.between = True
        now = time.monotonic()
        service = now - max(job.sent_at, w.last_done)
        w.last_done = now
        self._job_seconds = (service if self._job_seconds is None
                             else 0.8 * self._job_seconds + 0.2 * service)
        return job

    def _on_result(self, w: _Worker, msg: JobResult) -> None:
        job = self._finished(w, msg.job)
        if job is None:
            return
        if job.abandoned:
            self._dispatch()
            return
        try:
            value = pickle.loads(msg.payload)
        except BaseException as exc:  # noqa: BLE001 - even SystemExit: fail the job, go on
            # As the stdlib: a BrokenProcessPool whose cause is the unpickling error (but
            # only this job fails; the pool goes on).
            self._fail_unreadable(job, f"the result of task {job.task_id!r} could not be "
                                       f"unpickled: {type(exc).__name__}: {exc}", exc)
        else:
            if job.final is not None:
                self._forward(job.final)  # exact counts before the future settles
            if msg.ok:
                job.future.set_result(value)
            else:
                if msg.tb and isinstance(value, BaseException):
                    value.__cause__ = RemoteTraceback(msg.tb)
                if job.final is None:  # failed before it could report (e.g. unpickling)
                    self._forward(Verdict((job.task_id,), FAILED,
                                          f"{type(value).__name__}: {value}"))
                job.future.set_exception(value)
        if not msg.ok and job.fail_fast:  # after settling the failure itself
            self._cancel_group(job.group, FAIL_FAST)
        self._dispatch()

    def _on_lost_result(self, w: _Worker, job_id: int, lost: Undecodable) -> None:
        """The announced result could not be read or unpickled here (e.g. MemoryError):
        its job fails with the reason; the worker and the pool go on."""
        w.incoming = None
        job = self._finished(w, job_id)
        if job is None:
            return
        if not job.abandoned:
            exc = lost.error
            self._fail_unreadable(job, f"the result of task {job.task_id!r} "
                                       f"({job.description!r}) could not be received in the "
                                       f"main process: {type(exc).__name__}: {exc} "
                                       f"({lost.size:,} bytes)", exc)
            if job.fail_fast:
                self._cancel_group(job.group, FAIL_FAST)
        self._dispatch()

    def _fail_unreadable(self, job: _Job, text: str, cause: BaseException) -> None:
        err = BrokenProcessPool(text)
        err.__cause__ = cause
        self._forward(Verdict((job.task_id,), FAILED, text))  # its held 'done' is dropped
        job.future.set_exception(err)

    def _on_exit(self, w: _Worker) -> None:
        # Everything the worker managed to send is delivered before we judge it.
        self._pump.drain(w.report_q)
        self._pump.unwatch(w.report_q)
        w.dead = True
        w.tasks.close()
        release_queue(w.report_q)  # read only here: Queue.close() alone would keep its fd
        w.cancel_w.close()
        self._workers.remove(w)
        jobs = [j for j in w.inflight.values() if not j.abandoned]
        # A worker writes JobStarted to its pipe before a job's code runs, and everything
        # it wrote was drained above: a job not marked started never ran. Those go back to
        # the queue, in order, a bounded number of times (or are cancelled while closing).
        started = [j for j in jobs if j.started or j.requeues >= MAX_REQUEUES]
        unstarted = [j for j in jobs if j not in started]
        if self._closing:
            self._cancel_jobs(unstarted, "hub closed")
        else:
            for job in reversed(unstarted):
                job.requeues += 1
                self._pending.appendleft(job)
        w.inflight.clear()
        w.by_task.clear()
        w.proc.join(1.0)  # the sentinel fired: reaping is immediate, and gives the exit code
        w.reaped.set()
        if w.sentinel in self._pidfds and not self._closing:
            self._pidfds.remove(w.sentinel)
            close_fd(w.sentinel)
        if started:
            self._deaths += 1
            code = w.proc.exitcode
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            if code == 255 and w.sentinel != w.proc.sentinel:
                # A forkserver child's status comes from the server; 255 is also what
                # multiprocessing reports when the server itself is gone.
                how = "exit status unknown: exit code 255, or its fork server is gone"
            # Only a worker the hub itself stopped was cancelled; any other death while
            # closing (killed by someone else, crashed) fails its jobs as at any time.
            if w.stopped_by_hub:
                reason = f"stopped by the hub (worker process {w.proc.pid}, {how})"
            else:
                reason = f"worker process {w.proc.pid} died ({how})"
            tasks = tuple(job.task_id for job in started)
            self._forward(Verdict(tasks, CANCELLED if w.stopped_by_hub else FAILED, reason,
                                  w.proc.pid))
            for job in started:
                if job.future.done():
                    continue
                job.future.set_exception(
                    TaskCancelled(reason) if w.stopped_by_hub
                    else WorkerDied(f"task {job.description!r} ({job.task_id}): {reason}",
                                    pid=w.proc.pid, tasks=(job.task_id,))
                )
        self._respawn()

    def _cancel_jobs(self, jobs: list[_Job], reason: str) -> None:
        for job in jobs:
            _cancel(job.future)
        if jobs:
            self._forward(Verdict(tuple(j.task_id for j in jobs), CANCELLED, reason))

    # -- replacing workers ----------------------------------------------------------------
    def _respawn(self) -> None:
        """Replace a dead worker. A failed start (no fds, no memory, fork refused) is
        retried with backoff; while the pool has no worker at all and starting keeps
        failing past ``SPAWN_GIVE_UP`` seconds, queued and new jobs fail with the reason
        instead of waiting for a worker that may never come."""
        if self._closing or self._broken is not None or len(self._workers) >= self._n:
            return
        try:
            self._spawn()
        except Exception as exc:  # noqa: BLE001 - retried below; never lost in the pump
            self._spawn_failed(exc)
            return
        self._spawn_failures = 0
        self._spawn_failing_since = None
        self._no_worker = None
        self._dispatch()
        if len(self._workers) < self._n:
            self._pump.call_soon(self._respawn)

    def _spawn_failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if self._spawn_failing_since is None:
            self._spawn_failing_since = now
        self._spawn_failures += 1
        delay = min(SPAWN_RETRY_MAX, SPAWN_RETRY_FIRST * 2 ** (self._spawn_failures - 1))
        if (not self._workers and self._no_worker is None
                and now - self._spawn_failing_since >= SPAWN_GIVE_UP):
            self._no_worker = (f"no worker process could be started for "
                               f"{now - self._spawn_failing_since:.0f} s "
                               f"({self._spawn_failures} attempts): {type(exc).__name__}: {exc}")
            warnings.warn(f"fanin: {self._no_worker}; queued jobs fail until a worker starts",
                          FaninWarning, stacklevel=1)
        if self._no_worker is not None:
            self._fail_pending(self._no_worker)
        elif self._workers:
            self._dispatch()  # a dead worker's requeued jobs go to the live ones meanwhile
        self._pump.call_later(delay, self._respawn)

    def _fail_pending(self, reason: str) -> None:
        failed = []
        while self._pending:
            job = self._pending.popleft()
            if job.claimed or job.future.set_running_or_notify_cancel():
                job.future.set_exception(WorkerDied(f"task {job.description!r} "
                                                    f"({job.task_id}): {reason}",
                                                    tasks=(job.task_id,)))
                failed.append(job.task_id)
        if failed:
            self._forward(Verdict(tuple(failed), FAILED, reason))

    def _break(self, msg: JobResult) -> None:
        """A worker's initializer raised: like the stdlib pool, this pool is now broken.
        Every queued and running job fails with ``BrokenProcessPool`` and so does submit."""
        try:
            cause: BaseException | None = pickle.loads(msg.payload)
        except Exception:  # noqa: BLE001
            cause = None
        self._broken = ("A process in the process pool was terminated abruptly while the "
                        f"future was running or pending (its initializer raised {cause!r}).")
        jobs = list(self._pending) + [j for w in self._workers for j in w.inflight.values()]
        self._pending.clear()
        for w in self._workers:
            w.inflight.clear()
            w.by_task.clear()
            _stop(w)
        for job in jobs:
            err = BrokenProcessPool(self._broken)
            err.__cause__ = cause
            if not job.future.done() and (job.claimed
                                          or job.future.set_running_or_notify_cancel()):
                job.future.set_exception(err)
        if jobs:
            self._forward(Verdict(tuple(j.task_id for j in jobs), FAILED, self._broken))


def _cancel(fut: Future[Any]) -> None:
    # cancel() alone does not wake concurrent.futures.wait(); the executor protocol is to
    # follow it with set_running_or_notify_cancel(), which does. A requeued job's future
    # is already RUNNING and cannot be cancelled: settle it with TaskCancelled instead.
    if fut.cancel():
        fut.set_running_or_notify_cancel()
    elif not fut.done():
        fut.set_exception(TaskCancelled("cancelled before it started"))


def _stop(w: _Worker, sig: int = signal.SIGTERM) -> None:
    """The hub stops ``w``: marked first, so its death reads as "stopped by the hub"."""
    w.stopped_by_hub = True
    terminate(w.proc, sig)
