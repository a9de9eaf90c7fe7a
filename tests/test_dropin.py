"""fanin's executors and Pool as drop-ins for concurrent.futures and multiprocessing.Pool
(issue 10). CPython's own suites run against them in tests/stdlib (marker ``stdlib``)."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import multiprocessing
import os
import time
import warnings
from concurrent.futures.process import BrokenProcessPool

import pytest
import workers

import fanin


@pytest.mark.timeout(60)
@pytest.mark.parametrize("cls", [fanin.ThreadPoolExecutor, fanin.ProcessPoolExecutor])
def test_functions_are_called_unchanged(cls):
    with cls(2, progress="off") as ex:
        assert ex.submit(pow, 2, 8).result() == 256
        assert ex.submit(sum, [1, 2, 3]).result() == 6
        assert ex.submit(workers.takes_kwargs, 1, a=1).result() == ["a"]  # no progress added
        assert ex.submit(workers.wants_progress, 7).result() == 7  # asked for it: gets it
        assert list(ex.map(pow, [2, 3], [2, 2])) == [4, 9]
    assert isinstance(ex, cf.Executor)


def test_constructors_are_the_stdlibs():
    with pytest.raises(ValueError, match="max_workers must be greater than 0"):
        fanin.ThreadPoolExecutor(0)
    with pytest.raises(ValueError, match="max_workers must be greater than 0"):
        fanin.ProcessPoolExecutor(-1)
    with pytest.raises(TypeError, match="initializer must be a callable"):
        fanin.ThreadPoolExecutor(initializer=3)
    with pytest.raises(ValueError, match="incompatible with the 'fork'"):
        fanin.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"),
                                  max_tasks_per_child=1)
    ex = fanin.ThreadPoolExecutor(progress="off")
    assert ex.hub.workers == min(32, (os.cpu_count() or 1) + 4)
    ex.shutdown()
    ex = fanin.ProcessPoolExecutor(2, multiprocessing.get_context("spawn"), None, (),
                                   max_tasks_per_child=None, progress="off")
    assert ex.hub.mp_context.get_start_method() == "spawn"
    ex.shutdown()
    ex = fanin.ThreadPoolExecutor(2, "mine", progress="off")
    assert "mine" in ex.submit(lambda: __import__("threading").current_thread().name).result()
    ex.shutdown()
    with fanin.ThreadPoolExecutor(1, progress="off") as ex, pytest.raises(ValueError,
                                                                          match="chunksize"):
        ex.map(str, [1], chunksize=-1)


def test_asyncio_accepts_the_thread_executor():
    async def main():
        loop = asyncio.get_running_loop()
        with fanin.ThreadPoolExecutor(2, progress="off") as ex:
            loop.set_default_executor(ex)
            return await loop.run_in_executor(None, sum, [1, 2])

    assert asyncio.run(main()) == 3


def test_submit_after_shutdown_is_the_stdlibs_error():
    ex = fanin.ThreadPoolExecutor(1, progress="off")
    ex.shutdown()
    with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
        ex.submit(pow, 2, 2)


@pytest.mark.timeout(60)
def test_worker_death_is_a_broken_process_pool_but_only_for_its_job():
    with fanin.ProcessPoolExecutor(1, progress="off") as ex:
        dead = ex.submit(os._exit, 3)
        with pytest.raises(BrokenProcessPool):
            dead.result(timeout=30)
        assert isinstance(dead.exception(), fanin.WorkerDied)
        assert ex.submit(pow, 3, 2).result(timeout=30) == 9  # the pool goes on


@pytest.mark.timeout(60)
def test_failing_initializer_breaks_the_pool_like_the_stdlib():
    ex = fanin.ProcessPoolExecutor(1, initializer=workers.broken_initializer, progress="off")
    try:
        try:
            fut = ex.submit(pow, 2, 2)
        except BrokenProcessPool:
            pass  # already broken: the stdlib raises from submit too
        else:
            with pytest.raises(BrokenProcessPool):
                fut.result(timeout=30)
    finally:
        ex.shutdown()


@pytest.mark.timeout(90)
def test_max_tasks_per_child_retires_workers():
    with fanin.ProcessPoolExecutor(1, max_tasks_per_child=2, progress="off") as ex:
        pids = [ex.submit(workers.getpid).result(timeout=30) for _ in range(6)]
    assert len(set(pids)) == 3


@pytest.mark.timeout(60)
def test_map_honours_chunksize_and_order():
    with fanin.ProcessPoolExecutor(2, progress="off") as ex:
        assert list(ex.map(workers.square, range(1000), chunksize=97)) == \
            [x * x for x in range(1000)]
        ids = list(ex.map(workers.chunk_task_id, range(100), chunksize=10))
        assert len(set(ids)) == 10
        (bar,) = [t for t in ex.hub.tasks() if t.total == 1000]
        assert bar.completed == 1000


@pytest.mark.timeout(60)
def test_map_raises_at_the_failing_items_place():
    with fanin.ThreadPoolExecutor(2, progress="off") as ex:
        it = ex.map(workers.fail_on_13, range(20), chunksize=8)
        got = []
        with pytest.raises(KeyError):
            for value in it:
                got.append(value)
        assert got == list(range(13))


@pytest.mark.timeout(60)
def test_pool_has_the_stdlib_interface():
    with fanin.Pool(2, progress="off") as pool:
        assert pool.map(workers.square, range(10)) == [x * x for x in range(10)]
        assert pool.starmap(workers.add, [(1, 2), (3, 4)]) == [3, 7]
        assert pool.apply(workers.square, (7,)) == 49
        got = []
        r = pool.apply_async(workers.square, (3,), callback=got.append)
        assert r.get(timeout=10) == 9 and r.successful()
        r.wait()
        assert got == [9]
        assert sorted(pool.imap_unordered(workers.square, range(20), chunksize=3)) == \
            sorted(x * x for x in range(20))
        it = pool.imap(workers.square, range(5))
        assert it.next(timeout=10) == 0 and list(it) == [1, 4, 9, 16]
        with pytest.raises(KeyError):
            pool.map(workers.fail_on_13, range(20))
        errors = []
        r = pool.map_async(workers.fail_on_13, range(20), error_callback=errors.append)
        with pytest.raises(KeyError):
            r.get(timeout=10)
        assert isinstance(errors[0], KeyError)
        r = pool.map_async(time.sleep, [1.0], chunksize=1)
        with pytest.raises(multiprocessing.TimeoutError):
            r.get(timeout=0.05)
    pool = fanin.Pool(1, progress="off")
    with pytest.raises(ValueError, match="still running"):
        pool.join()
    pool.close()
    with pytest.raises(ValueError, match="Pool not running"):
        pool.apply_async(pow, (2, 2))
    pool.join()


def _items_then_raise(total, when):
    if when == -1:
        raise LookupError("the input failed")
    for i in range(total):
        if i == when:
            raise LookupError("the input failed")
        yield i


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ordered", [True, False])
def test_pool_imap_raises_the_inputs_exception_at_its_place(ordered):
    # As the stdlib: the exception takes the place of the chunk being filled when the
    # input raised (its items before it are dropped); imap itself does not raise.
    with fanin.Pool(2, progress="off") as pool:
        imap = pool.imap if ordered else pool.imap_unordered
        for (total, when, chunksize), kept in {(1, -1, 1): 0, (10, 3, 1): 3,
                                               (20, 7, 2): 6, (20, 7, 4): 4}.items():
            it = imap(workers.square, _items_then_raise(total, when), chunksize)
            got = []
            with pytest.raises(LookupError, match="the input failed"):
                while True:
                    got.append(next(it))
            assert sorted(got) == [x * x for x in range(kept)]
            if ordered:
                assert got == [x * x for x in range(kept)]
            with pytest.raises(StopIteration):
                next(it)
        with pytest.raises(ValueError, match="Chunksize must be 1"):
            imap(workers.square, range(3), 0)
        # map reads its input at the call, as the stdlib does: the error is raised there,
        # as it is, not as a worker's
        with pytest.raises(LookupError) as info:
            pool.map(workers.square, _items_then_raise(1, -1), 1)
        assert info.value.__cause__ is None


@pytest.mark.timeout(60)
def test_pool_error_has_the_stdlibs_remote_traceback():
    import multiprocessing.pool

    with fanin.Pool(1, progress="off") as pool:
        with pytest.raises(RuntimeError) as info:
            pool.apply(workers.raise_runtime_error)
        errors = []
        r = pool.apply_async(workers.raise_runtime_error, error_callback=errors.append)
        with pytest.raises(RuntimeError):
            r.get(timeout=30)
        it = pool.imap(workers.raise_runtime_error, [1])
        with pytest.raises(RuntimeError) as from_imap:
            next(it)
    for exc in (info.value, errors[0], from_imap.value):
        assert exc.args == (123,)
        cause = exc.__cause__
        assert type(cause) is multiprocessing.pool.RemoteTraceback
        assert cause.tb.startswith('\n"""\nTraceback (most recent call last):')
        assert "raise RuntimeError(123)  # the remote traceback shows this line" in cause.tb


@pytest.mark.timeout(90)
def test_pool_unpicklable_result_is_a_maybe_encoding_error():
    import pickle
    from multiprocessing.pool import MaybeEncodingError

    try:  # what pickle says about it differs by version (3.13: AttributeError)
        pickle.dumps(workers.unpicklable_result())
    except Exception as exc:
        reason = type(exc).__name__
    with fanin.Pool(2, progress="off") as pool:
        for _ in range(5):  # the workers survive it
            errors = []
            r = pool.apply_async(workers.unpicklable_result, error_callback=errors.append)
            with pytest.raises(MaybeEncodingError):
                r.get(timeout=30)
            assert isinstance(errors[0], MaybeEncodingError)
            assert "lambda" in errors[0].value and reason in errors[0].exc
        with pytest.raises(MaybeEncodingError):
            pool.map(workers.unpicklable_result, range(4))
        with pytest.raises(MaybeEncodingError):
            list(pool.imap(workers.unpicklable_result, range(4)))
        assert pool.map(workers.square, range(4)) == [0, 1, 4, 9]
    # the executor keeps the stdlib executor's behaviour: the pickling error itself
    with fanin.ProcessPoolExecutor(1, progress="off") as ex:
        with pytest.raises(Exception) as info:
            ex.submit(workers.unpicklable_result).result(timeout=30)
        assert not isinstance(info.value, MaybeEncodingError)


@pytest.mark.timeout(60)
def test_pool_runs_the_initializer_in_its_constructor(tmp_path):
    # The stdlib pool starts its workers in the constructor: the initializer runs even
    # when no job is ever submitted.
    path = tmp_path / "inits"
    pool = fanin.Pool(2, workers.append_pid_to, (str(path),), progress="off")
    pool.close()
    pool.join()
    assert len(path.read_text().split()) == 2


class _ContextFailingAfter:
    """A context whose Process objects fail to start after ``ok`` started ones."""

    def __init__(self, base, ok):
        self._base, self._ok = base, ok
        self.made = []

    def __getattr__(self, name):
        return getattr(self._base, name)

    def Process(self, **kwargs):  # the context's method
        proc = self._base.Process(**kwargs)
        if len(self.made) >= self._ok:
            def fail():
                raise OSError("induced start failure")
            proc.start = fail
        self.made.append(proc)
        return proc


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pool_worker_start_failure_raises_and_leaves_no_process(method):
    ctx = _ContextFailingAfter(multiprocessing.get_context(method), ok=2)
    before = set(multiprocessing.active_children())
    with pytest.raises(OSError, match="induced start failure"):
        fanin.Pool(4, context=ctx, progress="off")
    assert len(ctx.made) == 3
    started = ctx.made[:2]
    assert all(p.exitcode is not None for p in started)  # stopped and joined
    assert not set(multiprocessing.active_children()) - before


def _pool_in_forked_child():
    with fanin.Pool(2, progress="off") as pool:
        assert pool.map(workers.square, range(5)) == [0, 1, 4, 9, 16]


@pytest.mark.timeout(90)
def test_pool_in_a_forked_child_of_a_process_with_a_fork_server():
    # The parent's fork server (fanin's default) is not the forked child's child: the child
    # must start its own instead of failing with ChildProcessError (a CPython limitation).
    with fanin.Pool(1, context=multiprocessing.get_context("forkserver"), progress="off") as p:
        assert p.apply(workers.square, (3,)) == 9
    child = multiprocessing.get_context("fork").Process(target=_pool_in_forked_child)
    child.start()
    child.join(60)
    assert child.exitcode == 0


@pytest.mark.timeout(60)
def test_pool_dropped_while_running_is_a_resource_warning():
    import gc

    pool = fanin.Pool(1, progress="off")
    assert repr(pool) == "<fanin._integrations.pool.Pool state=RUN pool_size=1>"
    with pytest.warns(ResourceWarning, match="unclosed running multiprocessing pool"):
        pool = None
        gc.collect()
    pool = fanin.Pool(1, progress="off")
    pool.terminate()
    pool.join()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        pool = None
        gc.collect()


@pytest.mark.timeout(60)
def test_a_start_method_the_program_set_is_the_default():
    """``multiprocessing.set_start_method("spawn")`` reaches fanin's pools as the stdlib's;
    without it the default is forkserver."""
    import os
    import subprocess
    import sys

    code = """if 1:
        import multiprocessing, fanin
        print(fanin.Hub("process").mp_context.get_start_method())
        multiprocessing.set_start_method("spawn")
        print(fanin.Hub("process").mp_context.get_start_method())
        with fanin.Pool(1) as pool:
            print(pool.apply(multiprocessing.get_start_method))
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=50,
                         env={**os.environ, "FANIN_PROGRESS": "off"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["forkserver", "spawn", "spawn"], out
