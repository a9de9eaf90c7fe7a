"""CPU per task of fanin's Dask backend vs a plain ``client.map`` (issue 12, "measured cost").

Why: a task on a cluster costs the scheduler, the worker and the client some CPU besides
its own work; fanin adds one reporter per task (progress messages through the scheduler)
and its own submit/settle path. This puts numbers on that, on the same cluster in one run.

Starts a cluster with Dask's CLI (``dask scheduler`` + N ``dask worker --nthreads 1
--no-nanny``, see ``tests/dask_cluster.py``) and runs TASKS x MS ms of pure-Python CPU per
mode, the modes taking turns in each round:

* ``plain``: ``client.gather(client.map(spin_ms_plain, ...))``, no progress;
* ``fanin``: ``hub.map(spin_ms, ...)``, one task (bar) per item, one ``advance`` per ms;
* ``fanin-imap``: ``hub.imap(spin_ms_plain, ...)``, the unchanged function in chunks (one
  bar counting items), the many-small-items path.

For each: scheduler, worker (net of the work itself) and client-process CPU per task, from
psutil (user + system), and the wall time. A fanin run includes its hub's start (connect,
the cluster check) and close. The figures are rough on a shared machine: run it a few
times. Usage::

    python benchmarks/dask_cpu_per_task.py [TASKS [MS [ROUNDS [WORKERS]]]] [--attribution]

``--attribution`` adds two plain variants that each do one thing fanin's ``hub.map`` does
differently: ``submit-each`` (one ``client.submit`` per item) and ``gather-each`` (one
``client.gather`` per finished future).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import dask_jobs  # from tests/, importable on the cluster through PYTHONPATH
import distributed
from dask_cluster import DaskCLICluster

import fanin

Figures = dict[str, float]


def cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def run_mode(address: str, mode: str, tasks: int, ms: int) -> list[int]:
    items = [ms] * tasks
    if mode == "fanin":
        with fanin.Hub(backend="dask", address=address, progress="off") as hub:
            return hub.map(dask_jobs.spin_ms, items)
    if mode == "fanin-imap":
        with fanin.Hub(backend="dask", address=address, progress="off") as hub:
            return list(hub.imap(dask_jobs.spin_ms_plain, items))
    with distributed.Client(address, set_as_default=False) as client:
        fn = dask_jobs.spin_ms_plain
        if mode == "submit-each":
            return list(client.gather([client.submit(fn, ms, pure=False) for _ in items]))
        if mode == "gather-each":
            futures = client.map(fn, items, pure=False)
            return [client.gather([f])[0] for f in distributed.as_completed(futures)]
        return list(client.gather(client.map(fn, items, pure=False)))


def measure(cluster: DaskCLICluster, mode: str, tasks: int, ms: int) -> Figures:
    procs = {"scheduler": [psutil.Process(cluster.scheduler_pid)],
             "workers": [psutil.Process(p) for p in cluster.worker_pids.values()],
             "client": [psutil.Process()]}
    before = {k: sum(cpu(p) for p in ps) for k, ps in procs.items()}
    t0 = time.perf_counter()
    out = run_mode(cluster.address, mode, tasks, ms)
    wall = time.perf_counter() - t0
    assert out == [ms] * tasks, f"{mode}: wrong results"
    after = {k: sum(cpu(p) for p in ps) for k, ps in procs.items()}
    per = {k: (after[k] - before[k]) / tasks * 1000 for k in procs}  # ms per task
    per["workers"] -= ms  # net of the work
    per["wall"] = wall
    return per


def line(mode: str, r: Figures) -> str:
    return (f"{mode:11}: scheduler {r['scheduler']:.2f} ms, workers (net) {r['workers']:.2f} ms, "
            f"client {r['client']:.2f} ms per task; wall {r['wall']:.1f} s")


def main() -> None:
    attribution = "--attribution" in sys.argv
    args = [int(a) for a in sys.argv[1:] if a != "--attribution"]
    tasks, ms, rounds, workers = (args + [2000, 14, 2, 2][len(args):])[:4]
    with DaskCLICluster(workers) as cluster:
        print(f"{tasks} tasks x {ms} ms on {workers} CLI workers (--nthreads 1), "
              f"distributed {distributed.__version__}, fanin {fanin.__version__}, "
              f"Python {platform.python_version()}, {platform.system()}, "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        for mode in ("plain", "fanin", "fanin-imap"):  # warm up: imports on the workers
            measure(cluster, mode, min(tasks, 100), 1)
        modes = ["plain", "fanin", "fanin-imap",
                 *(["submit-each", "gather-each"] if attribution else [])]
        results: dict[str, list[Figures]] = {m: [] for m in modes}
        for n in range(rounds):
            order = modes[n % len(modes):] + modes[:n % len(modes)]  # no mode always first
            for mode in order:
                r = measure(cluster, mode, tasks, ms)
                results[mode].append(r)
                print("  " + line(mode, r), flush=True)
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        for mode, rs in results.items():
            med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
            print("median " + line(mode, med))


if __name__ == "__main__":
    main()
