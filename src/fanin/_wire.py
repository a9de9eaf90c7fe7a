"""The wire contract between workers and the collector.

Leaf module: small immutable records of primitives, importing nothing from the package,
so they pickle under fork, spawn and forkserver alike. Every record that describes a
task carries its *absolute* state (never a delta), so a coalesced, dropped or duplicated
intermediate message only costs an intermediate frame, never correctness.

Runs in: every process (workers build records, the main process reads them).
"""


from typing import NamedTuple

# Task statuses, as they travel on the wire and live in the state model.
QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
UNFINISHED = "unfinished"  # a reporter still open when its hub closed, short of its total
FINAL_STATUSES = frozenset({DONE, FAILED, CANCELLED, UNFINISHED})


class Report(NamedTuple):
    """Absolute state of one task, as last seen by the process that owns its reporter.

    ``seq`` grows with every report a reporter sends; the collector keeps the report with
    the highest ``seq`` per task and ignores anything after a final status.
    """

    task: str
    seq: int
    completed: float
    total: float | None
    description: str
    status: str
    error: str | None
    pid: int
    attempt: int = 0
    note: str = ""  # free status text set by the worker (``set_status``), shown on the row
    unit: str = ""  # what is counted ("B" for bytes); "" means plain items
    scale: int = 0  # 0: exact counts; 1000 or 1024: scaled (k/M/G or Ki/Mi/Gi)


class LogRecord(NamedTuple):
    """A line of text from a worker (a ``logging`` record or a captured ``print``)."""

    task: str | None
    pid: int
    worker: str
    level: str
    text: str


class LogBatch(NamedTuple):
    """The log lines a worker process gathered over one flush interval, in one message
    (one per record would queue ahead of the job's result and flood the pump)."""

    records: tuple[LogRecord, ...]


class Verdict(NamedTuple):
    """The main process settles tasks whose worker cannot: a dead worker, a cancellation."""

    tasks: tuple[str, ...]
    status: str
    reason: str
    pid: int | None = None


class JobResult(NamedTuple):
    """A pool worker's outcome for one job: ``payload`` is pickled by the worker itself,
    so an unpicklable result fails that job with a clear error instead of being lost in
    the queue's feeder thread."""

    job: int
    ok: bool
    payload: bytes
    tb: str | None = None


class Barrier(NamedTuple):
    """Posted by the main process; the collector sets the event once everything before it is applied."""

    token: int


class JobStarted(NamedTuple):
    """A pool worker took job ``job`` and is about to run it: written straight to the pipe
    (not through the queue's feeder thread) before any of the job's code runs, so a worker
    that dies without having sent it never ran the job, and the job can be requeued."""

    job: int


class ResultFollows(NamedTuple):
    """Sent just before a large ``JobResult``: if the hub cannot read or unpickle the next
    frame (``MemoryError`` for a huge result), it knows whose result was lost and fails
    that job with the reason instead of leaving its future unsettled."""

    job: int
    size: int
