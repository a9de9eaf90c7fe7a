"""Worker-side functions of the fresh-process cases (peers, many_items, lifecycle).

Runs in: worker threads and worker processes of whichever pool a case runs (the stdlib
executors, fanin, tqdm's, atpbar's, mpire's). Module level, so they pickle by reference
under fork, spawn and forkserver. The work is ``spin``, a copy of ``fanin._demo.spin``
(pure-Python arithmetic whose iteration count the parent calibrates to the requested
microseconds per item): a copy so that a peer's process, and its spawned workers, never
import fanin. Nothing here imports a progress tool at module level either.
"""

from __future__ import annotations

import time
from typing import Any


def spin(iters: int) -> int:
    """The same code as ``fanin._demo.spin``: about ``iters`` units of pure-Python work."""
    x = 0
    for i in range(iters):
        x = (x + i * i) % 1_000_003
    return x


# -- peers: 2 jobs of N items, one update per item -----------------------------------------
def bare_job(args: tuple[int, int, int]) -> int:
    """The baseline: the same items with no progress at all."""
    _idx, items, iters = args
    for _ in range(items):
        spin(iters)
    return items


def fanin_job(args: tuple[int, int, int], progress: Any) -> int:
    """fanin's documented pattern: ``hub.map(fn, jobs)``, ``advance()`` once per item."""
    idx, items, iters = args
    progress.start(description=f"job {idx + 1}", total=items)
    advance = progress.advance
    for _ in range(items):
        spin(iters)
        advance()
    return items


def tqdm_job(args: tuple[int, int, int]) -> int:
    """tqdm's documented pattern for pools: one bar per job at ``position=idx`` (the lock
    comes from ``tqdm.set_lock`` in the pool's initializer), one ``update()`` per item."""
    from tqdm import tqdm

    idx, items, iters = args
    with tqdm(total=items, position=idx, desc=f"job {idx + 1}") as bar:
        update = bar.update
        for _ in range(items):
            spin(iters)
            update()
    return items


def atpbar_job(args: tuple[int, int, int]) -> int:
    """atpbar's documented pattern: iterate through ``atpbar(range(n), name=...)`` (in a
    process pool the reporter comes from ``register_reporter`` in the initializer)."""
    from atpbar import atpbar

    idx, items, iters = args
    for _ in atpbar(range(items), name=f"job {idx + 1}"):
        spin(iters)
    return items


def item(iters: int) -> int:
    """One item as mpire's ``map`` sees it (its progress bar counts finished items)."""
    spin(iters)
    return 1


# -- peers: whole-run main CPU, tasks that do not move -------------------------------------
def bare_sleep(args: tuple[int, float]) -> int:
    time.sleep(args[1])
    return 1


def fanin_sleep(args: tuple[int, float], progress: Any) -> int:
    idx, seconds = args
    progress.start(description=f"sleeper {idx + 1}", total=1)
    time.sleep(seconds)
    progress.advance()
    return 1


def tqdm_sleep(args: tuple[int, float]) -> int:
    from tqdm import tqdm

    idx, seconds = args
    with tqdm(total=1, position=idx, desc=f"sleeper {idx + 1}") as bar:
        time.sleep(seconds)
        bar.update()
    return 1


# -- peers: whole-run main CPU, busy for a set time ----------------------------------------
# The busy run lasts ``seconds`` whatever the machine's speed at the time: an item count
# calibrated minutes earlier gave 2.2 s runs instead of 4 s once (the machine had sped up).
CHECK_EVERY = 100  # items between two clock reads (the same for every tool)


def _until(seconds: float, iters: int, update: Any) -> int:
    clock = time.perf_counter
    deadline = clock() + seconds
    done = 0
    while clock() < deadline:
        for _ in range(CHECK_EVERY):
            spin(iters)
            update()
        done += CHECK_EVERY
    return done


def _nothing() -> None:
    pass


def bare_timed(args: tuple[int, float, int]) -> int:
    return _until(args[1], args[2], _nothing)


def fanin_timed(args: tuple[int, float, int], progress: Any) -> int:
    idx, seconds, iters = args
    progress.start(description=f"job {idx + 1}")
    return _until(seconds, iters, progress.advance)


def tqdm_timed(args: tuple[int, float, int]) -> int:
    from tqdm import tqdm

    idx, seconds, iters = args
    with tqdm(position=idx, desc=f"job {idx + 1}") as bar:
        return _until(seconds, iters, bar.update)


# -- many_items: an unchanged function over many items -------------------------------------
def many_item(iters: int, x: int) -> int:
    """``f(x)`` for the one-liners (bound with ``functools.partial(many_item, iters)``):
    the result depends on x, so order and completeness are checked across tools."""
    return 2 * x + (spin(iters) & 1)


def many_item_rep(args: tuple[int, int], progress: Any) -> int:
    """The old shape: ``hub.map(fn, items)`` calls ``fn(item, reporter)``, one task per item
    (the reporter goes unused, as it would for an unchanged function wrapped this way)."""
    iters, x = args
    return many_item(iters, x)


# -- peers, between items: one update's cost between real items, in a pool worker ----------
def _alternating(call: Any, iters: int, pairs: int, per: int) -> list[list[float]]:
    """``pairs`` pairs of blocks of ``per`` items, one block without updates and one with a
    ``call()`` after each item, in alternating order: per pair, [bare wall, with wall, bare
    thread CPU, with thread CPU] (seconds). Both blocks of a pair run in the same worker
    within a few ms, so a slower core or a busier machine moves both alike."""
    clock, cpu = time.perf_counter, time.thread_time
    out: list[list[float]] = []
    for p in range(pairs):
        pair = [0.0, 0.0, 0.0, 0.0]
        for kind in ((0, 1) if p % 2 == 0 else (1, 0)):
            t, c = clock(), cpu()
            if kind == 0:
                for _ in range(per):
                    spin(iters)
            else:
                for _ in range(per):
                    spin(iters)
                    call()
            pair[kind], pair[2 + kind] = clock() - t, cpu() - c
        out.append(pair)
    return out


def between_fanin(args: tuple[int, int, int, int], progress: Any) -> list[list[float]]:
    idx, iters, pairs, per = args
    progress.start(description=f"job {idx + 1}", total=pairs * per)
    return _alternating(progress.advance, iters, pairs, per)


def between_tqdm(args: tuple[int, int, int, int]) -> list[list[float]]:
    from tqdm import tqdm

    idx, iters, pairs, per = args
    with tqdm(total=pairs * per, position=idx, desc=f"job {idx + 1}") as bar:
        return _alternating(bar.update, iters, pairs, per)
