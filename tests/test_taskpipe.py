"""The hub's task pipe (``taskpipe.TaskWriter``): tasks come out whole and in order as
``multiprocessing.Connection.recv_bytes`` reads them, whatever their size; a pipe that
cannot take a task now never blocks the writer (the pump finishes it when the pipe is
writable); a worker gone only marks the writer broken."""

from __future__ import annotations

import multiprocessing
import pickle
import threading
import time
from typing import Any

import pytest

from fanin._backends.taskpipe import TaskWriter, frame
from fanin._ingest.pump import Pump

pytestmark = pytest.mark.timeout(60)


class _Recorder:
    """A pump stand-in: remembers what wants to be told the pipe is writable."""

    def __init__(self) -> None:
        self.watched: dict[int, Any] = {}

    def watch_writable(self, fd: int, on_writable: Any) -> None:
        self.watched[fd] = on_writable

    def unwatch_writable(self, fd: int) -> None:
        self.watched.pop(fd, None)


def test_small_tasks_arrive_in_order_without_waiting() -> None:
    reader, writer = multiprocessing.Pipe(duplex=False)
    pump = _Recorder()
    tasks = TaskWriter(writer, pump)
    sent = [(i, b"x" * i, f"t{i}") for i in range(200)]
    for task in sent:
        tasks.put(task)
    assert tasks.pending() == 0 and not pump.watched  # all in the pipe at once
    got = [pickle.loads(reader.recv_bytes()) for _ in sent]
    assert got == sent
    tasks.close()
    with pytest.raises(EOFError):  # the worker reads the hub's end closing as EOF
        reader.recv_bytes()


def test_a_task_larger_than_the_pipe_is_finished_by_the_pump_while_the_worker_reads() -> None:
    """4 MiB items (a pipe holds 64 KiB): put returns at once, the pump's selector writes
    the rest as the reader drains it, and later tasks queue behind, in order."""
    reader, writer = multiprocessing.Pipe(duplex=False)
    pump = Pump()
    pump.start()
    tasks = TaskWriter(writer, pump)
    sent = [(0, b"a" * (4 << 20)), (1, "small"), (2, b"b" * (3 << 20)), None]
    done = threading.Event()

    def put_all() -> None:  # on the pump thread, as the backend does
        t = time.monotonic()
        for task in sent:
            tasks.put(task)
        assert time.monotonic() - t < 1.0  # nothing waited for the reader
        assert tasks.pending() > 0  # the pipe could not take it all
        done.set()

    pump.call_soon(put_all)
    assert done.wait(10)
    got = [pickle.loads(reader.recv_bytes()) for _ in sent]
    assert got == sent
    pump.run(tasks.close)
    pump.stop()


def test_a_closed_reader_marks_the_writer_broken_instead_of_raising() -> None:
    reader, writer = multiprocessing.Pipe(duplex=False)
    pump = _Recorder()
    tasks = TaskWriter(writer, pump)
    reader.close()  # the worker is gone
    tasks.put((1, b"job"))
    assert tasks.broken and tasks.pending() == 0 and not pump.watched
    tasks.put((2, b"job"))  # ignored: the sentinel tells the hub of the death
    tasks.close()
    with pytest.raises(ValueError):
        tasks.put((3, b"job"))


def test_a_buffered_task_is_dropped_and_unwatched_when_the_writer_closes() -> None:
    reader, writer = multiprocessing.Pipe(duplex=False)
    pump = _Recorder()
    tasks = TaskWriter(writer, pump)
    tasks.put(b"z" * (1 << 20))
    assert pump.watched and tasks.pending() > 0
    tasks.close()
    assert not pump.watched and tasks.pending() == 0
    reader.close()


def test_frames_are_connections_framing() -> None:
    class Huge(bytes):
        def __len__(self) -> int:
            return 1 << 31  # past the 4-byte length

    assert frame(b"abc") == [b"\x00\x00\x00\x03abc"]
    big = b"q" * (20 << 10)
    assert frame(big) == [(len(big)).to_bytes(4, "big"), big]
    head, _ = frame(Huge())
    assert head == b"\xff\xff\xff\xff" + (1 << 31).to_bytes(8, "big")
