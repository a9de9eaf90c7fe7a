"""The end-of-run summary: per task status, items, duration, rate; totals; failures first.

Runs in: the render thread, after the live display has stopped (so it is drawn by the one
thread that draws). Pure functions from task views to a Rich table or plain text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._ingest.state import Snapshot, TaskView
from .._wire import CANCELLED, DONE, FAILED, QUEUED, RUNNING, UNFINISHED
from . import format as fmt

if TYPE_CHECKING:
    from rich.console import Group

MAX_ROWS = 30  # task rows listed; failures always come first
_ORDER = {FAILED: 0, CANCELLED: 1, UNFINISHED: 2, RUNNING: 3, QUEUED: 4, DONE: 5}
_STYLE = {FAILED: "bold red", CANCELLED: "yellow", UNFINISHED: "yellow", RUNNING: "cyan",
          QUEUED: "dim", DONE: "green"}


def ordered(views: list[TaskView]) -> list[TaskView]:
    return sorted(views, key=lambda v: _ORDER.get(v.status, 5))


def totals_line(views: list[TaskView], snap: Snapshot) -> str:
    counts: dict[str, int] = {}
    for v in views:
        counts[v.status] = counts.get(v.status, 0) + 1
    parts = [f"{counts[s]} {s}" for s in (DONE, FAILED, CANCELLED, UNFINISHED, RUNNING, QUEUED)
             if counts.get(s)]
    rate = snap.completed / snap.elapsed if snap.elapsed > 0 else None
    return (f"{fmt.count(snap.completed)} items in {snap.elapsed:.2f} s "
            f"({fmt.rate(rate, ' items/s')}) · {len(views)} tasks: " + ", ".join(parts))


def rich_summary(views: list[TaskView], snap: Snapshot, max_rows: int = MAX_ROWS) -> Group:
    """The summary as Rich text lines laid out here: a borderless grid of columns.

    Why not ``rich.table.Table``: its import and first layout pass (column measurement
    per cell) cost ~10 ms of the main process's CPU at the end of every run, measured in
    a fresh process, where this costs well under 1 ms. Cells are measured in terminal
    cells (wide characters count double), long task names and errors end in an ellipsis.
    """
    from rich.console import Group
    from rich.text import Text

    rows = ordered(views)
    shown = rows[:max_rows]
    cells = [[v.description or v.id, v.status, _items(v), f"{v.elapsed:.2f} s",
              fmt.speed(v.rate, v.unit, v.scale), v.error or ""] for v in shown]
    head = ["task", "status", "items", "duration", "rate", "error"]
    errors = any(c[5] for c in cells)
    ncols = 6 if errors else 5
    limits = (40, 0, 0, 0, 0, 60)
    widths = []
    for i in range(ncols):
        w = max([cell_len(head[i])] + [cell_len(c[i]) for c in cells])
        widths.append(min(w, limits[i]) if limits[i] else w)
    lines: list[Text] = [Text("fanin summary", style="italic")]

    def line(values: list[str], styles: list[str]) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        for i in range(ncols):
            cell = Text(values[i], style=styles[i])
            if cell.cell_len > widths[i]:
                cell.truncate(widths[i], overflow="ellipsis")
            pad = " " * (widths[i] - cell.cell_len)
            if i:
                out.append("  ")
            if i in (2, 3, 4):  # numbers: right-aligned
                out.append(pad)
                out.append_text(cell)
            else:
                out.append_text(cell)
                if i != ncols - 1:
                    out.append(pad)
        out.rstrip()
        return out

    lines.append(line(head, ["bold"] * 6))
    for v, c in zip(shown, cells):
        lines.append(line(c, ["", _STYLE.get(v.status, ""), "", "", "", "red"]))
    if len(rows) > max_rows:
        lines.append(Text(f"… {len(rows) - max_rows:,} more tasks", style="dim"))
    lines.append(Text(totals_line(views, snap), style="dim"))
    return Group(*lines)


def cell_len(text: str) -> int:
    from rich.cells import cell_len as _cell_len

    return _cell_len(text)


def plain_summary(views: list[TaskView], snap: Snapshot, max_rows: int = MAX_ROWS) -> str:
    rows = ordered(views)
    lines = ["fanin summary: " + totals_line(views, snap)]
    for v in rows[:max_rows]:
        line = (f"  {v.status:<9} {v.description or v.id}: {_items(v)} items in "
                f"{v.elapsed:.2f} s ({fmt.speed(v.rate, v.unit, v.scale)})")
        if v.error:
            line += f" {v.error}"
        lines.append(line)
    if len(rows) > max_rows:
        lines.append(f"  ... {len(rows) - max_rows:,} more tasks")
    return "\n".join(lines)


def _items(v: TaskView) -> str:
    if v.total is None:
        return fmt.amount(v.completed, v.unit, v.scale)
    return fmt.progress_text(v.completed, v.total, v.unit, v.scale)
