"""Worker health: CPU% and RSS per worker process, system CPU.

Runs in: the main process, on the "fanin-health" thread, about once a second (never per
frame, never on a worker's hot path). It samples only while tasks are running, so an idle
hub's health thread just sleeps.

Lazy on purpose (issue 13): the first sample is taken one interval after the start, so a
run shorter than that never samples at all, and the readings come from ``procstat``
(``/proc`` on Linux; psutil, imported on the health thread at the first sample, elsewhere).
Each sample is one read per worker and one of the system counters.
"""


import os
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from .._ingest.state import ProgressState
from .._threads import start_thread
from .procstat import NoSuchProcess, ProcProbe, PsutilProbe, has_proc, probe

HEALTH_INTERVAL = 1.0  # seconds between samples


class WorkerHealth(NamedTuple):
    pid: int
    cpu: float  # percent of one core since the previous sample
    rss: int  # bytes


class HealthSampler:
    def __init__(
        self,
        pids: Callable[[], list[int]],
        state: ProgressState,
        lock: threading.Lock,
        interval: float = HEALTH_INTERVAL,
    ) -> None:
        self.pids = pids
        self.state = state
        self.lock = lock
        self.interval = interval
        self.samples = 0
        self._probe: ProcProbe | PsutilProbe | None = None
        self._prev: dict[int, tuple[float, float]] = {}  # pid -> (wall, cpu seconds)
        self._system: tuple[float, float] | None = None  # (busy, total) at the last sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fanin-health", daemon=True)

    def start(self) -> None:
        start_thread(self._thread)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        if has_proc():  # one small read now, so the first sample's system share is right
            self._system = self._prime().system_times()
        while not self._stop.wait(self.interval):
            if self.state.counts.get("running", 0) == 0:
                continue
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - health is decoration; never take the hub down
                pass

    def _prime(self) -> ProcProbe | PsutilProbe:
        if self._probe is None:
            self._probe = probe()
        return self._probe

    def sample(self) -> None:
        p = self._prime()
        if self._system is None:  # psutil's first sample, or a direct call: a short window
            self._system = p.system_times()
            self._stop.wait(min(0.1, self.interval))
        workers = []
        wanted = [os.getpid(), *self.pids()]
        now = time.monotonic()
        for pid in wanted:
            try:
                cpu_s, rss = p.process(pid)
            except NoSuchProcess:
                self._prev.pop(pid, None)
                continue
            prev = self._prev.get(pid)
            self._prev[pid] = (now, cpu_s)
            if prev is None:
                continue  # the first reading of a process only primes its counter
            dt = now - prev[0]
            workers.append(WorkerHealth(pid, 100.0 * (cpu_s - prev[1]) / dt if dt > 0 else 0.0,
                                        rss))
        for pid in list(self._prev):
            if pid not in wanted:
                del self._prev[pid]
        busy, total = p.system_times()
        busy0, total0 = self._system
        self._system = (busy, total)
        system = 100.0 * (busy - busy0) / (total - total0) if total > total0 else 0.0
        with self.lock:
            self.state.set_health({w.pid: w for w in workers}, system)
        self.samples += 1
