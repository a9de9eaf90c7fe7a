"""``fanin demo`` end to end, in a subprocess, as a user runs it."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(120)


def run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fanin", *args], capture_output=True,
                          text=True, timeout=timeout)


def items_from(stdout: str) -> int:
    m = re.search(r"fanin demo: (\d+) items in ([\d.]+) s", stdout)
    assert m, stdout
    return int(m.group(1))


@pytest.mark.parametrize("backend", ["thread", "process"])
@pytest.mark.parametrize("progress", ["plain", "rich", "--no-progress"])
def test_demo_counts_every_item(backend, progress):
    flag = ["--no-progress"] if progress == "--no-progress" else ["--progress", progress]
    p = run("demo", "--backend", backend, "--workers", "2", "--jobs", "5", "--items", "3000",
            "--item-us", "5", *flag)
    assert p.returncode == 0, p.stderr
    assert items_from(p.stdout) == 15_000
    assert "5 done, 0 failed" in p.stdout
    if progress == "plain":
        assert "\x1b" not in p.stderr and "done      job 5" in p.stderr


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_demo_exit_code_1_when_a_job_fails(backend):
    p = run("demo", "--backend", backend, "--workers", "2", "--jobs", "4", "--items", "1000",
            "--item-us", "1", "--fail-job", "3", "--progress", "plain")
    assert p.returncode == 1
    assert "3 done, 1 failed" in p.stdout
    assert items_from(p.stdout) == 3 * 1000 + 500
    assert "job 3 failed at item 500" in p.stderr


@pytest.mark.parametrize("bad", [["--workers", "0"], ["--jobs", "-2"], ["--item-us", "nan"],
                                 ["--refresh", "0"], ["--backend", "gpu"]])
def test_demo_rejects_bad_arguments_clearly(bad):
    p = run("demo", *bad)
    assert p.returncode == 2
    assert "error:" in p.stderr and "Traceback" not in p.stderr


def test_help_reads_well():
    p = run("--help")
    assert p.returncode == 0 and "demo" in p.stdout
    p = run("demo", "--help")
    assert p.returncode == 0 and "--no-progress" in p.stdout and "--item-us" in p.stdout


def test_a_hub_left_open_restores_the_terminal_at_exit(tmp_path):
    script = tmp_path / "left_open.py"
    script.write_text(
        "import io, sys, fanin\n"
        "class TTY(io.StringIO):\n"
        "    def isatty(self): return True\n"
        "out = TTY()\n"
        "import atexit\n"
        "atexit.register(lambda: sys.__stdout__.write(repr(out.getvalue()[-40:])))  # runs last\n"
        "hub = fanin.Hub(progress='rich', file=out, summary=False).start()\n"
        "r = hub.reporter('left open', total=3)\n"
        "r.advance(3)\n"
    )
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "\\x1b[?25h" in p.stdout  # the final frame was drawn and the cursor shown


@pytest.mark.parametrize("n", ["0", "99"])
def test_fail_job_out_of_range_is_an_error(n):
    p = run("demo", "--jobs", "3", "--fail-job", n)
    assert p.returncode == 2 and "--fail-job takes a job number from 1 to 3" in p.stderr
