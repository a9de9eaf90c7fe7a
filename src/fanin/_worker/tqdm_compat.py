"""A tqdm-shaped bar over a fanin reporter: the subset of ``tqdm.tqdm`` common code uses.

Runs in: whichever thread or process creates the bar (worker side: it never draws; its
reporter ships the counts like any other). ``TqdmBar`` reports as a sub-task of the fanin
task running here; ``fanin.tqdm`` (in ``_integrations``) extends it to work anywhere.

Supported: an iterable, ``total``, ``desc``, ``unit``, ``unit_scale``, ``unit_divisor``,
``leave``, ``initial``, ``postfix``, ``disable``; ``update``, ``set_description``,
``set_postfix``, ``set_postfix_str``, ``write``, ``close``, ``reset``, ``n``, the context
manager. Layout options (``position``, ``ncols``, ``bar_format``, ``file``, ...) are
accepted and ignored: the one render thread lays every bar out.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, ClassVar

from .._wire import LogRecord
from .current import running
from .reporter import Reporter

_POSITIONAL = ("iterable", "desc", "total", "leave")  # tqdm's first parameters, in order


def _scale_of(unit: str, unit_scale: object, unit_divisor: object) -> int:
    if not unit_scale:
        return 1024 if unit == "B" else 0  # our default for bytes: binary
    return 1024 if unit_divisor == 1024 else 1000


def _postfix_text(postfix: Any) -> str:
    if postfix is None:
        return ""
    if isinstance(postfix, str):
        return postfix
    try:
        items = dict(postfix).items()
    except (TypeError, ValueError):
        return str(postfix)
    out = []
    for key, value in items:
        if isinstance(value, float):
            value = f"{value:.3g}"
        out.append(f"{key}={value}")
    return ", ".join(out)


class TqdmBar:
    """``tqdm.tqdm``'s everyday surface, counting on a fanin reporter."""

    _instances: ClassVar[set[Any]] = set()  # some code clears it; we keep none
    _lock: ClassVar[Any] = threading.RLock()
    monitor_interval: ClassVar[int] = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for name, value in zip(_POSITIONAL, args):
            kwargs.setdefault(name, value)
        self.iterable: Iterable[Any] | None = kwargs.get("iterable")
        total = kwargs.get("total")
        if total is None and self.iterable is not None:
            try:
                total = len(self.iterable)
            except (TypeError, AttributeError):
                total = None
        if total is not None and total == float("inf"):
            total = None
        self.desc = str(kwargs.get("desc") or "")
        self.leave = kwargs.get("leave", True)
        self.disable = bool(kwargs.get("disable", False))
        unit = str(kwargs.get("unit", "it"))
        self.unit = "" if unit == "it" else unit
        scale = _scale_of(self.unit, kwargs.get("unit_scale", False),
                          kwargs.get("unit_divisor", 1000))
        self.pos = 0
        self._reporter: Reporter | None = None
        self._closed = False
        if self.disable:
            return
        self._reporter = self._open(self.desc, total, self.unit, scale)
        initial = kwargs.get("initial") or 0
        if initial:
            self._reporter.set_completed(initial)
        postfix = kwargs.get("postfix")
        if postfix is not None:
            self._reporter.set_status(_postfix_text(postfix))

    def _open(self, desc: str, total: float | None, unit: str, scale: int) -> Reporter:
        """A sub-task of the task running here (the patched ``tqdm`` only runs in one)."""
        rep = running()
        if rep is None:
            raise RuntimeError("TqdmBar needs a running fanin task; use fanin.tqdm")
        return rep.task(desc, total, unit=unit, scale=scale)

    def _end(self) -> None:
        """Called once by ``close`` after the reporter finished (fanin.tqdm closes its hub)."""

    # -- iteration -----------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        iterable = self.iterable if self.iterable is not None else ()
        rep = self._reporter
        if rep is None:
            yield from iterable
            return
        advance = rep.advance
        try:
            for item in iterable:
                yield item
                advance()
        finally:
            self.close()

    def __len__(self) -> int:
        total = self.total
        if total is not None:
            return int(total)
        return len(self.iterable) if self.iterable is not None else 0  # type: ignore[arg-type]

    def __bool__(self) -> bool:
        return True

    def __enter__(self) -> TqdmBar:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- counts and text -----------------------------------------------------------------
    def update(self, n: float = 1) -> bool | None:
        if self._reporter is not None and not self._closed:
            self._reporter.advance(n)
            return True
        return None

    @property
    def n(self) -> float:
        return self._reporter.completed if self._reporter is not None else 0

    @n.setter
    def n(self, value: float) -> None:
        if self._reporter is not None and not self._closed:
            self._reporter.set_completed(value)

    @property
    def total(self) -> float | None:
        return self._reporter.total if self._reporter is not None else None

    @total.setter
    def total(self, value: float | None) -> None:
        if self._reporter is not None and not self._closed:
            self._reporter.set_total(value)

    def reset(self, total: float | None = None) -> None:
        if self._reporter is not None and not self._closed:
            self._reporter.set_completed(0)
            if total is not None:
                self._reporter.set_total(total)

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = str(desc or "")
        if self._reporter is not None and not self._closed:
            self._reporter.set_description(self.desc)

    set_description_str = set_description

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        fields = dict(ordered_dict or {})
        fields.update(kwargs)
        self.set_postfix_str(_postfix_text(fields))

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        if self._reporter is not None and not self._closed:
            self._reporter.set_status(str(s))

    def refresh(self, *args: Any, **kwargs: Any) -> None: ...
    def clear(self, *args: Any, **kwargs: Any) -> None: ...
    def display(self, *args: Any, **kwargs: Any) -> None: ...
    def unpause(self) -> None: ...

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._reporter is not None:
            self._reporter.finish()
        self._end()

    @classmethod
    def write(cls, s: str, file: Any = None, end: str = "\n", nolock: bool = False) -> None:
        """Print a line above the bars: inside a fanin task it travels like a log line."""
        rep = running()
        channel = getattr(rep, "_channel", None) if file is None else None
        if rep is not None and channel is not None:
            for line in str(s).split("\n"):
                channel.put(LogRecord(rep.task_id, os.getpid(), str(rep._desc), "PRINT", line))
            return
        out = file if file is not None else sys.stdout
        out.write(str(s) + end)

    @classmethod
    def get_lock(cls) -> Any:
        return cls._lock

    @classmethod
    def set_lock(cls, lock: Any) -> None:
        cls._lock = lock

    def __repr__(self) -> str:
        return f"<fanin tqdm {self.desc!r} {self.n}/{self.total}>"
