"""Reliability, round two (issue 15): faults that used to hang or kill the plumbing."""

from __future__ import annotations

import os
import resource

import pytest
import workers

import fanin


@pytest.fixture
def many_fds():
    """Hold ~1,030 descriptors, so every queue made next gets a number above 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 4096)
    if want < 1300:
        pytest.skip(f"fd limit {hard} too low for this test")
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    held = []
    while True:
        r, w = os.pipe()
        held += [r, w]
        if w >= 1030:
            break
    yield
    for fd in held:
        os.close(fd)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.timeout(60)
def test_descriptors_above_1024_work(many_fds):
    with fanin.Hub(backend="process", workers=2, progress="off") as hub:
        assert hub.map(workers.count_to, [100, 200]) == [100, 200]
        rep = hub.reporter("mine", total=50)
        p = hub.mp_context.Process(target=workers.fetch_all, args=(rep, 50))
        p.start()
        p.join(30)
        assert hub.sync()
        mine = next(t for t in hub.tasks() if t.description == "mine")
    assert mine.completed == 50 and mine.status == "done"


@pytest.mark.timeout(60)
def test_a_half_sent_message_does_not_stall_the_others():
    with fanin.Hub(backend="process", workers=1, progress="off") as hub:
        hostile = hub.reporter("hostile")
        p = hub.mp_context.Process(target=workers.half_message_then_sleep, args=(hostile, 20))
        p.start()
        try:
            assert hub.map(workers.count_to, [300, 400]) == [300, 400]  # not stuck behind it
            good = hub.reporter("good", total=10)
            q = hub.mp_context.Process(target=workers.fetch_all, args=(good, 10))
            q.start()
            q.join(20)
            assert hub.sync(10)
            shown = {t.description: t for t in hub.tasks()}
            assert shown["good"].completed == 10 and shown["good"].status == "done"
        finally:
            p.kill()
            p.join()
