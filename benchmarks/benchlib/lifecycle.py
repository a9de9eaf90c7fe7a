"""Case ``lifecycle`` (issue 13): where a short run's time goes, phase by phase.

Runs in: the caller (orchestration) and, per measurement, a fresh Python process
(``common.run_fresh``, stderr on the benchmark's pseudo-terminal) that runs 2 jobs of N
items of 10 µs (one ``advance()`` per item) on 2 workers through public API only:
``Hub(backend=b, workers=2, file=stamps, progress="rich")``, ``hub.start()``, two
``hub.submit(...)``, ``future.result()``, ``hub.close()``. ``stamps`` is a pass-through
file around the child's stderr (a terminal) that timestamps every write, so the phases
are cut from timestamps around calls and from when the display wrote:

* ``hub_init`` ``Hub(...)``; ``hub_start`` ``start()`` (collector and render threads, Rich
  Live, psutil sampler); ``pool_start`` the first ``submit()`` (the pool starts there);
* ``first_frame``: from ``start()`` returning to the first write with visible text
  (``first_task_frame``: the first that shows a task); both are capped at the last result
  (a run shorter than a refresh period has no frame before its final one);
* ``steady``: from the first frame to the last result (frames and bytes drawn meanwhile);
  part of it overlaps ``pool_start``, which runs meanwhile;
* ``close_to_display_stopped``: from ``close()`` being called to the write that shows the
  cursor again (pool shutdown, last reports drained, the final frame drawn);
  ``summary``: from there to the last write (the summary table); ``close_rest``: from the
  last write to ``close()`` returning.

The main process's CPU (all threads, ``time.process_time``) is read at every cut too.
A separate run under ``cProfile`` covers every thread of the main process: on Python
< 3.12 one profiler per thread timed with that thread's CPU clock (blocking waits cost
nothing), from 3.12 the single all-threads profiler, which can only
use wall time (waits show as time in ``acquire``/``poll``). It is summarised by top
functions (own time; fanin's functions also cumulative) and by area (fanin module, rich, psutil,
multiprocessing, ...). Profiling slows what it measures: read it for shares, not for ms.
"""

from __future__ import annotations

import re
import time
from typing import Any

from .common import median, progress_note, run_fresh
from .sizes import WORKERS

SHOW_CURSOR = "\x1b[?25h"
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
PHASES = ("hub_init", "hub_start", "pool_start", "first_frame", "first_task_frame", "steady",
          "close_to_display_stopped", "summary", "close_rest", "total")


class StampFile:
    """A file that forwards to ``inner`` and records, for every write: start, end, length,
    whether it shows a task ("job "), whether it shows the cursor again (Rich Live
    stopped), whether it has visible text at all. A terminal when ``inner`` is."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.writes: list[tuple[float, float, int, bool, bool, bool]] = []

    def write(self, s: str) -> int:
        t0 = time.perf_counter()
        n = self.inner.write(s)
        visible = bool(_ESCAPES.sub("", s).strip())
        self.writes.append((t0, time.perf_counter(), len(s), "job " in s, SHOW_CURSOR in s,
                            visible))
        return n

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding, ...
        return getattr(self.inner, name)


# -- in the fresh process -------------------------------------------------------------------
def _short_run(backend: str, items: int, iters: int, stamps: StampFile) -> dict[str, float]:
    import fanin

    from . import work

    cut: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def mark(name: str) -> None:
        cut[name] = time.perf_counter()
        cpu[name] = time.process_time()

    mark("t0")
    hub = fanin.Hub(backend=backend, workers=WORKERS, file=stamps, progress="rich")
    mark("hub_init")
    hub.start()
    mark("hub_start")
    futures = [hub.submit(work.fanin_job, (0, items, iters))]
    mark("pool_start")
    futures.append(hub.submit(work.fanin_job, (1, items, iters)))
    results = [f.result() for f in futures]
    mark("results")
    hub.close()
    mark("closed")
    assert sum(results) == WORKERS * items
    return {**cut, **{f"cpu_{k}": v for k, v in cpu.items()}}


def _phases(cut: dict[str, float], writes: list[tuple[float, float, int, bool, bool, bool]]
            ) -> dict[str, Any]:
    started, done, closed = cut["hub_start"], cut["results"], cut["closed"]
    before_close = [w for w in writes if started <= w[0] < done]
    visible = [w for w in before_close if w[5]]
    task_frames = [w for w in before_close if w[3]]
    # No frame before the results were in (a run shorter than one refresh period): the
    # first frame is the final one, and there was no steady state.
    first = visible[0][1] if visible else done
    first_task = task_frames[0][1] if task_frames else done
    in_close = [w for w in writes if w[0] >= done]
    shown = [w for w in in_close if w[4]]
    stopped = shown[0][1] if shown else (in_close[-1][1] if in_close else done)
    last = in_close[-1][1] if in_close else stopped
    steady = [w for w in writes if first <= w[0] < done]
    ms = {
        "hub_init": cut["hub_init"] - cut["t0"],
        "hub_start": cut["hub_start"] - cut["hub_init"],
        "pool_start": cut["pool_start"] - cut["hub_start"],
        "first_frame": first - started,
        "first_task_frame": first_task - started,
        "steady": done - first,
        "close_to_display_stopped": stopped - done,
        "summary": last - stopped,
        "close_rest": closed - last,
        "total": closed - cut["t0"],
    }
    c = {
        "hub_init": cut["cpu_hub_init"] - cut["cpu_t0"],
        "hub_start": cut["cpu_hub_start"] - cut["cpu_hub_init"],
        "pool_start": cut["cpu_pool_start"] - cut["cpu_hub_start"],
        "pool_start_to_results": cut["cpu_results"] - cut["cpu_pool_start"],
        "close": cut["cpu_closed"] - cut["cpu_results"],
        "total": cut["cpu_closed"] - cut["cpu_t0"],
    }
    return {"ms": {k: 1e3 * v for k, v in ms.items()},
            "main_cpu_ms": {k: 1e3 * v for k, v in c.items()},
            "writes": len(writes), "steady_writes": len(steady),
            "frame_before_results": bool(visible),
            "steady_bytes": sum(w[2] for w in steady),
            # time inside write() only (the terminal's share of the final frame and summary)
            "final_frame_write_ms": 1e3 * sum(w[1] - w[0] for w in in_close if w[1] <= stopped),
            "summary_write_ms": 1e3 * sum(w[1] - w[0] for w in in_close if w[1] > stopped)}


def child(backend: str, items: int, iters: int) -> dict[str, Any]:
    import sys

    import fanin  # noqa: F401  (its import is not part of the run)

    stamps = StampFile(sys.stderr)
    cut = _short_run(backend, items, iters, stamps)
    return _phases(cut, stamps.writes)


def _area(filename: str) -> str:
    f = filename.replace("\\", "/")
    if "/fanin/" in f:
        return "fanin." + f.rsplit("/", 1)[-1].removesuffix(".py")
    for lib in ("rich", "psutil", "multiprocessing", "concurrent", "threading", "queue",
                "selectors", "asyncio", "benchlib"):
        if f"/{lib}/" in f or f.endswith(f"/{lib}.py"):
            return lib
    if f.startswith("~") or f.startswith("<"):
        return "builtins"
    return "other"


def child_profile(backend: str, items: int, iters: int, top: int = 15) -> dict[str, Any]:
    """The same short run under cProfile, every thread of this process."""
    import cProfile
    import pstats
    import sys
    import threading

    import fanin  # noqa: F401

    stamps = StampFile(sys.stderr)
    profiles: list[tuple[str, cProfile.Profile]] = []
    per_thread = sys.version_info < (3, 12)  # 3.12+: one profiler sees every thread

    def hook(frame: Any, event: str, arg: Any) -> None:  # first event in a new thread
        sys.setprofile(None)
        p = cProfile.Profile(_thread_clock(threading.get_ident()))
        profiles.append((threading.current_thread().name, p))
        p.enable()

    main = cProfile.Profile(time.thread_time if per_thread else time.perf_counter)
    if per_thread:
        threading.setprofile(hook)
    t0 = time.perf_counter()
    main.enable()
    try:
        _short_run(backend, items, iters, stamps)
    finally:
        main.disable()
        if per_thread:
            threading.setprofile(None)  # type: ignore[arg-type]
    wall = time.perf_counter() - t0
    for _, p in profiles:
        p.disable()
    stats = pstats.Stats(main)
    for _, p in profiles:
        stats.add(p)
    rows = []
    areas: dict[str, float] = {}
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{_short(filename)}:{line}({func})", "ncalls": ncalls,
                     "tottime_s": tottime, "cumtime_s": cumtime})
        a = _area(filename)
        areas[a] = areas.get(a, 0.0) + tottime
    by_tot = sorted(rows, key=lambda r: -r["tottime_s"])[:top]
    by_cum = sorted((r for r in rows if r["function"].startswith("fanin/")),
                    key=lambda r: -r["cumtime_s"])[:top]  # fanin's own functions, inclusive
    threads: dict[str, float] = {}
    # From 3.12 the one profiler sees every thread and cannot tell them apart.
    for name, p in [("MainThread" if per_thread else "all threads", main), *profiles]:
        s = pstats.Stats(p)
        threads[name] = threads.get(name, 0.0) + sum(v[2] for v in s.stats.values())  # type: ignore[attr-defined]
    return {"wall_s": wall, "python": sys.version.split()[0], "per_thread_profilers": per_thread,
            "timer": "thread_time (CPU)" if per_thread else "perf_counter (wall)",
            "top_tottime": by_tot, "top_cumtime": by_cum,
            "areas_tottime_s": dict(sorted(areas.items(), key=lambda kv: -kv[1])),
            "threads_tottime_s": threads}


def _thread_clock(ident: int) -> Any:
    """That thread's CPU clock, readable from any thread: a profiler disabled from the main
    thread while its own thread is still blocked (fanin's process-wide flusher) must not
    mix two threads' clocks."""
    cid = time.pthread_getcpuclockid(ident)
    last = [0.0]

    def clock() -> float:
        try:
            last[0] = time.clock_gettime(cid)
        except OSError:  # the thread has ended
            pass
        return last[0]

    return clock


def _short(filename: str) -> str:
    f = filename.replace("\\", "/")
    for key in ("/site-packages/", "/src/", "/lib/python"):
        if key in f:
            f = f.split(key, 1)[1]
            break
    return f


# -- in the caller ----------------------------------------------------------------------------
def run(sizes: Any) -> dict[str, Any]:
    from . import work
    from .common import PtySink
    from .endtoend import iters_for

    iters = iters_for(10, fn=work.spin)
    out: dict[str, Any] = {"params": {"workers": WORKERS, "jobs": WORKERS,
                                      "items_per_job": sizes.life_items, "item_us": 10,
                                      "reps": sizes.life_reps}}
    with PtySink() as sink:
        for backend in ("process", "thread"):
            progress_note(f"lifecycle: {backend}, {WORKERS} x {sizes.life_items:,} items x 10 µs, "
                          f"{sizes.life_reps} timed runs + 1 profiled")
            args = {"backend": backend, "items": sizes.life_items, "iters": iters}
            runs = [run_fresh("benchlib.lifecycle:child", args, sink)
                    for _ in range(sizes.life_reps)]
            prof = run_fresh("benchlib.lifecycle:child_profile", args, sink)
            out[backend] = {
                "ms": {p: median(r["ms"][p] for r in runs) for p in PHASES},
                "main_cpu_ms": {k: median(r["main_cpu_ms"][k] for r in runs)
                                for k in runs[0]["main_cpu_ms"]},
                "steady_writes": median(r["steady_writes"] for r in runs),
                "steady_bytes": median(r["steady_bytes"] for r in runs),
                "runs": runs,
                "profile": prof,
            }
    return out
