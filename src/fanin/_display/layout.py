"""The live display's layout as styled pieces, shared by the Rich view and the ANSI view.

Runs in: the render thread. Pure functions, no Rich: a frame is a list of lines, a line a
list of ``(text, style)`` pieces, where a style is a Rich style name (``"bold red"``,
``"bar.complete"``). ``richview`` turns pieces into ``rich.text.Text``; ``ansiview``
writes them as escape codes itself, so drawing a frame needs no Rich import at all.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from .._ingest.state import Snapshot, TaskView
from .._text import sanitize
from .._wire import CANCELLED, DONE, FAILED, QUEUED, RUNNING, UNFINISHED, LogRecord
from . import format as fmt

Piece = tuple[str, str]
Line = list[Piece]

RESERVED_LINES = 6  # 2 header lines, hidden-tasks line, overall bar, a margin for the prompt

LEVEL_STYLE = {"DEBUG": "dim", "INFO": "cyan", "WARNING": "yellow", "ERROR": "red",
               "CRITICAL": "bold red", "PRINT": ""}


# One-cell characters the layout itself draws: bar glyphs, the ellipsis, the separator dot.
_NARROW = "━╸╺…·"


def cell_len(text: str) -> int:
    """Terminal cells: East Asian wide and fullwidth characters take two, combining marks
    none (what Rich's ``cell_len`` counts, for the characters a sanitised text can hold)."""
    if text.isascii():
        return len(text)
    rest = text
    for ch in _NARROW:  # a bar's glyph run, or a line holding one: skip the per-char walk
        if ch in rest:
            rest = rest.replace(ch, "")
    if rest.isascii():
        return len(text)
    return _wide_len(text)


@functools.lru_cache(maxsize=4096)
def _wide_len(text: str) -> int:
    """Cached: a frame's non-ASCII pieces are mostly bar glyph runs and descriptions that
    repeat frame after frame (measured: ~10% of the render thread's time uncached).
    ``unicodedata`` is imported here, on the first text that needs it: ~1.2 ms a run whose
    text is all ASCII and bar glyphs never pays (issue 13)."""
    import unicodedata

    n = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        n += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return n


def frame(snap: Snapshot, width: int, header: str | None, stall_after: float,
          overall: bool) -> list[Line]:
    """One line per row, laid out by hand.

    Measured: a ``Table.grid`` of ``ProgressBar`` cells cost ~0.3 ms per row per frame
    (18 ms for 64 rows), most of it in column measurement; plain text lines cost a
    fraction of that, which is what keeps the main process cheap at 10 Hz.
    """
    desc_width = max(12, min(32, width // 5))
    health = snap.health or {}
    me = os.getpid()
    show_health = any(row.pid in health and row.pid != me for row in snap.rows)
    cells = [_task_cells(row, health if show_health else None) for row in snap.rows]
    blank: list[Any] = ["", "", "", "", "", "", 0.0, None]
    totals = _overall_cells(snap, desc_width) if overall else blank
    cols = [max([len(c[i]) for c in cells] + [len(totals[i])]) for i in range(5)]
    note_width = min(24, max((len(r.note) + 1 for r in snap.rows if r.note), default=0))
    fixed = desc_width + sum(cols) + 6 + (11 if show_health else 0) + note_width
    bar_width = max(10, min(40, width - fixed))
    lines: list[Line] = _header(header, snap)
    for row, c in zip(snap.rows, cells):
        name = row.description or row.id
        if row.attempt:  # a rerun (e.g. Dask after a worker died) restarts its progress
            name = f"{name} (attempt {row.attempt + 1})"
        name = "  " * row.depth + name  # sub-tasks and nested loops, indented
        lines.append(_line(name, c, cols, desc_width, bar_width, row.completed, row.total,
                           row, snap.now, stall_after))
    others = _others_line(snap, counts=overall)
    if others is not None:
        lines.append(others)
    if overall:
        lines.append(_line(totals[5], totals, cols, desc_width, bar_width, totals[6],
                           totals[7], None, snap.now, stall_after))
    return lines


def log_line(record: LogRecord) -> Line:
    level = record.level.upper()
    if level == "OUTPUT":  # the main process's own print()/stdout/stderr: as written
        return [(record.text, "")]
    out: Line = []
    if level != "PRINT":
        out.append((f"{level:<8}", LEVEL_STYLE.get(level, "")))
    out.append((f"[{record.worker}] ", "dim"))
    out.append((record.text, ""))
    return out


def _task_cells(t: TaskView, health: dict[int, object] | None) -> list[Any]:
    h = health.get(t.pid) if health is not None and t.pid is not None else None
    return [
        fmt.progress_text(t.completed, t.total, t.unit, t.scale),
        fmt.speed(t.rate, t.unit, t.scale),
        f"eta {fmt.duration(t.eta)}",
        fmt.duration(t.elapsed),
        (f"{h.cpu:3.0f}% {h.rss / 2**20:4.0f}M" if h is not None else "")  # type: ignore[attr-defined]
        if health is not None else "",
    ]


def _line(desc: str, c: list[Any], cols: list[int], desc_width: int, bar_width: int,
          completed: float, total: float | None, t: TaskView | None, now: float,
          stall_after: float) -> Line:
    line: Line = []
    style = "bold" if t is None else ""
    if t is not None:
        stalled = t.status == RUNNING and t.idle >= stall_after
        if t.status == FAILED:
            style = "red"
        elif stalled:
            prefix = f"stalled {fmt.duration(t.idle)} "
            line.append((prefix, "bold yellow"))
            desc = desc[: max(0, desc_width - len(prefix))]
            desc_width -= len(prefix)
            style = "yellow"
    if len(desc) > desc_width:
        desc = desc[: desc_width - 1] + "…"
    line.append((desc.ljust(desc_width), style))
    line.append((" ", ""))
    _bar(line, completed, total, bar_width, now)
    line.append((" " + c[0].rjust(cols[0]) + " ", ""))
    line.append((c[1].rjust(cols[1]), "green"))
    line.append((" ", ""))
    line.append((c[2].rjust(cols[2]), "cyan"))
    line.append((" ", ""))
    line.append((c[3].rjust(cols[3]), "yellow"))
    if c[4]:
        line.append((" ", ""))
        line.append((c[4].rjust(cols[4]), "dim"))
    if t is not None and t.note:
        line.append((" ", ""))
        line.append((t.note, "magenta"))
    return line


def _bar(line: Line, completed: float, total: float | None, width: int, now: float) -> None:
    """The same glyphs and theme styles as ``rich.progress_bar.ProgressBar``."""
    if total is None or total <= 0:
        if total is not None:  # total 0: nothing to do, so complete
            line.append(("━" * width, "bar.finished"))
            return
        pos = int(now * 15) % (width + 8)  # a moving pulse for unknown totals
        cells = ["━" if 0 <= i - pos + 8 < 8 else " " for i in range(width)]
        line.append(("".join(cells), "bar.pulse"))
        return
    halves = int(width * 2 * max(0.0, min(1.0, completed / total)))
    full, half = divmod(halves, 2)
    done_style = "bar.finished" if completed >= total else "bar.complete"
    line.append(("━" * full + ("╸" if half else ""), done_style))
    remaining = width - full - half
    if remaining:
        back = ("╺" + "━" * (remaining - 1)) if (not half and full) else "━" * remaining
        line.append((back, "bar.back"))


def _header(title: str | None, snap: Snapshot) -> list[Line]:
    """Title on the first line, health (refreshed ~1/s) on the second."""
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
    lines: list[Line] = []
    if title:
        lines.append([(sanitize(title), "bold")])  # one screen row: no newline, no escapes
    if bits:
        lines.append([(" · ".join(bits), "dim")])
    return lines


def _others_line(snap: Snapshot, counts: bool = True) -> Line | None:
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
    return [(" · ".join(bits), "red" if c.get(FAILED) else "dim")]


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
