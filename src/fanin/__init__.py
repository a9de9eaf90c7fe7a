"""fanin: one live, correct, cheap progress display for work in threads, processes or a cluster.

Workers get a :class:`Reporter`; its reports travel over queues to a collector thread in
the main process, which coalesces them into a state model that a single render thread
draws with Rich. The layers, lowest first: ``_wire``/``_errors``/``_text`` (the contract),
``_worker`` (reporter, flusher, logs), ``_ingest`` (pump, collector, state, events, health),
``_display`` and ``_backends`` (side by side, never importing each other), ``_run`` (hub,
pipeline, failure policy), ``_integrations``, ``_cli``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._errors import FaninError, FaninWarning, RemoteTraceback, TaskCancelled, WorkerDied
from ._ingest.state import Snapshot, TaskView
from ._integrations.executor import ProgressExecutor
from ._integrations.maps import process_map, thread_map
from ._integrations.tqdm import tqdm, trange
from ._integrations.track import track
from ._run.hub import Hub
from ._run.policy import Failure
from ._worker.current import current
from ._worker.reporter import Reporter

try:
    __version__ = version("fanin")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Failure",
    "FaninError",
    "FaninWarning",
    "Hub",
    "ProgressExecutor",
    "RemoteTraceback",
    "Reporter",
    "Snapshot",
    "TaskCancelled",
    "TaskView",
    "WorkerDied",
    "__version__",
    "current",
    "process_map",
    "thread_map",
    "tqdm",
    "track",
    "trange",
]
