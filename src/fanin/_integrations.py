"""Integrations: a ``concurrent.futures`` executor, ``fanin.track``, ``hub.amap``, Jupyter.

Runs in: the caller's thread (``ProgressExecutor`` methods, ``track``'s generator), the
caller's event loop (``amap`` and the coroutines it runs), and worker processes
(``_call_with_progress``, which must stay module-level so it pickles under spawn and
forkserver). Everything here is a thin layer over :class:`fanin.Hub`: the same pools,
reporters and collector, no second code path for async (httpx #572: twin sync/async
stacks drift apart).
"""

from __future__ import annotations

import asyncio
import builtins
import importlib.util
import inspect
import itertools
import os
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future
from concurrent.futures import wait as wait_futures
from types import TracebackType
from typing import Any, Literal, TypeVar

from ._hub import Hub, _name, describe_items
from ._reporter import Reporter, _check_description, _check_total
from ._threadpool import ThreadPool

T = TypeVar("T")
R = TypeVar("R")

_FAIL_FAST = "cancelled after another task failed (fail-fast)"


# -- concurrent.futures ------------------------------------------------------------------
def _call_with_progress(call: tuple[Callable[..., R], tuple[Any, ...], dict[str, Any]],
                        progress: Reporter) -> R:
    """The function the hub runs for ``ProgressExecutor.submit``: module-level to pickle."""
    fn, args, kwargs = call
    return fn(*args, progress=progress, **kwargs)


class ProgressExecutor(Executor):
    """A drop-in ``concurrent.futures`` executor whose tasks each get a progress bar.

    ``submit(fn, *args, **kwargs)`` runs ``fn(*args, progress=reporter, **kwargs)``, so
    existing executor code gains progress by swapping the class and giving the function a
    ``progress`` parameter (a :class:`fanin.Reporter`). ``map``, ``shutdown`` and the
    ``with`` block behave like the stdlib executors'.

    Args:
        backend: ``"thread"`` or ``"process"`` (module-level functions and picklable
            arguments, as with ``ProcessPoolExecutor``).
        max_workers: pool size (default: the number of CPUs).
        **hub_kwargs: passed to :class:`fanin.Hub` (``progress=``, ``start_method=``, ...).

    The hub starts at the first ``submit`` and closes at ``shutdown``; it stays readable
    afterwards as :attr:`hub` (``ex.hub.tasks()``).
    """

    def __init__(self, backend: Literal["thread", "process"] = "thread",
                 max_workers: int | None = None, **hub_kwargs: Any) -> None:
        if backend not in ("thread", "process"):
            raise ValueError(f"backend must be 'thread' or 'process', got {backend!r}")
        self._hub = Hub(backend, max_workers, **hub_kwargs)
        self._lock = threading.Lock()
        self._shut = False
        self._count = itertools.count(1)
        self._futures: set[Future[Any]] = set()
        self._closer: threading.Thread | None = None

    @property
    def hub(self) -> Hub:
        """The hub behind this executor (for ``tasks()``, ``snapshot()``, ``worker_pids``)."""
        return self._hub

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        if "progress" in kwargs:
            raise TypeError("ProgressExecutor passes 'progress' to the function itself; "
                            "do not pass it to submit()")
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._hub.start()  # idempotent; the first submit starts pool and display
            description = f"{_name(fn)} #{next(self._count)}"
            fut = self._hub.submit(_call_with_progress, (fn, args, kwargs),
                                   description=description)
            self._futures.add(fut)
        fut.add_done_callback(self._forget)
        return fut

    def _forget(self, fut: Future[Any]) -> None:
        with self._lock:
            self._futures.discard(fut)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting work; like the stdlib, pending futures still run unless
        ``cancel_futures``. With ``wait``, return once everything ran and the display
        showed its final frame; without, that happens on a background thread."""
        with self._lock:
            already, self._shut = self._shut, True
            closer = self._closer
            pending = list(self._futures)
        if already:
            if wait and closer is not None:
                closer.join()  # not under our lock: done-callbacks take it
            return
        pool = self._hub._pool
        if cancel_futures and pool is not None:
            # Through the pool, so cancelled tasks show as cancelled (not stuck "queued").
            pool.cancel_pending("cancelled by shutdown(cancel_futures=True)")
        if wait:
            self._finish(pending)
        else:
            closer = threading.Thread(target=self._finish, args=(pending,),
                                      name="fanin-executor-shutdown", daemon=True)
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


# -- rich.progress.track ------------------------------------------------------------------
def track(iterable: Iterable[T], description: str = "", total: float | None = None,
          **hub_kwargs: Any) -> Iterator[T]:
    """Iterate ``iterable`` with one live progress bar, like ``rich.progress.track``.

    A thread :class:`fanin.Hub` (``hub_kwargs``: ``progress=``, ``file=``, ...) lives as
    long as the loop: it starts at the first item and always closes, whether the loop
    ends, breaks or raises. An item counts once the loop asks for the next one, so the
    count is exact. ``total`` defaults to ``len(iterable)``.
    """
    hub = Hub(**hub_kwargs)
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    return _track(hub, iterable, _check_description(description), _check_total(total))


def _track(hub: Hub, iterable: Iterable[T], description: str,
           total: float | None) -> Iterator[T]:
    # A separate generator, so bad arguments raise at the call, not at the first next().
    hub.start()
    try:
        reporter = _inbox_reporter(hub, "r", description, total)
        yield from reporter.track(iterable)
    except GeneratorExit:  # break, or an exception in the loop's body
        _cancel(reporter, "the loop stopped early")
        raise
    finally:
        hub.close()


def _inbox_reporter(hub: Hub, prefix: str, description: str, total: float | None) -> Reporter:
    """A reporter posting straight into the hub's in-process inbox (a ``SimpleQueue``).

    For code running in the hub's own process: no ``multiprocessing.Queue``, no pump,
    and no call on it ever waits for the collector, so coroutines can use it freely.
    """
    task_id = f"{prefix}{next(hub._ids)}"
    with hub._lock:  # registered now, so it shows as queued and counts in the overall total
        hub._state.add_task(task_id, description, total)
    return Reporter(hub._inbox, task_id, description, total, flush_interval=hub.flush_interval)


# -- asyncio ---------------------------------------------------------------------------------
async def amap(
    hub: Hub,
    fn: Callable[[T, Reporter], Awaitable[R]] | Callable[[T, Reporter], R],
    items: Iterable[T],
    *,
    description: str | Callable[[T], str] | None = None,
    total: Callable[[T], float | None] | None = None,
    concurrency: int | None = None,
) -> list[R]:
    """The awaitable ``hub.map``: see :meth:`fanin.Hub.amap`."""
    if description is not None and not (isinstance(description, str) or callable(description)):
        raise TypeError("description must be a str, a callable(item) -> str, or None")
    if concurrency is not None and (isinstance(concurrency, bool)
                                    or not isinstance(concurrency, int) or concurrency < 1):
        raise ValueError(f"concurrency must be a positive int or None, got {concurrency!r}")
    hub._require_started()
    items = list(items)
    descs = describe_items(fn, items, description)
    totals = [_check_total(total(item)) if total is not None else None for item in items]
    if _is_coroutine_function(fn):
        results = await _amap_coroutines(hub, fn, items, descs, totals,  # type: ignore[arg-type]
                                         concurrency or hub.workers)
    else:
        results = await _amap_pool(hub, fn, items, descs, totals)  # type: ignore[arg-type]
    await _sync(hub)
    return results


def _is_coroutine_function(fn: Any) -> bool:
    # A plain async def, a partial of one, or an object with an ``async def __call__``.
    return inspect.iscoroutinefunction(fn) or (
        callable(fn) and inspect.iscoroutinefunction(fn.__call__))


async def _amap_coroutines(hub: Hub, fn: Callable[[T, Reporter], Awaitable[R]],
                           items: list[T], descs: list[str], totals: list[float | None],
                           concurrency: int) -> list[R]:
    limit = asyncio.Semaphore(concurrency)
    reason = ["cancelled"]

    async def run(item: T, reporter: Reporter) -> R:
        try:
            async with limit:
                reporter.start()
                value = await fn(item, reporter)
        except asyncio.CancelledError:
            _cancel(reporter, reason[0])
            raise
        except BaseException as exc:
            reporter.fail(exc)
            raise
        reporter.finish()
        return value

    reporters = []
    for d, t in zip(descs, totals):
        reporter = _inbox_reporter(hub, "t", d, t)
        reporter._managed = True  # reporter.track() inside fn leaves finishing to us
        reporters.append(reporter)
    tasks = [asyncio.ensure_future(run(item, rep)) for item, rep in zip(items, reporters)]
    try:
        if tasks:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        failed = _first_failure(tasks)
        if failed is not None:
            reason[0] = _FAIL_FAST
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
            _consume(tasks)
            await _sync(hub)
            raise failed
    except BaseException:
        if not all(task.done() for task in tasks):
            # Our caller was cancelled (or Ctrl-C): the coroutines go with it.
            reason[0] = "interrupted"
            for task in tasks:
                task.cancel()
        raise
    return [task.result() for task in tasks]


async def _amap_pool(hub: Hub, fn: Callable[[T, Reporter], R], items: list[T],
                     descs: list[str], totals: list[float | None]) -> list[R]:
    futures = [hub.submit(fn, item, description=d, total=t)
               for item, d, t in zip(items, descs, totals)]
    waiters = [asyncio.wrap_future(f) for f in futures]
    pool = hub._pool
    try:
        if waiters:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_EXCEPTION)
        failed = _first_failure(waiters)
        if failed is not None:
            # As Hub.map: cancel what is queued, let running functions end.
            if pool is not None:
                pool.cancel_pending(_FAIL_FAST)
            await asyncio.wait(waiters)
            _consume(waiters)
            await _sync(hub)
            raise failed
    except BaseException:
        if not all(f.done() for f in futures) and pool is not None:
            pool.cancel_pending("interrupted")
            if isinstance(pool, ThreadPool):
                pool.interrupt_running("interrupted")
            for w in waiters:
                w.cancel()
        raise
    return [w.result() for w in waiters]


async def _sync(hub: Hub) -> None:
    # Exact counts on return (and on a fail-fast raise), as with hub.map; hub.sync waits
    # for the collector, so it waits on a thread, not on the loop.
    await asyncio.to_thread(hub.sync)


def _first_failure(futures: Sequence[asyncio.Future[Any]]) -> BaseException | None:
    """The first failure in input order (not the first in time: deterministic)."""
    for f in futures:
        if f.done() and not f.cancelled() and f.exception() is not None:
            return f.exception()
    return None


def _consume(futures: Sequence[asyncio.Future[Any]]) -> None:
    # Mark every exception retrieved, so asyncio does not log "never retrieved" for the
    # failures we do not re-raise.
    for f in futures:
        if f.done() and not f.cancelled():
            f.exception()


def _cancel(reporter: Reporter, reason: str) -> None:
    """Settle a cancelled coroutine's task as *cancelled* (not failed), with a reason."""
    reporter._interrupt(reason)  # fail() then reports CANCELLED
    reporter.fail(reason)


# -- Jupyter -----------------------------------------------------------------------------------
def _in_jupyter() -> bool:
    """True inside a Jupyter kernel (notebook, lab, Colab, Databricks), as Rich decides.

    IPython puts ``get_ipython`` into builtins; reading it from there never imports IPython.
    """
    get_ipython = getattr(builtins, "get_ipython", None)
    if get_ipython is None:
        return False
    try:
        shell = get_ipython()
    except Exception:  # noqa: BLE001 - a broken shell is "not Jupyter", never a crash
        return False
    if shell is None:
        return False
    cls = type(shell)
    return (cls.__name__ == "ZMQInteractiveShell" or "google.colab" in cls.__module__
            or bool(os.environ.get("DATABRICKS_RUNTIME_VERSION")))


def _notebook_mode() -> Literal["rich", "plain"]:
    """What ``progress="auto"`` draws when the display file is not a TTY.

    In Jupyter, Rich draws a live display in an ``ipywidgets.Output``; without ipywidgets
    Rich's live display only warns and shows nothing (rich ``live.py`` ``refresh``), so plain
    lines, which a notebook shows as ordinary output, are the better fallback.
    """
    if _in_jupyter() and importlib.util.find_spec("ipywidgets") is not None:
        return "rich"
    return "plain"
