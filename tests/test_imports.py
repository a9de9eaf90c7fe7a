"""What a hub's first use imports (issue 13): the import chain is part of a short run's cost.

Pure checks, no threads started: a fresh interpreter imports ``fanin.Hub`` and reports the
modules it pulled in; and the code-object fast path that spares ``inspect`` agrees with
``inspect.signature`` on every parameter shape.
"""

from __future__ import annotations

import functools
import inspect
import json
import subprocess
import sys
from typing import Any

import pytest

from fanin._run.calls import _cache, _plain, _takes_two, check_takes_reporter, wants_progress

# Heavy stdlib modules a thread hub has no use for: ``dataclasses``/``inspect`` (~5 ms),
# ``concurrent.futures.process`` with multiprocessing's connections, tempfile, shutil,
# bz2, lzma (~7 ms), ``json`` (the events file only), Rich (the ANSI view draws terminals).
NOT_FOR_A_THREAD_HUB = ("dataclasses", "inspect", "concurrent.futures.process", "tempfile",
                        "multiprocessing.connection", "json", "rich")


def _imported_by(code: str) -> set[str]:
    script = (f"import sys, json; before = set(sys.modules); {code}; "
              "print(json.dumps(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


@pytest.mark.timeout(120)
def test_a_thread_hub_imports_nothing_heavy() -> None:
    new = _imported_by("import fanin; fanin.Hub(backend='thread', workers=1, progress='off')")
    assert not [m for m in NOT_FOR_A_THREAD_HUB if m in new], sorted(new)


@pytest.mark.timeout(120)
def test_a_thread_hub_run_imports_nothing_heavy() -> None:
    code = ("import fanin, tests_job\n"
            "with fanin.Hub(backend='thread', workers=2, progress='plain') as hub:\n"
            "    assert hub.map(tests_job.job, [1, 2]) == [2, 4]")
    script = ("import sys, types, json; before = set(sys.modules)\n"
              "m = types.ModuleType('tests_job'); sys.modules['tests_job'] = m\n"
              "exec('def job(x, progress):\\n    progress.advance()\\n    return 2 * x', m.__dict__)\n"
              f"{code}\n"
              "print(json.dumps(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    new = set(json.loads(out.splitlines()[-1]))
    assert not [m for m in NOT_FOR_A_THREAD_HUB if m in new and m != "json"], sorted(new)


class _C:
    def m(self, a: Any, b: Any) -> None: ...
    def m1(self, a: Any) -> None: ...
    def mp(self, x: Any, progress: Any = None) -> None: ...


SHAPES: list[Any] = [
    lambda a, b: 0, lambda a: 0, lambda a, b, c: 0, lambda a, b, c=1: 0, lambda *a: 0,
    lambda a, *r: 0, lambda a, b, *, k: 0, lambda a, b, *, k=1: 0, lambda a=1, b=2, c=3: 0,
    lambda: 0, lambda a, /, b: 0, lambda x, progress: 0, lambda x, *, progress=None: 0,
    lambda progress, /, x: 0, lambda **kw: 0, lambda x, **progress: 0, _C().m, _C().m1,
    _C().mp, lambda a, b, /, c=1, *, d=2: 0,
]


def _binds_two(fn: Any) -> bool:
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError:
        return False
    return True


def _asks_progress(fn: Any) -> bool:
    p = inspect.signature(fn).parameters.get("progress")
    return p is not None and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)


@pytest.mark.parametrize("fn", SHAPES, ids=lambda f: str(inspect.signature(f)))
def test_fast_path_agrees_with_inspect(fn: Any) -> None:
    plain = _plain(fn)
    assert plain is not None
    assert _takes_two(*plain) == _binds_two(fn)
    _cache.clear()
    assert wants_progress(fn) == _asks_progress(fn)


def test_wrapped_and_partial_take_the_inspect_path() -> None:
    def two(a: Any, b: Any) -> None: ...

    @functools.wraps(two)
    def wrapper(*args: Any) -> None: ...

    assert _plain(functools.partial(two, 1)) is None
    assert _plain(wrapper) is None  # __wrapped__: inspect follows it to two's signature
    with pytest.raises(TypeError, match="does not take two arguments"):
        check_takes_reporter(functools.partial(two, 1, 2))
    check_takes_reporter(wrapper)
    with pytest.raises(TypeError, match="does not take two arguments"):
        check_takes_reporter(lambda a: a)
