"""Executors: ``fanin.ProcessPoolExecutor`` and ``fanin.ThreadPoolExecutor`` are the
stdlib's, with a live display; ``ProgressExecutor`` picks the backend by name.

Runs in: the caller's threads (the executor's methods, its shutdown thread) and the workers
(``calls.call_with_progress`` and ``runjob.run_chunk``, module-level so they pickle). A thin
layer over :class:`fanin.Hub`: all of an executor's jobs form one failure-policy group, so
``shutdown(cancel_futures=True)`` cancels its work and nothing else on the hub.

Signatures, defaults, argument errors and results follow ``concurrent.futures``; CPython's
own ``test_concurrent_futures`` is the judge (``tests/stdlib``). A function is called
unchanged unless its signature names a ``progress`` parameter, which then receives the
task's reporter (``fanin.current()`` reaches it from anywhere). Documented differences: a
worker that dies fails only its own job with ``fanin.WorkerDied`` (a ``BrokenProcessPool``)
and is replaced, where the stdlib breaks the whole pool; ``map`` sends items in chunks even
when ``chunksize=1`` (the results, their order and where an exception is raised are the same).
"""

from __future__ import annotations

import concurrent.futures.process as _cf_process
import concurrent.futures.thread as _cf_thread
import itertools
import multiprocessing
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from concurrent.futures import wait as wait_futures
from multiprocessing.context import BaseContext
from types import TracebackType
from typing import Any, Literal, TypeVar

from .._run.calls import call_with_progress, wants_progress
from .._run.chunks import auto_chunksize
from .._run.group import CallGroup
from .._run.hub import Hub
from .._run.naming import name_of
from .._wire import CANCELLED, DONE, FAILED
from .._worker.runjob import Raised, run_chunk

R = TypeVar("R")


class _HubExecutor(Executor):
    """The executor protocol over a hub (started at the first submit, closed at shutdown)."""

    def __init__(self, backend: str, max_workers: int | None, hub_kwargs: dict[str, Any],
                 worker_options: dict[str, Any] | None = None) -> None:
        hub_kwargs.setdefault("summary", False)  # a drop-in adds bars, not a report
        hub_kwargs.setdefault("quiet_short", True)  # and no lines in a log for a quick pool
        self._hub = Hub(backend, max_workers, worker_options=worker_options, **hub_kwargs)
        self._lock = threading.Lock()
        self._shut = False
        self._count = itertools.count(1)
        self._futures: set[Future[Any]] = set()
        self._closer: threading.Thread | None = None
        self._group: CallGroup | None = None
        # Dropped without shutdown(): its hub still closes once the work it has is done
        # (the hub's threads would otherwise run until the interpreter exits).
        weakref.finalize(self, _close_when_done, self._hub, self._futures)

    @property
    def hub(self) -> Hub:
        """The hub behind this executor (for ``tasks()``, ``snapshot()``, ``worker_pids``)."""
        return self._hub

    def _begin(self) -> CallGroup:
        # Caller holds self._lock.
        if self._shut:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if getattr(_cf_thread, "_shutdown", False):
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")
        self._hub.start()  # idempotent; the first submit starts pool and display
        if self._group is None:
            self._group = self._hub._group(awaited=False)  # the stdlib's queueing, even nested
        return self._group

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        return self._submit_call(call_with_progress, fn, args, kwargs)

    def _submit_call(self, runner: Callable[[Any, Any], Any], fn: Callable[..., Any],
                     args: tuple[Any, ...], kwargs: dict[str, Any]) -> Future[Any]:
        """One job: ``runner((fn, args, kwargs, wants_progress), reporter)`` in a worker."""
        with self._lock:
            group = self._begin()
            description = f"{name_of(fn)} #{next(self._count)}"
            fut = group.submit(runner, [(fn, args, kwargs, wants_progress(fn))],
                               [description], [None])[1][0]
            self._futures.add(fut)
        fut.add_done_callback(self._forget)
        return fut

    def map(self, fn: Callable[..., R], *iterables: Iterable[Any], timeout: float | None = None,
            chunksize: int = 1) -> Iterator[R]:
        """Like ``Executor.map``; items travel in chunks and show as one bar."""
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        if wants_progress(fn):  # each item reports on its own bar: one job per item
            return super().map(fn, *iterables, timeout=timeout)
        end = None if timeout is None else timeout + time.monotonic()
        items = list(zip(*iterables))
        return _results(self._submit_chunks(fn, items, chunksize, star=True), end)

    def _submit_chunks(self, fn: Callable[..., Any], items: list[Any], chunksize: int,
                       star: bool, runner: Callable[[Any, Any], Any] = run_chunk,
                       ) -> list[Future[Any]]:
        """Queue ``items`` in chunks (auto-sized when ``chunksize`` is 1) as one bar; each
        future's value is the chunk's results, a ``Raised`` in a failed item's place.
        ``runner`` is ``run_chunk`` or one that calls it (``fanin.Pool``'s)."""
        size = chunksize if chunksize > 1 else auto_chunksize(len(items), self._hub.workers)
        chunks = [items[i:i + size] for i in range(0, len(items), size)]
        with self._lock:
            group = self._begin()
            group.check(fn)
            parent = self._hub._pipeline.new_id("m")
            name = name_of(fn)
            self._hub._pipeline.add_tasks([(parent, name, len(items))])
            _, futures = group.submit(
                runner, [(fn, c, i * size, star, True) for i, c in enumerate(chunks)],
                [name] * len(chunks), [len(c) for c in chunks], parent=parent)
            self._futures.update(futures)
        for f in futures:
            f.add_done_callback(self._forget)
        _settle_when_done(self._hub, parent, futures)
        return futures

    @property
    def _broken(self) -> bool:
        """The stdlib's flag: the pool cannot run jobs any more (an initializer raised)."""
        backend = self._hub._backend
        return bool(backend is not None and getattr(backend, "_broken", None))

    def _forget(self, fut: Future[Any]) -> None:
        with self._lock:
            self._futures.discard(fut)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting work; pending futures still run unless ``cancel_futures``. With
        ``wait``, return once everything ran and the display showed its final frame;
        without, that happens on a (non-daemon) thread, so even a script that ends right
        after still restores the terminal."""
        with self._lock:
            already, self._shut = self._shut, True
            closer = self._closer
            pending = list(self._futures)
        if cancel_futures and self._group is not None:
            # Through the backend, so cancelled tasks show as cancelled (not stuck "queued").
            self._group.cancel("cancelled by shutdown(cancel_futures=True)")
        if already:
            if wait and closer is not None:
                closer.join()  # not under our lock: done-callbacks take it
            return
        if wait:
            self._finish(pending)
        else:
            closer = threading.Thread(target=self._finish, args=(pending,),
                                      name="fanin-executor-shutdown")
            with self._lock:
                self._closer = closer
            closer.start()

    def _finish(self, pending: list[Future[Any]]) -> None:
        # Hub.close cancels queued tasks, so first let them run, as Executor.shutdown does.
        wait_futures([f for f in pending if not f.cancelled()])
        self._hub.close()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            # Ctrl-C: do not wait for the queue; the hub cancels, kills workers, cleans up.
            with self._lock:
                self._shut = True
            self._hub.__exit__(exc_type, exc, tb)
            return False
        self.shutdown(wait=True)
        return False


def _close_when_done(hub: Hub, futures: set[Future[Any]]) -> None:
    # On a thread of its own: the collection that runs this may happen on one of the
    # hub's own threads, which close() joins.
    pending = [f for f in list(futures) if not f.done()]

    def finish() -> None:
        wait_futures(pending)
        hub.close()

    threading.Thread(target=finish, name="fanin-executor-shutdown").start()


def _results(futures: list[Future[Any]], end: float | None) -> Iterator[Any]:
    """The stdlib's ``result_iterator`` over chunks: values in order, an item's exception
    raised at its place, remaining futures cancelled when the caller stops."""
    todo = list(reversed(futures))
    del futures
    try:
        while todo:
            fut = todo[-1]
            values = fut.result() if end is None else fut.result(end - time.monotonic())
            todo.pop()
            # Popped as they go, no local naming the last: once the caller drops a result,
            # nothing here keeps it alive (CPython's test_free_reference, bpo-14406).
            values.reverse()
            while values:
                if type(values[-1]) is Raised:
                    raise values.pop().error
                yield values.pop()
    finally:
        for fut in todo:
            fut.cancel()


def when_all_done(futures: list[Future[Any]], then: Callable[[], None]) -> None:
    """Call ``then()`` once, from the callback of whichever of ``futures`` settles last
    (at once when there are none)."""
    left = [len(futures)]
    lock = threading.Lock()

    def one_done(_: Future[Any]) -> None:
        with lock:
            left[0] -= 1
            if left[0]:
                return
        then()

    if not futures:
        then()
    for f in futures:
        f.add_done_callback(one_done)


def _settle_when_done(hub: Hub, parent: str, futures: list[Future[Any]]) -> None:
    """End the map's bar when its last chunk settles (from that chunk's callback, which
    runs after the chunk's final report reached the inbox)."""

    def settle() -> None:
        failed = [f for f in futures if not f.cancelled() and f.exception() is not None]
        failed += [f for f in futures if not f.cancelled() and f.exception() is None
                   and any(type(v) is Raised for v in f.result())]
        if any(f.cancelled() for f in futures):
            hub._pipeline.settle_soon(parent, CANCELLED, "cancelled")
        elif failed:
            hub._pipeline.settle_soon(parent, FAILED, "an item raised")
        else:
            hub._pipeline.settle_soon(parent, DONE)

    when_all_done(futures, settle)


class ThreadPoolExecutor(_HubExecutor, _cf_thread.ThreadPoolExecutor):  # type: ignore[override]
    """``concurrent.futures.ThreadPoolExecutor`` with a live display (same signature).

    A subclass of the stdlib class (``asyncio``'s ``set_default_executor`` checks), whose
    every public method is fanin's; the stdlib constructor is not run.

    ``**hub_kwargs`` (``progress=``, ``file=``, ...) go to :class:`fanin.Hub`.
    """

    def __init__(self, max_workers: int | None = None, thread_name_prefix: str = "",
                 initializer: Callable[..., object] | None = None, initargs: tuple[Any, ...] = (),
                 **hub_kwargs: Any) -> None:
        if max_workers is None:
            max_workers = min(32, (os.cpu_count() or 1) + 4)
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        super().__init__("thread", max_workers, hub_kwargs, {
            "thread_name_prefix": thread_name_prefix or f"ThreadPoolExecutor-{id(self):x}",
            "initializer": initializer, "initargs": initargs})


class ProcessPoolExecutor(_HubExecutor, _cf_process.ProcessPoolExecutor):  # type: ignore[override]
    """``concurrent.futures.ProcessPoolExecutor`` with a live display (same signature).

    A subclass of the stdlib class (for ``isinstance`` checks), whose every public method
    is fanin's; the stdlib constructor is not run.

    ``**hub_kwargs`` (``progress=``, ``file=``, ...) go to :class:`fanin.Hub`.
    """

    def __init__(self, max_workers: int | None = None, mp_context: BaseContext | None = None,
                 initializer: Callable[..., object] | None = None, initargs: tuple[Any, ...] = (),
                 *, max_tasks_per_child: int | None = None, **hub_kwargs: Any) -> None:
        if max_workers is None:
            max_workers = os.cpu_count() or 1
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if max_tasks_per_child is not None:
            if not isinstance(max_tasks_per_child, int):
                raise TypeError("max_tasks_per_child must be an integer")
            if max_tasks_per_child <= 0:
                raise ValueError("max_tasks_per_child must be >= 1")
            if mp_context is None:
                mp_context = multiprocessing.get_context("spawn")
            elif mp_context.get_start_method(allow_none=False) == "fork":
                raise ValueError("max_tasks_per_child is incompatible with the 'fork' "
                                 "multiprocessing start method; supply a different mp_context.")
        if mp_context is not None:
            hub_kwargs["start_method"] = mp_context
        super().__init__("process", max_workers, hub_kwargs, {
            "initializer": initializer, "initargs": initargs,
            "max_tasks_per_child": max_tasks_per_child})
        self._mp_context = self._hub.mp_context


class ProgressExecutor(_HubExecutor):
    """The executor of a backend chosen by name: ``ProgressExecutor("process", 8)``.

    Args:
        backend: ``"thread"`` or ``"process"`` (module-level functions and picklable
            arguments, as with ``ProcessPoolExecutor``).
        max_workers: pool size (default: the number of CPUs).
        **hub_kwargs: passed to :class:`fanin.Hub` (``progress=``, ``start_method=``, ...).
    """

    def __init__(self, backend: Literal["thread", "process"] = "thread",
                 max_workers: int | None = None, **hub_kwargs: Any) -> None:
        if backend not in ("thread", "process"):
            raise ValueError(f"backend must be 'thread' or 'process', got {backend!r}")
        super().__init__(backend, max_workers, hub_kwargs)

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        if "progress" in kwargs and wants_progress(fn):
            raise TypeError("ProgressExecutor passes 'progress' to the function itself; "
                            "do not pass it to submit()")
        return super().submit(fn, *args, **kwargs)
