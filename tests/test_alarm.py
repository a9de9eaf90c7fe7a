"""``Alarm``: the one-lock wake-up of the render and collector loops (no timing asserted)."""

from __future__ import annotations

import threading

from fanin._threads import Alarm


def test_a_ring_wakes_one_sleep_and_is_consumed_by_it():
    alarm = Alarm()
    assert alarm.sleep(0) is False  # nobody rang
    alarm.ring()
    alarm.ring()  # ringing twice before anyone sleeps is one ring, not an error
    assert alarm.sleep(0) is True
    assert alarm.sleep(0) is False
    assert alarm.sleep(-1.0) is False  # a deadline already past: a poll, never "forever"


def test_a_ring_from_another_thread_ends_a_long_sleep():
    alarm = Alarm()
    ringer = threading.Thread(target=alarm.ring)
    ringer.start()
    assert alarm.sleep(60.0) is True
    ringer.join()
