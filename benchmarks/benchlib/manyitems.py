"""Case ``many_items`` (issue 14): an unchanged function over many small items, 2 processes.

Runs in: the caller (orchestration) and, for every measurement, a fresh Python process
(``common.run_fresh``, stdout/stderr on the benchmark's pseudo-terminal) that builds the
item list, then times one call from pool start to shutdown:

* ``stdlib``: ``with ProcessPoolExecutor(2) as ex: list(ex.map(f, items, chunksize=c))``;
* ``tqdm``: ``tqdm.contrib.concurrent.process_map(f, items, max_workers=2, chunksize=c)``;
* ``mpire``: ``WorkerPool(n_jobs=2).map(f, items, progress_bar=True, chunk_size=c)``;
* ``fanin``: ``fanin.process_map(f, items, chunksize=c)`` (2 workers) when this fanin has
  it; otherwise the per-item shape ``Hub(backend="process", workers=2).map(f_rep, items)``
  (one pool job and one task per item, no chunk size), marked as such, and skipped above
  ``many_per_item_max_n`` items (far too slow);
* ``fanin_old`` (its own row, ``many_old_n`` x 0 µs only): that per-item shape on purpose,
  next to the stdlib at the same size.

``f`` is ``functools.partial(work.many_item, iters)``; every tool's results are hashed and
checked equal to the stdlib's. The chunk size is the same for every tool that takes one:
``ceil(n / (4 * workers))`` (multiprocessing.Pool's heuristic). Main-process CPU is psutil's
``cpu_times()`` of the measuring process over the call, children excluded, as % of a core
and minus the stdlib's. Tools take turns in a rotating order within each repetition.
"""

from __future__ import annotations

import importlib.util
import math
import multiprocessing
import time
from typing import Any

from .common import median, progress_note, run_fresh
from .sizes import WORKERS

TOOLS = ("stdlib", "fanin", "tqdm", "mpire")
_MODULE = {"stdlib": "concurrent.futures", "fanin": "fanin", "fanin_old": "fanin",
           "tqdm": "tqdm.contrib.concurrent", "mpire": "mpire"}


def default_chunksize(n: int, workers: int = WORKERS) -> int:
    return max(1, math.ceil(n / (4 * workers)))


def available(tool: str) -> bool:
    return importlib.util.find_spec(_MODULE[tool].split(".")[0]) is not None


def fanin_one_liner() -> bool:
    """Whether the fanin being measured has ``fanin.process_map`` (issue 14)."""
    import fanin

    return hasattr(fanin, "process_map")


# -- in the fresh process -------------------------------------------------------------------
def _fanin_process_map(fn: Any, items: list[int], chunksize: int) -> tuple[list[Any], str]:
    import inspect

    import fanin

    params = inspect.signature(fanin.process_map).parameters
    kw: dict[str, Any] = {}
    for name in ("workers", "max_workers", "n_workers"):
        if name in params:
            kw[name] = WORKERS
            break
    for name in ("chunksize", "chunk_size"):
        if name in params:
            kw[name] = chunksize
            break
    shape = "fanin.process_map(" + ", ".join(["fn", "items", *(f"{k}={v}" for k, v in kw.items())]) + ")"
    return list(fanin.process_map(fn, items, **kw)), shape


def _hub_per_item(jobs: list[tuple[int, int]]) -> list[Any]:
    import fanin

    from . import work

    with fanin.Hub(backend="process", workers=WORKERS) as hub:
        return hub.map(work.many_item_rep, jobs)


def child(tool: str, n: int, iters: int, chunksize: int) -> dict[str, Any]:
    """One timed call (in a fresh process); returns wall, main CPU and a hash of results."""
    import functools
    import hashlib
    from array import array

    import psutil

    from . import work

    t = time.perf_counter()
    importlib.import_module(_MODULE[tool])
    import_s = time.perf_counter() - t
    fn = functools.partial(work.many_item, iters)
    items = list(range(n))
    per_item = tool == "fanin_old" or (tool == "fanin" and not fanin_one_liner())
    jobs = [(iters, x) for x in items] if per_item else []
    shape = ""
    me = psutil.Process()
    c0, p0, t0 = me.cpu_times(), time.process_time(), time.perf_counter()
    if tool == "stdlib":
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(WORKERS) as ex:
            results = list(ex.map(fn, items, chunksize=chunksize))
    elif tool == "tqdm":
        from tqdm.contrib.concurrent import process_map

        results = process_map(fn, items, max_workers=WORKERS, chunksize=chunksize)
    elif tool == "mpire":
        from mpire import WorkerPool

        with WorkerPool(n_jobs=WORKERS, start_method=multiprocessing.get_start_method()) as pool:
            results = pool.map(fn, items, progress_bar=True, chunk_size=chunksize)
    elif tool == "fanin" and not per_item:
        results, shape = _fanin_process_map(fn, items, chunksize)
    elif per_item:
        results = _hub_per_item(jobs)
        shape = "Hub(backend='process').map(fn(item, reporter), items)"
    else:
        raise ValueError(f"unknown tool {tool!r}")
    wall = time.perf_counter() - t0
    p1, c1 = time.process_time(), me.cpu_times()
    digest = hashlib.sha1(array("q", [int(r) for r in results]).tobytes()).hexdigest()
    return {"wall_s": wall, "import_s": import_s,
            "main_cpu_s": (c1.user + c1.system) - (c0.user + c0.system),
            "main_cpu_clock_s": p1 - p0,
            "results": len(results), "sha1": digest, "shape": shape}


# -- in the caller ----------------------------------------------------------------------------
def _summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    walls = [r["wall_s"] for r in runs]
    pct = [100 * r["main_cpu_s"] / r["wall_s"] for r in runs]
    return {"wall_s": median(walls), "wall_min_s": min(walls), "main_cpu_s":
            median(r["main_cpu_s"] for r in runs), "main_cpu_pct_core": median(pct),
            "import_ms": 1e3 * median(r["import_s"] for r in runs),
            "sha1": runs[0]["sha1"], "results": runs[0]["results"],
            "shape": runs[0]["shape"], "runs": runs}


def _cell(sink: Any, n: int, item_us: float, iters: int, reps: int, tools: list[str],
          one_liner: bool, max_per_item: int) -> dict[str, Any]:
    c = default_chunksize(n)
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
    notes: dict[str, str] = {}
    plan = list(tools)
    if "fanin" in plan and not one_liner:
        if n > max_per_item:
            plan.remove("fanin")
            notes["fanin"] = ("skipped: no fanin.process_map in this tree, and the per-item "
                              + (f"fallback is too slow above {max_per_item:,} items"
                                 if max_per_item else "fallback is not run in this mode")
                              + " (see the old-shape row)")
        else:
            notes["fanin"] = ("fallback: no fanin.process_map in this tree; Hub.map per item "
                              "(one job and task per item, no chunk size), 1 rep")
    for rep in range(reps):
        for tool in plan[rep % len(plan):] + plan[:rep % len(plan)]:
            if tool == "fanin" and not one_liner and rep > 0:
                continue  # the per-item fallback takes seconds per run: once is enough
            runs[tool].append(run_fresh("benchlib.manyitems:child",
                                        {"tool": tool, "n": n, "iters": iters,
                                         "chunksize": c}, sink))
    rows = {t: _summarise(r) for t, r in runs.items() if r}
    base = rows.get("stdlib")
    for tool, row in rows.items():
        row["note"] = notes.get(tool, "")
        row["chunksize"] = c if (tool != "fanin" or one_liner) else None
        if base:
            row["vs_stdlib_wall"] = row["wall_s"] / base["wall_s"]
            row["vs_stdlib_wall_min"] = row["wall_min_s"] / base["wall_min_s"]
            row["main_cpu_above_stdlib_pct_core"] = (row["main_cpu_pct_core"]
                                                     - base["main_cpu_pct_core"])
            row["results_equal"] = row["sha1"] == base["sha1"] and row["results"] == n
    for tool, why in notes.items():
        if tool not in rows:
            rows[tool] = {"note": why, "skipped": True, "tag": "skipped"}
        else:
            rows[tool]["tag"] = "per-item fallback"
    return {"n": n, "item_us": item_us, "chunksize": c, "rows": rows}


def run(sizes: Any) -> dict[str, Any]:
    from . import work
    from .common import PtySink
    from .endtoend import iters_for, per_item_seconds

    tools = [t for t in TOOLS if available(t)]
    one_liner = fanin_one_liner()
    cells: list[dict[str, Any]] = []
    calib: dict[float, tuple[int, float]] = {}
    for _, item_us in sizes.many_cells:
        if item_us not in calib:
            iters = iters_for(item_us, fn=work.spin)
            calib[item_us] = (iters, per_item_seconds(iters, fn=work.spin) * 1e6)
    with PtySink() as sink:
        for n, item_us in sizes.many_cells:
            iters, measured = calib[item_us]
            progress_note(f"many items: {n:,} x {item_us:g} µs, {', '.join(tools)}, "
                          f"chunksize {default_chunksize(n)}, {sizes.many_reps} reps"
                          + ("" if one_liner else " (no fanin.process_map: per-item fallback)"))
            cell = _cell(sink, n, item_us, iters, sizes.many_reps, tools, one_liner,
                         sizes.many_per_item_max_n)
            cell["measured_item_us"] = measured
            cells.append(cell)
        n_old = sizes.many_old_n
        progress_note(f"many items: old shape, hub.map of {n_old:,} one-item jobs x 0 µs")
        old = _cell(sink, n_old, 0.0, 0, 1, ["stdlib", "fanin_old"], True, n_old)
        old["rows"]["fanin_old"]["note"] = ("old shape: Hub(backend='process').map(fn(item, "
                                            "reporter), items), one job and task per item")
        old["rows"]["fanin_old"]["chunksize"] = None
        old["rows"]["fanin_old"]["tag"] = "old shape"
        pty_bytes = sink.bytes
    return {"params": {"workers": WORKERS, "reps": sizes.many_reps,
                       "cells": [list(c) for c in sizes.many_cells], "tools": tools,
                       "fanin_process_map": one_liner,
                       "chunksize_rule": "ceil(n / (4 * workers))",
                       "start_method": multiprocessing.get_start_method(),
                       "pty_bytes_drawn": pty_bytes},
            "cells": cells, "old_shape": old}
