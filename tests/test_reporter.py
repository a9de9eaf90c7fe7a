"""The worker-side reporter with an in-memory channel: no hub, no threads of ours."""

from __future__ import annotations

import math
import pickle

import pytest

from fanin import Reporter, TaskCancelled
from fanin._wire import Report


class ListChannel:
    """The in-memory fake transport: records what a reporter would send."""

    def __init__(self) -> None:
        self.sent: list[Report] = []

    def put(self, obj: object) -> None:
        self.sent.append(obj)  # type: ignore[arg-type]


def make(desc="t", total=None):
    ch = ListChannel()
    return ch, Reporter(ch, "t1", desc, total)


def test_advance_accumulates_without_sending():
    ch, r = make()
    r.start()
    first = len(ch.sent)
    for _ in range(10_000):
        r.advance()
    r.advance(5)
    r.advance(2.5)
    assert len(ch.sent) - first <= 2  # only what the flusher thread may have shipped
    r.finish()
    assert ch.sent[-1].completed == 10_007.5 and ch.sent[-1].status == "done"
    seqs = [m.seq for m in ch.sent]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


@pytest.mark.parametrize("bad", [-1, math.nan, math.inf, -math.inf, "10", True, [1]])
def test_bad_totals_raise_at_the_call(bad):
    ch, r = make()
    with pytest.raises((ValueError, TypeError), match="total"):
        r.set_total(bad)
    with pytest.raises((ValueError, TypeError), match="total"):
        Reporter(ch, "x", "d", bad)
    with pytest.raises((ValueError, TypeError), match="total"):
        r.start(total=bad)


@pytest.mark.parametrize("bad", ["1", None, [1], object()])
def test_non_numeric_amounts_raise_at_the_call(bad):
    _, r = make()
    r.start()
    with pytest.raises(TypeError, match="advance\\(\\) amount must be a real number"):
        r.advance(bad)
    assert r.completed == 0
    with pytest.raises(TypeError):
        r.set_completed(bad)


def test_non_finite_completed_rejected():
    _, r = make()
    with pytest.raises(ValueError, match="finite"):
        r.set_completed(math.nan)
    with pytest.raises(TypeError, match="description"):
        r.set_description(123)  # type: ignore[arg-type]


def test_nan_advance_never_ships_and_fails_the_task_at_finish():
    ch, r = make()
    r.start()
    r.advance(math.nan)
    r.flush()
    assert all(not math.isnan(m.completed) for m in ch.sent)
    r.finish()
    assert ch.sent[-1].status == "failed" and "finite real number" in ch.sent[-1].error


def test_use_after_finish_raises():
    _, r = make()
    r.start()
    r.finish()
    for call in (r.advance, lambda: r.set_total(3), lambda: r.set_completed(1),
                 lambda: r.set_description("x"), r.start):
        with pytest.raises(RuntimeError, match="already done"):
            call()
    r.finish()  # idempotent
    r.fail()  # no-op once final


def test_context_manager_finishes_or_fails():
    ch, r = make()
    with r:
        r.advance(3)
    assert ch.sent[-1].status == "done"
    ch, r = make()
    with pytest.raises(KeyError):
        with r:
            r.advance()
            raise KeyError("x")
    assert ch.sent[-1].status == "failed" and "KeyError" in ch.sent[-1].error


def test_track_sets_total_and_finishes():
    ch, r = make()
    assert list(r.track(range(7), description="seven")) == list(range(7))
    last = ch.sent[-1]
    assert (last.completed, last.total, last.description, last.status) == (7, 7, "seven", "done")


def test_track_of_a_generator_has_unknown_total():
    ch, r = make()
    assert sum(r.track(x for x in range(5))) == 10
    assert ch.sent[-1].total is None and ch.sent[-1].completed == 5


def test_track_marks_failure_when_iterating_raises():
    ch, r = make()

    def gen():
        yield 1
        raise OSError("disk")

    with pytest.raises(OSError):
        list(r.track(gen()))
    assert ch.sent[-1].status == "failed" and ch.sent[-1].completed == 1


def test_subtasks_have_unique_ids_on_the_same_channel():
    ch, r = make()
    r.start()
    a, b = r.task("a", 2), r.task("b")
    assert (a.task_id, b.task_id) == ("t1/1", "t1/2")
    a.advance(2)
    a.finish()
    assert ch.sent[-1].task == "t1/1" and ch.sent[-1].completed == 2


def test_pickle_round_trip_keeps_state():
    _, r = make("pickled", 10)
    r.start()
    r.advance(4)
    r2 = pickle.loads(pickle.dumps(r))
    assert (r2.completed, r2.total, r2.task_id) == (4, 10, "t1")


def test_interrupt_makes_next_advance_raise_and_records_cancellation():
    ch, r = make()
    r.start()
    r.advance(3)
    r._interrupt("interrupted")
    with pytest.raises(TaskCancelled):
        r.advance()
    with pytest.raises(TaskCancelled):
        for _ in r.track(range(5)):
            pass
    assert r.completed == 3
    r.fail(TaskCancelled("interrupted"))
    assert ch.sent[-1].status == "cancelled" and ch.sent[-1].completed == 3


def test_long_description_is_cut_worker_side():
    ch, r = make("d" * 1_000_000)
    r.start()
    assert len(ch.sent[-1].description) <= 1000


def test_open_subtasks_end_with_their_parent():
    ch, r = make()
    r.start()
    a = r.task("left open", 10)
    a.advance(4)
    b = r.task("finished", 2)
    b.advance(2)
    b.finish()
    r.finish()
    last = {m.task: m for m in ch.sent}
    assert last["t1/1"].status == "done" and last["t1/1"].completed == 4
    ch, r = make()
    r.start()
    c = r.task("orphan")
    r.fail(ValueError("x"))
    assert ch.sent[-1].task == c.task_id and ch.sent[-1].status == "cancelled"
    assert "parent task" in ch.sent[-1].error


def test_an_interrupt_overwritten_by_a_racing_advance_is_reapplied():
    _, r = make()
    r.start()
    r._interrupt("interrupted")
    r._n = 7  # what a worker's `self._n += n` racing with the swap can write back
    r.flush()  # the flusher thread does this every interval
    with pytest.raises(TaskCancelled):
        r.advance()
    assert r.completed == 7


class AdoptingChannel(ListChannel):
    """A channel that decides what its unpickled reporters do (as ``DaskChannel.adopt``)."""

    weak = True  # class-level: the copy's channel is a fresh unpickled object

    def adopt(self, rep: Reporter) -> None:
        from fanin._worker.flusher import FLUSHER

        if AdoptingChannel.weak:
            rep._mark_sent()
            FLUSHER.register_weak(rep, rep._interval)

    def __reduce__(self):
        return (AdoptingChannel, ())


def test_an_adopted_copy_is_tracked_weakly_and_reports_only_once_used():
    import gc

    from fanin._worker.flusher import FLUSHER

    rep = Reporter(AdoptingChannel(), "t9", "copy", 10)
    copy = pickle.loads(pickle.dumps(rep))
    assert id(copy) in FLUSHER.weak and id(copy) not in FLUSHER.live
    FLUSHER.flush_all()
    assert copy._channel.sent == []  # an unused copy never reports (never counts as a run)
    copy.advance(3)
    FLUSHER.flush_all()  # it reported: now it is in use here, so tracked until it finishes
    assert [m.completed for m in copy._channel.sent] == [3]
    assert id(copy) in FLUSHER.live and id(copy) not in FLUSHER.weak
    copy.finish()
    assert id(copy) not in FLUSHER.live

    unused = pickle.loads(pickle.dumps(rep))
    key = id(unused)
    assert key in FLUSHER.weak
    del unused
    gc.collect()
    assert key not in FLUSHER.weak  # dropped by its owner (a stolen task): forgotten


def test_a_channel_may_keep_an_unpickled_copy_inert():
    from fanin._worker.flusher import FLUSHER

    AdoptingChannel.weak = False
    try:
        copy = pickle.loads(pickle.dumps(Reporter(AdoptingChannel(), "t8", "inert", 10)))
    finally:
        AdoptingChannel.weak = True
    assert id(copy) not in FLUSHER.weak and id(copy) not in FLUSHER.live


# -- issue 15 item 22: a worker process's log lines travel in batches -------------------------

def test_log_lines_travel_in_one_batch_and_a_flood_is_counted():
    from fanin._wire import LogBatch, LogRecord
    from fanin._worker.logs import LogBatcher

    sent: list[object] = []

    class Channel:
        def put(self, obj: object) -> None:
            sent.append(obj)

    logs = LogBatcher(Channel(), 60.0, per_second=5)  # the flusher never fires in the test
    for i in range(8):
        logs.put(LogRecord(None, 1, "w", "INFO", f"line {i}"))
    assert sent == []  # nothing leaves until a flush
    logs.flush()
    (batch,) = sent
    assert type(batch) is LogBatch
    texts = [r.text for r in batch.records]
    assert texts[:5] == [f"line {i}" for i in range(5)]
    assert "3 log lines dropped" in texts[5] and len(texts) == 6
    logs.flush()  # nothing pending: no empty batch
    assert len(sent) == 1
