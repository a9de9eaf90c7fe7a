"""Number and duration formatting shared by the live views, the summary and plain output.

Runs in: the render thread and the caller (summary). Pure functions.
"""

from __future__ import annotations

import math


def count(value: float | None) -> str:
    """Exact counts: integers with thousands separators, other values with 1 decimal."""
    if value is None:
        return "?"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def rate(value: float | None, unit: str = "/s") -> str:
    if value is None or not math.isfinite(value):
        return "?" + unit
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.1f}{suffix}{unit}"
    if value >= 10:
        return f"{value:.0f}{unit}"
    return f"{value:.1f}{unit}"


def duration(seconds: float | None) -> str:
    """``h:mm:ss`` (``-:--:--`` when unknown), like rich and tqdm."""
    if seconds is None or not math.isfinite(seconds):
        return "-:--:--"
    seconds = int(seconds)
    if seconds >= 100 * 3600:
        return f"{seconds // 86400}d"
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"


def percent(completed: float, total: float | None) -> str:
    if not total:
        return "  ?%" if total is None else "100%"
    return f"{min(100.0, 100.0 * completed / total):3.0f}%"


_PREFIXES = {1000: ("", "k", "M", "G", "T", "P"), 1024: ("", "Ki", "Mi", "Gi", "Ti", "Pi")}


def amount(value: float | None, unit: str = "", scale: int = 0) -> str:
    """A count in the task's unit: exact (``1,234``, ``1,234 files``) or scaled
    (``11.5 MiB`` for ``unit="B"``, ``11.5k`` with tqdm's decimal ``unit_scale``)."""
    if value is None:
        return "?"
    sep = " " if unit else ""
    if not scale:
        return count(value) + sep + unit
    prefixes = _PREFIXES[scale]
    k = 0
    while abs(value) >= scale and k < len(prefixes) - 1:
        value /= scale
        k += 1
    if k == 0:
        number = f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
        return number + sep + unit
    return f"{value:.1f}{sep}{prefixes[k]}{unit}"


def speed(value: float | None, unit: str = "", scale: int = 0) -> str:
    """A rate in the task's unit: ``9.6 MiB/s``, ``12.0k/s``; items keep :func:`rate`."""
    if not unit and not scale:
        return rate(value)
    if value is None or not math.isfinite(value):
        return f"?{' ' if unit else ''}{unit}/s"
    if not scale:
        return rate(value, f" {unit}/s")
    return amount(value, unit, scale) + "/s"


def progress_text(completed: float, total: float | None, unit: str = "", scale: int = 0) -> str:
    """``3/10``, ``11.5 MiB/50.0 MiB``, ``1,234/? files``: the unit once, at the end when
    the counts are exact."""
    if scale:
        return f"{amount(completed, unit, scale)}/{amount(total, unit, scale)}"
    tail = f" {unit}" if unit else ""
    return f"{count(completed)}/{count(total)}{tail}"
