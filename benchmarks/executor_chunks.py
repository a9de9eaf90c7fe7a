"""``Executor.map`` over many tiny items, stdlib vs fanin's drop-in (issue 10, item 3).

``python benchmarks/executor_chunks.py [REPS]``

Each run is a fresh interpreter (so the fork server's start and imports count, as in a user's
script); the sides alternate and each row reports the fastest wall time and the peak RSS of
the main process (``ru_maxrss``). Cases: 20,000 tiny items on processes with
``chunksize=500``, and 200,000 tiny items on threads (the default ``chunksize``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
impl, kind, n, chunksize = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if impl == "fanin":
    import fanin as mod
else:
    import concurrent.futures as mod
cls = mod.ProcessPoolExecutor if kind == "process" else mod.ThreadPoolExecutor
t = time.perf_counter()
with cls(max_workers=2) as ex:
    out = list(ex.map(abs, range(n), chunksize=chunksize))
wall = time.perf_counter() - t
assert out == list(range(n))
print(json.dumps({"wall": wall, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CASES = [("process", 20_000, 500), ("thread", 200_000, 1)]


def run(impl: str, kind: str, n: int, chunksize: int) -> dict[str, float]:
    env = dict(os.environ, FANIN_PROGRESS="off")
    out = subprocess.run([sys.executable, "-c", CHILD, impl, kind, str(n), str(chunksize)],
                         capture_output=True, text=True, env=env, timeout=600, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print(f"{'case':34} {'stdlib':>20} {'fanin':>20}")
    for kind, n, chunksize in CASES:
        best: dict[str, dict[str, float]] = {}
        for rep in range(reps):
            order = ("stdlib", "fanin") if rep % 2 == 0 else ("fanin", "stdlib")
            for impl in order:
                r = run(impl, kind, n, chunksize)
                if impl not in best or r["wall"] < best[impl]["wall"]:
                    best[impl] = r
        cells = [f"{best[i]['wall']:.3f} s / {best[i]['rss_mb']:.0f} MB" for i in ("stdlib", "fanin")]
        print(f"{f'{kind}, {n:,} items, chunksize={chunksize}':34} {cells[0]:>20} {cells[1]:>20}")


if __name__ == "__main__":
    main()
