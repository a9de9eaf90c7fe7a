"""Reads every multiprocessing queue of a hub on one main-process thread.

Runs in: the main process, on the "fanin-pump" thread. It blocks in
``multiprocessing.connection.wait`` on all watched queues, process sentinels and a wake-up
pipe at once (one persistent selector), so it costs nothing
while idle and notices a dead worker the moment its sentinel fires.

One queue per writer process (the pool gives each worker its own) means a worker killed
while holding a queue's write lock can only wedge its own queue, never the display.
All pool bookkeeping runs on this thread too (``call_soon``), so it needs no locks.

Reading never blocks: each queue's pipe is non-blocking and read into a buffer of its own,
framed here as ``multiprocessing.Connection`` frames it (a 4-byte big-endian length, or -1
and an 8-byte length). So a worker stopped half-way through a message, or sending a 500 MB
result, costs the others nothing: they are served between its reads (at most
``READ_BUDGET`` bytes per queue per turn), and so are process sentinels. Readiness comes
from the selector only (epoll), so file descriptors above 1024 work.
"""


import heapq
import itertools
import os
import pickle
import selectors
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

READ_BUDGET = 4 << 20  # bytes read from one queue per turn before serving the others
READ_SIZE = 1 << 20  # a frame longer than this is read straight into its own buffer
# Bytes per os.read of small frames. Not READ_SIZE: os.read allocates its whole size up
# front, and a 1 MiB allocation (then shrunk to the ~150 bytes a report takes) cost ~18 us
# per read against ~1 us for 64 KiB (measured; it was most of the pump's steady CPU). A
# pipe holds 64 KiB by default, so one read still empties it.
CHUNK_SIZE = 64 << 10
_LENGTH = struct.Struct("!i").unpack_from  # a frame's 4-byte big-endian signed length
SKIP_SIZE = 64 << 10  # scratch buffer for discarding a frame too big to hold


class Undecodable(NamedTuple):
    """Handed to a queue's handler in place of a frame that could not be read or unpickled
    in this process (``size`` bytes; ``error`` says why, e.g. ``MemoryError``).

    The collector counts it as malformed; the pool fails the job whose result it was
    (see ``ResultFollows`` in ``_wire``), so a lost result never leaves a future hanging.
    """

    size: int
    error: BaseException


class _Stream:
    """The pump's end of one queue's pipe: non-blocking reads, our own framing.

    Small frames accumulate in ``buf``. A frame longer than ``READ_SIZE`` gets a buffer of
    its exact size, read into in place (no per-chunk copies); if that buffer cannot be
    allocated, the frame's bytes are read and discarded and an ``Undecodable`` takes its
    place, so the queue (and its worker) goes on.
    """

    __slots__ = ("buf", "fd", "large", "filled", "skip", "scratch")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = bytearray()
        self.large: bytearray | None = None  # the long frame being read, if any
        self.filled = 0  # bytes of ``large`` read so far
        self.skip = 0  # bytes still to discard of a frame we could not hold
        self.scratch: bytearray | None = None
        os.set_blocking(fd, False)

    def read(self, budget: int | None) -> tuple[list[object], bool]:
        """Complete frames (or ``Undecodable``) now readable, and whether the writer is gone."""
        out: list[object] = []
        eof = False
        got = 0
        while budget is None or got < budget:
            try:
                n, asked = self._read_once(out)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                eof = True
                break
            if not n:
                eof = True
                break
            got += n
            if n < asked and budget is not None:
                break  # drained for now; the selector says when there is more
        return out, eof

    def _read_once(self, out: list[object]) -> tuple[int, int]:
        if self.large is not None:
            with memoryview(self.large) as view:
                n = os.readv(self.fd, [view[self.filled:]])
            asked = len(self.large) - self.filled
            self.filled += n
            if self.filled == len(self.large):
                out.append(self.large)
                self.large = None
            return n, asked
        if self.skip:
            if self.scratch is None:
                self.scratch = bytearray(SKIP_SIZE)
            asked = min(self.skip, SKIP_SIZE)
            with memoryview(self.scratch) as view:
                n = os.readv(self.fd, [view[:asked]])
            self.skip -= n
            if not self.skip:
                self.scratch = None
            return n, asked
        chunk = os.read(self.fd, CHUNK_SIZE)
        self.buf += chunk
        self._frames(out)
        return len(chunk), CHUNK_SIZE

    def _frames(self, out: list[object]) -> None:
        buf, pos = self.buf, 0
        end = len(buf)
        while end - pos >= 4:
            size = _LENGTH(buf, pos)[0]
            head = 4
            if size == -1:
                if end - pos < 12:
                    break
                size = int.from_bytes(buf[pos + 4:pos + 12], "big")
                head = 12
            if size < 0:
                break
            have = end - pos - head
            if have >= size:
                with memoryview(buf) as view:
                    out.append(bytes(view[pos + head:pos + head + size]))
                pos += head + size
                continue
            if size > READ_SIZE:  # the rest of buf is the start of this long frame
                self._start_large(size, buf, pos + head, out)
                pos = end
            break
        if pos:
            del buf[:pos]

    def _start_large(self, size: int, buf: bytearray, start: int, out: list[object]) -> None:
        have = len(buf) - start
        try:
            large = bytearray(size)
        except MemoryError as exc:
            # Too big for this process: skip its bytes, tell the handler what was lost.
            out.append(Undecodable(size, exc.with_traceback(None)))
            self.skip = size - have
            return
        large[:have] = buf[start:]
        self.large, self.filled = large, have


class _Writable:
    """A selector entry for a pipe the pump writes to (``taskpipe.TaskWriter``)."""

    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback


class Pump:
    def __init__(self) -> None:
        self._queues: dict[Any, tuple[_Stream, Callable[[object], None], Callable[[], None] | None]] = {}
        self._sentinels: dict[int, Callable[[], None]] = {}
        self._writers: dict[int, _Writable] = {}  # pipes waiting to take more (EVENT_WRITE)
        self._calls: deque[Callable[[], None]] = deque()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []  # pump thread only
        self._timer_ids = itertools.count()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        self._stopping = False
        self._sel = selectors.DefaultSelector()
        self._register(self._wake_r)
        self._thread = threading.Thread(target=self._run, name="fanin-pump", daemon=True)
        self.errors = 0

    def start(self) -> None:
        self._thread.start()

    def fds(self) -> tuple[int, ...]:
        """The fds it owns (its wake-up pipe, its selector): a process forked before the
        pump starts (``ProcessBackend._fork_first_workers``) closes its copies."""
        return (self._wake_r, self._wake_w, self._sel.fileno())

    # -- called from any thread -----------------------------------------------------------
    def call_soon(self, fn: Callable[[], None]) -> None:
        self._calls.append(fn)
        self._wake()

    def run(self, fn: Callable[[], None], timeout: float | None = 10.0) -> bool:
        """Run ``fn`` on the pump thread and wait for it; False if it did not run in time.

        If the pump has stopped (or never started), ``fn`` runs here instead: nobody else
        touches the pump's state then. So a second ``shutdown`` (Ctrl-C during the first)
        never waits for a call that a stopped pump will not make.
        """
        done = threading.Event()

        def call() -> None:
            try:
                fn()
            finally:
                done.set()

        self.call_soon(call)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not done.wait(0.05):
            if not self._thread.is_alive():
                try:
                    self._calls.remove(call)
                except ValueError:  # it ran (or is running) after all
                    return done.wait(1.0)
                call()
                return True
            if deadline is not None and time.monotonic() > deadline:
                return False
        return True

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except BlockingIOError:
            pass  # already plenty of wake-ups pending
        except OSError:
            pass

    def sync(self, timeout: float | None = 10.0) -> bool:
        """Wait until everything already readable on every watched queue was handled."""
        if not self._thread.is_alive():
            return True
        done = threading.Event()

        def drain_all() -> None:
            for reader, entry in list(self._queues.items()):
                self._read(reader, entry, limit=None)
            done.set()

        self.call_soon(drain_all)
        return done.wait(timeout)

    def stop(self, timeout: float | None = 5.0) -> None:
        """Drain everything readable, then stop. Idempotent."""
        if self._thread.ident is None and not self._stopping:  # never started: close our fds
            self._stopping = True
            self._sel.close()
            os.close(self._wake_r)
            os.close(self._wake_w)
            return
        if not self._thread.is_alive():
            return
        self.call_soon(self._request_stop)
        self._thread.join(timeout)

    # -- pump-thread API (call via call_soon from other threads) --------------------------
    def watch(
        self,
        q: Any,
        handler: Callable[[object], None],
        on_eof: Callable[[], None] | None = None,
    ) -> None:
        try:
            stream = _Stream(q._reader.fileno())
        except (OSError, ValueError):  # already closed: nothing will ever come
            if on_eof is not None:
                self._safe(on_eof)
            return
        self._queues[q._reader] = (stream, handler, on_eof)
        self._register(q._reader)

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the pump thread after ``delay`` seconds (e.g. retrying a failed
        worker start); the loop's wait ends at the nearest such deadline."""
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._timer_ids), fn))

    def unwatch(self, q: Any) -> None:
        self._forget(q._reader)

    def watch_writable(self, fd: int, on_writable: Callable[[], None]) -> None:
        """Call ``on_writable`` (on this thread) whenever ``fd`` can take more bytes, until
        ``unwatch_writable``."""
        self._writers[fd] = entry = _Writable(on_writable)
        self._register(fd, selectors.EVENT_WRITE, entry)

    def unwatch_writable(self, fd: int) -> None:
        if self._writers.pop(fd, None) is not None:
            self._unregister(fd)

    def watch_sentinel(self, sentinel: int, on_exit: Callable[[], None]) -> None:
        self._sentinels[sentinel] = on_exit
        self._register(sentinel)

    # One persistent selector, changed only when the watched set changes. Measured:
    # multiprocessing.connection.wait() builds and fills a new selector on every wake-up,
    # ~80 us over 65 fds (64 workers), against ~1.3 us for a kept epoll set.
    def _register(self, obj: Any, events: int = selectors.EVENT_READ, data: Any = None) -> bool:
        try:
            self._sel.register(obj, events, obj if data is None else data)
        except (KeyError, ValueError, OSError):
            return False
        return True

    def _unregister(self, obj: Any) -> None:
        try:
            self._sel.unregister(obj)
        except (KeyError, ValueError, OSError):
            pass

    def _forget(self, reader: Any) -> None:
        if self._queues.pop(reader, None) is not None:
            self._unregister(reader)

    def drain(self, q: Any) -> None:
        """Read everything already in ``q`` (used when its writer has died)."""
        entry = self._queues.get(q._reader)
        if entry is not None:
            self._read(q._reader, entry, limit=None)

    def _request_stop(self) -> None:
        self._stopping = True

    # -- the loop -------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._run_calls()
            if self._stopping:
                for reader, entry in list(self._queues.items()):
                    self._read(reader, entry, limit=None)
                self._run_calls()
                break
            try:
                ready = [key.data for key, _ in self._sel.select(self._next_timeout())]
            except (OSError, ValueError):
                ready = []
                self._drop_closed()
            for obj in ready:
                if obj == self._wake_r:
                    try:
                        os.read(self._wake_r, 4096)
                    except OSError:
                        pass
                elif type(obj) is _Writable:
                    self._safe(obj.callback)
                elif obj in self._queues:
                    self._read(obj, self._queues[obj], limit=READ_BUDGET)
            for obj in ready:
                if isinstance(obj, int) and obj in self._sentinels and obj != self._wake_r:
                    on_exit = self._sentinels.pop(obj)
                    self._unregister(obj)
                    self._safe(on_exit)
        self._sel.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _run_calls(self) -> None:
        while self._calls:
            self._safe(self._calls.popleft())
        if self._timers:  # no clock read on the wake-ups that have none (nearly all)
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                self._safe(heapq.heappop(self._timers)[2])

    def _next_timeout(self) -> float | None:
        if self._calls:
            return 0.0
        if not self._timers:
            return None
        return max(0.0, self._timers[0][0] - time.monotonic())

    def _read(self, reader: Any, entry: tuple[_Stream, Any, Any], limit: int | None) -> None:
        # The pump is each queue's only reader, so it reads the queue's pipe directly (as
        # concurrent.futures.process does): no reader lock to take, and a message that
        # fails to unpickle is told apart from the writer being gone.
        stream, handler, on_eof = entry
        try:
            frames, eof = stream.read(limit)
        except BaseException:  # noqa: BLE001 - not even a small buffer left (MemoryError),
            self.errors += 1  # or a bug here: give up on this queue, never on the pump
            frames, eof = [], True
        for i, data in enumerate(frames):
            frames[i] = None  # a long frame's buffer goes as soon as it is unpickled
            if type(data) is Undecodable:
                self.errors += 1
                msg: object = data
            else:
                try:
                    msg = pickle.loads(data)  # type: ignore[arg-type]
                except BaseException as exc:  # noqa: BLE001 - hostile bytes (even SystemExit) stop nothing
                    self.errors += 1
                    msg = Undecodable(len(data), exc.with_traceback(None))  # type: ignore[arg-type]
            del data
            try:  # _safe inlined: this runs once per message
                handler(msg)
            except BaseException:  # noqa: BLE001 - the pump must outlive any handler bug
                self.errors += 1
            del msg
        if eof:
            # Writer gone (closed, or killed mid-message: a partial frame is dropped).
            self._forget(reader)
            if on_eof is not None:
                self._safe(on_eof)

    def _drop_closed(self) -> None:
        # A watched fd was closed under us: rebuild the selector from what is still open.
        self._sel.close()
        self._sel = selectors.DefaultSelector()
        self._register(self._wake_r)
        for reader in list(self._queues):
            try:
                reader.fileno()
            except OSError:
                self._queues.pop(reader, None)
                continue
            self._register(reader)
        for sentinel in self._sentinels:
            self._register(sentinel)
        for fd, entry in list(self._writers.items()):
            if not self._register(fd, selectors.EVENT_WRITE, entry):
                self._writers.pop(fd, None)

    def _safe(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException:  # noqa: BLE001 - the pump must outlive any handler bug
            self.errors += 1
