"""The Dask transport: reports ride on scheduler event topics.

Runs in: Dask worker processes (``DaskChannel.put`` on task threads and the flusher thread)
and the client process (reporters handed out by the hub, which skip the cluster). See
``dask.py`` for the measurements behind the choice of ``Worker.log_event``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from distributed import Worker, get_worker
from distributed.core import Status

from .._errors import FaninWarning
from .._wire import Report
from .._worker.flusher import FLUSHER

if TYPE_CHECKING:
    from .._worker.reporter import Reporter

PROBE = "fanin-probe"
_INT64 = 2**63  # msgpack packs ints in [-2**63, 2**64); wider ones travel as floats

# topic -> the hub's inbox put, for reporters used in the hub's own process (no worker here).
LOCAL: dict[str, Callable[[object], None]] = {}
_warned = False


def _warn_once(text: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(text, FaninWarning, stacklevel=3)


def _num(x: Any) -> int | float:
    if type(x) is float or (type(x) is int and -_INT64 <= x < _INT64):
        return x
    return float(x)


def wire(run: str, r: Report) -> tuple[Any, ...]:
    """A report as plain msgpack-able values (``log_event`` refuses anything else)."""
    total = r.total if r.total is None else _num(r.total)
    desc = r.description if type(r.description) is str else str.__str__(r.description)
    err = r.error if r.error is None or type(r.error) is str else str(r.error)
    note = r.note if type(r.note) is str else str(r.note)
    unit = r.unit if type(r.unit) is str else str(r.unit)
    return (run, r.task, r.seq, _num(r.completed), total, desc, r.status, err, r.pid, r.attempt,
            note, unit, int(r.scale))


class DaskChannel:
    """Worker-side half of the transport: publishes reports on a scheduler event topic.

    Pickles as its topic name alone; each unpickled copy draws a new run id (see ``dask.py``)
    and finds the Dask worker of the process it lands in on first use.
    """

    __slots__ = ("_worker", "run", "topic")

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.run = os.urandom(6).hex()
        self._worker: Worker | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (DaskChannel, (self.topic,))

    def put(self, obj: object) -> None:
        if type(obj) is not Report:
            return
        try:
            worker = self._worker if self._worker is not None else self._find_worker()
            if worker is not None:
                worker.log_event(self.topic, wire(self.run, obj))
                return
            local = LOCAL.get(self.topic)
            if local is not None:
                local(obj)
                return
        except Exception as exc:  # noqa: BLE001 - the plumbing never raises into the work
            _warn_once(f"fanin: a progress report could not be sent through Dask: {exc!r}")
            return
        _warn_once("fanin: a Dask reporter was used outside a Dask worker and outside its "
                   "hub's process; its progress is dropped")

    def adopt(self, rep: Reporter) -> None:
        """A reporter bound to this channel was unpickled here: track it only where it can run.

        Dask unpickles a task's arguments in processes that will not run it: the scheduler
        unpickles every submitted graph, and a worker unpickles a task when it is assigned
        one, which work stealing may then move on. A copy there must do nothing: tracked by
        the flusher it would ship a report under its own run id (a phantom attempt) and be
        swept, and kept, forever (a scheduler's CPU and memory growing with every reporter
        ever sent). So: in the hub's own process, track it as before; where no Dask worker
        runs (the scheduler, any other process), never; in a worker, weakly (a copy Dask
        drops is forgotten) and with its current state counted as sent, so an unused copy
        never reports and never counts as a run. ``start()`` registers it for real.
        """
        if self.topic in LOCAL:
            FLUSHER.register(rep, rep._interval)
            return
        if not any(w.status == Status.running for w in list(Worker._instances)):
            return
        rep._mark_sent()
        FLUSHER.register_weak(rep, rep._interval)

    def _find_worker(self) -> Worker | None:
        try:
            worker = get_worker()  # a task thread
        except ValueError:
            # The flusher thread, or a thread the task started: the process's running worker.
            live = [w for w in list(Worker._instances) if w.status == Status.running]
            if not live:
                return None
            worker = live[0]
        self._worker = worker
        return worker
