"""The public surface is small and pinned."""

from __future__ import annotations

import pytest

import fanin


def test_exported_names_are_pinned():
    assert fanin.__all__ == sorted(fanin.__all__)
    assert set(fanin.__all__) == {
        "Failure", "FaninError", "FaninWarning", "Hub", "Pool", "ProcessPoolExecutor",
        "ProgressExecutor", "RemoteTraceback", "Reporter", "SchedulerLost", "Snapshot",
        "TaskCancelled", "TaskView", "ThreadPoolExecutor", "WorkerDied", "__version__", "current",
        "process_map", "thread_map", "tqdm", "track", "trange",
    }


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"backend": "gpu"}, "backend"),
    ({"workers": 0}, "workers"),
    ({"workers": 2.5}, "workers"),
    ({"progress": "loud"}, "progress"),
    ({"refresh": 0}, "refresh"),
    ({"refresh": float("nan")}, "refresh"),
    ({"flush_interval": -1}, "flush_interval"),
    ({"start_method": "teleport"}, "start_method"),
])
def test_bad_hub_arguments_raise_clearly(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fanin.Hub(**kwargs)


def test_lifecycle_errors_are_sentences():
    hub = fanin.Hub(progress="off")
    with pytest.raises(RuntimeError, match="not started"):
        hub.reporter("x")
    with hub:
        pass
    hub.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        hub.map(len, [])
    with pytest.raises(RuntimeError, match="closed"):
        hub.start()


def test_map_argument_errors():
    with fanin.Hub(progress="off") as hub:
        with pytest.raises(ValueError, match="on_error"):
            hub.map(workers_two_args, [], on_error="ignore")
        with pytest.raises(ValueError, match="total"):
            hub.map(workers_two_args, [1], total=lambda _: -3)
        with pytest.raises(TypeError, match="description"):
            hub.map(workers_two_args, [1], description=42)


def workers_two_args(item, reporter):
    return item
