"""Output modes, worker logs and prints, health, many tasks, summary, events file."""

from __future__ import annotations

import io
import json
import logging
import re
import time

import pyte
import pytest
import workers
from rich.console import Console

import fanin
from fanin._display.richview import RichView
from fanin._ingest.state import ProgressState
from fanin._wire import Report

pytestmark = pytest.mark.timeout(120)


def tty_console(buf, width=120, height=40):
    return Console(file=buf, force_terminal=True, width=width, height=height, color_system=None)


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


# -- output modes ------------------------------------------------------------------------

def test_auto_mode_is_plain_when_not_a_tty_and_rich_on_a_tty():
    buf = io.StringIO()
    with fanin.Hub(progress="auto", file=buf) as hub:
        hub.map(workers.count_to, [10])
    assert "\x1b" not in buf.getvalue() and "done" in buf.getvalue()
    tty = FakeTTY()
    with fanin.Hub(progress="auto", file=tty) as hub:
        hub.map(workers.count_to, [10])
    assert "\x1b[?25l" in tty.getvalue()


def test_plain_mode_has_no_escapes_and_stays_within_its_line_budget():
    buf = io.StringIO()
    n_tasks, log_every = 300, 0.2
    t0 = time.monotonic()
    with fanin.Hub(backend="thread", workers=4, progress="plain", file=buf,
                   log_every=log_every) as hub:
        hub.map(workers.sleep_then, [5] * n_tasks, description="[red]task[/red] \x1b[2J")
    elapsed = time.monotonic() - t0
    text = buf.getvalue()
    assert "\x1b" not in text
    assert "[red]task[/red] \\x1b[2J" in text
    lines = text.splitlines()
    periods = elapsed / log_every + 2
    # per period: at most 10 running-task lines, a "more" line and an overall line
    budget = n_tasks + periods * 12 + 40
    assert len(lines) <= budget, (len(lines), budget)
    assert sum(1 for line in lines if line.startswith("done")) == n_tasks


def test_off_mode_draws_nothing_but_still_collects(tmp_path):
    buf = io.StringIO()
    events = tmp_path / "run.jsonl"
    with fanin.Hub(progress="off", file=buf, events=events, summary=True) as hub:
        hub.map(workers.count_to, [7, 8])
    text = buf.getvalue()
    assert "fanin summary" in text and "\x1b" not in text  # only the requested summary
    assert sum(t.completed for t in hub.tasks()) == 15
    assert events.read_text().count('"type": "done"') == 2


# -- worker logs and prints --------------------------------------------------------------

def log_and_count(n, progress):
    logging.getLogger("worker").warning("hello from worker %d", n)
    progress.advance(n)
    return n


def print_and_count(n, progress):
    print(f"printed by {n}")
    progress.advance(n)
    return n


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_worker_logs_appear_once_above_the_bars(backend):
    buf = io.StringIO()
    view = RichView(console=tty_console(buf, width=100, height=30))
    logging.getLogger().setLevel(logging.INFO)
    try:
        with fanin.Hub(backend=backend, workers=2, view=view, summary=False) as hub:
            assert hub.map(log_and_count, [1, 2, 3]) == [1, 2, 3]
    finally:
        logging.getLogger().setLevel(logging.WARNING)
    raw = buf.getvalue()
    for n in (1, 2, 3):
        assert raw.count(f"hello from worker {n}") == 1
    screen = pyte.Screen(100, 30)
    pyte.ByteStream(screen).feed(raw.replace("\n", "\r\n").encode())
    rows = [line.rstrip() for line in screen.display]
    log_rows = [i for i, line in enumerate(rows) if "hello from worker" in line]
    bar_row = next(i for i, line in enumerate(rows) if line.startswith("overall"))
    assert len(log_rows) == 3 and max(log_rows) < bar_row
    assert all("WARNING" in rows[i] for i in log_rows)
    assert any("log_and_count" in rows[i] for i in log_rows)  # named after the task


def test_root_handlers_are_restored_after_the_hub():
    root = logging.getLogger()
    before = list(root.handlers)
    with fanin.Hub(progress="rich", file=FakeTTY()):
        assert root.handlers != before
    assert root.handlers == before


@pytest.mark.parametrize("progress", ["plain", "off"])
def test_plain_and_off_leave_process_logging_alone(progress, caplog):
    # Issue 10 item 8 / issue 11 item 1: only a Rich display routes the caller's logging.
    root = logging.getLogger()
    before = list(root.handlers)
    with fanin.Hub(progress=progress, file=io.StringIO()):
        assert root.handlers == before
        logging.getLogger("mine").warning("seen by the caller's handlers")
    assert "seen by the caller's handlers" in caplog.text


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_print_capture_routes_worker_prints_through_the_display(backend, capsys):
    buf = io.StringIO()
    with fanin.Hub(backend=backend, workers=2, progress="plain", file=buf,
                   capture_print=True) as hub:
        hub.map(print_and_count, [4, 5])
    text = buf.getvalue()
    assert "[print_and_count 1/2] printed by 4" in text
    assert "[print_and_count 2/2] printed by 5" in text
    assert "printed by" not in capsys.readouterr().out


# -- health ------------------------------------------------------------------------------

def test_health_is_sampled_about_once_a_second_not_per_frame():
    buf = FakeTTY()
    view = RichView(console=tty_console(buf))
    with fanin.Hub(backend="process", workers=2, view=view, refresh=20) as hub:
        t0 = time.monotonic()
        hub.map(workers.sleep_then, [250, 250])  # ~2.5 s
        elapsed = time.monotonic() - t0
        stats = hub.statistics()
        samples, frames = stats.health_samples, stats.frames
    assert 1 <= samples <= elapsed + 1
    assert frames > 3 * samples
    out = buf.getvalue()
    assert "worker processes" in out and "system cpu" in out
    assert re.search(r"\d+%\s+\d+M", out)  # per-worker cpu% and RSS columns


def test_stalled_tasks_are_flagged():
    t = [0.0]
    st = ProgressState(clock=lambda: t[0])
    st.apply(Report("a", 1, 5, 10, "slowpoke", "running", None, 1))
    t[0] = 45.0
    buf = io.StringIO()
    console = tty_console(buf)
    console.print(RichView(console=console, stall_after=30).render(st.snapshot()))
    assert "stalled 0:00:45 slowpoke" in buf.getvalue()


# -- many tasks --------------------------------------------------------------------------

def test_ten_thousand_tasks_stay_readable_and_exact():
    buf = FakeTTY()
    view = RichView(console=tty_console(buf, width=100, height=24))
    with fanin.Hub(backend="thread", workers=8, view=view, summary=False) as hub:
        out = hub.map(workers.count_to, [3] * 10_000)
        snap = hub.snapshot(max_rows=view.max_rows())
    assert out == [3] * 10_000 and snap.completed == 30_000
    assert snap.counts["done"] == 10_000
    last = buf.getvalue().split("\x1b[?25l")[-1]
    assert "10,000/10,000" in last and "10,000 done" in last


def test_frame_cost_does_not_grow_with_finished_tasks():
    def frame_seconds(finished):
        st = ProgressState()
        for i in range(finished):
            st.apply(Report(f"d{i}", 1, 1, 1, f"done {i}", "done", None, 1))
        for i in range(64):
            st.apply(Report(f"r{i}", 1, 1, 10, f"run {i}", "running", None, 1))
        view = RichView(console=tty_console(io.StringIO(), height=40))
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            view.console.print(view.render(st.snapshot(max_rows=view.max_rows())))
            best = min(best, time.perf_counter() - t0)
        return best

    small, large = frame_seconds(100), frame_seconds(10_000)
    assert large < 3 * small, (small, large)  # a ratio, not a timing budget


# -- summary and events -----------------------------------------------------------------

def test_summary_lists_failures_first_with_totals():
    buf = io.StringIO()
    with fanin.Hub(backend="thread", workers=2, progress="plain", file=buf) as hub:
        hub.map(workers.raise_if, [(1, False), (2, True), (3, False)], on_error="collect")
    text = buf.getvalue()
    summary = text[text.index("fanin summary"):]
    rows = summary.splitlines()[1:]
    assert rows[0].lstrip().startswith("failed") and "bad item 2" in rows[0]
    assert "6 items in" in summary.splitlines()[0] and "2 done, 1 failed" in summary


def test_rich_summary_is_drawn_after_the_live_display():
    buf = FakeTTY()
    with fanin.Hub(progress="rich", file=buf) as hub:
        hub.map(workers.count_to, [5, 6])
    out = buf.getvalue()
    assert out.rindex("\x1b[?25h") < out.index("fanin summary")
    assert "11 items in" in out


def test_events_file_parses_and_its_final_snapshot_matches_the_summary(tmp_path):
    path = tmp_path / "events.jsonl"
    with fanin.Hub(backend="process", workers=2, progress="off", events=path) as hub:
        hub.map(workers.raise_if, [(5, False), (6, True), (7, False)], on_error="collect")
        hub.map(workers.sleep_then, [120])  # long enough for periodic snapshots
    records = [json.loads(line) for line in path.read_text().splitlines()]
    kinds = [r["type"] for r in records]
    assert kinds[0] == "begin" and kinds[-1] == "end"
    assert kinds.count("start") == 4 and kinds.count("done") == 3 and kinds.count("failed") == 1
    assert kinds.count("snapshot") >= 2
    end = records[-1]
    views = hub.tasks()
    assert end["completed"] == sum(v.completed for v in views) == 5 + 6 + 7 + 120
    assert end["tasks"]["done"] == 3 and end["tasks"]["failed"] == 1
    failed = next(r for r in records if r["type"] == "failed")
    assert "bad item 6" in failed["error"]


def test_unwritable_events_file_is_a_clear_error(tmp_path):
    hub = fanin.Hub(progress="off", events=tmp_path / "missing-dir" / "x.jsonl")
    with pytest.raises(ValueError, match="cannot open the events file"):
        hub.start()
    hub.close()


def test_cli_events_and_plain_mode(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "demo.jsonl"
    p = subprocess.run([sys.executable, "-m", "fanin", "demo", "--workers", "2", "--jobs", "3",
                        "--items", "2000", "--item-us", "5", "--progress", "plain",
                        "--events", str(path), "--log-every", "1", "--log-jobs"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "\x1b" not in p.stderr
    assert "INFO [job 1] fanin.demo: starting 2000 items" in p.stderr
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[-1]["type"] == "end" and records[-1]["completed"] == 6000
