"""The multiprocessing context a hub's worker processes start from, when none was chosen.

Runs in: the caller (``Hub(...)`` for a process hub; a thread hub only when it first makes
a reporter for processes of the user's own, or when ``hub.mp_context`` is read: getting a
fork server context imports multiprocessing's connections, ~7 ms a thread hub need not pay).
"""

from __future__ import annotations

import multiprocessing
import sys
from multiprocessing.context import BaseContext


def default_context() -> BaseContext:
    """``forkserver`` where the platform has it (as Python 3.14 chose on POSIX), else the
    platform's default. A hub runs threads (collector, renderer, pump) before it starts
    worker processes; ``fork`` would copy a lock another thread holds at that moment into
    the child, locked for good (Python 3.12+ warns about exactly this). ``fork`` stays
    available: ``start_method="fork"``.

    A program that chose another method than the platform's default with
    ``multiprocessing.set_start_method`` gets that one, as the stdlib's pools give it. (The
    platform's own default cannot be told from a choice: any ``get_context()`` call fixes
    it, and the stdlib makes such calls; that one stays forkserver.) ``start_method=
    "forkserver"`` always gets multiprocessing's own server, a fresh interpreter."""
    chosen = multiprocessing.get_start_method(allow_none=True)
    if chosen is not None and chosen != multiprocessing.get_all_start_methods()[0]:
        return multiprocessing.get_context()  # its fork server's preload list is the program's
    if sys.platform == "linux":
        # A forkserver context whose server is, when the hub starts single-threaded, a fork
        # of this process instead of a new interpreter (``zygote.py``).
        from .zygote import CONTEXT

        return CONTEXT
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        # The fork server imports the worker loop once; each worker is then a bare fork of
        # it (measured: a second 2-worker pool starts in 28 ms, against 58 ms with fork and
        # 184 ms when every worker imports fanin itself).
        ctx.set_forkserver_preload(["fanin._backends.child"])
        return ctx
    return multiprocessing.get_context()
