"""Integrations: ProgressExecutor, fanin.track, hub.amap, Jupyter (issue 5, item 7)."""

from __future__ import annotations

import asyncio
import functools
import io
import sys
import threading
import time
import types

import pytest
import workers
from conftest import START_METHODS

import fanin
from fanin._display import notebook

# -- worker functions: module level, so they pickle under spawn and forkserver -----------------


def count(n, progress):
    for _ in range(n):
        progress.advance()
    return n


def scaled(n, factor=1, *, progress):
    progress.set_total(n)
    for _ in range(n):
        progress.advance()
    return n * factor


def explode(n, progress):
    progress.advance(n)
    raise ValueError(f"explode {n}")


def statuses(tasks):
    out: dict[str, int] = {}
    for t in tasks:
        out[t.status] = out.get(t.status, 0) + 1
    return out


class Recorder:
    """A view that keeps the final snapshot, so tests can read a hub they cannot reach."""

    def __init__(self):
        self.final = None
        self.frames = 0

    def summary(self, views, snap): ...
    def start(self): ...
    def max_rows(self):
        return 100
    def draw(self, snap, logs, final):
        self.frames += 1
        if final:
            self.final = snap
    def stop(self): ...


def hub_threads():
    return [t.name for t in threading.enumerate() if t.name.startswith(("fanin-render",
                                                                       "fanin-collector"))]


# -- ProgressExecutor ------------------------------------------------------------------------------

EXECUTOR_CASES = [("thread", None)] + [("process", m) for m in START_METHODS]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("backend", "method"), EXECUTOR_CASES)
def test_executor_exact_counts_and_map(backend, method):
    kw = {"start_method": method} if method else {}
    sizes = [0, 1, 7, 300, 1000, 5]
    with fanin.ProgressExecutor(backend, max_workers=2, progress="off", **kw) as ex:
        futs = [ex.submit(count, n) for n in sizes]
        mapped = list(ex.map(scaled, [3, 4, 5], [10, 20, 30]))
        kwarg = ex.submit(scaled, 6, factor=7)
        assert [f.result(timeout=30) for f in futs] == sizes
        assert mapped == [30, 80, 150]
        assert kwarg.result(timeout=30) == 42
    tasks = ex.hub.tasks()
    assert statuses(tasks) == {"done": len(sizes) + 4}
    assert [t.completed for t in tasks] == sizes + [3, 4, 5, 6]
    assert [t.description for t in tasks[:2]] == ["count #1", "count #2"]
    assert [t.total for t in tasks[-4:]] == [3, 4, 5, 6]
    with pytest.raises(RuntimeError, match="after shutdown"):
        ex.submit(count, 1)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["thread", "process"])
def test_executor_exception_propagates(backend):
    with fanin.ProgressExecutor(backend, max_workers=2, progress="off") as ex:
        bad = ex.submit(explode, 4)
        good = ex.submit(count, 3)
        with pytest.raises(ValueError, match="explode 4"):
            bad.result(timeout=30)
        assert good.result(timeout=30) == 3
    failed = ex.hub.failed
    assert len(failed) == 1 and failed[0].completed == 4 and "explode 4" in failed[0].error


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["thread", "process"])
def test_executor_shutdown_waits_for_queued_work(backend):
    # Hub.close alone would cancel queued tasks; Executor.shutdown must run them first.
    ex = fanin.ProgressExecutor(backend, max_workers=1, progress="off")
    futs = [ex.submit(workers.sleep_then, 3) for _ in range(6)]  # ~30 ms each, one worker
    ex.shutdown(wait=True)
    assert [f.result(timeout=0) for f in futs] == [3] * 6
    assert statuses(ex.hub.tasks()) == {"done": 6}
    ex.shutdown()  # idempotent


def _blocker(started, release, progress):
    started.set()
    release.wait(10)
    progress.advance()
    return "ran"


def test_executor_shutdown_cancel_futures():
    started, release = threading.Event(), threading.Event()
    ex = fanin.ProgressExecutor("thread", max_workers=1, progress="off")
    first = ex.submit(_blocker, started, release)
    assert started.wait(10)
    queued = [ex.submit(count, 5) for _ in range(5)]
    ex.shutdown(wait=False, cancel_futures=True)
    assert all(f.cancelled() for f in queued)
    with pytest.raises(RuntimeError, match="after shutdown"):
        ex.submit(count, 1)
    release.set()
    ex.shutdown(wait=True)  # joins the background close
    assert first.result(timeout=0) == "ran"
    assert statuses(ex.hub.tasks()) == {"done": 1, "cancelled": 5}


@pytest.mark.timeout(60)
def test_executor_shutdown_cancel_futures_process():
    ex = fanin.ProgressExecutor("process", max_workers=1, progress="off")
    futs = [ex.submit(workers.sleep_then, 20) for _ in range(8)]  # ~0.2 s each
    futs[0].result(timeout=30)
    ex.shutdown(wait=True, cancel_futures=True)
    # Queued futures are cancelled; jobs a worker had prefetched are withdrawn (their
    # futures were already running, so they raise TaskCancelled instead).
    cancelled = [f for f in futs if f.cancelled() or isinstance(f.exception(), fanin.TaskCancelled)]
    assert len(cancelled) >= 4
    counts = statuses(ex.hub.tasks())
    assert counts["cancelled"] == len(cancelled)
    assert counts["done"] == 8 - len(cancelled)


def test_executor_argument_errors():
    with pytest.raises(ValueError, match="backend"):
        fanin.ProgressExecutor("gpu")
    with fanin.ProgressExecutor(progress="off") as ex, pytest.raises(TypeError, match="progress"):
        ex.submit(count, 1, progress=None)
    # Never used: nothing was started, shutdown is a no-op.
    fanin.ProgressExecutor(progress="off").shutdown()


# -- fanin.track ----------------------------------------------------------------------------------


def test_track_exact_count_and_closes():
    rec = Recorder()
    seen = []
    for x in fanin.track(range(1000), description="items", view=rec):
        seen.append(x)
        assert hub_threads()  # the display lives while the loop runs
    assert seen == list(range(1000))
    assert not hub_threads()  # and is gone, with its final frame, when it ends
    assert rec.final.completed == 1000 and rec.final.total == 1000
    assert rec.final.counts["done"] == 1


def test_track_without_len_and_explicit_total():
    rec = Recorder()
    assert sum(fanin.track((i for i in range(50)), view=rec)) == sum(range(50))
    assert rec.final.completed == 50 and rec.final.total is None
    rec = Recorder()
    assert len(list(fanin.track(iter(range(8)), total=8, view=rec))) == 8
    assert rec.final.total == 8


def test_track_break_closes_hub_and_counts_consumed_items():
    rec = Recorder()
    for i in fanin.track(range(100), view=rec):
        if i == 10:
            break
    assert not hub_threads()  # closed at once by the generator's close, not by the GC
    assert rec.final.completed == 10  # items 0..9 finished; 10 was abandoned
    assert rec.final.counts["cancelled"] == 1


def test_track_exception_in_iterable_fails_task_and_closes():
    def source():
        yield 1
        yield 2
        raise OSError("disk gone")

    rec = Recorder()
    with pytest.raises(OSError, match="disk gone"):
        for _ in fanin.track(source(), view=rec):
            pass
    assert not hub_threads()
    assert rec.final.counts["failed"] == 1 and rec.final.completed == 2


def test_track_bad_arguments_raise_at_the_call():
    with pytest.raises(ValueError, match="total"):
        fanin.track(range(3), total=-1)
    with pytest.raises(TypeError, match="description"):
        fanin.track(range(3), description=5)
    fanin.track(range(3), progress="off")  # never iterated: no hub started, nothing leaks


def test_track_plain_output():
    buf = io.StringIO()
    assert list(fanin.track(range(3), description="plainly", file=buf, progress="plain")) == [0, 1, 2]
    assert "plainly" in buf.getvalue() and "\x1b" not in buf.getvalue()


# -- asyncio --------------------------------------------------------------------------------------


async def co_count(n, progress):
    for _ in range(n):
        progress.advance()
        await asyncio.sleep(0)
    return n


def test_amap_coroutines_exact_counts_order_and_concurrency():
    active = 0
    peak = 0

    async def job(n, progress):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            for _ in progress.track(range(n)):
                await asyncio.sleep(0)
        finally:
            active -= 1
        return n * 10

    sizes = [50, 0, 3, 200, 7, 1, 99, 20]
    with fanin.Hub(workers=4, progress="off") as hub:
        results = asyncio.run(hub.amap(job, sizes, concurrency=3, description="co",
                                       total=lambda n: n))
        tasks = hub.tasks()
    assert results == [n * 10 for n in sizes]
    assert peak == 3
    assert [t.completed for t in tasks] == sizes
    assert [t.description for t in tasks][:2] == ["co 1/8", "co 2/8"]
    assert statuses(tasks) == {"done": len(sizes)}


def test_amap_coroutine_failure_cancels_the_rest():
    async def job(n, progress):
        progress.advance(n)
        if n == 3:
            raise KeyError("three")
        await asyncio.sleep(30)
        return n

    with fanin.Hub(workers=8, progress="off") as hub:
        t0 = time.monotonic()
        with pytest.raises(KeyError, match="three"):
            asyncio.run(hub.amap(job, range(8), concurrency=4))
        assert time.monotonic() - t0 < 5
        tasks = hub.tasks()
    by_status = statuses(tasks)
    assert by_status == {"failed": 1, "cancelled": 7}
    assert all("fail-fast" in t.error for t in tasks if t.status == "cancelled")


def test_amap_cancelled_caller_cancels_coroutines():
    async def forever(n, progress):
        progress.advance()
        await asyncio.sleep(30)

    async def main(hub):
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(hub.amap(forever, range(4)), 0.2)
        await asyncio.sleep(0.01)  # let the cancelled coroutines settle their reporters

    with fanin.Hub(workers=2, progress="off") as hub:
        asyncio.run(main(hub))
        hub.sync()
        assert statuses(hub.tasks()) == {"cancelled": 4}


def test_hub_reporter_is_loop_safe_in_coroutines():
    # hub.reporter() used in the hub's own process posts into the in-process inbox: no
    # multiprocessing queue, no waiting on the collector, so coroutines may call it freely.
    async def main(hub):
        async def one(i):
            with hub.reporter(f"manual {i}", total=100) as rep:
                for _ in range(100):
                    rep.advance()
                    await asyncio.sleep(0)

        await asyncio.gather(*(one(i) for i in range(5)))

    with fanin.Hub(progress="off") as hub:
        rep = hub.reporter("probe")
        assert rep._channel._forward == hub._pipeline.inbox.put  # no queue in its own process
        rep.finish()
        asyncio.run(main(hub))
        hub.sync()
        manual = [t for t in hub.tasks() if t.description.startswith("manual")]
    assert [t.completed for t in manual] == [100] * 5
    assert {t.status for t in manual} == {"done"}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["thread", "process"])
def test_amap_plain_function_runs_on_backend(backend):
    sizes = [5, 0, 250, 17, 1]
    with fanin.Hub(backend, workers=2, progress="off") as hub:
        results = asyncio.run(hub.amap(workers.count_to, sizes))
        tasks = hub.tasks()
        with pytest.raises(ValueError, match="bad item 2"):
            asyncio.run(hub.amap(workers.raise_if, [(1, False), (2, True), (3, False)]))
    assert results == sizes
    assert [t.completed for t in tasks] == sizes
    assert statuses(tasks) == {"done": len(sizes)}


def test_amap_argument_errors():
    with fanin.Hub(progress="off") as hub:
        with pytest.raises(ValueError, match="concurrency"):
            asyncio.run(hub.amap(co_count, [1], concurrency=0))
        with pytest.raises(TypeError, match="description"):
            asyncio.run(hub.amap(co_count, [1], description=3))
        assert asyncio.run(hub.amap(co_count, [])) == []
        assert asyncio.run(hub.amap(functools.partial(co_count), [2])) == [2]
        assert hub.tasks()[-1].description == "co_count 1/1"  # partial unwrapped
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(hub.amap(co_count, [1]))


# -- Jupyter --------------------------------------------------------------------------------------


class ZMQInteractiveShell:  # the class name is what identifies a Jupyter kernel
    pass


def test_in_jupyter_detection(monkeypatch):
    assert not notebook.in_jupyter()
    monkeypatch.setattr("builtins.get_ipython", lambda: ZMQInteractiveShell(), raising=False)
    assert notebook.in_jupyter()
    monkeypatch.setattr("builtins.get_ipython", lambda: None)
    assert not notebook.in_jupyter()


@pytest.fixture
def fake_notebook(monkeypatch):
    """A Jupyter kernel with ipywidgets, as far as Rich and fanin can tell."""
    shown = []

    class Output:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def clear_output(self, wait=False):
            shown.clear()

    def display(obj, *args, **kwargs):
        if not isinstance(obj, Output):
            shown.append(obj.text)

    ipython = types.ModuleType("IPython")
    ipython_display = types.ModuleType("IPython.display")
    ipython_display.display = display
    ipython.display = ipython_display
    widgets = types.ModuleType("ipywidgets")
    widgets.Output = Output
    widgets.__spec__ = types.SimpleNamespace(name="ipywidgets")
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", ipython_display)
    monkeypatch.setitem(sys.modules, "ipywidgets", widgets)
    monkeypatch.setattr("builtins.get_ipython", lambda: ZMQInteractiveShell(), raising=False)
    return shown


def test_auto_progress_picks_rich_in_jupyter(fake_notebook):
    from fanin._display.richview import RichView

    assert notebook.notebook_mode() == "rich"
    from fanin._display.choose import choose_view

    view = choose_view("auto", io.StringIO())
    assert isinstance(view, RichView)
    assert view.console.is_jupyter


def test_auto_progress_without_ipywidgets_is_plain(monkeypatch):
    monkeypatch.setattr("builtins.get_ipython", lambda: ZMQInteractiveShell(), raising=False)
    monkeypatch.setattr(notebook.importlib.util, "find_spec", lambda name: None)
    assert notebook.notebook_mode() == "plain"


def test_rich_view_in_notebook_shows_final_state(fake_notebook):
    from rich.console import Console

    from fanin._display.richview import RichView

    out = io.StringIO()
    view = RichView(console=Console(force_jupyter=True, file=out, width=100))
    with fanin.Hub(workers=2, view=view, summary=False, refresh=50) as hub:
        assert hub.map(workers.count_to, [10, 20, 30]) == [10, 20, 30]
    assert hub.render_thread is not None and not hub.render_thread.is_alive()
    final = "\n".join(fake_notebook)
    assert "overall 3/3" in final and "3 done" in final and "60" in final
    assert out.getvalue() == ""  # in a notebook Rich displays HTML, it does not write the file


@pytest.mark.filterwarnings("ignore:install \"ipywidgets\"")
def test_rich_view_forced_jupyter_without_ipython_does_not_crash():
    from rich.console import Console

    from fanin._display.richview import RichView

    view = RichView(console=Console(force_jupyter=True, file=io.StringIO(), width=80))
    with fanin.Hub(workers=2, view=view, summary=False) as hub:
        assert hub.map(workers.count_to, [3, 4]) == [3, 4]
    assert [t.completed for t in hub.tasks()] == [3, 4]
