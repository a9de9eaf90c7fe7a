"""The reporter of the task running here, for code that was not handed one.

Runs in: any worker thread, worker process or coroutine. A ``ContextVar`` rather than a
thread-local, so each asyncio task sees its own reporter and a thread pool thread sees the
task it runs now. Outside any fanin task, ``current()`` returns a reporter that does
nothing, so a library can call it unconditionally.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

from .reporter import NullReporter, Reporter

_CURRENT: ContextVar[Reporter | None] = ContextVar("fanin_current", default=None)
_NULL = NullReporter()


def current() -> Reporter:
    """The reporter of the fanin task running in this thread or coroutine.

    Outside a fanin task it is a do-nothing reporter (every call accepted and ignored), so
    library code can report progress without knowing whether fanin drives it.
    """
    rep = _CURRENT.get()
    return _NULL if rep is None else rep


def running() -> Reporter | None:
    """The current task's reporter, or ``None`` outside a task (for naming log lines)."""
    return _CURRENT.get()


def set_current(reporter: Reporter | None) -> Token[Reporter | None]:
    return _CURRENT.set(reporter)


def reset_current(token: Token[Reporter | None]) -> None:
    _CURRENT.reset(token)
