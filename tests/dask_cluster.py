"""A real local Dask cluster for tests, started with Dask's own CLI.

``dask scheduler`` and each ``dask worker`` run as separate subprocesses of the venv's
``dask`` command, on 127.0.0.1, the way a user deploys a cluster; every process is stopped by
its pid (SIGTERM, then SIGKILL) and the teardown checks with psutil that none is left.

Workers run with ``--no-nanny``, so a worker's pid is the process that runs its tasks
(checked against the scheduler's own record): SIGKILL on it is a real worker death, with
no nanny to restart it. ``PYTHONPATH`` holds this directory on every process, so module-level
task functions in ``dask_jobs`` (and the scheduler, which unpickles submitted graphs) import
the same code as the client, as on a properly installed cluster.

Fixtures: ``dask_cluster`` (module scope, 3 workers, for tests that kill nothing) and
``make_dask_cluster`` (a factory for a cluster of the test's own, torn down after it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import psutil
import pytest

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
DASK = BIN / "dask"
START_TIMEOUT = 30.0  # seconds for a scheduler or a set of workers to come up


def _no_fanin_dir() -> str:
    """A directory whose ``fanin`` package raises ``ModuleNotFoundError`` when imported."""
    d = Path(tempfile.gettempdir()) / f"fanin-absent-{os.getpid()}"
    (d / "fanin").mkdir(parents=True, exist_ok=True)
    (d / "fanin" / "__init__.py").write_text(
        'raise ModuleNotFoundError("No module named \'fanin\'", name="fanin")\n')
    return str(d)


def _site_packages() -> str:
    return sysconfig.get_paths()["purelib"]


class Proc:
    """One CLI process of the cluster: its Popen, its pid and its log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log
        self._log = open(log, "wb")
        self.popen = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                      cwd=str(log.parent), start_new_session=True)
        self.pid = self.popen.pid
        self.address: str | None = None  # a worker's address, once registered

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def stop(self, grace: float = 5.0) -> None:
        """SIGCONT (it may be stopped), SIGTERM, wait, SIGKILL; always reaps."""
        if self.alive():
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(5)
        else:
            self.popen.wait(5)
        self._log.close()


class DaskCLICluster:
    """A scheduler and ``n`` single-thread workers, each a ``dask`` CLI subprocess."""

    def __init__(self, workers: int = 2, *, worker_env: dict[str, str] | None = None,
                 scheduler_env: dict[str, str] | None = None, fanin_on_workers: bool = True,
                 fanin_on_scheduler: bool = True, scheduler_path: tuple[str, ...] = ()) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fanin-dask-cli-"))
        self.scheduler_file = self.dir / "scheduler.json"
        self._env = dict(os.environ)
        self._env["PYTHONPATH"] = os.pathsep.join(
            [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])
        self._env.pop("DASK_SCHEDULER_ADDRESS", None)
        self._worker_env = worker_env or {}
        self._scheduler_env = dict(scheduler_env or {})
        if scheduler_path:  # code only the scheduler (and the client) can import
            self._scheduler_env["PYTHONPATH"] = os.pathsep.join(
                [*scheduler_path, self._env["PYTHONPATH"]])
        self._fanin_on_workers = fanin_on_workers
        self._fanin_on_scheduler = fanin_on_scheduler
        self.scheduler: Proc | None = None
        self.workers: dict[str, Proc] = {}
        self.address = ""
        self._names = 0
        self._tracked: set[int] = set()  # every pid we started or found under them
        self.started_in = 0.0
        t0 = time.monotonic()
        try:
            self._start_scheduler()
            self.add_workers(workers)
        except BaseException:
            self.close(check=False)
            raise
        self.started_in = time.monotonic() - t0

    # -- starting -------------------------------------------------------------------------
    def _start_scheduler(self) -> None:
        cli, env = self._cli({**self._env, **self._scheduler_env}, self._fanin_on_scheduler)
        argv = [*cli, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                "--dashboard-address", "127.0.0.1:0", "--scheduler-file",
                str(self.scheduler_file)]
        self.scheduler = Proc("scheduler", argv, env, self.dir / "scheduler.log")
        self._tracked.add(self.scheduler.pid)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.scheduler.alive():
                raise RuntimeError(f"dask scheduler exited:\n{self.scheduler.log()}")
            try:
                info = json.loads(self.scheduler_file.read_text())
                self.address = info["address"]
                return
            except (OSError, ValueError, KeyError):
                time.sleep(0.05)
        raise RuntimeError(f"dask scheduler did not start:\n{self.scheduler.log()}")

    @staticmethod
    def _cli(env: dict[str, str], fanin: bool) -> tuple[list[str], dict[str, str]]:
        """The ``dask`` command, and its environment; without fanin if asked."""
        if fanin:
            return [str(DASK)], env
        # No site initialisation (-S): the venv's .pth files, among them fanin's editable
        # install, are not processed, while site-packages itself, put on PYTHONPATH, still
        # gives Dask. A host with Dask and the user's code but without fanin.
        # A regular (non-editable) install puts fanin in site-packages itself: a stand-in
        # package first on the path makes "import fanin" fail there as if it were absent.
        path = [p for p in env["PYTHONPATH"].split(os.pathsep)
                if p and not (Path(p) / "fanin").is_dir()]  # nor a source tree's fanin
        env = {**env, "PYTHONPATH": os.pathsep.join([_no_fanin_dir(), *path, _site_packages()])}
        return [sys.executable, "-S", str(DASK)], env

    def _worker_argv(self, name: str) -> tuple[list[str], dict[str, str]]:
        cli, env = self._cli({**self._env, **self._worker_env}, self._fanin_on_workers)
        argv = [*cli, "worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                "--name", name, "--local-directory", str(self.dir / name),
                "--death-timeout", "60"]
        return argv, env

    def add_workers(self, n: int, timeout: float = START_TIMEOUT) -> list[str]:
        """Start ``n`` more workers and wait until the scheduler has registered them."""
        names = []
        for _ in range(n):
            self._names += 1
            name = f"w{self._names}"
            argv, env = self._worker_argv(name)
            proc = Proc(name, argv, env, self.dir / f"{name}.log")
            self.workers[name] = proc
            self._tracked.add(proc.pid)
            names.append(name)
        self.wait_for_workers(names, timeout)
        return names

    def wait_for_workers(self, names: list[str], timeout: float = START_TIMEOUT) -> None:
        import distributed

        want = {self.workers[n].pid: n for n in names}
        with distributed.Client(self.address, set_as_default=False, timeout=timeout) as client:
            deadline = time.monotonic() + timeout
            while True:
                dead = [n for n in names if not self.workers[n].alive()]
                if dead:
                    raise RuntimeError(f"dask worker {dead[0]} exited:\n"
                                       f"{self.workers[dead[0]].log()}")
                info = client.scheduler_info(n_workers=-1)["workers"]
                seen = {w["name"]: addr for addr, w in info.items()}
                if all(n in seen for n in names):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"workers {names} did not register; seen {sorted(seen)}")
                time.sleep(0.05)
            pids = client.run(os.getpid, workers=[seen[n] for n in names])
        for pid, name in want.items():
            # --no-nanny: the CLI process is the worker itself.
            assert pids[seen[name]] == pid, f"worker {name} runs in pid {pids[seen[name]]}, not {pid}"
            self.workers[name].address = seen[name]

    # -- faults ---------------------------------------------------------------------------
    @property
    def scheduler_pid(self) -> int:
        assert self.scheduler is not None
        return self.scheduler.pid

    @property
    def worker_pids(self) -> dict[str, int]:
        return {n: p.pid for n, p in self.workers.items() if p.alive()}

    def worker_by_pid(self, pid: int) -> str:
        return next(n for n, p in self.workers.items() if p.pid == pid)

    def kill_worker(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to one worker; SIGKILL also reaps it (it is gone for good)."""
        proc = self.workers[name]
        proc.signal(sig)
        if sig == signal.SIGKILL:
            proc.popen.wait(5)

    def stop_worker(self, name: str) -> None:
        self.kill_worker(name, signal.SIGSTOP)

    def cont_worker(self, name: str) -> None:
        self.kill_worker(name, signal.SIGCONT)

    def kill_scheduler(self, sig: int = signal.SIGKILL) -> None:
        assert self.scheduler is not None
        self.scheduler.signal(sig)
        if sig == signal.SIGKILL:
            self.scheduler.popen.wait(5)

    def logs(self) -> str:
        procs = [self.scheduler, *self.workers.values()]
        return "\n".join(f"--- {p.name} ({p.pid})\n{p.log()}" for p in procs if p is not None)

    # -- teardown -------------------------------------------------------------------------
    def close(self, check: bool = True) -> None:
        """Stop every process by pid (workers first), then check that none is left."""
        procs = [*self.workers.values(), *([self.scheduler] if self.scheduler else [])]
        for p in procs:  # anything they started (there should be nothing)
            with contextlib.suppress(psutil.Error):
                self._tracked.update(c.pid for c in psutil.Process(p.pid).children(True))
        for p in procs:
            p.stop()
        left = []
        for pid in self._tracked:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc = psutil.Process(pid)
                if proc.status() != psutil.STATUS_ZOMBIE:
                    left.append(pid)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)
        if check:
            assert not left, f"cluster processes left behind: {left}"

    def __enter__(self) -> DaskCLICluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 with nothing listening (closed right after binding)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Scenario:
    """A ``dask_scenarios`` child process: READY lines to act on, one RESULT at the end."""

    def __init__(self, name: str, **args: object) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "dask_scenarios.py"), name, json.dumps(args)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        self.stderr = ""
        self.result: dict = {}
        self.returncode: int | None = None
        self.exited_at: float | None = None

    def wait_ready(self) -> dict:
        """The next READY payload (the child's watchdog bounds the wait)."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith("READY "):
                return json.loads(line[6:])
            if line.startswith("RESULT "):
                break
        self.finish(10)
        raise AssertionError(f"the scenario ended before READY: {self.describe()}")

    def finish(self, timeout: float) -> dict:
        """Wait for the child to exit (killing it after ``timeout`` s); its RESULT."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            self.returncode = None
        else:
            self.returncode = self.proc.returncode
        self.exited_at = time.monotonic()
        self.lines += out.splitlines(keepends=True)
        self.stderr = err
        results = [ln for ln in self.lines if ln.startswith("RESULT ")]
        self.result = json.loads(results[-1][7:]) if results else {}
        return self.result

    def describe(self) -> str:
        """The child's outcome for an assertion message: short, the stack where it hung."""
        res = dict(self.result)
        tasks = res.pop("tasks", None) or []
        after = res.pop("tasks_after_close", None)
        stack = res.pop("main_stack", None)
        lines = [f"rc={self.returncode}", json.dumps(res, default=repr)]
        lines += [f"  {t['id']} {t['status']} {t['completed']}/{t['total']} "
                  f"attempt {t['attempt']}: {t['error']}" for t in tasks]
        if after is not None:
            lines.append(f"after close: {[(t['status'], t['completed']) for t in after]}")
        if stack:
            lines.append("main thread, where it hung:\n" + stack)
        tail = self.stderr.split("Thread 0x")[0][-1500:]  # before the watchdog's dump
        return "\n".join([*lines, "stderr (tail):", tail])


def demo_cli(*args: str) -> list[str]:
    """``fanin demo`` as a user runs it, with this interpreter."""
    return [sys.executable, "-m", "fanin", "demo", *args]


@pytest.fixture(scope="module")
def dask_cluster():
    """A 3-worker CLI cluster shared by the module's tests that kill nothing."""
    pytest.importorskip("distributed")
    with DaskCLICluster(3) as c:
        yield c


@pytest.fixture
def make_dask_cluster():
    """``make_dask_cluster(workers, **options)``: a cluster of the test's own."""
    pytest.importorskip("distributed")
    made: list[DaskCLICluster] = []

    def make(workers: int = 2, **kw: object) -> DaskCLICluster:
        c = DaskCLICluster(workers, **kw)  # type: ignore[arg-type]
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
