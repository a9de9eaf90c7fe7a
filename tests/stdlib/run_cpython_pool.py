#!/usr/bin/env python3
"""Run the Pool tests of CPython's own ``_test_multiprocessing`` against any Pool class.

    python tests/stdlib/run_cpython_pool.py                          # multiprocessing.pool.Pool
    python tests/stdlib/run_cpython_pool.py --impl fanin:Pool
    python tests/stdlib/run_cpython_pool.py --impl fanin:Pool --start-method fork -k imap -v

Tests run (the "processes" flavour; CPython also runs these classes with threads and a manager,
which do not involve ``multiprocessing.Pool``):

* ``WithProcessesTestPool`` (CPython's ``_TestPool``), ``WithProcessesTestPoolWorkerErrors``,
  ``WithProcessesTestPoolWorkerLifetime``;
* the other tests that create a ``multiprocessing.Pool``: ``TestInitializers.test_pool_initializer``,
  ``TestStdinBadfiledescriptor.test_pool_in_process``,
  ``TestPoolNotLeakOnFailure.test_release_unused_processes`` and, from 3.13,
  ``MiscTestCase.test_large_pool``.

By default once per start method, as CPython does (``test_multiprocessing_fork``, ``_forkserver``,
``_spawn``): ids and classes are prefixed ``fork:``, ``forkserver:``, ``spawn:``.

The classes are built the way ``test_multiprocessing_fork.py`` builds them
(``install_tests_in_module_dict``, into ``_cpython_mp_cases``). Nothing in them is changed; the
harness rebinds what they use to reach the Pool:

* ``ProcessesMixin.Pool`` (``self.Pool(...)``);
* ``_test_multiprocessing``'s ``multiprocessing`` global becomes a proxy whose ``Pool`` and
  ``pool.Pool`` are the class under test (``multiprocessing.Pool(2)`` in
  ``_TestPoolWorkerErrors``, ``multiprocessing.pool.Pool(5, context=...)``); every other name is
  the real module's;
* ``script_helper.assert_python_ok``: a child interpreter's ``-c`` script or script file gets a
  preamble that sets ``multiprocessing.Pool`` to the class under test there.

``TestStdinBadfiledescriptor.test_pool_in_process`` makes its Pool in a child *process*; with
``fork`` that child inherits the swap, with ``spawn``/``forkserver`` it would import a fresh
stdlib and test the stdlib's Pool, so for a non-stdlib implementation it is skipped (with that
reason) under those two start methods.

"Reads internals", the exit status and ``--timeout`` work as in ``run_cpython_futures.py``.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import inspect
import multiprocessing
import os
import sys
import time
import unittest
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import _cpython_harness as H
from _cpython_harness import SourceNotFound

STDLIB_POOL = "multiprocessing.pool:Pool"
CASES = "_cpython_mp_cases"
POOL_CLASSES = (
    "WithProcessesTestPool",  # _TestPool
    "WithProcessesTestPoolWorkerErrors",  # _TestPoolWorkerErrors
    "WithProcessesTestPoolWorkerLifetime",  # _TestPoolWorkerLifetime
)
MISC_TESTS = {
    "TestInitializers": ("test_pool_initializer",),
    "TestStdinBadfiledescriptor": ("test_pool_in_process",),
    "TestPoolNotLeakOnFailure": ("test_release_unused_processes",),
    "MiscTestCase": ("test_large_pool",),  # 3.13+
}
START_METHODS = ("fork", "forkserver", "spawn")  # CPython's order
CHILD_PROCESS_TESTS = ("TestStdinBadfiledescriptor.test_pool_in_process",)




def load_cases() -> tuple[Any, Any]:
    try:
        base = importlib.import_module("test._test_multiprocessing")
    except ImportError as e:
        raise SourceNotFound(
            f"CPython's test._test_multiprocessing is not installed for Python {sys.version.split()[0]} "
            f"({e}); on Debian/Ubuntu: apt-get install libpython3.X-testsuite"
        ) from e
    except unittest.SkipTest as e:
        raise SourceNotFound(f"test._test_multiprocessing skips itself here: {e}") from e
    return base, importlib.import_module(CASES)


def collect(cases: Any) -> list[unittest.TestCase]:
    loader = unittest.TestLoader()
    tests: list[unittest.TestCase] = []
    for name in POOL_CLASSES:
        tests += H.iter_tests(loader.loadTestsFromTestCase(getattr(cases, name)))
    for name, methods in MISC_TESTS.items():
        cls = getattr(cases, name, None)
        if cls is None:
            continue
        tests += [cls(m) for m in methods if hasattr(cls, m)]
    return tests


def find_internals(tests: list[unittest.TestCase], base: Any) -> dict[str, list[str]]:
    own = H.names_defined_by([inspect.getsource(base)])
    out = {}
    for t in tests:
        attrs = H.private_attributes(getattr(type(t), t._testMethodName), own)
        if attrs:
            out[H.short_id(t)] = attrs
    return out


def fixtures_for(base: Any, method: str) -> tuple[Any, Any]:
    """The setUpModule/tearDownModule pair ``install_tests_in_module_dict`` makes for ``method``."""
    scratch: dict[str, Any] = {"__name__": CASES}
    base.install_tests_in_module_dict(scratch, method)
    return scratch["setUpModule"], scratch["tearDownModule"]


def swap(base: Any, pool_cls: Any, preamble: str, patcher: H.Patcher) -> None:
    import multiprocessing.pool

    from test.support import script_helper

    pool_proxy = H.ProxyModule(multiprocessing.pool, Pool=pool_cls)
    mp_proxy = H.ProxyModule(multiprocessing, Pool=pool_cls, pool=pool_proxy)
    patcher.set(base, "multiprocessing", mp_proxy)
    patcher.set(base.ProcessesMixin, "Pool", staticmethod(pool_cls))
    for name in ("assert_python_ok", "assert_python_failure"):
        orig = getattr(script_helper, name)
        if not getattr(orig, "__fanin_wrapped__", False):
            wrapped = H.wrap_script_runner(orig, preamble)
            patcher.set(script_helper, name, wrapped)
            if getattr(base, name, None) is orig:
                patcher.set(base, name, wrapped)


def _skip_child_process_test(test: unittest.TestCase, method: str) -> None:
    reason = (f"the Pool is made in a child process, which under {method!r} imports a fresh stdlib: "
              "it would test multiprocessing.Pool, not the implementation (runs under 'fork')")
    name = test._testMethodName
    orig = getattr(test, name)

    @functools.wraps(orig)
    def skipper(*a: Any, **k: Any) -> None:
        raise unittest.SkipTest(reason)

    setattr(test, name, skipper)  # on this instance only


def run(
    impl: str | None = None,
    patterns: list[str] | None = None,
    json_path: str | None = None,
    timeout: float = 120.0,
    verbose: int = 1,
    start_methods: list[str] | None = None,
    list_only: bool = False,
) -> dict[str, Any]:
    """Run the Pool tests; return the summary (see ``_cpython_harness.run_suite``)."""
    spec = impl or STDLIB_POOL
    pool_cls = H.load_object(spec)
    is_stdlib = pool_cls is H.load_object(STDLIB_POOL)
    available = multiprocessing.get_all_start_methods()
    methods = [m for m in (start_methods or START_METHODS) if m in available]
    if not methods:
        raise ValueError(f"none of {start_methods} is available here ({available})")
    base, cases = load_cases()
    from test import support

    support.verbose = max(0, verbose - 2)
    all_tests = collect(cases)
    internals = find_internals(all_tests, base)
    selected = list(H.iter_tests(H.filter_suite(all_tests, patterns)))
    if list_only:
        H.list_tests(selected, internals)
        return {}
    meta = {
        "harness": "CPython _test_multiprocessing (Pool tests, processes flavour)",
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "source": base.__file__,
        "impl": {"pool": spec},
        "start_methods": methods,
        "patterns": patterns or [],
    }
    preamble = H.child_preamble([("multiprocessing", "Pool", spec)], [HERE] + [p for p in sys.path if p])
    patcher = H.Patcher()
    records: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    per_method: dict[str, float] = {}
    t0 = time.monotonic()
    try:
        swap(base, pool_cls, preamble, patcher)
        for method in methods:
            set_up, tear_down = fixtures_for(base, method)
            patcher.set(cases, "setUpModule", set_up)
            patcher.set(cases, "tearDownModule", tear_down)
            # fresh TestCase instances per run: a unittest suite drops its tests after running them
            tests = [type(t)(t._testMethodName) for t in selected]
            for t in tests:
                if H.short_id(t) in CHILD_PROCESS_TESTS and method != "fork" and not is_stdlib:
                    _skip_child_process_test(t, method)
            suite = H.filter_suite(tests, None)
            summary = H.run_suite(suite, internals=internals, timeout=timeout, verbose=verbose, meta=meta,
                                  json_path=json_path, prefix=f"{method}:", extra_records=records,
                                  extra_fixture_events=events)
            records = list(summary["tests"])
            events = list(summary["fixture_events"])
            per_method[method] = summary["wall_seconds"]
        summary["wall_seconds"] = round(time.monotonic() - t0, 1)
        summary["wall_seconds_per_start_method"] = per_method
        if json_path:
            H.write_json(json_path, summary)
        return summary
    finally:
        patcher.undo()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--impl", metavar="MOD:POOL", help=f"Pool class to test (default {STDLIB_POOL})")
    ap.add_argument("--start-method", action="append", choices=START_METHODS, dest="start_methods",
                    help="run under this start method (repeatable; default: all available)")
    return H.cli(ap, argv, lambda a, v: run(
                     a.impl, a.patterns, a.json, a.timeout, v, a.start_methods, a.list),
                 lambda s: f"impl: {s['impl']['pool']}; start methods: {', '.join(s['start_methods'])}")


if __name__ == "__main__":
    sys.exit(main())
