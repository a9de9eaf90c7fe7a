"""Case (e): many worker processes (oversubscribed) and many tasks.

Runs in: the caller, 64 fanin worker processes on however many cores there are, and a
``bench-sampler`` thread (main-process CPU and peak RSS). A RecordingView around the real
Rich view (drawing to a pseudo-terminal) stamps every frame, to compare the frame rate
with the refresh target while the state changes all the time.
"""

from __future__ import annotations

import time
from itertools import pairwise
from typing import Any

from fanin._cli.demo import Job, run_job, run_job_quiet

from .common import (
    PtySink,
    RecordingView,
    Sampler,
    fanin_rich_view,
    hub_options,
    median,
    percentile,
    progress_note,
)
from .endtoend import iters_for

SKIP = 1.0  # at most this many seconds at each end of the run stay out of the CPU window


def _run(sizes: Any, iters: int, sink: PtySink | None) -> dict[str, Any]:
    from fanin import Hub

    jobs = [Job(f"task {i + 1}", sizes.scale_items, iters) for i in range(sizes.scale_tasks)]
    view = RecordingView(fanin_rich_view(sink, "scale"), keep_rows=False) if sink else None
    kw: dict[str, Any] = {"view": view} if view else {"progress": "off"}
    t_open = time.perf_counter()
    with Hub(**hub_options(backend="process", workers=sizes.scale_workers, **kw)) as hub:
        hub.map(_noop, range(sizes.scale_workers))
        t_ready = time.perf_counter()
        # The CPU window leaves out the first dispatches and the final drain.
        expected = sizes.scale_tasks * sizes.scale_items * sizes.scale_item_us * 1e-6 / 2
        margin = min(SKIP, 0.15 * expected)
        sampler = Sampler(skip=margin, length=max(0.1, expected - 2 * margin)).start()
        t0 = time.perf_counter()
        fn = run_job if sink else run_job_quiet
        results = hub.map(fn, jobs, description=lambda j: j.name, total=lambda j: j.items)
        wall = time.perf_counter() - t0
        cpu = sampler.stop()
        snap = hub.snapshot()
        views = [t for t in hub.tasks() if t.description.startswith("task")]
    t_closed = time.perf_counter()
    expected_items = sizes.scale_tasks * sizes.scale_items
    out: dict[str, Any] = {
        "wall_s": wall,
        "pool_start_s": t_ready - t_open,
        "close_s": t_closed - t_open - (t_ready - t_open) - wall,
        "items_per_s": expected_items / wall,
        "exact_counts": (sum(results) == expected_items  # type: ignore[arg-type]
                         and (not sink or (sum(t.completed for t in views) == expected_items
                                           and sum(t.status == "done" for t in views)
                                           == sizes.scale_tasks))),
        "snapshot_counts": snap.counts,
        "rss_start_mb": sampler.rss_start / 2**20,
        "rss_peak_mb": sampler.rss_peak / 2**20,
        "main_cpu": cpu,
        "tool_pct_core": cpu["tool_pct_core"] if cpu else float("nan"),
    }
    if view is not None:
        frames = [t for t, _, _ in view.frames]
        run_frames = _frames_during(view.frames)
        gaps = [b - a for a, b in pairwise(run_frames)]
        out.update({
            "frames_total": len(frames),
            "frames_during_run": len(run_frames),
            "fps": (len(run_frames) - 1) / (run_frames[-1] - run_frames[0])
            if len(run_frames) > 1 else float("nan"),
            "refresh_hz": 10.0,
            "frame_gap_p50_ms": 1e3 * median(gaps),
            "frame_gap_p95_ms": 1e3 * percentile(gaps, 95),
            "frame_gap_max_ms": 1e3 * max(gaps) if gaps else float("nan"),
            "draw_ms_p50": 1e3 * median(view.draw_seconds),
            "draw_ms_p95": 1e3 * percentile(view.draw_seconds, 95),
            "pty_bytes": sink.bytes if sink else 0,
        })
    return out


def _frames_during(frames: list[tuple[float, dict[str, float], float]]) -> list[float]:
    """Times of the frames drawn while the overall count was moving (the run proper)."""
    return [t for (t, _, c), (_, _, c_next) in pairwise(frames) if c_next > c]


def _noop(x: int, reporter: Any) -> int:
    return x


def run(sizes: Any) -> dict[str, Any]:
    iters = iters_for(sizes.scale_item_us)
    out: dict[str, Any] = {"params": {"workers": sizes.scale_workers, "tasks": sizes.scale_tasks,
                                      "items_per_task": sizes.scale_items,
                                      "item_us": sizes.scale_item_us}}
    with PtySink() as sink:
        progress_note(f"scale: {sizes.scale_workers} processes x {sizes.scale_tasks:,} tasks "
                      f"x {sizes.scale_items} items x {sizes.scale_item_us:g} µs, live display")
        out["on"] = _run(sizes, iters, sink)
    if sizes.scale_baseline:
        progress_note("scale: the same with progress off (baseline)")
        out["off"] = _run(sizes, iters, None)
        out["overhead_pct"] = 100 * (out["on"]["wall_s"] / out["off"]["wall_s"] - 1)
    return out
