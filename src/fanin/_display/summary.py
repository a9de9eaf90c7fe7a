"""The end-of-run summary: per task status, items, duration, rate; totals; failures first.

Runs in: the render thread, after the live display has stopped (so it is drawn by the one
thread that draws). Pure functions from task views to a Rich table or plain text.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from .._ingest.state import Snapshot, TaskView
from .._wire import CANCELLED, DONE, FAILED, QUEUED, RUNNING, UNFINISHED
from . import format as fmt

MAX_ROWS = 30  # task rows listed; failures always come first
_ORDER = {FAILED: 0, CANCELLED: 1, UNFINISHED: 2, RUNNING: 3, QUEUED: 4, DONE: 5}
_STYLE = {FAILED: "bold red", CANCELLED: "yellow", UNFINISHED: "yellow", RUNNING: "cyan",
          QUEUED: "dim", DONE: "green"}


def ordered(views: list[TaskView]) -> list[TaskView]:
    return sorted(views, key=lambda v: _ORDER.get(v.status, 5))


def totals_line(views: list[TaskView], snap: Snapshot) -> str:
    counts: dict[str, int] = {DONE: snap.folded}  # done tasks no longer listed one by one
    for v in views:
        counts[v.status] = counts.get(v.status, 0) + 1
    parts = [f"{counts[s]} {s}" for s in (DONE, FAILED, CANCELLED, UNFINISHED, RUNNING, QUEUED)
             if counts.get(s)]
    rate = snap.completed / snap.elapsed if snap.elapsed > 0 else None
    return (f"{fmt.count(snap.completed)} items in {snap.elapsed:.2f} s "
            f"({fmt.rate(rate, ' items/s')}) · {len(views) + snap.folded} tasks: "
            + ", ".join(parts))


def rich_summary(views: list[TaskView], snap: Snapshot, max_rows: int = MAX_ROWS) -> Table:
    table = Table(title="fanin summary", title_justify="left", caption=totals_line(views, snap),
                  caption_justify="left", expand=False)
    table.add_column("task", no_wrap=True, max_width=40, overflow="ellipsis")
    table.add_column("status")
    table.add_column("items", justify="right")
    table.add_column("duration", justify="right")
    table.add_column("rate", justify="right")
    table.add_column("error", max_width=60, overflow="ellipsis")
    rows = ordered(views)
    for v in rows[:max_rows]:
        table.add_row(
            Text(v.description or v.id),
            Text(v.status, style=_STYLE.get(v.status, "")),
            Text(_items(v)),
            Text(f"{v.elapsed:.2f} s"),
            Text(fmt.speed(v.rate, v.unit, v.scale)),
            Text(v.error or "", style="red"),
        )
    more = len(rows) + snap.folded - max_rows
    if more > 0:
        table.add_row(Text(f"… {more:,} more tasks", style="dim"), "", "", "", "", "")
    return table


def plain_summary(views: list[TaskView], snap: Snapshot, max_rows: int = MAX_ROWS) -> str:
    rows = ordered(views)
    lines = ["fanin summary: " + totals_line(views, snap)]
    for v in rows[:max_rows]:
        line = (f"  {v.status:<9} {v.description or v.id}: {_items(v)} items in "
                f"{v.elapsed:.2f} s ({fmt.speed(v.rate, v.unit, v.scale)})")
        if v.error:
            line += f" {v.error}"
        lines.append(line)
    more = len(rows) + snap.folded - max_rows
    if more > 0:
        lines.append(f"  ... {more:,} more tasks")
    return "\n".join(lines)


def _items(v: TaskView) -> str:
    if v.total is None:
        return fmt.amount(v.completed, v.unit, v.scale)
    return fmt.progress_text(v.completed, v.total, v.unit, v.scale)
