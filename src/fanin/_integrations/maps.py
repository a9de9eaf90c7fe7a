"""``fanin.process_map`` and ``fanin.thread_map``: tqdm's one-liners, with fanin's display.

Runs in: the caller. A hub lives for the call: ``fn`` runs unchanged over the items in
chunks (see ``_run/chunks.py``) and the display shows one bar counting items.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from .._run.chunks import check_chunksize
from .._run.hub import Hub
from .._run.naming import name_of
from .._run.options import check_on_error

R = TypeVar("R")


def _map(backend: str, fn: Callable[..., R], iterables: tuple[Iterable[Any], ...],
         max_workers: int | None, chunksize: int | None, description: str | None,
         on_error: str, hub_kwargs: dict[str, Any]) -> list[Any]:
    if not iterables:
        raise TypeError(f"{backend}_map() needs at least one iterable")
    check_on_error(on_error)
    check_chunksize(chunksize)
    items: Iterable[Any] = iterables[0] if len(iterables) == 1 else list(zip(*iterables))
    star = len(iterables) > 1
    hub_kwargs.setdefault("summary", False)
    with Hub(backend, max_workers, **hub_kwargs) as hub:
        return list(hub.imap(fn, items, chunksize=chunksize, on_error=on_error,  # type: ignore[arg-type]
                             description=description or name_of(fn), star=star))


def process_map(fn: Callable[..., R], *iterables: Iterable[Any], max_workers: int | None = None,
                chunksize: int | None = None, description: str | None = None,
                on_error: str = "raise", **hub_kwargs: Any) -> list[Any]:
    """``[fn(x) for x in items]`` on worker processes, with one live bar counting items.

    Like ``tqdm.contrib.concurrent.process_map``: several iterables are zipped and ``fn``
    gets one argument from each. Results in input order. ``fn`` must pickle (a module-level
    function); a lambda or closure fails at once with a sentence. ``hub_kwargs`` go to
    :class:`fanin.Hub` (``progress=``, ``start_method=``, ...).
    """
    return _map("process", fn, iterables, max_workers, chunksize, description, on_error,
                hub_kwargs)


def thread_map(fn: Callable[..., R], *iterables: Iterable[Any], max_workers: int | None = None,
               chunksize: int | None = None, description: str | None = None,
               on_error: str = "raise", **hub_kwargs: Any) -> list[Any]:
    """``process_map`` on threads: any callable, for work that releases the GIL or waits."""
    return _map("thread", fn, iterables, max_workers, chunksize, description, on_error,
                hub_kwargs)
