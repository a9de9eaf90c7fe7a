"""fanin: one live, correct, cheap progress display for work in threads, processes or a cluster.

Workers get a :class:`Reporter`; its reports travel over queues to a collector thread in
the main process, which coalesces them into a state model that a single render thread
draws with Rich.
"""

from __future__ import annotations

from ._errors import FaninError, FaninWarning, RemoteTraceback, TaskCancelled, WorkerDied
from ._hub import Failure, Hub
from ._integrations import ProgressExecutor, track
from ._reporter import Reporter
from ._state import Snapshot, TaskView

__version__ = "0.1.0"

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
    "track",
]
