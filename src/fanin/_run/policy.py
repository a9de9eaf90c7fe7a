"""The failure policy: one copy, used by ``map``, ``amap``, the executors and the CLI.

Runs in: the caller's thread (``settle``) or its event loop (``asettle``). Scoped to the call
that failed: fail-fast cancels *that call's* queued jobs (its group) and nothing else, so a
failing map never cancels another caller's work on the same hub.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import asyncio

from .._backends import FAIL_FAST
from .._errors import TaskCancelled

__all__ = ["FAIL_FAST", "Failure", "asettle", "first_failure", "results", "settle"]
INTERRUPTED = "interrupted"


class Failure:
    """Stands in for a failed item's result when ``map(..., on_error="collect")``.

    Immutable and falsy; compared and hashed by its four fields. (Written out rather than
    a frozen dataclass: ``dataclasses`` costs every hub ~5 ms of import, issue 13.)"""

    __slots__ = ("index", "task", "description", "error")
    index: int
    task: str
    description: str
    error: BaseException

    def __init__(self, index: int, task: str, description: str, error: BaseException) -> None:
        for name, value in (("index", index), ("task", task), ("description", description),
                            ("error", error)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: a Failure is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: a Failure is immutable")

    def _fields(self) -> tuple[int, str, str, BaseException]:
        return (self.index, self.task, self.description, self.error)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Failure)
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (f"Failure(index={self.index!r}, task={self.task!r}, "
                f"description={self.description!r}, error={self.error!r})")

    def __reduce__(self) -> tuple[object, ...]:
        return (Failure, self._fields())

    def __bool__(self) -> bool:
        return False


class Group(Protocol):
    """One call's jobs: cancelling or interrupting it touches nothing else."""

    def cancel(self, reason: str) -> None: ...

    def interrupt(self, reason: str) -> None: ...


class _AnyFuture(Protocol):
    def done(self) -> bool: ...
    def cancelled(self) -> bool: ...
    def exception(self) -> BaseException | None: ...


def first_failure(futures: Sequence[_AnyFuture]) -> BaseException | None:
    """The failure that started it, in input order: a ``TaskCancelled`` only if nothing
    else failed (it is usually a consequence, not the cause)."""
    fallback: BaseException | None = None
    for f in futures:
        if f.done() and not f.cancelled():
            exc = f.exception()
            if exc is None:
                continue
            if not isinstance(exc, TaskCancelled):
                return exc
            if fallback is None:
                fallback = exc
    return fallback


def results(futures: Sequence[Future[Any]], ids: Sequence[str],
            descs: Sequence[str]) -> list[Any]:
    """Each future's value, or a :class:`Failure` in its place."""
    out: list[Any] = []
    for i, f in enumerate(futures):
        if f.cancelled():
            out.append(Failure(i, ids[i], descs[i], TaskCancelled("cancelled")))
            continue
        exc = f.exception()
        out.append(Failure(i, ids[i], descs[i], exc) if exc is not None else f.result())
    return out


def settle(futures: Sequence[Future[Any]], group: Group, on_error: str,
           sync: Callable[[], object]) -> None:
    """Wait for a call's futures under the policy; raise its failure under ``"raise"``.

    Fail-fast: the first failure cancels the group's queued jobs, lets running ones end,
    and is re-raised once their counts are applied. Interrupted (Ctrl-C, or the caller's
    own exception): the group's queued jobs are cancelled and running ones interrupted.
    """
    try:
        if on_error == "raise":
            wait(futures, return_when=FIRST_EXCEPTION)
            exc = first_failure(futures)
            if exc is not None:
                group.cancel(FAIL_FAST)
                wait(futures)
                sync()
                raise exc
        else:
            wait(futures)
    except BaseException:
        if not all(f.done() for f in futures):
            group.cancel(INTERRUPTED)
            group.interrupt(INTERRUPTED)
        raise
    sync()


async def asettle(futures: Sequence[asyncio.Future[Any]], group: Group,
                  sync: Callable[[], Awaitable[object]]) -> None:
    """``settle`` for the event loop (fail-fast). Futures are asyncio tasks or wrapped
    ``concurrent.futures`` futures; cancelling an unfinished one cancels what it wraps."""
    import asyncio  # here: most runs never use asyncio, and it costs ~20 ms to import

    try:
        if futures:
            await asyncio.wait(futures, return_when=asyncio.FIRST_EXCEPTION)
        exc = first_failure(futures)
        if exc is not None:
            group.cancel(FAIL_FAST)
            await asyncio.wait(futures)
            for f in futures:  # mark every exception retrieved: no "never retrieved" logs
                if f.done() and not f.cancelled():
                    f.exception()
            await sync()
            raise exc
    except BaseException:
        if not all(f.done() for f in futures):
            group.cancel(INTERRUPTED)
            group.interrupt(INTERRUPTED)
            for f in futures:
                f.cancel()
        raise
    await sync()
