"""``WorkerDied``, apart from the other errors because of what it subclasses.

Runs in: any process. It is a ``concurrent.futures.process.BrokenProcessPool``, and that
module imports multiprocessing's connections, tempfile, shutil, bz2, lzma and random
(about 7 ms): a thread hub, a worker's reporter and the plain error classes must not pay
for it, so only the process and Dask backends (and ``fanin.WorkerDied``) import this.
"""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool

from ._errors import FaninError


class WorkerDied(FaninError, BrokenProcessPool):
    """A worker process ended without reporting its task's outcome (killed, OOM, ``os._exit``).

    A ``BrokenProcessPool``, so ``except BrokenProcessPool:`` code written for the stdlib
    executor catches it. Unlike the stdlib pool, only that worker's job fails: a new worker
    takes its place and the pool goes on.
    """

    def __init__(self, message: str, *, pid: int | None = None, tasks: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.pid = pid
        self.tasks = tasks

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_worker_died, (str(self), self.pid, self.tasks))


def _rebuild_worker_died(message: str, pid: int | None, tasks: tuple[str, ...]) -> WorkerDied:
    return WorkerDied(message, pid=pid, tasks=tasks)
