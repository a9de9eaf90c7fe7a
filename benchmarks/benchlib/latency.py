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
from typing import Any

from .common import PtySink, RecordingView, fanin_rich_view, median, percentile, \
    progress_note
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
    out: list[float] = []
    for task, stamps in results:
        series = [(t, rows[task]) for t, rows, _ in frames if task in rows]
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
    with Hub(backend=backend, workers=WORKERS, view=view) as hub:
        hub.map(_noop, range(WORKERS * 2))
        jobs = [(seconds / 2, i) for i in range(WORKERS * 2)]
        results = hub.map(stamped_job, jobs)
        flush, period = hub.flush_interval, 1 / hub.refresh
    lat = _latencies(view.frames, results)  # type: ignore[arg-type]
    gaps = [b[0] - a[0] for a, b in zip(view.frames, view.frames[1:])]
    ms = [x * 1e3 for x in lat]
    return {
        "samples": len(ms),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "max_ms": max(ms) if ms else float("nan"),
        "target_ms": 1e3 * (flush + period),
        "frames": len(view.frames),
        "frame_gap_p50_ms": 1e3 * median(gaps),
        "draw_ms_p50": 1e3 * median(view.draw_seconds),
        "draw_ms_p95": 1e3 * percentile(view.draw_seconds, 95),
    }


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
