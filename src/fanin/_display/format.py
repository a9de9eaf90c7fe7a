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
