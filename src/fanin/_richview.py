"""The Rich live view: the only module that touches ``rich.live``.

Runs in: the render thread only (created, drawn and stopped there). Worker text reaches
it already sanitised and is always wrapped in ``rich.text.Text``, never parsed as markup,
so ``[bold]`` or ``[/]`` in a description shows literally.
"""

from __future__ import annotations

import os
from typing import IO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from . import _format as fmt
from ._state import Snapshot, TaskView
from ._wire import CANCELLED, DONE, FAILED, QUEUED, RUNNING, LogRecord

RESERVED_LINES = 6  # 2 header lines, hidden-tasks line, overall bar, a margin for the prompt

_LEVEL_STYLE = {"DEBUG": "dim", "INFO": "cyan", "WARNING": "yellow", "ERROR": "red",
                "CRITICAL": "bold red", "PRINT": ""}


class RichView:
    def __init__(self, file: IO[str] | None = None, console: Console | None = None,
                 header: str | None = None, stall_after: float = 30.0) -> None:
        self.console = console or Console(file=file, highlight=False)
        self.header = header
        self.stall_after = stall_after
        self._live: Live | None = None

    def start(self) -> None:
        self._live = Live(
            console=self.console,
            auto_refresh=False,  # our render thread is the only clock
            transient=False,
            redirect_stdout=False,  # a redirect would write from the caller's thread
            redirect_stderr=False,
            vertical_overflow="crop",
        )
        self._live.start(refresh=False)

    def max_rows(self) -> int:
        return max(1, self.console.size.height - RESERVED_LINES)

    def draw(self, snap: Snapshot, logs: list[LogRecord], final: bool) -> None:
        live = self._live
        if live is None:
            return
        if logs:
            live.console.print(Group(*(_log_text(r) for r in logs)))
        live.update(self.render(snap), refresh=True)

    def stop(self) -> None:
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()

    def summary(self, views: list[TaskView], snap: Snapshot) -> None:
        from ._summary import rich_summary

        self.console.print(rich_summary(views, snap))

    # -- layout ---------------------------------------------------------------------------
    def render(self, snap: Snapshot) -> RenderableType:
        width = self.console.size.width
        desc_width = max(12, min(40, width // 4))
        bar_width = max(10, min(40, width - desc_width - 48))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=desc_width, no_wrap=True, overflow="ellipsis")
        grid.add_column(width=bar_width, no_wrap=True)
        grid.add_column(justify="right", no_wrap=True)
        grid.add_column(justify="right", no_wrap=True)
        grid.add_column(justify="right", no_wrap=True)
        grid.add_column(justify="right", no_wrap=True)
        health = snap.health or {}
        show_health = any(row.pid in health and row.pid != os.getpid() for row in snap.rows)
        if show_health:
            grid.add_column(justify="right", no_wrap=True)
        for row in snap.rows:
            cells = self._task_cells(row, bar_width)
            if show_health:
                h = health.get(row.pid)  # type: ignore[arg-type]
                cells.append(Text(f"{h.cpu:3.0f}% {h.rss / 2**20:4.0f}M", style="dim")  # type: ignore[attr-defined]
                             if h is not None else Text(""))
            grid.add_row(*cells)
        parts: list[RenderableType] = []
        head = _header(self.header, snap)
        if head is not None:
            parts.append(head)
        parts.append(grid)
        others = _others_line(snap)
        if others is not None:
            parts.append(others)
        parts.append(_overall(snap, desc_width, bar_width))
        return Group(*parts)

    def _task_cells(self, t: TaskView, bar_width: int) -> list[RenderableType]:
        stalled = t.status == RUNNING and t.idle >= self.stall_after
        style = "red" if t.status == FAILED else ("yellow" if stalled else "")
        desc = Text(t.description or t.id, style=style)
        if stalled:
            desc = Text.assemble(Text(f"stalled {fmt.duration(t.idle)} ", style="bold yellow"),
                                 desc)
        bar = ProgressBar(total=t.total, completed=t.completed, width=bar_width,
                          pulse=t.total is None)
        total = fmt.count(t.total) if t.total is not None else "?"
        return [
            desc,
            bar,
            Text(f"{fmt.count(t.completed)}/{total}"),
            Text(fmt.rate(t.rate), style="green"),
            Text(f"eta {fmt.duration(t.eta)}", style="cyan"),
            Text(fmt.duration(t.elapsed), style="yellow"),
        ]


def _header(title: str | None, snap: Snapshot) -> Text | None:
    """Title on the first line, psutil health (refreshed ~1/s) on the second."""
    bits = []
    if snap.system_cpu is not None:
        bits.append(f"system cpu {snap.system_cpu:.0f}%")
    health = snap.health or {}
    workers = [h for pid, h in health.items() if pid != os.getpid()]
    if workers:
        rss = sum(h.rss for h in workers) / 2**20  # type: ignore[attr-defined]
        bits.append(f"{len(workers)} worker processes, {rss:,.0f} MB")
    me = health.get(os.getpid())
    if me is not None:
        bits.append(f"main {me.cpu:.0f}% cpu, {me.rss / 2**20:,.0f} MB")  # type: ignore[attr-defined]
    if not title and not bits:
        return None
    head = Text(no_wrap=True, overflow="ellipsis")
    if title:
        head.append(title, style="bold")
    if bits:
        head.append(("\n" if title else "") + " · ".join(bits), style="dim")
    return head


def _others_line(snap: Snapshot) -> Text | None:
    c = snap.counts
    bits = []
    if snap.hidden:
        bits.append(f"… {snap.hidden:,} more running")
    for status, label in ((QUEUED, "queued"), (DONE, "done"), (FAILED, "failed"),
                          (CANCELLED, "cancelled")):
        if c.get(status):
            bits.append(f"{c[status]:,} {label}")
    if not bits:
        return None
    style = "red" if c.get(FAILED) else "dim"
    return Text(" · ".join(bits), style=style)


def _overall(snap: Snapshot, desc_width: int, bar_width: int) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=desc_width, no_wrap=True)
    grid.add_column(width=bar_width, no_wrap=True)
    for _ in range(4):
        grid.add_column(justify="right", no_wrap=True)
    tasks_total = sum(snap.counts.values())
    ended = tasks_total - snap.counts.get(QUEUED, 0) - snap.counts.get(RUNNING, 0)
    if snap.total is not None and snap.total > 0:
        bar = ProgressBar(total=snap.total, completed=snap.completed, width=bar_width)
        amount = f"{fmt.count(snap.completed)}/{fmt.count(snap.total)}"
    else:
        bar = ProgressBar(total=max(1, tasks_total), completed=ended, width=bar_width)
        amount = f"{fmt.count(snap.completed)} items"
    grid.add_row(
        Text(label if len(label := f"overall {ended:,}/{tasks_total:,}") <= desc_width
             else f"{ended:,}/{tasks_total:,}", style="bold"),
        bar,
        Text(amount),
        Text(fmt.rate(snap.rate), style="green"),
        Text(f"eta {fmt.duration(snap.eta)}", style="cyan"),
        Text(fmt.duration(snap.elapsed), style="yellow"),
    )
    return grid


def _log_text(record: LogRecord) -> Text:
    text = Text()
    level = record.level.upper()
    if level != "PRINT":
        text.append(f"{level:<8}", style=_LEVEL_STYLE.get(level, ""))
    text.append(f"[{record.worker}] ", style="dim")
    text.append(record.text)
    return text
