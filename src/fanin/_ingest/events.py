"""The events file: one JSON object per line, for plotting or inspecting a run later.

Runs in: the main process, on the "fanin-events" thread, which alone writes the file. The
collector hands it lifecycle events through a queue (cheap, never blocking the collector);
the thread writes them and adds a snapshot every second while the run is live, and a final
snapshot plus an ``end`` record at close (the same figures as the summary).

Records (``type`` field): ``start``, ``done``, ``failed``, ``cancelled`` (task lifecycle),
``status`` (a task's status text changed), ``log`` (worker log lines), ``snapshot``
(counts, rates, worker health), ``end``.
"""

from __future__ import annotations

import os
import queue
import stat
import threading
import time
from typing import IO, Any

from .._ingest.state import ProgressState, Snapshot, TaskState
from .._threads import start_thread
from .._wire import FINAL_STATUSES, RUNNING, LogRecord

SNAPSHOT_EVERY = 1.0  # seconds


def open_events_file(path: str | os.PathLike[str], overwrite: bool) -> IO[str]:
    """Open safely: never through a symlink, never a FIFO or device (no blocking open), and
    never over an existing file unless asked (``overwrite``)."""
    name = os.fspath(path)
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        if overwrite and os.path.islink(name):
            raise OSError(f"{name!r} is a symbolic link")
        fd = os.open(name, flags, 0o644)
    except FileExistsError:
        raise ValueError(f"the events file {name!r} already exists; remove it, pick another "
                         "path, or pass overwrite_events=True") from None
    except OSError as exc:
        raise ValueError(f"cannot open the events file {name!r}: {exc}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"the events file {name!r} is not a regular file")
        os.set_blocking(fd, True)
        return open(fd, "w", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


class EventsWriter:
    def __init__(self, path: str | os.PathLike[str], state: ProgressState, lock: threading.Lock,
                 every: float = SNAPSHOT_EVERY, overwrite: bool = False) -> None:
        self._file: IO[str] = open_events_file(path, overwrite)
        self.path = path
        self.failed_writes = 0
        self.first_error: str | None = None
        self.state = state
        self.lock = lock
        self.every = every
        self.written = 0
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stop = object()
        self._thread = threading.Thread(target=self._run, name="fanin-events", daemon=True)

    def start(self) -> None:
        self._write({"type": "begin", "time": time.time(), "pid": os.getpid()})
        start_thread(self._thread)

    # -- collector thread -----------------------------------------------------------------
    def on_event(self, kind: str, payload: Any) -> None:
        if kind == "started" and isinstance(payload, TaskState):
            self._q.put(_task_record(payload, "start"))
        elif kind == "status" and isinstance(payload, TaskState):
            if payload.status == RUNNING or payload.status in FINAL_STATUSES:
                self._q.put(_task_record(payload))
        elif kind == "note" and isinstance(payload, TaskState):
            self._q.put({"type": "status", "task": payload.id, "text": payload.note,
                         "completed": payload.completed})
        elif kind == "log" and isinstance(payload, LogRecord):
            self._q.put({"type": "log", "task": payload.task, "pid": payload.pid,
                         "worker": payload.worker, "level": payload.level, "text": payload.text})

    # -- events thread --------------------------------------------------------------------
    def stop(self, final: Snapshot | None = None) -> None:
        """Write everything queued, then a final snapshot and ``end``, then close the file."""
        if self._thread.is_alive():
            self._q.put(self._stop)
            self._thread.join(10)
        try:
            if final is not None:
                self._write(_snapshot_record(final, "snapshot"))
                self._write(_snapshot_record(final, "end"))
            self._file.close()
        except (OSError, ValueError):
            pass

    def _run(self) -> None:
        next_snap = time.monotonic() + self.every
        while True:
            try:
                item = self._q.get(timeout=max(0.0, next_snap - time.monotonic()))
            except queue.Empty:
                item = None
            if item is self._stop:
                return
            if item is not None:
                item.setdefault("time", time.time())
                self._write(item)
            if time.monotonic() >= next_snap:
                next_snap = time.monotonic() + self.every
                with self.lock:
                    live = self.state.counts.get(RUNNING, 0) > 0
                    snap = self.state.snapshot(max_rows=0) if live else None
                if snap is not None:
                    self._write(_snapshot_record(snap, "snapshot"))

    def _write(self, record: dict[str, Any]) -> None:
        import json  # here: only a hub with an events file pays its import (issue 13)

        try:
            self._file.write(json.dumps(record, default=str) + "\n")
            self._file.flush()
            self.written += 1
        except (OSError, ValueError) as exc:  # a full disk must not stop the run
            self.failed_writes += 1
            if self.first_error is None:
                self.first_error = f"{type(exc).__name__}: {exc}"


def _task_record(ts: TaskState, kind: str | None = None) -> dict[str, Any]:
    if kind is None:
        kind = "start" if ts.status == RUNNING else ts.status
    rec: dict[str, Any] = {"type": kind, "task": ts.id, "description": ts.description,
                           "completed": ts.completed, "total": ts.total, "pid": ts.pid,
                           "attempt": ts.attempt}
    if ts.note:
        rec["status_text"] = ts.note
    if ts.unit:
        rec["unit"] = ts.unit
    if kind in FINAL_STATUSES:
        start = ts.started if ts.started is not None else ts.ended
        rec["elapsed"] = (ts.ended or 0.0) - (start or 0.0)
        rec["error"] = ts.error
    return rec


def _snapshot_record(snap: Snapshot, kind: str) -> dict[str, Any]:
    health = snap.health or {}
    return {
        "type": kind,
        "time": time.time(),
        "elapsed": snap.elapsed,
        "completed": snap.completed,
        "total": snap.total,
        "rate": snap.rate,
        "tasks": snap.counts,
        "system_cpu": snap.system_cpu,
        "workers": [{"pid": pid, "cpu": h.cpu, "rss": h.rss}  # type: ignore[attr-defined]
                    for pid, h in health.items()],
    }
