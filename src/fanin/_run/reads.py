"""The hub's reads: snapshot, tasks, failures, workers, statistics.

A mixin of :class:`fanin.Hub`, kept apart so the hub itself is lifecycle and assembly. All
of it reads what the pipeline and the backend already know; nothing here changes state.
"""


import threading
from typing import NamedTuple

from .._backends import Backend
from .._ingest.state import Snapshot, TaskView
from .._wire import FAILED
from .options import HubOptions
from .pipeline import Pipeline


class HubStatistics(NamedTuple):
    """Supported numbers about a run, for tests and users (no private attributes needed)."""

    frames: int  # frames drawn
    health_samples: int  # psutil samples taken
    malformed: int  # messages the collector could not use
    workers: int  # live workers of the backend (0 before the first job)
    deaths: int  # worker processes that died while running a job
    queued: int  # jobs waiting for a worker


class Reads:
    """What a hub can tell about its run; the hub provides the attributes declared here."""

    _pipeline: Pipeline
    _backend: Backend | None
    _options: HubOptions

    def snapshot(self, max_rows: int | None = None) -> Snapshot:
        return self._pipeline.snapshot(max_rows)

    def tasks(self) -> list[TaskView]:
        """Every task's current view (status, counts, rate, error), in creation order.

        Done tasks beyond the newest 1,000 are folded into the counts (``snapshot().counts``
        and ``.folded``) to keep memory flat over long runs; failed, cancelled, unfinished
        and running tasks are always listed."""
        return self._pipeline.tasks()

    @property
    def failed(self) -> list[TaskView]:
        return [t for t in self.tasks() if t.status == FAILED]

    @property
    def render_thread(self) -> threading.Thread | None:
        return self._pipeline.render_thread

    @property
    def workers(self) -> int:
        """How many jobs run at once: ``workers``, or the size of the Dask cluster at
        ``address`` once the hub has connected to it (at least 1: chunk sizes and
        concurrency are derived from it, and a cluster may have no worker yet)."""
        backend = self._backend
        return max(1, backend.size()) if backend is not None else self._options.workers

    @property
    def worker_pids(self) -> list[int]:
        return self._backend.pids() if self._backend is not None else []

    def statistics(self) -> HubStatistics:
        p = self._pipeline.statistics()
        b = self._backend.statistics() if self._backend is not None else None
        return HubStatistics(p.frames, p.health_samples, p.malformed,
                             b.workers if b else 0, b.deaths if b else 0, b.queued if b else 0)
