"""A fork server made by forking this process's state, when it is single-threaded (issue 13).

Runs in: the caller of ``Hub.start``/``Hub.close`` (start and stop), the process backend's
pump thread (starting workers), the pool's first worker (which forks the zygote, ``hatch``)
and the zygote itself, that worker's child, which serves fork requests.

Why: fanin's default start method is forkserver, because a hub runs threads (collector,
renderer, pump) while it starts worker processes, and ``fork`` would copy into a child a
lock another thread holds at that moment. But multiprocessing's fork server is a new
Python interpreter that imports the worker loop before it serves its first fork: ~50 ms on
the benchmark machine before a fresh program's first worker runs, more than the whole
of a short run's work. When the hub starts, before it starts any thread, this process is
often single-threaded (checked with the kernel, which sees C threads too: OpenMP, BLAS).
A fork *then* is as safe as a fork can be, and its child, the zygote, runs
multiprocessing's own fork server loop: workers are forked from a single-threaded process
as before, only without the new interpreter. The pool's first workers do not even need
it: they are forked by the hub itself in that same moment (``forks_directly``); the zygote
serves the replacements of dead or retired workers, from the same state. The hub does not
fork the zygote itself: it binds its socket and makes its pipes, and the first worker,
a fork of the hub that has run nothing yet, forks it at its start (``hatch``) and writes
its pid back. The hub's main process so pays one fork fewer, and copies no pages shared
with the zygote as it goes on (~2.5 ms of a short run's main-process CPU here). When the process
is not single-threaded, or the zygote has gone, multiprocessing's usual fork server starts
instead, exactly as before.

What changes for the user: a worker starts from this process's state at ``Hub.start``
(its modules, globals and open files, as under ``fork``) rather than from a fresh import.
``start_method="forkserver"`` keeps a fresh interpreter. The zygote lives while a hub
that started it is open (``Hub.close`` lets it go and reaps it, and it exits by itself
when this process dies: its "alive" pipe closes).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing import process, util
from multiprocessing.context import ForkServerContext
from typing import Any

# multiprocessing's internals, as they are from 3.10 to 3.13 (typeshed knows only part):
_util: Any = util

STOP_GRACE = 2.0  # seconds the zygote gets to exit after its last client went, then SIGKILL
PID_WAIT = 5.0  # seconds to wait for the hatching worker to tell the zygote's pid


def single_threaded() -> bool:
    """This process has one thread, as the kernel counts (Python's count misses C threads)."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:  # no /proc (not Linux): never fork a zygote
        return False


def forks_directly(ctx: Any) -> bool:
    """A pool on ``CONTEXT`` starting now may fork its first workers itself: this
    process has no other thread, so a fork is as safe as the zygote's own was. Only
    while a zygote of ours runs (its replacements of dead or retired workers then start
    from the same state, the program's at ``Hub.start``)."""
    return (ctx is CONTEXT and SERVER.is_zygote() and single_threaded()
            and "fork" in multiprocessing.get_all_start_methods())


class _Server:
    """Which fork server this process's pools ask: a zygote of ours while one runs, else
    multiprocessing's usual server (started by the stdlib's code, with our preload).

    The state the stdlib's fork server client keeps (pid, address, "alive" pipe) lives
    here; the client itself (``zygote_client``, a ``multiprocessing.forkserver.ForkServer``)
    is imported only when a worker is started through it: a replacement of a dead or
    retired worker, or a pool that could not fork its first workers itself. Most runs
    start none, and that import (the fork server, spawn, runpy, the resource tracker) is
    ~3.5 ms of a short run's main-process CPU (issue 13)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forkserver_pid: int | None = None
        self._forkserver_alive_fd: int | None = None
        self._forkserver_address: Any = None
        self._pid_r: int | None = None  # where the hatching worker writes the zygote's pid
        self._hatch: tuple[int, int, int] | None = None  # the zygote's ends, until hatched
        self._preload_modules = ["fanin._backends.child"]
        self._users = 0  # open hubs that asked for it
        self._zygote = False  # _forkserver_pid is a zygote of ours (else the stdlib's server)
        self._client: Any = None

    def client(self) -> Any:
        """The stdlib's fork server client, reading and writing this object's state."""
        if self._client is None:
            from .zygote_client import Client, Popen

            self._client = Popen.client = Client(self)
        return self._client

    def set_forkserver_preload(self, module_names: list[str]) -> None:
        if not all(type(mod) is str for mod in module_names):
            raise TypeError("module_names must be a list of strings")
        self._preload_modules = module_names

    def acquire(self) -> bool:
        """A hub starts: plan a zygote if none runs and this process is single-threaded.
        True when a server (either kind) is running, or planned, afterwards."""
        with self._lock:
            self._users += 1
            if self.is_zygote():
                pid = self._read_pid()
                if pid is not None and _exists(pid):
                    return True
            elif self._forkserver_pid is not None:
                return True  # multiprocessing's server, started for an earlier hub
            self._forget()
            if not single_threaded():
                return False
            try:
                self._plan_zygote()
            except Exception:  # noqa: BLE001 - e.g. no fds left: multiprocessing's server then
                self._forget()
                return False
            except BaseException:  # Ctrl-C: this hub never got a release to call
                self._forget()
                self._users -= 1
                raise
            return True

    def is_zygote(self) -> bool:
        """A zygote of ours is (believed) running, or about to be hatched."""
        return self._zygote and (self._forkserver_pid is not None or self._pid_r is not None)

    def zygote_pid(self) -> int | None:
        """The zygote's pid (read from its hatching worker the first time it is asked)."""
        with self._lock:
            return self._read_pid() if self._zygote else None

    def take_hatch(self) -> tuple[int, int, int] | None:
        """For the pool's first worker: the zygote's listening socket, the read end of
        its "alive" pipe and where to write its pid (``hatch``). None when there is no
        zygote to hatch. ``hatched`` must follow, once that worker is forked (or not)."""
        return self._hatch

    def hatched(self, forked: bool) -> None:
        """The first worker was forked with the zygote's ends (it hatches the zygote and
        writes its pid), or its fork failed (then there is no zygote)."""
        self._drop_hatch()
        if not forked:
            with self._lock:
                self._forget()

    def _drop_hatch(self) -> None:
        """Close this process's copies of the zygote's ends (no worker will take them)."""
        hatch, self._hatch = self._hatch, None
        if hatch is not None:
            _close_all(hatch)

    def release(self) -> Callable[[], None]:
        """A hub is closing and will start no worker: the last one lets the zygote go (a
        stdlib server is left to run, as multiprocessing leaves it). Returns what to call
        once the pool has stopped: it reaps the zygote, which meanwhile exits by itself
        (after its last worker), in parallel with the rest of ``close``."""
        with self._lock:
            self._users = max(0, self._users - 1)
            if self._users or not self.is_zygote():
                return _nothing
            pid = self._read_pid()
            self._forget()  # closes the "alive" end: its EOF tells the zygote to exit
        return (lambda: _reap_zygote(pid)) if pid is not None else _nothing

    def ensure_running(self) -> None:
        """The stdlib's, after noticing a zygote that died (then its usual server starts)."""
        self.client().ensure_running()

    def forget_dead_zygote(self) -> None:
        """A zygote of ours that died (or never hatched) is forgotten: the stdlib's server
        starts in its place."""
        with self._lock:
            if self._zygote:
                pid = self._read_pid()
                if pid is None or not _exists(pid):
                    self._forget()

    def _read_pid(self, timeout: float = PID_WAIT) -> int | None:
        """Caller holds the lock. The hatching worker writes the zygote's pid at its very
        start; EOF without one means it never hatched (that worker died first, or its
        fork failed)."""
        self._drop_hatch()  # asked before any worker hatched it: none will now
        if self._forkserver_pid is None and self._pid_r is not None:
            r, self._pid_r = self._pid_r, None
            data = b""
            try:
                if select.select([r], [], [], timeout)[0]:
                    data = os.read(r, 32)
            except OSError:
                pass
            finally:
                os.close(r)
            try:
                self._forkserver_pid = int(data) if data else None
            except ValueError:
                self._forkserver_pid = None
        return self._forkserver_pid

    def _forget(self) -> None:
        self._drop_hatch()
        _close_all(fd for fd in (self._forkserver_alive_fd, self._pid_r) if fd is not None)
        self._forkserver_pid = self._forkserver_alive_fd = self._pid_r = None
        self._forkserver_address = None
        self._zygote = False

    def _plan_zygote(self) -> None:
        """Everything a zygote needs but the fork: the pool's first worker forks it
        (``hatch``), at its own start, while it is still single-threaded, so that this
        process pays neither that fork nor the copies of the pages it then writes (~4.7
        ms of a short run's wall here, issue 13)."""
        import importlib

        # What multiprocessing's server would preload (the worker loop), and the pool
        # that is about to start: imported here, before the first worker's fork, so that
        # the zygote and every worker have them.
        for name in [*self._preload_modules, "fanin._backends.process"]:
            if name != "__main__":
                try:
                    importlib.import_module(name)
                except ImportError:
                    pass

        # No resource tracker is started here: the first workers are plain forks whose
        # queues need none (``ProcessBackend._fork_first_workers``); the first queue of a
        # replacement starts multiprocessing's own, as it would have without the zygote.
        made: list[Any] = []
        try:
            with socket.socket(socket.AF_UNIX) as listener:
                address = _address()
                listener.bind(address)
                listener.listen()
                # A plain fd from here on: a socket object would close it when collected
                # (in the first worker, before it hatches the zygote).
                listener_fd = listener.detach()
            made.append(listener_fd)
            # Every client (this process, each worker of the zygote's) holds the write
            # end: when all have gone, the zygote reads EOF and exits, as
            # multiprocessing's server does.
            alive_r, alive_w = os.pipe()
            made += [alive_r, alive_w]
            pid_r, pid_w = os.pipe()
            made += [pid_r, pid_w]
        except BaseException:
            _close_all(made)
            raise
        self._hatch = (listener_fd, alive_r, pid_w)
        self._pid_r = pid_r
        self._forkserver_address = address
        self._forkserver_alive_fd = alive_w
        self._forkserver_pid = None
        self._zygote = True

    def after_fork_in_child(self) -> None:
        """In any child forked from this process (the zygote, a worker, a program's own
        fork): this server is the parent's, not the child's. (The first worker gets the
        zygote's ends as arguments, not from here.)"""
        self._lock = threading.Lock()
        self._users = 0
        self._hatch = None
        self._forget()


def hatch(listener_fd: int, alive_r: int, pid_w: int, own: list[int]) -> None:
    """In the pool's first worker, first thing (single-threaded, the hub's state): fork
    the zygote and tell the hub its pid. ``own`` are this worker's own pipes, which the
    zygote must not keep (the hub would never see EOF on them)."""
    try:
        pid = _fork_child(lambda: _zygote_main(listener_fd, alive_r, own))
        os.write(pid_w, str(pid).encode())
    except Exception:  # noqa: BLE001 - no zygote: the hub reads EOF, uses the stdlib's server
        pass
    finally:
        _close_all([listener_fd, alive_r, pid_w])


def _close_all(things: Any) -> None:
    for thing in things:
        try:
            thing.close() if hasattr(thing, "close") else os.close(thing)
        except OSError:
            pass


def _address() -> str:
    """An abstract-namespace socket address (Linux): nothing on disk, so no temporary
    directory to make (``arbitrary_address`` makes one, and removes it at exit)."""
    return f"\0fanin-zygote-{os.getpid()}-{os.urandom(8).hex()}"


def _fork_child(child: Callable[[], None]) -> int:
    """Fork a helper that runs ``child()`` (it must end in ``os._exit``); its pid."""
    _util._flush_std_streams()  # else a child repeats what they buffered
    with _interrupts_held():  # the child ignores them once its loop starts
        pid = os.fork()
        if pid == 0:
            child()
            os._exit(1)  # not reached: child exits itself
    return pid


_HELD = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Ctrl-C or SIGTERM between a fork and the child's own handlers must not kill the
    child half-way (multiprocessing spawns its helpers the same way): held in both, and
    released in the child once its handlers are set."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)


def _zygote_main(listener_fd: int, alive_r: int, own: list[int]) -> None:
    """The zygote: multiprocessing's fork server loop, in a fork of the pool's first
    worker made before that worker ran anything (the hub's state at ``Hub.start``)."""
    code = 0
    try:
        _close_all(own)  # the worker's pipes: the hub must see EOF when that worker dies
        import gc

        gc.freeze()  # the copy of the hub's heap stays shared with it, and with each worker
        _name_zygote()
        # The hub's SIGTERM hold is the parent's business; the loop itself ignores SIGINT.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
        # Asleep until the first request (or the hub's exit): the fork server's loop, and
        # its imports, only then. A run that replaces no worker never pays them.
        ready, _, _ = select.select([listener_fd, alive_r], [], [])
        if ready == [alive_r]:
            return  # every client went without asking for a worker: no loop to run
        from multiprocessing import forkserver

        forkserver.main(listener_fd, alive_r, [])  # nothing to preload: it is all here
    except SystemExit:
        pass
    except BaseException:  # noqa: BLE001 - any failure: the client sees the server gone
        code = 1
    finally:
        os._exit(code)


NAME = "fanin-zygote"  # names in ps/top (comm); the command line stays the program's


def _set_name(name: str) -> str | None:
    """Set this process's name (Linux ``comm``); returns the old one, None if it failed."""
    try:
        with open("/proc/self/comm") as f:
            original = f.read().strip()
        with open("/proc/self/comm", "w") as f:
            f.write(name)
    except OSError:
        return None
    return original


def _name_zygote() -> None:
    """Tell the zygote apart in ``ps``/``top`` and in tests (its command line is the
    program's); the workers it forks get the program's name back."""
    original = _set_name(NAME)
    if original is None:
        return

    def restore() -> None:
        try:
            with open("/proc/self/comm", "w") as f:
                f.write(original)
        except OSError:
            pass

    os.register_at_fork(after_in_child=restore)


def _exists(pid: int) -> bool:
    """``pid`` runs (and is no zombie): the zygote is a child of the first worker, not ours."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _nothing() -> None:
    pass


def _reap_zygote(pid: int) -> None:
    """Wait for the zygote let go by ``release`` to exit (its parent, the first worker,
    or init once that worker has gone, reaps it). A worker that outlives the hub
    (abandoned) must not keep it: SIGKILL after the grace."""
    deadline = time.monotonic() + STOP_GRACE
    exited = _exit_waiter(pid)
    try:
        while _exists(pid):
            if time.monotonic() >= deadline:
                os.kill(pid, signal.SIGKILL)
                exited(1.0)
                break
            exited(deadline - time.monotonic())
    except ProcessLookupError:
        pass
    finally:
        exited(None)


def _exit_waiter(pid: int) -> Callable[[float | None], None]:
    """``wait(timeout)`` returns once ``pid`` has exited or after ``timeout`` (a pidfd
    wakes at the exit; without one, 2 ms steps); ``wait(None)`` releases the pidfd."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        def step(timeout: float | None) -> None:
            if timeout is not None:
                time.sleep(min(0.002, max(timeout, 0.0)))

        return step

    def wait(timeout: float | None) -> None:
        if timeout is None:
            os.close(fd)
        else:
            select.select([fd], [], [], max(timeout, 0.0))

    return wait


SERVER = _Server()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=SERVER.after_fork_in_child)


class ZygoteProcess(process.BaseProcess):
    _start_method = "forkserver"

    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        SERVER.client()  # the Popen class asks it
        from .zygote_client import Popen

        return Popen(process_obj)


class ZygoteContext(ForkServerContext):
    """A forkserver context whose server is ``SERVER`` (a zygote, or the stdlib's kind)."""

    Process = ZygoteProcess  # type: ignore[assignment]

    def set_forkserver_preload(self, module_names: list[str]) -> None:
        SERVER.set_forkserver_preload(module_names)


CONTEXT = ZygoteContext()
