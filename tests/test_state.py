"""The state model with a manual clock: no threads, no terminal."""

from __future__ import annotations

import queue
import threading

import pytest

from fanin._ingest.collector import Collector
from fanin._ingest.state import ProgressState
from fanin._wire import Barrier, LogRecord, Report, Verdict


class ManualClock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def rep(task="a", seq=1, completed=0, total=None, status="running", desc="A", attempt=0, error=None):
    return Report(task, seq, completed, total, desc, status, error, 1234, attempt)


def test_rate_and_eta_with_manual_clock():
    clock = ManualClock()
    st = ProgressState(clock=clock, rate_window=10.0)
    st.apply(rep(seq=1, completed=0, total=1000))
    for i in range(1, 6):
        clock.advance(1.0)
        st.apply(rep(seq=i + 1, completed=100 * i, total=1000))
    (view,) = st.snapshot().rows
    assert view.rate == pytest.approx(100.0)
    assert view.eta == pytest.approx(5.0)
    assert view.elapsed == pytest.approx(5.0)
    # A stall lowers the rate instead of freezing it.
    clock.advance(5.0)
    (view,) = st.snapshot().rows
    assert view.rate == pytest.approx(500 / 10)
    assert view.idle == pytest.approx(5.0)


def test_rate_window_forgets_old_samples():
    clock = ManualClock()
    st = ProgressState(clock=clock, rate_window=2.0)
    st.apply(rep(seq=1, completed=0))
    clock.advance(10)
    st.apply(rep(seq=2, completed=10))  # slow start: 1/s
    for i in range(3, 8):
        clock.advance(1)
        st.apply(rep(seq=i, completed=10 + 1000 * (i - 2)))
    (view,) = st.snapshot().rows
    assert view.rate == pytest.approx(1000, rel=0.01)


def test_finished_task_rate_is_average_and_eta_none():
    clock = ManualClock()
    st = ProgressState(clock=clock)
    st.apply(rep(seq=1, completed=0, total=50))
    clock.advance(2)
    st.apply(rep(seq=2, completed=50, total=50, status="done"))
    (view,) = st.all_views()
    assert view.status == "done" and view.rate == pytest.approx(25) and view.eta is None
    assert st.snapshot().rows == ()  # not an active bar any more
    assert st.snapshot().counts["done"] == 1


def test_stale_and_post_final_reports_are_ignored():
    st = ProgressState(clock=ManualClock())
    assert st.apply(rep(seq=5, completed=50))
    assert not st.apply(rep(seq=4, completed=40))  # out of order
    assert st.apply(rep(seq=6, completed=60, status="done"))
    assert not st.apply(rep(seq=7, completed=70))  # after final
    assert st.tasks["a"].completed == 60
    assert st.completed == 60


def test_new_attempt_restarts_progress_instead_of_double_counting():
    st = ProgressState(clock=ManualClock())
    st.apply(rep(seq=9, completed=700, total=1000))
    st.fail_task("a", "worker died")
    st.apply(rep(seq=1, completed=100, total=1000, attempt=1))
    t = st.tasks["a"]
    assert (t.attempt, t.completed, t.status) == (1, 100, "running")
    assert st.completed == 100
    assert not st.apply(rep(seq=10, completed=900, attempt=0))  # late message of attempt 0


def test_totals_and_counts_are_incremental():
    st = ProgressState(clock=ManualClock())
    st.add_task("x", "X", 10)
    st.add_task("y", "Y", None)
    snap = st.snapshot()
    assert snap.counts["queued"] == 2 and snap.total is None
    st.apply(rep(task="y", seq=1, completed=3, total=5))
    assert st.snapshot().total == 15
    assert st.snapshot().completed == 3


def test_snapshot_cost_bounded_by_rows():
    st = ProgressState(clock=ManualClock())
    for i in range(10_000):
        st.apply(rep(task=f"t{i}", seq=1, completed=1, status="done"))
    for i in range(100):
        st.apply(rep(task=f"r{i}", seq=1, completed=1))
    snap = st.snapshot(max_rows=5)
    assert len(snap.rows) == 5 and snap.hidden == 95
    assert len(st.active) == 100
    assert snap.counts["done"] == 10_000


def test_descriptions_are_sanitized():
    st = ProgressState(clock=ManualClock())
    st.apply(rep(desc="\x1b[2J\x1b]0;pwned\x07evil" + "x" * 10_000))
    d = st.tasks["a"].description
    assert "\x1b" not in d and "\x07" not in d
    assert d.startswith("\\x1b[2J")
    assert len(d) <= 200


def _collector(clock=None):
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    st = ProgressState(clock=clock or ManualClock())
    lock = threading.Lock()
    return inbox, st, Collector(inbox, st, lock)


def test_collector_coalesces_a_batch_into_one_state_change_per_task():
    _, st, col = _collector()
    batch = [rep(task="a", seq=i, completed=i) for i in range(1, 1001)]
    batch += [rep(task="b", seq=i, completed=2 * i) for i in range(1, 501)]
    batch.append(rep(task="a", seq=3, completed=3))  # stale: must not win
    st.add_task("a")
    st.add_task("b")
    version = st.version
    col._apply(batch)
    assert st.tasks["a"].completed == 1000 and st.tasks["b"].completed == 1000
    assert st.version - version == 2  # one applied report per task


def test_collector_survives_malformed_messages():
    inbox, st, col = _collector()
    col.start()
    try:
        inbox.put("garbage")
        inbox.put(object())
        inbox.put(Report("a", "not-an-int", 1, None, "d", "running", None, 1))
        inbox.put(Report("b", 1, float("nan"), None, "d", "running", None, 1))
        inbox.put(Report("c", 1, 1, -5, "d", "running", None, 1))
        inbox.put(("tuple", "of", "junk"))
        inbox.put(rep(task="ok", seq=1, completed=42))
        inbox.put(LogRecord(None, 1, "w", "INFO", "hello"))
        inbox.put(Verdict(("ok",), "failed", "worker died", 1))
        assert col.barrier().wait(5)
    finally:
        col.stop()
    assert st.malformed == 6
    assert st.tasks["ok"].completed == 42 and st.tasks["ok"].status == "failed"
    assert [r.text for r in col.logs] == ["hello"]


def test_barrier_releases_after_prior_messages():
    inbox, st, col = _collector()
    col.start()
    try:
        for i in range(1, 20_001):
            inbox.put(rep(seq=i, completed=i))
        assert col.barrier().wait(5)
        assert st.tasks["a"].completed == 20_000
    finally:
        col.stop()
    assert isinstance(Barrier(1), tuple)


def test_hand_crafted_reports_never_kill_the_collector():
    import queue as _queue
    import threading as _threading

    from fanin._wire import Report as _Report

    inbox: _queue.SimpleQueue = _queue.SimpleQueue()
    state = ProgressState()
    c = Collector(inbox, state, _threading.Lock())
    c.start()
    for bad in (_Report(["x"], 1, 1, None, "d", "running", None, 1, 0),  # type: ignore[arg-type]
                _Report("t", "1", 1, None, "d", "running", None, 1, 0),  # type: ignore[arg-type]
                _Report("t", 1, 1, None, "d", "running", None, 1, "0"),  # type: ignore[arg-type]
                ("not", "a", "report"), object()):
        inbox.put(bad)
    inbox.put(_Report("ok", 1, 5, 5, "d", "done", None, 1, 0))
    assert c.barrier().wait(5)
    c.stop()
    assert state.tasks["ok"].completed == 5 and state.malformed >= 5


# -- issue 15 item 24: done tasks beyond KEEP_DONE fold into the counts ----------------------

def _many_subtasks(n: int, keep: int, monkeypatch) -> ProgressState:
    import fanin._ingest.state as state_mod

    monkeypatch.setattr(state_mod, "KEEP_DONE", keep)
    s = ProgressState(clock=ManualClock())
    s.apply(rep("p", 1, 0, None))
    for i in range(1, n + 1):
        s.apply(rep(f"p/{i}", 1, 0, 2, desc=f"sub {i}"))
        s.apply(rep(f"p/{i}", 2, 2, 2, status="done", desc=f"sub {i}"))
    s.apply(rep("p/failed", 1, 1, 2, status="failed", error="boom"))
    return s


def test_folded_done_tasks_keep_every_count_and_sum(monkeypatch):
    folded = _many_subtasks(50, 10, monkeypatch)
    listed = _many_subtasks(50, 10**9, monkeypatch)
    a, b = folded.snapshot(), listed.snapshot()
    assert (a.counts, a.completed, a.total) == (b.counts, b.completed, b.total)
    assert a.folded == 40 and b.folded == 0
    assert len(folded.all_views()) == 1 + 10 + 1  # the parent, the newest 10, the failure
    assert [v.status for v in folded.all_views() if v.error] == ["failed"]
    # A total set on the parent later covers its sub-tasks, folded ones included.
    for s in (folded, listed):
        s.apply(rep("p", 2, 0, 500))
    a, b = folded.snapshot(), listed.snapshot()
    assert (a.completed, a.total) == (b.completed, b.total) == (0, 500)


def test_a_finished_task_keeps_no_rate_samples():
    clock = ManualClock()
    s = ProgressState(clock=clock)
    s.apply(rep("a", 1, 1, 10))
    clock.advance(1.0)
    s.apply(rep("a", 2, 5, 10))
    assert s.tasks["a"].samples
    clock.advance(1.0)
    s.apply(rep("a", 3, 10, 10, status="done"))
    assert s.tasks["a"].samples is None
    assert s.view(s.tasks["a"], clock()).rate == 5.0  # completed / elapsed
