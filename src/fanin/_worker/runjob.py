"""Run one job with a reporter the pool manages: the one routine every backend calls.

Runs in: a worker thread (thread backend), a worker process's main thread (process
backend), a Dask task thread, or the caller's event loop (``amap`` coroutines, through
``managed``). The job's reporter is started first, finished when the function returns and
failed when it raises, and it is the ``fanin.current()`` of the code inside, so a function
deep in a library can add progress without a parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .current import reset_current, set_current
from .reporter import Reporter


@contextmanager
def managed(reporter: Reporter) -> Iterator[Reporter]:
    """Start ``reporter``; finish it when the block ends, fail it when the block raises."""
    reporter._managed = True  # reporter.track() inside leaves finishing to us
    token = set_current(reporter)
    try:
        reporter.start()
        yield reporter
    except BaseException as exc:
        reporter.fail(exc)
        raise
    else:
        reporter.finish()
    finally:
        reset_current(token)


def run_job(fn: Callable[[Any, Reporter], Any], item: Any, reporter: Reporter) -> Any:
    """``fn(item, reporter)`` with a managed reporter: its result, or its exception."""
    with managed(reporter):
        return fn(item, reporter)


class Raised:
    """In a chunk's results under ``on_error="collect"``: the item raised ``error``."""

    __slots__ = ("error", "index")

    def __init__(self, index: int, error: BaseException) -> None:
        self.index = index
        self.error = error

    def __reduce__(self) -> tuple[Any, ...]:
        return (Raised, (self.index, self.error))


def run_chunk(chunk: tuple[Callable[..., Any], list[Any], int, bool, bool],
              reporter: Reporter) -> list[Any]:
    """A chunk of a map over an unchanged function: ``fn(item)`` (or ``fn(*item)``) for each
    item, one ``advance`` per item, the results as a list.

    Module-level, so it pickles by reference. A failing item's exception is re-raised as
    is, with the item's index in the map as ``exc.fanin_index`` (and a note on 3.11+);
    both travel with the exception, since exceptions pickle their ``__dict__``. With
    ``collect``, the chunk goes on and the failed item's place holds a :class:`Raised`.
    """
    fn, items, start, star, collect = chunk
    out: list[Any] = []
    append, advance = out.append, reporter.advance
    for i, item in enumerate(items, start):
        try:
            append(fn(*item) if star else fn(item))
        except Exception as exc:
            mark_item(exc, i)
            if not collect:
                raise
            append(Raised(i, exc))
        except BaseException as exc:  # KeyboardInterrupt, SystemExit: never collected
            mark_item(exc, i)
            raise
        advance()
    return out


def mark_item(exc: BaseException, index: int) -> None:
    try:
        exc.fanin_index = index  # type: ignore[attr-defined]
        add_note = getattr(exc, "add_note", None)
        if add_note is not None:
            add_note(f"(fanin: raised by item {index} of the map)")
    except (AttributeError, TypeError):  # an exception type with __slots__
        pass
