"""Case (b): end-to-end wall-time overhead of live progress on a CPU-bound job.

Runs in: the caller (timing), fanin's worker threads/processes, and a
``concurrent.futures`` pool for the peer (tqdm, one bar per job with ``position=i``, the
pattern tqdm documents for multiprocessing). Each display draws to the same real
pseudo-terminal. Pools are started and warmed before the clock starts, so the figures are
the cost of the work plus the progress machinery, not of forking.

For every item cost, one repetition runs four variants back to back in rotating order:
fanin with its Rich display vs the same Hub with progress off running the same job without
reporting (what ``fanin demo --no-progress`` does), and tqdm vs the same pool without tqdm.
A timed run during which the rest of the machine kept more than FOREIGN_LIMIT cores busy
(from ``/proc/stat`` minus our own processes' CPU) is run again, up to ATTEMPTS times.
Overheads are medians over repetitions of the per-repetition ratio, of wall time (the
target) and of total CPU time (main process + workers, which other load on a shared
machine disturbs less).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from fanin._cli.demo import Job, run_job, run_job_quiet, spin

from .common import (
    PtySink,
    fanin_rich_view,
    hub_options,
    median,
    proc_cpu_s,
    progress_note,
    system_busy_s,
)
from .sizes import WORKERS

JOBS_PER_WORKER = 2  # 4 jobs on 2 workers: each bar lives about as long as the run
FOREIGN_LIMIT = 0.10  # cores of other load during a timed run before it is run again
ATTEMPTS = 3


def per_item_seconds(iters: int, budget: float = 0.05, fn: Callable[[int], Any] = spin) -> float:
    """CPU cost of one ``spin(iters)`` call, call overhead included.

    Thread CPU time, not wall time: other load on a shared machine must not shrink the
    items (a wall-clock calibration under load once turned 100 µs items into 16 µs ones).
    """
    k = 1000
    while True:
        t0 = time.thread_time()
        for _ in range(k):
            fn(iters)
        dt = time.thread_time() - t0
        if dt >= budget or k >= 1 << 24:
            return dt / k
        k *= 4


def iters_for(item_us: float, fn: Callable[[int], Any] = spin) -> int:
    """Spin iterations whose call takes about ``item_us`` (calibrated twice: CPUs warm up)."""
    if item_us <= 0:
        return 0
    iters = 1000
    for _ in range(2):
        iters = max(1, round(iters * item_us * 1e-6 / per_item_seconds(iters, fn=fn)))
    return iters


def _warm(x: int, reporter: Any = None) -> int:
    return x


def tqdm_job(args: tuple[int, int, int, str | None]) -> int:
    """The peer's job: one tqdm bar at ``position=idx`` on the pty, or no bar at all."""
    idx, items, iters, path = args
    if path is None:
        for _ in range(items):
            spin(iters)
        return items
    from tqdm import tqdm

    with open(path, "w", encoding="utf-8") as f:
        bar = tqdm(total=items, position=idx, file=f, desc=f"job {idx + 1}", leave=True)
        update = bar.update
        for _ in range(items):
            spin(iters)
            update()
        bar.close()
    return items


def _cpu(pids: list[int]) -> float:
    """CPU seconds of this process plus the given worker processes."""
    return time.process_time() + sum(proc_cpu_s(p) for p in pids)


def _fanin(backend: str, jobs: list[Job], sink: PtySink | None) -> tuple[float, float, float, bool]:
    from fanin import Hub

    kw: dict[str, Any] = ({"view": fanin_rich_view(sink, f"bench {backend}")} if sink
                          else {"progress": "off"})
    with Hub(**hub_options(backend=backend, workers=WORKERS, **kw)) as hub:
        hub.map(_warm, range(WORKERS * 2))
        fn = run_job if sink else run_job_quiet
        pids = hub.worker_pids
        c0, s0, t0 = _cpu(pids), system_busy_s(), time.perf_counter()
        results = hub.map(fn, jobs, description=lambda j: j.name, total=lambda j: j.items)
        wall, cpu = time.perf_counter() - t0, _cpu(pids) - c0
        foreign = (system_busy_s() - s0 - cpu) / wall
        expected = sum(j.items for j in jobs)
        exact = sum(results) == expected  # type: ignore[arg-type]
        if sink:
            done = [t for t in hub.tasks() if t.description.startswith("job")]
            exact = exact and sum(t.completed for t in done) == expected
    return wall, cpu, foreign, exact


def _executor(backend: str, with_tqdm: bool) -> Executor:
    if backend == "thread":
        return ThreadPoolExecutor(WORKERS)
    if with_tqdm:
        from tqdm import tqdm

        # tqdm's documented recipe: share its write lock with the pool's processes.
        return ProcessPoolExecutor(WORKERS, initializer=tqdm.set_lock,
                                   initargs=(tqdm.get_lock(),))
    return ProcessPoolExecutor(WORKERS)


def _tqdm(backend: str, jobs: list[Job], sink: PtySink | None) -> tuple[float, float, float, bool]:
    with _executor(backend, sink is not None) as ex:
        list(ex.map(_warm, range(WORKERS * 2)))
        args = [(i, j.items, j.iters, sink.path if sink else None) for i, j in enumerate(jobs)]
        pids = list(getattr(ex, "_processes", None) or {})
        c0, s0, t0 = _cpu(pids), system_busy_s(), time.perf_counter()
        results = list(ex.map(tqdm_job, args))
        wall, cpu = time.perf_counter() - t0, _cpu(pids) - c0
        foreign = (system_busy_s() - s0 - cpu) / wall
    return wall, cpu, foreign, sum(results) == sum(j.items for j in jobs)


VARIANTS = ("fanin_off", "fanin_on", "tqdm_off", "tqdm_on")


def run(sizes: Any) -> dict[str, Any]:
    cells: list[dict[str, Any]] = []
    with PtySink() as sink:
        for item_us in sizes.e2e_item_us:
            iters = iters_for(item_us)
            per_item = per_item_seconds(iters)
            njobs = WORKERS * JOBS_PER_WORKER
            items = max(10, round(sizes.e2e_seconds * WORKERS / njobs / per_item))
            jobs = [Job(f"job {i + 1}", items, iters) for i in range(njobs)]
            for backend in ("thread", "process"):
                progress_note(f"end to end: {backend} backend, {item_us:g} µs/item, "
                              f"{njobs} jobs x {items:,} items, {sizes.e2e_reps} reps")
                walls: dict[str, list[float]] = {v: [] for v in VARIANTS}
                cpus: dict[str, list[float]] = {v: [] for v in VARIANTS}
                foreigns: list[float] = []
                redone = 0
                exact = True
                for rep in range(sizes.e2e_reps):
                    order = VARIANTS[rep % 4:] + VARIANTS[:rep % 4]
                    for v in order:
                        tool, mode = v.split("_")
                        fn = _fanin if tool == "fanin" else _tqdm
                        for _ in range(ATTEMPTS):  # redo runs that other load disturbed
                            wall, cpu, foreign, ok = fn(backend, jobs,
                                                        sink if mode == "on" else None)
                            if not foreign > FOREIGN_LIMIT:
                                break
                            redone += 1
                        walls[v].append(wall)
                        cpus[v].append(cpu)
                        foreigns.append(foreign)
                        exact = exact and ok
                reps = range(sizes.e2e_reps)
                fanin_ovh = [walls["fanin_on"][i] / walls["fanin_off"][i] - 1 for i in reps]
                tqdm_ovh = [walls["tqdm_on"][i] / walls["tqdm_off"][i] - 1 for i in reps]
                vs_peer = [walls["fanin_on"][i] / walls["tqdm_on"][i] for i in reps]
                fanin_cpu = [cpus["fanin_on"][i] / cpus["fanin_off"][i] - 1 for i in reps]
                tqdm_cpu = [cpus["tqdm_on"][i] / cpus["tqdm_off"][i] - 1 for i in reps]
                cells.append({
                    "backend": backend,
                    "item_us": item_us,
                    "measured_item_us": per_item * 1e6,
                    "jobs": njobs,
                    "items_per_job": items,
                    "walls_s": walls,
                    "median_wall_s": {v: median(w) for v, w in walls.items()},
                    "fanin_overhead_pct": 100 * median(fanin_ovh),
                    "tqdm_overhead_pct": 100 * median(tqdm_ovh),
                    "fanin_vs_tqdm_wall": median(vs_peer),
                    # Total CPU (main process + workers): steadier than wall on a busy box.
                    "cpu_s": cpus,
                    "fanin_cpu_overhead_pct": 100 * median(fanin_cpu),
                    "tqdm_cpu_overhead_pct": 100 * median(tqdm_cpu),
                    "fanin_overhead_runs_pct": [100 * x for x in fanin_ovh],
                    # Best-of-reps ratio: other load only ever adds time, so minima are the
                    # classic robust estimate on a shared machine (the targets use medians).
                    "fanin_overhead_min_pct": 100 * (min(walls["fanin_on"])
                                                     / min(walls["fanin_off"]) - 1),
                    "tqdm_overhead_min_pct": 100 * (min(walls["tqdm_on"])
                                                    / min(walls["tqdm_off"]) - 1),
                    "tqdm_overhead_runs_pct": [100 * x for x in tqdm_ovh],
                    "exact_counts": exact,
                    # Other load seen by the kept runs (cores), and runs redone because of it.
                    "foreign_load_cores_max": max(foreigns),
                    "foreign_load_cores_median": median(foreigns),
                    "runs_redone_for_load": redone,
                })
        pty_bytes = sink.bytes
    return {"params": {"workers": WORKERS, "reps": sizes.e2e_reps,
                       "target_cpu_s_per_run": sizes.e2e_seconds,
                       "pty_bytes_drawn": pty_bytes}, "cells": cells}
