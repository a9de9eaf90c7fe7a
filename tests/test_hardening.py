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


@pytest.mark.timeout(90)
def test_default_start_method_does_not_fork_a_threaded_process(tmp_path):
    """Python 3.12+ warns (DeprecationWarning) when a process with threads forks; a hub has
    threads before its workers start, so the default must not be fork (issue 15, item 29)."""
    import subprocess
    import sys

    script = tmp_path / "default_method.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {os.path.dirname(workers.__file__)!r})\n"
        "import fanin, workers\n"
        "if __name__ == '__main__':\n"
        "    assert fanin.process_map(workers.square, range(50), progress='off') == "
        "[x * x for x in range(50)]\n"
        "    with fanin.Hub('process', 2, progress='off') as hub:\n"
        "        assert hub.map(workers.count_to, [3, 4]) == [3, 4]\n"
        "        print(hub.mp_context.get_start_method())\n"
    )
    out = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", str(script)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "forkserver"
    assert "DeprecationWarning" not in out.stderr


def test_events_file_is_opened_safely(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "run.jsonl"
    link.symlink_to(target)
    with pytest.raises(ValueError, match="events file"):
        fanin.Hub(progress="off", events=link).start()
    with pytest.raises(ValueError, match="events file"):
        fanin.Hub(progress="off", events=link, overwrite_events=True).start()
    assert target.read_text() == "keep me"  # never followed, never truncated
    existing = tmp_path / "old.jsonl"
    existing.write_text("old run\n")
    with pytest.raises(ValueError, match="already exists"):
        fanin.Hub(progress="off", events=existing).start()
    with fanin.Hub(progress="off", events=existing, overwrite_events=True) as hub:
        hub.map(workers.count_to, [3])
    assert "old run" not in existing.read_text()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="events file"):  # no reader: fails, never blocks
        fanin.Hub(progress="off", events=fifo, overwrite_events=True).start()
