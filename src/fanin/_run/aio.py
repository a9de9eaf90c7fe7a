"""``hub.amap``: the awaitable map, over coroutines or over the hub's backend.

Runs in: the caller's event loop. Coroutine functions run as coroutines in that loop with
reporters on the hub's in-process inbox (a call on them never waits); plain functions run
on the backend while the loop awaits their futures. Both go through the one failure policy
(``policy.asettle``), no second code path for async (httpx #572: twin stacks drift apart).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from .._worker.reporter import Reporter, _check_total
from .._worker.runjob import managed
from .group import CallGroup
from .naming import check_description_arg, describe_items
from .pipeline import Pipeline
from .policy import asettle

T = TypeVar("T")
R = TypeVar("R")


async def amap(pipeline: Pipeline, group: CallGroup, workers: int,
               hub_sync: Callable[[], object], fn: Callable[[T, Reporter], Any],
               items: Iterable[T], *,
               description: str | Callable[[T], str] | None = None,
               total: Callable[[T], float | None] | None = None,
               concurrency: int | None = None) -> list[Any]:
    """See :meth:`fanin.Hub.amap`."""
    check_description_arg(description)
    if concurrency is not None and (isinstance(concurrency, bool)
                                    or not isinstance(concurrency, int) or concurrency < 1):
        raise ValueError(f"concurrency must be a positive int or None, got {concurrency!r}")
    items = list(items)
    descs = describe_items(fn, items, description)
    totals = [_check_total(total(item)) if total is not None else None for item in items]

    async def sync() -> None:
        # Exact counts on return (and on a fail-fast raise); hub.sync waits for the
        # collector, so it waits on a thread, not on the loop.
        await asyncio.to_thread(hub_sync)

    if is_coroutine_function(fn):
        coroutines = _Coroutines(fn, concurrency or workers)
        futures = coroutines.start(items, [pipeline.local_reporter(d, t, "t")
                                           for d, t in zip(descs, totals)])
        await asettle(futures, coroutines, sync)
        return [f.result() for f in futures]
    _, cfutures = group.submit(fn, items, descs, totals)
    waiters = [asyncio.wrap_future(f) for f in cfutures]
    await asettle(waiters, group, sync)
    return [w.result() for w in waiters]


def is_coroutine_function(fn: Any) -> bool:
    """A plain ``async def``, a partial of one, or an object with an ``async def __call__``."""
    return inspect.iscoroutinefunction(fn) or (
        callable(fn) and inspect.iscoroutinefunction(fn.__call__))


class _Coroutines:
    """An ``amap`` call's coroutines as a failure-policy group: cancel = cancel them all,
    each settling its task as cancelled (not failed) with the reason."""

    def __init__(self, fn: Callable[[Any, Reporter], Awaitable[Any]], concurrency: int) -> None:
        self.fn = fn
        self.limit = asyncio.Semaphore(concurrency)
        self.reason = "cancelled"
        self.tasks: list[asyncio.Task[Any]] = []

    def start(self, items: list[Any], reporters: list[Reporter]) -> list[asyncio.Task[Any]]:
        self.tasks = [asyncio.ensure_future(self._run(item, rep))
                      for item, rep in zip(items, reporters)]
        return self.tasks

    async def _run(self, item: Any, reporter: Reporter) -> Any:
        try:
            async with self.limit:
                with managed(reporter):
                    try:
                        return await self.fn(item, reporter)
                    except asyncio.CancelledError:
                        cancel_reporter(reporter, self.reason)  # cancelled, not failed
                        raise
        except asyncio.CancelledError:
            cancel_reporter(reporter, self.reason)  # cancelled before it started
            raise

    def cancel(self, reason: str) -> None:
        self.reason = reason
        for task in self.tasks:
            task.cancel()

    def interrupt(self, reason: str) -> None:
        self.cancel(reason)


def cancel_reporter(reporter: Reporter, reason: str) -> None:
    """Settle a cancelled task as *cancelled* (not failed), with a reason."""
    reporter._interrupt(reason)  # fail() then reports CANCELLED
    reporter.fail(reason)
