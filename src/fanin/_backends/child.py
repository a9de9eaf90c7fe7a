"""The worker process's loop: take a job, run it with a managed reporter, send the result.

Runs in: each worker process of the process backend (its main thread, plus a daemon thread
that exits the process if the hub's process dies). Everything it sends goes on its own
report queue, and a job's result travels after the job's final progress report on that same
FIFO, so a settled future in the hub implies exact counts.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .._errors import TaskCancelled
from .._wire import JobResult, JobStarted, ResultFollows
from .._worker.flusher import FLUSHER
from .._worker.logs import ChannelLogHandler, LogBatcher, PrintCapture, StreamRedirect
from .._worker.reporter import Reporter
from .._worker.runjob import managed

ORPHAN_CHECK = 2.0  # seconds between checks that the hub's process lives
ANNOUNCE_ABOVE = 64 << 10  # bytes: a result this large is announced first (ResultFollows)


INIT_FAILED = -1  # the job id of the message a worker sends when its initializer raised


def worker_main(task_r: Any, task_w: Any, report_q: Any, flush_interval: float,
                log_level: int | None = None, capture_print: bool = False,
                cancel_r: Any = None, initializer: Any = None, initargs: tuple[Any, ...] = (),
                max_tasks: int | None = None, hub_pid: int | None = None,
                redirect_stderr: bool = False) -> None:
    # Ctrl-C goes to the whole foreground process group; the hub decides what to do, so
    # workers ignore SIGINT and are stopped by the hub instead.
    signal.signal(signal.SIGINT, _ignore)  # a handler, not SIG_IGN: exec'd children reset it
    # Lead a process group of our own, so the hub can stop programs a job started with us.
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    # A forked worker inherits the caller's handlers; the hub stops workers with SIGTERM
    # and expects them to die at once, not to run a handler meant for the caller.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Drop our copy of the task pipe's write end, so the hub's death reads as EOF here.
    task_w.close()
    # Log lines and captured output travel in batches, not one message each (see LogBatcher).
    logs = LogBatcher(report_q, flush_interval)
    if log_level is not None:
        # Log records travel to the hub like progress does; nothing here writes to the
        # terminal (a forked worker would otherwise inherit the caller's handlers).
        root = logging.getLogger()
        root.handlers = [ChannelLogHandler(logs)]
        root.setLevel(log_level)
    if capture_print:
        sys.stdout = PrintCapture(logs, sys.stdout)
    if redirect_stderr:
        # Our stderr is the terminal the hub draws on: what Python writes there (a thread's
        # or an unraisable exception's traceback, warnings) would tear the bars. It travels
        # as lines instead, printed above them by the render thread. (Writes to fd 2 from
        # C code still reach the terminal directly.)
        sys.stderr = StreamRedirect(logs, sys.stderr, tag_workers=capture_print)
    # The hub's pid, not our parent's: under forkserver our parent is the fork server,
    # which outlives a SIGKILLed hub.
    parent = hub_pid if hub_pid is not None else os.getppid()
    threading.Thread(target=_exit_with_parent, args=(parent,), name="fanin-orphan-check",
                     daemon=True).start()
    _start_senders(report_q)
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException as exc:
            # The stdlib's worker logs it on this logger, and programs (and CPython's tests)
            # listen there.
            logging.getLogger("concurrent.futures").critical("Exception in initializer:",
                                                             exc_info=True)
            report_q.put(_error_result(INIT_FAILED, exc))
            return
    skip: set[int] = set()
    done = 0
    while max_tasks is None or done < max_tasks:
        try:
            # The hub's pump writes each task as one frame (``taskpipe``).
            if not task_r.poll(ORPHAN_CHECK):
                if not _alive(parent):
                    return  # the hub's process is gone: do not linger as an orphan
                continue
            job = pickle.loads(task_r.recv_bytes())
        except (EOFError, OSError):
            return
        if job is None:
            break
        done += 1
        job_id, payload, task_id, description, total, attempt = job
        job = None
        if cancel_r is not None:
            # Jobs the hub withdrew after prefetching them (fail-fast, close): skip.
            while cancel_r.poll():
                skip.add(cancel_r.recv())
            if job_id in skip:
                skip.discard(job_id)
                report_q.put(_error_result(job_id, TaskCancelled("withdrawn before it started")))
                continue
        _send_now(report_q, JobStarted(job_id))
        try:
            fn_item = pickle.loads(payload)
            fn, item = fn_item
        except BaseException as exc:  # noqa: BLE001 - e.g. a module missing under spawn
            # As the stdlib: the job fails with BrokenProcessPool, the cause in its text (and
            # in the remote traceback); unlike the stdlib, the pool goes on.
            err = BrokenProcessPool(f"the worker could not unpickle task {task_id!r} "
                                    f"({description!r}): {type(exc).__name__}: {exc}")
            _put_result(report_q, _error_result(job_id, err, cause=exc))
            continue
        del payload
        reporter = Reporter(report_q, task_id, description, total,
                            flush_interval=flush_interval, attempt=attempt)
        del fn_item  # the job's argument must not outlive the job in an idle worker
        try:
            with managed(reporter):
                value = fn(item, reporter)
                del fn, item
                payload = _dumps_result(value, task_id)
                del value
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            fn = item = value = None
            _flush_streams(capture_print, redirect_stderr, logs)
            _put_result(report_q, _error_result(job_id, exc))
            continue
        _flush_streams(capture_print, redirect_stderr, logs)
        _put_result(report_q, JobResult(job_id, True, payload))
        del payload


def _start_senders(report_q: Any) -> None:
    """Start the threads that send our reports now, while the hub is still starting, not
    at the first job, whose start they delayed by ~0.5 ms each here (issue 13): the
    reporters' flusher (idle until a reporter is live) and the report queue's feeder
    (``put`` starts it on first use; this is that same start, taken early)."""
    FLUSHER.start()
    notempty = getattr(report_q, "_notempty", None)
    if notempty is None or not hasattr(report_q, "_start_thread"):
        return  # not the multiprocessing.Queue we know: its first put starts it
    with notempty:
        if getattr(report_q, "_thread", None) is None:
            report_q._start_thread()


def forked_worker_main(foreign: tuple[Any, ...], hatch: tuple[Any, ...] | None,
                       *args: Any) -> None:
    """``worker_main`` in a worker forked by the hub itself (the first workers of a pool,
    ``ProcessBackend.start``): first close the hub's ends of the workers forked before
    this one, which a fork copies. Held here, a dead sibling's queues would never read
    EOF, and the hub's death would not reach that sibling. The first of them then forks
    the zygote (``hatch``: its socket, "alive" pipe, pid pipe, and our own pipes)."""
    for end in foreign:
        try:
            end.close() if hasattr(end, "close") else os.close(end)
        except OSError:
            pass
    if hatch is not None:
        from .zygote import hatch as hatch_zygote

        listener_fd, alive_r, pid_w, own = hatch
        # multiprocessing's pipe from our parent, made at our fork: ours too.
        sentinel = getattr(multiprocessing.current_process(), "_parent_sentinel", None)
        hatch_zygote(listener_fd, alive_r, pid_w,
                     [*own, sentinel] if isinstance(sentinel, int) else own)
    worker_main(*args)


def _flush_streams(stdout: bool, stderr: bool, logs: LogBatcher) -> None:
    """A job's log lines and last partial line of output travel before its result."""
    for routed, stream in ((stdout, sys.stdout), (stderr, sys.stderr)):
        if routed:
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - output must never fail the job
                pass
    try:
        logs.flush()
    except Exception:  # noqa: BLE001
        pass


def _send_now(report_q: Any, msg: Any) -> None:
    """Write ``msg`` to the report queue's pipe now, from this thread, under the queue's
    write lock (so it never splits a frame the feeder thread is writing). Messages put
    earlier may arrive after it; that is fine for ``JobStarted``, whose point is that it
    has reached the pipe before the job's code runs."""
    data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    lock = report_q._wlock
    try:
        if lock is None:
            report_q._writer.send_bytes(data)
        else:
            with lock:
                report_q._writer.send_bytes(data)
    except OSError:
        pass  # the hub is gone: the orphan check ends us


def _put_result(report_q: Any, result: JobResult) -> None:
    if len(result.payload) > ANNOUNCE_ABOVE:
        report_q.put(ResultFollows(result.job, len(result.payload)))
    report_q.put(result)


def _ignore(signum: int, frame: Any) -> None:
    pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists
        return True
    return True


def _exit_with_parent(parent: int) -> None:
    """A worker busy in a long job must not outlive a hub process that was SIGKILLed."""
    while True:
        time.sleep(ORPHAN_CHECK)
        if not _alive(parent):
            os._exit(1)


def _error_result(job_id: int, exc: BaseException, cause: BaseException | None = None) -> JobResult:
    shown = cause if cause is not None else exc
    tb = "".join(traceback.format_exception(type(shown), shown, shown.__traceback__))
    try:
        payload = pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(payload)
    except Exception:  # noqa: BLE001 - exceptions with odd constructors
        payload = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
    return JobResult(job_id, False, payload, tb)


def _dumps_result(value: Any, task_id: str) -> bytes:
    """The result as bytes; a result that does not pickle fails its job with the pickling
    error itself (as the stdlib executor does), noting which task it was."""
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        note = getattr(exc, "add_note", None)
        if note is not None:
            note(f"(fanin: the result of task {task_id!r} cannot be pickled)")
        raise
