"""How a user's function wants to be called: decided once per function, from its signature.

Runs in: the caller. ``hub.map`` calls ``fn(item, reporter)``; the executors and the
one-liners call a function unchanged, adding ``progress=reporter`` only when its signature
names a ``progress`` parameter (a ``**kwargs`` does not count: it did not ask for one).
"""

from __future__ import annotations

import types
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import inspect

# Weak keys: the cache must not keep a function (or the object a method is bound to) alive
# after the caller dropped it (CPython's test_free_reference checks exactly this).
_cache: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


_VARARGS = 0x04  # inspect.CO_VARARGS


def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    import inspect  # only for callables the code-object fast path below does not cover

    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins and C callables have none
        return None


def _plain(fn: Any) -> tuple[types.FunctionType, int] | None:
    """A Python function (or a method bound to one) and how many leading positional
    parameters are already bound: enough to answer from its code object. ``inspect``
    (~5 ms of import before a hub's first call, issue 13) is for everything else:
    partials, callable objects, wrapped functions (``__wrapped__``/``__signature__``)."""
    bound = 0
    if type(fn) is types.MethodType:
        fn, bound = fn.__func__, 1
    if type(fn) is not types.FunctionType or hasattr(fn, "__wrapped__") \
            or hasattr(fn, "__signature__"):
        return None
    return fn, bound


def _takes_two(fn: types.FunctionType, bound: int) -> bool:
    """``fn(item, reporter)`` binds: two positional arguments fit, and nothing else is
    required."""
    code = fn.__code__
    positional = code.co_argcount - bound
    required = positional - len(fn.__defaults__ or ())
    kw_required = code.co_kwonlyargcount - len(fn.__kwdefaults__ or {})
    fits = positional >= 2 or bool(code.co_flags & _VARARGS)
    return fits and required <= 2 and kw_required == 0


def wants_progress(fn: Callable[..., Any]) -> bool:
    """True when ``fn`` has a parameter named ``progress`` (keyword or positional-or-keyword)."""
    key = getattr(fn, "__func__", fn)  # a bound method: its function (same signature + self)
    try:
        return _cache[key]
    except (KeyError, TypeError):  # TypeError: not weakly referenceable, not cached
        pass
    plain = _plain(fn)
    if plain is not None:
        code = plain[0].__code__
        names = code.co_varnames[code.co_posonlyargcount:code.co_argcount + code.co_kwonlyargcount]
        wants = "progress" in names
    else:
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
    plain = _plain(fn)
    if plain is not None and _takes_two(*plain):
        return
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
