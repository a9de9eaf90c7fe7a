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
