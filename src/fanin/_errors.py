"""Exceptions and warnings raised by fanin.

Runs in: any process. Misuse raises at the call with a sentence; trouble in the plumbing
degrades with a ``FaninWarning`` instead of raising into the user's computation.
"""

from __future__ import annotations


class FaninError(Exception):
    """Base class for errors raised by fanin itself."""


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
