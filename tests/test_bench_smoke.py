"""Smoke test for the benchmark suite (issues 3, 13, 14): it runs and writes well-formed results.

Runs in: the test process, which starts ``benchmarks/run.py --smoke`` as a subprocess.
Asserts only shape, never timings: the figures of a smoke run mean nothing.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"

pytest.importorskip("tqdm", reason="the benchmark peers come from the 'bench' extra")


def _no_nan(x: object) -> None:
    if isinstance(x, float):
        assert math.isfinite(x)
    elif isinstance(x, dict):
        for v in x.values():
            _no_nan(v)
    elif isinstance(x, list):
        for v in x:
            _no_nan(v)


@pytest.mark.timeout(90)
def test_benchmarks_smoke(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(RUN), "--smoke", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=85, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads(out.read_text(encoding="utf-8"))
    _no_nan(doc)  # NaN/inf are written as null, so the file is strict JSON
    assert doc["schema"] == "fanin-bench/1"
    assert doc["mode"] == "smoke"
    for key in ("cpu", "cores", "python", "os", "versions"):
        assert key in doc["machine"]
    assert set(doc["machine"]["versions"]) >= {"fanin", "rich", "tqdm", "psutil"}
    cases = ("hot_loop", "end_to_end", "main_cpu", "latency", "scale", "peers", "many_items",
             "lifecycle")
    for case in cases:
        assert doc[case]["machine"] == doc["machine"], case
    rows = doc["hot_loop"]["rows"]
    assert {"bare for loop", "no-op method call", "tqdm bar.update(1)", "tqdm iterator",
            "rich progress.advance (live)", "rich track()", "fanin advance() [thread]",
            "fanin advance() [process]", "fanin track() [thread]",
            "fanin track() [process]"} <= set(rows)
    cells = doc["end_to_end"]["cells"]
    assert {c["backend"] for c in cells} == {"thread", "process"}
    for c in cells:
        assert set(c["median_wall_s"]) == {"fanin_off", "fanin_on", "tqdm_off", "tqdm_on"}
        assert c["exact_counts"] is True
    assert {"active_process", "active_thread", "idle_no_tasks", "idle_running_unchanged",
            "peer_rich_idle"} <= set(doc["main_cpu"]["cases"])
    for backend in ("process", "thread"):
        assert {"p50_ms", "p95_ms", "samples", "frames"} <= set(doc["latency"][backend])
    assert doc["scale"]["on"]["exact_counts"] is True
    assert {"rss_peak_mb", "wall_s", "tool_pct_core"} <= set(doc["scale"]["on"])
    assert doc["targets"], "the issue-3 targets are evaluated"
    for t in doc["targets"]:
        assert {"id", "target", "measured", "limit", "unit", "met"} <= set(t)
    assert "issue 3 targets" in proc.stdout  # the Rich table was printed
    _check_new_cases(doc)
    assert "issue 13 and 14 targets" in proc.stdout


def _check_new_cases(doc: dict) -> None:
    pe = doc["peers"]
    assert {"fanin", "tqdm"} <= set(pe["params"]["tools"])
    assert {(c["backend"], c["item_us"]) for c in pe["cells"]} == {("process", 10), ("thread", 10)}
    for cell in pe["cells"]:
        # fanin_fork (start_method="fork") runs in the process cells only
        expected = set(pe["params"]["tools"]) - ({"fanin_fork"} if cell["backend"] == "thread"
                                                 else set())
        assert set(cell["cells"]) == expected
        for x in cell["cells"].values():
            assert x["exact"] is True
            assert {"overhead_pct", "overhead_fastest_pct", "us_per_item_added",
                    "main_cpu_on_s", "main_cpu_off_s"} <= set(x)
            assert len(x["runs"]["on"]) == len(x["runs"]["off"]) == pe["params"]["pairs"]
        assert set(cell["vs_tqdm"]) == expected - {"tqdm"}
    for backend in ("process", "thread"):  # the fixed cost: 2 jobs of 1 item
        fixed = pe["fixed"][backend]
        assert fixed["items"] == 1 and all(x["exact"] for x in fixed["cells"].values())
    between = pe["between_items"]["cells"]
    assert {(c["backend"], c["item_us"]) for c in between} == {("process", 10), ("thread", 10)}
    for cell in between:  # every pair of blocks of every job came back, per tool
        for tool in ("fanin", "tqdm"):
            assert cell[tool]["n"] == 2 * pe["between_items"]["pairs_per_job"]
            assert cell[tool]["block_ms"] > 0
    assert {(d["backend"], d["tool"]) for d in pe["decomposition"]} == {
        (b, t) for b in ("process", "thread") for t in ("fanin", "tqdm")}
    for shape in ("busy", "idle"):
        rows = pe["whole_run_cpu"][shape]
        assert {"bare", "fanin", "tqdm"} <= set(rows)
        assert all(r["exact"] for r in rows.values())
        assert rows["fanin"]["above_bare_pct_core"] is not None
    mi = doc["many_items"]
    assert {"stdlib", "fanin", "tqdm"} <= set(mi["params"]["tools"])
    for cell in [*mi["cells"], mi["old_shape"]]:
        for tool, row in cell["rows"].items():
            if not row.get("skipped"):
                assert row["results_equal"] is True, (cell["n"], tool)
    assert set(mi["old_shape"]["rows"]) == {"stdlib", "fanin_old"}
    lc = doc["lifecycle"]
    for backend in ("process", "thread"):
        assert {"hub_start", "pool_start", "first_frame", "steady", "summary",
                "total"} <= set(lc[backend]["ms"])
        assert lc[backend]["profile"]["top_tottime"]
