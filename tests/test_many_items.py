"""Many small items over unchanged functions: chunked dispatch, one bar counting items."""

from __future__ import annotations

import io
import math
import pickle

import pytest
import workers
from conftest import START_METHODS

import fanin


@pytest.mark.timeout(60)
@pytest.mark.parametrize("start_method", START_METHODS)
def test_process_map_exact_results_and_counts(start_method):
    n = 5000
    out = io.StringIO()
    got = fanin.process_map(workers.square, range(n), max_workers=2, start_method=start_method,
                            progress="plain", file=out, summary=True)
    assert got == [x * x for x in range(n)]
    text = out.getvalue()
    assert "5,000/5,000" in text and "1 done" in text


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["thread", "process"])
def test_unsized_input_streams_with_no_total(backend):
    with fanin.Hub(backend, 2, progress="off") as hub:
        got = list(hub.imap(workers.square, (x for x in range(700))))
        (task,) = hub.tasks()
    assert got == [x * x for x in range(700)]
    assert task.completed == 700 and task.total is None and task.status == "done"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["thread", "process"])
def test_unordered_yields_every_result_once(backend):
    with fanin.Hub(backend, 2, progress="off") as hub:
        got = list(hub.imap(workers.square, range(1000), ordered=False, chunksize=7))
        (task,) = hub.tasks()
    assert sorted(got) == [x * x for x in range(1000)]
    assert task.completed == 1000 and task.total == 1000


@pytest.mark.timeout(60)
def test_several_iterables_are_zipped_like_tqdm():
    assert fanin.process_map(workers.add, [1, 2, 3], [10, 20, 30], progress="off") == [11, 22, 33]
    assert fanin.thread_map(workers.add, [1, 2], [10, 20], progress="off") == [11, 22]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["thread", "process"])
def test_failing_item_raises_the_original_exception_with_its_index(backend):
    fn = fanin.process_map if backend == "process" else fanin.thread_map
    with pytest.raises(KeyError, match="bad item 13") as info:
        fn(workers.fail_on_13, range(100), chunksize=10, progress="off")
    assert info.value.fanin_index == 13


@pytest.mark.timeout(60)
def test_collect_puts_a_failure_in_the_failed_items_place():
    got = fanin.process_map(workers.fail_on_13, range(20), on_error="collect", progress="off")
    assert got[:13] == list(range(13)) and got[14:] == list(range(14, 20))
    assert isinstance(got[13], fanin.Failure) and got[13].index == 13
    assert isinstance(got[13].error, KeyError)


def test_lambda_on_processes_fails_at_once_with_advice():
    with pytest.raises(pickle.PicklingError, match="module level"):
        fanin.process_map(lambda x: x, [1], progress="off")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("chunksize", [1, 33, 1000])
def test_chunksize_is_respected(chunksize):
    n = 200
    ids = fanin.process_map(workers.chunk_task_id, range(n), chunksize=chunksize,
                            max_workers=2, progress="off")
    assert len(set(ids)) == math.ceil(n / chunksize)  # one reporter (task part) per chunk


@pytest.mark.parametrize("bad", [0, -1])
def test_bad_chunksize_is_rejected(bad):
    with pytest.raises(ValueError, match="chunksize"):
        fanin.thread_map(workers.square, [1], chunksize=bad)


@pytest.mark.timeout(60)
def test_plain_output_stays_bounded_for_twenty_thousand_items():
    out = io.StringIO()
    fanin.process_map(workers.square, range(20_000), progress="plain", file=out, summary=True)
    lines = out.getvalue().splitlines()
    assert len(lines) < 10, lines
    assert any("20,000/20,000" in line for line in lines)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["thread", "process"])
def test_current_is_the_tasks_reporter_inside_and_a_no_op_outside(backend):
    outside = fanin.current()
    outside.advance(5)
    outside.set_total(3)
    outside.finish()  # accepted and ignored
    with fanin.Hub(backend, 1, progress="off") as hub:
        assert hub.map(workers.current_in_task, [0, 1]) == [True, True]


def test_map_with_a_one_argument_function_says_what_to_use():
    with fanin.Hub(progress="off") as hub, pytest.raises(TypeError, match="imap"):
        hub.map(len, ["ab"])


@pytest.mark.timeout(30)
def test_a_cancelled_chunk_seen_before_the_failure_that_cancelled_it():
    """Fail-fast cancels the call's other chunks as the failure happens; the consumer may see
    a cancelled chunk before the failed one is settled (thread backend, ~1 run in 200 under
    load): it must still raise the item's own error, not CancelledError."""
    import threading
    from concurrent.futures import Future

    from fanin._run import chunks

    class Group:
        def __init__(self):
            self.futures = []

        def submit(self, fn, jobs, descriptions, totals, parent=None):
            fut = Future()
            self.futures.append(fut)
            if len(self.futures) == 1:  # the failing chunk: settled a little later
                def fail():
                    err = KeyError("bad item 3")
                    err.fanin_index = 3
                    fut.set_exception(err)
                threading.Timer(0.05, fail).start()
            else:  # cancelled at once, as the backend's fail-fast does
                fut.cancel()
                fut.set_running_or_notify_cancel()
            return None, (fut,)

        def cancel(self, reason):
            pass

        def interrupt(self, reason):
            pass

    class Pipeline:
        settled = None

        def new_id(self, prefix):
            return prefix + "1"

        def add_tasks(self, tasks):
            pass

        def settle(self, parent, status, reason):
            self.settled = (status, reason)

    pipeline = Pipeline()
    it = chunks.imap(pipeline, Group(), 2, lambda: None, str, range(8), chunksize=4,
                     star=False, on_error="raise", ordered=True)
    with pytest.raises(KeyError, match="bad item 3") as info:
        list(it)
    assert info.value.fanin_index == 3
    assert pipeline.settled[0] == "failed"
