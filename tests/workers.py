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


def count_slowly(n, progress):
    """Exact work that lasts a while, so it is running while other workers die."""
    for i in range(n):
        progress.advance()
        if i % 500 == 0:
            time.sleep(0.005)
    return n


def describe(text, progress):
    progress.set_description(text)
    progress.advance(3)
    return text


def return_unpicklable(_, progress):
    import threading

    progress.advance()
    return threading.Lock()


def send_garbage_then_count(reporter, n):
    """Write bytes that are not a pickle onto the reporter's queue, then report normally."""
    reporter._channel.queue._writer.send_bytes(b"\x80\x04garbage, not a pickle")
    for _ in range(n):
        reporter.advance()
    reporter.finish()


def flood(seconds, progress):
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        for _ in range(10_000):
            progress.advance()
        n += 10_000
    return n


def exit_at_once(_, progress):
    os._exit(3)


def sleep_or_fail(spec, progress):
    seconds, bad = spec
    if bad:
        raise ValueError("first one fails")
    for _ in range(10):
        time.sleep(seconds / 10)
        progress.advance()
    return seconds


def fail_with_escapes(_, progress):
    raise ValueError("bad\x1b[2J\x1b]0;pwned\x07 thing")


def sleep_seconds(seconds, progress):
    time.sleep(seconds)
    return seconds


def fail_after(seconds, progress):
    time.sleep(seconds)
    raise ValueError(f"failed after {seconds}")


def square(x):
    return x * x


def add(x, y):
    return x + y


def fail_on_13(x):
    if x == 13:
        raise KeyError(f"bad item {x}")
    return x


def raise_runtime_error(x=None):
    raise RuntimeError(123)  # the remote traceback shows this line


def unpicklable_result(x=None):
    return lambda: 42


def append_pid_to(path):
    """An initializer: one line per worker that ran it."""
    import os

    with open(path, "a") as f:
        f.write(f"{os.getpid()}\n")


def chunk_task_id(x):
    import fanin

    return fanin.current().task_id


def current_in_task(_, progress):
    import fanin

    return fanin.current() is progress


def takes_kwargs(x, **kwargs):
    return sorted(kwargs)


def wants_progress(x, progress):
    progress.set_total(3)
    for _ in range(3):
        progress.advance()
    return x


def broken_initializer():
    raise ValueError("initializer failed")


def getpid(_=None):
    import os

    return os.getpid()


def idle_rss(_=None):
    import psutil

    return psutil.Process().memory_info().rss


def half_message_then_sleep(reporter, seconds):
    """A hostile writer: a frame header promising 100 bytes, then nothing (test-only private
    access to the reporter's queue)."""
    import os as _os

    q = reporter._channel.queue
    _os.write(q._writer.fileno(), (100).to_bytes(4, "big", signed=True) + b"abc")
    time.sleep(seconds)
