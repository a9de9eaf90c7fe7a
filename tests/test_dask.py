"""The Dask backend against a real 2-worker LocalCluster on 127.0.0.1 (one per module).

The cluster allows one retry per task (``allowed-failures: 1``): a task whose worker dies
once is rerun, one whose worker dies twice ends as ``KilledWorker`` -> ``WorkerDied``.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import psutil
import pytest

distributed = pytest.importorskip("distributed")
import dask
from distributed.protocol.serialize import _is_dumpable

import fanin
from fanin import Hub, RemoteTraceback, Reporter, WorkerDied
from fanin._backends.base import BackendConfig
from fanin._backends.dask import DaskBackend
from fanin._backends.dask_transport import DaskChannel, wire
from fanin._ingest.state import ProgressState
from fanin._wire import DONE, FAILED, RUNNING, Report


@pytest.fixture(scope="module")
def cluster():
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1",
        dashboard_address=None, silence_logs=logging.CRITICAL,
    ) as c:
        yield c


_THREADS = ("fanin-collector", "fanin-render", "fanin-pump", "fanin-worker", "fanin-dask")


@pytest.fixture(autouse=True)
def no_leaks(cluster):
    """Overrides conftest's: the same check, except that the module's cluster may replace
    a worker process (restarting killed workers is what the kill tests exercise)."""
    before = _children()
    yield
    deadline = time.monotonic() + 10
    while True:
        workers = {n.pid for n in cluster.workers.values()}
        threads = [t.name for t in threading.enumerate() if t.name.startswith(_THREADS)]
        children = _children() - before - workers
        if not threads and not children:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"leaked threads {threads} / processes {sorted(children)}")
        time.sleep(0.05)


def _children() -> set[int]:
    out = set()
    for p in psutil.Process().children():
        try:
            if p.status() != psutil.STATUS_ZOMBIE \
                    and "resource_tracker" not in " ".join(p.cmdline()):
                out.add(p.pid)
        except psutil.Error:
            pass
    return out


def _hub(cluster, **kw):
    return Hub(backend="dask", address=cluster.scheduler_address, progress="off",
               flush_interval=0.02, **kw)


# -- worker-side task functions (module level: they pickle by reference) ------------------
def count_to(n, rep):
    rep.set_total(n)
    for _ in range(n):
        rep.advance()
    return n


def advance_then_raise(n, rep):
    rep.advance(n)
    raise ValueError(f"bad item {n}")


def slow(n, rep):
    for _ in range(n):
        time.sleep(0.01)
        rep.advance()
    return n


def first_fails(i, rep):
    if i == 0:
        rep.advance(1)
        raise ValueError("first one fails")
    return slow(30, rep)


def die_once(marker, rep):
    """First run: report 30, let it reach the client, die. The rerun counts 100."""
    rep.set_total(100)
    if not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        rep.advance(30)
        rep.flush()
        time.sleep(0.5)
        os._exit(1)
    for _ in range(100):
        rep.advance()
    return os.getpid()


def always_die(n, rep):
    rep.advance(1)
    rep.flush()
    time.sleep(0.2)
    os._exit(1)


def user_task(rep: Reporter, n: int) -> int:
    rep.start(total=n)
    sub = rep.task("sub", total=3)
    for _ in range(n):
        rep.advance()
    sub.advance(3)
    sub.finish()
    rep.finish()
    return n


# -- tests ----------------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_many_tasks_exact_counts(cluster):
    sizes = [(i * 37) % 500 + 1 for i in range(60)]
    with _hub(cluster) as hub:
        results = hub.map(count_to, sizes, total=lambda n: n)
        tasks = hub.tasks()
        snap = hub.snapshot()
    assert results == sizes
    assert [t.completed for t in tasks] == sizes
    assert all(t.status == DONE and t.attempt == 0 for t in tasks)
    assert snap.completed == sum(sizes) and snap.total == sum(sizes)
    assert snap.counts[DONE] == len(sizes)


@pytest.mark.timeout(60)
def test_raising_task_fails_with_remote_traceback(cluster):
    with _hub(cluster) as hub:
        with pytest.raises(ValueError, match="bad item 7") as info:
            hub.map(advance_then_raise, [7])
        (task,) = hub.tasks()
    assert isinstance(info.value.__cause__, RemoteTraceback)
    assert "advance_then_raise" in str(info.value.__cause__)
    assert task.status == FAILED and task.completed == 7
    assert "ValueError: bad item 7" in (task.error or "")


@pytest.mark.timeout(60)
def test_fail_fast_leaves_no_task_unsettled(cluster):
    with _hub(cluster) as hub:
        with pytest.raises(ValueError):
            hub.map(first_fails, list(range(12)))
        statuses = [t.status for t in hub.tasks()]
    assert FAILED in statuses
    assert RUNNING not in statuses and "queued" not in statuses
    assert "cancelled" in statuses  # the queued ones, cancelled after the failure


@pytest.mark.timeout(90)
def test_killed_worker_rerun_is_a_new_attempt_counted_once(cluster, tmp_path):
    marker = str(tmp_path / "died")
    with _hub(cluster) as hub:
        results = hub.map(die_once, [marker])
        (task,) = hub.tasks()
        overall = hub.snapshot().completed
    assert os.path.exists(marker)
    assert results[0] != int(Path(marker).read_text())  # the rerun ran in another process
    assert task.status == DONE
    assert task.attempt >= 1
    assert task.completed == overall == 100  # the rerun's count, not 30 + 100


@pytest.mark.timeout(90)
def test_task_whose_workers_keep_dying_fails_with_worker_died(cluster):
    with _hub(cluster) as hub:
        out = hub.map(always_die, [1], on_error="collect")
        (task,) = hub.tasks()
    assert isinstance(out[0], fanin.Failure)
    assert isinstance(out[0].error, WorkerDied)
    assert task.status == FAILED and "dying" in (task.error or "")
    assert task.completed <= 1


@pytest.mark.timeout(60)
def test_user_reporter_in_own_client_submit(cluster):
    with _hub(cluster) as hub, distributed.Client(cluster, set_as_default=False) as client:
        rep = hub.reporter("mine", total=10)
        assert client.submit(user_task, rep, 250).result() == 250
        hub.sync()
        by_desc = {t.description: t for t in hub.tasks()}
    assert by_desc["mine"].completed == 250 and by_desc["mine"].status == DONE
    assert by_desc["sub"].completed == 3 and by_desc["sub"].status == DONE


@pytest.mark.timeout(30)
def test_attempts_from_run_ids_restart_progress_once():
    forwarded: list[object] = []
    pool = DaskBackend(BackendConfig(1, forwarded.append, 0.05, address="tcp://127.0.0.1:1"))  # never started

    def send(run, seq, completed, status=RUNNING):
        pool._on_event((0.0, wire(run, Report("t1", seq, completed, 100, "d", status, None,
                                               1, 0))))

    send("aaa", 1, 0)
    send("aaa", 2, 30)
    send("bbb", 1, 0)  # the rerun after a worker death
    send("aaa", 3, 40)  # a straggler from the dead run
    send("bbb", 2, 100, DONE)
    assert [r.attempt for r in forwarded] == [0, 0, 1, 0, 1]
    state = ProgressState()
    state.apply_many(forwarded)  # type: ignore[arg-type]
    (ts,) = state.tasks.values()
    assert (ts.status, ts.completed, ts.attempt, state.completed) == (DONE, 100, 1, 100)
    pool._on_event((0.0, ("garbage",)))
    assert forwarded[-1] == ("garbage",)  # the collector counts it as malformed


@pytest.mark.timeout(30)
def test_wire_is_plain_msgpack_data():
    big = 2**70
    r = Report("t", 1, Fraction(1, 2), big, "x", RUNNING, None, 1, 0)
    wired = wire("run", r)
    assert wired[3] == 0.5 and type(wired[3]) is float
    assert type(wired[4]) is float
    assert _is_dumpable(wired)
    ch = DaskChannel("topic")
    copy = pickle.loads(pickle.dumps(ch))
    assert copy.topic == "topic" and copy.run != ch.run  # each unpickled copy is a new run


@pytest.mark.timeout(30)
def test_reporter_copy_outside_a_worker_and_the_hub_is_inert():
    """What the scheduler sees when it unpickles a graph: no tracking, nothing sent."""
    from fanin._worker.flusher import FLUSHER
    from fanin._worker.reporter import Reporter

    rep = Reporter(DaskChannel("fanin-no-such-hub"), "t1", "d", 10)
    copy = pickle.loads(pickle.dumps(rep))
    assert id(copy) not in FLUSHER.live and id(copy) not in FLUSHER.weak


@pytest.mark.timeout(30)
def test_missing_distributed_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'fanin\[dask\]'"):
        Hub(backend="dask")
    with pytest.raises(ValueError, match="address"):
        Hub(backend="thread", address="tcp://127.0.0.1:8786")


@pytest.mark.timeout(60)
def test_fanin_works_without_dask_installed():
    code = (
        "import sys; sys.modules['distributed'] = None; sys.modules['dask'] = None\n"
        "import fanin\n"
        "from fanin._cli.demo import Job, run_job\n"
        "for backend in ('thread', 'process'):\n"
        "    with fanin.Hub(backend=backend, workers=2, progress='off') as hub:\n"
        "        assert hub.map(run_job, [Job('j', 100, 1)] * 3) == [100] * 3\n"
        "try:\n"
        "    fanin.Hub(backend='dask')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=50, check=False)
    assert out.returncode == 0, out.stderr
    assert "pip install 'fanin[dask]'" in out.stdout


def _demo(*args):
    return subprocess.run(
        [sys.executable, "-m", "fanin", "demo", "--backend", "dask", "--workers", "2",
         "--jobs", "4", "--items", "2000", "--item-us", "20", "--progress", "plain", *args],
        capture_output=True, text=True, timeout=80, check=False,
    )


@pytest.mark.timeout(90)
def test_demo_cli_on_its_own_local_cluster():
    out = _demo()
    assert out.returncode == 0, out.stderr
    assert "8000 items" in out.stdout and "4 done, 0 failed" in out.stdout


@pytest.mark.timeout(60)
def test_demo_cli_with_address_and_a_failing_job(cluster):
    out = _demo("--address", cluster.scheduler_address, "--fail-job", "2")
    assert out.returncode == 1, out.stderr
    assert "3 done, 1 failed" in out.stdout
    assert "job 2 failed at item 1000" in out.stderr


@pytest.mark.timeout(60)
def test_fail_fast_cancels_only_its_own_call(cluster):
    from test_failure_policy import fail_fast_does_not_cancel_other_callers_work

    with Hub(backend="dask", address=cluster.scheduler_address, progress="off") as hub:
        fail_fast_does_not_cancel_other_callers_work(hub)
