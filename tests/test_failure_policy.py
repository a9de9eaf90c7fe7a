"""One failure policy, scoped to the call that failed (issue 9's regression).

A failing ``map`` cancels its own queued items and nothing else: jobs other callers queued
on the same hub run to their end, on every backend.
"""

from __future__ import annotations

import threading

import pytest
import workers

import fanin
from fanin import Failure, TaskCancelled


def fail_fast_does_not_cancel_other_callers_work(hub: fanin.Hub) -> None:
    busy = hub.submit(workers.sleep_seconds, 0.6)  # keeps one worker busy
    raised: list[BaseException] = []

    def failing_map() -> None:
        try:
            hub.map(workers.fail_after, [0.3])
        except BaseException as exc:
            raised.append(exc)

    t = threading.Thread(target=failing_map)
    t.start()
    # Wait until the map's job is running, so the next four really queue behind it.
    deadline = 50
    while deadline and not any(v.status == "running" and "fail_after" in v.description
                               for v in hub.tasks()):
        threading.Event().wait(0.02)
        deadline -= 1
    unrelated = [hub.submit(workers.sleep_seconds, 0.2) for _ in range(4)]
    t.join(30)
    results = []
    for f in unrelated:
        try:
            results.append(f.result(timeout=30))
        except BaseException as exc:
            results.append(type(exc).__name__)
    assert busy.result(timeout=30) == 0.6
    assert results == [0.2, 0.2, 0.2, 0.2]
    assert len(raised) == 1 and isinstance(raised[0], ValueError)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["thread", "process"])
def test_fail_fast_cancels_only_its_own_call(backend):
    with fanin.Hub(backend=backend, workers=2, progress="off") as hub:
        fail_fast_does_not_cancel_other_callers_work(hub)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["thread", "process"])
def test_fail_fast_cancels_the_rest_of_its_own_call(backend):
    with fanin.Hub(backend=backend, workers=1, progress="off") as hub:
        with pytest.raises(ValueError, match="failed after"):
            hub.map(workers.fail_after, [0.05] + [0.01] * 5)
        hub.sync()
        statuses = [t.status for t in hub.tasks()]
    assert statuses[0] == "failed"
    assert statuses.count("cancelled") >= 4  # at most one could have been prefetched


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["thread", "process"])
def test_collect_runs_everything(backend):
    with fanin.Hub(backend=backend, workers=2, progress="off") as hub:
        out = hub.map(workers.sleep_or_fail, [(0.01, False), (0, True), (0.01, False)],
                      on_error="collect")
    assert out[0] == 0.01 and out[2] == 0.01
    assert isinstance(out[1], Failure) and isinstance(out[1].error, ValueError)
    assert out[1].index == 1 and not out[1]


def test_first_failure_prefers_the_cause_over_its_consequences():
    from concurrent.futures import Future

    from fanin._run.policy import first_failure

    cancelled, cause, ok = Future(), Future(), Future()
    cancelled.set_exception(TaskCancelled("fail-fast"))
    cause.set_exception(KeyError("x"))
    ok.set_result(1)
    assert isinstance(first_failure([ok, cancelled, cause]), KeyError)
    assert isinstance(first_failure([ok, cancelled]), TaskCancelled)
    assert first_failure([ok]) is None
