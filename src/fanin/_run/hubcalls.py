"""The hub's calling API: ``submit``, ``map``, ``imap``, ``amap``.

A mixin of :class:`fanin.Hub`, kept apart so the hub itself is lifecycle and assembly.
Each call makes a :class:`CallGroup` (its jobs, its fail-fast scope) and applies the one
failure policy of ``policy.py``; nothing here knows which backend runs the jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import Any, Literal, TypeVar, overload

from .._worker.reporter import Reporter, _check_description, _check_total
from .calls import check_takes_reporter
from .chunks import check_chunksize, imap
from .group import CallGroup
from .naming import check_description_arg, describe_items, name_of
from .options import OnError, check_on_error
from .pipeline import Pipeline
from .policy import Failure, results, settle

T = TypeVar("T")
R = TypeVar("R")


class Calls:
    """Running functions on the hub's backend; the hub provides what is declared here."""

    _pipeline: Pipeline

    @property
    def workers(self) -> int:
        raise NotImplementedError

    def _require_started(self) -> None:
        raise NotImplementedError

    def _group(self, fail_fast: bool = False, awaited: bool = True) -> CallGroup:
        raise NotImplementedError

    def sync(self, timeout: float | None = 10.0) -> bool:
        raise NotImplementedError

    def submit(self, fn: Callable[[T, Reporter], R], item: T, description: str | None = None,
               total: float | None = None) -> Future[R]:
        """Run ``fn(item, reporter)`` on the backend; the task shows as its own bar."""
        self._require_started()
        check_takes_reporter(fn)
        desc = _check_description(description if description is not None else name_of(fn))
        return self._group().submit(fn, [item], [desc], [_check_total(total)])[1][0]

    @overload
    def map(self, fn: Callable[[T, Reporter], R], items: Iterable[T], *,
            description: str | Callable[[T], str] | None = None,
            total: Callable[[T], float | None] | None = None,
            on_error: Literal["raise"] = "raise") -> list[R]: ...

    @overload
    def map(self, fn: Callable[[T, Reporter], R], items: Iterable[T], *,
            description: str | Callable[[T], str] | None = None,
            total: Callable[[T], float | None] | None = None,
            on_error: Literal["collect"]) -> list[R | Failure]: ...

    def map(self, fn: Callable[[T, Reporter], R], items: Iterable[T], *,
            description: str | Callable[[T], str] | None = None,
            total: Callable[[T], float | None] | None = None,
            on_error: OnError = "raise") -> list[R] | list[R | Failure]:
        """Run ``fn(item, reporter)`` for every item; results in input order.

        Failure policy (``policy.settle``): with ``on_error="raise"`` (fail-fast) the first
        failure cancels this call's queued items, lets running ones end, and is re-raised
        here with the worker's traceback as its cause. With ``"collect"`` every item runs
        and failed ones come back as :class:`Failure` objects.
        """
        on_error = check_on_error(on_error)
        check_description_arg(description)
        self._require_started()
        check_takes_reporter(fn)
        items = list(items)
        descs = describe_items(fn, items, description)
        totals = [_check_total(total(item)) if total is not None else None for item in items]
        group = self._group(fail_fast=on_error == "raise")
        ids, futures = group.submit(fn, items, descs, totals)
        settle(futures, group, on_error, self.sync)
        return results(futures, ids, descs)

    def imap(self, fn: Callable[..., R], items: Iterable[Any], *, ordered: bool = True,
             chunksize: int | None = None, description: str | None = None,
             on_error: OnError = "raise", star: bool = False) -> Iterator[R]:
        """``fn(item)`` for every item, called unchanged; results as they are ready.

        Items travel to workers in chunks (default: about four per worker, as
        ``multiprocessing.Pool`` sizes them) and the call is one bar counting items, with
        the item count as its total when ``items`` has a length. ``ordered=False`` yields
        results as chunks finish (the ``imap_unordered`` shape). A generator is read as
        results are consumed, a bounded number of chunks ahead. ``fanin.current()`` inside
        ``fn`` is the chunk's reporter. ``star``: each item is an argument tuple,
        ``fn(*item)``. Failure policy as for :meth:`map` (``"collect"`` yields a
        :class:`Failure` in a failed item's place).
        """
        on_error = check_on_error(on_error)
        size = check_chunksize(chunksize)
        self._require_started()
        group = self._group(fail_fast=on_error == "raise")
        group.check(fn)
        return imap(self._pipeline, group, self.workers, self.sync, fn, items, ordered=ordered,
                    chunksize=size, on_error=on_error, star=star,
                    description=_check_description(description or name_of(fn)))

    async def amap(self, fn: Callable[[T, Reporter], Any], items: Iterable[T], *,
                   description: str | Callable[[T], str] | None = None,
                   total: Callable[[T], float | None] | None = None,
                   concurrency: int | None = None) -> list[Any]:
        """Awaitable ``map``: results in input order, the first failure cancels the rest.

        A coroutine function runs as ``fn(item, reporter)`` coroutines in the current event
        loop, at most ``concurrency`` (default ``workers``) at a time; their reporters post
        to the hub's in-process inbox and never block the loop. A plain function runs on
        the backend (threads or processes) while the loop awaits its futures.
        """
        from .aio import amap

        self._require_started()
        return await amap(self._pipeline, self._group(fail_fast=True), self.workers, self.sync, fn, items,
                          description=description, total=total, concurrency=concurrency)
