"""A/B of fanin source trees (or of one tree under different environments), fresh processes.

``python benchmarks/ab_trees.py TREE[@VAR=value],...|bare REPS BACKEND ITEMS``

Each TREE is a directory holding ``src/fanin`` (e.g. ``git archive <commit> src | tar -x -C
/tmp/t1``); ``@FANIN_LIVE=rich`` runs that tree with a variable set; ``bare`` is the stdlib
pool without progress. Per repetition every variant runs once, in an order that reverses every
other repetition, as the ``peers`` case's child (2 jobs of ITEMS items of 10 µs, one
``advance()`` each, drawing to the benchmark's pseudo-terminal). Prints the median and fastest
wall time and main-process CPU (ns clock) per variant. This is how each issue-13 lever was
measured on its own (README, Performance): on a shared machine only the comparison within one
invocation means anything.
"""

from __future__ import annotations

import compileall
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import common, work
from benchlib.common import PtySink, run_fresh
from benchlib.endtoend import iters_for


def main(argv: list[str]) -> int:
    variants, reps, backend, items = argv[0].split(","), int(argv[1]), argv[2], int(argv[3])
    trees = [v.partition("@")[0] for v in variants if v != "bare"]
    if not trees:
        raise SystemExit("give at least one source tree")
    for tree in trees:
        compileall.compile_dir(str(Path(tree) / "src" / "fanin"), quiet=1)
    compileall.compile_dir(str(common.BENCH_DIR / "benchlib"), quiet=1)
    common._COMPILED.append(True)  # the trees' .pyc are written above, not the installed fanin's
    iters = iters_for(10, fn=work.spin)
    res: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
    with PtySink() as sink:
        for rep in range(reps):
            for v in (variants if rep % 2 == 0 else variants[::-1]):
                tree, _, env = v.partition("@")
                os.environ.pop("FANIN_LIVE", None)
                if env:
                    key, _, value = env.partition("=")
                    os.environ[key] = value
                os.environ["PYTHONPATH"] = str(Path(trees[0] if v == "bare" else tree) / "src")
                out = run_fresh("benchlib.peers:child", {
                    "tool": "bare" if v == "bare" else "fanin", "backend": backend, "jobs": 2,
                    "items": items, "iters": iters}, sink)
                res[v].append((out["wall_s"] * 1e3, out["main_cpu_clock_s"] * 1e3))
    for v, runs in res.items():
        wall, cpu = [w for w, _ in runs], [c for _, c in runs]
        print(f"{v:40s} wall ms median {statistics.median(wall):7.1f} fastest {min(wall):7.1f}"
              f"   main CPU ms median {statistics.median(cpu):6.1f} least {min(cpu):6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
