"""The one interface the hub knows a backend by.

Runs in: the caller's threads (every method). Like httpx's transport base, this is the only
thing ``Hub`` depends on: it never asks which backend it has. A backend runs jobs (each
tagged with the group of the call that submitted it, so a failure cancels that call's work
and nobody else's), hands out reporters whose channel reaches the hub's inbox from
wherever the backend runs code, and can say which worker processes it has.

Fail-fast is decided by the failure policy (``_run/policy.py``), which marks a call's jobs
``fail_fast``; a backend then stops that group the moment one of them fails, before it
hands a freed worker the group's next job (a round trip through the caller would lose that
race).
"""


from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, NamedTuple, Protocol

from .._worker.reporter import Reporter


class JobSpec(NamedTuple):
    """One job: ``fn(item, reporter)`` under task ``task_id``, as part of call ``group``.

    A NamedTuple, not a dataclass: ``dataclasses`` imports ``inspect``, ~5 ms that every
    hub's start would pay (issue 13)."""

    fn: Callable[[Any, Reporter], Any]
    item: Any
    task_id: str
    description: str
    total: float | None = None
    group: int = 0
    fail_fast: bool = False  # its failure cancels the group's queued jobs at once
    # The caller will wait for it (map, imap): submitted from inside one of the backend's
    # own jobs with no worker free, the job may run in place instead of deadlocking. An
    # executor's submit is not one: like the stdlib's, it queues.
    awaited: bool = True


FAIL_FAST = "cancelled after another task failed (fail-fast)"


class Statistics(NamedTuple):
    """Supported numbers about a backend, for tests and users (trio's ``statistics()``)."""

    workers: int  # live worker processes or threads
    deaths: int  # workers that died while running a job
    queued: int  # jobs waiting for a worker


class BackendConfig:
    """What every backend is built from (see ``create_backend``)."""

    __slots__ = ("workers", "forward", "flush_interval", "mp_context", "address", "log_level",
                 "capture_print", "redirect_stderr", "extra")

    def __init__(self, workers: int, forward: Callable[[object], None], flush_interval: float,
                 mp_context: Any = None, address: str | None = None, log_level: int | None = None,
                 capture_print: bool = False, redirect_stderr: bool = False,
                 extra: dict[str, Any] | None = None) -> None:
        self.workers = workers
        self.forward = forward  # the hub's inbox put: where Verdicts and reports go
        self.flush_interval = flush_interval
        self.mp_context = mp_context  # multiprocessing context (thread/process backends)
        self.address = address  # Dask scheduler, or None for a LocalCluster of our own
        self.log_level = log_level  # process workers: root level when logs are routed
        self.capture_print = capture_print  # process workers: route print() too
        self.redirect_stderr = redirect_stderr  # process workers: sys.stderr above the bars
        self.extra: dict[str, Any] = {} if extra is None else extra


class Backend(Protocol):
    def start(self) -> None:
        """Start workers; raises if it cannot (no cluster, no fds)."""

    def submit(self, job: JobSpec) -> Future[Any]:
        """Queue ``job``; its future settles with the result or the exception."""

    def check_callable(self, fn: Callable[..., Any]) -> None:
        """Raise now, with a sentence saying what to do, if ``fn`` cannot run here."""

    def cancel_group(self, group: int, reason: str) -> None:
        """Cancel the group's jobs that have not started (and any prefetched by a worker)."""

    def interrupt_group(self, group: int, reason: str) -> None:
        """Ask the group's running jobs to stop (threads: at their next report)."""

    def shutdown(self, kill: bool = False) -> None:
        """Cancel what is queued; let running jobs end, or with ``kill`` stop them now."""

    def reporter(self, task_id: str, description: str, total: float | None) -> Reporter:
        """A reporter for the user's own threads/processes/tasks on this backend."""

    def sync(self, timeout: float | None = 10.0) -> bool:
        """Wait until every report sent so far is in the hub's inbox."""

    def size(self) -> int:
        """How many jobs run at once: the pool's size, or a remote cluster's worker count
        when it connected (the hub's ``workers``, for headers and chunk sizes)."""

    def pids(self) -> list[int]:
        """Worker process ids on this machine (safe to call from a signal handler)."""

    def statistics(self) -> Statistics: ...
