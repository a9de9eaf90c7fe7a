"""A call group: one call's jobs (a ``map``, an ``amap``, an executor's life) on a backend.

Runs in: the caller. It registers the call's tasks with the pipeline, submits its jobs
tagged with its id, and cancels or interrupts only them (see ``policy.Group``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from .._backends import Backend, JobSpec
from .._worker.reporter import Reporter
from .._worker.tqdm_patch import WithTqdm
from .pipeline import Pipeline

_IDS = itertools.count(1)


class CallGroup:
    def __init__(self, pipeline: Pipeline, backend: Callable[[], Backend],
                 fail_fast: bool = False, awaited: bool = True) -> None:
        self._pipeline = pipeline
        self._backend = backend
        self.id = next(_IDS)
        self.fail_fast = fail_fast  # the policy's choice: a failure stops the group at once
        self.awaited = awaited  # see JobSpec.awaited

    def submit(self, fn: Callable[[Any, Reporter], Any], items: list[Any], descs: list[str],
               totals: list[float | None], parent: str | None = None,
               ) -> tuple[list[str], list[Future[Any]]]:
        """Register the tasks (they show as queued at once), then queue the jobs. With a
        ``parent``, the tasks are parts of that task (chunks of one map's bar)."""
        ids = [self._pipeline.new_id("t") for _ in items]
        self._pipeline.add_tasks(list(zip(ids, descs, totals)), parent=parent)
        backend = self._backend()
        if self._pipeline.options.tqdm:
            fn = WithTqdm(fn)  # tqdm bars inside the job become its sub-tasks
        return ids, [backend.submit(JobSpec(fn, item, task_id, d, t, self.id, self.fail_fast,
                                            self.awaited))
                     for item, task_id, d, t in zip(items, ids, descs, totals)]

    def cancel(self, reason: str) -> None:
        self._backend().cancel_group(self.id, reason)

    def check(self, fn: Callable[..., Any]) -> None:
        """Raise now, with a sentence, if ``fn`` cannot run on this backend."""
        self._backend().check_callable(fn)

    def interrupt(self, reason: str) -> None:
        self._backend().interrupt_group(self.id, reason)
