"""``fanin.Pool``: ``multiprocessing.Pool``'s interface over fanin's process executor.

Runs in: the caller's threads; callbacks run on the thread that settles a result (fanin's
pump thread), like the stdlib's result-handler thread, so they should be quick. Signatures,
defaults and errors follow ``multiprocessing.pool.Pool``; items of ``map``/``imap``/
``starmap`` travel in chunks and show as one bar per call. As in the stdlib, the workers
start in the constructor (a start that fails raises there and leaves no process), a
worker's exception has its traceback as ``__cause__`` (``multiprocessing.pool.
RemoteTraceback``) and a result that does not pickle fails as ``MaybeEncodingError``.
Differences, documented: the input of ``imap``/``imap_unordered`` is read at the call (the
stdlib reads it on a background thread; an exception the input raises still comes out of
the iterator at its place), and a worker that dies fails only its own chunk
(``fanin.WorkerDied``) where the stdlib pool would hang or break.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from multiprocessing import TimeoutError as MPTimeoutError
from multiprocessing import pool as _mp_pool
from multiprocessing.context import BaseContext
from types import TracebackType
from typing import Any

from .._errors import RemoteTraceback
from .._run.poolcalls import pool_call, pool_chunk
from .._worker.runjob import Raised
from .executor import ProcessPoolExecutor, when_all_done

RUN, CLOSE, TERMINATE = "RUN", "CLOSE", "TERMINATE"


def _stdlib_error(exc: BaseException) -> BaseException:
    """``exc`` as the stdlib pool raises it: a worker's exception has the worker's traceback
    as its ``__cause__``, a ``multiprocessing.pool.RemoteTraceback`` in the stdlib's format."""
    cause = exc.__cause__
    if type(cause) is RemoteTraceback:
        # typeshed lacks RemoteTraceback; the text is framed as the stdlib frames it
        exc.__cause__ = _mp_pool.RemoteTraceback(f'\n"""\n{cause.tb}"""')  # type: ignore[attr-defined]
    return exc


def _read_input(iterable: Iterable[Any], chunksize: int) -> tuple[list[Any], Exception | None]:
    """The items of ``iterable``, and the exception that ended it early, if one did.

    As the stdlib pool: the exception takes the place of the chunk being filled when it was
    raised (that chunk's items before it are dropped) and nothing after it is read."""
    items: list[Any] = []
    try:
        for item in iterable:
            items.append(item)
    except Exception as exc:  # noqa: BLE001 - as the stdlib's _guarded_task_generation
        del items[len(items) - len(items) % chunksize:]
        return items, exc
    return items, None


class AsyncResult:
    """``multiprocessing.pool.AsyncResult``: ``get``, ``wait``, ``ready``, ``successful``."""

    def __init__(self, futures: list[Future[Any]], collect: Callable[[list[Any]], Any],
                 callback: Callable[[Any], object] | None,
                 error_callback: Callable[[BaseException], object] | None) -> None:
        self._futures = futures
        self._collect = collect
        self._event = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None
        self._callback, self._error_callback = callback, error_callback
        when_all_done(futures, self._settle)

    def _settle(self) -> None:
        try:
            self._value = self._collect([f.result() for f in self._futures])
        except BaseException as exc:  # noqa: BLE001 - delivered by get()
            self._error = _stdlib_error(exc)
        try:
            if self._error is None and self._callback is not None:
                self._callback(self._value)
            elif self._error is not None and self._error_callback is not None:
                self._error_callback(self._error)
        finally:
            self._event.set()

    def ready(self) -> bool:
        return self._event.is_set()

    def successful(self) -> bool:
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        return self._error is None

    def wait(self, timeout: float | None = None) -> None:
        self._event.wait(timeout)

    def get(self, timeout: float | None = None) -> Any:
        self.wait(timeout)
        if not self.ready():
            raise MPTimeoutError
        if self._error is not None:
            raise self._error
        return self._value


ApplyResult = AsyncResult
MapResult = AsyncResult


def _flatten(chunks: list[list[Any]]) -> list[Any]:
    out: list[Any] = []
    for chunk in chunks:
        for value in chunk:
            if type(value) is Raised:
                raise value.error
            out.append(value)
    return out


class IMapIterator:
    """What ``imap``/``imap_unordered`` return: an iterator with ``next(timeout)``."""

    def __init__(self, futures: list[Future[Any]], ordered: bool,
                 error: Exception | None = None) -> None:
        self._todo = list(futures)
        self._ordered = ordered
        self._ready: list[Any] = []
        self._error = error  # the input's exception: raised after the items read before it

    def __iter__(self) -> IMapIterator:
        return self

    def next(self, timeout: float | None = None) -> Any:
        end = None if timeout is None else time.monotonic() + timeout
        while not self._ready:
            if not self._todo:
                error, self._error = self._error, None
                if error is not None:
                    raise error
                raise StopIteration
            left = None if end is None else max(0.0, end - time.monotonic())
            if self._ordered:
                fut = self._todo[0]
                if not wait([fut], left).done:
                    raise MPTimeoutError
                self._todo.pop(0)
            else:
                done, _ = wait(self._todo, left, return_when=FIRST_COMPLETED)
                if not done:
                    raise MPTimeoutError
                fut = next(f for f in self._todo if f in done)
                self._todo.remove(fut)
            exc = fut.exception()
            if exc is not None:
                raise _stdlib_error(exc)
            self._ready = list(reversed(fut.result()))
        value = self._ready.pop()
        if type(value) is Raised:
            raise value.error
        return value

    __next__ = next


class Pool:
    """``multiprocessing.Pool`` with a live display: same signature, same methods."""

    def __init__(self, processes: int | None = None,
                 initializer: Callable[..., object] | None = None, initargs: Iterable[Any] = (),
                 maxtasksperchild: int | None = None, context: BaseContext | None = None,
                 **hub_kwargs: Any) -> None:
        if processes is not None and processes < 1:
            raise ValueError("Number of processes must be at least 1")
        if maxtasksperchild is not None and (not isinstance(maxtasksperchild, int)
                                             or maxtasksperchild <= 0):
            raise ValueError("maxtasksperchild must be a positive int or None")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if maxtasksperchild is not None and context is None:
            import multiprocessing

            context = multiprocessing.get_context()
            if context.get_start_method() == "fork":
                context = multiprocessing.get_context("spawn")  # fork cannot retire workers
        self._ex = ProcessPoolExecutor(processes, context, initializer, tuple(initargs),
                                       max_tasks_per_child=maxtasksperchild, **hub_kwargs)
        self._processes = self._ex.hub.workers
        self._state = RUN
        # The stdlib pool starts its workers in the constructor: an initializer runs even if
        # no job ever comes, and a worker that cannot start fails the constructor (leaving
        # no process behind) instead of a later call.
        hub = self._ex.hub
        hub.start()
        try:
            hub._ensure_backend()
        except BaseException:
            self._state = TERMINATE
            try:
                hub.close(kill=True)
            except Exception:  # noqa: BLE001 - the start's own error is the one to see
                pass
            raise

    @property
    def hub(self) -> Any:
        return self._ex.hub

    def _check_running(self) -> None:
        if self._state != RUN:
            raise ValueError("Pool not running")

    # -- one call -------------------------------------------------------------------------
    def apply(self, func: Callable[..., Any], args: Iterable[Any] = (),
              kwds: dict[str, Any] | None = None) -> Any:
        return self.apply_async(func, args, kwds).get()

    def apply_async(self, func: Callable[..., Any], args: Iterable[Any] = (),
                    kwds: dict[str, Any] | None = None,
                    callback: Callable[[Any], object] | None = None,
                    error_callback: Callable[[BaseException], object] | None = None,
                    ) -> AsyncResult:
        self._check_running()
        fut = self._ex._submit_call(pool_call, func, tuple(args), dict(kwds or {}))
        return AsyncResult([fut], lambda values: values[0], callback, error_callback)

    # -- many items -----------------------------------------------------------------------
    def _chunks(self, func: Callable[..., Any], items: list[Any],
                chunksize: int | None, star: bool) -> list[Future[Any]]:
        if chunksize is not None and chunksize < 1:
            raise ValueError(f"Chunksize must be 1+, not {chunksize:n}")
        return self._ex._submit_chunks(func, items, chunksize or 1, star, pool_chunk)

    def _imap(self, func: Callable[..., Any], iterable: Iterable[Any], chunksize: int,
              ordered: bool) -> IMapIterator:
        self._check_running()
        if chunksize < 1:
            shown = f"{chunksize:n}" if ordered else repr(chunksize)  # as the stdlib words it
            raise ValueError(f"Chunksize must be 1+, not {shown}")
        items, error = _read_input(iterable, chunksize)
        return IMapIterator(self._chunks(func, items, chunksize, False), ordered, error)

    def map(self, func: Callable[..., Any], iterable: Iterable[Any],
            chunksize: int | None = None) -> list[Any]:
        return self.map_async(func, iterable, chunksize).get()  # type: ignore[no-any-return]

    def starmap(self, func: Callable[..., Any], iterable: Iterable[Iterable[Any]],
                chunksize: int | None = None) -> list[Any]:
        return self.starmap_async(func, iterable, chunksize).get()  # type: ignore[no-any-return]

    def map_async(self, func: Callable[..., Any], iterable: Iterable[Any],
                  chunksize: int | None = None, callback: Callable[[Any], object] | None = None,
                  error_callback: Callable[[BaseException], object] | None = None,
                  ) -> AsyncResult:
        self._check_running()
        return AsyncResult(self._chunks(func, list(iterable), chunksize, False), _flatten,
                           callback, error_callback)

    def starmap_async(self, func: Callable[..., Any], iterable: Iterable[Iterable[Any]],
                      chunksize: int | None = None,
                      callback: Callable[[Any], object] | None = None,
                      error_callback: Callable[[BaseException], object] | None = None,
                      ) -> AsyncResult:
        self._check_running()
        items = [tuple(args) for args in iterable]
        return AsyncResult(self._chunks(func, items, chunksize, True), _flatten, callback,
                           error_callback)

    def imap(self, func: Callable[..., Any], iterable: Iterable[Any],
             chunksize: int = 1) -> Iterator[Any]:
        return self._imap(func, iterable, chunksize, ordered=True)

    def imap_unordered(self, func: Callable[..., Any], iterable: Iterable[Any],
                       chunksize: int = 1) -> Iterator[Any]:
        return self._imap(func, iterable, chunksize, ordered=False)

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        """No more work; workers exit once what is queued is done (``join`` waits)."""
        if self._state == RUN:
            self._state = CLOSE

    def terminate(self) -> None:
        """Stop the workers now; unfinished work is cancelled."""
        self._state = TERMINATE
        self._ex._hub.close(kill=True)

    def join(self) -> None:
        if self._state == RUN:
            raise ValueError("Pool is still running")
        if self._state == CLOSE:
            self._ex.shutdown(wait=True)

    def __enter__(self) -> Pool:
        self._check_running()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.terminate()  # as multiprocessing.Pool does

    def __repr__(self) -> str:
        cls = type(self)
        return (f"<{cls.__module__}.{cls.__qualname__} state={self._state} "
                f"pool_size={self._processes}>")

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        # As the stdlib pool: dropping one still running is a ResourceWarning (its workers
        # still stop: the executor closes its hub once the work it has is done).
        if getattr(self, "_state", None) == RUN:
            _warn(f"unclosed running multiprocessing pool {self!r}", ResourceWarning,
                  source=self)

    def __reduce__(self) -> Any:
        raise NotImplementedError(
            "pool objects cannot be passed between processes or pickled")
