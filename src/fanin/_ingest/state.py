"""The progress state model: plain data, no threads, no terminal.

Runs in: the collector thread (writes, under the hub's lock) and the render thread (reads a
snapshot under the same lock). Everything time-related goes through an injectable clock so
rate and ETA are tested with a manual clock.

Per-frame cost is O(active tasks shown), never O(all tasks): finished tasks leave the
``active`` dict and only update running totals.

Memory per finished task is bounded too: a task that ends drops its rate samples, and done
tasks beyond the newest ``KEEP_DONE`` fold into the counts (``folded``): a run of a million
sub-tasks keeps a thousand rows, not a million. Failed, cancelled and unfinished tasks are
always kept, for the summary and ``hub.failed``.

Parts: a task registered with a ``parent`` (a chunk of a ``map`` over many items) is not a
row, a status count or a summary line of its own; its progress adds to its parent's, which
is the one bar the user sees. The parent ends when the front end settles it.
"""


import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import NamedTuple

from .._text import sanitize
from .._wire import CANCELLED, DONE, FAILED, FINAL_STATUSES, QUEUED, RUNNING, UNFINISHED, Report

Clock = Callable[[], float]

MAX_ERROR = 500  # characters of a task's error text kept for display
MAX_KEPT = 8  # finished rows kept on screen (``leave``: a track loop's bar, like rich's)
KEEP_DONE = 1_000  # done tasks listed by hub.tasks(); older ones fold into the counts
SAMPLES = 64  # rate samples kept per running task


class TaskState:
    """One task as the collector keeps it (mutable; only the collector writes it).

    A plain class, not a dataclass: ``dataclasses`` imports ``inspect`` (~5 ms), and every
    hub pays its import before the first frame (issue 13)."""

    __slots__ = ("id", "description", "total", "completed", "status", "seq", "attempt",
                 "created", "started", "ended", "error", "pid", "last_change", "raw_description",
                 "samples", "parent", "under", "depth", "kids", "counted", "leave", "note",
                 "unit", "scale")

    def __init__(self, id: str, description: str, total: float | None = None, *,
                 created: float = 0.0, last_change: float = 0.0, raw_description: str = "",
                 leave: bool = False) -> None:
        self.id = id
        self.description = description
        self.total = total
        self.completed: float = 0
        self.status = QUEUED
        self.seq = 0
        self.attempt = 0
        self.created = created
        self.started: float | None = None
        self.ended: float | None = None
        self.error: str | None = None
        self.pid: int | None = None
        self.last_change = last_change
        self.raw_description = raw_description
        # made at the first change, dropped at the end
        self.samples: deque[tuple[float, float]] | None = None
        self.parent: TaskState | None = None  # a part (e.g. a chunk of a map) adds to its parent
        self.under: TaskState | None = None  # a sub-task: its own row, drawn indented under this one
        self.depth = 0  # nesting level of ``under``
        self.kids: dict[str, TaskState] = {}  # sub-tasks (``under`` is self)
        self.counted = True  # adds to the overall count and total (False: part of under's total)
        self.leave = leave  # stays on screen after it ends (top level only)
        self.note = ""
        self.unit = ""
        self.scale = 0

    def __repr__(self) -> str:
        return (f"TaskState(id={self.id!r}, description={self.description!r}, "
                f"status={self.status!r}, completed={self.completed!r}, total={self.total!r})")


class _FoldedKids:
    """What a task's folded sub-tasks still add to the overall numbers."""

    __slots__ = ("counted", "completed", "known", "unknown")

    def __init__(self, counted: bool) -> None:
        self.counted = counted
        self.completed = 0.0
        self.known = 0.0  # sum of their known totals
        self.unknown = 0  # how many had no total


class TaskView(NamedTuple):
    """One task as the renderer sees it: immutable, computed at snapshot time."""

    id: str
    description: str
    completed: float
    total: float | None
    status: str
    rate: float | None  # units per second
    eta: float | None  # seconds
    elapsed: float  # seconds
    error: str | None
    pid: int | None
    attempt: int
    idle: float  # seconds since the count last changed
    note: str = ""  # the worker's status text
    unit: str = ""  # "B" for bytes; "" for items
    scale: int = 0  # 0 exact, 1000 or 1024 scaled
    depth: int = 0  # sub-task nesting level (drawn indented)


class Snapshot(NamedTuple):
    version: int
    now: float
    rows: tuple[TaskView, ...]  # active tasks, oldest first, at most the requested limit
    hidden: int  # active tasks not in rows
    counts: dict[str, int]  # tasks per status
    completed: float  # sum over all tasks
    total: float | None  # sum of known totals, None while any task's total is unknown
    rate: float | None  # overall units per second
    eta: float | None
    elapsed: float
    malformed: int  # messages the collector could not use
    health: dict[int, object] | None = None  # pid -> WorkerHealth, refreshed ~1/s
    system_cpu: float | None = None  # percent, all cores
    folded: int = 0  # done tasks no longer listed one by one (see KEEP_DONE)


def _sample(ts: TaskState, now: float) -> None:
    samples = ts.samples
    if samples is None:
        samples = ts.samples = deque(maxlen=SAMPLES)
    samples.append((now, ts.completed))


def _rate(samples: deque[tuple[float, float]] | None, now: float,
          window: float) -> float | None:
    if samples is None:
        return None
    while len(samples) > 2 and now - samples[1][0] > window:
        samples.popleft()
    if len(samples) < 2:
        return None
    t0, c0 = samples[0]
    _, c1 = samples[-1]
    dt = now - t0
    if dt <= 0:
        return None
    return max(0.0, (c1 - c0) / dt)


class ProgressState:
    """Tasks keyed by id; applies absolute reports, newest ``seq`` (and ``attempt``) wins."""

    def __init__(self, clock: Clock = time.monotonic, rate_window: float = 10.0) -> None:
        self.clock = clock
        self.rate_window = rate_window
        self.tasks: dict[str, TaskState] = {}
        self.parts: dict[str, TaskState] = {}
        self.active: dict[str, TaskState] = {}
        self.counts: dict[str, int] = {QUEUED: 0, RUNNING: 0, DONE: 0, FAILED: 0, CANCELLED: 0,
                                       UNFINISHED: 0}
        self.kept: dict[str, TaskState] = {}
        self.folded = 0  # done tasks folded into the counts (no longer in ``tasks``)
        self._done: deque[TaskState] = deque()  # done tasks, oldest first: the next to fold
        self._deleted = 0  # folded since ``tasks`` was last rebuilt
        # Per parent: (completed, known total, unknown totals) of its folded sub-tasks, so a
        # parent's total changing later still moves their share of the overall numbers.
        self._folded_kids: dict[str, _FoldedKids] = {}
        self.completed = 0.0
        self._known_total = 0.0
        self._unknown_totals = 0
        self.version = 0
        self.malformed = 0
        self.started = clock()
        self.ended: float | None = None
        self._overall: deque[tuple[float, float]] = deque(maxlen=256)
        self.health: dict[int, object] = {}
        self.system_cpu: float | None = None

    # -- mutation -------------------------------------------------------------------------
    def add_task(self, task_id: str, description: str = "", total: float | None = None,
                 parent: str | None = None, under: str | None = None,
                 leave: bool = False) -> TaskState:
        """Register a queued task (the hub does this for every ``map`` item up front).

        ``parent``: the task is a part of that one (no row of its own). ``under``: a
        sub-task with its own row, indented; when ``under`` has a total, the sub-task is
        part of it and does not add to the overall total a second time.
        """
        now = self.clock()
        ts = TaskState(task_id, sanitize(description), total, created=now, last_change=now,
                       raw_description=description, leave=leave)
        if parent is not None and parent in self.tasks:
            ts.parent = self.tasks[parent]
            self.parts[task_id] = ts
            return ts
        up = self.tasks.get(under) if under is not None else None
        if up is not None:
            ts.under, ts.depth, ts.counted = up, up.depth + 1, up.total is None
            up.kids[task_id] = ts
        self.tasks[task_id] = ts
        self.counts[QUEUED] += 1
        if ts.counted:
            self._add_total(total, +1)
        self.version += 1
        return ts

    def apply(self, report: Report) -> bool:
        """Apply one absolute report; return whether anything changed."""
        ts = self.tasks.get(report.task)
        if ts is None:
            ts = self.parts.get(report.task)
            if ts is not None:
                return self._apply_part(ts, report)
            # reporter.task() names a sub-task "<parent>/<n>"
            head = report.task.rpartition("/")[0]
            ts = self.add_task(report.task, report.description, report.total,
                               under=head if head in self.tasks else None)
        if report.attempt < ts.attempt:
            return False
        if report.attempt > ts.attempt:
            self._restart(ts, report.attempt)
        elif ts.status in FINAL_STATUSES or report.seq <= ts.seq:
            return False
        now = self.clock()
        ts.seq = report.seq
        if report.description != ts.raw_description:
            ts.raw_description = report.description
            ts.description = sanitize(report.description)
        if report.total != ts.total:
            old = ts.total
            if ts.counted:
                self._add_total(ts.total, -1)
            ts.total = report.total
            if ts.counted:
                self._add_total(ts.total, +1)
            if (old is None) != (ts.total is None):
                for kid in list(ts.kids.values()):  # a known total covers the sub-tasks
                    self._set_counted(kid, ts.total is None)
                self._recount_folded(ts, ts.total is None)
        if report.completed != ts.completed:
            if ts.counted:
                self.completed += report.completed - ts.completed
                self._overall.append((now, self.completed))
            ts.completed = report.completed
            ts.last_change = now
        ts.note = sanitize(report.note, 200) if report.note else ""
        ts.unit, ts.scale = report.unit, report.scale
        _sample(ts, now)
        ts.pid = report.pid
        if ts.status == QUEUED and report.status != QUEUED:
            ts.started = now
            ts.last_change = now
        self._set_status(ts, report.status, now)
        if report.error is not None:
            ts.error = sanitize(report.error, MAX_ERROR)
        self.version += 1
        return True

    def _apply_part(self, ts: TaskState, report: Report) -> bool:
        parent = ts.parent
        assert parent is not None
        if report.attempt < ts.attempt:
            return False
        if report.attempt > ts.attempt:
            self._move(ts, parent, -ts.completed)  # a rerun restarts the part, not the bar
            ts.attempt, ts.seq, ts.status = report.attempt, 0, QUEUED
        elif ts.status in FINAL_STATUSES or report.seq <= ts.seq:
            return False
        ts.seq = report.seq
        if report.completed != ts.completed:
            self._move(ts, parent, report.completed - ts.completed)
        ts.status = report.status
        if report.status != QUEUED and parent.status == QUEUED:
            now = self.clock()
            parent.started = parent.last_change = now
            self._set_status(parent, RUNNING, now)
        parent.pid = report.pid
        if report.error is not None and report.status == FAILED and parent.error is None:
            parent.error = sanitize(report.error, MAX_ERROR)
        self.version += 1
        return True

    def _set_counted(self, ts: TaskState, counted: bool) -> None:
        if ts.counted == counted:
            return
        sign = 1 if counted else -1
        self.completed += sign * ts.completed
        self._add_total(ts.total, sign)
        ts.counted = counted

    def _move(self, part: TaskState, parent: TaskState, delta: float) -> None:
        now = self.clock()
        part.completed += delta
        parent.completed += delta
        if parent.counted:
            self.completed += delta
        parent.last_change = now
        _sample(parent, now)
        self._overall.append((now, self.completed))

    def apply_many(self, reports: Iterable[Report]) -> int:
        return sum(self.apply(r) for r in reports)

    def fail_task(self, task_id: str, reason: str, status: str = FAILED) -> bool:
        """Settle a task from the main process: failed or cancelled (a dead worker, a
        cancellation), or done (a map whose parts all finished)."""
        ts = self.tasks.get(task_id)
        if ts is None:
            part = self.parts.get(task_id)
            if part is not None and part.status not in FINAL_STATUSES:
                part.status = status
                if status == FAILED and part.parent is not None and part.parent.error is None:
                    part.parent.error = sanitize(reason, MAX_ERROR)
                self.version += 1
            return False  # a part's verdict is not an event of its own
        if ts.status in FINAL_STATUSES:
            return False
        now = self.clock()
        if reason:
            ts.error = sanitize(reason, MAX_ERROR)
        self._set_status(ts, status, now)
        self.version += 1
        return True

    def note_malformed(self) -> None:
        self.malformed += 1
        self.version += 1

    def set_health(self, health: dict[int, object], system_cpu: float | None) -> None:
        self.health = health
        self.system_cpu = system_cpu
        self.version += 1

    def close(self, tasks: Iterable[str] | None = None) -> None:
        """End the run (or, with ``tasks``, only those tasks: a nested hub's)."""
        self.settle_open(self.tasks if tasks is None else tasks)
        if tasks is None:
            self.ended = self.clock()
        self.version += 1

    def settle_open(self, task_ids: Iterable[str]) -> None:
        """Tasks still open at close are shown as what they are: done when they reached
        their total, otherwise unfinished (never "running" after the end)."""
        now = self.clock()
        for task_id in list(task_ids):
            ts = self.tasks.get(task_id)
            if ts is None or ts.status in FINAL_STATUSES:
                continue
            reached = ts.total is not None and ts.completed >= ts.total and ts.status == RUNNING
            self._set_status(ts, DONE if reached else UNFINISHED, now)

    def _restart(self, ts: TaskState, attempt: int) -> None:
        # A retried task (e.g. rerun by Dask after its worker died) restarts its progress
        # instead of double counting.
        if ts.counted:
            self.completed -= ts.completed
        self.active.pop(ts.id, None)
        self.counts[ts.status] -= 1
        ts.status = QUEUED
        self.counts[QUEUED] += 1
        ts.completed = 0
        ts.seq = 0
        ts.attempt = attempt
        ts.error = None
        ts.ended = None
        ts.samples = None

    def _set_status(self, ts: TaskState, status: str, now: float) -> None:
        if status == ts.status:
            return
        self.counts[ts.status] -= 1
        self.counts[status] = self.counts.get(status, 0) + 1
        ts.status = status
        if status == RUNNING:
            self.active[ts.id] = ts
        else:
            self.active.pop(ts.id, None)
        if status in FINAL_STATUSES:
            ts.ended = now
            if ts.started is None:
                ts.started = now
            ts.samples = None  # a finished task's rate is completed / elapsed
            if ts.leave and ts.depth == 0 and ts.started is not None:
                self.kept[ts.id] = ts
                while len(self.kept) > MAX_KEPT:
                    del self.kept[next(iter(self.kept))]
            if status == DONE and ts.parent is None:
                self._done.append(ts)
                while len(self._done) > KEEP_DONE:
                    self._fold(self._done.popleft())

    def _fold(self, ts: TaskState) -> None:
        """Forget a done task but for its share of the counts. Skipped: a task restarted
        since, one still on screen, one with sub-tasks of its own still listed."""
        if (ts.status != DONE or ts.kids or ts.id in self.kept
                or self.tasks.get(ts.id) is not ts):
            return
        del self.tasks[ts.id]
        self.folded += 1
        self._deleted += 1
        if self._deleted >= max(1024, len(self.tasks)):
            # A dict never shrinks its table on deletion: a map registers all its items up
            # front, so after folding most of them the table is rebuilt (amortised O(1)).
            self.tasks = dict(self.tasks)
            self._deleted = 0
        up = ts.under
        if up is not None:
            up.kids.pop(ts.id, None)
            agg = self._folded_kids.get(up.id)
            if agg is None:
                agg = self._folded_kids[up.id] = _FoldedKids(counted=ts.counted)
            agg.completed += ts.completed
            if ts.total is None:
                agg.unknown += 1
            else:
                agg.known += ts.total
            ts.under = None

    def _recount_folded(self, up: TaskState, counted: bool) -> None:
        """``_set_counted`` for the folded sub-tasks of ``up`` (all of a task's sub-tasks
        share one flag, so their sums are enough)."""
        agg = self._folded_kids.get(up.id)
        if agg is None or agg.counted == counted:
            return
        sign = 1 if counted else -1
        self.completed += sign * agg.completed
        self._add_total(None, sign * agg.unknown)
        self._known_total += sign * agg.known
        agg.counted = counted

    def _add_total(self, total: float | None, sign: int) -> None:
        if total is None:
            self._unknown_totals += sign
        else:
            self._known_total += sign * total

    # -- reading --------------------------------------------------------------------------
    def view(self, ts: TaskState, now: float) -> TaskView:
        start = ts.started if ts.started is not None else now
        end = ts.ended if ts.ended is not None else now
        elapsed = max(0.0, end - start)
        if ts.status in FINAL_STATUSES:
            rate = ts.completed / elapsed if elapsed > 0 else None
            eta = None
        else:
            rate = _rate(ts.samples, now, self.rate_window)
            eta = None
            if rate and ts.total is not None:
                eta = max(0.0, ts.total - ts.completed) / rate
        return TaskView(ts.id, ts.description, ts.completed, ts.total, ts.status, rate, eta,
                        elapsed, ts.error, ts.pid, ts.attempt, max(0.0, now - ts.last_change),
                        ts.note, ts.unit, ts.scale, ts.depth)

    def _ordered_active(self) -> Iterable[TaskState]:
        """Active tasks oldest first, each sub-task right after its parent (O(active))."""
        if not any(ts.under is not None for ts in self.active.values()):
            return self.active.values()
        children: dict[str, list[TaskState]] = {}
        tops: list[TaskState] = []
        for ts in self.active.values():
            up = ts.under
            if up is not None and up.id in self.active:
                children.setdefault(up.id, []).append(ts)
            else:
                tops.append(ts)
        out: list[TaskState] = []
        stack = tops[::-1]
        while stack:
            ts = stack.pop()
            out.append(ts)
            stack.extend(children.get(ts.id, ())[::-1])
        return out

    def snapshot(self, max_rows: int | None = None) -> Snapshot:
        now = self.clock()
        rows: list[TaskView] = []
        limit = len(self.active) + len(self.kept) if max_rows is None else max_rows
        shown = 0
        for ts in self.kept.values():
            if shown >= limit:
                break
            rows.append(self.view(ts, now))
            shown += 1
        for ts in self._ordered_active():
            if shown >= limit:
                break
            rows.append(self.view(ts, now))
            shown += 1
        running = self.counts[RUNNING] + len(self.kept)
        end = self.ended if self.ended is not None else now
        rate = _rate(self._overall, now, self.rate_window)
        total = self._known_total if self._unknown_totals == 0 else None
        eta = None
        if rate and total is not None and self.ended is None:
            eta = max(0.0, total - self.completed) / rate
        return Snapshot(self.version, now, tuple(rows), max(0, running - len(rows)),
                        dict(self.counts), self.completed, total, rate, eta,
                        max(0.0, end - self.started), self.malformed, dict(self.health),
                        self.system_cpu, self.folded)

    def all_views(self) -> list[TaskView]:
        """Every task still listed (all but the ``folded`` done ones), in creation order;
        O(tasks), not for frames."""
        now = self.clock()
        return [self.view(ts, now) for ts in self.tasks.values()]
