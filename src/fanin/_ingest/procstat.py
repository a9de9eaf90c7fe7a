"""CPU and memory readings for the health line: ``/proc`` on Linux, psutil elsewhere.

Runs in: the main process, on the "fanin-health" thread only.

Why not psutil everywhere: importing it costs ~11 ms of the main process's CPU (measured on
the benchmark machine), about what a whole short run's display is allowed, and a
``Process.oneshot()`` sample reads several files per worker. On Linux the three numbers
we show (a process's CPU seconds, its RSS, the system's busy share) are one small read of
``/proc/<pid>/stat`` per worker and one of ``/proc/stat``. psutil is imported only where
``/proc`` is missing (macOS, Windows), and then only when the first sample is due.
"""

from __future__ import annotations

import os
from typing import Any

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class NoSuchProcess(Exception):
    """The process is gone (or was never readable)."""


def has_proc() -> bool:
    return os.path.exists("/proc/self/stat") and os.path.exists("/proc/stat")


class ProcProbe:
    """Linux: reads ``/proc`` directly."""

    def system_times(self) -> tuple[float, float]:
        """(busy, total) jiffies of all CPUs; a share is the ratio of two deltas."""
        # user nice system idle iowait irq softirq steal
        fields = _read("/proc/stat").split(b"\n", 1)[0].split()[1:9]
        v = [int(x) for x in fields]
        total = sum(v)
        return total - v[3] - (v[4] if len(v) > 4 else 0), total

    def process(self, pid: int) -> tuple[float, int]:
        """(CPU seconds, user + system; RSS bytes) of ``pid``."""
        try:
            data = _read(f"/proc/{pid}/stat")
        except OSError as exc:
            raise NoSuchProcess(pid) from exc
        rest = data[data.rfind(b")") + 2:].split()  # comm may hold spaces and parentheses
        if len(rest) < 22 or rest[0] == b"Z":
            raise NoSuchProcess(pid)
        return (int(rest[11]) + int(rest[12])) / _CLK_TCK, int(rest[21]) * _PAGE


def _read(path: str) -> bytes:
    """The start of a small ``/proc`` file: one ``os.read``, no file object (``open`` builds
    a buffered reader per call; these files are a few hundred bytes)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


class PsutilProbe:
    """Elsewhere: psutil, imported on first use (on the health thread)."""

    def __init__(self) -> None:
        import psutil

        self._psutil: Any = psutil
        self._procs: dict[int, Any] = {}

    def system_times(self) -> tuple[float, float]:
        t = self._psutil.cpu_times()
        total = sum(t)
        idle = t.idle + getattr(t, "iowait", 0.0)
        return total - idle, total

    def process(self, pid: int) -> tuple[float, int]:
        ps = self._psutil
        try:
            proc = self._procs.get(pid)
            if proc is None:
                proc = self._procs[pid] = ps.Process(pid)
            with proc.oneshot():
                t = proc.cpu_times()
                return t.user + t.system, int(proc.memory_info().rss)
        except ps.Error as exc:
            self._procs.pop(pid, None)
            raise NoSuchProcess(pid) from exc


def probe() -> ProcProbe | PsutilProbe:
    return ProcProbe() if has_proc() else PsutilProbe()
