"""``fanin.track``: one loop, one bar, like ``rich.progress.track``.

Runs in: the caller's thread (the generator). The loop's reporter is ``fanin.current()``
inside the loop body, so a ``fanin.track``, ``fanin.tqdm`` or ``Hub`` opened there joins
this display as an indented sub-task (one display per process).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from .._run.aio import cancel_reporter
from .._run.hub import Hub
from .._worker.current import reset_current, set_current
from .._worker.reporter import _check_description, _check_total, check_unit

T = TypeVar("T")

# rich.progress.track's shape: one bar, no overall bar, no health header, no summary.
TRACK_DEFAULTS: dict[str, Any] = {"summary": False, "health": False, "overall": False}


def track(iterable: Iterable[T], description: str = "", total: float | None = None, *,
          unit: str = "", scale: int | None = None, transient: bool = False,
          **hub_kwargs: Any) -> Iterator[T]:
    """Iterate ``iterable`` with one live progress bar, like ``rich.progress.track``.

    One bar named after ``description`` (or "working"); it stays on screen at the end
    unless ``transient``. A thread :class:`fanin.Hub` (``hub_kwargs``: ``progress=``,
    ``file=``, ``summary=``, ...) lives as long as the loop: it starts at the first item
    and always closes, whether the loop ends, breaks or raises. Inside another live
    display (an outer ``track``, a ``Hub``) the bar joins it, indented under the task
    running there. An item counts once the loop asks for the next one, so the count is
    exact. ``total`` defaults to ``len(iterable)``; ``unit="B"`` counts bytes.
    """
    options = {**TRACK_DEFAULTS, "transient": transient, "leave": not transient, **hub_kwargs}
    hub = Hub(**options)
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    unit_scale = check_unit(unit, scale)
    return _track(hub, iterable, _check_description(description) or "working",
                  _check_total(total), unit_scale)


def _track(hub: Hub, iterable: Iterable[T], description: str, total: float | None,
           unit_scale: tuple[str, int]) -> Iterator[T]:
    # A separate generator, so bad arguments raise at the call, not at the first next().
    hub.start()
    token = None
    try:
        reporter = hub.local_reporter(description, total, unit=unit_scale[0],
                                      scale=unit_scale[1])
        token = set_current(reporter)
        yield from reporter.track(iterable)
    except GeneratorExit:  # break, or an exception in the loop's body
        cancel_reporter(reporter, "the loop stopped early")
        raise
    finally:
        if token is not None:
            try:
                reset_current(token)
            except ValueError:  # closed from another context (garbage collection)
                pass
        hub.close()
