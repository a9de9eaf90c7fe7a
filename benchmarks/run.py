"""fanin's throughput benchmarks (issue 3): ``python benchmarks/run.py [--quick] [--json PATH]``.

Runs in: the caller's main thread; each case module says where its parts run. Prints Rich
tables to the terminal and writes a JSON file (default ``benchmarks/results/latest.json``)
with the machine next to every case. Modes: full (default, a few minutes), ``--quick``
(under a minute), ``--smoke`` (tiny sizes, for ``tests/test_bench_smoke.py``; its figures
mean nothing). Timings on a shared machine are noisy: every figure is a median over
repetitions, and tools are compared as ratios measured side by side in one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from benchlib import common, endtoend, hotloop, latency, maincpu, scale  # noqa: E402
from benchlib.sizes import MODES, WORKERS  # noqa: E402

CASES = {
    "hot_loop": hotloop.run,
    "end_to_end": endtoend.run,
    "main_cpu": maincpu.run,
    "latency": latency.run,
    "scale": scale.run,
}
SCHEMA = "fanin-bench/1"


# -- targets (issue 3) -----------------------------------------------------------------------
def _target(tid: str, text: str, measured: float | None, limit: float, unit: str,
            higher_is_better: bool = False) -> dict[str, Any]:
    ok: bool | None
    if measured is None or (isinstance(measured, float) and math.isnan(measured)):
        ok = None
    else:
        ok = measured >= limit if higher_is_better else measured <= limit
    return {"id": tid, "target": text, "measured": measured, "limit": limit, "unit": unit,
            "met": ok}


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    hot = res.get("hot_loop")
    if hot:
        r = hot["ratios"]
        for ctx in ("thread", "process"):
            out.append(_target(f"1 advance/noop [{ctx}]", "advance() net <= 2x a no-op call",
                               r[f"advance/noop [{ctx}]"], 2.0, "x"))
            out.append(_target(f"1 advance/tqdm [{ctx}]", "advance() net <= 1/3 tqdm update(1)",
                               r[f"advance/tqdm_update [{ctx}]"], 1 / 3, "x"))
            out.append(_target(f"1 track/tqdm [{ctx}]", "track() per item <= tqdm iterator",
                               r[f"track/tqdm_iter [{ctx}]"], 1.0, "x"))
            out.append(_target(f"1 track/rich [{ctx}]", "track() per item <= rich track()",
                               r[f"track/rich_track [{ctx}]"], 1.0, "x"))
    e2e = res.get("end_to_end")
    if e2e:
        for c in e2e["cells"]:
            limit = {10: 1.0, 1: 5.0}.get(int(c["item_us"]))
            if limit is not None:
                out.append(_target(f"2 e2e {c['backend']} {c['item_us']:g}us",
                                   f"wall overhead vs no progress <= {limit:g}% at "
                                   f"{c['item_us']:g} µs/item", c["fanin_overhead_pct"],
                                   limit, "%"))
    cpu = res.get("main_cpu")
    if cpu:
        cs = cpu["cases"]
        for backend in ("process", "thread"):
            out.append(_target(f"3 cpu active [{backend}]",
                               f"main CPU <= 2% of a core, {WORKERS} workers flat out",
                               cs[f"active_{backend}"]["tool_pct_core"], 2.0, "%core"))
        for name in ("idle_no_tasks", "idle_running_unchanged"):
            out.append(_target(f"3 cpu {name}", "main CPU <= 0.5% of a core when nothing changes",
                               cs[name]["tool_pct_core"], 0.5, "%core"))
    lat = res.get("latency")
    if lat:
        for backend in ("process", "thread"):
            out.append(_target(f"4 latency p95 [{backend}]",
                               "p95 <= flush interval + one refresh period",
                               lat[backend]["p95_ms"], lat[backend]["target_ms"], "ms"))
    sc = res.get("scale")
    if sc:
        on = sc["on"]
        threads = (on.get("main_cpu") or {}).get("threads_pct_core", {})
        cr = (threads.get("fanin-collector", 0.0) + threads.get("fanin-render", 0.0)
              if threads else None)
        n = f"{sc['params']['workers']}w/{sc['params']['tasks']}t"
        out.append(_target(f"3 cpu scale collector+render [{n}]",
                           "collector + renderer CPU <= 4% at scale", cr, 4.0, "%core"))
        out.append(_target(f"3 cpu scale whole main [{n}]",
                           "all main-process machinery (incl. pool dispatch) <= 4% at scale",
                           on["tool_pct_core"], 4.0, "%core"))
        out.append(_target(f"5 scale exact [{n}]", "exact counts", 1.0 if on["exact_counts"]
                           else 0.0, 1.0, "bool", higher_is_better=True))
        out.append(_target(f"5 scale fps [{n}]", "frames on time: >= 90% of the refresh rate",
                           on.get("fps"), 0.9 * on.get("refresh_hz", 10.0), "Hz",
                           higher_is_better=True))
        out.append(_target(f"5 scale frame gap p95 [{n}]",
                           "frames on time: p95 gap <= 1.5 refresh periods",
                           on.get("frame_gap_p95_ms"), 150.0, "ms"))
    return out


# -- output ----------------------------------------------------------------------------------
def _f(x: Any, fmt: str = ".1f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, fmt)


def print_tables(doc: dict[str, Any]) -> None:
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    con = Console(highlight=False)
    if not con.is_terminal:
        con = Console(highlight=False, width=150)  # a file or pipe: do not wrap at 80
    m = doc["machine"]
    con.print(Text(f"fanin benchmarks ({doc['mode']}) · {m['cpu']} · {m['cores']} cores · "
                   f"Python {m['python']} · {m['os']} · fanin {m['versions']['fanin']} · rich "
                   f"{m['versions']['rich']} · tqdm {m['versions']['tqdm']} · psutil "
                   f"{m['versions']['psutil']}", style="bold"))

    class _Table(Table):
        def add_row(self, *cells: Any, **kw: Any) -> None:
            # Case names contain "[thread]": text, never markup.
            super().add_row(*(c if isinstance(c, Text) else Text(str(c)) for c in cells), **kw)

    def table(title: str, *cols: str) -> Table:
        t = _Table(title=escape(title), box=box.SIMPLE_HEAD, title_justify="left",
                   pad_edge=False)
        for i, c in enumerate(cols):
            t.add_column(c, justify="left" if i == 0 else "right")
        return t

    hot = doc.get("hot_loop")
    if hot:
        t = table("(a) hot loop, ns per update (median of rounds)", "case", "ns", "net ns")
        for name, row in hot["rows"].items():
            t.add_row(name, _f(row["ns"]), _f(row["net_ns"]))
        con.print(t)
    e2e = doc.get("end_to_end")
    if e2e:
        t = table(f"(b) end to end, {WORKERS} workers, 1 update/item, drawing to a pty: wall "
                  f"overhead vs no progress, median of {e2e['params']['reps']} (best-of)",
                  "backend µs/item (measured)", "fanin %", "tqdm %", "fanin cpu %",
                  "tqdm cpu %", "fanin/tqdm wall", "fanin on/off s", "tqdm on/off s", "exact", "redone")
        for c in e2e["cells"]:
            w = c["median_wall_s"]
            t.add_row(f"{c['backend']} {c['item_us']:g} ({c['measured_item_us']:.2f})",
                      f"{_f(c['fanin_overhead_pct'], '+.1f')} "
                      f"({_f(c.get('fanin_overhead_min_pct'), '+.1f')})",
                      f"{_f(c['tqdm_overhead_pct'], '+.1f')} "
                      f"({_f(c.get('tqdm_overhead_min_pct'), '+.1f')})",
                      _f(c["fanin_cpu_overhead_pct"], "+.1f"), _f(c["tqdm_cpu_overhead_pct"], "+.1f"),
                      _f(c["fanin_vs_tqdm_wall"], ".3f"),
                      f"{w['fanin_on']:.3f}/{w['fanin_off']:.3f}",
                      f"{w['tqdm_on']:.3f}/{w['tqdm_off']:.3f}",
                      "yes" if c["exact_counts"] else "NO", str(c.get("runs_redone_for_load", 0)))
        con.print(t)
    cpu = doc.get("main_cpu")
    if cpu:
        t = table("(c) main-process CPU of the progress machinery, % of one core", "case",
                  "tool %", "collector", "render", "pump", "feeders", "flusher", "other")
        for name, c in cpu["cases"].items():
            th = c["runs"][0]["threads_pct_core"]
            known = ("fanin-collector", "fanin-render", "fanin-pump", "QueueFeederThread",
                     "fanin-flusher")
            other = sum(v for k, v in th.items()
                        if k not in known and not common.bench_thread(k))
            t.add_row(name, _f(c["tool_pct_core"], ".2f"),
                      *(_f(th.get(k), ".2f") for k in known), _f(other, ".2f"))
        con.print(t)
    lat = doc.get("latency")
    if lat:
        t = table("(d) update-to-screen latency, defaults (flush 50 ms, 10 Hz)", "backend",
                  "p50 ms", "p95 ms", "max ms", "target ms", "to state p50/p95", "samples", "frame gap ms",
                  "draw p50 ms", "draw p95 ms")
        for backend in ("process", "thread"):
            x = lat[backend]
            t.add_row(backend, _f(x["p50_ms"]), _f(x["p95_ms"]), _f(x["max_ms"]),
                      _f(x["target_ms"], ".0f"),
                      f"{_f(x.get('to_state_p50_ms'))}/{_f(x.get('to_state_p95_ms'))}",
                      str(x["samples"]), _f(x["frame_gap_p50_ms"]),
                      _f(x["draw_ms_p50"]), _f(x["draw_ms_p95"]))
        con.print(t)
    sc = doc.get("scale")
    if sc:
        p = sc["params"]
        t = table(f"(e) scale: {p['workers']} processes x {p['tasks']:,} tasks x "
                  f"{p['items_per_task']} items x {p['item_us']:g} µs", "run", "wall s",
                  "items/s", "exact", "RSS MB start/peak", "tool %core", "coll+render %",
                  "fps", "gap p95 ms", "gap max ms")
        for key in ("on", "off"):
            x = sc.get(key)
            if not x:
                continue
            th = (x.get("main_cpu") or {}).get("threads_pct_core", {})
            t.add_row(f"progress {key}", _f(x["wall_s"], ".2f"), _f(x["items_per_s"], ",.0f"),
                      "yes" if x["exact_counts"] else "NO",
                      f"{x['rss_start_mb']:.0f}/{x['rss_peak_mb']:.0f}",
                      _f(x["tool_pct_core"], ".2f"),
                      _f(th.get("fanin-collector", 0) + th.get("fanin-render", 0), ".2f"),
                      _f(x.get("fps")), _f(x.get("frame_gap_p95_ms")),
                      _f(x.get("frame_gap_max_ms")))
        con.print(t)
    tg = doc.get("targets")
    if tg:
        t = table("issue 3 targets", "target", "measured", "limit", "met")
        for x in tg:
            met = {True: Text("met", "green"), False: Text("MISSED", "bold red"),
                   None: Text("-")}[x["met"]]
            t.add_row(f"{x['id']}: {x['target']}", f"{_f(x['measured'], '.3g')} {x['unit']}",
                      f"{_f(x['limit'], '.3g')}", met)
        con.print(t)


def _clean(x: Any) -> Any:
    """JSON has no NaN/inf: write them as null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_const", dest="mode", const="quick",
                      help="smaller sizes, under a minute")
    mode.add_argument("--smoke", action="store_const", dest="mode", const="smoke",
                      help="tiny sizes for the test suite (figures are meaningless)")
    ap.add_argument("--json", type=Path, default=HERE / "results" / "latest.json",
                    help="where to write the results (default: benchmarks/results/latest.json)")
    ap.add_argument("--cases", default=",".join(CASES),
                    help=f"comma-separated subset of: {', '.join(CASES)}")
    args = ap.parse_args(argv)
    sizes = MODES[args.mode or "full"]
    wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s): {', '.join(unknown)}")

    mach = common.machine()
    started = time.perf_counter()
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "mode": sizes.mode,
        "command": " ".join([os.path.basename(sys.executable), "benchmarks/run.py",
                             *(sys.argv[1:] if argv is None else argv)]),
        "started_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "sizes": sizes.as_dict(),
        "machine": mach,
        "load_avg_start": os.getloadavg(),  # other load on the machine disturbs timings
    }
    for name in wanted:
        common.progress_note(f"case {name}")
        t0 = time.perf_counter()
        result = CASES[name](sizes)
        result["seconds"] = time.perf_counter() - t0
        result["machine"] = mach  # the machine next to every figure
        doc[name] = result
    doc["targets"] = targets(doc)
    doc["duration_s"] = time.perf_counter() - started
    doc["load_avg_end"] = os.getloadavg()
    doc = _clean(doc)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print_tables(doc)
    print(f"results: {args.json}  ({doc['duration_s']:.0f} s; load average at start "
          f"{doc['load_avg_start'][0]:.1f}, at end {doc['load_avg_end'][0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
