"""Deliberately flawed stand-ins for the stdlib classes, to check that the harnesses judge.

``tests/test_stdlib_compat.py`` points the harnesses at these (on a few tests each) and checks
the verdicts: a plain subclass passes; a flaw is caught where it should be; the swap reaches the
fresh interpreters some tests start; a hang is interrupted and counted as a timeout.
"""

from __future__ import annotations

import multiprocessing.pool
import sys
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor


class SubclassThreadPoolExecutor(ThreadPoolExecutor):
    """Behaves exactly like the stdlib's: must pass everything."""


class SubclassProcessPoolExecutor(ProcessPoolExecutor):
    """Behaves exactly like the stdlib's: must pass everything."""


class NoisyThreadPoolExecutor(ThreadPoolExecutor):
    """Writes a line to stderr when constructed.

    In-process tests do not look at stderr, but the tests that run a ``-c`` script in a fresh
    interpreter assert its stderr is empty: they fail only if the swap reached that interpreter.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        sys.stderr.write("noisy executor\n")


class HangingThreadPoolExecutor(ThreadPoolExecutor):
    """``submit`` returns a future that never completes: every ``result()`` blocks for ever."""

    def submit(self, fn, /, *args, **kwargs):
        return Future()


class NoChunksizeProcessPoolExecutor(ProcessPoolExecutor):
    """``map`` does not take ``chunksize`` (fanin's first ProgressExecutor): test_map must fail."""

    def map(self, fn, *iterables, timeout=None):
        return super().map(fn, *iterables, timeout=timeout)


class SubclassPool(multiprocessing.pool.Pool):
    """Behaves exactly like the stdlib's: must pass everything."""


class NoStarmapPool(multiprocessing.pool.Pool):
    """``starmap`` is missing: the starmap tests must fail (with AttributeError: errors)."""

    def __getattribute__(self, name):
        if name in ("starmap", "starmap_async"):
            raise AttributeError(name)
        return super().__getattribute__(name)


class HangingPool(multiprocessing.pool.Pool):
    """``apply`` never returns."""

    def apply(self, func, args=(), kwds={}):  # noqa: B006 -- the stdlib's signature
        import threading

        threading.Event().wait()


class _Refusing:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("refused by the judge's double")


class RefusingThreadPoolExecutor(_Refusing, ThreadPoolExecutor):
    """Cannot be constructed: every test that reaches the class under test must fail. A test
    that still passes reached the stdlib's class by a route the harness did not swap."""


class RefusingProcessPoolExecutor(_Refusing, ProcessPoolExecutor):
    """See RefusingThreadPoolExecutor."""


class RefusingPool(_Refusing, multiprocessing.pool.Pool):
    """See RefusingThreadPoolExecutor."""


class _RefusingOutsideSetUp:
    def __init__(self, *args, **kwargs):
        caller = sys._getframe(1).f_code.co_name
        if caller not in ("setUp", "setUpClass"):
            raise RuntimeError(f"refused by the judge's double (constructed in {caller})")
        super().__init__(*args, **kwargs)


class SetUpOnlyThreadPoolExecutor(_RefusingOutsideSetUp, ThreadPoolExecutor):
    """Can be constructed by a fixture only: a test that builds its own executor must fail. A test
    whose body builds one and still passes reached the stdlib's class by an un-swapped route."""


class SetUpOnlyProcessPoolExecutor(_RefusingOutsideSetUp, ProcessPoolExecutor):
    """See SetUpOnlyThreadPoolExecutor."""


class SetUpOnlyPool(_RefusingOutsideSetUp, multiprocessing.pool.Pool):
    """See SetUpOnlyThreadPoolExecutor."""
