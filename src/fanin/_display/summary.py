"""The end-of-run summary: per task status, items, duration, rate; totals; failures first.

Runs in: the render thread, after the live display has stopped (so it is drawn by the one
thread that draws). Pure functions from task views to styled lines (drawn by the ANSI or
the Rich view) or plain text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._ingest.state import Snapshot, TaskView
from .._wire import CANCELLED, DONE, FAILED, QUEUED, RUNNING, UNFINISHED
from . import format as fmt
from .layout import Line, cell_len

if TYPE_CHECKING:
    from rich.console import Group

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


def summary_lines(views: list[TaskView], snap: Snapshot, max_rows: int = MAX_ROWS
                  ) -> list[Line]:
    """The summary as styled lines laid out here: a borderless grid of columns.

    Why not ``rich.table.Table``: its import and first layout pass (column measurement
    per cell) cost ~10 ms of the main process's CPU at the end of every run, measured in
    a fresh process, where this costs well under 1 ms. Cells are measured in terminal
    cells (wide characters count double); long task names and errors end in an ellipsis.
    """
    rows = ordered(views)
    shown = rows[:max_rows]
    cells = [[v.description or v.id, v.status, _items(v), f"{v.elapsed:.2f} s",
              fmt.speed(v.rate, v.unit, v.scale), v.error or ""] for v in shown]
    head = ["task", "status", "items", "duration", "rate", "error"]
    ncols = 6 if any(c[5] for c in cells) else 5
    limits = (40, 0, 0, 0, 0, 60)
    widths = []
    for i in range(ncols):
        w = max([cell_len(head[i])] + [cell_len(c[i]) for c in cells])
        widths.append(min(w, limits[i]) if limits[i] else w)

    def line(values: list[str], styles: list[str]) -> Line:
        out: Line = []
        for i in range(ncols):
            value = values[i]
            if cell_len(value) > widths[i]:
                value = _crop(value, widths[i] - 1) + "…"
            pad = " " * (widths[i] - cell_len(value))
            if i:
                out.append(("  ", ""))
            if i in (2, 3, 4):  # numbers: right-aligned
                out.append((pad, ""))
                out.append((value, styles[i]))
            else:
                out.append((value, styles[i]))
                if i != ncols - 1:
                    out.append((pad, ""))
        while out and not out[-1][0].strip():
            out.pop()
        return out

    lines: list[Line] = [[("fanin summary", "italic")], line(head, ["bold"] * 6)]
    for v, c in zip(shown, cells):
        lines.append(line(c, ["", _STYLE.get(v.status, ""), "", "", "", "red"]))
    more = len(rows) + snap.folded - max_rows
    if more > 0:
        lines.append([(f"… {more:,} more tasks", "dim")])
    lines.append([(totals_line(views, snap), "dim")])
    return lines


def rich_summary(views: list[TaskView], snap: Snapshot, max_rows: int = MAX_ROWS) -> Group:
    """``summary_lines`` as Rich ``Text`` lines (the Rich view's summary)."""
    from rich.console import Group
    from rich.text import Text

    texts = []
    for line in summary_lines(views, snap, max_rows):
        text = Text(no_wrap=True, overflow="ellipsis")
        for piece, style in line:
            text.append(piece, style=style)
        texts.append(text)
    return Group(*texts)


def _crop(text: str, cells: int) -> str:
    out, used = [], 0
    for ch in text:
        n = cell_len(ch)
        if used + n > cells:
            break
        out.append(ch)
        used += n
    return "".join(out)


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
