"""Worker logs and prints, shipped as data to the one thread that draws.

Runs in: worker threads and worker processes (the handler and the print writer post
``LogRecord`` messages on the same channel as progress), and the caller (installing and
removing them around a hub's life). A log line from a worker never writes to the terminal
itself, so it cannot tear the bars; the render thread prints it above them.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
import time
from typing import Any, TextIO

from .._text import sanitize
from .._wire import LogBatch, LogRecord
from .channel import Channel
from .current import running
from .flusher import FLUSHER

MAX_LOG_TEXT = 10_000  # characters per shipped log line
LOG_LINES_PER_SECOND = 200  # log lines a worker process ships per second; the rest are counted



def _task_id() -> str | None:
    rep = running()
    return rep.task_id if rep is not None else None


def _worker_name() -> str:
    rep = running()
    if rep is not None and rep._desc:
        return str(rep._desc)
    name = threading.current_thread().name
    if name == "MainThread":
        return "main" if multiprocessing.parent_process() is None else f"pid {os.getpid()}"
    return name


class LogBatcher:
    """A worker process's log channel: records gather here and travel as one ``LogBatch``
    per flush interval (shipped by the flusher thread, and before each job's result).

    One queue message per record put every line of a chatty job ahead of its result on the
    report queue's FIFO, and cost the pump and the collector a message each: a job logging
    every item delayed its own result by seconds and the frames with it. At most
    ``LOG_LINES_PER_SECOND`` lines a second leave the process; beyond that lines are only
    counted, and the count is shipped as a line of its own.
    """

    def __init__(self, channel: Channel, interval: float,
                 per_second: int = LOG_LINES_PER_SECOND) -> None:
        self._channel = channel
        self._interval = interval
        self._per_second = per_second
        self._lock = threading.Lock()
        self._records: list[LogRecord] = []
        self._window = 0.0  # start of the current one-second window
        self._in_window = 0  # lines accepted in it
        self._dropped = 0  # lines not shipped since the last note about it
        self._registered = False

    def put(self, record: object) -> None:
        if not isinstance(record, LogRecord):
            self._channel.put(record)
            return
        now = time.monotonic()
        with self._lock:
            if now - self._window >= 1.0:
                self._window, self._in_window = now, 0
            if self._in_window >= self._per_second:
                self._dropped += 1
            else:
                self._in_window += 1
                self._records.append(record)
            if self._registered:
                return
            self._registered = True
        FLUSHER.register(self, self._interval)

    def _flush_locked(self) -> bool:
        """Ship what gathered (the flusher holds its lock; so does ``flush``); say if any."""
        with self._lock:
            records, self._records = self._records, []
            dropped, self._dropped = self._dropped, 0
            if not records and not dropped:
                self._registered = False
                FLUSHER.unregister(self)
                return False
        if dropped:
            records.append(LogRecord(None, os.getpid(), _worker_name(), "WARNING",
                                     f"fanin: {dropped:,} log lines dropped (more than "
                                     f"{self._per_second:,} a second from this process)"))
        self._channel.put(LogBatch(tuple(records)))
        return True

    def flush(self) -> None:
        with FLUSHER.lock:
            self._flush_locked()


class ChannelLogHandler(logging.Handler):
    """A logging handler that posts records to a fanin channel instead of writing them."""

    def __init__(self, channel: Channel, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                text = f"{text}\n{record.exc_text}"
            if record.name != "root":
                text = f"{record.name}: {text}"
            self.channel.put(LogRecord(_task_id(), os.getpid(),
                                       _worker_name(), record.levelname,
                                       text[:MAX_LOG_TEXT]))
        except Exception:  # noqa: BLE001 - logging must never break the worker
            self.handleError(record)


class _Pending:
    """One thread's unfinished line: its pieces, their length, what was cut off."""

    __slots__ = ("dropped", "parts", "size")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def add(self, s: str) -> None:
        if self.size < MAX_LOG_TEXT:
            self.parts.append(s)
            self.size += len(s)
        else:
            self.dropped += len(s)

    def take(self) -> str:
        line = "".join(self.parts)
        if self.dropped or len(line) > MAX_LOG_TEXT:
            keep = MAX_LOG_TEXT - 50  # room for the note within MAX_LOG_TEXT
            line = f"{line[:keep]} … ({self.dropped + len(line) - keep:,} characters dropped)"
        self.parts, self.size, self.dropped = [], 0, 0
        return line


class PrintCapture:
    """Replaces ``sys.stdout`` so ``print()`` becomes log lines (``capture_print=True``).

    Writes are buffered per thread until a newline. In the hub's own process, only
    threads other than the render thread are captured (it never uses ``sys.stdout``).
    """

    def __init__(self, channel: Channel, original: TextIO | None) -> None:
        self.channel = channel
        self.original = original
        self._buffers = threading.local()

    def write(self, s: str) -> int:
        # The pending line is a list of pieces, joined only when a newline ends it: output
        # without newlines (print(".", end="")) stays linear. Beyond MAX_LOG_TEXT
        # characters a line is only counted, so memory stays bounded too.
        pending = getattr(self._buffers, "pending", None)
        if pending is None:
            pending = self._buffers.pending = _Pending()
        if "\n" not in s:
            pending.add(s)
            return len(s)
        first, *lines, rest = s.split("\n")
        pending.add(first)
        self._post(pending.take())
        for line in lines:
            self._post(line)
        pending.add(rest)
        return len(s)

    def flush(self) -> None:
        pending = getattr(self._buffers, "pending", None)
        if pending is not None and pending.size:
            self._post(pending.take())

    def _post(self, line: str) -> None:
        try:
            self.channel.put(LogRecord(_task_id(), os.getpid(),
                                       _worker_name(), "PRINT", line[:MAX_LOG_TEXT]))
        except Exception:  # noqa: BLE001
            pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        if self.original is None:
            raise OSError("no underlying stdout")
        return self.original.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.original, "encoding", "utf-8")


class StreamRedirect(PrintCapture):
    """Stands in for ``sys.stdout``/``sys.stderr`` while Rich draws (like rich's
    ``redirect_stdout``, except that the render thread, not the writer, prints the text).

    Whole lines travel as ``OUTPUT`` records and are printed above the bars as written (no
    prefix). With ``tag_workers``, lines written inside a fanin task are ``PRINT`` records
    named after the task, as ``capture_print`` does.
    """

    def __init__(self, channel: Channel, original: TextIO | None, tag_workers: bool = False) -> None:
        super().__init__(channel, original)
        self.tag_workers = tag_workers

    def _post(self, line: str) -> None:
        try:
            if self.tag_workers and running() is not None:
                record = LogRecord(_task_id(), os.getpid(), _worker_name(), "PRINT",
                                   line[:MAX_LOG_TEXT])
            else:
                record = LogRecord(None, os.getpid(), "", "OUTPUT", line[:MAX_LOG_TEXT])
            self.channel.put(record)
        except Exception:  # noqa: BLE001
            pass


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


class Capture:
    """Routes the root logger, and optionally ``print`` and the process's stdout/stderr,
    into a channel for the hub's life.

    ``root``: swap the root logger's handlers (only while Rich draws, by default: an
    executor must not change process-global logging otherwise). ``streams``: replace
    ``sys.stdout``/``sys.stderr`` when they are terminals, so every write appears above the
    bars. ``capture_print``: also route ``print()`` from worker threads, named by task.
    """

    def __init__(self, channel: Channel, capture_print: bool, root: bool = True,
                 streams: bool = False) -> None:
        self.channel = channel
        self.capture_print = capture_print
        self.root = root
        self.streams = streams
        self._saved_handlers: list[logging.Handler] | None = None
        self._saved: dict[str, Any] = {}
        self._ours: dict[str, PrintCapture] = {}
        self.handler = ChannelLogHandler(channel)
        self._installed = False

    def install(self) -> None:
        if self.root:
            root = logging.getLogger()
            self._saved_handlers = root.handlers[:]
            root.handlers = [self.handler]
        self._installed = True
        for name in ("stdout", "stderr"):
            original = getattr(sys, name)
            stand_in: PrintCapture | None = None
            if self._redirects(name, original):
                stand_in = StreamRedirect(self.channel, original, tag_workers=self.capture_print)
            elif self.capture_print and name == "stdout":
                stand_in = PrintCapture(self.channel, original)
            if stand_in is not None:
                self._saved[name] = original
                self._ours[name] = stand_in
                setattr(sys, name, stand_in)

    def _redirects(self, name: str, original: Any) -> bool:
        return self.streams and _isatty(original)

    def replaced(self, name: str) -> bool:
        """Whether ``sys.<name>`` is redirected (a terminal we draw on): now, or once
        installed (a process hub may start workers before: ``Pipeline.prepare``)."""
        if not self._installed:
            return self._redirects(name, getattr(sys, name))
        return name in self._ours

    def uninstall(self) -> None:
        root = logging.getLogger()
        if self._saved_handlers is not None and self.handler in root.handlers:
            root.handlers = self._saved_handlers
        self._saved_handlers = None
        for name, stand_in in list(self._ours.items()):
            stand_in.flush()  # a last partial line
            if getattr(sys, name) is stand_in:  # someone else's replacement stays
                setattr(sys, name, self._saved[name])
        self._ours.clear()
        self._saved.clear()


def logging_level() -> int:
    return logging.getLogger().level


def sanitize_log(text: str) -> str:
    """Log lines keep their line breaks (tracebacks), lose every other control character."""
    return "\n".join(sanitize(line, MAX_LOG_TEXT) for line in text.split("\n"))
