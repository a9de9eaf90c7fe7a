"""``fanin.track``: one loop, one bar, like ``rich.progress.track``.

Runs in: the caller's thread (the generator).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from .._run.aio import cancel_reporter
from .._run.hub import Hub
from .._worker.reporter import _check_description, _check_total

T = TypeVar("T")


def track(iterable: Iterable[T], description: str = "", total: float | None = None,
          **hub_kwargs: Any) -> Iterator[T]:
    """Iterate ``iterable`` with one live progress bar, like ``rich.progress.track``.

    A thread :class:`fanin.Hub` (``hub_kwargs``: ``progress=``, ``file=``, ...) lives as
    long as the loop: it starts at the first item and always closes, whether the loop
    ends, breaks or raises. An item counts once the loop asks for the next one, so the
    count is exact. ``total`` defaults to ``len(iterable)``.
    """
    hub = Hub(**hub_kwargs)
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    return _track(hub, iterable, _check_description(description), _check_total(total))


def _track(hub: Hub, iterable: Iterable[T], description: str,
           total: float | None) -> Iterator[T]:
    # A separate generator, so bad arguments raise at the call, not at the first next().
    hub.start()
    try:
        reporter = hub.local_reporter(description, total)
        yield from reporter.track(iterable)
    except GeneratorExit:  # break, or an exception in the loop's body
        cancel_reporter(reporter, "the loop stopped early")
        raise
    finally:
        hub.close()
