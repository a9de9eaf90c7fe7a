"""Worker functions for tests/test_reliability2.py (issue 15): hostile, slow or odd workers.

Module level, so they pickle by reference under fork, spawn and forkserver. Several of them
reach into the reporter they are given (``reporter._channel``, the queue's ``_writer`` and
``_wlock``): private access *from a test's worker function*, on purpose, to play a hostile
or broken worker from the worker side. The code under test is only driven through its
public API.
"""

from __future__ import annotations

import logging
import os
import signal
import struct
import subprocess
import sys
import threading
import time

# -- reaching the raw transport from the worker side (test-only private access) -----------

def raw_queue(reporter):
    """The ``multiprocessing.Queue`` this reporter writes to.

    A pool worker's reporter writes straight to its worker's report queue; a
    ``hub.reporter()`` carries a channel object that holds the queue as ``.queue``.
    """
    channel = reporter._channel
    return getattr(channel, "queue", channel)


def report_type(reporter):
    """One report exactly as the reporter would send it, captured instead of sent.

    Gives the wire record's type without importing fanin's private modules (whose paths
    are about to change).
    """
    got = []

    class Grab:
        def put(self, obj):
            got.append(obj)

    reporter._sent = None
    reporter._flush_locked(Grab())
    return got[0]


# -- plain helpers -------------------------------------------------------------------------

def sleep_steps(seconds, progress):
    """Sleep ``seconds`` in 50 ms steps, advancing once per step (interruptible by the hub)."""
    steps = max(1, int(seconds / 0.05))
    progress.set_total(steps)
    for _ in range(steps):
        time.sleep(0.05)
        progress.advance()
    return seconds


def c_sleep(seconds, progress):
    """One long call into C (``time.sleep``): nothing a thread interrupt can reach."""
    progress.advance()
    time.sleep(seconds)
    return seconds


def mark_then_count(spec, progress):
    """Create the file ``path`` (so a test can tell the job started), then count to ``n``."""
    path, n = spec
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    for _ in range(n):
        progress.advance()
    return n


def big_result(megabytes, progress):
    progress.advance()
    return b"x" * (megabytes * 2**20)


def big_result_timed(megabytes, progress):
    """A large result; also returns when the worker finished building it."""
    progress.advance()
    return (time.time(), b"x" * (megabytes * 2**20))


# -- hostile workers -----------------------------------------------------------------------

class ExitOnUnpickle:
    """Unpickling this raises SystemExit in whoever unpickles it."""

    def __reduce__(self):
        return (sys.exit, ("fanin test: a result whose unpickling raises SystemExit",))


def return_exit_bomb(_, progress):
    progress.advance()
    return ExitOnUnpickle()


def send_exit_bomb(n, progress):
    """Post an object whose unpickling raises SystemExit as a progress message, then work."""
    raw_queue(progress).put(ExitOnUnpickle())
    for _ in range(n):
        progress.advance()
    return n


def header_then_hang(seconds, progress):
    """Write a message header announcing 1 MiB, send nothing more, and hang.

    Holds the queue's write lock, as a worker stopped in the middle of sending would.
    """
    progress.advance()
    progress.flush()
    time.sleep(0.3)  # let the feeder thread deliver the start report first
    q = raw_queue(progress)
    with q._wlock:
        os.write(q._writer.fileno(), struct.pack("!i", 2**20))
        time.sleep(seconds)
    return 0


def send_unhashable_task_report(n, progress):
    """Send one well-formed report whose task id is a list (unhashable), then work normally."""
    evil = report_type(progress)._replace(task=["not", "hashable"])
    raw_queue(progress).put(evil)
    for _ in range(n):
        progress.advance()
    return n


def sigkill_self_instead_of_result(value, progress):
    """Finish normally, then die with SIGKILL just as the result is being sent.

    Wraps the report queue's ``put`` (instance attribute): reports pass through; the first
    object that is not a progress report (the job's result) triggers the kill, after a
    pause that lets the final ``done`` report reach the hub, exactly as when a worker is
    killed while its (large) result is in the pipe.
    """
    q = raw_queue(progress)
    report_cls = type(report_type(progress))
    orig = q.put

    def put(obj, *args, **kwargs):
        if type(obj) is report_cls:
            return orig(obj, *args, **kwargs)
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)
        return None

    q.put = put
    for _ in range(10):
        progress.advance()
    return value


def log_every_item(n, progress):
    log = logging.getLogger("chatty")
    for i in range(n):
        log.warning("item %d of %d", i, n)
        progress.advance()
    return time.time()


def thread_raises(label, progress):
    """Start a thread that dies with an exception (Python prints its traceback to stderr)."""
    def boom():
        raise RuntimeError(f"worker thread boom {label}")

    t = threading.Thread(target=boom, name=f"user-thread-{label}")
    t.start()
    t.join()
    for _ in range(20):
        time.sleep(0.05)
        progress.advance()
    return label


def describe_and_sleep(spec, progress):
    text, seconds = spec
    progress.set_description(text)
    return sleep_steps(seconds, progress)


def log_text_and_sleep(spec, progress):
    text, seconds = spec
    logging.getLogger("odd").warning("%s", text)
    return sleep_steps(seconds, progress)


def run_child_sleep(seconds, progress):
    """A job that starts a program of its own (``sleep``) and waits for it."""
    progress.advance()
    subprocess.run(["sleep", str(seconds)], check=False)
    return seconds


def print_dots(n, progress):
    for _ in range(n):
        print(".", end="")
    progress.advance()
    return n


def send_unhashable_task_report_then_finish(reporter, n):
    """For a user-started process holding a ``hub.reporter()``."""
    send_unhashable_task_report(n, reporter)
    reporter.finish()
