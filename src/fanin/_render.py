"""The render thread: the one thread that writes to the terminal.

Runs in: the main process, on the "fanin-render" thread. ``while not stop.wait(period)``
is both the fixed-rate clock and the stop signal. The refresh rate is a ceiling, not a
duty: a frame is drawn only when the state changed, a log line arrived, or (while tasks
run) the elapsed-seconds column ticked. If the output breaks (closed stdout, broken pipe),
the view degrades to nothing and the work carries on.
"""

from __future__ import annotations

import sys
import threading
import time
import warnings
from collections import deque
from typing import IO, Any, Protocol

from . import _format as fmt
from ._errors import FaninWarning
from ._state import ProgressState, Snapshot, TaskState
from ._wire import DONE, FAILED, FINAL_STATUSES, LogRecord


class View(Protocol):
    def summary(self, views: list[Any], snap: Snapshot) -> None: ...
    def start(self) -> None: ...
    def max_rows(self) -> int: ...
    def draw(self, snap: Snapshot, logs: list[LogRecord], final: bool) -> None: ...
    def stop(self) -> None: ...


class OffView:
    """Draws nothing; the hub still collects (summary and events keep working)."""

    def summary(self, views: list[Any], snap: Snapshot) -> None: ...
    def start(self) -> None: ...
    def max_rows(self) -> int:
        return 0
    def draw(self, snap: Snapshot, logs: list[LogRecord], final: bool) -> None: ...
    def stop(self) -> None: ...


class PlainView:
    """Readable lines with no escape codes, for CI logs and pipes.

    At most one status line per running task every ``every`` seconds, one line when a
    task ends, and worker log lines as they come.
    """

    def __init__(self, file: IO[str] | None = None, every: float = 5.0, max_tasks: int = 10,
                 clock: Any = time.monotonic) -> None:
        self.file = file if file is not None else sys.stderr
        self.every = every
        self.max_tasks = max_tasks
        self.clock = clock
        self.ended: deque[str] = deque()
        self._last_status = -float("inf")

    def start(self) -> None:
        self._last_status = self.clock()

    def max_rows(self) -> int:
        return self.max_tasks

    def on_event(self, kind: str, payload: Any) -> None:
        # Collector thread: only queue the text; the render thread writes it.
        if kind == "status" and isinstance(payload, TaskState) and payload.status in FINAL_STATUSES:
            self.ended.append(_ended_line(payload))

    def draw(self, snap: Snapshot, logs: list[LogRecord], final: bool) -> None:
        out: list[str] = []
        for record in logs:
            level = "" if record.level.upper() == "PRINT" else f"{record.level.upper()} "
            out.append(f"{level}[{record.worker}] {record.text}")
        while self.ended:
            out.append(self.ended.popleft())
        now = self.clock()
        if final or now - self._last_status >= self.every:
            self._last_status = now
            if not final:
                for t in snap.rows:
                    out.append(
                        f"  {t.description or t.id}: {fmt.count(t.completed)}/{fmt.count(t.total)}"
                        f" {fmt.percent(t.completed, t.total).strip()} {fmt.rate(t.rate)}"
                        f" eta {fmt.duration(t.eta)}"
                    )
                if snap.hidden:
                    out.append(f"  ... and {snap.hidden:,} more running")
            out.append(plain_overall(snap))
        if out:
            self.file.write("\n".join(out) + "\n")
            self.file.flush()

    def stop(self) -> None: ...

    def summary(self, views: list[Any], snap: Snapshot) -> None:
        from ._summary import plain_summary

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
            + (f", {c['cancelled']} cancelled" if c.get("cancelled") else ""))


def _ended_line(ts: TaskState) -> str:
    elapsed = (ts.ended or 0) - (ts.started or ts.ended or 0)
    name = ts.description or ts.id
    if ts.attempt:
        name += f" (attempt {ts.attempt + 1})"
    head = f"{ts.status:<9} {name}: {fmt.count(ts.completed)}"
    if ts.total is not None:
        head += f"/{fmt.count(ts.total)}"
    head += f" in {elapsed:.1f}s"
    if ts.error:
        head += f" ({ts.error})"
    return head


class RenderThread:
    def __init__(
        self,
        view: View,
        state: ProgressState,
        lock: threading.Lock,
        logs: deque[LogRecord],
        refresh_hz: float = 10.0,
        clock: Any = time.monotonic,
    ) -> None:
        if not refresh_hz > 0:
            raise ValueError(f"refresh rate must be > 0 Hz, got {refresh_hz!r}")
        self.view = view
        self.state = state
        self.lock = lock
        self.logs = logs
        self.period = 1.0 / refresh_hz
        self.clock = clock
        self.frames = 0
        self.failed: BaseException | None = None
        self._summary: Any = None
        self._stop = threading.Event()
        self._last_version = -1
        self._last_tick = -1
        self._thread = threading.Thread(target=self._run, name="fanin-render", daemon=True)

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = 10.0, summary: Any = None) -> None:
        """Draw one final frame with everything applied so far, then stop the view.

        ``summary`` is ``(view, task_views, snapshot)``: printed by this thread after the
        live display has stopped, so the summary is drawn by the one thread that draws.
        """
        self._summary = summary
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._guard(self.view.start)
            # Absolute deadlines, so draw time and GIL waits do not stretch every period
            # (measured: 101-119 ms frame gaps at 10 Hz with relative waits).
            deadline = time.monotonic() + self.period
            while not self._stop.wait(max(0.0, deadline - time.monotonic())):
                self._frame(final=False)
                deadline += self.period
                now = time.monotonic()
                if deadline <= now:
                    deadline = now + self.period
            self._frame(final=True)
        finally:
            self._guard(self.view.stop)
        if self._summary is not None:
            view, views, snap = self._summary
            if self.failed is None or view is not self.view:
                try:
                    view.summary(views, snap)
                except Exception:  # noqa: BLE001 - a broken terminal must not fail the run
                    pass

    def _frame(self, final: bool) -> None:
        with self.lock:
            version = self.state.version
            tick = int(self.clock() - self.state.started)
            running = self.state.counts.get("running", 0) > 0
            if (not final and version == self._last_version and not self.logs
                    and (tick == self._last_tick or not running)):
                return
            self._last_version = version
            self._last_tick = tick
            snap = self.state.snapshot(max_rows=self.view.max_rows())
            logs = list(self.logs)
            self.logs.clear()
        self._guard(lambda: self.view.draw(snap, logs, final))
        self.frames += 1

    def _guard(self, fn: Any) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - the display must never take the work down
            self.failed = exc
            if not isinstance(self.view, OffView):
                try:
                    warnings.warn(f"fanin: progress display disabled: {exc!r}", FaninWarning,
                                  stacklevel=2)
                except Exception:  # noqa: BLE001
                    pass
            self.view = OffView()
