"""Start what a process pool will wait for while the display starts (issue 13).

Runs in: the caller (``Hub.start``) and one short-lived helper thread.

Why: a process hub's first pool in a fresh interpreter waits for the fork server (a new
Python that imports the worker loop before it serves a fork): measured ~100 ms of wall
time on the benchmark machine, in another process, during which the main process does
nothing. Asking for the server when the hub starts, on a helper thread, overlaps that wait
with the collector, render thread and Rich start, so the first ``submit`` finds the
server ready or nearly so. Nothing else changes: no worker starts before the first job,
and a server asked for by a hub that then runs no job is the same long-lived helper any
forkserver pool leaves (multiprocessing stops it at exit).
"""

from __future__ import annotations

import threading
from typing import Any


def warm_up(backend: str, mp_context: Any) -> threading.Thread | None:
    """Start the fork server in the background, if this hub's pool will use one."""
    if backend != "process" or getattr(mp_context, "get_start_method", None) is None:
        return None
    if mp_context.get_start_method() != "forkserver":
        return None

    def ensure() -> None:
        try:
            from multiprocessing import forkserver

            forkserver.ensure_running()
        except Exception:  # noqa: BLE001 - the pool's own start reports any real failure
            pass

    thread = threading.Thread(target=ensure, name="fanin-warmup", daemon=True)
    thread.start()
    return thread
