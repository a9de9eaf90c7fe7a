"""Start what a process pool will wait for while the display starts (issue 13).

Runs in: the caller (``Hub.start``) and, for multiprocessing's own server, one short-lived
helper thread.

Why: a process hub's first pool waits for its fork server. fanin's default context readies
one here (``zygote.py``: its socket and pipes; the pool's first worker forks it), before
the hub starts any thread, when the process is single-threaded; otherwise (other threads,
``start_method="forkserver"``) multiprocessing's server, a new Python that imports the
worker loop (~100 ms in a fresh interpreter here), is asked for on a helper thread, so
that its boot overlaps the collector's, renderer's and view's start, and no worker starts
before the first job. With a zygote, the pool forks its first workers itself, also before
any thread (``pool_forks_now``).
Also here: a forked child forgets its parent's fork server.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any


def warm_up(backend: str, mp_context: Any) -> Callable[[], Callable[[], None]]:
    """Start the fork server, if this hub's pool will use one. Returns what ``Hub.close``
    calls first, once no worker will be started any more (the zygote's ``release``, which
    lets it go), which returns what ``close`` calls last, once the pool has stopped (it
    reaps the zygote).

    fanin's default context (``zygote.CONTEXT``) readies its zygote here, synchronously,
    before the hub starts any thread (the first worker, forked next, forks it); when this
    process is not single-threaded it falls back to multiprocessing's server, started in
    the background."""
    if backend != "process" or getattr(mp_context, "get_start_method", None) is None:
        return no_server
    if mp_context.get_start_method() != "forkserver":
        return no_server
    zygote = sys.modules.get("fanin._backends.zygote")
    if zygote is not None and mp_context is zygote.CONTEXT:
        server = zygote.SERVER
        if not server.acquire():
            _in_background(server.ensure_running)
        return server.release  # type: ignore[no-any-return]

    def ensure() -> None:
        from multiprocessing import forkserver

        forkserver.ensure_running()

    _in_background(ensure)
    return no_server


def pool_forks_now(backend: str, mp_context: Any) -> bool:
    """A process hub on the zygote's context, still single-threaded, starts its pool in
    ``Hub.start`` (``ProcessBackend._fork_first_workers``) instead of at the first job:
    its first workers are then plain forks of this process, made before its threads."""
    if backend != "process":
        return False
    zygote = sys.modules.get("fanin._backends.zygote")
    return zygote is not None and bool(zygote.forks_directly(mp_context))


def _nothing() -> None:
    pass


def no_server() -> Callable[[], None]:
    """``warm_up``'s answer when there is no zygote to let go: nothing to reap either."""
    return _nothing


def _in_background(ensure: Callable[[], None]) -> None:
    def run() -> None:
        try:
            ensure()
        except Exception:  # noqa: BLE001 - the pool's own start reports any real failure
            pass

    threading.Thread(target=run, name="fanin-warmup", daemon=True).start()


def _forget_parents_fork_server() -> None:
    """In a child made by ``os.fork()``: the fork server the parent started is not ours.

    ``multiprocessing``'s fork server singleton is copied into a forked child as it was in
    the parent, whose fork server is not the child's child: the first forkserver pool in
    the child (fanin's default) then fails in ``ensure_running`` with ``ChildProcessError``
    (CPython 3.11 to 3.13 do this). Forgetting it makes the child start a server of its
    own; the copy of the parent's "alive" pipe end is closed, so it does not keep the
    parent's server running after the parent exits. The singleton's lock is renewed: a
    thread of the parent (our warm-up) may have held it at the fork."""
    server_module = sys.modules.get("multiprocessing.forkserver")
    server = getattr(server_module, "_forkserver", None)
    if server is None:
        return
    server._lock = threading.Lock()
    if getattr(server, "_forkserver_pid", None) is None:
        return  # never started here (a fork server's own children land here too)
    alive = server._forkserver_alive_fd
    server._forkserver_pid = None
    server._forkserver_address = None
    server._forkserver_alive_fd = None
    if alive is not None:
        try:
            os.close(alive)
        except OSError:
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parents_fork_server)
