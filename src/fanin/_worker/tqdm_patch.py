"""``Hub(tqdm=True)``: real ``tqdm`` bars created inside fanin jobs become sub-tasks.

Runs in: the hub's process (``acquire``/``release`` around the hub's life) and worker
processes (``WithTqdm`` installs it before the job, for the process's life, which is the
pool's). Third-party code usually binds ``from tqdm import tqdm`` at import time, so
replacing module attributes would miss it; instead ``tqdm.std.tqdm.__new__`` is patched,
which every tqdm class (``tqdm.auto``, ``tqdm.asyncio``, ``trange``, subclasses) goes
through. Inside a fanin task it returns a :class:`TqdmBar` (which never draws); anywhere
else it is tqdm's own ``__new__``, unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .current import running
from .reporter import Reporter

_LOCK = threading.Lock()
_users = 0
_saved: Any = None  # tqdm.std.tqdm's own __new__ (the staticmethod object)


def _install() -> bool:
    global _saved
    if _saved is not None:
        return True
    try:
        import tqdm.std as std
    except ImportError:
        return False
    saved = std.tqdm.__dict__["__new__"]
    original = std.tqdm.__new__

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        if running() is not None and not kwargs.get("disable"):
            from .tqdm_compat import TqdmBar

            return TqdmBar(*args, **kwargs)  # not a cls instance, so __init__ is skipped
        return original(cls, *args, **kwargs)

    std.tqdm.__new__ = staticmethod(__new__)
    _saved = saved
    return True


def _uninstall() -> None:
    global _saved
    if _saved is None:
        return
    import tqdm.std as std

    std.tqdm.__new__ = _saved
    _saved = None


def acquire() -> None:
    """The hub's process: patched while at least one ``tqdm=True`` hub is open."""
    global _users
    with _LOCK:
        _users += 1
        _install()


def release() -> None:
    global _users
    with _LOCK:
        _users = max(0, _users - 1)
        if _users == 0:
            _uninstall()


def installed() -> bool:
    return _saved is not None


class WithTqdm:
    """A job function that patches tqdm in its process first (picklable by reference)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Any, Reporter], Any]) -> None:
        self.fn = fn

    def __call__(self, item: Any, reporter: Reporter) -> Any:
        if _saved is None:
            with _LOCK:
                _install()  # a worker process: stays for the process's (the pool's) life
        return self.fn(item, reporter)

    def __reduce__(self) -> tuple[Any, ...]:
        return (WithTqdm, (self.fn,))

    def __repr__(self) -> str:
        return f"WithTqdm({self.fn!r})"
