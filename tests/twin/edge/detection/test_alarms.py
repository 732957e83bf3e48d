"""ISA-18.2 alarm handling: states, de-duplication, off-delay, chattering, shelving, rates."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twin.edge.detection.alarms import AlarmManager, AlarmSettings, Signal

S = Signal(tag="l.a.x", detector="cusum", rule="upper", value=3.2, limit=3.0)


def manager(**settings: float) -> AlarmManager:
    return AlarmManager(AlarmSettings(off_delay_s=5, chatter_count=3, chatter_window_s=60, chatter_hold_s=120,
                                      **settings))


def test_a_persisting_signal_is_one_alarm_until_it_clears_and_is_acknowledged() -> None:
    m = manager()
    (alarm,) = m.process(1_000, [S])
    assert alarm.state == "unack_active" and alarm.value == 3.2 and alarm.limit == 3.0
    for t in range(2_000, 10_000, 1_000):
        assert m.process(t, [S]) == []  # de-duplicated
    m.process(12_000, [])
    assert alarm.state == "unack_active"  # quiet for 3 s < off-delay
    m.process(14_000, [])
    assert alarm.state == "unack_rtn"
    m.acknowledge(alarm.id, 15_000)
    assert alarm.state == "normal"
    assert [h["state"] for h in alarm.history] == ["unack_active", "unack_rtn", "normal"]
    (again,) = m.process(20_000, [S])
    assert again.id != alarm.id


def test_acknowledged_active_alarm_returns_to_normal_by_itself() -> None:
    m = manager()
    (alarm,) = m.process(0, [S])
    m.acknowledge(alarm.id, 500)
    assert alarm.state == "ack_active"
    m.process(1_000, [S])
    m.process(7_000, [])
    assert alarm.state == "normal"


def test_a_returning_condition_before_acknowledge_reactivates_the_same_alarm() -> None:
    m = manager()
    (alarm,) = m.process(0, [S])
    m.process(6_000, [])
    assert alarm.state == "unack_rtn"
    assert m.process(7_000, [S]) == []
    assert alarm.state == "unack_active" and len(m.alarms) == 1


def test_different_detectors_on_one_tag_are_different_alarms() -> None:
    m = manager()
    other = Signal(tag=S.tag, detector="shewhart", rule="WE1", value=4.0, limit=3.0)
    assert len(m.process(0, [S, other])) == 2


def test_a_chattering_tag_is_suppressed_and_counted() -> None:
    m = manager()
    annunciated = 0
    for cycle in range(6):  # on 1 s, off 6 s: every cycle clears and re-fires
        t = cycle * 8_000
        new = m.process(t, [S])
        annunciated += len(new)
        if new:
            m.acknowledge(new[0].id, t)
        m.process(t + 6_000, [])
    assert annunciated == 3 and m.suppressed == 3
    assert m.rates(60_000)["suppressed_chattering"] == 3
    assert len(m.process(48_000 + 130_000, [S])) == 1  # the hold is over


def test_shelving_hides_an_alarm_until_it_expires() -> None:
    m = manager()
    (alarm,) = m.process(0, [S])
    m.shelve(alarm.id, 1_000, duration_s=30)
    assert alarm.state == "shelved"
    m.process(20_000, [S])
    assert alarm.state == "shelved"
    m.process(31_000, [S])
    assert alarm.state == "unack_active" and alarm.history[-1]["reason"] == "shelving expired"


def test_operator_mistakes_are_named() -> None:
    m = manager()
    (alarm,) = m.process(0, [S])
    m.acknowledge(alarm.id, 1)
    with pytest.raises(ValueError, match="only unacknowledged alarms"):
        m.acknowledge(alarm.id, 2)
    with pytest.raises(KeyError, match="no alarm 'A99999'"):
        m.acknowledge("A99999", 3)
    with pytest.raises(ValueError, match="duration_s must be positive"):
        m.shelve(alarm.id, 4, duration_s=0)


@given(st.lists(st.integers(0, 3_600_000), max_size=80), st.integers(2, 15))
def test_flood_periods_are_exactly_the_windows_over_threshold(starts: list[int], threshold: int) -> None:
    m = AlarmManager(AlarmSettings(flood_threshold=threshold, chatter_count=10_000))
    for i, t in enumerate(sorted(starts)):
        m.process(t, [Signal(tag=f"l.t.{i}", detector="d", rule="r", value=1, limit=0)])
    rates = m.rates(3_600_000)
    ordered = sorted(starts)
    busiest = max((sum(1 for u in ordered if t - 600_000 < u <= t) for t in ordered), default=0)
    assert rates["per_10_min_max"] == busiest
    assert bool(rates["flood_periods"]) == (busiest >= threshold)
    for period in rates["flood_periods"]:
        assert period["alarms"] >= threshold and period["start_ms"] <= period["end_ms"]


def test_an_alarm_whose_condition_cleared_while_shelved_returns_to_normal() -> None:
    m = manager()
    (alarm,) = m.process(0, [S])
    m.shelve(alarm.id, 1_000, duration_s=30)
    for t in range(2_000, 40_000, 1_000):
        m.process(t, [])
    assert alarm.state == "normal" and alarm.history[-1]["reason"] == "shelving expired; the condition had cleared"
    (again,) = m.process(41_000, [S])
    assert again.id != alarm.id


def test_a_shelving_says_why_in_the_alarm_history() -> None:
    m = manager()
    (alarm,) = m.process(0, [S])
    m.shelve(alarm.id, 1_000, duration_s=30, by="ben", reason="  sensor under repair ")
    assert alarm.history[-1]["reason"] == "shelved by ben for 30 s: sensor under repair"
    (other,) = m.process(2_000, [Signal("t.b", "shewhart", "1", 9.0, 3.0)])
    m.shelve(other.id, 2_000, duration_s=5)
    assert other.history[-1]["reason"] == "shelved by operator for 5 s"  # no reason given: none made up
