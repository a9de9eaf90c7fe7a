"""Part of case ``peers`` (issue 13): what one update costs between real items, in a worker.

Runs in: the caller (statistics) and, per measurement, a fresh Python process whose stderr
is the benchmark's pseudo-terminal: it runs the tool's pattern (fanin ``Hub.map`` with
``advance()``; tqdm, a bar per worker on a stdlib executor) on 2 workers, each job
alternating blocks of items without updates and blocks with one update after each item
(``work._alternating``), the display live all along.

Why: the peers table's wall overhead is a difference of two whole runs, each in a fresh
process: on this machine two such runs of the same work differ by 10-50 %, more than what
either tool adds, and a run's figure mixes the fixed cost (start, close) with the per-item
one. Here each pair of blocks runs in the same worker a few ms apart, so what moves both
cancels: the median over pairs of (with - without) / items is the update's own cost, as
the work pays it, flushes, GIL hand-offs and the display's share of the cores included.
Thread workers share one GIL, so a block's wall also holds the other worker's turns; for
them the thread's own CPU time is the figure (``cpu``), the wall one is shown beside it.
"""

from __future__ import annotations

from typing import Any

from .common import median, progress_note, run_fresh
from .sizes import WORKERS

TOOLS = ("fanin", "tqdm")


def child(tool: str, backend: str, iters: int, pairs: int, per: int) -> dict[str, Any]:
    """In the fresh process: the tool's pattern, every job alternating blocks."""
    import concurrent.futures as cf

    from . import work

    jobs = [(i, iters, pairs, per) for i in range(WORKERS)]
    if tool == "fanin":
        import fanin

        with fanin.Hub(backend=backend, workers=WORKERS) as hub:
            res = hub.map(work.between_fanin, jobs)
    else:
        from tqdm import tqdm

        pool = cf.ProcessPoolExecutor if backend == "process" else cf.ThreadPoolExecutor
        with pool(WORKERS, initializer=tqdm.set_lock, initargs=(tqdm.get_lock(),)) as ex:
            res = list(ex.map(work.between_tqdm, jobs))
    return {"pairs": [pair for job in res for pair in job]}


def run(sink: Any, sizes: Any, iters_by_us: dict[float, int], tools: list[str]) -> dict[str, Any]:
    """ns per update, per tool, backend and item size (median over every pair of blocks)."""
    out: dict[str, Any] = {"pairs_per_job": sizes.between_pairs, "reps": sizes.between_reps,
                           "block_ms": sizes.between_block_ms, "cells": []}
    tools = [t for t in TOOLS if t in tools]
    for item_us, iters in sorted(iters_by_us.items()):
        per = max(10, round(sizes.between_block_ms * 1e3 / max(item_us, 0.1)))
        for backend in ("process", "thread"):
            progress_note(f"peers: one update between {item_us:g} µs items [{backend}], "
                          f"{', '.join(tools)}, {sizes.between_reps} runs x {WORKERS} x "
                          f"{sizes.between_pairs} pairs of {per:,}-item blocks")
            pairs: dict[str, list[list[float]]] = {t: [] for t in tools}
            for rep in range(sizes.between_reps):
                for tool in tools if rep % 2 == 0 else tools[::-1]:
                    pairs[tool] += run_fresh("benchlib.between:child", {
                        "tool": tool, "backend": backend, "iters": iters,
                        "pairs": sizes.between_pairs, "per": per}, sink)["pairs"]
            cell: dict[str, Any] = {"backend": backend, "item_us": item_us, "per": per}
            for tool in tools:
                p = pairs[tool]
                cell[tool] = {
                    "ns_wall": 1e9 * median((on - off) / per for off, on, _, _ in p),
                    "ns_cpu": 1e9 * median((on - off) / per for _, _, off, on in p),
                    "block_ms": 1e3 * median(off for off, _, _, _ in p),
                    "n": len(p)}
                x = cell[tool]
                x["ns"] = x["ns_cpu"] if backend == "thread" else x["ns_wall"]
            out["cells"].append(cell)
    return out
