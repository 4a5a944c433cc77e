"""TickGaps: the worst interval between control ticks, in total and per report window."""

import pytest

from emotalk_ros.retarget.pacing import TickGaps


def test_even_ticks_report_one_period_and_nothing_late():
    g = TickGaps(0.01)
    for k in range(100):
        g.tick(5.0 + 0.01 * k)
    assert g.worst_s == pytest.approx(0.01)
    assert g.take_recent() == pytest.approx(0.01)
    assert g.late == 0 and g.ticks == 100


def test_a_stall_is_the_worst_gap_and_leaves_the_next_window():
    g = TickGaps(0.01)
    t = [0.0, 0.01, 0.02, 0.37, 0.38, 0.39]          # a 350 ms stall
    for now in t[:4]:
        g.tick(now)
    assert g.take_recent() == pytest.approx(0.35)
    for now in t[4:]:
        g.tick(now)
    assert g.take_recent() == pytest.approx(0.01)    # the new window is clean again
    assert g.worst_s == pytest.approx(0.35)           # ...while the total remembers it
    assert g.late == 1


def test_late_counts_intervals_over_three_periods_only():
    g = TickGaps(0.01)
    for now in [0.0, 0.029, 0.06, 0.1]:               # 29, 31, 40 ms
        g.tick(now)
    assert g.late == 2


def test_a_clock_stepping_back_is_not_a_gap():
    g = TickGaps(0.01)
    g.tick(1.0)
    assert g.tick(0.5) == 0.0
    assert g.worst_s == 0.0


def test_period_must_be_positive():
    with pytest.raises(ValueError, match="period_s"):
        TickGaps(0.0)
