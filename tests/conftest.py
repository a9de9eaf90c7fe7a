from __future__ import annotations

import multiprocessing
import os
import threading
import time

import psutil
import pytest

START_METHODS = [m for m in ("fork", "spawn", "forkserver")
                 if m in multiprocessing.get_all_start_methods()]

_HUB_THREADS = ("fanin-collector", "fanin-render", "fanin-pump", "fanin-worker", "fanin-health",
                "fanin-events")


def _live_children() -> set[int]:
    out = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(p.cmdline())
        except psutil.Error:
            continue
        # multiprocessing's long-lived helpers; the workers a fork server forked share its
        # command line, so only the server itself (our child) is skipped.
        # (fanin's zygote is its first worker's child; the workers it forks are renamed.)
        server = "forkserver" in cmd and p.ppid() == os.getpid()
        tracker = "resource_tracker" in cmd
        if tracker or server or p.name() == "fanin-zygote":
            continue
        out.add(p.pid)
    return out


@pytest.fixture(autouse=True)
def no_leaks(request):
    """Fail a test that leaves hub threads or new child processes behind."""
    before = _live_children()
    yield
    deadline = time.monotonic() + 5
    while True:
        threads = [t.name for t in threading.enumerate() if t.name.startswith(_HUB_THREADS)]
        children = _live_children() - before
        if not threads and not children:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"leaked threads {threads} / processes {sorted(children)}")
        time.sleep(0.05)
