"""Memory kept per finished task (issue 15 item 24): ``python benchmarks/finished_memory.py [N]``.

Runs in: the caller's main thread (thread backend, no display). Counts the bytes still
allocated (tracemalloc) after N finished sub-tasks and after a map of N items, divided by N.
Done tasks beyond the newest ``KEEP_DONE`` fold into the counts, so the figure falls as N
grows (the kept rows are a fixed cost). Measured on the shared 2-core VM, N = 10,000:
61 bytes per sub-task and 54 per map item (was 1,321 and 1,320); N = 100,000: 6 and 6.
tests/test_reliability2.py asserts under 200.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Callable

import fanin


def _count(n: int, progress: fanin.Reporter) -> int:
    for _ in range(n):
        progress.advance()
    return n


def _subtasks(hub: fanin.Hub, n: int) -> None:
    parent = hub.reporter(f"parent of {n}")
    for i in range(n):
        sub = parent.task(f"sub {i}", total=1)
        sub.advance()
        sub.finish()
    parent.finish()


def _map_items(hub: fanin.Hub, n: int) -> None:
    hub.map(_count, [1] * n)


def per_task(run: Callable[[fanin.Hub, int], None], n: int) -> float:
    with fanin.Hub(backend="thread", workers=2, progress="off", health=False) as hub:
        run(hub, 100)  # warm up: pools, caches
        hub.sync()
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            run(hub, n)
            hub.sync()
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    return (after - before) / n


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 10_000
    for name, run in (("sub-tasks", _subtasks), ("map items", _map_items)):
        print(f"{n:,} {name}: {per_task(run, n):,.0f} bytes kept per finished task")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
