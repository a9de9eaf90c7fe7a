"""Case (a): one thread's hot loop, nanoseconds per update, net of a bare ``for`` loop.

Runs in: the caller's main thread (peers: tqdm, Rich, bare loop, no-op call) and inside a
fanin worker thread / worker process (fanin's reporter, with the same bare loop and no-op
call measured right there, so each net figure has its own baseline). Every display is live
and drawing to a pseudo-terminal while it is measured.
"""

from __future__ import annotations

import time
from typing import Any

from .common import PtySink, fanin_rich_view, hub_options, median, progress_note, rich_console

perf = time.perf_counter_ns


class _Noop:
    __slots__ = ("_n",)

    def noop(self) -> None:
        pass


# Each loop is its own function so that every case pays exactly the same loop overhead.
def loop_bare(n: int) -> float:
    r = range(n)
    t0 = perf()
    for _ in r:
        pass
    return (perf() - t0) / n


def loop_noop(n: int) -> float:
    o = _Noop()
    r = range(n)
    t0 = perf()
    for _ in r:
        o.noop()
    return (perf() - t0) / n


def loop_fanin_advance(rep: Any, n: int) -> float:
    r = range(n)
    t0 = perf()
    for _ in r:
        rep.advance()
    return (perf() - t0) / n


def loop_fanin_track(rep: Any, n: int) -> float:
    r = range(n)
    t0 = perf()
    for _ in rep.track(r):
        pass
    return (perf() - t0) / n


def loop_tqdm_update(bar: Any, n: int) -> float:
    r = range(n)
    t0 = perf()
    for _ in r:
        bar.update(1)
    return (perf() - t0) / n


def loop_tqdm_iter(file: Any, n: int) -> float:
    from tqdm import tqdm

    r = range(n)
    t0 = perf()
    for _ in tqdm(r, file=file):
        pass
    return (perf() - t0) / n


def loop_rich_advance(progress: Any, task: Any, n: int) -> float:
    r = range(n)
    t0 = perf()
    for _ in r:
        progress.advance(task)
    return (perf() - t0) / n


def loop_rich_track(console: Any, n: int) -> float:
    from rich.progress import track

    r = range(n)
    t0 = perf()
    for _ in track(r, console=console):
        pass
    return (perf() - t0) / n


def fanin_worker(args: tuple[int, int], reporter: Any) -> dict[str, list[float]]:
    """Runs as a fanin task (worker thread or worker process): all rounds, own baselines."""
    n, reps = args
    out: dict[str, list[float]] = {"bare": [], "noop": [], "advance": [], "track": []}
    reporter.start(total=None)
    for _ in range(reps):
        out["bare"].append(loop_bare(n))
        out["noop"].append(loop_noop(n))
        out["advance"].append(loop_fanin_advance(reporter, n))
        out["track"].append(loop_fanin_track(reporter, n))
    return out


def _peers(n: int, reps: int, sink: PtySink) -> dict[str, list[float]]:
    from rich.progress import Progress
    from tqdm import tqdm

    out: dict[str, list[float]] = {k: [] for k in (
        "bare", "noop", "tqdm_update", "tqdm_iter", "rich_advance", "rich_track")}
    rich_n = max(1000, n // 4)  # Rich's advance costs ~1 µs: fewer iterations, same accuracy
    for _ in range(reps):
        out["bare"].append(loop_bare(n))
        out["noop"].append(loop_noop(n))
        with tqdm(total=n, file=sink.file) as bar:
            out["tqdm_update"].append(loop_tqdm_update(bar, n))
        out["tqdm_iter"].append(loop_tqdm_iter(sink.file, n))
        console = rich_console(sink.file)
        with Progress(console=console) as progress:  # live display, auto refresh at 10 Hz
            task = progress.add_task("rich", total=rich_n)
            out["rich_advance"].append(loop_rich_advance(progress, task, rich_n))
        out["rich_track"].append(loop_rich_track(console, n))
    return out


def run(sizes: Any) -> dict[str, Any]:
    from fanin import Hub

    n, reps = sizes.hot_n, sizes.hot_reps
    runs: dict[str, dict[str, list[float]]] = {}
    with PtySink() as sink:
        progress_note(f"hot loop: peers in the main thread ({reps} rounds x {n:,})")
        runs["main"] = _peers(n, reps, sink)
        for backend in ("thread", "process"):
            progress_note(f"hot loop: fanin reporter in a worker {backend}")
            with Hub(**hub_options(backend=backend, workers=1,
                                   view=fanin_rich_view(sink, "hot loop"))) as hub:
                (res,) = hub.map(fanin_worker, [(n, reps)])
            runs[backend] = res  # type: ignore[assignment]

    med = {ctx: {k: median(v) for k, v in d.items()} for ctx, d in runs.items()}

    def net(ctx: str, key: str) -> float:
        return med[ctx][key] - med[ctx]["bare"]

    rows: dict[str, dict[str, Any]] = {}
    for key, label in (("bare", "bare for loop"), ("noop", "no-op method call"),
                       ("tqdm_update", "tqdm bar.update(1)"), ("tqdm_iter", "tqdm iterator"),
                       ("rich_advance", "rich progress.advance (live)"),
                       ("rich_track", "rich track()")):
        rows[label] = {"ns": med["main"][key], "net_ns": net("main", key), "context": "main"}
    for ctx in ("thread", "process"):
        rows[f"fanin advance() [{ctx}]"] = {"ns": med[ctx]["advance"],
                                           "net_ns": net(ctx, "advance"), "context": ctx}
        rows[f"fanin track() [{ctx}]"] = {"ns": med[ctx]["track"],
                                         "net_ns": net(ctx, "track"), "context": ctx}
        rows[f"no-op method call [{ctx}]"] = {"ns": med[ctx]["noop"],
                                             "net_ns": net(ctx, "noop"), "context": ctx}
    tqdm_up, tqdm_it = net("main", "tqdm_update"), net("main", "tqdm_iter")
    rich_tr = net("main", "rich_track")
    ratios: dict[str, float] = {}
    for ctx in ("thread", "process"):
        adv, trk, noop = net(ctx, "advance"), net(ctx, "track"), net(ctx, "noop")
        ratios[f"advance/noop [{ctx}]"] = adv / noop if noop > 0 else float("nan")
        ratios[f"advance/tqdm_update [{ctx}]"] = adv / tqdm_up
        ratios[f"track/tqdm_iter [{ctx}]"] = trk / tqdm_it
        ratios[f"track/rich_track [{ctx}]"] = trk / rich_tr
    return {"params": {"n": n, "reps": reps}, "rows": rows, "ratios": ratios, "runs": runs}
