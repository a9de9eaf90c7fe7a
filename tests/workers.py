"""Worker functions for tests: module level so they pickle under spawn and forkserver."""

from __future__ import annotations

import os
import time


def count_to(n, progress):
    for _ in range(n):
        progress.advance()
    return n


def track_items(n, progress):
    total = 0
    for i in progress.track(range(n), description=f"track {n}"):
        total += 1
    return total


def many_subtasks(spec, progress):
    """spec = (tasks, advances): start tasks, finish them in reverse order."""
    tasks, advances = spec
    subs = [progress.task(f"sub {i}", total=advances) for i in range(tasks)]
    for _ in range(advances):
        for s in subs:
            s.advance()
    for s in reversed(subs):
        s.finish()
    return tasks * advances


def raise_value_error(n, progress):
    progress.advance(n)
    raise ValueError(f"boom {n}")


def raise_if(spec, progress):
    n, bad = spec
    progress.advance(n)
    if bad:
        raise ValueError(f"bad item {n}")
    time.sleep(0.05)
    return n


def sleep_then(n, progress):
    for _ in range(n):
        time.sleep(0.01)
        progress.advance()
    return n


def pid_of(_, progress):
    progress.advance()
    return os.getpid()


def fetch_all(reporter, n):
    """A user-started process: advance a hub.reporter and finish it."""
    for _ in range(n):
        reporter.advance()
    reporter.finish()


def fetch_no_finish(reporter, n):
    """A user-started process that exits normally without calling finish()."""
    for _ in range(n):
        reporter.advance()


def forever(_, progress):
    while True:
        progress.advance()
