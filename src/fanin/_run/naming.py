"""Bar names for jobs: ``"fn i/n"``, ``"prefix i/n"``, or ``description(item)``.

Runs in: the caller.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from .._worker.reporter import _check_description


def name_of(fn: Callable[..., Any]) -> str:
    """A bar's name for ``fn``: ``functools.partial`` is unwrapped to the function it calls."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "__name__", None) or type(fn).__name__


def check_description_arg(description: object) -> None:
    if description is not None and not (isinstance(description, str) or callable(description)):
        raise TypeError("description must be a str, a callable(item) -> str, or None")


def describe_items(fn: Callable[..., Any], items: Sequence[Any],
                   description: str | Callable[[Any], str] | None) -> list[str]:
    """Each item's bar name."""
    base = name_of(fn)
    out = []
    for i, item in enumerate(items):
        if callable(description):
            d = description(item)
        elif isinstance(description, str):
            d = f"{description} {i + 1}/{len(items)}"
        else:
            d = f"{base} {i + 1}/{len(items)}"
        out.append(_check_description(str(d)))
    return out
