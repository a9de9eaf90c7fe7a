"""The stdlib's fork server client and Popen, pointed at the zygote's state (``zygote.py``).

Runs in: the process backend's pump thread, when it starts a worker through fanin's
default context: a replacement of a dead or retired worker, or a pool that could not fork
its first workers itself (the hub was not single-threaded). Imported only then: the fork
server's module brings spawn, runpy and the resource tracker along (~3.5 ms), which the
first workers, plain forks of the hub, never need.
"""

from __future__ import annotations

import io
import os
from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util
from multiprocessing.context import set_spawning_popen
from typing import Any

# multiprocessing's internals, as they are from 3.10 to 3.13 (typeshed knows only part):
_ForkServer: Any = forkserver.ForkServer
_ForkServerPopen: Any = popen_forkserver.Popen
_util: Any = util


def _shared(name: str) -> property:
    """An attribute of the stdlib's client that is the zygote state's, read and written."""
    return property(lambda self: getattr(self._state, name),
                    lambda self, value: setattr(self._state, name, value))


class Client(_ForkServer):  # type: ignore[misc]
    """multiprocessing's fork server client whose pid, address and "alive" pipe are the
    zygote state's: ``connect_to_new_process`` asks whatever server that state names, a
    zygote of ours or, once ``ensure_running`` has started one, multiprocessing's usual
    server (with the state's preload)."""

    _forkserver_pid = _shared("_forkserver_pid")
    _forkserver_alive_fd = _shared("_forkserver_alive_fd")
    _forkserver_address = _shared("_forkserver_address")
    _preload_modules = _shared("_preload_modules")
    _lock = _shared("_lock")

    def __init__(self, state: Any) -> None:
        # Not the stdlib's __init__: it would reset the state a zygote already set.
        self._state = state
        self._inherited_fds = None

    def ensure_running(self) -> None:
        # ``connect_to_new_process`` calls this first: a dead zygote is forgotten here,
        # so the stdlib's code starts its server, which is then not taken for a zygote.
        self._state.forget_dead_zygote()
        if self._state.is_zygote():
            return  # not a child of ours: the stdlib's check (waitpid) is not for it
        super().ensure_running()


class Popen(_ForkServerPopen):  # type: ignore[misc]
    """``popen_forkserver.Popen`` asking the zygote's server instead of multiprocessing's
    singleton.

    ``_launch`` is the stdlib's, unchanged from 3.10 to 3.13, but for the server it asks."""

    client: Client | None = None  # set by the zygote state's ``client()``, before any start

    def _launch(self, process_obj: Any) -> None:
        assert self.client is not None
        prep_data = spawn.get_preparation_data(process_obj._name)
        buf = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            set_spawning_popen(None)
        self.sentinel, w = self.client.connect_to_new_process(self._fds)
        # A duplicate of the data pipe's write end: the child's sentinel of this process.
        parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, _util.close_fds, (parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)
