"""fanin: one live, correct, cheap progress display for work in threads, processes or a cluster.

Workers get a :class:`Reporter`; its reports travel over queues to a collector thread in
the main process, which coalesces them into a state model that a single render thread
draws with Rich. The layers, lowest first: ``_wire``/``_errors``/``_text`` (the contract),
``_worker`` (reporter, flusher, logs), ``_ingest`` (pump, collector, state, events, health),
``_display`` and ``_backends`` (side by side, never importing each other), ``_run`` (hub,
pipeline, failure policy), ``_integrations``, ``_cli``.

Names are imported on first use (PEP 562): a worker process imports only the worker side
(measured: ``import fanin`` went from ~160 ms to ~1 ms; every spawned worker pays it).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._died import WorkerDied
    from ._errors import FaninError, FaninWarning, RemoteTraceback, SchedulerLost, TaskCancelled
    from ._ingest.state import Snapshot, TaskView
    from ._integrations.executor import ProcessPoolExecutor, ProgressExecutor, ThreadPoolExecutor
    from ._integrations.maps import process_map, thread_map
    from ._integrations.pool import Pool
    from ._integrations.tqdm import tqdm, trange
    from ._integrations.track import track
    from ._run.hub import Hub
    from ._run.policy import Failure
    from ._worker.current import current
    from ._worker.reporter import Reporter

_EXPORTS = {
    "Failure": "._run.policy",
    "FaninError": "._errors",
    "FaninWarning": "._errors",
    "Hub": "._run.hub",
    "Pool": "._integrations.pool",
    "ProcessPoolExecutor": "._integrations.executor",
    "ProgressExecutor": "._integrations.executor",
    "RemoteTraceback": "._errors",
    "Reporter": "._worker.reporter",
    "SchedulerLost": "._errors",
    "Snapshot": "._ingest.state",
    "TaskCancelled": "._errors",
    "TaskView": "._ingest.state",
    "ThreadPoolExecutor": "._integrations.executor",
    "WorkerDied": "._died",
    "current": "._worker.current",
    "process_map": "._integrations.maps",
    "thread_map": "._integrations.maps",
    "tqdm": "._integrations.tqdm",
    "track": "._integrations.track",
    "trange": "._integrations.tqdm",
}

__all__ = [
    "Failure",
    "FaninError",
    "FaninWarning",
    "Hub",
    "Pool",
    "ProcessPoolExecutor",
    "ProgressExecutor",
    "RemoteTraceback",
    "Reporter",
    "SchedulerLost",
    "Snapshot",
    "TaskCancelled",
    "TaskView",
    "ThreadPoolExecutor",
    "WorkerDied",
    "__version__",
    "current",
    "process_map",
    "thread_map",
    "tqdm",
    "track",
    "trange",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(import_module(module, __name__), name)
        globals()[name] = value  # next time, a plain attribute
        return value
    if name == "__version__":
        # The version lives in pyproject.toml only.
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("fanin")
        except PackageNotFoundError:  # a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'fanin' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
