"""Case (c): CPU the progress machinery costs the main process, busy and idle.

Runs in: the caller (which only waits), a ``bench-sampler`` thread that reads per-thread
CPU clocks over a window that starts after the pool is up and ends before the jobs do, and
fanin's workers. "Tool CPU" is the main process's CPU minus the main thread, the
benchmark's own threads (pty drain, sampler) and, for the thread backend, the worker
threads: i.e. fanin's collector, render, pump, flusher and queue-feeder threads, or a
peer's refresh thread. Percent of one core.
"""

from __future__ import annotations

import time
from typing import Any

from .common import (
    CpuWindow,
    PtySink,
    Sampler,
    fanin_rich_view,
    hub_options,
    median,
    progress_note,
    rich_console,
)
from .sizes import WORKERS

MARGIN = 0.3  # seconds left out at each end of an active window


def flat_out(seconds: float, reporter: Any) -> int:
    """A worker that does nothing but report: ``advance()`` as fast as it can."""
    advance = reporter.advance
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        for _ in range(1000):
            advance()
        n += 1000
    return n


def sleeper(seconds: float, reporter: Any) -> int:
    """A running task whose count never changes (a slow item)."""
    time.sleep(seconds)
    return 0


def _active(backend: str, seconds: float, sink: PtySink) -> dict[str, Any]:
    from fanin import Hub

    with Hub(**hub_options(backend=backend, workers=WORKERS,
                           view=fanin_rich_view(sink, "cpu"))) as hub:
        hub.map(sleeper, [0.0] * WORKERS)
        # Two jobs per worker, back to back, so the window also sees tasks ending/starting.
        jobs = [seconds / 2 + MARGIN] * (WORKERS * 2)
        sampler = Sampler(skip=MARGIN, length=seconds).start()
        counts = hub.map(flat_out, jobs)
        res = sampler.stop()
        exact = sum(counts) == sum(t.completed for t in hub.tasks())  # type: ignore[arg-type]
    assert res is not None
    res["updates_per_s"] = sum(counts) / (seconds + 2 * MARGIN)  # type: ignore[arg-type]
    res["exact_counts"] = exact
    return res


def _idle_empty(seconds: float, sink: PtySink) -> dict[str, Any]:
    from fanin import Hub

    with Hub(**hub_options(backend="process", workers=WORKERS,
                           view=fanin_rich_view(sink, "idle"))) as hub:
        hub.map(sleeper, [0.0] * WORKERS)  # pool up, tasks done: nothing changes from here
        hub.sync()
        time.sleep(MARGIN)
        window = CpuWindow()
        time.sleep(seconds)
        return window.stop()


def _idle_running(seconds: float, sink: PtySink) -> dict[str, Any]:
    from fanin import Hub

    with Hub(**hub_options(backend="process", workers=WORKERS,
                           view=fanin_rich_view(sink, "idle"))) as hub:
        hub.map(sleeper, [0.0] * WORKERS)
        sampler = Sampler(skip=MARGIN, length=seconds).start()
        hub.map(sleeper, [seconds + 2 * MARGIN])
        res = sampler.stop()
    assert res is not None
    return res


def _idle_rich(seconds: float, sink: PtySink) -> dict[str, Any]:
    """Peer: a Rich Progress (auto refresh, 10 Hz) showing one task that does not move."""
    from rich.progress import Progress

    with Progress(console=rich_console(sink.file)) as progress:
        progress.add_task("idle", total=100)
        time.sleep(MARGIN)
        window = CpuWindow()
        time.sleep(seconds)
        return window.stop()


def run(sizes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"params": {"active_s": sizes.cpu_active_seconds,
                                      "idle_s": sizes.cpu_idle_seconds,
                                      "reps": sizes.cpu_reps, "workers": WORKERS}}
    cases: dict[str, Any] = {}
    with PtySink() as sink:
        for backend in ("process", "thread"):
            progress_note(f"main CPU: {WORKERS} {backend} workers reporting flat out, "
                          f"{sizes.cpu_reps} x {sizes.cpu_active_seconds:g} s")
            runs = [_active(backend, sizes.cpu_active_seconds, sink)
                    for _ in range(sizes.cpu_reps)]
            cases[f"active_{backend}"] = {
                "tool_pct_core": median(r["tool_pct_core"] for r in runs),
                "updates_per_s": median(r["updates_per_s"] for r in runs),
                "exact_counts": all(r["exact_counts"] for r in runs),
                "runs": runs,
            }
        for name, fn in (("idle_no_tasks", _idle_empty), ("idle_running_unchanged", _idle_running),
                         ("peer_rich_idle", _idle_rich)):
            progress_note(f"main CPU: {name.replace('_', ' ')}, {sizes.cpu_idle_seconds:g} s")
            r = fn(sizes.cpu_idle_seconds, sink)
            cases[name] = {"tool_pct_core": r["tool_pct_core"], "runs": [r]}
    out["cases"] = cases
    return out
