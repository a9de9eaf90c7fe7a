"""Shared benchmark plumbing: terminal sink, CPU meters, recording view, machine, stats.

Runs in: the benchmark's main process (the sink's drain thread is named ``bench-drain``,
the meters' sampler ``bench-sampler``, so CPU accounting can tell them from fanin's own
``fanin-*`` threads).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import platform
import pty
import select
import statistics
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

COLS, ROWS = 120, 40  # the pseudo-terminal's size: what Rich and tqdm lay out for


# -- statistics -----------------------------------------------------------------------------
def median(xs: Iterable[float]) -> float:
    xs = list(xs)
    return statistics.median(xs) if xs else float("nan")


def percentile(xs: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no data."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


# -- the machine ----------------------------------------------------------------------------
def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _source_state(pkg: Path) -> dict[str, Any]:
    """Which fanin was measured: the git commit and any uncommitted changes under src/."""
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=pkg, capture_output=True, text=True,
                                  timeout=10, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            return None

    status = git("status", "--porcelain", "--", ".")
    commit = git("rev-parse", "HEAD")
    return {"path": str(pkg), "commit": commit.strip() if commit else None,
            "uncommitted": [ln[3:] for ln in status.splitlines() if ln.strip()] if status else [],
            # e.g. "git archive <commit>" when a snapshot outside the repo was measured
            "note": os.environ.get("FANIN_BENCH_SOURCE_NOTE")}


def machine() -> dict[str, Any]:
    """What every figure was measured on (stored next to each case in the JSON)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    import fanin

    return {
        "fanin_source": _source_state(Path(fanin.__file__).resolve().parent),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "os": f"{platform.system()} {platform.release()}",
        "libc": " ".join(platform.libc_ver()).strip() or None,
        "start_method": __import__("multiprocessing").get_start_method(),
        "versions": {
            "fanin": getattr(fanin, "__version__", None),
            "rich": _version("rich"),
            "tqdm": _version("tqdm"),
            "psutil": _version("psutil"),
            "mpire": _version("mpire"),
            "atpbar": _version("atpbar"),
        },
    }


# -- a pseudo-terminal that something drains ------------------------------------------------
class PtySink:
    """A real pseudo-terminal of COLS x ROWS; a ``bench-drain`` thread reads the master side.

    Writers get ``file`` (the slave side, ``isatty()`` is true) or open ``path`` themselves
    (worker processes do, so it also works under spawn). ``bytes`` counts what was drawn.
    """

    TAIL = 8192

    def __init__(self, cols: int = COLS, rows: int = ROWS) -> None:
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.path = os.ttyname(self.slave)
        self.file = open(self.slave, "w", encoding="utf-8", closefd=False)
        self.bytes = 0
        self.tail = b""  # the last TAIL bytes drawn (a crashed child's traceback lands here)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="bench-drain", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.master], [], [], 0.1)
                if ready:
                    data = os.read(self.master, 1 << 16)
                    self.bytes += len(data)
                    self.tail = (self.tail + data)[-self.TAIL:]
            except OSError:
                return

    def close(self) -> None:
        try:
            self.file.flush()
        except OSError:
            pass
        time.sleep(0.05)  # let the drain thread read what is still in the pty buffer
        self._stop.set()
        self._thread.join(2)
        self.file.close()
        os.close(self.slave)
        os.close(self.master)

    def __enter__(self) -> PtySink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rich_console(file: Any) -> Any:
    """The Console every Rich-based display draws through: a terminal of fixed size."""
    from rich.console import Console

    return Console(file=file, force_terminal=True, width=COLS, height=ROWS,
                   color_system="truecolor", highlight=False)


def hub_options(**kw: Any) -> dict[str, Any]:
    """Hub keyword arguments common to every case: no end-of-run summary table (it would
    print 10,000 rows after the scale run), where this fanin has that option."""
    import inspect

    from fanin import Hub

    if "summary" in inspect.signature(Hub).parameters:
        kw.setdefault("summary", False)
    return kw


def fanin_rich_view(sink: PtySink, header: str | None = None) -> Any:
    """The view a hub draws with on this terminal by default: fanin's own terminal view on
    POSIX (``AnsiView``), Rich's ``Live`` (on a fixed-size console) under
    ``FANIN_LIVE=rich`` or where fanin would use Rich anyway."""
    from fanin._display.choose import draws_itself

    if draws_itself(sink.file):
        from fanin._display.ansiview import AnsiView

        return AnsiView(sink.file, header=header)
    from fanin._display.richview import RichView

    return RichView(console=rich_console(sink.file), header=header)


# -- a view that remembers when each frame reached the terminal -----------------------------
class RecordingView:
    """Wraps a real view; after each ``draw`` returns, records (time, per-row completed).

    Duck-types the ``fanin._display.render.View`` protocol. ``draw_seconds`` is the time spent in
    the wrapped view's ``draw`` (the render thread's drawing cost).
    """

    def __init__(self, inner: Any, keep_rows: bool = True) -> None:
        self.inner = inner
        self.keep_rows = keep_rows
        self.frames: list[tuple[float, dict[str, float], float]] = []
        self.draw_seconds: list[float] = []

    def start(self) -> None:
        self.inner.start()

    def max_rows(self) -> int:
        return int(self.inner.max_rows())

    def draw(self, snap: Any, logs: Any, final: bool) -> None:
        t0 = time.monotonic()
        self.inner.draw(snap, logs, final)
        t1 = time.monotonic()
        self.draw_seconds.append(t1 - t0)
        rows = {r.id: r.completed for r in snap.rows} if self.keep_rows else {}
        self.frames.append((t1, rows, snap.completed))

    def stop(self) -> None:
        self.inner.stop()

    def summary(self, views: Any, snap: Any) -> None:
        self.inner.summary(views, snap)

    def __getattr__(self, name: str) -> Any:  # View protocol members added later
        return getattr(self.inner, name)


# -- CPU accounting -------------------------------------------------------------------------
def thread_cpu() -> tuple[float, dict[str, float]]:
    """(process CPU seconds, {thread name: CPU seconds}) with nanosecond clocks.

    Per-thread clocks come from ``pthread_getcpuclockid`` (Linux), so even a 5 s idle
    window resolves far below psutil's 10 ms ticks. Threads with equal names are summed.
    """
    per: dict[str, float] = {}
    for t in threading.enumerate():
        if t.ident is None:
            continue
        try:
            cpu = time.clock_gettime(time.pthread_getcpuclockid(t.ident))
        except (OSError, AttributeError):
            continue
        per[t.name] = per.get(t.name, 0.0) + cpu
    return time.process_time(), per


def proc_cpu_s(pid: int) -> float:
    """CPU seconds of every thread of process ``pid``, from ``/proc/<pid>/task/*/schedstat``
    (nanoseconds; psutil's cpu_times ticks at 10 ms, too coarse for 1 % of a 1 s run)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        import psutil

        try:
            c = psutil.Process(pid).cpu_times()
            return float(c.user + c.system)
        except psutil.Error:
            return 0.0
    return total / 1e9


def system_busy_s() -> float:
    """CPU seconds the whole machine spent busy (incl. steal by the hypervisor), from
    ``/proc/stat``; with our own CPU it tells how much *other* load a measurement saw."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def bench_thread(name: str) -> bool:
    """Threads that belong to the benchmark (or to the user's work), not to the tool."""
    return name == "MainThread" or name.startswith(("bench-", "fanin-worker"))


class CpuWindow:
    """Main-process CPU over a window, split into the tool's threads and the benchmark's.

    ``tool`` = process CPU minus the main thread, the benchmark's threads and worker threads
    (for the thread backend), i.e. collector + renderer + pump + flusher + queue feeders,
    or a peer's refresh threads. Also records psutil's view of the whole process.
    """

    def __init__(self) -> None:
        import psutil

        self._ps = psutil.Process()
        self.t0 = time.monotonic()
        self.p0, self.per0 = thread_cpu()
        c = self._ps.cpu_times()
        self.ps0 = c.user + c.system

    def stop(self) -> dict[str, Any]:
        wall = time.monotonic() - self.t0
        p1, per1 = thread_cpu()
        c = self._ps.cpu_times()
        ps1 = c.user + c.system
        per = {n: per1[n] - self.per0.get(n, 0.0) for n in per1}
        excluded = sum(v for n, v in per.items() if bench_thread(n))
        total = p1 - self.p0
        tool = max(0.0, total - excluded)
        return {
            "wall_s": wall,
            "process_cpu_s": total,
            "psutil_process_cpu_s": ps1 - self.ps0,
            "excluded_cpu_s": excluded,
            "tool_cpu_s": tool,
            "tool_pct_core": 100 * tool / wall if wall > 0 else float("nan"),
            "threads_pct_core": {n: round(100 * v / wall, 4) for n, v in sorted(per.items())
                                 if v > 0 and wall > 0},
        }


class Sampler:
    """A ``bench-sampler`` thread: opens a CpuWindow after ``skip`` seconds, closes it after
    ``length`` more (so pool start-up and the end of the run stay out of the window), and
    tracks the process's peak RSS meanwhile."""

    def __init__(self, skip: float, length: float, rss_every: float = 0.1) -> None:
        import psutil

        self.skip, self.length, self.rss_every = skip, length, rss_every
        self._ps = psutil.Process()
        self.result: dict[str, Any] | None = None
        self.rss_peak = self._ps.memory_info().rss
        self.rss_start = self.rss_peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def _rss(self) -> None:
        import psutil

        with contextlib.suppress(psutil.Error):
            self.rss_peak = max(self.rss_peak, self._ps.memory_info().rss)

    def _run(self) -> None:
        deadline = time.monotonic() + self.skip
        while not self._stop.wait(max(0.0, min(self.rss_every, deadline - time.monotonic()))):
            self._rss()
            if time.monotonic() >= deadline:
                break
        if self._stop.is_set():
            return
        window = CpuWindow()
        end = time.monotonic() + self.length
        while not self._stop.wait(max(0.0, min(self.rss_every, end - time.monotonic()))):
            self._rss()
            if time.monotonic() >= end:
                break
        self.result = window.stop()

    def stop(self) -> dict[str, Any] | None:
        self._stop.set()
        self._thread.join(5)
        self._rss()
        return self.result


# -- one measurement in a fresh interpreter -------------------------------------------------
BENCH_DIR = Path(__file__).resolve().parent.parent  # benchmarks/, holds the benchlib package


_COMPILED: list[bool] = []


def compile_sources() -> None:
    """Write the ``.pyc`` files of fanin and benchlib before any fresh process runs.

    An installed fanin (a wheel) has them, so an import costs an unmarshal. An editable
    checkout under ``PYTHONDONTWRITEBYTECODE=1`` (this machine's environment) has none:
    every fresh process then compiled fanin's lazily imported modules from source inside
    its clock (measured: ~45 ms of ``compile`` per run, 147 calls), which the peers,
    installed from wheels, never pay. ``py_compile`` writes regardless of that variable,
    and the children still read what it wrote. Stale files are rewritten, fresh ones kept.
    """
    if _COMPILED:
        return
    import compileall

    import fanin

    for root in (Path(fanin.__file__).resolve().parent, BENCH_DIR / "benchlib"):
        compileall.compile_dir(str(root), quiet=1)
    _COMPILED.append(True)


def run_fresh(target: str, args: dict[str, Any], sink: PtySink, timeout: float = 600.0
              ) -> dict[str, Any]:
    """Run ``target`` (``"benchlib.module:function"``) with ``**args`` in a new Python process.

    The child's stdout and stderr are the pseudo-terminal's slave side, so every tool draws
    where it would by default (tqdm, mpire and fanin to stderr, atpbar to stdout) onto a
    terminal of COLS x ROWS; its stdin is /dev/null. The function's JSON-able return value
    comes back through a file. Raises RuntimeError with the child's traceback (or the tail
    of what it drew) when it fails.
    """
    import json
    import tempfile

    compile_sources()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(BENCH_DIR), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    env.update({"TERM": "xterm-256color", "COLORTERM": "truecolor",
                "COLUMNS": str(COLS), "LINES": str(ROWS)})
    fd, out = tempfile.mkstemp(prefix="fanin-bench-", suffix=".json")
    os.close(fd)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchlib.child", target, json.dumps(args), out],
            stdin=subprocess.DEVNULL, stdout=sink.slave, stderr=sink.slave, env=env,
            cwd=str(BENCH_DIR), timeout=timeout, check=False)
        with open(out, encoding="utf-8") as f:
            text = f.read()
        doc = json.loads(text) if text.strip() else None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(out)
    if doc is None or "error" in doc:
        detail = (doc or {}).get("error") or sink.tail.decode("utf-8", "replace")[-3000:]
        raise RuntimeError(f"{target}({args}) failed in a fresh process "
                           f"(exit {proc.returncode}):\n{detail}")
    return dict(doc["result"])


def progress_note(msg: str) -> None:
    """One line of progress for the person running the suite (stderr, never the pty)."""
    print(f"  · {msg}", file=sys.stderr, flush=True)
