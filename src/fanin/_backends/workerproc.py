"""One worker process of the process backend: start it with its queues, watch its death,
signal it, take it down when a pool's start fails half-way.

Runs in: the pump thread and the caller of ``ProcessBackend.start``. Nothing here knows
about jobs; ``process.py`` schedules, this module owns the OS side of a worker (fds,
process groups, pidfds), where the leaks and hangs of issue 15 were.
"""


import errno
import os
import signal
from collections.abc import Callable
from multiprocessing.connection import Pipe, wait
from typing import Any, NamedTuple

from .child import forked_worker_main, worker_main
from .queues import release_queue

KILL_GRACE = 1.0  # seconds a worker gets to act on SIGTERM before SIGKILL (close(kill=True))
SPAWN_FDS = 12  # fds a worker start needs at its peak (queues, cancel pipe, start pipes)


class Launched(NamedTuple):
    """A started worker process and its ends, before the pump watches it."""

    proc: Any
    task_r: Any  # the task pipe (a Connection pair; see ``taskpipe``)
    task_w: Any
    report_q: Any
    cancel_r: Any
    cancel_w: Any


def launch(ctx: Any, index: int, n: int, options: tuple[Any, ...],
           foreign: tuple[Any, ...] | None = None,
           hatch: tuple[Any, ...] | None = None) -> Launched:
    """Start worker ``index`` of ``n`` (its queues and cancel pipe first); not yet watched.
    ``options`` are ``worker_main``'s arguments after the queues and the cancel pipe:
    flush interval, log level, capture print, initializer, initargs, max tasks, hub pid,
    redirect stderr. ``foreign``: for a fork, what the child closes first (``ends_of``
    the workers started before it); ``hatch``: the zygote's ends, for the first worker
    to fork it (``zygote.hatch``), to which the worker's own pipes are added here."""
    flush, log_level, capture_print, *rest = options
    made: list[Any] = []  # what to release if this start fails half-way (e.g. no fds)
    try:
        check_fd_headroom()
        # Tasks: a plain pipe the pump writes itself (``taskpipe``), no feeder thread.
        task_r, task_w = Pipe(duplex=False)
        made += [task_r, task_w]
        report_q = ctx.Queue()
        made.append(report_q)
        # Withdrawals of prefetched jobs: a pipe, so a send is in the worker's reach at
        # once (a Queue's feeder thread could deliver it after the job has started).
        # A pipe is the same whatever the start method (BaseContext.Pipe is this call).
        cancel_r, cancel_w = Pipe(duplex=False)
        made += [cancel_r, cancel_w]
        args = (task_r, task_w, report_q, flush, log_level, capture_print, cancel_r, *rest)
        if hatch is not None:  # the zygote, that child's child, must not keep its pipes
            hatch = (*hatch, [task_r.fileno(), task_w.fileno(), report_q._reader.fileno(),
                              report_q._writer.fileno(), cancel_r.fileno()])
        proc = (ctx.Process(target=worker_main, args=args, name="fanin-worker", daemon=True)
                if foreign is None else
                ctx.Process(target=forked_worker_main, args=(foreign, hatch, *args),
                            name="fanin-worker", daemon=True))
        proc.start()
    except BaseException as exc:
        release(made)
        if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
            note(exc, f"(fanin: cannot start worker {index + 1} of {n}; "
                      f"the limit on open files is {fd_limit()})")
        raise
    return Launched(proc, task_r, task_w, report_q, cancel_r, cancel_w)


def ends_of(launched: list[Launched]) -> tuple[Any, ...]:
    """This process's ends of started workers (after ``keep_our_ends``), which a worker
    forked next would otherwise keep: task pipe writers, report queue readers, cancel
    pipes, and the two pipes of each fork (its exit sentinel, and the end whose EOF
    tells the worker its parent died)."""
    ends: list[Any] = []
    for parts in launched:
        ends += [parts.task_w, parts.report_q._reader, parts.cancel_w]
        # popen_fork keeps both pipe fds only as its finalizer's arguments (3.10-3.13).
        finalizer = getattr(getattr(parts.proc, "_popen", None), "finalizer", None)
        fds = getattr(finalizer, "_args", None)
        if isinstance(fds, tuple) and all(isinstance(fd, int) for fd in fds):
            ends += fds
        elif getattr(parts.proc, "sentinel", None) is not None:
            ends.append(parts.proc.sentinel)
    return tuple(ends)


def keep_our_ends(launched: Launched) -> tuple[Any, Any, Any, Any]:
    """Close the worker's ends in this process: EOF on a dead worker's report queue, EPIPE
    on its task pipe. Returns ``(proc, task_w, report_q, cancel_w)``."""
    proc, task_r, task_w, report_q, cancel_r, cancel_w = launched
    report_q._writer.close()
    task_r.close()
    cancel_r.close()
    return proc, task_w, report_q, cancel_w


def death_fd(ctx: Any, proc: Any) -> tuple[int, bool]:
    """What becomes readable when the worker itself exits, and whether it is a pidfd (to
    be closed by the caller).

    Under forkserver, ``proc.sentinel`` is the fork server's status socket for that
    child: it also reads EOF when the *server* dies, which would pass for the death of
    every worker while they all still run. A pidfd (Linux 5.3+) watches the worker's
    own pid instead; elsewhere the sentinel is the child's own pipe and is exact.
    """
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None or ctx.get_start_method() != "forkserver":
        return int(proc.sentinel), False
    try:
        return int(pidfd_open(proc.pid)), True
    except OSError:  # an older kernel, or it is gone already (the sentinel says so)
        return int(proc.sentinel), False


def release(made: list[Any]) -> None:
    for obj in made:
        if hasattr(obj, "_reader"):
            release_queue(obj)
        else:
            obj.close()


def abandon(launched: list[Launched]) -> None:
    """Stop and reap started workers no pump watches, as the stdlib pool's constructor does
    when a later start fails: ``terminate()`` then ``join()`` (SIGKILL if SIGTERM is slow)."""
    for parts in launched:
        proc = parts.proc
        terminate(proc)  # its process group, so programs an initializer started go too
        if proc.exitcode is None:
            proc.terminate()
    for parts in launched:
        proc = parts.proc
        sentinel = getattr(proc, "sentinel", None)
        if sentinel is not None and not wait([sentinel], KILL_GRACE):
            terminate(proc, signal.SIGKILL)
        proc.join()
        release([parts.task_r, parts.task_w, parts.report_q, parts.cancel_r, parts.cancel_w])


def check_fd_headroom() -> None:
    """Fail a worker start that would run out of fds *before* it begins: under ``fork``,
    the stdlib leaks a pipe when it runs out between the two it opens (issue 15, item 13)."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        used = len(os.listdir("/proc/self/fd"))  # Linux; elsewhere we just try
    except (ImportError, OSError, ValueError):
        return
    if soft != resource.RLIM_INFINITY and used + SPAWN_FDS > soft:
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))


def fd_limit() -> str:
    try:
        import resource

        return str(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    except (ImportError, OSError, ValueError):
        return "unknown"


def note(exc: BaseException, text: str) -> None:
    add_note = getattr(exc, "add_note", None)  # Python 3.11+
    if add_note is not None:
        add_note(text)


def close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def terminate(proc: Any, sig: int = signal.SIGTERM) -> None:
    """Signal the worker's whole process group (it leads one: see ``child.worker_main``), so
    programs its job started go too; a stopped group is continued so it can act on it."""
    pid = getattr(proc, "pid", None)
    if pid is None:
        return
    send: Callable[[int, int], None]
    for send in (os.killpg, os.kill):
        try:
            send(pid, sig)
            if sig != signal.SIGKILL:
                send(pid, signal.SIGCONT)
            return
        except OSError:  # no such group (not started as a leader yet): the process itself
            continue
