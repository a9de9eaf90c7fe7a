"""``procstat.ProcProbe``: the /proc readings behind the health line (Linux only)."""

from __future__ import annotations

import os

import pytest

from fanin._ingest.procstat import NoSuchProcess, ProcProbe, has_proc

pytestmark = pytest.mark.skipif(not has_proc(), reason="no /proc here")


def test_reads_this_process_and_the_system():
    p = ProcProbe()
    cpu_s, rss = p.process(os.getpid())
    assert cpu_s >= 0 and rss > 1 << 20
    busy, total = p.system_times()
    assert 0 <= busy <= total and total > 0


def test_a_process_that_is_gone_is_no_such_process():
    with pytest.raises(NoSuchProcess):
        ProcProbe().process(2**22 + 12345)  # above the largest pid Linux hands out
