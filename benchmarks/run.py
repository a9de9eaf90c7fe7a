"""fanin's benchmarks (issues 3, 13, 14): ``python benchmarks/run.py [--quick] [--json PATH]``.

Runs in: the caller's main thread; each case module says where its parts run. Prints Rich
tables to the terminal and writes a JSON file (default ``benchmarks/results/latest.json``)
with the machine next to every case. Modes: full (default, about 11 minutes), ``--quick``
(about 2 minutes), ``--smoke`` (tiny sizes, for ``tests/test_bench_smoke.py``; its figures
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

from benchlib import (  # noqa: E402
    common,
    endtoend,
    hotloop,
    latency,
    lifecycle,
    maincpu,
    manyitems,
    peers,
    scale,
)
from benchlib.sizes import MODES, WORKERS  # noqa: E402

CASES = {
    "hot_loop": hotloop.run,
    "end_to_end": endtoend.run,
    "main_cpu": maincpu.run,
    "latency": latency.run,
    "scale": scale.run,
    "peers": peers.run,
    "many_items": manyitems.run,
    "lifecycle": lifecycle.run,
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
            "met": ok, "issue": int(tid.split()[0]) if tid.split()[0] in ("13", "14") else 3}


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
    out.extend(_peer_targets(res.get("peers")))
    out.extend(_many_targets(res.get("many_items")))
    return out


def _peer_targets(pe: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Issue 13: fanin's overhead against tqdm's bar-per-worker, and main-process CPU."""
    out: list[dict[str, Any]] = []
    if not pe:
        return out
    for cell in pe["cells"]:
        c, us, b = cell["cells"], cell["item_us"], cell["backend"]
        fanin, tq = c.get("fanin"), c.get("tqdm")
        if fanin is None or int(us) not in (1, 10):
            continue
        if tq is not None:
            out.append(_target(f"13 peers {us:g}us [{b}] vs tqdm",
                               f"overhead at {us:g} µs items <= tqdm's bar per worker "
                               "(median of pairs)", fanin["overhead_pct"], tq["overhead_pct"],
                               "%"))
            if "overhead_with_import_pct" in fanin and "overhead_with_import_pct" in tq:
                out.append(_target(f"13 peers {us:g}us [{b}] vs tqdm, with import",
                                   "the same with each tool's import in its run",
                                   fanin["overhead_with_import_pct"],
                                   tq["overhead_with_import_pct"], "%"))
        if int(us) == 10 and b == "process":
            out.append(_target(f"13 peers {us:g}us [{b}] < 3%", "overhead at 10 µs items < 3% "
                               "on the process backend (median of pairs)",
                               fanin["overhead_pct"], 3.0, "%"))
        head = (cell.get("vs_tqdm") or {}).get("fanin")
        if head is not None:
            out.append(_target(f"13 peers {us:g}us [{b}] head to head", "the same, fanin's run "
                               "against tqdm's of the same repetition (median ratio - 1)",
                               head["pct"], 0.0, "%"))
    for cell in (pe.get("between_items") or {}).get("cells", ()):
        f, tq = cell.get("fanin"), cell.get("tqdm")
        if f is not None and tq is not None:
            out.append(_target(f"13 peers per update {cell['item_us']:g}us [{cell['backend']}]",
                               "one update's cost between items, in the worker: fanin's "
                               "advance() <= tqdm's update()", f["ns"], tq["ns"], "ns"))
    cpu = pe.get("whole_run_cpu") or {}
    for name, limit, what in (("busy", 1.0, "2 busy workers"),
                              ("idle", 0.5, "2 tasks that do not move")):
        f = (cpu.get(name) or {}).get("fanin")
        if f is not None and "above_bare_pct_core" in f:
            out.append(_target(f"13 peers main CPU {name}",
                               f"main CPU over a whole run, {what}: within {limit:g}% of a core "
                               "of the bare pool", f["above_bare_pct_core"], limit, "%core"))
    return out


def _many_targets(mi: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Issue 14: fanin's one-liner against the stdlib executor, tqdm and mpire."""
    out: list[dict[str, Any]] = []
    if not mi:
        return out
    fallback = "" if mi["params"]["fanin_process_map"] else " (per-item fallback)"
    for cell in mi["cells"]:
        n, us, rows = cell["n"], cell["item_us"], cell["rows"]
        f = rows.get("fanin") or {}
        wall = f.get("wall_s")
        label = f"14 many {n // 1000}k x {us:g}us"
        if n == 20_000 and us == 40:
            out.append(_target(f"{label} vs stdlib{fallback}", "wall <= 1.05x stdlib "
                               "ProcessPoolExecutor.map, same chunk size", f.get("vs_stdlib_wall"),
                               1.05, "x"))
            for peer in ("tqdm", "mpire"):
                pw = (rows.get(peer) or {}).get("wall_s")
                if pw:
                    out.append(_target(f"{label} vs {peer}{fallback}",
                                       f"no slower than {peer}", wall / pw if wall else None,
                                       1.0, "x"))
        if n == 200_000 and us == 0:
            out.append(_target(f"{label} vs stdlib{fallback}", "wall <= 1.3x stdlib (pure "
                               "dispatch)", f.get("vs_stdlib_wall"), 1.3, "x"))
        if n == 200_000:
            out.append(_target(f"{label} main CPU{fallback}", "main CPU during the map < 5% of "
                               "a core above the stdlib executor's",
                               f.get("main_cpu_above_stdlib_pct_core"), 5.0, "%core"))
    old = (mi.get("old_shape") or {}).get("rows", {}).get("fanin_old")
    if old and mi["old_shape"]["n"] == 20_000:
        out.append(_target("14 old shape 20k x 0us", "hub.map of 20,000 one-item jobs >= 10x "
                           "faster than issue 14's 12.1 s (another machine)", old.get("wall_s"),
                           1.21, "s"))
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
                   f"{m['versions']['psutil']} · mpire {m['versions'].get('mpire')} · atpbar "
                   f"{m['versions'].get('atpbar')}", style="bold"))

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
    _print_peers(doc.get("peers"), table, con)
    _print_many(doc.get("many_items"), table, con)
    _print_lifecycle(doc.get("lifecycle"), table, con)
    tg = doc.get("targets")
    for title, ids in (("issue 3 targets", (3,)), ("issue 13 and 14 targets", (13, 14))):
        rows = [x for x in tg or () if x.get("issue", 3) in ids]
        if not rows:
            continue
        t = table(title, "target", "measured", "limit", "met")
        for x in rows:
            met = {True: Text("met", "green"), False: Text("MISSED", "bold red"),
                   None: Text("-")}[x["met"]]
            t.add_row(f"{x['id']}: {x['target']}", f"{_f(x['measured'], '.3g')} {x['unit']}",
                      f"{_f(x['limit'], '.3g')}", met)
        con.print(t)


def _both(by_tool: dict[str, Any], key: str, fmt: str) -> str:
    """``fanin / tqdm`` of one figure."""
    return " / ".join(_f((by_tool.get(tool) or {}).get(key), fmt) for tool in ("fanin", "tqdm"))


def _print_peer_parts(pe: dict[str, Any], cols: list[Any], by: dict[Any, Any], table: Any,
                      con: Any) -> None:
    """fanin against tqdm cell by cell: head to head, and the overhead taken apart."""
    if not any("vs_tqdm" in by[k] for k in cols):
        return
    fixed = pe.get("fixed") or {}
    ns = {(c["backend"], c["item_us"]): c for c in (pe.get("between_items") or {}).get("cells", ())}
    parts = {(d["backend"], d["item_us"], d["tool"]): d for d in pe.get("decomposition", ())}
    t = table("peers, fanin against tqdm: each run against tqdm's of the same repetition "
              "(median ratio - 1, repetitions fanin was faster), how far the bare pool's own runs "
              "spread; the overhead taken apart: fixed cost (2 x 1 item, ms added), one "
              "update's cost between items in the worker (ns; thread: the thread's CPU), "
              "measured ms added vs fixed + updates (fanin / tqdm)",
              "cell", "fanin vs tqdm", "bare spread", "fixed ms", "ns/update", "measured ms",
              "predicted ms")
    for key in cols:
        b, us = key
        head = (by[key].get("vs_tqdm") or {}).get("fanin")
        fx = (fixed.get(b) or {}).get("cells", {})
        n = ns.get(key, {})
        part = {tool: parts.get((b, us, tool)) for tool in ("fanin", "tqdm")}
        t.add_row(f"{b}, {us:g} µs",
                  f"{_f(head['pct'], '+.1f')} % ({head['faster']}/{head['of']})" if head else "-",
                  f"{_f(by[key].get('bare_spread_pct'), '.0f')} %",
                  _both(fx, "ms_added", ".1f"), _both(n, "ns", ".0f"),
                  _both(part, "measured_ms", ".1f"), _both(part, "predicted_ms", ".1f"))
    con.print(t)


_TOOL_NAMES = {"fanin": "fanin Hub.map + advance()",
               "tqdm": "tqdm, bar per worker (position=, set_lock)",
               "atpbar": "atpbar", "mpire": "mpire map(progress_bar=True)",
               "bare": "bare stdlib pool"}
_PEER_NAMES = {"fanin": "fanin Hub.map\n+ advance()",
               "fanin_fork": "fanin, same,\nstart_method=\"fork\"", "tqdm": "tqdm, bar per\nworker",
               "atpbar": "atpbar", "mpire": "mpire map(\nprogress_bar)"}


def _print_peers(pe: dict[str, Any] | None, table: Any, con: Any) -> None:
    if not pe:
        return
    p = pe["params"]
    cols = sorted(((c["backend"], c["item_us"]) for c in pe["cells"]),
                  key=lambda k: (k[0] != "process", k[1]))  # issue 13's column order
    by = {(c["backend"], c["item_us"]): c for c in pe["cells"]}
    cpu_key = ("process", 10.0) if ("process", 10.0) in by else (cols[-1] if cols else None)
    heads = [f"{b}, {us:g} µs\nmedian (fastest)" for b, us in cols]
    if cpu_key:
        heads.append(f"main CPU s\n{cpu_key[0]} {cpu_key[1]:g} µs\non/off")
    t = table(f"peers (issue 13): {p['jobs']} workers, {p['jobs']} x {p['items_per_job']:,} items, "
              f"1 update/item, fresh process per run, drawing to a pty: wall overhead vs the "
              f"stdlib pool without progress, median of {p['pairs']} alternating pairs "
              "(fastest-of), µs/item added, overhead with the tool's import in the run",
              "tool", *heads, "import ms", "exact")
    for tool in p["tools"]:
        cells = []
        for key in cols:
            x = by[key]["cells"].get(tool)
            if x is None:
                cells.append("-")
                continue
            cells.append(f"{_f(x['overhead_pct'], '+.1f')} % ({_f(x['overhead_fastest_pct'], '+.1f')})"
                         f"\n{_f(x['us_per_item_added'], '+.2f')} µs/item"
                         f"\n{_f(x.get('overhead_with_import_pct'), '+.1f')} % w/ import")
        if cpu_key:
            x = by[cpu_key]["cells"].get(tool)
            cells.append(f"{x['main_cpu_on_s']:.3f}/{x['main_cpu_off_s']:.3f}" if x else "-")
        imp = [by[k]["cells"][tool]["import_ms"] for k in cols if tool in by[k]["cells"]]
        exact = all(by[k]["cells"][tool]["exact"] for k in cols if tool in by[k]["cells"])
        t.add_row(_PEER_NAMES.get(tool, tool), *cells, _f(max(imp) if imp else None, ".0f"),
                  "yes" if exact else "NO")
    con.print(t)
    if p.get("missing_tools"):
        con.print(f"peers not installed (left out): {', '.join(p['missing_tools'])}")
    _print_peer_parts(pe, cols, by, table, con)
    cpu = pe.get("whole_run_cpu")
    if cpu:
        t = table(f"peers: main-process CPU over a whole run, % of one core (psutil; ns clock): "
                  f"2 process workers busy {cpu['busy_target_s']:g} s (10 µs items, 1 update "
                  f"each) / 2 tasks sleeping {cpu['idle_sleep_s']:g} s", "tool", "busy %core",
                  "busy above bare", "idle %core", "idle above bare", "wall s busy/idle")
        for tool in cpu.get("busy", {}):
            b, i = cpu["busy"][tool], cpu["idle"].get(tool, {})
            t.add_row(_TOOL_NAMES.get(tool, tool),
                      f"{_f(b['pct_core'], '.2f')} ({_f(b['pct_core_clock'], '.2f')})",
                      _f(b.get("above_bare_pct_core"), "+.2f"),
                      f"{_f(i.get('pct_core'), '.2f')} ({_f(i.get('pct_core_clock'), '.2f')})",
                      _f(i.get("above_bare_pct_core"), "+.2f"),
                      f"{_f(b['wall_s'], '.2f')}/{_f(i.get('wall_s'), '.2f')}")
        con.print(t)


def _print_many(mi: dict[str, Any] | None, table: Any, con: Any) -> None:
    if not mi:
        return
    p = mi["params"]
    t = table(f"many items (issue 14): {p['workers']} processes, chunk size "
              f"{p['chunksize_rule']} for all, median of {p['reps']} (fastest-of), fresh process "
              "per run", "items x µs", "tool", "wall s", "vs stdlib", "main CPU %core",
              "above stdlib", "chunk", "equal", "note")
    names = {"stdlib": "ProcessPoolExecutor.map", "tqdm": "tqdm process_map",
             "mpire": "mpire WorkerPool.map", "fanin_old": "fanin Hub.map per item",
             "fanin": "fanin.process_map" if p["fanin_process_map"] else "fanin Hub.map per item"}
    for cell in [*mi["cells"], mi["old_shape"]]:
        for tool, x in cell["rows"].items():
            name = names.get(tool, tool)
            label = f"{cell['n']:,} x {cell['item_us']:g}"
            if x.get("skipped"):
                t.add_row(label, name, "-", "-", "-", "-", "-", "-", x.get("tag", ""))
                continue
            t.add_row(label, name, f"{x['wall_s']:.3f} ({x['wall_min_s']:.3f})",
                      _f(x.get("vs_stdlib_wall"), ".2f"), _f(x["main_cpu_pct_core"], ".1f"),
                      _f(x.get("main_cpu_above_stdlib_pct_core"), "+.1f"),
                      str(x["chunksize"] or "-"),
                      {True: "yes", False: "NO"}.get(x.get("results_equal"), "-"),
                      x.get("tag", ""))
    con.print(t)
    notes = {x["note"] for c in mi["cells"] for x in c["rows"].values() if x.get("note")}
    for note in sorted(notes):
        con.print(f"  {note}")


def _print_lifecycle(lc: dict[str, Any] | None, table: Any, con: Any) -> None:
    if not lc:
        return
    p = lc["params"]
    backends = [b for b in ("process", "thread") if b in lc]
    t = table(f"lifecycle (issue 13): {p['jobs']} x {p['items_per_job']:,} items x "
              f"{p['item_us']} µs on {p['workers']} workers, live bars on a pty, fresh process, "
              f"median of {p['reps']}: ms", "phase", *backends)
    for phase in lifecycle.PHASES:
        t.add_row(phase, *(_f(lc[b]["ms"][phase], ".1f") for b in backends))
    for k in lc[backends[0]]["main_cpu_ms"]:
        t.add_row(f"main CPU ms: {k}", *(_f(lc[b]["main_cpu_ms"][k], ".1f") for b in backends))
    t.add_row("frames drawn in steady state", *(_f(lc[b]["steady_writes"], ".0f") for b in backends))
    con.print(t)
    for b in backends:
        prof = lc[b]["profile"]
        t = table(f"lifecycle profile [{b}], main process, all threads, timer "
                  f"{prof['timer']}, Python {prof['python']}: top own time", "function",
                  "calls", "own ms", "cum ms")
        for r in prof["top_tottime"][:10]:
            t.add_row(r["function"], str(r["ncalls"]), _f(1e3 * r["tottime_s"], ".1f"),
                      _f(1e3 * r["cumtime_s"], ".1f"))
        con.print(t)
        areas = ", ".join(f"{k} {1e3 * v:.1f}" for k, v in list(prof["areas_tottime_s"].items())[:8])
        threads = ", ".join(f"{k} {1e3 * v:.1f}" for k, v in prof["threads_tottime_s"].items())
        con.print(f"  own ms by area: {areas}")
        con.print(f"  own ms by thread: {threads}")


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
