"""How a user's function wants to be called: decided once per function, from its signature.

Runs in: the caller. ``hub.map`` calls ``fn(item, reporter)``; the executors and the
one-liners call a function unchanged, adding ``progress=reporter`` only when its signature
names a ``progress`` parameter (a ``**kwargs`` does not count: it did not ask for one).
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from typing import Any

# Weak keys: the cache must not keep a function (or the object a method is bound to) alive
# after the caller dropped it (CPython's test_free_reference checks exactly this).
_cache: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins and C callables have none
        return None


def wants_progress(fn: Callable[..., Any]) -> bool:
    """True when ``fn`` has a parameter named ``progress`` (keyword or positional-or-keyword)."""
    key = getattr(fn, "__func__", fn)  # a bound method: its function (same signature + self)
    try:
        return _cache[key]
    except (KeyError, TypeError):  # TypeError: not weakly referenceable, not cached
        pass
    sig = _signature(fn)
    p = sig.parameters.get("progress") if sig is not None else None
    wants = p is not None and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    try:
        _cache[key] = wants
    except TypeError:
        pass
    return wants


def check_takes_reporter(fn: Callable[..., Any]) -> None:
    """``hub.map``/``hub.submit`` call ``fn(item, reporter)``: say so at once when ``fn``
    cannot take two arguments, instead of a ``TypeError`` from inside a worker."""
    sig = _signature(fn)
    if sig is None:
        return
    try:
        sig.bind(None, None)
    except TypeError:
        name = getattr(fn, "__qualname__", repr(fn))
        raise TypeError(
            f"hub.map and hub.submit call fn(item, reporter), but {name}{sig} does not take "
            "two arguments; to call a function unchanged use hub.imap(fn, items), "
            "fanin.process_map or fanin.thread_map"
        ) from None


def call_with_progress(call: tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], bool],
                       progress: Any) -> Any:
    """An executor job in a worker: ``fn(*args, **kwargs)``, plus ``progress=`` if it asked.

    Module-level, so it pickles by reference under spawn and forkserver.
    """
    fn, args, kwargs, wants = call
    if wants:
        return fn(*args, progress=progress, **kwargs)
    return fn(*args, **kwargs)
