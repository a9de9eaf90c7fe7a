"""The zygote (issue 13): a process hub that starts single-threaded forks its fork server.

Each scenario runs in a fresh interpreter (the test runner's own process may have threads,
and the zygote forks only a single-threaded process): it prints one JSON line of what it
saw, read with psutil from the outside world of processes, and the test checks it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.timeout(120), pytest.mark.skipif(
    sys.platform != "linux", reason="the zygote needs /proc (Linux); elsewhere: the stdlib's server")]

PRELUDE = textwrap.dedent("""
    import json, os, signal, sys, threading, time
    import psutil
    import fanin
    from fanin._backends import zygote

    def job(x, progress):
        progress.start(total=2)
        progress.advance(2)
        return (x, os.getpid())

    def parents(pids):
        return sorted({psutil.Process(p).ppid() for p in pids})

    def cmd(pid):
        return " ".join(psutil.Process(pid).cmdline())

    def gone(pid):
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
""")


def _run(tmp_path: Path, body: str) -> dict[str, Any]:
    script = tmp_path / "scenario.py"
    script.write_text(PRELUDE + "\nif __name__ == '__main__':\n" + textwrap.indent(
        textwrap.dedent(body), "    "))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=100, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_first_workers_fork_from_the_hub_replacements_from_the_zygote(tmp_path: Path
                                                                      ) -> None:
    """A single-threaded program's process hub forks its first workers itself in
    ``Hub.start``, before its threads (no fork server round trip); a replacement for a
    dead worker comes from the zygote. Neither first worker holds the hub's ends of the
    other's pipes (only what the program had before, which the zygote has too), and
    close leaves no process."""
    seen = _run(tmp_path, """
        def pipes(pid):
            out = set()
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("pipe:"):
                    out.add(link)
            return out

        with fanin.Hub(backend="process", workers=2, progress="off") as hub:
            z = zygote.SERVER.zygote_pid()
            first = sorted(hub.worker_pids)  # started with the hub, before any job
            first_parents = parents(first)
            results = hub.map(job, range(6))  # both have run jobs: past their fd closing
            shared = sorted((pipes(first[0]) & pipes(first[1])) - pipes(z))
            z_parent = psutil.Process(z).ppid()  # before its parent is killed
            os.kill(first[0], signal.SIGKILL)
            deadline = time.monotonic() + 30
            while (len(hub.worker_pids) < 2 or first[0] in hub.worker_pids) \
                    and time.monotonic() < deadline:
                time.sleep(0.02)
            replacement = [p for p in hub.worker_pids if p not in first]
            again = hub.map(job, range(4))
            seen = {"zygote": zygote.SERVER._zygote, "z_parent": z_parent, "first": first,
                    "first_parents": first_parents, "shared": shared,
                    "replacement_parents": parents(replacement), "z": z,
                    "same_cmd": cmd(z) == cmd(os.getpid())}
            pids = first + hub.worker_pids
        seen.update(me=os.getpid(), values=[r[0] for r in results + again], z_gone=gone(z),
                    workers_gone=all(gone(p) for p in pids), n_first=len(first),
                    children=[c.pid for c in psutil.Process().children(recursive=True)
                              if "resource_tracker" not in cmd(c.pid)])
        print(json.dumps(seen))
    """)
    assert seen["zygote"] is True
    # Hatched by the first worker (a fork of the hub made before its threads): no new
    # interpreter (same command line); it serves on after that worker was killed.
    assert seen["z_parent"] == seen["first"][0]
    assert seen["same_cmd"] is True
    assert seen["n_first"] == 2
    assert seen["first_parents"] == [seen["me"]]  # forked by the hub itself
    assert seen["shared"] == []  # no copy of each other's pipes
    assert seen["replacement_parents"] == [seen["z"]]  # the zygote's child
    assert seen["values"] == list(range(6)) + list(range(4))
    assert seen["z_gone"] and seen["workers_gone"] and seen["children"] == []


def test_first_workers_need_no_resource_tracker(tmp_path: Path) -> None:
    """Plain forks with unnamed semaphores: a run with no replacement starts no resource
    tracker (a new interpreter's ~20 ms of CPU); the kill test above shows that a
    replacement, whose queues are named, still gets one and runs."""
    seen = _run(tmp_path, """
        with fanin.Hub(backend="process", workers=2, progress="off") as hub:
            values = [r[0] for r in hub.map(job, range(4))]
            helpers = [cmd(c.pid) for c in psutil.Process().children(recursive=True)
                       if c.pid not in hub.worker_pids]
            z = zygote.SERVER.zygote_pid()
            z_parent = psutil.Process(z).ppid()
            workers = hub.worker_pids
        print(json.dumps({"values": values, "helpers": helpers, "z_parent": z_parent,
                          "workers": workers,
                          "zygote_stopped": zygote.SERVER.zygote_pid() is None}))
    """)
    assert seen["values"] == list(range(4))
    assert not any("resource_tracker" in c for c in seen["helpers"]), seen
    assert len(seen["helpers"]) == 1  # the zygote, nothing else
    assert seen["z_parent"] in seen["workers"]  # hatched by the first worker
    assert seen["zygote_stopped"] is True  # at close


def test_a_process_with_threads_gets_multiprocessings_server(tmp_path: Path) -> None:
    seen = _run(tmp_path, """
        stop = threading.Event()
        t = threading.Thread(target=stop.wait)
        t.start()
        try:
            with fanin.Hub(backend="process", workers=2, progress="off") as hub:
                results = hub.map(job, range(4))
                server = parents(hub.worker_pids)
            print(json.dumps({"zygote": zygote.SERVER._zygote, "values": [r[0] for r in results],
                              "server_cmd": [cmd(p) for p in server]}))
        finally:
            stop.set()
    """)
    assert seen["zygote"] is False
    assert seen["values"] == list(range(4))
    assert len(seen["server_cmd"]) == 1 and "forkserver" in seen["server_cmd"][0]


def test_start_method_forkserver_keeps_a_fresh_interpreter(tmp_path: Path) -> None:
    seen = _run(tmp_path, """
        with fanin.Hub(backend="process", workers=1, progress="off",
                       start_method="forkserver") as hub:
            results = hub.map(job, range(2))
            server = parents(hub.worker_pids)
        print(json.dumps({"zygote": zygote.SERVER._zygote, "values": [r[0] for r in results],
                          "server_cmd": [cmd(p) for p in server]}))
    """)
    assert seen["zygote"] is False and seen["values"] == [0, 1]
    assert "forkserver" in seen["server_cmd"][0]


def test_a_killed_zygote_gives_way_to_multiprocessings_server(tmp_path: Path) -> None:
    """The zygote dies mid-run (a stray SIGKILL): the next worker start (a replacement for a
    worker that died too) gets multiprocessing's usual server; every item still done."""
    seen = _run(tmp_path, """
        with fanin.Hub(backend="process", workers=1, progress="off") as hub:
            first = hub.map(job, range(2))
            z = zygote.SERVER.zygote_pid()
            os.kill(z, signal.SIGKILL)
            victim = hub.worker_pids[0]
            os.kill(victim, signal.SIGKILL)  # its replacement needs a server
            deadline = time.monotonic() + 30
            while hub.worker_pids in ([], [victim]) and time.monotonic() < deadline:
                time.sleep(0.02)
            second = hub.map(job, range(3))
            server = parents(hub.worker_pids)
        print(json.dumps({"first": [r[0] for r in first], "second": [r[0] for r in second],
                          "server_cmd": [cmd(p) for p in server], "z_gone": gone(z)}))
    """)
    assert seen["first"] == [0, 1] and seen["second"] == [0, 1, 2]
    assert seen["z_gone"] is True
    assert "forkserver" in seen["server_cmd"][0]


def test_a_program_forked_child_does_not_use_the_parents_zygote(tmp_path: Path) -> None:
    """os.fork() while a hub runs: the child's own process hub must not ask the parent's
    zygote (its workers would be the parent's grandchildren, unreachable by the child)."""
    seen = _run(tmp_path, """
        with fanin.Hub(backend="process", workers=1, progress="off") as hub:
            hub.map(job, range(1))
            parent_z = zygote.SERVER.zygote_pid()
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    os.close(r)
                    with fanin.Hub(backend="process", workers=1, progress="off") as h2:
                        values = [v[0] for v in h2.map(job, range(3))]
                        ppids = parents(h2.worker_pids)
                    os.write(w, json.dumps({"values": values, "ppids": ppids}).encode())
                    code = 0
                finally:
                    os._exit(code)
            os.close(w)
            data = b""
            while chunk := os.read(r, 65536):
                data += chunk
            _, status = os.waitpid(pid, 0)
        child = json.loads(data)
        print(json.dumps({"status": status, "values": child["values"],
                          "uses_parent_zygote": parent_z in child["ppids"]}))
    """)
    assert seen["status"] == 0 and seen["values"] == [0, 1, 2]
    assert seen["uses_parent_zygote"] is False


def test_workers_start_from_the_programs_state_at_hub_start(tmp_path: Path) -> None:
    """The documented difference from a fresh interpreter: what ``__main__`` held when the
    hub started (a function defined inside the main guard, a global set then) is there."""
    seen = _run(tmp_path, """
        import __main__
        __main__.SETTING = "set before the hub"

        def read_setting(x, progress):
            import __main__ as m
            return m.SETTING

        __main__.read_setting = read_setting
        read_setting.__module__ = "__main__"
        read_setting.__qualname__ = "read_setting"
        with fanin.Hub(backend="process", workers=1, progress="off") as hub:
            values = hub.map(read_setting, range(2))
        print(json.dumps({"values": values}))
    """)
    assert seen["values"] == ["set before the hub"] * 2


def test_a_zygote_that_cannot_start_falls_back_and_keeps_the_count(tmp_path: Path) -> None:
    """No fds for the zygote's socket (or any start error): multiprocessing's server runs the
    pool instead, and the hub's count of users stays balanced for the next hub."""
    seen = _run(tmp_path, """
        def no_fds(self):
            raise OSError(24, "Too many open files")

        real = zygote._Server._plan_zygote
        zygote._Server._plan_zygote = no_fds
        with fanin.Hub(backend="process", workers=1, progress="off") as hub:
            first = [v[0] for v in hub.map(job, range(2))]
            server = [cmd(p) for p in parents(hub.worker_pids)]
        users_after = zygote.SERVER._users
        zygote._Server._plan_zygote = real
        with fanin.Hub(backend="process", workers=1, progress="off") as hub:
            second = [v[0] for v in hub.map(job, range(2))]
        print(json.dumps({"first": first, "server": server, "users_after": users_after,
                          "second": second, "users_end": zygote.SERVER._users}))
    """)
    assert seen["first"] == [0, 1] and seen["second"] == [0, 1]
    assert "forkserver" in seen["server"][0]
    assert seen["users_after"] == 0 and seen["users_end"] == 0
