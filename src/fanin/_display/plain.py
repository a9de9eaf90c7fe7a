"""The plain view: readable lines with no escape codes, for CI logs, pipes and dumb terminals.

Runs in: the render thread (``draw``, ``summary``) and the collector thread (``on_event``
only queues text). Rate-limited: at most one status line per running task every ``every``
seconds, one line when a task ends, and worker log lines as they come.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import IO, Any

from .._ingest.state import Snapshot, TaskState
from .._wire import DONE, FAILED, FINAL_STATUSES, LogRecord
from . import format as fmt


class PlainView:
    """Readable lines with no escape codes, for CI logs and pipes.

    At most one status line per running task every ``every`` seconds, one line when a
    task ends, and worker log lines as they come. With ``quiet_short`` (the stdlib
    drop-ins: a swapped import must not add output to a script's quick pool), nothing but
    worker output until the run has lasted ``every`` seconds; a longer run then shows the
    lines it held back and goes on as usual.
    """

    def __init__(self, file: IO[str] | None = None, every: float = 5.0, max_tasks: int = 10,
                 clock: Any = time.monotonic, overall: bool = True,
                 quiet_short: bool = False) -> None:
        self.file = file if file is not None else sys.stderr
        self.overall = overall  # False: no overall line (fanin.track)
        self.every = every
        self.max_tasks = max_tasks
        self.clock = clock
        self.ended: deque[str] = deque()
        self._last_status = -float("inf")
        self._quiet_until = -float("inf")
        self.quiet_short = quiet_short

    def start(self) -> None:
        self._last_status = self.clock()
        if self.quiet_short:
            self._quiet_until = self._last_status + self.every

    def max_rows(self) -> int:
        return self.max_tasks

    def on_event(self, kind: str, payload: Any) -> None:
        # Collector thread: only queue the text; the render thread writes it.
        if kind == "status" and isinstance(payload, TaskState) and payload.status in FINAL_STATUSES:
            self.ended.append(_ended_line(payload))

    def draw(self, snap: Snapshot, logs: list[LogRecord], final: bool) -> None:
        out: list[str] = []
        for record in logs:
            level = record.level.upper()
            if level == "OUTPUT":
                out.append(record.text)
                continue
            level = "" if level == "PRINT" else f"{level} "
            out.append(f"{level}[{record.worker}] {record.text}")
        now = self.clock()
        if now < self._quiet_until:  # a short run so far: only what workers wrote
            if out:
                self.file.write("\n".join(out) + "\n")
                self.file.flush()
            return
        while self.ended:
            out.append(self.ended.popleft())
        if final and not out and not any(snap.counts.values()):
            return  # a run that never had a task leaves no line in the log
        if final or now - self._last_status >= self.every:
            self._last_status = now
            if not final:
                for t in snap.rows:
                    if t.status in FINAL_STATUSES:
                        continue  # a kept (finished) row already has its "done" line
                    out.append(
                        f"  {'  ' * t.depth}{t.description or t.id}: "
                        f"{fmt.progress_text(t.completed, t.total, t.unit, t.scale)}"
                        f" {fmt.percent(t.completed, t.total).strip()}"
                        f" {fmt.speed(t.rate, t.unit, t.scale)}"
                        f" eta {fmt.duration(t.eta)}" + (f" · {t.note}" if t.note else "")
                    )
                if snap.hidden:
                    out.append(f"  ... and {snap.hidden:,} more running")
            if self.overall:
                out.append(plain_overall(snap))
        if out:
            self.file.write("\n".join(out) + "\n")
            self.file.flush()

    def stop(self) -> None: ...

    def summary(self, views: list[Any], snap: Snapshot) -> None:
        from .summary import plain_summary

        self.file.write(plain_summary(views, snap) + "\n")
        self.file.flush()


def plain_overall(snap: Snapshot) -> str:
    c = snap.counts
    amount = (f"{fmt.count(snap.completed)}/{fmt.count(snap.total)} items"
              f" ({fmt.percent(snap.completed, snap.total).strip()})"
              if snap.total is not None else f"{fmt.count(snap.completed)} items")
    return (f"[{fmt.duration(snap.elapsed)}] {amount}, {fmt.rate(snap.rate)},"
            f" eta {fmt.duration(snap.eta)} | tasks: {c.get('running', 0)} running,"
            f" {c.get('queued', 0)} queued, {c.get(DONE, 0)} done, {c.get(FAILED, 0)} failed"
            + (f", {c['cancelled']} cancelled" if c.get("cancelled") else "")
            + (f", {c['unfinished']} unfinished" if c.get("unfinished") else ""))


def _ended_line(ts: TaskState) -> str:
    elapsed = (ts.ended or 0) - (ts.started or ts.ended or 0)
    name = ts.description or ts.id
    if ts.attempt:
        name += f" (attempt {ts.attempt + 1})"
    if ts.total is not None:
        items = fmt.progress_text(ts.completed, ts.total, ts.unit, ts.scale)
    else:
        items = fmt.amount(ts.completed, ts.unit, ts.scale)
    head = f"{ts.status:<9} {name}: {items} in {elapsed:.1f}s"
    if ts.note:
        head += f" · {ts.note}"
    if ts.error:
        head += f" ({ts.error})"
    return head
