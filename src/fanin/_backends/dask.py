"""The Dask backend: ``hub.map`` tasks run on a Dask cluster, progress rides on event topics.

Runs in: the caller (``start``/``submit``/``cancel_pending``/``shutdown``); the Dask client's
event-loop thread (``_on_event``, once per report); the "fanin-dask-settle" thread (turns
finished Dask futures into ``concurrent.futures`` results); and, in Dask worker processes,
``_run_task`` (a task thread) and ``DaskChannel.put`` (task threads and the flusher thread).

Transport: ``Worker.log_event(topic, msg)`` -> scheduler -> ``Client.subscribe_topic``. The
worker queues the message onto the batched stream it already keeps to the scheduler, so a put
never blocks. Measured with ``benchmarks/dask_transport.py`` (2-worker LocalCluster, 2 cores):
about 11 us of worker CPU and 11 us of scheduler+client CPU per message, ~50k messages/s end
to end; a ``distributed.Queue`` put, a ``Variable`` set or ``Client.log_event`` from a task
are each a ~0.5 ms blocking round trip, and Pub/Sub was removed in distributed 2025.4.
Reporters already coalesce (one message per flush interval per live task), so a task that
advances a million times costs the cluster ~20 messages a second.

Ordering: a task's final report enters the worker's batched stream before the task's
completion message, and the scheduler relays both to the client over one stream, so when a
Dask future is done its final report is already in the hub's inbox (exact counts).
Tasks that *other* clients run with our reporters have no such ordering with our client, so
``sync`` (called by ``hub.sync`` and at shutdown) sends a probe event through the scheduler
and waits for it to come back behind everything the scheduler had received before it.

Attempts: every execution of a task draws a fresh random run id (``DaskChannel`` makes one
when built or unpickled in a worker) that travels with each message. The client numbers a
task's runs in the order it first hears from them and sets ``Report.attempt`` to that number,
so when a worker dies and the scheduler reruns the task elsewhere, the rerun's reports carry a
higher attempt and restart the task's progress (``ProgressState._restart``) instead of adding
to it; stragglers from the dead run keep their lower attempt and are ignored. This costs no
extra round trip, needs no scheduler plugin and works the same for reporters users pass to
their own ``client.submit``. A run that died before any of its reports arrived is not counted.
A reporter copy Dask unpickles where the task does not run (the scheduler, a worker the task
was stolen from) reports nothing, so it never counts as a run (``DaskChannel.adopt``).

Faults: a settled Dask future is released at once, so a result we hold is never recomputed
when the worker holding Dask's copy dies (the rerun would restart a finished bar after
``map`` returned). The job travels as bytes unpickled inside the task, so a job a worker
cannot import fails as that task's error instead of closing the worker. A lost scheduler
fails the unfinished tasks with ``SchedulerLost`` (not a cancellation) and every later
call that would wait for the scheduler returns at once. A remote cluster is checked at start
(address, connect timeout, fanin importable on the scheduler and the workers).
"""
from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, InvalidStateError
from typing import Any

import distributed
from distributed import Client, KilledWorker, LocalCluster
from distributed.protocol.pickle import dumps

from .._died import WorkerDied
from .._errors import FaninError, RemoteTraceback, SchedulerLost
from .._wire import CANCELLED, FAILED, Report, Verdict
from .._worker.flusher import FLUSHER
from .._worker.reporter import Reporter
from .._worker.runjob import run_job
from .base import BackendConfig, JobSpec, Statistics
from .dask_transport import LOCAL, PROBE, DaskChannel

SUBSCRIBE_TIMEOUT = 30.0  # seconds to wait for the scheduler to confirm our topic subscription
CONNECT_TIMEOUT = 5.0  # seconds to reach the scheduler at ``address`` (Dask's own default: 30)
SETTLE_WINDOW = 0.05  # seconds the settle thread collects finished futures for one gather
LOST = "scheduler-connection-lost"  # Dask's cancel reason when the client loses the scheduler


def _fanin_version() -> str:
    """Runs on the scheduler and on every worker at start: unpickling it there needs fanin."""
    import fanin

    return str(fanin.__version__)


def _run_pickled(payload: bytes, task_id: str, description: str, total: float | None,
                 topic: str, flush_interval: float) -> Any:
    """Runs in a Dask worker: unpickle the job here, inside the task.

    Handed to Dask as arguments, the user's function and item would be unpickled by the
    scheduler (which then fails every key with a generic "Error during deserialization")
    and by each worker while it reads the scheduler's stream, where a missing module closes
    the worker; the next worker dies the same way. Here it is the task's own error, with
    the missing module named.
    """
    from distributed.protocol.pickle import loads

    fn, item = loads(payload)  # type: ignore[no-untyped-call]
    return _run_task(fn, item, task_id, description, total, topic, flush_interval)


def _run_task(fn: Callable[[Any, Reporter], Any], item: Any, task_id: str, description: str,
              total: float | None, topic: str, flush_interval: float) -> Any:
    """Runs in a Dask worker: ``fn(item, reporter)`` with a managed reporter. Dask ships an
    exception and its traceback; the client attaches it."""
    reporter = Reporter(DaskChannel(topic), task_id, description, total,
                        flush_interval=flush_interval)
    return run_job(fn, item, reporter)


class _Direct:
    __slots__ = ("put",)

    def __init__(self, put: Callable[[object], None]) -> None:
        self.put = put


class _Job:
    __slots__ = ("task", "dfut", "future", "group", "cancel_reason")

    def __init__(self, task: str, dfut: Any, future: Future[Any], group: int = 0) -> None:
        self.task = task
        self.dfut = dfut  # distributed.Future
        self.future = future
        self.group = group
        self.cancel_reason: str | None = None


_STOP = object()


class DaskBackend:
    """Runs tasks on a Dask cluster: a LocalCluster of its own, or the one at ``address``."""

    def __init__(self, config: BackendConfig) -> None:
        self._n = config.workers
        self._address = config.address
        self._forward = config.forward
        self._flush_interval = config.flush_interval
        self._topic = f"fanin-{uuid.uuid4().hex}"
        self._token = self._topic[6:18]
        self._channel = DaskChannel(self._topic)  # for reporters handed out in this process
        self._cluster: Any = None  # LocalCluster | None (Dask's API is untyped: Any)
        self._client: Any = None  # Client | None
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}  # Dask key -> job, until settled
        self._heard: set[str] = set()  # tasks that have reported (they have started)
        self._runs: dict[str, dict[str, int]] = {}  # task -> run id -> attempt
        self._settle_q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._settler = threading.Thread(target=self._settle_loop, name="fanin-dask-settle",
                                         daemon=True)
        self._probes: dict[str, threading.Event] = {}  # token -> set when it comes back
        self._state = "new"
        self._lost = False  # the scheduler connection is gone: never wait for it again
        self._size = self._n  # a remote cluster's worker count, measured at start

    @property
    def client(self) -> Client:
        """The ``distributed.Client`` the pool submits with (after ``start``)."""
        client: Client | None = self._client
        if client is None:
            raise RuntimeError("the Dask pool is not started")
        return client

    # -- caller side ----------------------------------------------------------------------
    def start(self) -> None:
        if self._state != "new":
            raise RuntimeError("a DaskPool can only be started once")
        self._state = "started"
        try:
            if self._address is None:
                self._cluster = LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=self._n, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None, silence_logs=logging.CRITICAL)
                self._client = Client(  # type: ignore[no-untyped-call]
                    self._cluster, set_as_default=False)
            else:
                self._client = _connect(self._address)
                self._size = self._check_cluster()
            LOCAL[self._topic] = self._forward
            self._client.subscribe_topic(self._topic, self._on_event)
            self._confirm_subscription()
        except BaseException:
            self._teardown()
            raise
        self._settler.start()

    def _check_cluster(self) -> int:
        """The scheduler and every worker must import this fanin: say so now, in a sentence
        (a worker without it would die on our first task, and the tasks wait forever).
        Returns the number of workers. Workers that join later are not checked."""
        client, addr, version = self._client, self._address, _fanin_version()
        try:
            there = client.run_on_scheduler(_fanin_version)
        except Exception as exc:  # noqa: BLE001 - e.g. ModuleNotFoundError, relayed
            raise FaninError(f"fanin cannot be imported on the Dask scheduler at {addr} "
                             f"({_one_line(exc)}); install fanin {version} there") from None
        if there != version:
            raise FaninError(f"the Dask scheduler at {addr} has fanin {there}, this process "
                             f"{version}; install the same version everywhere")
        got = client.run(_fanin_version, on_error="return")
        bad = {w: v for w, v in got.items() if v != version}
        if bad:
            w, v = next(iter(bad.items()))
            why = _one_line(v) if isinstance(v, BaseException) else f"fanin {v}"
            raise FaninError(f"{len(bad)} of {len(got)} Dask workers at {addr} cannot run fanin "
                             f"{version} tasks (worker {w}: {why}); install fanin {version} on "
                             "every worker host")
        return len(got)

    def _scheduler_address(self) -> str:
        if self._address is not None:
            return self._address
        try:
            return str(self._cluster.scheduler_address)
        except Exception:  # noqa: BLE001 - a closing LocalCluster
            return "its local cluster"

    def size(self) -> int:
        """Workers jobs run on: ours, or a remote cluster's count when the hub started."""
        return self._size

    def _confirm_subscription(self) -> None:
        # subscribe_topic is fire-and-forget; a task's first (or only) reports could reach the
        # scheduler before the subscription and be lost. A probe we hear back proves it's live.
        for _ in range(int(SUBSCRIBE_TIMEOUT / 0.2)):
            if self.sync(0.2):
                return
        raise FaninError("the Dask scheduler did not confirm fanin's event subscription")

    def sync(self, timeout: float | None = 10.0) -> bool:
        """Wait until every report the scheduler had received by now is in the hub's inbox.

        A probe event goes through the scheduler's broker and comes back on the same
        stream as the reports, after them. Needed for reporters driven by *another* client's
        tasks: that client can see its task finish before our client hears the final report.
        """
        client = self._client
        if client is None or self._state not in ("started", "closing"):
            return True
        if self._lost or client.status != "running":
            return False  # nothing more will come, and Client.log_event would wait to reconnect
        token = os.urandom(6).hex()
        event = self._probes[token] = threading.Event()
        try:
            client.log_event(self._topic, (PROBE, token))
            return event.wait(timeout)
        except Exception:  # noqa: BLE001 - a lost scheduler: nothing more will come
            return False
        finally:
            self._probes.pop(token, None)

    def submit(self, spec: JobSpec) -> Future[Any]:
        fn, item, task_id, description, total = (spec.fn, spec.item, spec.task_id,
                                                  spec.description, spec.total)
        client = self._client
        if client is None:
            raise RuntimeError("the Dask pool is not started")
        fut: Future[Any] = Future()
        key = f"{getattr(fn, '__name__', 'task')}-{self._token}-{task_id}"
        try:
            payload = dumps((fn, item))  # type: ignore[no-untyped-call]  # see _run_pickled
            dfut = client.submit(_run_pickled, payload, task_id, description, total, self._topic,
                                 self._flush_interval, key=key, pure=False)
        except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable item
            self._forward(Verdict((task_id,), FAILED, f"could not submit to Dask: {exc}"))
            fut.set_exception(exc)
            return fut
        with self._lock:
            self._jobs[key] = _Job(task_id, dfut, fut, spec.group)
        dfut.add_done_callback(self._settle_q.put)
        return fut

    def reporter(self, task_id: str, description: str, total: float | None) -> Reporter:
        """A reporter for the user's own tasks: pass it to ``client.submit``/``client.map``."""
        rep = Reporter(self._channel, task_id, description, total,
                       flush_interval=self._flush_interval)
        with FLUSHER.lock:
            rep._flush_locked(_Direct(self._forward))  # register the task now, in order
        FLUSHER.register(rep, self._flush_interval)
        return rep

    def check_callable(self, fn: Any) -> None:
        pass  # Dask pickles with cloudpickle: lambdas and closures travel too

    def cancel_group(self, group: int, reason: str) -> None:
        """Cancel the group's tasks that have not started (not yet heard from)."""
        self._cancel_where(reason, lambda j: j.group == group and j.task not in self._heard)

    def interrupt_group(self, group: int, reason: str) -> None:
        """Cancel the group's running tasks too: Dask releases them (an external cluster's
        worker thread still runs the function to its end, unobserved)."""
        self._cancel_where(reason, lambda j: j.group == group)

    def _cancel_where(self, reason: str, which: Callable[[_Job], bool]) -> None:
        with self._lock:
            pending = [j for j in self._jobs.values() if which(j) and not j.dfut.done()]
            for job in pending:
                job.cancel_reason = reason
        self._cancel(pending, reason)

    def statistics(self) -> Statistics:
        with self._lock:
            queued = sum(1 for j in self._jobs.values() if j.task not in self._heard)
        return Statistics(len(self.pids()), 0, queued)

    def shutdown(self, kill: bool = False, timeout: float = 5.0) -> None:
        """Let running tasks end (up to ``timeout`` seconds), cancel the rest, disconnect.

        With ``kill`` nothing is awaited; a LocalCluster of our own is closed, which ends
        its worker processes. Tasks on an external cluster cannot be interrupted by Dask:
        they are cancelled, and finish (unobserved) on their workers.
        """
        if self._state != "started":
            self._state = "closed"
            return
        self._state = "closing"
        try:
            self._cancel_where("hub closed", lambda j: j.task not in self._heard)
            with self._lock:
                running = [j.dfut for j in self._jobs.values()]
            if running and not kill and not self._lost:
                with contextlib.suppress(TimeoutError, distributed.TimeoutError):
                    distributed.wait(running, timeout=timeout)  # type: ignore[no-untyped-call]
            self._settle_q.put(_STOP)
            self._settler.join(timeout)
            with self._lock:
                left = list(self._jobs.values())
                self._jobs.clear()
            done = [j for j in left if j.dfut.done()]
            self._settle(done)
            self._cancel([j for j in left if not j.dfut.done()], "hub closed")
            if not kill:
                self.sync(timeout)  # final reports of tasks other clients ran with our reporters
        finally:
            self._teardown()
            self._state = "closed"

    def pids(self) -> list[int]:
        """Worker process ids of our own LocalCluster; ``[]`` for a remote cluster.

        Local attribute reads only (no round trip), so it is safe from a signal handler, and
        never a remote host's pids, which would name unrelated processes here.
        """
        cluster = self._cluster
        if cluster is None:
            return []
        try:
            return sorted(pid for n in list(cluster.workers.values()) if (pid := n.pid))
        except Exception:  # noqa: BLE001
            return []

    # -- client event loop ----------------------------------------------------------------
    def _on_event(self, event: tuple[float, Any]) -> None:
        msg = event[1]
        try:
            run = msg[0]
            if run == PROBE:
                probe = self._probes.get(msg[1])
                if probe is not None:
                    probe.set()
                return
            report = Report(*msg[1:])
            runs = self._runs.get(report.task)
            if runs is None:
                runs = self._runs[report.task] = {}
            attempt = runs.get(run)
            if attempt is None:
                attempt = runs[run] = len(runs)
        except Exception:  # noqa: BLE001 - the collector counts what it cannot use
            self._forward(msg)
            return
        self._heard.add(report.task)
        if attempt:
            report = report._replace(attempt=report.attempt + attempt)
        self._forward(report)

    # -- settle thread --------------------------------------------------------------------
    def _settle_loop(self) -> None:
        get = self._settle_q.get
        while True:
            batch = [get()]
            # Collect for a moment before gathering: a gather is a scheduler round trip that
            # costs the scheduler, the worker and us about a millisecond each, and futures
            # finish one at a time, so one gather per task was most of our per-task cost.
            # No waiting once every outstanding job is in the batch (a map's last result).
            deadline = time.monotonic() + SETTLE_WINDOW
            while len(batch) < min(1024, len(self._jobs)) and batch[-1] is not _STOP:
                left = deadline - time.monotonic()
                try:
                    batch.append(self._settle_q.get(timeout=left) if left > 0
                                 else self._settle_q.get_nowait())
                except queue.Empty:
                    break
            stop = any(f is _STOP for f in batch)
            with self._lock:
                jobs = [self._jobs.pop(f.key) for f in batch
                        if f is not _STOP and f.key in self._jobs and self._jobs[f.key].dfut is f]
            with contextlib.suppress(Exception):  # keep settling the others
                self._settle(jobs)
            del batch, jobs  # no settled future stays referenced while we wait for the next
            if stop:
                return

    def _settle(self, jobs: list[_Job]) -> None:
        finished = [j for j in jobs if j.dfut.status == "finished"]
        values: dict[str, Any] = {}
        if finished:
            # One round trip for the whole batch; on trouble, settle them one by one below.
            with contextlib.suppress(Exception):
                gathered = self._client.gather([j.dfut for j in finished])
                values = {job.task: value for job, value in zip(finished, gathered)}
        for job in jobs:
            try:
                self._settle_one(job, values)
            except Exception as exc:  # noqa: BLE001
                _set(job.future, exc=exc)
            if job.future.done():
                # Drop our claim on the key: while a client wants it, Dask recomputes a
                # result whose worker died, and the rerun would restart a finished bar.
                with contextlib.suppress(Exception):
                    job.dfut.release()

    def _settle_one(self, job: _Job, values: dict[str, Any]) -> None:
        dfut, fut = job.dfut, job.future
        status = dfut.status
        if status == "finished":
            if job.task in values:
                _set(fut, value=values[job.task])
            else:
                _set(fut, value=dfut.result())
        elif status == "error":
            exc = dfut.exception()
            if isinstance(exc, KilledWorker):
                reason = f"its Dask workers kept dying ({exc})"
                err: BaseException = WorkerDied(f"task {job.task!r}: {reason}", tasks=(job.task,))
                err.__cause__ = exc
            else:
                tb = dfut.traceback()
                exc.__cause__ = RemoteTraceback(
                    "".join(traceback.format_exception(type(exc), exc, tb)))
                reason = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                err = exc
            # A no-op when the task already reported its own failure.
            self._forward(Verdict((job.task,), FAILED, reason))
            _set(fut, exc=err)
        elif status != "cancelled":
            # "lost": the worker holding the result died before we fetched it; Dask
            # recomputes the task (its reports restart as a new attempt). Wait again.
            with self._lock:
                self._jobs[dfut.key] = job
            dfut.add_done_callback(self._settle_q.put)
        elif not fut.done():  # cancelled by Dask: another client, or the scheduler is lost
            why = _cancel_reason(dfut)
            if job.cancel_reason is None and (why == LOST or self._client.status != "running"):
                # Not a cancellation: a failure map must raise (fail-fast), with the cause.
                self._lost = True
                lost = SchedulerLost(f"lost the Dask scheduler at {self._scheduler_address()}")
                self._forward(Verdict((job.task,), FAILED, str(lost)))
                _set(fut, exc=lost)
                return
            reason = job.cancel_reason or f"cancelled by Dask ({why})"
            _cancel(fut)
            self._forward(Verdict((job.task,), CANCELLED, reason))

    # -- internals ------------------------------------------------------------------------
    def _cancel(self, jobs: list[_Job], reason: str) -> None:
        if not jobs:
            return
        for job in jobs:
            _cancel(job.future)
        self._forward(Verdict(tuple(j.task for j in jobs), CANCELLED, reason))
        if self._lost:
            return  # nothing left to cancel, and Client.cancel would wait to reconnect
        with contextlib.suppress(Exception):  # a lost scheduler: nothing left to cancel
            self._client.cancel([j.dfut for j in jobs], reason=reason)

    def _teardown(self) -> None:
        LOCAL.pop(self._topic, None)
        FLUSHER.forget_channel(self._channel)
        client, cluster = self._client, self._cluster
        # Teardown is best effort: a lost scheduler or a dying cluster must not mask the
        # hub's own shutdown.
        if client is not None:
            lost = self._lost or client.status != "running"
            if not lost:
                with contextlib.suppress(Exception):
                    client.unsubscribe_topic(self._topic)
            with contextlib.suppress(Exception), _quiet("distributed.client"):
                # Closing a client that is still trying to reconnect cancels that attempt,
                # which Dask logs as an error traceback: nothing the user needs to see. Its
                # default close timeout (twice the connect timeout) would hold the exit.
                if lost:
                    client.close(timeout=2)
                else:
                    client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()


def _connect(address: str) -> Any:
    """A Client for ``address``, or a one-line FaninError naming it: at once for an address
    Dask cannot parse, after CONNECT_TIMEOUT for a scheduler that does not answer."""
    from distributed.comm.addressing import parse_address
    from distributed.comm.registry import get_backend

    try:
        get_backend(parse_address(address)[0])
    except (ValueError, TypeError) as exc:
        # Checked before any Client exists: one that fails on a bad scheme in its
        # constructor is never closed, and its __del__ blocks the interpreter's exit 60 s.
        raise FaninError(f"bad Dask scheduler address {address!r}: {_one_line(exc)}") from None
    try:
        return Client(  # type: ignore[no-untyped-call]
            address, set_as_default=False, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise FaninError(f"cannot connect to the Dask scheduler at {address!r} within "
                         f"{CONNECT_TIMEOUT:g} s ({_one_line(exc)})") from None


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        log.setLevel(level)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _cancel_reason(dfut: Any) -> str:
    try:
        dfut.result()
    except BaseException as exc:  # noqa: BLE001 - FutureCancelledError carries the reason
        return str(getattr(exc, "reason", None) or type(exc).__name__)
    return "unknown"


def _cancel(fut: Future[Any]) -> None:
    # cancel() alone does not wake concurrent.futures.wait(); executors follow it with this.
    if fut.cancel():
        fut.set_running_or_notify_cancel()


def _set(fut: Future[Any], value: Any = None, exc: BaseException | None = None) -> None:
    try:
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(value)
    except InvalidStateError:  # cancelled meanwhile
        pass
