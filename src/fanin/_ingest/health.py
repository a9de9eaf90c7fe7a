"""Worker health with psutil: CPU% and RSS per worker process, system CPU.

Runs in: the main process, on the "fanin-health" thread, about once a second (never per
frame, never on a worker's hot path). It samples only while tasks are running, so an idle
hub's health thread just sleeps.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import NamedTuple

import psutil

from .._ingest.state import ProgressState

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
        self._procs: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fanin-health", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        # psutil keeps cpu_percent(None)'s previous reading per thread: prime it in the
        # thread that samples, or the first readings say 0% (issue 11, item 10).
        psutil.cpu_percent(None)
        while not self._stop.wait(self.interval):
            if self.state.counts.get("running", 0) == 0:
                continue
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - health is decoration; never take the hub down
                pass

    def sample(self) -> None:
        workers = []
        wanted = [os.getpid(), *self.pids()]
        for pid in wanted:
            proc = self._procs.get(pid)
            try:
                if proc is None:
                    proc = self._procs[pid] = psutil.Process(pid)
                    proc.cpu_percent(None)  # first call only primes the counter
                    continue
                with proc.oneshot():
                    workers.append(WorkerHealth(pid, proc.cpu_percent(None), proc.memory_info().rss))
            except psutil.Error:
                self._procs.pop(pid, None)
        for pid in list(self._procs):
            if pid not in wanted:
                del self._procs[pid]
        system = psutil.cpu_percent(None)
        with self.lock:
            self.state.set_health({w.pid: w for w in workers}, system)
        self.samples += 1
