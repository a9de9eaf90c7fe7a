"""Worker logs and prints, shipped as data to the one thread that draws.

Runs in: worker threads and worker processes (the handler and the print writer post
``LogRecord`` messages on the same channel as progress), and the caller (installing and
removing them around a hub's life). A log line from a worker never writes to the terminal
itself, so it cannot tear the bars; the render thread prints it above them.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any, TextIO

from .._text import sanitize
from .._wire import LogRecord
from .channel import Channel
from .current import running

MAX_LOG_TEXT = 10_000  # characters per shipped log line



def _task_id() -> str | None:
    rep = running()
    return rep.task_id if rep is not None else None


def _worker_name() -> str:
    rep = running()
    if rep is not None and rep._desc:
        return str(rep._desc)
    name = threading.current_thread().name
    return f"pid {os.getpid()}" if name == "MainThread" else name


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
        buf = getattr(self._buffers, "text", "") + s
        *lines, rest = buf.split("\n")
        self._buffers.text = rest
        for line in lines:
            self._post(line)
        return len(s)

    def flush(self) -> None:
        rest = getattr(self._buffers, "text", "")
        if rest:
            self._buffers.text = ""
            self._post(rest)

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


class Capture:
    """Routes the root logger (and optionally ``print``) of this process into a channel."""

    def __init__(self, channel: Channel, capture_print: bool) -> None:
        self.channel = channel
        self.capture_print = capture_print
        self._saved_handlers: list[logging.Handler] | None = None
        self._saved_stdout: Any = None
        self.handler = ChannelLogHandler(channel)

    def install(self) -> None:
        root = logging.getLogger()
        self._saved_handlers = root.handlers[:]
        root.handlers = [self.handler]
        if self.capture_print:
            self._saved_stdout = sys.stdout
            sys.stdout = PrintCapture(self.channel, sys.stdout)

    def uninstall(self) -> None:
        root = logging.getLogger()
        if self._saved_handlers is not None and self.handler in root.handlers:
            root.handlers = self._saved_handlers
        self._saved_handlers = None
        if self.capture_print and isinstance(sys.stdout, PrintCapture):
            sys.stdout.flush()
            sys.stdout = self._saved_stdout


def logging_level() -> int:
    return logging.getLogger().level


def sanitize_log(text: str) -> str:
    """Log lines keep their line breaks (tracebacks), lose every other control character."""
    return "\n".join(sanitize(line, MAX_LOG_TEXT) for line in text.split("\n"))
