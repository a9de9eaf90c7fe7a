"""The render thread: the one thread that writes to the terminal.

Runs in: the main process, on the "fanin-render" thread. ``while not stop.wait(period)``
is both the fixed-rate clock and the stop signal. The refresh rate is a ceiling, not a
duty: a frame is drawn only when the state changed, a log line arrived, or (while tasks
run) the elapsed-seconds column ticked. If the output breaks (closed stdout, broken pipe),
the view degrades to nothing and the work carries on.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections import deque
from typing import Any, Protocol

from .._errors import FaninWarning
from .._ingest.state import ProgressState, Snapshot
from .._threads import Alarm, start_thread
from .._wire import LogRecord

MAX_LOG_LINES_PER_FRAME = 100  # log records printed above the bars per frame (not the final one)


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
        self._alarm = Alarm()  # rung by stop: ends the wait between frames
        self._changed = threading.Event()  # set by the collector after each batch (poke)
        self._last_version = -1
        self._last_tick = -1
        self._thread = threading.Thread(target=self._run, name="fanin-render", daemon=True)

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def start(self) -> None:
        start_thread(self._thread)

    def poke(self) -> None:
        """Something changed (the collector applied a batch): an idle loop wakes up.

        Already set (the loop is drawing, not idle): nothing to do, and no Condition to
        take. ``_idle`` clears the flag *before* it reads the version, so a change whose
        poke found the flag still set is seen by that read."""
        if not self._changed.is_set():
            self._changed.set()

    def stop(self, timeout: float | None = 10.0, summary: Any = None) -> None:
        """Draw one final frame with everything applied so far, then stop the view.

        ``summary`` is ``(view, task_views, snapshot)``: printed by this thread after the
        live display has stopped, so the summary is drawn by the one thread that draws.
        """
        self._summary = summary
        self._stop.set()
        self._alarm.ring()
        self._changed.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._guard(self.view.start)
            # Absolute deadlines, so draw time and GIL waits do not stretch every period
            # (measured: 101-119 ms frame gaps at 10 Hz with relative waits).
            deadline = time.monotonic() + self.period
            while not (self._alarm.sleep(deadline - time.monotonic()) or self._stop.is_set()):
                if not self._frame(final=False):
                    # Nothing moves: a tick of the elapsed column is drawn as soon as it
                    # comes and the loop sleeps again, one wake-up a second (not three: the
                    # tick, a period's wait before drawing it, a period's look at nothing).
                    while self._idle() and not self._stop.is_set():
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

    def _idle(self) -> bool:
        """Nothing to draw: sleep until the collector applies something, the display
        stops, or (while tasks run) the elapsed column next ticks, instead of waking at the
        refresh rate to find nothing again (issue 13: an idle render thread ~0 CPU).

        True when the sleep ran out (the tick is due, nothing poked): the caller draws it
        now. False when something changed: the caller draws at the next period."""
        self._changed.clear()
        with self.lock:
            running = self.state.counts.get("running", 0) > 0
            version = self.state.version
            elapsed = self.clock() - self.state.started
        if version != self._last_version or self.logs:
            return False  # changed since the frame looked: draw at the next period
        timeout = (1.0 - elapsed % 1.0) if running else None
        if self.clock is not time.monotonic:
            timeout = self.period  # a test's manual clock: keep polling at the refresh rate
        return not self._changed.wait(timeout) and timeout is not None

    def _frame(self, final: bool) -> bool:
        """Draw a frame if anything visible may have changed; whether it drew."""
        with self.lock:
            version = self.state.version
            tick = int(self.clock() - self.state.started)
            running = self.state.counts.get("running", 0) > 0
            if (not final and version == self._last_version and not self.logs
                    and (tick == self._last_tick or not running)):
                return False
            self._last_version = version
            self._last_tick = tick
            snap = self.state.snapshot(max_rows=self.view.max_rows())
            if final or len(self.logs) <= MAX_LOG_LINES_PER_FRAME:
                logs = list(self.logs)
                self.logs.clear()
            else:  # a log flood: the rest waits for the next frames (bars keep their pace)
                logs = [self.logs.popleft() for _ in range(MAX_LOG_LINES_PER_FRAME)]
        self._guard(lambda: self.view.draw(snap, logs, final))
        self.frames += 1
        return True

    def _guard(self, fn: Any) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - the display must never take the work down
            self.failed = exc
            failed, self.view = self.view, OffView()
            if not isinstance(failed, OffView):
                try:
                    warnings.warn(f"fanin: progress display disabled: {exc!r}", FaninWarning,
                                  stacklevel=2)
                except Exception:  # noqa: BLE001
                    pass
                # Stop the view we drop (Rich's Live shows the cursor again on stop); a
                # view swapped out still running would leave the terminal as it was.
                if fn != failed.stop:
                    try:
                        failed.stop()
                    except Exception:  # noqa: BLE001
                        pass
