"""Code that runs inside the Dask cluster's processes (workers, and the scheduler, which
unpickles submitted graphs): module level, importable there through ``PYTHONPATH``, and free
of pytest and of module-level fanin imports (a worker without fanin still imports this)."""

from __future__ import annotations

import os
import sys
import threading
import time


def sleepy(spec, rep):
    """``spec = (seconds, steps)``: ``steps`` advances spread over ``seconds``."""
    seconds, steps = spec
    rep.set_total(steps)
    for _ in range(steps):
        time.sleep(seconds / steps)
        rep.advance()
    return os.getpid()


def spin_ms(ms, rep):
    """About ``ms`` milliseconds of pure-Python CPU, one advance per millisecond."""
    for _ in range(int(ms)):
        end = time.thread_time() + 0.001
        while time.thread_time() < end:
            pass
        rep.advance()
    return ms


def spin_ms_plain(ms):
    """The same work with no reporter: the baseline for a plain ``client.map``."""
    for _ in range(int(ms)):
        end = time.thread_time() + 0.001
        while time.thread_time() < end:
            pass
    return ms


def user_task(rep, seconds):
    """A user's own task, given a hub reporter through ``client.submit``."""
    rep.start(total=10)
    for _ in range(10):
        time.sleep(seconds / 10)
        rep.advance()
    rep.finish()
    return os.getpid()


def finish_only(rep):
    rep.finish()
    return 0


def process_report(dask_scheduler=None, dask_worker=None):
    """What fanin left running in this process: for ``run_on_scheduler`` / ``client.run``."""
    # fanin._worker.flusher since the package was split into layers (fanin._flusher before).
    flusher = sys.modules.get("fanin._worker.flusher") or sys.modules.get("fanin._flusher")
    live = 0
    if flusher is not None:
        live = len(flusher.FLUSHER.live) + len(getattr(flusher.FLUSHER, "weak", ()))
    return {
        "pid": os.getpid(),
        "fanin_imported": "fanin" in sys.modules,
        "threads": sorted(t.name for t in threading.enumerate()),
        "live_reporters": live,
    }


def stealing_log(dask_scheduler=None):
    """How many steals the scheduler's work-stealing extension has logged."""
    ext = dask_scheduler.extensions.get("stealing")
    if ext is None:
        return 0
    return sum(1 for entry in ext.log if "request" in str(entry) or "confirm" in str(entry))
