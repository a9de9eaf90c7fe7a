#!/usr/bin/env python3
"""Run CPython's own ``test_concurrent_futures`` against any pair of executor classes.

    python tests/stdlib/run_cpython_futures.py                     # the stdlib's own classes
    python tests/stdlib/run_cpython_futures.py --impl fanin:ThreadPoolExecutor,fanin:ProcessPoolExecutor
    python tests/stdlib/run_cpython_futures.py --impl stdlib,fanin:ProcessPoolExecutor -k ProcessPool
    python tests/stdlib/run_cpython_futures.py -k Fork -k test_map --json /tmp/futures.json -v -v

The test module is the one for the *running* Python, loaded from the installed stdlib ``test``
package (``test.test_concurrent_futures``: a module up to 3.11, a package from 3.12). Python
builds that ship without their test suite (Debian's ``python3.11`` without
``libpython3.11-testsuite``, some pyenv builds) are looked up in ``/usr/lib/pythonX.Y/test``
(same X.Y only), or wherever ``--cpython-tests DIR`` / ``$FANIN_CPYTHON_TESTS`` points; the
directory is then overlaid on the ``test`` package (``test.support`` stays the running Python's),
here and in worker/child processes, so ``test.test_concurrent_futures`` imports by its own name.

Nothing in the tests is changed. The harness rebinds what the tests use to reach the classes:

* the test modules' ``futures`` global (``from concurrent import futures``) becomes a proxy of
  ``concurrent.futures`` whose ``ThreadPoolExecutor``/``ProcessPoolExecutor`` are the classes
  under test (every other name is the stdlib's);
* the mixins' ``executor_type`` class attributes;
* ``script_helper.assert_python_ok``/``assert_python_failure``: the tests that start a fresh
  interpreter (``from concurrent.futures import ThreadPoolExecutor`` in a ``-c`` script) get a
  preamble there that makes the same swap on ``concurrent.futures`` in the child.

Tests whose own source reads private attributes (``executor._processes``, ``_max_workers``,
``_threads``, ``_executor_manager_thread``, ``_call_queue``, ``_broken``, ``future._state``,
``futures.process._RemoteTraceback`` ...) are listed as "reads internals": they run, and their
outcome is counted apart from the others. The exit status is 0 when every other test passes
(skips allowed), 1 otherwise (``--strict``: the internals ones too), 2 on usage errors, 3 when
the CPython tests cannot be found.

Each test (and each class/module fixture) gets ``--timeout`` seconds of wall clock; then the
stacks of all threads are printed and the test is interrupted and counted as "timeout" (see
``_cpython_harness.Watchdog``), so a hanging implementation cannot hang the run.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import inspect
import os
import pkgutil
import shutil
import sys
import sysconfig
import tempfile
import types
import unittest
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import _cpython_harness as H
from _cpython_harness import SourceNotFound

MODULE = "test.test_concurrent_futures"
STDLIB_THREAD = "concurrent.futures:ThreadPoolExecutor"
STDLIB_PROCESS = "concurrent.futures:ProcessPoolExecutor"




def stdlib_test_dir() -> str:
    return os.path.join(sysconfig.get_path("stdlib"), "test")


def _has_tests(d: str) -> bool:
    return os.path.isfile(os.path.join(d, "test_concurrent_futures.py")) or os.path.isfile(
        os.path.join(d, "test_concurrent_futures", "__init__.py")
    )


def find_source(explicit: str | None = None) -> tuple[str, bool]:
    """(directory holding test_concurrent_futures, whether it must be overlaid on ``test``)."""
    std = stdlib_test_dir()
    explicit = explicit or os.environ.get("FANIN_CPYTHON_TESTS") or None
    if explicit:
        if not _has_tests(explicit):
            raise SourceNotFound(f"{explicit} holds no test_concurrent_futures(.py|/)")
        return explicit, os.path.realpath(explicit) != os.path.realpath(std)
    if _has_tests(std):
        return std, False
    v = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for d in (f"/usr/lib/python{v}/test", f"/usr/local/lib/python{v}/test"):
        if os.path.realpath(d) != os.path.realpath(std) and _has_tests(d):
            return d, True
    raise SourceNotFound(
        f"CPython's test_concurrent_futures for Python {v} is not installed ({std} has none).\n"
        f"On Debian/Ubuntu: apt-get install libpython{v}-testsuite (puts it in /usr/lib/python{v}/test);\n"
        f"otherwise check out CPython's Lib/test at the tag v{sys.version.split()[0]} and pass "
        "--cpython-tests PATH/Lib/test (or set FANIN_CPYTHON_TESTS)."
    )


_overlays: dict[str, str] = {}


def install_overlay(extra_dir: str) -> str:
    """Make ``test.<module in extra_dir>`` importable here and in child processes.

    A directory first on ``sys.path`` holds a ``test`` package whose ``__path__`` is the stdlib's
    ``test`` directory followed by ``extra_dir``: ``test.support`` stays the running Python's,
    and what it lacks comes from ``extra_dir``. Spawned and forkserver workers inherit
    ``sys.path`` from the parent; the ``-c`` children get it from the preamble.
    """
    if extra_dir in _overlays:
        return _overlays[extra_dir]
    paths = [p for p in (stdlib_test_dir(),) if os.path.isdir(p)] + [extra_dir]
    root = tempfile.mkdtemp(prefix="fanin-cpython-tests-")
    os.mkdir(os.path.join(root, "test"))
    with open(os.path.join(root, "test", "__init__.py"), "w", encoding="utf-8") as f:
        f.write("# written by fanin's stdlib harness: the stdlib test package plus the directory\n")
        f.write("# holding the CPython tests this Python was installed without\n")
        f.write(f"__path__ = {paths!r}\n")
    atexit.register(shutil.rmtree, root, True)
    sys.path.insert(0, root)
    if "test" in sys.modules:
        pkg = sys.modules["test"]
        for p in paths:
            if p not in pkg.__path__:
                pkg.__path__.append(p)
    _overlays[extra_dir] = root
    return root


def load_modules() -> list[types.ModuleType]:
    """The test module, or for the 3.12+ package layout the package and all its submodules."""
    mod = importlib.import_module(MODULE)
    mods = [mod]
    if hasattr(mod, "__path__"):
        for info in sorted(pkgutil.iter_modules(mod.__path__), key=lambda i: i.name):
            mods.append(importlib.import_module(f"{MODULE}.{info.name}"))
    return mods


def collect(modules: list[types.ModuleType]) -> list[unittest.TestCase]:
    loader = unittest.TestLoader()
    if len(modules) == 1:
        suites = [loader.loadTestsFromModule(modules[0])]
    else:  # package: what its load_tests (support.load_package_tests) would load
        suites = [loader.loadTestsFromModule(m) for m in modules[1:]
                  if m.__name__.rsplit(".", 1)[1].startswith("test_")]
    return [t for s in suites for t in H.iter_tests(s)]


def _is_any(val: Any, candidates: list[Any]) -> Any:
    for c in candidates:
        if val is c:
            return c
    return None


def swap(modules: list[types.ModuleType], thread_cls: type, process_cls: type, preamble: str,
         patcher: H.Patcher) -> None:
    """Point every route the tests take to the stdlib executors at the classes under test."""
    import concurrent.futures as cf

    from test.support import script_helper

    std_thread, std_process = cf.ThreadPoolExecutor, cf.ProcessPoolExecutor
    impl_for = {id(std_thread): thread_cls, id(std_process): process_cls}
    proxy = H.ProxyModule(cf, ThreadPoolExecutor=thread_cls, ProcessPoolExecutor=process_cls)
    runners = {}
    for name in ("assert_python_ok", "assert_python_failure"):
        orig = getattr(script_helper, name)
        if getattr(orig, "__fanin_wrapped__", False):
            continue
        runners[id(orig)] = H.wrap_script_runner(orig, preamble)
        patcher.set(script_helper, name, runners[id(orig)])
    for mod in modules:
        for name, val in list(vars(mod).items()):
            if val is cf:
                patcher.set(mod, name, proxy)
            elif _is_any(val, [std_thread, std_process]) is not None:
                patcher.set(mod, name, impl_for[id(val)])
            elif id(val) in runners:
                patcher.set(mod, name, runners[id(val)])
            if isinstance(val, type) and val.__module__.startswith(MODULE):
                et = val.__dict__.get("executor_type")
                if _is_any(et, [std_thread, std_process]) is not None:
                    patcher.set(val, "executor_type", impl_for[id(et)])


def uses_executor(cls: type) -> bool:
    return hasattr(cls, "executor_type")


def find_internals(tests: list[unittest.TestCase], modules: list[types.ModuleType]) -> dict[str, list[str]]:
    own = H.names_defined_by(inspect.getsource(m) for m in modules)
    out: dict[str, list[str]] = {}
    for t in tests:
        if not uses_executor(type(t)):  # e.g. FutureTests: stdlib Future only, no executor
            continue
        attrs = H.private_attributes(getattr(type(t), t._testMethodName), own)
        if attrs:
            out[H.short_id(t)] = attrs
    return out


def parse_impl(impl: str | None) -> tuple[str, str]:
    if not impl:
        return STDLIB_THREAD, STDLIB_PROCESS
    parts = [p.strip() for p in impl.split(",")]
    if len(parts) != 2:
        raise ValueError("--impl wants module:ThreadClass,module:ProcessClass (either may be 'stdlib')")
    std = (STDLIB_THREAD, STDLIB_PROCESS)
    return tuple(std[i] if p in ("", "-", "stdlib") else p for i, p in enumerate(parts))  # type: ignore[return-value]


def run(
    impl: str | None = None,
    patterns: list[str] | None = None,
    json_path: str | None = None,
    timeout: float = 120.0,
    verbose: int = 1,
    source: str | None = None,
    list_only: bool = False,
) -> dict[str, Any]:
    """Run the suite; return the summary (see ``_cpython_harness.run_suite``).

    ``impl`` is ``"module:ThreadClass,module:ProcessClass"`` (None: the stdlib's own).
    """
    thread_spec, process_spec = parse_impl(impl)
    thread_cls, process_cls = H.load_object(thread_spec), H.load_object(process_spec)
    src_dir, overlay = find_source(source)
    extra_path = [install_overlay(src_dir)] if overlay else []
    from test import support

    support.verbose = max(0, verbose - 2)  # as regrtest does without -v: no per-test "0.12s" prints
    try:
        modules = load_modules()
    except unittest.SkipTest as e:
        raise SourceNotFound(f"{MODULE} skips itself on this Python: {e}") from e
    tests = collect(modules)
    internals = find_internals(tests, modules)
    suite = H.filter_suite(tests, patterns)
    selected = list(H.iter_tests(suite))
    if list_only:
        H.list_tests(selected, internals)
        return {}
    meta = {
        "harness": "CPython test_concurrent_futures",
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "source": modules[0].__file__,
        "impl": {"thread": thread_spec, "process": process_spec},
        "patterns": patterns or [],
    }
    preamble = H.child_preamble(
        [("concurrent.futures", "ThreadPoolExecutor", thread_spec),
         ("concurrent.futures", "ProcessPoolExecutor", process_spec)],
        extra_path + [HERE] + [p for p in sys.path if p],
    )
    patcher = H.Patcher()
    try:
        swap(modules, thread_cls, process_cls, preamble, patcher)
        return H.run_suite(suite, internals=internals, timeout=timeout, verbose=verbose, meta=meta,
                           json_path=json_path)
    finally:
        patcher.undo()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--impl", metavar="MOD:THREAD,MOD:PROCESS",
                    help="executor classes to test (default: the stdlib's; 'stdlib' keeps one side)")
    ap.add_argument("--cpython-tests", metavar="DIR",
                    help="directory holding test_concurrent_futures (default: the installed stdlib's)")
    return H.cli(ap, argv, lambda a, v: run(
                     a.impl, a.patterns, a.json, a.timeout, v, a.cpython_tests, a.list),
                 lambda s: f"impl: thread={s['impl']['thread']} process={s['impl']['process']}")


if __name__ == "__main__":
    sys.exit(main())
