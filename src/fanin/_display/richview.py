"""The Rich live view: the only module that touches ``rich.live``.

Runs in: the render thread only (created, drawn and stopped there). Worker text reaches
it already sanitised and is always wrapped in ``rich.text.Text``, never parsed as markup,
so ``[bold]`` or ``[/]`` in a description shows literally.

Rich is imported when the view starts, on the render thread, not when the view is chosen
(issue 13): its import is ~27 ms of CPU, and done in ``Hub.start`` it delayed the first
job by as much; on the render thread it overlaps the pool's start. The console is made on
first use (``start``, or ``hub.console`` reading its width), under a lock.
"""

from __future__ import annotations

import os
import threading
from typing import IO, TYPE_CHECKING, Any

from .._ingest.state import Snapshot, TaskView
from .._wire import CANCELLED, DONE, FAILED, QUEUED, RUNNING, UNFINISHED, LogRecord
from . import format as fmt

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live
    from rich.text import Text

RESERVED_LINES = 6  # 2 header lines, hidden-tasks line, overall bar, a margin for the prompt

_LEVEL_STYLE = {"DEBUG": "dim", "INFO": "cyan", "WARNING": "yellow", "ERROR": "red",
                "CRITICAL": "bold red", "PRINT": ""}


class RichView:
    def __init__(self, file: IO[str] | None = None, console: Console | None = None,
                 header: str | None = None, stall_after: float = 30.0, overall: bool = True,
                 transient: bool = False) -> None:
        self._console = console
        self._file = file
        self._console_lock = threading.Lock()
        self.header = header
        self.stall_after = stall_after
        self.overall = overall  # False: no overall bar and no task-count line (fanin.track)
        self.transient = transient  # remove the bars when the display stops
        self._live: Live | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            with self._console_lock:
                if self._console is None:
                    from rich.console import Console

                    self._console = Console(file=self._file, highlight=False)
        return self._console

    def start(self) -> None:
        from rich.live import Live

        self._live = Live(
            console=self.console,
            auto_refresh=False,  # our render thread is the only clock
            transient=self.transient,
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
            from rich.console import Group

            # Above the bars, and so into the scrollback: worker logs, and the main
            # process's own prints and log records (redirected while we draw).
            live.console.print(Group(*(_log_text(r) for r in logs)), soft_wrap=True)
        live.update(self.render(snap), refresh=True)

    def stop(self) -> None:
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()

    def summary(self, views: list[TaskView], snap: Snapshot) -> None:
        from .summary import rich_summary

        self.console.print(rich_summary(views, snap))

    # -- layout ---------------------------------------------------------------------------
    def render(self, snap: Snapshot) -> RenderableType:
        """One ``Text`` line per row, laid out by hand.

        Measured: a ``Table.grid`` of ``ProgressBar`` cells cost ~0.3 ms per row per frame
        (18 ms for 64 rows), most of it in column measurement; plain text lines cost a
        fraction of that, which is what keeps the main process cheap at 10 Hz.
        """
        from rich.console import Group

        width = self.console.size.width
        desc_width = max(12, min(32, width // 5))
        health = snap.health or {}
        me = os.getpid()
        show_health = any(row.pid in health and row.pid != me for row in snap.rows)
        cells = [self._task_cells(row, health if show_health else None) for row in snap.rows]
        blank: list[Any] = ["", "", "", "", "", "", 0.0, None]
        overall = _overall_cells(snap, desc_width) if self.overall else blank
        cols = [max([len(c[i]) for c in cells] + [len(overall[i])]) for i in range(5)]
        note_width = min(24, max((len(r.note) + 1 for r in snap.rows if r.note), default=0))
        fixed = desc_width + sum(cols) + 6 + (11 if show_health else 0) + note_width
        bar_width = max(10, min(40, width - fixed))
        lines: list[RenderableType] = []
        head = _header(self.header, snap)
        if head is not None:
            lines.append(head)
        for row, c in zip(snap.rows, cells):
            name = row.description or row.id
            if row.attempt:  # a rerun (e.g. Dask after a worker died) restarts its progress
                name = f"{name} (attempt {row.attempt + 1})"
            name = "  " * row.depth + name  # sub-tasks and nested loops, indented
            lines.append(self._line(name, c, cols, desc_width, bar_width,
                                    row.completed, row.total, row, snap.now))
        others = _others_line(snap, counts=self.overall)
        if others is not None:
            lines.append(others)
        if self.overall:
            lines.append(self._line(overall[5], overall, cols, desc_width, bar_width,
                                    overall[6], overall[7], None, snap.now))
        return Group(*lines)

    def _task_cells(self, t: TaskView, health: dict[int, object] | None) -> list[Any]:
        h = health.get(t.pid) if health is not None and t.pid is not None else None
        return [
            fmt.progress_text(t.completed, t.total, t.unit, t.scale),
            fmt.speed(t.rate, t.unit, t.scale),
            f"eta {fmt.duration(t.eta)}",
            fmt.duration(t.elapsed),
            (f"{h.cpu:3.0f}% {h.rss / 2**20:4.0f}M" if h is not None else "")  # type: ignore[attr-defined]
            if health is not None else "",
        ]

    def _line(self, desc: str, c: list[Any], cols: list[int], desc_width: int, bar_width: int,
              completed: float, total: float | None, t: TaskView | None, now: float) -> Text:
        from rich.text import Text

        line = Text(no_wrap=True, overflow="ellipsis")
        style = "bold" if t is None else ""
        if t is not None:
            stalled = t.status == RUNNING and t.idle >= self.stall_after
            if t.status == FAILED:
                style = "red"
            elif stalled:
                prefix = f"stalled {fmt.duration(t.idle)} "
                line.append(prefix, style="bold yellow")
                desc = desc[: max(0, desc_width - len(prefix))]
                desc_width -= len(prefix)
                style = "yellow"
        if len(desc) > desc_width:
            desc = desc[: desc_width - 1] + "…"
        line.append(desc.ljust(desc_width), style=style)
        line.append(" ")
        _bar(line, completed, total, bar_width, now)
        line.append(" ")
        line.append(c[0].rjust(cols[0]))
        line.append(" ")
        line.append(c[1].rjust(cols[1]), style="green")
        line.append(" ")
        line.append(c[2].rjust(cols[2]), style="cyan")
        line.append(" ")
        line.append(c[3].rjust(cols[3]), style="yellow")
        if c[4]:
            line.append(" ")
            line.append(c[4].rjust(cols[4]), style="dim")
        if t is not None and t.note:
            line.append(" ")
            line.append(t.note, style="magenta")
        return line


def _bar(line: Text, completed: float, total: float | None, width: int, now: float) -> None:
    """The same glyphs and theme styles as ``rich.progress_bar.ProgressBar``."""
    if total is None or total <= 0:
        if total is not None:  # total 0: nothing to do, so complete
            line.append("━" * width, style="bar.finished")
            return
        pos = int(now * 15) % (width + 8)  # a moving pulse for unknown totals
        cells = ["━" if 0 <= i - pos + 8 < 8 else " " for i in range(width)]
        line.append("".join(cells), style="bar.pulse")
        return
    halves = int(width * 2 * max(0.0, min(1.0, completed / total)))
    full, half = divmod(halves, 2)
    done_style = "bar.finished" if completed >= total else "bar.complete"
    line.append("━" * full + ("╸" if half else ""), style=done_style)
    remaining = width - full - half
    if remaining:
        back = ("╺" + "━" * (remaining - 1)) if (not half and full) else "━" * remaining
        line.append(back, style="bar.back")


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
    from rich.text import Text

    head = Text(no_wrap=True, overflow="ellipsis")
    if title:
        head.append(title, style="bold")
    if bits:
        head.append(("\n" if title else "") + " · ".join(bits), style="dim")
    return head


def _others_line(snap: Snapshot, counts: bool = True) -> Text | None:
    c = snap.counts
    bits = []
    if snap.hidden:
        bits.append(f"… {snap.hidden:,} more running")
    for status, label in ((QUEUED, "queued"), (DONE, "done"), (FAILED, "failed"),
                          (CANCELLED, "cancelled"), (UNFINISHED, "unfinished")):
        if counts and c.get(status):
            bits.append(f"{c[status]:,} {label}")
    if not bits:
        return None
    style = "red" if c.get(FAILED) else "dim"
    from rich.text import Text

    return Text(" · ".join(bits), style=style)


def _overall_cells(snap: Snapshot, desc_width: int) -> list[Any]:
    tasks_total = sum(snap.counts.values())
    ended = tasks_total - snap.counts.get(QUEUED, 0) - snap.counts.get(RUNNING, 0)
    if snap.total is not None and snap.total > 0:
        amount, done, total = (f"{fmt.count(snap.completed)}/{fmt.count(snap.total)}",
                               snap.completed, snap.total)
    else:  # some totals unknown: the bar counts tasks instead
        amount, done, total = f"{fmt.count(snap.completed)} items", ended, max(1, tasks_total)
    finished = snap.counts.get(DONE, 0)  # what completed, not what merely ended (item 30)
    label = f"overall {finished:,}/{tasks_total:,}"
    if len(label) > desc_width:
        label = f"{finished:,}/{tasks_total:,}"
    return [amount, fmt.rate(snap.rate), f"eta {fmt.duration(snap.eta)}",
            fmt.duration(snap.elapsed), "", label, done, total]


def _log_text(record: LogRecord) -> Text:
    from rich.text import Text

    text = Text()
    level = record.level.upper()
    if level == "OUTPUT":  # the main process's own print()/stdout/stderr: as written
        text.append(record.text)
        return text
    if level != "PRINT":
        text.append(f"{level:<8}", style=_LEVEL_STYLE.get(level, ""))
    text.append(f"[{record.worker}] ", style="dim")
    text.append(record.text)
    return text
