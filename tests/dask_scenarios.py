"""Fault scenarios that can hang on a faulty build, each run in a child process by
``test_dask_faults``: ``python tests/dask_scenarios.py NAME JSON_ARGS``.

A child prints ``READY {...}`` lines the test may act on (kill the scheduler, ...) and ends
with one ``RESULT {...}`` line. A watchdog bounds every scenario: when it fires, the child
prints ``RESULT`` with ``"hung": true``, the hub's task states and the main thread's stack
(every thread's goes to stderr), then exits 3 at once, so a hang costs the test seconds,
not minutes, and says where.
Times are ``time.monotonic()`` (system-wide on Linux, comparable with the test's clock).
"""

from __future__ import annotations

import faulthandler
import io
import json
import os
import sys
import threading
import time
import traceback
from typing import Any

import fanin

_hub: fanin.Hub | None = None
_out: dict[str, Any] = {}


def emit(kind: str, payload: dict[str, Any]) -> None:
    sys.stdout.write(f"{kind} {json.dumps(payload, default=repr)}\n")
    sys.stdout.flush()


def views(hub: fanin.Hub | None) -> list[dict[str, Any]]:
    if hub is None:
        return []
    return [{"id": t.id, "description": t.description, "status": t.status,
             "completed": t.completed, "total": t.total, "attempt": t.attempt,
             "error": t.error} for t in hub.tasks()]


def error_info(exc: BaseException) -> dict[str, Any]:
    return {"type": type(exc).__name__, "mro": [c.__name__ for c in type(exc).__mro__],
            "message": str(exc)}


def watchdog(seconds: float, start: threading.Event | None = None) -> None:
    def run() -> None:
        if start is not None:
            start.wait()
        time.sleep(seconds)
        main = sys._current_frames().get(threading.main_thread().ident)
        stack = traceback.format_stack(main)[-8:] if main is not None else []
        emit("RESULT", {**_out, "hung": True, "hung_after": seconds, "tasks": views(_hub),
                        "main_stack": "".join(stack)})
        faulthandler.dump_traceback(sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(3)

    threading.Thread(target=run, name="watchdog", daemon=True).start()


def _map(hub: fanin.Hub, fn: Any, items: list[Any], **kw: Any) -> None:
    t0 = time.monotonic()
    try:
        results = hub.map(fn, items, **kw)
        _out["results"] = [repr(r) for r in results]
        _out["failures"] = [error_info(r.error) for r in results if isinstance(r, fanin.Failure)]
    except BaseException as exc:
        _out["raised"] = error_info(exc)
    _out["map_seconds"] = time.monotonic() - t0
    _out["map_returned_at"] = time.monotonic()
    _out["tasks"] = views(hub)
    _out["snapshot_completed"] = hub.snapshot().completed


def scheduler_lost(address: str, seconds: float = 12.0) -> None:
    """Four 4 s tasks on 2 workers; READY once two run with some progress. The test then
    stops the scheduler."""
    import dask_jobs

    global _hub
    ready = threading.Event()
    watchdog(seconds, ready)
    hub = _hub = fanin.Hub(backend="dask", address=address, progress="off", flush_interval=0.02)

    def announce() -> None:
        while True:
            running = [t for t in hub.tasks() if t.status == "running" and t.completed >= 3]
            if len(running) >= 2:
                break
            time.sleep(0.02)
        before = {t.id: t.completed for t in hub.tasks()}
        _out["before"] = before
        ready.set()
        emit("READY", {"before": before, "at": time.monotonic()})

    try:
        with hub:
            threading.Thread(target=announce, daemon=True).start()
            _map(hub, dask_jobs.sleepy, [(4.0, 40)] * 4)
    except BaseException as exc:
        _out["close_raised"] = error_info(exc)
    _out["closed_at"] = time.monotonic()
    _out["tasks_after_close"] = views(hub)
    emit("RESULT", _out)


def connect(address: str, seconds: float = 12.0) -> None:
    """A hub pointed at ``address``: how long until it fails, and with what."""
    import dask_jobs

    global _hub
    watchdog(seconds)
    t0 = time.monotonic()
    try:
        with fanin.Hub(backend="dask", address=address, progress="off") as hub:
            _hub = hub
            _map(hub, dask_jobs.sleepy, [(0.1, 1)])
    except BaseException as exc:
        _out["raised"] = error_info(exc)
    _out["seconds"] = time.monotonic() - t0
    emit("RESULT", _out)  # the interpreter's exit comes after this


def unpicklable(backend: str, address: str | None, moddir: str, module: str,
                hide_from_children: bool, seconds: float = 12.0) -> None:
    """``hub.map`` of a function from ``module`` (in ``moddir``, on this process's path)."""
    global _hub
    watchdog(seconds)
    sys.path.insert(0, moddir)
    mod = __import__(module)
    if hide_from_children:  # spawn children get sys.path; the module stays in sys.modules
        sys.path.remove(moddir)
    text = io.StringIO()
    kw: dict[str, Any] = ({"address": address} if backend == "dask"
                          else {"workers": 2, "start_method": "spawn"})
    hub = _hub = fanin.Hub(backend=backend, progress="plain", summary=True, file=text, **kw)
    with hub:
        _map(hub, mod.job, [1, 2], on_error="collect")
    _out["summary"] = text.getvalue()
    emit("RESULT", _out)


def no_fanin(address: str, seconds: float = 12.0) -> None:
    """Workers (or the scheduler) cannot import fanin: what does the hub say, and when?"""
    import dask_jobs

    global _hub
    watchdog(seconds)
    t0 = time.monotonic()
    try:
        with fanin.Hub(backend="dask", address=address, progress="off") as hub:
            _hub = hub
            _map(hub, dask_jobs.sleepy, [(0.2, 2)] * 2)
    except BaseException as exc:
        _out["raised"] = error_info(exc)
    _out["seconds"] = time.monotonic() - t0
    _out["tasks"] = views(_hub)
    emit("RESULT", _out)


if __name__ == "__main__":
    name, args = sys.argv[1], json.loads(sys.argv[2])
    globals()[name](**args)
