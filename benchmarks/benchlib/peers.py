"""Case ``peers`` (issue 13): fanin against its peers, each run in a fresh process.

Runs in: the caller (orchestration, statistics) and, for every single measurement, a new
Python process (``common.run_fresh``) whose stdout and stderr are the benchmark's
pseudo-terminal: that process imports the tool, starts its pool (2 workers), runs 2 jobs of
N items with one update per item, shuts down, and reports its wall time and its own CPU
time. The workers are that process's threads or child processes.

"on" is each tool's documented pattern with its default display on a terminal:

* fanin: ``with Hub(backend=b, workers=2) as hub: hub.map(job, jobs)``, the job calling
  ``reporter.advance()`` per item (defaults: Rich view, summary table, psutil health);
* tqdm: one bar per job (``position=i``, ``update()`` per item) on a stdlib executor whose
  initializer is ``tqdm.set_lock`` with ``tqdm.get_lock()``;
* atpbar: ``for _ in atpbar(range(n), name=...)`` on a stdlib executor, inside
  ``flushing()``; processes get the reporter through ``register_reporter``;
* mpire: ``WorkerPool(n_jobs=2).map(item, items, progress_bar=True)`` over the same
  2 x N items (its progress counts finished items; ``start_method="threading"`` for
  threads).

"off" is the same 2 jobs on a stdlib ``ProcessPoolExecutor``/``ThreadPoolExecutor`` with no
progress at all. Each tool's on and off runs come in pairs whose order alternates; tools
take turns within a repetition. Overhead = median over pairs of on/off - 1 (the fastest-of
ratio min(on)/min(off) - 1 in brackets); µs/item added = median of (on - off) per item on a
worker's timeline (wall delta x workers / items). The clock covers pool start to shutdown;
the import a user's module does at its top (``from fanin import Hub``, ``from tqdm import
tqdm``, ``from mpire import WorkerPool``, ...) stays outside it for every tool alike
(reported as import ms), and whatever the tool imports lazily after that counts. A second
overhead figure adds that import to the "on" run's wall (the bare pool's import is outside
both): what a short program pays in all. (Until issue 13's third session only the
top-level module was imported before the clock: fanin's names load on first use, so its
~15 ms name import was counted and tqdm's ~30 ms, done by ``import tqdm``, was not.)

Main-process CPU is psutil's ``cpu_times()`` (user + system) of the measuring process over
that window, children excluded (thread backend: the workers are threads, so it includes the
work). A second part measures it over a whole run of 4 s with 2 process workers busy (10
µs items, one update each, as many as fit in 4 s: an item count calibrated beforehand once
made 2.2 s runs, the machine having sped up) and with 2 tasks that sleep 5 s without
moving: fanin vs the bare pool vs tqdm, as % of one core.

The fixed cost (2 jobs of 1 item) and one update's cost between items inside the workers
(``between.py``) take each cell's overhead apart: fixed + updates on the critical path
against what the cell measured.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import time
from typing import Any

from .common import median, progress_note, run_fresh
from .sizes import WORKERS

TOOLS = ("fanin", "fanin_fork", "tqdm", "atpbar", "mpire")
PROCESS_ONLY = ("fanin_fork",)  # fanin with start_method="fork": the process cells only
CPU_TOOLS = ("bare", "fanin", "tqdm")
_MODULE = {"fanin": "fanin", "fanin_fork": "fanin", "tqdm": "tqdm", "atpbar": "atpbar", "mpire": "mpire",
           "bare": "concurrent.futures"}
# The names each pattern imports at the top of a user's module (``from <module> import ...``).
_NAMES = {"fanin": ("Hub",), "fanin_fork": ("Hub",), "tqdm": ("tqdm",),
          "atpbar": ("atpbar", "find_reporter", "flushing", "register_reporter"),
          "mpire": ("WorkerPool",), "bare": ("ProcessPoolExecutor", "ThreadPoolExecutor")}


def available(tool: str) -> bool:
    return importlib.util.find_spec(_MODULE[tool]) is not None


# -- in the fresh process -------------------------------------------------------------------
def _executor(backend: str, workers: int, initializer: Any = None, initargs: tuple[Any, ...] = ()
              ) -> Any:
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    if backend == "process":
        return ProcessPoolExecutor(workers, initializer=initializer, initargs=initargs)
    return ThreadPoolExecutor(workers, initializer=initializer, initargs=initargs)


def _run_tool(tool: str, backend: str, work: list[Any], shape: str, iters: int,
              shown: list[float]) -> list[int]:
    """Run the tool's pattern; for fanin, also append what its display counted."""
    from . import work as w

    pick = {"sleep": ("bare_sleep", "fanin_sleep", "tqdm_sleep"),
            "timed": ("bare_timed", "fanin_timed", "tqdm_timed"),
            "items": ("bare_job", "fanin_job", "tqdm_job")}[shape]
    bare_fn, fanin_fn, tqdm_fn = (getattr(w, name) for name in pick)
    if tool == "bare":
        with _executor(backend, WORKERS) as ex:
            return list(ex.map(bare_fn, work))
    if tool in ("fanin", "fanin_fork"):
        import fanin

        # fanin_fork: the same with the stdlib pool's start method, to show what fanin's
        # default (forkserver: a new server process in a fresh interpreter) costs here.
        kw = {"start_method": "fork"} if tool == "fanin_fork" else {}
        with fanin.Hub(backend=backend, workers=WORKERS, **kw) as hub:
            results = hub.map(fanin_fn, work)
        shown.append(sum(t.completed for t in hub.tasks()))  # after close: every update applied
        return results  # type: ignore[return-value]
    if tool == "tqdm":
        from tqdm import tqdm

        with _executor(backend, WORKERS, tqdm.set_lock, (tqdm.get_lock(),)) as ex:
            return list(ex.map(tqdm_fn, work))
    if tool == "atpbar":
        from atpbar import find_reporter, flushing, register_reporter

        if backend == "process":
            with flushing(), _executor(backend, WORKERS, register_reporter,
                                       (find_reporter(),)) as ex:
                return list(ex.map(w.atpbar_job, work))
        with flushing(), _executor(backend, WORKERS) as ex:
            return list(ex.map(w.atpbar_job, work))
    if tool == "mpire":
        from mpire import WorkerPool

        method = multiprocessing.get_start_method() if backend == "process" else "threading"
        n = sum(items for _, items, _ in work)
        with WorkerPool(n_jobs=WORKERS, start_method=method) as pool:
            return [sum(pool.map(w.item, [iters] * n, progress_bar=True))]
    raise ValueError(f"unknown tool {tool!r}")


def child(tool: str, backend: str, jobs: int, items: int, iters: int, shape: str = "items",
          sleep_s: float = 0.0, busy_s: float = 0.0) -> dict[str, Any]:
    """One measurement (in a fresh process): the tool's pattern, or the bare pool."""
    # The stdlib executor every "off" run (and tqdm's and atpbar's "on" runs) uses is
    # imported before the clock for every tool, so no side pays it and the other not.
    import concurrent.futures  # noqa: F401

    import psutil

    from . import work as _work  # noqa: F401  (imported before the clock, like the tool)
    from .common import system_busy_s

    t = time.perf_counter()
    module = importlib.import_module(_MODULE[tool])
    for name in _NAMES[tool]:  # ``from module import name``: a lazy name loads here
        getattr(module, name)
    import_s = time.perf_counter() - t
    me = psutil.Process()
    work: list[Any] = ([(i, sleep_s) for i in range(jobs)] if shape == "sleep"
                       else [(i, busy_s, iters) for i in range(jobs)] if shape == "timed"
                       else [(i, items, iters) for i in range(jobs)])
    s0 = system_busy_s()
    c0, p0, t0 = me.cpu_times(), time.process_time(), time.perf_counter()
    shown: list[float] = []
    results = _run_tool(tool, backend, work, shape, iters, shown)
    wall = time.perf_counter() - t0
    p1, c1 = time.process_time(), me.cpu_times()
    s1 = system_busy_s()
    expected = (jobs if shape == "sleep" else sum(results) if shape == "timed"
                else jobs * items)
    own = (c1.user + c1.system + c1.children_user + c1.children_system
           - c0.user - c0.system - c0.children_user - c0.children_system)
    return {
        # Cores kept busy by anything else during the window (/proc/stat ticks, 10 ms:
        # only meaningful for runs of a second or more). Recorded, not acted on.
        "foreign_load_cores": (s1 - s0 - own) / wall if wall > 0 else None,
        "wall_s": wall,
        "import_s": import_s,
        "main_cpu_s": (c1.user + c1.system) - (c0.user + c0.system),  # psutil, 10 ms ticks
        "main_cpu_clock_s": p1 - p0,  # CLOCK_PROCESS_CPUTIME_ID, ns resolution
        "children_cpu_s": (c1.children_user + c1.children_system)
                          - (c0.children_user + c0.children_system),
        "completed": sum(results),
        "exact": sum(results) == expected and all(x == expected for x in shown),
        "start_method": multiprocessing.get_start_method(),
    }


# -- in the caller ----------------------------------------------------------------------------
def _fresh(sink: Any, tool: str, backend: str, **kw: Any) -> dict[str, Any]:
    return run_fresh("benchlib.peers:child", {"tool": tool, "backend": backend, **kw}, sink)


def _pairs(sink: Any, sizes: Any, item_us: float, iters: int, backend: str,
           tools: list[str], items: int | None = None, pairs: int | None = None
           ) -> dict[str, Any]:
    items = sizes.peers_items if items is None else items
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {t: {"on": [], "off": []} for t in tools}
    tools = [t for t in tools if backend == "process" or t not in PROCESS_ONLY]
    for rep in range(sizes.peers_pairs if pairs is None else pairs):
        for k, tool in enumerate(tools):
            order = ("off", "on") if (rep + k) % 2 == 0 else ("on", "off")
            for mode in order:
                runs[tool][mode].append(_fresh(sink, tool if mode == "on" else "bare", backend,
                                               jobs=WORKERS, items=items, iters=iters))
    per_item = 1 / items  # wall delta -> per item on a worker's timeline
    cells: dict[str, Any] = {}
    for tool in tools:
        on, off = runs[tool]["on"], runs[tool]["off"]
        won, woff = [r["wall_s"] for r in on], [r["wall_s"] for r in off]
        cells[tool] = {
            "overhead_pct": 100 * median(a / b - 1 for a, b in zip(won, woff)),
            "overhead_fastest_pct": 100 * (min(won) / min(woff) - 1),
            # the same with the tool's import in the "on" run (see the module docstring)
            "overhead_with_import_pct": 100 * median(
                (a + r["import_s"]) / b - 1 for a, r, b in zip(won, on, woff)),
            "us_per_item_added": 1e6 * per_item * median(a - b for a, b in zip(won, woff)),
            "ms_added": 1e3 * median(a - b for a, b in zip(won, woff)),
            "wall_on_s": median(won), "wall_off_s": median(woff),
            "main_cpu_on_s": median(r["main_cpu_s"] for r in on),
            "main_cpu_off_s": median(r["main_cpu_s"] for r in off),
            "main_cpu_clock_on_s": median(r["main_cpu_clock_s"] for r in on),
            "main_cpu_clock_off_s": median(r["main_cpu_clock_s"] for r in off),
            "import_ms": 1e3 * median(r["import_s"] for r in on),
            "exact": all(r["exact"] for r in on + off),
            "foreign_load_cores_max": max(r["foreign_load_cores"] or 0.0 for r in on + off),
            "runs": runs[tool],
        }
    head = _head_to_head(runs, tools)
    return {"backend": backend, "item_us": item_us, "items": items, "cells": cells,
            "vs_tqdm": head, "bare_spread_pct": _spread(runs, tools)}


def _head_to_head(runs: dict[str, dict[str, list[dict[str, Any]]]], tools: list[str]
                  ) -> dict[str, Any]:
    """Each tool's "on" run against tqdm's of the same repetition (minutes apart at most,
    one noisy run fewer than the on/off difference): median ratio - 1, and how many
    repetitions the tool was the faster one."""
    out: dict[str, Any] = {}
    if "tqdm" not in tools:
        return out
    theirs = [r["wall_s"] for r in runs["tqdm"]["on"]]
    for tool in tools:
        if tool == "tqdm":
            continue
        ours = [r["wall_s"] for r in runs[tool]["on"]]
        out[tool] = {"pct": 100 * median(a / b - 1 for a, b in zip(ours, theirs)),
                     "faster": sum(a < b for a, b in zip(ours, theirs)), "of": len(ours)}
    return out


def _spread(runs: dict[str, dict[str, list[dict[str, Any]]]], tools: list[str]) -> float:
    """How far the bare pool's own runs of the cell spread: (slowest - fastest) / median."""
    walls = [r["wall_s"] for t in tools for r in runs[t]["off"]]
    return 100 * (max(walls) - min(walls)) / median(walls) if walls else 0.0


def _whole_run_cpu(sink: Any, sizes: Any, iters: int, per_item: float) -> dict[str, Any]:
    tools = [t for t in CPU_TOOLS if available(t)]
    # Busy for a set time (not a calibrated item count): every run lasts about as long.
    shapes = {"busy": {"shape": "timed", "items": 0, "iters": iters,
                       "busy_s": sizes.peers_cpu_seconds},
              "idle": {"shape": "sleep", "items": 1, "iters": 0,
                       "sleep_s": sizes.peers_idle_seconds}}
    out: dict[str, Any] = {"busy_item_us": per_item * 1e6,
                           "busy_target_s": sizes.peers_cpu_seconds,
                           "idle_sleep_s": sizes.peers_idle_seconds}
    for name, kw in shapes.items():
        progress_note(f"peers: main CPU over a whole run, {name}, {', '.join(tools)}, "
                      f"{sizes.peers_cpu_reps} reps")
        runs: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
        for rep in range(sizes.peers_cpu_reps):
            for tool in tools[rep % len(tools):] + tools[:rep % len(tools)]:
                runs[tool].append(_fresh(sink, tool, "process", jobs=WORKERS, **kw))
        res: dict[str, Any] = {}
        for tool in tools:
            pct = [100 * r["main_cpu_s"] / r["wall_s"] for r in runs[tool]]
            pct_clock = [100 * r["main_cpu_clock_s"] / r["wall_s"] for r in runs[tool]]
            res[tool] = {"pct_core": median(pct), "pct_core_clock": median(pct_clock),
                         "wall_s": median(r["wall_s"] for r in runs[tool]),
                         "main_cpu_s": median(r["main_cpu_s"] for r in runs[tool]),
                         "main_cpu_clock_s": median(r["main_cpu_clock_s"] for r in runs[tool]),
                         "items": median(r["completed"] for r in runs[tool]),
                         "exact": all(r["exact"] for r in runs[tool]), "runs": runs[tool]}
        if "bare" in res:
            for tool in tools:
                res[tool]["above_bare_pct_core"] = res[tool]["pct_core"] - res["bare"]["pct_core"]
        out[name] = res
    return out


def run(sizes: Any) -> dict[str, Any]:
    from . import work
    from .common import PtySink
    from .endtoend import iters_for, per_item_seconds

    tools = [t for t in TOOLS if available(t)]
    missing = [t for t in TOOLS if t not in tools]
    cells: list[dict[str, Any]] = []
    with PtySink() as sink:
        calib: dict[float, tuple[int, float]] = {}
        for item_us in sorted({*sizes.peers_item_us, 10.0}):
            iters = iters_for(item_us, fn=work.spin)
            calib[item_us] = (iters, per_item_seconds(iters, fn=work.spin))
        for item_us in sizes.peers_item_us:
            iters, per_item = calib[item_us]
            for backend in ("process", "thread"):
                progress_note(f"peers: {backend}, {item_us:g} µs/item, {WORKERS} x "
                              f"{sizes.peers_items:,} items, {', '.join(tools)}, "
                              f"{sizes.peers_pairs} pairs each")
                cell = _pairs(sink, sizes, item_us, iters, backend, tools)
                cell["measured_item_us"] = per_item * 1e6
                cells.append(cell)
        fixed = {}
        for backend in ("process", "thread"):
            progress_note(f"peers: fixed cost [{backend}], {WORKERS} x 1 item, "
                          f"{', '.join(tools)}, {sizes.peers_fixed_pairs} pairs each")
            fixed[backend] = _pairs(sink, sizes, 0.0, 0, backend, tools, items=1,
                                    pairs=sizes.peers_fixed_pairs)
        from . import between

        per_update = between.run(sink, sizes, {us: calib[us][0] for us in sizes.peers_item_us},
                                 tools)
        cpu = _whole_run_cpu(sink, sizes, *calib[10.0])
        pty_bytes = sink.bytes
    return {"params": {"workers": WORKERS, "jobs": WORKERS, "items_per_job": sizes.peers_items,
                       "pairs": sizes.peers_pairs, "item_us": list(sizes.peers_item_us),
                       "tools": tools, "missing_tools": missing, "pty_bytes_drawn": pty_bytes,
                       "start_method": multiprocessing.get_start_method(),
                       "fanin_pattern": "with Hub(backend=b, workers=2) as hub: hub.map(job, "
                                        "jobs); defaults on a terminal: Rich view, summary "
                                        "table, psutil health"},
            "cells": cells, "fixed": fixed, "between_items": per_update,
            "decomposition": _decompose(cells, fixed, per_update), "whole_run_cpu": cpu}


def _decompose(cells: list[dict[str, Any]], fixed: dict[str, Any], per_update: dict[str, Any]
               ) -> list[dict[str, Any]]:
    """Each cell's measured added wall (median on - off) beside what its parts predict: the
    fixed cost (2 x 1 item) plus the per-update cost times the updates on the critical
    path (one job's items per process worker; both jobs' on one GIL)."""
    ns = {(c["backend"], c["item_us"], t): c[t]["ns"] for c in per_update["cells"]
          for t in ("fanin", "tqdm") if t in c}
    out = []
    for cell in cells:
        b, us, items = cell["backend"], cell["item_us"], cell["items"]
        serial = items * (WORKERS if b == "thread" else 1)
        for tool in ("fanin", "tqdm"):
            x, f = cell["cells"].get(tool), fixed[b]["cells"].get(tool)
            if x is None or f is None or (b, us, tool) not in ns:
                continue
            per_ms = ns[(b, us, tool)] * serial / 1e6
            out.append({"backend": b, "item_us": us, "tool": tool, "measured_ms": x["ms_added"],
                        "fixed_ms": f["ms_added"], "updates_ms": per_ms,
                        "predicted_ms": f["ms_added"] + per_ms})
    return out
