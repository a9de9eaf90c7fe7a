"""The worker-side reporter: the one interface threads, processes and cluster tasks use.

Runs in: worker threads and worker processes (and the caller, for ``hub.reporter``).
Never imports Rich. The hot path, ``advance``, is one attribute increment: no lock, no
I/O, no clock read (measured ~40 ns net on the reference machine, see benchmarks/). The
per-process flusher thread ships the absolute count at most every flush interval;
``finish``/``fail``/``flush`` ship it synchronously, so final counts are exact.

A reporter is not meant to be advanced from several threads at once (like ``tqdm``):
give each thread its own, e.g. with ``reporter.task(...)``.
"""

from __future__ import annotations

import math
import multiprocessing
import numbers
import os
import traceback
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar

from .._wire import CANCELLED, DONE, FAILED, FINAL_STATUSES, QUEUED, RUNNING, Report
from .channel import Channel
from .flusher import DEFAULT_FLUSH_INTERVAL, FLUSHER

T = TypeVar("T")

MAX_DESCRIPTION = 1000  # characters shipped per description; the renderer shortens further
MAX_NOTE = 200  # characters of status text
MAX_UNIT = 16
PRUNE_KIDS = 64  # sub-tasks a reporter holds before it drops the finished ones


def _check_total(total: object) -> float | None:
    if total is None:
        return None
    if isinstance(total, bool) or not isinstance(total, numbers.Real):
        raise TypeError(f"total must be a real number or None, got {total!r}")
    if not math.isfinite(total):
        raise ValueError(f"total must be finite, got {total!r}")
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total!r}")
    return total  # type: ignore[return-value]


def _check_amount(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return value  # type: ignore[return-value]


def check_unit(unit: object, scale: object = None) -> tuple[str, int]:
    """``unit="B"`` scales by 1024 (KiB, MiB) unless told otherwise; ``scale`` is 0 (exact
    counts), 1000 (k, M, G, like tqdm's ``unit_scale``) or 1024."""
    if not isinstance(unit, str):
        raise TypeError(f"unit must be a str, got {type(unit).__name__}")
    if scale is None:
        scale = 1024 if unit == "B" else 0
    if scale not in (0, 1000, 1024) or isinstance(scale, bool):
        raise ValueError(f"scale must be 0, 1000 or 1024, got {scale!r}")
    return unit[:MAX_UNIT], int(scale)


def _check_description(description: object) -> str:
    if not isinstance(description, str):
        raise TypeError(f"description must be a str, got {type(description).__name__}")
    return description[:MAX_DESCRIPTION]


class Reporter:
    """Reports one task's progress from any thread or process to a :class:`fanin.Hub`.

    Create one with ``hub.reporter(...)`` or receive one from ``hub.map``; make sub-tasks
    with :meth:`task`. Picklable into processes started by ``multiprocessing`` under fork,
    spawn and forkserver (pass it as a ``Process`` argument).
    """

    __slots__ = (
        "_n",
        "_task",
        "_channel",
        "_seq",
        "_total",
        "_desc",
        "_status",
        "_error",
        "_sent",
        "_children",
        "_interval",
        "_attempt",
        "_managed",
        "_kids",
        "_prune_at",
        "_cancel_reason",
        "_note",
        "_unit",
        "_scale",
        "__weakref__",
    )

    def __init__(
        self,
        channel: Channel,
        task: str,
        description: str = "",
        total: float | None = None,
        *,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        attempt: int = 0,
        unit: str = "",
        scale: int | None = None,
    ) -> None:
        self._channel = channel
        self._task = task
        self._desc = _check_description(description)
        self._total = _check_total(total)
        self._n: Any = 0  # a number, or a _Cancelled once interrupted
        self._seq = 0
        self._status = QUEUED
        self._error: str | None = None
        self._sent: tuple[object, ...] | None = None
        self._children = 0
        self._interval = flush_interval
        self._attempt = attempt
        self._managed = False  # True when a pool owns the lifecycle (finishes it on return)
        self._kids: list[Reporter] = []  # sub-tasks, closed with this task if still open
        self._prune_at = PRUNE_KIDS  # len(_kids) at which finished ones are dropped
        self._cancel_reason: str | None = None  # set by _interrupt; re-applied by the flusher
        self._note = ""  # free status text (set_status)
        self._unit, self._scale = check_unit(unit, scale)

    # -- pickling: a reporter travels to a process as its channel plus its state ----------
    def __getstate__(self) -> tuple[object, ...]:
        return (
            self._channel, self._task, self._desc, self._total, self._n, self._seq,
            self._status, self._error, self._children, self._interval, self._attempt,
            self._managed, self._note, self._unit, self._scale,
        )

    def __setstate__(self, state: tuple[object, ...]) -> None:
        (
            self._channel, self._task, self._desc, self._total, self._n, self._seq,
            self._status, self._error, self._children, self._interval, self._attempt,
            self._managed, self._note, self._unit, self._scale,
        ) = state  # type: ignore[assignment]
        self._sent = None
        self._kids = []
        self._prune_at = PRUNE_KIDS
        self._cancel_reason = None
        adopt = getattr(self._channel, "adopt", None)
        if adopt is not None:
            if self._status not in FINAL_STATUSES:
                adopt(self)  # the channel knows whether this process can run the task
        elif self._status not in FINAL_STATUSES:
            if getattr(multiprocessing.current_process(), "_inheriting", False):
                # Being unpickled as a new process's argument, before multiprocessing
                # bootstraps it (and clears its exit finalizers): flushing now would
                # start the queue's feeder with a join hook that is about to be lost.
                # The flusher starts from its after-fork hook instead.
                FLUSHER.adopt(self, self._interval)
            else:
                FLUSHER.register(self, self._interval)

    # -- the hot path ---------------------------------------------------------------------
    def advance(self, n: float = 1) -> None:
        """Add ``n`` to the completed count. Costs about one attribute increment."""
        try:
            self._n += n
        except TypeError:
            raise TypeError(f"advance() amount must be a real number, got {n!r}") from None

    def track(
        self,
        iterable: Iterable[T],
        description: str | None = None,
        total: float | None = None,
    ) -> Iterator[T]:
        """Iterate ``iterable``, advancing by one per item.

        ``total`` defaults to ``len(iterable)`` when it has one. At the end of the loop the
        task is finished, unless a pool owns it (``hub.map``), which finishes it when the
        function returns. If iterating raises, the task is marked failed; if the consumer
        stops early, the task is left running.
        """
        if total is None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.start(description=description, total=total)
        return self._track(iterable)

    def _track(self, iterable: Iterable[T]) -> Iterator[T]:
        try:
            for item in iterable:
                yield item
                self._n += 1
        except GeneratorExit:
            raise
        except BaseException as exc:
            self.fail(exc)
            raise
        if not self._managed:
            self.finish()

    # -- slow path: lifecycle and state ---------------------------------------------------
    def start(self, description: str | None = None, total: float | None = None, *,
              unit: str | None = None, scale: int | None = None) -> Reporter:
        """Mark the task running (optionally setting description, total and unit, e.g.
        ``unit="B"`` for bytes) and report it now."""
        self._check_open()
        if description is not None:
            self._desc = _check_description(description)
        if total is not None:
            self._total = _check_total(total)
        if unit is not None:
            self._unit, self._scale = check_unit(unit, scale)
        self._status = RUNNING
        FLUSHER.register(self, self._interval)
        self.flush()
        return self

    def set_total(self, total: float | None) -> None:
        """Set (or, with ``None``, forget) the expected amount of work."""
        self._check_open()
        self._total = _check_total(total)

    def set_description(self, description: str) -> None:
        self._check_open()
        self._desc = _check_description(description)

    def set_unit(self, unit: str, scale: int | None = None) -> None:
        """What is counted: ``"B"`` for bytes (shown as KiB, MiB; ``scale=1000`` for kB,
        MB), another word (``"files"``) shown after exact counts, or ``""`` for items."""
        self._check_open()
        self._unit, self._scale = check_unit(unit, scale)

    def set_status(self, text: str) -> None:
        """A short status text shown on the task's row and in the events file ("retrying",
        tqdm's postfix); ``""`` clears it."""
        self._check_open()
        self._note = _check_description(text)[:MAX_NOTE]

    def set_completed(self, completed: float) -> None:
        """Set the completed count to an absolute value."""
        self._check_open()
        self._n = _check_amount(completed, "completed")

    def update(
        self,
        *,
        completed: float | None = None,
        advance: float | None = None,
        total: float | None = None,
        description: str | None = None,
    ) -> None:
        """Change several fields at once (the rich ``Progress.update`` shape)."""
        self._check_open()
        if total is not None:
            self.set_total(total)
        if description is not None:
            self.set_description(description)
        if completed is not None:
            self.set_completed(completed)
        if advance is not None:
            self._n += _check_amount(advance, "advance")

    def task(self, description: str = "", total: float | None = None, *, unit: str | None = None,
             scale: int | None = None) -> Reporter:
        """Create and start a sub-task on the same channel (one per thread, for example).

        It shows indented under this task; its count and total are its own, and are not
        added to the overall total when this task has a total (they are part of it).
        ``unit`` defaults to this task's.
        """
        self._check_open(allow_final=True)
        self._children += 1
        child = Reporter(
            self._channel,
            f"{self._task}/{self._children}",
            description,
            total,
            flush_interval=self._interval,
            unit=self._unit if unit is None else unit,
            scale=(self._scale if unit is None else None) if scale is None else scale,
        )
        self._kids.append(child)
        if len(self._kids) >= self._prune_at:
            # Finished sub-tasks need no closing: a task that starts a million of them in
            # turn keeps the open ones only (amortised O(1): the bound doubles with them).
            self._kids = [k for k in self._kids if k._status not in FINAL_STATUSES]
            self._prune_at = max(PRUNE_KIDS, 2 * len(self._kids))
        return child.start()

    def finish(self) -> None:
        """Mark the task done and ship its final count now. Idempotent."""
        if self._status in FINAL_STATUSES:
            return
        self._final(DONE, None)

    def fail(self, error: BaseException | str | None = None) -> None:
        """Mark the task failed (with an optional exception or message) and ship it now."""
        if self._status in FINAL_STATUSES:
            return
        text: str | None = None
        if isinstance(error, BaseException):
            text = "".join(traceback.format_exception_only(type(error), error)).strip()
        elif error is not None:
            text = str(error)
        self._final(FAILED, text)

    def _interrupt(self, reason: str) -> None:
        """Make the owning thread's next ``advance`` (or ``track`` step) raise TaskCancelled.

        Called from another thread. It swaps the counter for an object whose ``+=``
        raises, so cancellation costs the hot path nothing.
        """
        n = self._n
        if type(n) is not _Cancelled and self._status not in FINAL_STATUSES:
            self._cancel_reason = reason
            self._n = _Cancelled(n, reason)

    def flush(self) -> None:
        """Ship the current state now (normally the flusher thread does this)."""
        with FLUSHER.lock:
            self._flush_locked()

    @property
    def completed(self) -> float:
        n = self._n
        return n.value if type(n) is _Cancelled else n

    @property
    def total(self) -> float | None:
        return self._total

    @property
    def task_id(self) -> str:
        return self._task

    def __enter__(self) -> Reporter:
        if self._status == QUEUED:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.finish()
        else:
            self.fail(exc)

    def __repr__(self) -> str:
        return f"<Reporter {self._task} {self._desc!r} {self._n}/{self._total} {self._status}>"

    # -- internals ------------------------------------------------------------------------
    def _check_open(self, allow_final: bool = False) -> None:
        if self._status in FINAL_STATUSES and not allow_final:
            raise RuntimeError(
                f"reporter for task {self._task!r} ({self._desc!r}) is already {self._status}; "
                "create a new one with hub.reporter() or reporter.task()"
            )

    def _final(self, status: str, error: str | None) -> None:
        n = self._n
        if type(n) is _Cancelled:
            n = self._n = n.value
        if self._cancel_reason is not None:
            self._cancel_reason = None  # the final report must go out, not be re-swapped
            if status == FAILED:
                status = CANCELLED
        if not isinstance(n, numbers.Real) or not math.isfinite(n):
            status, error = FAILED, f"completed count must be a finite real number, got {n!r}"
            self._n = 0
        with FLUSHER.lock:
            self._status = status
            self._error = error
            self._flush_locked()
            FLUSHER.unregister(self)
        self.__class__ = _ClosedReporter
        # Sub-tasks left open end with their parent, rather than running forever on
        # the display (and in this process's flusher).
        kids, self._kids = self._kids, []
        for kid in kids:
            if kid._status not in FINAL_STATUSES:
                if status == DONE:
                    kid._final(DONE, None)
                else:
                    kid._final(CANCELLED, f"its parent task {self._task!r} {status}")

    def _mark_sent(self) -> None:
        """Count the current state as shipped: a copy that never changes sends nothing."""
        n = self._n
        status = RUNNING if self._status == QUEUED and n else self._status  # as a flush would
        self._sent = (n, self._total, self._desc, status, self._note)

    def _flush_locked(self, channel: Channel | None = None) -> bool:
        """Ship the state if it changed; whether a report went out."""
        n = self._n
        if type(n) is _Cancelled:
            return False
        if self._cancel_reason is not None:
            # The owner thread's ``+=`` raced with _interrupt and wrote a number back over
            # the swap: swap again, so the cancellation cannot be lost.
            self._n = _Cancelled(n, self._cancel_reason)
            return False
        if self._status == QUEUED and n:
            self._status = RUNNING  # progress without start(): the task has begun
        state = (n, self._total, self._desc, self._status, self._note)
        if state == self._sent:
            return False
        if n != n or n in (math.inf, -math.inf):  # never ship NaN/inf; _final reports it
            return False
        self._seq += 1
        self._sent = state
        (channel or self._channel).put(
            Report(
                self._task, self._seq, n, self._total, self._desc, self._status,
                self._error, os.getpid(), self._attempt, self._note, self._unit, self._scale,
            )
        )
        return True


class _Cancelled:
    """Stands in for a reporter's counter once its task is cancelled: ``+=`` raises."""

    __slots__ = ("value", "reason")

    def __init__(self, value: float, reason: str) -> None:
        self.value = value
        self.reason = reason

    def __add__(self, other: object) -> float:
        from .._errors import TaskCancelled

        raise TaskCancelled(self.reason)

    __iadd__ = __add__


class _ClosedReporter(Reporter):
    """What a reporter becomes after finish/fail: mutators raise, reads still work.

    Swapping the class keeps the check off ``advance``'s hot path entirely.
    """

    __slots__ = ()

    def advance(self, n: float = 1) -> None:
        self._check_open()

    def start(self, description: str | None = None, total: float | None = None, *,
              unit: str | None = None, scale: int | None = None) -> Reporter:
        self._check_open()
        return self

    def __getstate__(self) -> tuple[object, ...]:
        return Reporter.__getstate__(self)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        Reporter.__setstate__(self, state)


class NullReporter(Reporter):
    """What ``fanin.current()`` returns outside a fanin task: every call is accepted, nothing
    is sent. It validates nothing either, since there is no task whose state it could
    corrupt."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(_NoChannel(), "-", "")

    def advance(self, n: float = 1) -> None:
        pass

    def start(self, description: str | None = None, total: float | None = None, *,
              unit: str | None = None, scale: int | None = None) -> Reporter:
        return self

    def set_total(self, total: float | None) -> None:
        pass

    def set_description(self, description: str) -> None:
        pass

    def set_completed(self, completed: float) -> None:
        pass

    def set_status(self, text: str) -> None:
        pass

    def set_unit(self, unit: str, scale: int | None = None) -> None:
        pass

    def update(self, *, completed: float | None = None, advance: float | None = None,
               total: float | None = None, description: str | None = None) -> None:
        pass

    def task(self, description: str = "", total: float | None = None, *, unit: str | None = None,
             scale: int | None = None) -> Reporter:
        return self

    def finish(self) -> None:
        pass

    def fail(self, error: BaseException | str | None = None) -> None:
        pass

    def flush(self) -> None:
        pass

    def _track(self, iterable: Iterable[T]) -> Iterator[T]:
        yield from iterable


class _NoChannel:
    __slots__ = ()

    def put(self, obj: object) -> None:
        pass
