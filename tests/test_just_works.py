"""Existing code just works under fanin (issue 11): main-thread prints and logging above the
bars, nested loops, tqdm inside workers, a quiet track, dumb terminals, an off switch,
units and status text, reporters left open, and the small fixes.

Terminal-level tests run a script on a real pseudo-terminal and read the screen (and its
scrollback) through pyte, as a user would see it.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import struct
import subprocess
import sys
import termios
import textwrap
import threading
import time
from pathlib import Path

import pyte
import pytest
import workers
from rich.console import Console

import fanin
from fanin._display.richview import RichView
from fanin._ingest.state import ProgressState
from fanin._wire import Report

pytestmark = pytest.mark.timeout(120)

TESTS = Path(__file__).resolve().parent
COLS, ROWS = 100, 30


def run_on_pty(script: str, env: dict[str, str] | None = None, timeout: float = 90):
    """Run ``script`` with stdin/stdout/stderr on a pty; return (code, raw text, screen)."""
    import pty

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    full_env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLS),
                "LINES": str(ROWS), "PYTHONPATH": f"{TESTS}{os.pathsep}"
                + os.environ.get("PYTHONPATH", "")}
    full_env.pop("FANIN_PROGRESS", None)
    full_env.update(env or {})
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stdin=slave,
                            stdout=slave, stderr=slave, close_fds=True, env=full_env)
    os.close(slave)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    code = proc.wait(timeout)
    reader.join(5)
    os.close(master)
    raw = b"".join(chunks)
    screen = pyte.HistoryScreen(COLS, ROWS, history=2000)
    pyte.ByteStream(screen).feed(raw)
    return code, raw.decode(errors="replace"), screen


def all_lines(screen) -> list[str]:
    """Scrollback, then the visible screen."""
    history = ["".join(ch.data for ch in line.values()).rstrip() if isinstance(line, dict)
               else "".join(line[x].data for x in range(COLS)).rstrip()
               for line in screen.history.top]
    return history + [line.rstrip() for line in screen.display]


def visible(screen) -> list[str]:
    return [line.rstrip() for line in screen.display]


def tty_console(buf, width=100, height=30):
    return Console(file=buf, force_terminal=True, width=width, height=height, color_system=None)


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


# -- 1. main-process prints and logging appear above the bars -------------------------------

PRINTS = """
    import logging, sys, time
    from concurrent.futures import as_completed
    import fanin, workers
    logging.basicConfig(format="%(levelname)s %(message)s")
    with fanin.Hub(backend="thread", workers=2, summary=False, {opts}) as hub:
        futs = [hub.submit(workers.sleep_then, n) for n in (30, 40, 50)]
        for f in as_completed(futs):
            print(f"result {{f.result()}}")
        sys.stderr.write("to stderr\\n")
        logging.getLogger("app").warning("main log line")
        hub.print("hub print", 42)
        hub.console.print("console print")
        time.sleep(0.3)
    print("stdout was", type(sys.stdout).__name__)
"""


def test_main_thread_prints_and_logs_appear_above_the_bars_and_survive():
    code, raw, screen = run_on_pty(PRINTS.format(opts=""))
    assert code == 0, raw
    lines = all_lines(screen)
    want = ["result 30", "result 40", "result 50", "to stderr", "WARNING", "hub print 42",
            "console print"]
    rows = {w: [i for i, line in enumerate(lines) if w in line] for w in want}
    assert all(rows.values()), (rows, lines)
    bar = max(i for i, line in enumerate(lines) if line.startswith("overall 3/3"))
    assert max(r[-1] for r in rows.values()) < bar  # above the bars, on screen or scrolled
    assert not any("[pid" in line for line in lines)  # no prefix on main-thread prints
    assert "main log line" in lines[rows["WARNING"][-1]]
    assert raw.count("result 30") == 1  # printed once, by the render thread
    assert any(line == "stdout was TextIOWrapper" for line in lines)  # restored


def test_redirect_false_leaves_the_streams_alone():
    code, raw, screen = run_on_pty(PRINTS.format(opts="redirect=False"))
    assert code == 0, raw
    assert any("stdout was" in line and "Redirect" not in line for line in all_lines(screen))
    # without the redirect a Rich frame draws over main-thread prints (the bug)
    script = "import sys, fanin\nwith fanin.Hub(progress='rich', redirect=False):\n" \
             "    print(type(sys.stdout).__name__)\n"
    code, raw, screen = run_on_pty(script)
    assert "StreamRedirect" not in raw


# -- 2. and 3. nested loops share one quiet display --------------------------------------------

NESTED = """
    import time, fanin
    for epoch in fanin.track(range(2), description="epochs"):
        for batch in fanin.track(range(4), description="batches"):
            time.sleep(0.15)
    print("after")
"""


def test_nested_track_loops_show_nested_bars_in_one_display():
    code, raw, screen = run_on_pty(NESTED)
    assert code == 0, raw
    lines = all_lines(screen)
    assert "fanin summary" not in raw and "overall" not in raw and "system cpu" not in raw
    assert raw.count("\x1b[?25l") == 1  # one live display, started once
    frames = raw.split("\r")
    assert any("  batches" in f for f in frames)  # the inner bar, indented under epochs
    text = [line for line in lines if line.strip()]
    assert text[-2].startswith("epochs") and "2/2" in text[-2], text
    assert text[-1] == "after"
    assert not any("batches" in line for line in visible(screen))  # inner bars do not pile up


def test_track_is_one_quiet_line_and_transient_leaves_nothing():
    code, raw, screen = run_on_pty("""
        import time, fanin
        for _ in fanin.track(range(5)):
            time.sleep(0.05)
        for _ in fanin.track(range(5), description="gone", transient=True):
            time.sleep(0.05)
        print("end")
    """)
    assert code == 0, raw
    text = [line for line in visible(screen) if line.strip()]
    assert len(text) == 2, text
    assert text[0].startswith("working") and "5/5" in text[0] and "r1" not in text[0]
    assert text[1] == "end"


def test_a_hub_inside_a_track_loop_joins_it():
    buf = FakeTTY()
    for _ in fanin.track(range(2), description="outer", file=buf, progress="rich"):
        with fanin.Hub(backend="thread", workers=2) as hub:
            assert hub.map(workers.count_to, [3, 4]) == [3, 4]
            assert hub.render_thread is not None
        assert [t.completed for t in hub.tasks()] == [3, 4]
    out = buf.getvalue()
    assert out.count("fanin summary") == 0 and out.count("\x1b[?25l") == 1


# -- 4. tqdm ---------------------------------------------------------------------------------

TQDM = """
    import fanin, tqdm_lib
    with fanin.Hub(backend="{backend}", workers=2, tqdm=True, summary=False) as hub:
        out = hub.map(tqdm_lib.job, [20, 25])
        subs = sorted((t.description, t.completed) for t in hub.tasks() if "/" in t.id)
    print("out", out)
    print("subs", subs)
"""


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_tqdm_bars_inside_workers_become_sub_tasks(backend):
    code, raw, screen = run_on_pty(TQDM.format(backend=backend))
    assert code == 0, raw
    lines = all_lines(screen)
    assert "out [20, 25]" in lines
    assert ("subs [('inner 20', 20), ('inner 20', 20), ('inner 25', 25), ('inner 25', 25)]"
            in lines)
    assert "%|" not in raw  # tqdm never drew
    left = [line for line in visible(screen) if "inner" in line and not line.startswith("subs")]
    assert not left  # nothing left behind
    assert any("  inner 2" in f for f in raw.split("\r"))  # drawn by fanin, indented


def test_tqdm_is_untouched_outside_tqdm_hubs():
    import tqdm as real

    with fanin.Hub(progress="off", tqdm=True) as hub:
        hub.map(workers.count_to, [1])
        assert type(real.tqdm(range(3), disable=True)) is real.tqdm  # outside a task
    buf = io.StringIO()
    bar = real.tqdm(range(3), file=buf)
    assert type(bar) is real.tqdm
    list(bar)
    assert "3/3" in buf.getvalue()


def test_fanin_tqdm_class_subset():
    from fanin.tqdm_auto import tqdm, trange

    buf = FakeTTY()
    with fanin.Hub(view=RichView(console=tty_console(buf, width=130)), summary=False) as hub:
        with fanin.tqdm(total=50 * 2**20, desc="download", unit="B", unit_scale=True,
                        unit_divisor=1024, position=3, leave=False) as bar:
            bar.update(12_058_624)
            bar.set_postfix(speed="fast", loss=0.25)
            bar.set_description("fetch")
            hub.sync()
            frame = hub.snapshot().rows
            tqdm.write("a line")
            time.sleep(0.3)  # a few frames
        assert sum(1 for _ in tqdm([1, 2, 3], desc="it")) == 3
        assert list(trange(2)) == [0, 1]
    views = {t.description: t for t in hub.tasks()}
    assert views["fetch"].completed == 12_058_624 and views["fetch"].status == "done"
    assert views["it"].completed == 3
    assert frame[0].note == "speed=fast, loss=0.25"
    out = buf.getvalue()
    assert "11.5 MiB/50.0 MiB" in out and "speed=fast, loss=0.25" in out and "a line" in out


# -- 5. dumb terminals and the off switch ---------------------------------------------------

def test_dumb_terminal_gets_plain_lines():
    code, raw, screen = run_on_pty("""
        import fanin, workers
        with fanin.Hub(workers=2) as hub:
            hub.map(workers.sleep_then, [20, 20])
            print("mode", hub.mode)
    """, env={"TERM": "dumb"})
    assert code == 0, raw
    assert "\x1b[" not in raw
    assert "mode plain" in raw and "done      sleep_then" in raw


@pytest.mark.parametrize(("env", "mode"), [("off", "off"), ("plain", "plain"), ("rich", "rich")])
def test_fanin_progress_env_var_switches_the_display(monkeypatch, env, mode):
    monkeypatch.setenv("FANIN_PROGRESS", env)
    buf = FakeTTY()
    with fanin.Hub(progress="plain", file=buf) as hub:
        assert hub.map(workers.count_to, [5]) == [5]
        assert hub.mode == mode
    assert sum(t.completed for t in hub.tasks()) == 5
    assert (buf.getvalue() == "") == (mode == "off")


def test_disable_flag_and_a_bad_env_value(monkeypatch):
    buf = FakeTTY()
    with fanin.Hub(progress="rich", file=buf, disable=True) as hub:
        hub.map(workers.count_to, [2])
        assert hub.mode == "off"
    assert buf.getvalue() == ""
    monkeypatch.setenv("FANIN_PROGRESS", "loud")
    with pytest.warns(fanin.FaninWarning, match="FANIN_PROGRESS"):
        hub = fanin.Hub(progress="off")
    hub.close()


# -- 6. units and status text --------------------------------------------------------------

def test_bytes_are_scaled_and_status_text_shows_everywhere(tmp_path):
    events = tmp_path / "run.jsonl"
    buf = FakeTTY()
    plain = io.StringIO()
    with fanin.Hub(view=RichView(console=tty_console(buf)), events=events, summary=False) as hub:
        with hub.reporter("download", total=50 * 2**20, unit="B") as r:
            r.advance(12_058_624)
            r.set_status("retrying")
            hub.sync()
            time.sleep(0.3)
    with fanin.Hub(progress="plain", file=plain, log_every=0.05) as hub2:
        with hub2.reporter("files", total=10, unit="files") as r2:
            r2.advance(4)
            r2.set_status("slow disk")
            hub2.sync()
            time.sleep(0.3)
    out = buf.getvalue()
    assert "11.5 MiB/50.0 MiB" in out and "retrying" in out
    assert "4/10 files" in plain.getvalue() and "slow disk" in plain.getvalue()
    records = [json.loads(line) for line in events.read_text().splitlines()]
    assert {"type": "status", "task": r.task_id, "text": "retrying"}.items() <= next(
        x for x in records if x["type"] == "status").items()


def test_unit_formatting():
    from fanin._display import format as fmt

    assert fmt.progress_text(12_058_624, 52_428_800, "B", 1024) == "11.5 MiB/50.0 MiB"
    assert fmt.speed(10_066_329.6, "B", 1024) == "9.6 MiB/s"
    assert fmt.amount(11_500, "", 1000) == "11.5k"
    assert fmt.amount(2_000_000, "B", 1000) == "2.0 MB"
    assert fmt.amount(512, "B", 1024) == "512 B"


# -- 7. reporters left open ------------------------------------------------------------------

def test_open_reporters_are_settled_as_what_they_are():
    buf = FakeTTY()
    with fanin.Hub(progress="rich", file=buf) as hub:
        full = hub.reporter("download", total=100)
        full.advance(100)
        part = hub.reporter("half", total=100)
        part.advance(50)
    status = {t.description: t.status for t in hub.tasks()}
    assert status == {"download": "done", "half": "unfinished"}
    out = buf.getvalue()
    last = out.split("\x1b[?25l")[-1]
    # the label counts what completed (issue 15, item 30): one of the two
    assert "overall 1/2" in last and "running" not in out.split("fanin summary")[-1]


# -- 8. fixes --------------------------------------------------------------------------------

def test_sub_task_totals_are_not_counted_twice():
    st = ProgressState()
    mb = 2**20
    for p in ("a", "b"):
        st.apply(Report(p, 1, 0, 50 * mb, p, "running", None, 1))
        for k in (1, 2):
            st.apply(Report(f"{p}/{k}", 1, 10 * mb, 10 * mb, "part", "done", None, 1))
    assert st.snapshot().total == 104_857_600
    assert st.snapshot().completed == 0  # the parts are inside their parents' counts
    st.apply(Report("c", 1, 0, None, "no total", "running", None, 1))
    st.apply(Report("c/1", 1, 7, 7, "part", "done", None, 1))
    assert st.snapshot().completed == 7  # a parent without a total: its parts count


def test_system_cpu_is_right_from_the_first_sample():
    from fanin._ingest.health import HealthSampler

    stop = threading.Event()

    def burn():
        while not stop.is_set():
            sum(range(1000))

    spinner = threading.Thread(target=burn, name="burn")
    spinner.start()
    st = ProgressState()
    st.apply(Report("x", 1, 0, None, "x", "running", None, 1))
    sampler = HealthSampler(lambda: [], st, threading.Lock(), interval=0.3)
    try:
        sampler.start()
        deadline = time.monotonic() + 5
        while sampler.samples == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sampler.stop()
        stop.set()
        spinner.join()
    assert st.system_cpu is not None and st.system_cpu > 0


def test_demo_line_names_the_mode_and_fits_80_columns():
    p = subprocess.run([sys.executable, "-m", "fanin", "demo", "--workers", "2", "--jobs", "16",
                        "--items", "20000", "--item-us", "0", "--progress", "off"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    line = p.stdout.strip().splitlines()[-1]
    assert "progress off" in line and "progress=on" not in line
    assert len(line) <= 80, (len(line), line)
