"""Case (d): update-to-screen latency, from a worker's ``advance()`` to the frame showing it.

Runs in: fanin's workers (which busy-work for a random 1-10 ms between updates and stamp
``time.monotonic()`` -- system-wide on Linux, so comparable across processes -- right
before each ``advance()``) and the render thread (a RecordingView around the real Rich view,
drawing to a pseudo-terminal, stamps each frame after it was written). Latency of update k
of a task = first frame, written after the stamp, whose row for that task shows >= k.
Defaults throughout (flush interval 50 ms, refresh 10 Hz): the target is
p95 <= flush interval + one refresh period.
"""

from __future__ import annotations

import bisect
import random
import time
from itertools import pairwise
from typing import Any

from .common import (
    PtySink,
    RecordingView,
    fanin_rich_view,
    hub_options,
    median,
    percentile,
    progress_note,
)
from .sizes import WORKERS

TAIL = 0.25  # seconds: updates this close to a task's end are shipped by finish(), skip them


def stamped_job(args: tuple[float, int], reporter: Any) -> tuple[str, list[float]]:
    seconds, seed = args
    rng = random.Random(seed)
    clock = time.monotonic
    advance = reporter.advance
    stamps: list[float] = []
    end = clock() + seconds
    while True:
        until = clock() + rng.uniform(0.001, 0.010)
        while clock() < until:  # busy: real CPU work holds the GIL like user code does
            pass
        t = clock()
        advance()
        stamps.append(t)
        if t >= end:
            break
    return reporter.task_id, stamps


def _latencies(frames: list[tuple[float, dict[str, float], float]],
               results: list[tuple[str, list[float]]]) -> list[float]:
    """Per update: seconds from the worker's stamp to the first frame that shows it."""
    out: list[float] = []
    for task, stamps in results:
        series = [(t, rows[task]) for t, rows, _ in frames if task in rows]
        out.extend(_first_shown(series, stamps))
    return out


def _first_shown(series: list[tuple[float, float]], stamps: list[float]) -> list[float]:
    out: list[float] = []
    if not stamps:
        return out
    times = [t for t, _ in series]
    shown = [c for _, c in series]
    cutoff = stamps[-1] - TAIL
    for k, ts in enumerate(stamps, start=1):
        if ts > cutoff:
            break
        i = bisect.bisect_right(times, ts)
        while i < len(series) and shown[i] < k:
            i += 1
        if i < len(series):
            out.append(times[i] - ts)
    return out


def _one(backend: str, seconds: float, sink: PtySink) -> dict[str, Any]:
    from fanin import Hub

    view = RecordingView(fanin_rich_view(sink, f"latency {backend}"))
    applied: list[tuple[float, str, float]] = []
    with Hub(**hub_options(backend=backend, workers=WORKERS, view=view)) as hub:
        _record_applies(hub, applied)
        hub.map(_noop, range(WORKERS * 2))
        jobs = [(seconds / 2, i) for i in range(WORKERS * 2)]
        results = hub.map(stamped_job, jobs)
        flush, period = hub.flush_interval, 1 / hub.refresh
    lat = _latencies(view.frames, results)  # type: ignore[arg-type]
    # Breakdown: worker stamp -> report applied to the main process's state (flusher wait +
    # transport + collector), the rest is state -> screen (render wait + draw).
    to_state = []
    for task, stamps in results:  # type: ignore[misc]
        series = [(t, c) for t, tk, c in applied if tk == task]
        to_state.extend(_first_shown(series, stamps))
    st_ms = [x * 1e3 for x in to_state]
    gaps = [b[0] - a[0] for a, b in pairwise(view.frames)]
    ms = [x * 1e3 for x in lat]
    return {
        "samples": len(ms),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "max_ms": max(ms) if ms else float("nan"),
        "target_ms": 1e3 * (flush + period),
        "to_state_p50_ms": percentile(st_ms, 50),
        "to_state_p95_ms": percentile(st_ms, 95),
        "frames": len(view.frames),
        "frame_gap_p50_ms": 1e3 * median(gaps),
        "draw_ms_p50": 1e3 * median(view.draw_seconds),
        "draw_ms_p95": 1e3 * percentile(view.draw_seconds, 95),
    }


def _record_applies(hub: Any, applied: list[tuple[float, str, float]]) -> None:
    """Wrap the hub's state model (a private attribute: benchmark instrumentation only) so
    every applied report is stamped on the collector thread."""
    state = hub._pipeline.state  # a benchmark probe into the collector, on purpose
    apply = state.apply

    def stamped(report: Any) -> bool:
        changed = apply(report)
        if changed:
            applied.append((time.monotonic(), report.task, report.completed))
        return bool(changed)

    state.apply = stamped


def _noop(x: int, reporter: Any) -> int:
    return x


def run(sizes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"params": {"seconds_per_backend": sizes.latency_seconds,
                                      "workers": WORKERS, "flush_interval_s": 0.05,
                                      "refresh_hz": 10.0}}
    with PtySink() as sink:
        for backend in ("process", "thread"):
            progress_note(f"latency: {backend} backend, {sizes.latency_seconds:g} s")
            out[backend] = _one(backend, sizes.latency_seconds, sink)
    return out
