"""Exact counts and results across backends and start methods, with real workers."""

from __future__ import annotations

import pytest
import workers
from conftest import START_METHODS

import fanin

pytestmark = pytest.mark.timeout(120)

BACKENDS = [("thread", None)] + [("process", m) for m in START_METHODS]
IDS = [f"{b}-{m}" if m else b for b, m in BACKENDS]


@pytest.mark.parametrize(("backend", "method"), BACKENDS, ids=IDS)
def test_exact_counts_many_workers_and_tasks(backend, method):
    # 8 workers x 50 tasks x 10,000 advances, plus sub-tasks started and finished out of order.
    with fanin.Hub(backend=backend, workers=8, progress="off", start_method=method) as hub:
        results = hub.map(workers.count_to, [10_000] * 50)
        sub = hub.map(workers.many_subtasks, [(5, 2_000)] * 8)
        tasks = hub.tasks()
    assert results == [10_000] * 50
    assert sub == [10_000] * 8
    top = [t for t in tasks if "/" not in t.id]
    subs = [t for t in tasks if "/" in t.id]
    assert len(top) == 58 and len(subs) == 40
    assert all(t.status == "done" for t in tasks)
    assert [t.completed for t in top[:50]] == [10_000] * 50
    assert all(t.completed == 2_000 for t in subs)
    snap = hub.snapshot()
    assert snap.completed == 50 * 10_000 + 40 * 2_000
    assert snap.malformed == 0


@pytest.mark.parametrize(("backend", "method"), BACKENDS, ids=IDS)
def test_track_results_in_input_order(backend, method):
    sizes = [300, 1, 0, 2_000, 17]
    with fanin.Hub(backend=backend, workers=3, progress="off", start_method=method) as hub:
        assert hub.map(workers.track_items, sizes) == sizes
    done = {t.description: t for t in hub.tasks()}
    for n in sizes:
        assert done[f"track {n}"].completed == n
        assert done[f"track {n}"].total == n


@pytest.mark.parametrize("method", START_METHODS)
def test_reporter_in_user_started_processes(method):
    with fanin.Hub(progress="off", start_method=method) as hub:
        r1 = hub.reporter("download", total=5_000)
        r2 = hub.reporter("no finish", total=3_000)
        p1 = hub.mp_context.Process(target=workers.fetch_all, args=(r1, 5_000))
        p2 = hub.mp_context.Process(target=workers.fetch_no_finish, args=(r2, 3_000))
        p1.start()
        p2.start()
        p1.join(30)
        p2.join(30)
        assert hub.sync()
        views = {t.description: t for t in hub.tasks()}
    assert (p1.exitcode, p2.exitcode) == (0, 0)
    assert views["download"].completed == 5_000
    assert views["download"].status == "done"
    # Flushed on normal worker exit even without finish(): nothing lost.
    assert views["no finish"].completed == 3_000
    assert views["no finish"].status == "running"


def test_reporter_in_user_threads():
    import threading

    with fanin.Hub(progress="off") as hub:
        reps = [hub.reporter(f"thread {i}", total=20_000) for i in range(4)]

        def work(r):
            with r:
                for _ in range(20_000):
                    r.advance()

        threads = [threading.Thread(target=work, args=(r,)) for r in reps]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [t.completed for t in hub.tasks()] == [20_000] * 4
    assert {t.status for t in hub.tasks()} == {"done"}


@pytest.mark.parametrize(("backend", "method"), BACKENDS, ids=IDS)
def test_worker_exception_reraised_with_traceback(backend, method):
    with pytest.raises(ValueError, match="boom 7") as info:
        with fanin.Hub(backend=backend, workers=2, progress="off", start_method=method) as hub:
            hub.map(workers.raise_value_error, [7])
    if backend == "process":
        assert isinstance(info.value.__cause__, fanin.RemoteTraceback)
        assert "raise_value_error" in str(info.value.__cause__)
    else:
        assert any(f.co_name == "raise_value_error" for f in _frames(info.value.__traceback__))
    (task,) = hub.tasks()
    assert task.status == "failed"
    assert task.completed == 7
    assert "boom 7" in task.error


def _frames(tb):
    while tb is not None:
        yield tb.tb_frame.f_code
        tb = tb.tb_next


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_collect_errors_runs_everything(backend):
    specs = [(1, False), (2, True), (3, False), (4, True), (5, False)]
    with fanin.Hub(backend=backend, workers=2, progress="off") as hub:
        out = hub.map(workers.raise_if, specs, on_error="collect")
    assert [r for r in out if not isinstance(r, fanin.Failure)] == [1, 3, 5]
    failures = [r for r in out if isinstance(r, fanin.Failure)]
    assert [f.index for f in failures] == [1, 3]
    assert all(isinstance(f.error, ValueError) for f in failures)
    statuses = [t.status for t in hub.tasks()]
    assert statuses == ["done", "failed", "done", "failed", "done"]


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_fail_fast_cancels_queued_items(backend):
    specs = [(1, True)] + [(i, False) for i in range(2, 40)]
    with pytest.raises(ValueError, match="bad item 1"):
        with fanin.Hub(backend=backend, workers=1, progress="off") as hub:
            hub.map(workers.raise_if, specs)
    counts = hub.snapshot().counts
    assert counts["failed"] == 1
    assert counts["cancelled"] >= 30  # queued items never ran
    assert counts["running"] == 0 and counts["queued"] == 0


def test_submit_returns_future():
    with fanin.Hub(backend="thread", workers=2, progress="off") as hub:
        futs = [hub.submit(workers.count_to, 100, description=f"n{i}", total=100) for i in range(5)]
        assert [f.result(timeout=10) for f in futs] == [100] * 5
    assert [t.description for t in hub.tasks()] == [f"n{i}" for i in range(5)]


@pytest.mark.parametrize("method", START_METHODS)
def test_jobs_spread_over_all_workers_before_prefetching(method):
    with fanin.Hub(backend="process", workers=3, progress="off", start_method=method) as hub:
        pids = hub.map(workers.pid_of, [None] * 3)
        assert sorted(pids) == sorted(hub.worker_pids)
