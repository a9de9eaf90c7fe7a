"""A hub's options, checked once at ``Hub(...)``: misuse raises at the call, with a sentence.

Runs in: the caller.
"""


import multiprocessing
import os
import time
import warnings
from collections.abc import Callable
from multiprocessing.context import BaseContext
from typing import IO, Any, Literal, NamedTuple

from .._backends import BackendName, require, start_context
from .._display.choose import MODES, ProgressMode
from .._display.render import View
from .._errors import FaninWarning
from .._worker.flusher import DEFAULT_FLUSH_INTERVAL

OnError = Literal["raise", "collect"]
START_METHODS = ("fork", "spawn", "forkserver")


def positive_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or value == float("inf"):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def check_on_error(on_error: object) -> OnError:
    if on_error not in ("raise", "collect"):
        raise ValueError(f"on_error must be 'raise' or 'collect', got {on_error!r}")
    return on_error


class HubOptions(NamedTuple):
    """Every option of a hub, checked once (a NamedTuple: no ``dataclasses`` import, issue 13)."""

    backend: BackendName
    workers: int
    progress: ProgressMode
    refresh: float  # Hz, a ceiling
    flush_interval: float  # seconds between a worker's messages
    mp_context: BaseContext | None  # None: the default, resolved on first use (thread, dask)
    file: IO[str] | None
    title: str | Callable[[], str] | None  # a callable: evaluated when the display starts
    log_every: float  # seconds, plain mode
    clock: Callable[[], float]
    view: View | None
    address: str | None
    summary: bool | None
    events: str | os.PathLike[str] | None
    capture_logs: bool | None
    capture_print: bool
    stall_after: float  # seconds
    health: bool
    overwrite_events: bool  # the events file may replace an existing file
    worker_options: dict[str, Any]  # backend knobs of the stdlib executors (see BackendConfig)
    redirect: bool  # while Rich draws: this process's stdout/stderr and logging above the bars
    tqdm: bool  # tqdm bars created inside jobs become sub-tasks of the job
    overall: bool  # the overall bar and the task-count line
    transient: bool  # remove the bars at the end
    leave: bool = False  # internal (fanin.track): the loop's own bar stays after it ends
    # internal (stdlib drop-ins): plain mode says nothing for a run shorter than log_every
    quiet_short: bool = False

    @classmethod
    def build(
        cls,
        backend: Any = "thread",
        workers: Any = None,
        *,
        progress: Any = "auto",
        refresh: Any = 10.0,
        flush_interval: Any = DEFAULT_FLUSH_INTERVAL,
        start_method: Any = None,
        file: IO[str] | None = None,
        title: str | Callable[[], str] | None = None,
        log_every: Any = 5.0,
        clock: Callable[[], float] = time.monotonic,
        view: View | None = None,
        address: str | None = None,
        summary: bool | None = None,
        events: str | os.PathLike[str] | None = None,
        capture_logs: bool | None = None,
        capture_print: bool = False,
        stall_after: Any = 30.0,
        health: bool = True,
        worker_options: dict[str, Any] | None = None,
        overwrite_events: bool = False,
        redirect: bool = True,
        disable: bool = False,
        tqdm: bool = False,
        overall: bool = True,
        transient: bool = False,
        leave: bool = False,
        quiet_short: bool = False,
    ) -> "HubOptions":
        require(backend)
        if disable:
            progress = "off"
        if address is not None and backend != "dask":
            raise ValueError(f"address is for backend='dask', got backend={backend!r}")
        if progress not in MODES:
            raise ValueError(f"progress must be one of {MODES}, got {progress!r}")
        progress = progress_from_env(progress)
        context: BaseContext | None
        if start_method is None:
            # A thread or Dask hub resolves it on first use (see _backends/context.py).
            context = start_context(backend)
        elif isinstance(start_method, str) and start_method in START_METHODS:
            context = multiprocessing.get_context(start_method)
            if start_method == "forkserver":
                context.set_forkserver_preload(["fanin._backends.child"])  # see default_context
        elif isinstance(start_method, BaseContext) or (
                not isinstance(start_method, str)
                and callable(getattr(start_method, "Process", None))):
            # A context object (the executors' mp_context=, Pool's context=); like the
            # stdlib pool, any object with the context's methods will do.
            context = start_method
        else:
            raise ValueError(f"start_method must be one of {START_METHODS}, got {start_method!r}")
        return cls(
            backend=backend,
            workers=positive_int("workers", (os.cpu_count() or 1) if workers is None else workers),
            progress=progress,
            refresh=positive_number("refresh", refresh),
            flush_interval=positive_number("flush_interval", flush_interval),
            mp_context=context,
            file=file,
            title=title,
            log_every=positive_number("log_every", log_every),
            clock=clock,
            view=view,
            address=address,
            summary=summary,
            events=events,
            capture_logs=capture_logs,
            capture_print=bool(capture_print),
            stall_after=positive_number("stall_after", stall_after),
            health=bool(health),
            worker_options=dict(worker_options or {}),
            overwrite_events=bool(overwrite_events),
            redirect=bool(redirect),
            tqdm=bool(tqdm),
            overall=bool(overall),
            transient=bool(transient),
            leave=bool(leave),
            quiet_short=bool(quiet_short),
        )


ENV_VAR = "FANIN_PROGRESS"


def progress_from_env(progress: ProgressMode) -> ProgressMode:
    """``FANIN_PROGRESS=off|plain|rich|auto`` overrides the code's choice, like tqdm's
    ``TQDM_DISABLE``: switch the display of a program you cannot edit. A bad value warns
    and is ignored (the work must not fail over a display setting)."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if not value:
        return progress
    if value not in MODES:
        warnings.warn(f"fanin: ignoring {ENV_VAR}={value!r} (expected one of {MODES})",
                      FaninWarning, stacklevel=4)
        return progress
    return value
