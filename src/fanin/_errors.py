"""Exceptions and warnings raised by fanin.

Runs in: any process. Misuse raises at the call with a sentence; trouble in the plumbing
degrades with a ``FaninWarning`` instead of raising into the user's computation.
"""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool


class FaninError(Exception):
    """Base class for errors raised by fanin itself."""


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


class SchedulerLost(FaninError):
    """The Dask scheduler went away while tasks ran: nothing more can be heard from them.

    Raised (or collected in each unfinished task's ``Failure``) instead of a cancellation,
    so ``map(on_error="raise")`` raises it; the counts received before stay as they were.
    """


class TaskCancelled(FaninError):
    """A task was cancelled before it finished (fail-fast, Ctrl-C or hub shutdown)."""


class RemoteTraceback(Exception):
    """Carries a worker's formatted traceback as the ``__cause__`` of a re-raised exception."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return self.tb


class FaninWarning(UserWarning):
    """Something in the display or transport degraded; the work itself is unaffected."""
