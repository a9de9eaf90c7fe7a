"""``ProgressExecutor``: a ``concurrent.futures`` executor whose tasks each get a bar.

Runs in: the caller's thread (its methods) and the workers (``_call_with_progress``, which
must stay module-level so it pickles under spawn and forkserver). A thin layer over
:class:`fanin.Hub`: the same backend, reporters and collector; all its jobs form one
failure-policy group, so ``shutdown(cancel_futures=True)`` cancels its work and nothing else.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures import wait as wait_futures
from types import TracebackType
from typing import Any, Literal, TypeVar

from .._run.group import CallGroup
from .._run.hub import Hub
from .._run.naming import name_of
from .._worker.reporter import Reporter

T = TypeVar("T")
R = TypeVar("R")

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
        self._group: CallGroup | None = None

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
            if self._group is None:
                self._group = self._hub._group()
            description = f"{name_of(fn)} #{next(self._count)}"
            fut = self._group.submit(_call_with_progress, [(fn, args, kwargs)], [description],
                                     [None])[1][0]
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
        if cancel_futures and self._group is not None:
            # Through the backend, so cancelled tasks show as cancelled (not stuck "queued").
            self._group.cancel("cancelled by shutdown(cancel_futures=True)")
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
