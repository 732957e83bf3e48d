"""A restore that leads a ramp (``lead_s``): it aims where the signal is heading, and its verification
measures the effect from there, so a fault that keeps going is not taken for a move that made it worse.

The policy reads a view built on the loop's own :class:`SignalHistory`; the signal is a line whose
slope hypothesis draws.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.mqtt_support import diagnosis, toy_playbook
from twin.edge.control.history import SignalHistory
from twin.edge.control.policy import RATE_WINDOW_S, PlaybookPolicy
from twin.edge.frames import Frame

FLOW, VALVE = "t.coolant.flow", "t.coolant.valve.command"
START, NOW_MS = 27.0, 60_000
GAIN, WINDOW_S = 2.2, 8.0


class View:
    """What a policy may read, over a flow that holds 27 L/min for 30 s, then drops by ``drop`` and falls at
    ``rate`` per second."""

    def __init__(self, rate: float, drop: float = 0.0) -> None:
        self.history = SignalHistory(start_s=5, horizon_s=120)
        for t in range(0, NOW_MS + 1, 100):
            self.history.add(t, START + (rate * (t - 30_000) / 1000 - drop if t >= 30_000 else 0.0))

    @property
    def frame(self) -> Frame:  # the policy does not read the frame itself
        raise AssertionError("not read")

    def value(self, tag: str) -> float:
        return 60.0

    def recent_mean(self, signal: str, seconds: float = 5.0) -> float | None:
        return self.history.mean_between(NOW_MS - int(seconds * 1000), NOW_MS + 1)

    def recent_slope(self, signal: str, seconds: float) -> float | None:
        return self.history.slope_between(NOW_MS - int(seconds * 1000), NOW_MS + 1)

    def start_mean(self, signal: str, seconds: float) -> float | None:
        return self.history.mean_start(seconds)

    def pre_alarm_mean(self, signal: str, seconds: float, d: object) -> float | None:
        return self.history.mean_between(0, 30_000)


def proposal(lead_s: float, rate: float, drop: float = 0.0):
    doc = toy_playbook().model_dump()
    action = doc["rules"][1]["actions"][0]
    action.update(lead_s=lead_s, tolerance=0.0, max_move=1000.0)
    policy = PlaybookPolicy(type(toy_playbook()).model_validate(doc))
    (made,) = policy.propose(diagnosis("t.coolant.valve", NOW_MS), View(rate, drop))
    return made


@settings(max_examples=40, deadline=None)
@given(rate=st.floats(-0.2, -0.001), lead_s=st.floats(1.0, 60.0))
def test_leading_a_falling_signal_moves_further_by_the_rate_times_the_lead(rate: float, lead_s: float) -> None:
    now = View(rate).recent_mean(FLOW)
    assert now is not None
    chased, led = proposal(0.0, rate), proposal(lead_s, rate)
    assert chased.value == pytest.approx(60.0 + GAIN * (START - now), abs=1e-5)
    assert led.value == pytest.approx(chased.value - GAIN * rate * lead_s, abs=1e-4)
    # the verification measures the effect from where the flow was heading by the end of its window
    assert led.verify is not None and chased.verify is not None and chased.verify.before is None
    assert led.verify.before == pytest.approx(now + rate * WINDOW_S, abs=1e-6)


@settings(max_examples=20, deadline=None)
@given(lead_s=st.floats(0.0, 600.0))
def test_a_signal_that_stopped_falling_is_led_nowhere(lead_s: float) -> None:
    assert proposal(lead_s, 0.0, drop=2.0).value == pytest.approx(proposal(0.0, 0.0, drop=2.0).value, abs=1e-9)


def test_the_rate_is_read_over_the_last_ten_seconds_only() -> None:
    """A fall that started 5 s ago is read slower than it is (half the window is flat); over its own 5 s, exactly."""
    history = SignalHistory(start_s=5, horizon_s=120)
    for t in range(0, 60_001, 100):
        history.add(t, 10.0 - max(0.0, t - 55_000) / 1000)
    slope = history.slope_between(60_000 - int(RATE_WINDOW_S * 1000), 60_001)
    assert slope is not None and -1.0 < slope < -0.1
    assert history.slope_between(55_000, 60_001) == pytest.approx(-1.0)
    assert history.slope_between(59_950, 60_001) is None  # fewer than three samples


class LostLink(View):
    """The same flow, but the valve's own reading is gone (the PLC link dropped): NaN, as a bad frame gives."""

    def value(self, tag: str) -> float:
        return float("nan")


def test_without_a_reading_of_the_setpoint_a_restore_is_refused_not_proposed_as_nan() -> None:
    """A restore moves the valve from where it reads; with no reading (a lost link at the end of a run) it is
    refused with a reason, which the loop ledgers, instead of a NaN the plug-in guard rejects as malformed."""
    policy = PlaybookPolicy(toy_playbook())
    made = policy.propose(diagnosis("t.coolant.valve", NOW_MS), LostLink(-0.05, drop=2.0))
    restores = [p for p in made if p.tag == VALVE]
    assert restores and all(p.value is None and p.refusal is not None and p.refusal[0] == "quality"
                            for p in restores)
    healthy = policy.propose(diagnosis("t.coolant.valve", NOW_MS), View(-0.05, drop=2.0))
    assert [p.value is not None for p in healthy if p.tag == VALVE] == [True]  # with a reading it is proposed
