"""A stand-in for a third-party library that draws its own tqdm bars (imported at the top,
as libraries do, so the name is bound before any hub exists)."""

from __future__ import annotations

import time

from tqdm import tqdm


def crunch(n: int) -> int:
    total = 0
    for i in tqdm(range(n), desc=f"inner {n}"):
        time.sleep(0.01)
        total += i
    return total


def job(n, progress):
    progress.set_total(2)
    crunch(n)
    progress.advance()
    crunch(n)
    progress.advance()
    return n
