"""Shared machinery for running CPython's own test suites against another implementation.

Used by ``run_cpython_futures.py`` and ``run_cpython_pool.py``. Nothing here changes a test or an
assertion: the harness loads CPython's test modules as they are installed, rebinds the names
those modules use to reach the stdlib classes (the ``concurrent.futures`` / ``multiprocessing``
module globals, the mixins' class attributes) so that they reach the implementation under test,
and runs them with :mod:`unittest`, recording every test's outcome.

Pieces:

* :class:`ProxyModule` -- a stand-in for a module that answers a few names itself and forwards
  the rest, so ``futures.ThreadPoolExecutor`` in a test is the implementation under test while
  ``futures.wait``, ``futures.process._RemoteTraceback`` ... stay the stdlib's.
* :class:`Patcher` -- ``setattr`` with undo, so :func:`run` can be called repeatedly in one process.
* :func:`private_attributes` -- which underscore attributes a test method reads ("reads internals").
* :class:`Watchdog` -- a wall-clock limit per test (and per class/module fixture): a thread that,
  when a test makes no progress in time, dumps every thread's stack and interrupts the main
  thread with SIGUSR2, whose handler raises :class:`TestTimedOut` there; a hard backstop
  (``faulthandler.dump_traceback_later(exit=True)``) ends the process if even that fails.
* :class:`Recorder` -- a :class:`unittest.TestResult` that keeps one record per test.
* :func:`run_suite` / :func:`print_report` / :func:`write_json` -- run, tabulate, save.
* :func:`child_preamble` / :func:`wrap_script_runner` -- tests that start a fresh interpreter
  (``script_helper.assert_python_ok('-c', ...)``) import the stdlib class by name in the child;
  the wrapper prefixes the child's script with a preamble that makes the same swap there.
"""

from __future__ import annotations

import ast
import contextlib
import faulthandler
import fnmatch
import functools
import importlib
import inspect
import json
import os
import re
import signal
import sys
import tempfile
import textwrap
import threading
import time
import types
import unittest
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

# Outcome names used in records, tables and JSON.
PASS, FAIL, ERROR, SKIP, TIMEOUT, NOT_RUN = "pass", "fail", "error", "skip", "timeout", "not_run"
XFAIL, XPASS = "xfail", "xpass"
BAD = (FAIL, ERROR, TIMEOUT, NOT_RUN, XPASS)


# --------------------------------------------------------------------------------------------
# Loading and swapping


def load_object(spec: str) -> Any:
    """``"package.module:Qual.name"`` -> the object."""
    module_name, sep, qualname = spec.partition(":")
    if not sep or not module_name or not qualname:
        raise ValueError(f"expected module:name, got {spec!r}")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


class ProxyModule(types.ModuleType):
    """A module that answers ``overrides`` itself and forwards every other name to ``real``."""

    def __init__(self, real: types.ModuleType, **overrides: Any) -> None:
        super().__init__(real.__name__, real.__doc__)
        self.__dict__["__fanin_real__"] = real
        self.__dict__.update(overrides)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["__fanin_real__"], name)

    def __repr__(self) -> str:
        return f"<proxy of {self.__dict__['__fanin_real__']!r}>"


class Patcher:
    """``setattr`` that remembers the old value; :meth:`undo` restores them in reverse order."""

    _MISSING = object()

    def __init__(self) -> None:
        self._undo: list[tuple[Any, str, Any]] = []

    def set(self, obj: Any, name: str, value: Any) -> None:
        # Read from __dict__ where there is one, so a class attribute inherited from a base is
        # restored by deleting ours rather than by copying the base's value into the subclass.
        d = getattr(obj, "__dict__", None)
        old = d.get(name, self._MISSING) if d is not None else getattr(obj, name, self._MISSING)
        self._undo.append((obj, name, old))
        setattr(obj, name, value)

    def undo(self) -> None:
        while self._undo:
            obj, name, old = self._undo.pop()
            if old is self._MISSING:
                with contextlib.suppress(AttributeError, TypeError):
                    delattr(obj, name)
            else:
                setattr(obj, name, old)


def child_preamble(patches: Iterable[tuple[str, str, str]], sys_path: Iterable[str]) -> str:
    """Python source that makes, in a fresh interpreter, the swap the harness made in this one.

    ``patches`` are ``(module, attribute, "impl.module:Name")``. Every implementation is imported
    before any stdlib module is patched, so an implementation that itself imports the stdlib class
    at import time still gets the real one.
    """
    patches = list(patches)
    lines = [
        "import sys as _h_sys, importlib as _h_il",
        f"_h_sys.path[0:0] = [_p for _p in {list(sys_path)!r} if _p not in _h_sys.path]",
        "_h_impls = []",
    ]
    for module, attr, spec in patches:
        impl_module, _, qualname = spec.partition(":")
        lines.append(f"_h_obj = _h_il.import_module({impl_module!r})")
        for part in qualname.split("."):
            lines.append(f"_h_obj = getattr(_h_obj, {part!r})")
        lines.append(f"_h_impls.append(({module!r}, {attr!r}, _h_obj))")
    lines += [
        "for _h_mod, _h_attr, _h_obj in _h_impls:",
        "    setattr(_h_il.import_module(_h_mod), _h_attr, _h_obj)",
        "    if getattr(_h_obj, '__name__', _h_attr) != _h_attr:",
        "        setattr(_h_il.import_module(_h_mod), _h_obj.__name__, _h_obj)",
        "del _h_sys, _h_il, _h_impls" + (", _h_obj, _h_mod, _h_attr" if patches else ""),
        "",
    ]
    return "\n".join(lines)


def wrap_script_runner(fn: Callable[..., Any], preamble: str) -> Callable[..., Any]:
    """Wrap ``script_helper.assert_python_ok``-like ``fn`` so the child runs ``preamble`` first.

    ``-c SCRIPT`` gets the preamble prepended; a script *file* argument is copied, with the
    preamble prepended, next to the original (same directory, so relative imports and
    ``__file__``-based paths behave the same) and the copy is run instead.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **env_vars: Any) -> Any:
        args = list(args)
        created = None
        if "-c" in args:
            i = args.index("-c")
            if i + 1 < len(args):
                args[i + 1] = preamble + args[i + 1]
        else:
            for i, a in enumerate(args):
                if isinstance(a, (str, os.PathLike)) and not str(a).startswith("-"):
                    path = os.fspath(a)
                    if os.path.isfile(path):
                        with open(path, encoding="utf-8") as f:
                            body = f.read()
                        fd, created = tempfile.mkstemp(
                            suffix=".py", prefix="fanin_h_", dir=os.path.dirname(os.path.abspath(path))
                        )
                        with os.fdopen(fd, "w", encoding="utf-8") as f:
                            f.write(preamble + body)
                        args[i] = created
                    break
        try:
            return fn(*args, **env_vars)
        finally:
            if created:
                with contextlib.suppress(OSError):
                    os.unlink(created)

    wrapper.__fanin_wrapped__ = True  # type: ignore[attr-defined]
    return wrapper


# --------------------------------------------------------------------------------------------
# "Reads internals": which private attributes does a test method touch?


def names_defined_by(sources: Iterable[str]) -> set[str]:
    """Names a test module defines itself: functions, classes, methods, and ``self.x``/``cls.x``.

    ``self._thread_key``, ``self._check_crash()`` or ``cls._test_traceback`` are the test's own
    helpers, not the implementation's internals.
    """
    out: set[str] = set()
    for src in sources:
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.add(node.name)
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("self", "cls")
            ):
                out.add(node.attr)
    return out


_PRIVATE = re.compile(r"^_[A-Za-z0-9]\w*$")  # _name, not __dunder__ (a mangled __x is also caught)


def private_attributes(func: Any, own_names: set[str]) -> list[str]:
    """Sorted private attribute names that ``func``'s own source reads or writes.

    Attribute accesses (``x._processes``) and string arguments to ``getattr``/``hasattr``/
    ``setattr`` (``getattr(x, "_processes")``) count; names the test module defines itself do
    not. Only the method's own body is scanned, not helpers it calls: a helper that reads an
    internal on a failure path only (``_fail_on_deadlock``) does not make its callers "internal".
    """
    func = inspect.unwrap(func)
    try:
        src = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return []
    found: set[str] = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Attribute) and _PRIVATE.match(node.attr):
            found.add(node.attr)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _PRIVATE.match(node.args[1].value)
        ):
            found.add(node.args[1].value)
    return sorted(found - own_names)


# --------------------------------------------------------------------------------------------
# Selecting tests


def iter_tests(suite: unittest.TestSuite | unittest.TestCase) -> Iterator[unittest.TestCase]:
    if isinstance(suite, unittest.TestSuite):
        for t in suite:
            yield from iter_tests(t)
    else:
        yield suite


def short_id(test: unittest.TestCase) -> str:
    return f"{type(test).__qualname__}.{test._testMethodName}"


def matches(test: unittest.TestCase, patterns: list[str] | None) -> bool:
    """unittest's ``-k`` rule: a pattern with ``*`` is an fnmatch pattern, else a substring.

    Matched against the full id (``module.Class.method``) like unittest, so ``-k Fork``,
    ``-k 'ProcessPool*Shutdown*'`` and ``-k test_map`` all work.
    """
    if not patterns:
        return True
    full = test.id()
    for p in patterns:
        pat = p if "*" in p else f"*{p}*"
        if fnmatch.fnmatchcase(full, pat):
            return True
    return False


def filter_suite(tests: Iterable[unittest.TestCase], patterns: list[str] | None) -> unittest.TestSuite:
    """A flat suite, grouped by class in first-seen order (so class fixtures run once per class)."""
    by_class: dict[type, list[unittest.TestCase]] = {}
    for t in tests:
        if matches(t, patterns):
            by_class.setdefault(type(t), []).append(t)
    suite = unittest.TestSuite()
    for ts in by_class.values():
        suite.addTests(ts)
    return suite


# --------------------------------------------------------------------------------------------
# Wall-clock limit


class TestTimedOut(BaseException):
    """Raised in the main thread when a test overruns. A BaseException so that a test's own
    ``except Exception:`` cannot swallow it; unittest's test-part executor records it as an error."""


class FixtureTimedOut(Exception):
    """Raised when a class/module fixture overruns. unittest's suite only records ``Exception``s
    from ``setUpClass``/``tearDownModule``...; a BaseException there would end the whole run."""


_WAKE_SIGNAL = signal.SIGUSR2  # unused by the CPython tests we run (they use SIGUSR1/SIGALRM)


class Watchdog:
    """Per-phase wall-clock limit.

    :meth:`arm` starts a phase (a test, or the gap between tests where class/module fixtures run)
    with ``timeout`` seconds. When it runs out: all threads' stacks go to stderr, the main thread
    gets SIGUSR2 and raises :class:`TestTimedOut` (or :class:`FixtureTimedOut`) wherever it is
    blocked, and the phase gets ``grace`` more seconds (for ``tearDown``/cleanups, which may hang
    again and get interrupted again). ``faulthandler.dump_traceback_later(exit=True)`` at
    ``timeout + 4 * grace`` ends the process if the main thread cannot be interrupted at all
    (stuck in C code); the JSON written after each test survives that.
    """

    def __init__(self, timeout: float, grace: float | None = None) -> None:
        self.timeout = float(timeout)
        self.grace = float(grace if grace is not None else min(30.0, max(5.0, timeout / 2)))
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._label = ""
        self._in_test = False
        self._strikes = 0
        self._pending: str | None = None  # label of the phase the in-flight signal is for
        self._stopped = False
        self._main_ident = threading.main_thread().ident
        self._old_handler: Any = None
        self._thread: threading.Thread | None = None
        self.fired: list[str] = []

    # the handler runs in the main thread
    def _on_signal(self, signum: int, frame: Any) -> None:
        with self._cond:
            pending, label, in_test = self._pending, self._label, self._in_test
            self._pending = None
        if pending is None or pending != label:
            return  # the phase it was meant for is over
        msg = f"{label}: no result after {self.timeout:g} s wall clock (harness timeout)"
        if in_test:
            raise TestTimedOut(msg)
        raise FixtureTimedOut(msg)

    def start(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("the harness must run in the main thread (it interrupts it with a signal)")
        self._old_handler = signal.signal(_WAKE_SIGNAL, self._on_signal)
        self._thread = threading.Thread(target=self._loop, name="cpython-harness-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5)
        faulthandler.cancel_dump_traceback_later()
        if self._old_handler is not None:
            signal.signal(_WAKE_SIGNAL, self._old_handler)

    def arm(self, label: str, in_test: bool) -> None:
        with self._cond:
            self._label, self._in_test, self._strikes = label, in_test, 0
            self._deadline = time.monotonic() + self.timeout
            self._pending = None
            self._cond.notify_all()
        faulthandler.dump_traceback_later(self.timeout + 4 * self.grace, exit=True, file=sys.__stderr__)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    if self._deadline is None:
                        self._cond.wait()
                        continue
                    left = self._deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                if self._stopped:
                    return
                self._strikes += 1
                label, strikes = self._label, self._strikes
                self._deadline = time.monotonic() + self.grace
                self._pending = label
            self.fired.append(label)
            with contextlib.suppress(Exception):
                sys.__stderr__.write(
                    f"\n[harness] {label}: still running after "
                    f"{self.timeout + (strikes - 1) * self.grace:g} s; interrupting it "
                    f"(strike {strikes}). Stacks:\n"
                )
                sys.__stderr__.flush()
                faulthandler.dump_traceback(file=sys.__stderr__, all_threads=True)
            with contextlib.suppress(ProcessLookupError, OSError):
                signal.pthread_kill(self._main_ident, _WAKE_SIGNAL)


def _child_pids() -> set[int]:
    try:
        import psutil
    except ImportError:  # the harness does not need psutil; without it, only mp children
        import multiprocessing

        return {p.pid for p in multiprocessing.active_children() if p.pid}
    out = set()
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            cmd = " ".join(p.cmdline())
            helper = p.name() == "fanin-zygote"  # fanin's fork server
            if "forkserver" in cmd or "resource_tracker" in cmd or helper:
                continue  # multiprocessing's long-lived helpers, shared by later tests
            out.add(p.pid)
    return out


def _kill(pids: Iterable[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.waitpid(pid, os.WNOHANG)


# --------------------------------------------------------------------------------------------
# Recording


class Recorder(unittest.TestResult):
    """One record per test: outcome, seconds, details, and whether it reads internals."""

    _RANK: ClassVar[dict[str, int]] = {PASS: 0, XFAIL: 0, SKIP: 1, XPASS: 2, FAIL: 3, ERROR: 4, TIMEOUT: 5}

    def __init__(
        self,
        internals: dict[str, list[str]],
        watchdog: Watchdog,
        verbose: int,
        on_record: Callable[[], None] | None = None,
        prefix: str = "",
    ) -> None:
        super().__init__()
        self.prefix = prefix
        self.internals = internals
        self.watchdog = watchdog
        self.verbosity = verbose
        self.on_record = on_record
        self.records: dict[str, dict[str, Any]] = {}
        self.fixture_events: list[dict[str, Any]] = []
        self._t0 = 0.0
        self._children_before: set[int] = set()
        self._line_open = False

    # -- helpers
    def _rec(self, test: unittest.TestCase) -> dict[str, Any]:
        tid = self.prefix + short_id(test)
        if tid not in self.records:
            self.records[tid] = new_record(test, self.prefix, self.internals)
        return self.records[tid]

    def _event(self, test: Any, outcome: str, detail: str | None = None) -> None:
        if not isinstance(test, unittest.TestCase) or isinstance(test, unittest.case._SubTest):
            if isinstance(test, unittest.case._SubTest):
                self._event(test.test_case, outcome, f"{test._subDescription()}: {detail}")
                return
            # class / module fixture (_ErrorHolder): "setUpClass (module.Class)"
            desc = str(test)
            m = re.match(r"(\w+) \((.*)\)", desc)
            fixture, where = (m.group(1), m.group(2)) if m else (desc, "")
            self.fixture_events.append({"fixture": fixture, "where": where, "prefix": self.prefix,
                                        "outcome": outcome, "detail": _clip(detail)})
            self._write(f"\n[{self.prefix}{fixture} {where}] {outcome.upper()}\n")
            return
        rec = self._rec(test)
        if rec["outcome"] is None or self._RANK[outcome] > self._RANK[rec["outcome"]]:
            rec["outcome"] = outcome
        if detail:
            rec["details"].append(_clip(detail))

    def _write(self, s: str) -> None:
        sys.stdout.write(s)
        sys.stdout.flush()

    def _err(self, err: Any, test: Any) -> str:
        if isinstance(test, unittest.case._SubTest):
            test = test.test_case
        try:
            return self._exc_info_to_string(err, test)
        except Exception:  # a test object that unittest cannot describe
            return repr(err[1])

    # -- unittest protocol
    def startTest(self, test: unittest.TestCase) -> None:
        super().startTest(test)
        self._rec(test)
        self._children_before = _child_pids()
        self._t0 = time.monotonic()
        self.watchdog.arm(self.prefix + short_id(test), in_test=True)
        if self.verbosity >= 2:
            self._write(f"{self.prefix}{short_id(test)} ... ")

    def stopTest(self, test: unittest.TestCase) -> None:
        rec = self._rec(test)
        rec["seconds"] = round(time.monotonic() - self._t0, 3)
        if rec["outcome"] is None:
            rec["outcome"] = PASS
        if rec["outcome"] == TIMEOUT:
            # Leave no hung workers behind to disturb the next tests.
            _kill(_child_pids() - self._children_before)
        # the gap to the next test is where class/module fixtures run: limit it too
        self.watchdog.arm(f"fixtures after {rec['id']}", in_test=False)
        super().stopTest(test)
        attrs = rec["reads_internals"]
        flag = f"  [reads internals: {', '.join(attrs)}]" if attrs else ""
        if self.verbosity >= 2:
            self._write(f"{rec['outcome']} ({rec['seconds']:.2f}s){flag}\n")
        elif self.verbosity == 1:
            ch = {PASS: ".", XFAIL: "x", SKIP: "s", FAIL: "F", ERROR: "E", TIMEOUT: "T", XPASS: "u"}
            self._write(ch[rec["outcome"]])
        if self.on_record:
            self.on_record()

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        self._event(test, PASS)

    def addFailure(self, test: unittest.TestCase, err: Any) -> None:
        super().addFailure(test, err)
        self._event(test, FAIL, self._err(err, test))

    def addError(self, test: unittest.TestCase, err: Any) -> None:
        super().addError(test, err)
        timed_out = isinstance(err[1], (TestTimedOut, FixtureTimedOut))
        self._event(test, TIMEOUT if timed_out else ERROR, self._err(err, test))

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        super().addSkip(test, reason)
        self._event(test, SKIP, reason)

    def addExpectedFailure(self, test: unittest.TestCase, err: Any) -> None:
        super().addExpectedFailure(test, err)
        self._event(test, XFAIL)

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        super().addUnexpectedSuccess(test)
        self._event(test, XPASS, "unexpected success")

    def addSubTest(self, test: unittest.TestCase, subtest: Any, err: Any) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            if isinstance(err[1], (TestTimedOut, FixtureTimedOut)):
                kind = TIMEOUT
            elif issubclass(err[0], test.failureException):
                kind = FAIL
            else:
                kind = ERROR
            self._event(subtest, kind, self._err(err, subtest))


def new_record(test: unittest.TestCase, prefix: str, internals: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "id": prefix + short_id(test),
        "class": prefix + type(test).__qualname__,
        "method": test._testMethodName,
        "outcome": None,
        "seconds": None,
        "reads_internals": internals.get(short_id(test), []),
        "details": [],
    }


def _clip(s: str | None, limit: int = 6000) -> str | None:
    if s is None or len(s) <= limit:
        return s
    return s[: limit // 2] + "\n[... clipped ...]\n" + s[-limit // 2 :]


# --------------------------------------------------------------------------------------------
# Running and reporting


Counts = dict[str, int]


def summarize(records: list[dict[str, Any]]) -> tuple[dict[str, Counts], Counts, Counts]:
    """Per-class counts, totals of ordinary tests, totals of internals-reading tests."""

    def empty() -> dict[str, int]:
        return {k: 0 for k in (PASS, FAIL, ERROR, SKIP, TIMEOUT, NOT_RUN,
                               "internals_pass", "internals_fail", "internals_skip")}

    per: dict[str, dict[str, int]] = {}
    total, internal = empty(), {PASS: 0, "fail": 0, SKIP: 0}
    for r in records:
        c = per.setdefault(r["class"], empty())
        o = r["outcome"]
        o = PASS if o == XFAIL else (FAIL if o == XPASS else o)
        if r["reads_internals"]:
            k = {PASS: "internals_pass", SKIP: "internals_skip"}.get(o, "internals_fail")
            c[k] += 1
            total[k] += 1
            internal[{PASS: PASS, SKIP: SKIP}.get(o, "fail")] += 1
        else:
            c[o] += 1
            total[o] += 1
    return per, total, internal


def run_suite(
    suite: unittest.TestSuite,
    *,
    internals: dict[str, list[str]],
    timeout: float,
    verbose: int,
    meta: dict[str, Any],
    json_path: str | None,
    prefix: str = "",
    extra_records: list[dict[str, Any]] | None = None,
    extra_fixture_events: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run ``suite`` under the watchdog; return (and keep writing to ``json_path``) the summary.

    ``prefix`` is put before every test id and class name (the pool harness runs the same
    classes once per start method: ``fork:WithProcessesTestPool.test_map``). ``extra_records``
    and ``extra_fixture_events`` (earlier runs' ``tests``/``fixture_events``) are included in
    the summary and the JSON.
    """
    tests = list(iter_tests(suite))
    watchdog = Watchdog(timeout)
    t_start = time.monotonic()
    summary: dict[str, Any] = {}

    def snapshot(complete: bool) -> dict[str, Any]:
        records = list(extra_records or [])
        events = list(extra_fixture_events or []) + recorder.fixture_events
        seen = set()
        for t in tests:
            tid = prefix + short_id(t)
            seen.add(tid)
            rec = recorder.records.get(tid)
            if rec is None:
                rec = new_record(t, prefix, internals)
                if complete:
                    rec["outcome"], reason = _fixture_outcome(
                        recorder.fixture_events, type(t).__qualname__, type(t).__module__)
                    if reason:
                        rec["details"].append(reason)
            records.append(rec)
        for tid, rec in recorder.records.items():  # tests unittest found that we did not expect
            if tid not in seen:
                records.append(rec)
        done = [r for r in records if r["outcome"] is not None]
        per, total, internal = summarize(done)
        summary.clear()
        summary.update(meta)
        summary.update({
            "complete": complete,
            "wall_seconds": round(time.monotonic() - t_start, 1),
            "timeout_per_test": timeout,
            "counts_per_class": per,
            "totals": total,
            "reads_internals_totals": internal,
            "reads_internals": {r["id"]: r["reads_internals"] for r in records if r["reads_internals"]},
            "fixture_events": events,
            "tests": records,
        })
        summary["ok"] = complete and not any(
            r["outcome"] in BAD for r in records if not r["reads_internals"]
        ) and not any(e["outcome"] in (ERROR, TIMEOUT, FAIL) for e in events)
        return summary

    def save() -> None:
        if json_path:
            write_json(json_path, snapshot(complete=False))

    recorder = Recorder(internals, watchdog, verbose, on_record=save, prefix=prefix)
    watchdog.start()
    try:
        watchdog.arm(f"{prefix}module/class set-up", in_test=False)
        suite.run(recorder)
    finally:
        watchdog.stop()
    if verbose == 1:
        sys.stdout.write("\n")
    result = snapshot(complete=True)
    if json_path:
        write_json(json_path, result)
    return result


def _fixture_outcome(events: list[dict[str, Any]], cls: str, module: str) -> tuple[str, str | None]:
    """Why a test never started: its class's or module's set-up failed or skipped."""
    for e in events:
        if (e["fixture"] == "setUpClass" and e["where"] == f"{module}.{cls}") or (
            e["fixture"] == "setUpModule" and e["where"] == module
        ):
            return (SKIP if e["outcome"] == SKIP else NOT_RUN), f"{e['fixture']}: {e['detail']}"
    return NOT_RUN, "never started"


def write_json(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def print_report(summary: dict[str, Any], out: Any = None, show_details: int = 3) -> None:
    out = out or sys.stdout
    per = summary["counts_per_class"]
    cols = [(PASS, "pass"), (FAIL, "fail"), (ERROR, "error"), (SKIP, "skip"), (TIMEOUT, "timeout"),
            (NOT_RUN, "not run"), ("internals_pass", "int:pass"), ("internals_fail", "int:fail"),
            ("internals_skip", "int:skip")]
    w = max([len(c) for c in per] + [5])
    head = f"{'class':<{w}}  " + " ".join(f"{h:>8}" for _, h in cols)
    print(file=out)
    print(head, file=out)
    print("-" * len(head), file=out)
    for cls in per:
        print(f"{cls:<{w}}  " + " ".join(f"{per[cls][k]:>8}" for k, _ in cols), file=out)
    print("-" * len(head), file=out)
    t = summary["totals"]
    print(f"{'TOTAL':<{w}}  " + " ".join(f"{t[k]:>8}" for k, _ in cols), file=out)
    ri = summary["reads_internals"]
    it = summary["reads_internals_totals"]
    n_ord = sum(t[k] for k in (PASS, FAIL, ERROR, SKIP, TIMEOUT, NOT_RUN))
    print(
        f"\n{n_ord} ordinary tests: {t[PASS]} pass, {t[FAIL]} fail, {t[ERROR]} error, {t[SKIP]} skip, "
        f"{t[TIMEOUT]} timeout, {t[NOT_RUN]} not run",
        file=out,
    )
    print(f"{len(ri)} tests read internals (run anyway, counted apart): "
          f"{it[PASS]} pass, {it['fail']} fail/error/timeout, {it[SKIP]} skip", file=out)
    if show_details and ri:
        print("reads-internals tests:", file=out)
        for tid, attrs in ri.items():
            outcome = next(r["outcome"] for r in summary["tests"] if r["id"] == tid)
            print(f"  {tid:<{w + 40}} {outcome or '-':<8} {', '.join(attrs)}", file=out)
    for e in summary["fixture_events"]:
        if e["outcome"] != SKIP:
            where = f"{e.get('prefix', '')}{e['fixture']} ({e['where']})"
            print(f"\nFIXTURE {where}: {e['outcome']}\n{e['detail']}", file=out)
    bad = [r for r in summary["tests"] if r["outcome"] in BAD]
    if bad and show_details:
        print(f"\n{len(bad)} not passing:", file=out)
        for r in bad:
            tag = " [reads internals]" if r["reads_internals"] else ""
            print(f"  {r['outcome']:<8} {r['id']}{tag}", file=out)
        if show_details >= 2:
            for r in bad:
                if r["reads_internals"] and show_details < 3:
                    continue
                for d in r["details"][:2]:
                    print(f"\n==== {r['outcome'].upper()}: {r['id']}\n{_last_lines(d, 25)}", file=out)
    print(
        f"\nwall time {summary['wall_seconds']:.1f} s; result: "
        + ("OK (all ordinary tests pass)" if summary["ok"] else "NOT OK"),
        file=out,
    )


def _last_lines(s: str | None, n: int) -> str:
    lines = (s or "").rstrip().splitlines()
    return "\n".join(lines if len(lines) <= n else ["..."] + lines[-n:])


def add_common_arguments(parser: Any) -> None:
    parser.add_argument("-k", dest="patterns", action="append", metavar="PATTERN",
                        help="only tests whose id matches (unittest -k rules; repeatable)")
    parser.add_argument("--json", metavar="PATH",
                        help="write the summary as JSON here (rewritten after each test)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="wall-clock seconds per test before it is interrupted (default 120)")
    parser.add_argument("--list", action="store_true", help="list the selected tests and exit")
    parser.add_argument("-v", "--verbose", action="count", default=1,
                        help="-v: one line per test")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-test progress")
    parser.add_argument("--strict", action="store_true",
                        help="exit non-zero also when a reads-internals test fails")


def list_tests(tests: list[unittest.TestCase], internals: dict[str, list[str]]) -> None:
    for t in tests:
        tid = short_id(t)
        flag = f"   [reads internals: {', '.join(internals[tid])}]" if internals.get(tid) else ""
        print(f"{tid}{flag}")
    print(f"\n{len(tests)} tests, {sum(1 for t in tests if internals.get(short_id(t)))} read internals")


def bound_exit(code: int, seconds: float | None = None) -> int:
    """Return ``code``, and make sure the process exits with it within ``seconds``.

    The interpreter's exit joins threads (``concurrent.futures``' atexit hook joins every
    executor's manager thread): threads that a hung test left stuck would keep the process
    alive for ever after the report is written. A daemon timer lists them and ``os._exit``s.
    ``$FANIN_HARNESS_EXIT_GRACE`` overrides the default of 30 s.
    """
    if seconds is None:
        seconds = float(os.environ.get("FANIN_HARNESS_EXIT_GRACE", "30"))

    def force() -> None:
        time.sleep(seconds)
        stuck = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
        with contextlib.suppress(Exception):
            sys.__stderr__.write(f"[harness] exit still blocked after {seconds:g} s by threads {stuck}; "
                                 f"forcing exit {code}\n")
            faulthandler.dump_traceback(file=sys.__stderr__, all_threads=True)
            sys.__stderr__.flush()
            sys.stdout.flush()
        os._exit(code)

    threading.Thread(target=force, name="cpython-harness-exit", daemon=True).start()
    return code


def exit_code(summary: dict[str, Any], strict: bool) -> int:
    if not summary["ok"]:
        return 1
    if strict and summary["reads_internals_totals"]["fail"]:
        return 1
    return 0


class SourceNotFound(RuntimeError):
    """CPython's tests for this Python are not installed (exit status 3)."""


def cli(ap: Any, argv: list[str] | None, run_with: Callable[[Any, int], dict[str, Any]],
        impl_line: Callable[[dict[str, Any]], str]) -> int:
    """The runners' shared command line: parse, run, report, bounded exit."""
    add_common_arguments(ap)
    args = ap.parse_args(argv)
    verbose = 0 if args.quiet else args.verbose
    try:
        summary = run_with(args, verbose)
    except SourceNotFound as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except (ValueError, ImportError, AttributeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.list:
        return 0
    print(f"\nPython {summary['python']}; tests from {summary['source']}")
    print(impl_line(summary))
    print_report(summary, show_details=2 if verbose else 1)
    return bound_exit(exit_code(summary, args.strict))
