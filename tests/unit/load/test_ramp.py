"""When the logins of a --ramp start (xmpp_ext.load.ramp): the ones due in the same tick together."""

from __future__ import annotations

from collections import Counter

import pytest

from xmpp_ext.load.ramp import RAMP_TICK, start_offset


def test_at_100_a_second_the_ten_due_in_each_tenth_of_a_second_start_together():
    offsets = [start_offset(order, 100.0) for order in range(40)]
    assert Counter(round(offset, 6) for offset in offsets) == {0.0: 10, 0.1: 10, 0.2: 10, 0.3: 10}


@pytest.mark.parametrize("ramp", [1.0, 3.0, 7.5, 50.0, 100.0, 333.0, 2500.0])
def test_every_second_starts_the_logins_the_ramp_asks_for_none_late_none_more_than_a_tick_early(ramp):
    logins = int(ramp * 4)
    offsets = [start_offset(order, ramp) for order in range(logins)]
    assert offsets == sorted(offsets)
    for order, offset in enumerate(offsets):
        due = order / ramp
        assert due - RAMP_TICK < offset <= due + 1e-9
    per_second = Counter(int(offset + 1e-9) for offset in offsets)
    assert all(count == pytest.approx(ramp, abs=1) for count in per_second.values())


def test_a_due_time_on_a_tick_stays_in_that_tick_despite_rounding():
    # 3 / 10 is 0.30000000000000004 and that over 0.1 is not quite 3: still the tick at 0.3.
    assert start_offset(3, 10.0) == pytest.approx(0.3)


def test_a_ramp_must_be_positive():
    with pytest.raises(ValueError, match="more than 0"):
        start_offset(0, 0.0)
