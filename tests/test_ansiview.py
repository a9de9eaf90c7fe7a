"""fanin's own terminal view on a terminal emulator: the same text as Rich's, changed lines only.

``AnsiView`` draws the live bars without Rich (issue 13). These tests feed what it writes to
pyte (a VT100 emulator) and compare the screen with what ``RichView`` renders for the same
snapshot, frame after frame, with logs above the bars, shrinking and growing blocks, cropping
at the terminal's width and the cursor's state at the end.
"""

from __future__ import annotations

import io

import pyte
import pytest
from rich.console import Console

from fanin._display.ansiview import AnsiView, Palette, color_system, encode
from fanin._display.richview import RichView
from fanin._ingest.state import ProgressState
from fanin._wire import LogRecord, Report

COLS, ROWS = 100, 30


class Term(io.StringIO):
    """A terminal-like file: what is written goes to a pyte screen (LF as CR LF, as a tty)."""

    def __init__(self, cols: int = COLS, rows: int = ROWS) -> None:
        super().__init__()
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.Stream(self.screen)

    def write(self, s: str) -> int:
        self.stream.feed(s.replace("\n", "\r\n"))
        return super().write(s)

    def isatty(self) -> bool:
        return True

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]


@pytest.fixture(autouse=True)
def _size(monkeypatch):
    monkeypatch.setenv("COLUMNS", str(COLS))
    monkeypatch.setenv("LINES", str(ROWS))


def rich_text(snap, width=COLS) -> list[str]:
    console = Console(file=io.StringIO(), force_terminal=True, width=width, height=ROWS,
                      color_system=None, legacy_windows=False)
    console.print(RichView(console=console).render(snap))
    return [line.rstrip() for line in console.file.getvalue().splitlines()]


def block(term: Term, n: int) -> list[str]:
    """The n lines above the cursor (the live block)."""
    y = term.screen.cursor.y
    return term.lines()[y - n:y]


def test_frames_match_rich_line_for_line_and_unchanged_lines_are_not_rewritten():
    # A fixed clock: with the real one, a slow machine ticks a rate or an elapsed column
    # of the unchanged row between frames, and it is rightly rewritten.
    st = ProgressState(clock=lambda: 100.0)
    term = Term()
    view = AnsiView(term, header="title")
    view.start()
    for k in range(5):
        st.apply(Report("a", k + 1, 10 * k, 100, "alpha", "running", None, 1))
        st.apply(Report("b", 1, 7, 100, "beta stays", "running", None, 1))
        snap = st.snapshot(max_rows=view.max_rows())
        view.draw(snap, [], False)
        expected = rich_text(snap)
        assert block(term, len(expected)) == expected, k
    # a frame where only one row moved rewrites that row, not the others
    before = term.getvalue()
    st.apply(Report("a", 99, 90, 100, "alpha", "running", None, 1))
    view.draw(st.snapshot(max_rows=view.max_rows()), [], False)
    written = term.getvalue()[len(before):]
    assert "alpha" in written and "beta stays" not in written
    view.stop()
    assert not term.screen.cursor.hidden


def test_logs_go_above_the_bars_and_the_block_grows_and_shrinks_cleanly():
    st = ProgressState()
    term = Term()
    view = AnsiView(term)
    view.start()
    for i in range(4):
        st.apply(Report(f"t{i}", 1, 1, 10, f"task {i}", "running", None, 1))
        snap = st.snapshot(max_rows=view.max_rows())
        logs = [LogRecord(None, 1, f"w{i}", "WARNING", f"message {i}")]
        view.draw(snap, logs, False)
    for i in range(3):  # three tasks end: the block shrinks
        st.apply(Report(f"t{i}", 2, 10, 10, f"task {i}", "done", None, 1))
    snap = st.snapshot(max_rows=view.max_rows())
    view.draw(snap, [], True)
    view.stop()
    screen = term.lines()
    expected = rich_text(snap)
    assert block(term, len(expected)) == expected
    logs = [line for line in screen if "message" in line]
    assert logs == [f"WARNING [w{i}] message {i}" for i in range(4)]
    assert screen.index(logs[-1]) < term.screen.cursor.y - len(expected)
    assert not any("task 0" in line for line in screen[term.screen.cursor.y:])  # no leftovers


def test_lines_are_cropped_to_the_width_with_an_ellipsis_counting_wide_characters():
    palette = Palette(None)
    assert encode([("abcdef", "")], palette, 4) == "abc…"
    # wide characters take two cells; the ellipsis keeps the cropped piece's style, as in Rich
    assert encode([("漢字漢字", "bold"), ("x", "")], palette, 5) == "\x1b[1m漢字\x1b[0m\x1b[1m…\x1b[0m"
    assert encode([("fits", "green")], Palette("standard"), 4) == "\x1b[32mfits\x1b[0m"
    st = ProgressState()
    st.apply(Report("a", 1, 1, 2, "漢字 " * 30, "running", None, 1))
    term = Term(cols=60)
    view = AnsiView(term)
    view.start()
    view.draw(st.snapshot(), [], True)
    view.stop()
    assert all(len(line) <= 60 for line in term.lines())


def test_no_color_keeps_attributes_and_drops_colours(monkeypatch):
    assert color_system({"NO_COLOR": "1", "COLORTERM": "truecolor"}) is None
    assert color_system({"COLORTERM": "truecolor"}) == "truecolor"
    assert color_system({"TERM": "xterm-256color"}) == "256"
    assert color_system({"TERM": "xterm"}) == "standard"
    palette = Palette(None)
    assert palette.sgr("bold red") == "\x1b[1m" and palette.sgr("bar.complete") == ""


def test_transient_erases_the_bars_and_summary_follows_the_last_frame():
    st = ProgressState()
    st.apply(Report("a", 1, 5, 5, "gone soon", "done", None, 1))
    term = Term()
    view = AnsiView(term, transient=True)
    view.start()
    view.draw(st.snapshot(), [], True)
    view.stop()
    assert not any("gone soon" in line for line in term.lines())
    view.summary(st.all_views(), st.snapshot())
    text = term.lines()
    assert any(line.startswith("fanin summary") for line in text)
    assert any("gone soon" in line and "done" in line for line in text)


def test_a_title_with_a_newline_stays_one_row():
    """A title is user text: a newline in it would make the block one row taller than the view
    counts, and every redraw would leave a stale line behind."""
    term = Term()
    view = AnsiView(term, header="Run 7\nstage A")
    view.start()
    st = ProgressState()
    st.apply(Report("a", 1, 1, 10, "job", "running", None, 1))
    view.draw(st.snapshot(), [], False)
    st.apply(Report("a", 2, 3, 10, "job", "running", None, 1))
    view.draw(st.snapshot(), [LogRecord(None, 1, "w", "INFO", "a log line")], False)
    view.stop()
    text = [line for line in term.lines() if line]
    assert text[0].endswith("a log line") and text[1] == "Run 7 stage A", text
    assert sum("Run 7" in line for line in text) == 1, text


def test_a_terminal_that_is_not_utf8_gets_richs_view():
    import io as _io

    from fanin._display.choose import draws_itself

    class Latin1Tty(_io.TextIOWrapper):
        def isatty(self) -> bool:
            return True

    tty = Latin1Tty(_io.BytesIO(), encoding="latin-1")
    utf = Latin1Tty(_io.BytesIO(), encoding="utf-8")
    assert not draws_itself(tty) and draws_itself(utf)


def test_cell_len_shortcut_for_the_layouts_own_glyphs_agrees_with_the_full_count():
    from fanin._display.layout import _wide_len, cell_len

    for text in ("━" * 40, "━" * 12 + "╸", "╺" + "━" * 9, "job 1 ━━╸╺━━ 3/10 · 2 done …",
                 "漢字 ━━━", "e\u0301 ━", "ｆｕｌｌ", "plain ascii", ""):
        assert cell_len(text) == _wide_len(text), text


def test_a_frame_reads_the_terminal_size_once():
    st = ProgressState()
    st.apply(Report("a", 1, 1, 10, "alpha", "running", None, 1))
    view = AnsiView(Term())
    calls = []
    real = view.size
    view.size = lambda: calls.append(1) or real()  # type: ignore[method-assign]
    view.start()
    view.draw(st.snapshot(max_rows=view.max_rows()), [], False)  # as the render thread does
    assert len(calls) == 1
    view.draw(st.snapshot(), [], False)  # a draw on its own still reads it
    assert len(calls) == 2
    view.stop()
