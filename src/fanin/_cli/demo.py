"""The demo batch job: real pure-Python CPU work, with or without progress.

Runs in: worker threads or processes (``run_job``) and the caller (``calibrate``). Module
level functions so they pickle by reference under spawn and forkserver.
"""

from __future__ import annotations

import logging
import time
from typing import NamedTuple

from .._worker.reporter import Reporter

log = logging.getLogger("fanin.demo")


class Job(NamedTuple):
    name: str
    items: int
    iters: int  # spin iterations per item (calibrated to the requested microseconds)
    fail_at: int = -1  # item index at which this job raises (for testing exit codes)
    log: bool = False  # log a line at start and end (to show worker logs above the bars)


def spin(iters: int) -> int:
    """About ``iters`` units of pure-Python arithmetic: the stand-in for a CPU-heavy item."""
    x = 0
    for i in range(iters):
        x = (x + i * i) % 1_000_003
    return x


def calibrate(item_us: float, probe: int = 200_000) -> int:
    """Spin iterations that take about ``item_us`` microseconds on this machine."""
    if item_us <= 0:
        return 0
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        spin(probe)
        best = min(best, time.perf_counter() - t0)
    per_iter_us = best / probe * 1e6
    return max(1, round(item_us / per_iter_us))


def run_job(job: Job, progress: Reporter) -> int:
    """One job with a live bar: advance once per item."""
    progress.start(description=job.name, total=job.items)
    if job.log:
        log.info("starting %d items", job.items)
    iters, fail_at = job.iters, job.fail_at
    advance = progress.advance
    for i in range(job.items):
        if i == fail_at:
            raise RuntimeError(f"{job.name} failed at item {i} (requested with --fail-job)")
        spin(iters)
        advance()
    if job.log:
        log.info("done")
    return job.items


def run_job_quiet(job: Job, progress: Reporter) -> int:
    """The identical job with no reporting at all: the baseline for overhead."""
    iters, fail_at = job.iters, job.fail_at
    for i in range(job.items):
        if i == fail_at:
            raise RuntimeError(f"{job.name} failed at item {i} (requested with --fail-job)")
        spin(iters)
    return job.items
