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

import threading
from typing import IO, TYPE_CHECKING

from .._ingest.state import Snapshot, TaskView
from .._wire import LogRecord
from . import layout

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live
    from rich.text import Text

RESERVED_LINES = layout.RESERVED_LINES


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
        """The frame of ``layout.frame`` as one ``Text`` per line."""
        from rich.console import Group

        lines = layout.frame(snap, self.console.size.width, self.header, self.stall_after,
                             self.overall)
        return Group(*(to_text(line) for line in lines))


def to_text(line: layout.Line) -> Text:
    from rich.text import Text

    text = Text(no_wrap=True, overflow="ellipsis")
    for piece, style in line:
        text.append(piece, style=style)
    return text


def _log_text(record: LogRecord) -> Text:
    from rich.text import Text

    text = Text()
    for piece, style in layout.log_line(record):
        text.append(piece, style=style)
    return text
