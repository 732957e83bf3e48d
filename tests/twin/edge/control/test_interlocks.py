"""The safety interlocks: every rule refuses, with hypothesis over out-of-bounds values and rates."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.mqtt_support import toy_tagmap
from twin.edge.control.interlocks import Interlocks, InterlockSettings, TagLimits
from twin.edge.frames import Quality

VALVE = "t.coolant.valve.command"  # range 0..100
GOOD = Quality.GOOD


def locks(**limits) -> Interlocks:
    budget = limits.pop("move_budget", 100)
    return Interlocks(InterlockSettings(defaults=TagLimits(**limits), move_budget=budget), toy_tagmap())


def code(refusal) -> str | None:
    return None if refusal is None else refusal.code


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False),
                 st.floats(min_value=100.000001, allow_nan=False, allow_infinity=False)))
def test_out_of_range_values_are_refused(value) -> None:
    assert code(locks().check(VALVE, value, current=50.0, quality=GOOD, t_ms=0)) == "out_of_range"


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([math.nan, math.inf, -math.inf]))
def test_non_finite_values_are_refused(value) -> None:
    assert code(locks().check(VALVE, value, current=50.0, quality=GOOD, t_ms=0)) == "not_finite"


@settings(max_examples=200, deadline=None)
@given(current=st.floats(0, 100), step=st.floats(5.000001, 100))
def test_steps_beyond_max_step_are_refused_and_smaller_ones_pass(current, step) -> None:
    interlocks = locks(max_step=5.0)
    target = current + step if current + step <= 100 else current - step
    if 0 <= target <= 100:
        assert code(interlocks.check(VALVE, target, current=current, quality=GOOD, t_ms=0)) == "max_step"
    small = current + 4.9 if current + 4.9 <= 100 else current - 4.9
    assert code(interlocks.check(VALVE, small, current=current, quality=GOOD, t_ms=0)) is None


@settings(max_examples=200, deadline=None)
@given(dt_ms=st.integers(1, 60_000), move=st.floats(0.01, 50))
def test_rate_of_change_is_limited(dt_ms, move) -> None:
    interlocks = locks(max_rate_per_s=0.5)
    assert interlocks.check(VALVE, 50.0, current=40.0, quality=GOOD, t_ms=0) is None
    interlocks.commit(VALVE, 50.0, 0)
    refusal = interlocks.check(VALVE, 50.0 + move, current=50.0, quality=GOOD, t_ms=dt_ms)
    too_fast = move / (dt_ms / 1000) > 0.5
    assert code(refusal) == ("rate" if too_fast else None)


@settings(max_examples=100, deadline=None)
@given(times=st.lists(st.integers(0, 200_000), min_size=1, max_size=30))
def test_accepted_sequences_keep_cooldown_and_budget(times) -> None:
    interlocks = locks(cooldown_s=30, move_budget=3)
    accepted = []
    value = 50.0
    for t in sorted(times):
        if interlocks.check(VALVE, value + 1, current=value, quality=GOOD, t_ms=t) is None:
            value += 1
            interlocks.commit(VALVE, value, t)
            accepted.append(t)
    assert len(accepted) <= 3
    assert all(b - a >= 30_000 for a, b in zip(accepted, accepted[1:]))


def test_each_rule_names_itself() -> None:
    interlocks = locks(max_step=5, cooldown_s=30, move_budget=1)
    check = interlocks.check
    assert code(check("t.nope.sp", 1, current=0, quality=GOOD, t_ms=0)) == "unknown_tag"
    assert code(check("t.coolant.flow", 1, current=0, quality=GOOD, t_ms=0)) == "not_writable"
    for bad in (Quality.STALE, Quality.BAD, Quality.MISSING):
        refusal = check(VALVE, 51, current=50, quality=bad, t_ms=0)
        assert code(refusal) == "quality" and bad.name.lower() in refusal.message
    assert code(check(VALVE, 51, current=50, quality=GOOD, t_ms=0, bounds=(0, 50.5))) == "out_of_bounds"
    assert check(VALVE, 51, current=50, quality=GOOD, t_ms=0) is None
    interlocks.commit(VALVE, 51, 0)
    assert code(check(VALVE, 52, current=51, quality=GOOD, t_ms=10_000)) == "cooldown"
    assert code(check(VALVE, 52, current=51, quality=GOOD, t_ms=40_000)) == "budget"
    # a rollback is exempt from the budget only: not from the cool-down, not from the range
    assert code(check(VALVE, 50, current=51, quality=GOOD, t_ms=10_000, rollback=True)) == "cooldown"
    assert interlocks.cooldown_ends(VALVE) == 30_000
    assert check(VALVE, 50, current=51, quality=GOOD, t_ms=30_000, rollback=True) is None
    assert code(check(VALVE, 150, current=51, quality=GOOD, t_ms=40_000, rollback=True)) == "out_of_range"


def test_per_tag_overrides_merge_over_defaults() -> None:
    settings_ = InterlockSettings(defaults=TagLimits(max_step=1, cooldown_s=10),
                                  tags={"t.coolant.*": TagLimits(max_step=15)})
    interlocks = Interlocks(settings_, toy_tagmap())
    assert interlocks.limits(VALVE) == TagLimits(max_step=15, cooldown_s=10)
    assert interlocks.limits("t.blade1.pressure_sp") == TagLimits(max_step=1, cooldown_s=10)


@settings(max_examples=200, deadline=None)
@given(reading=st.floats(0, 98).map(lambda v: float(np.float32(v))), limit=st.sampled_from([0.1, 0.3, 0.7, 1.1]))
def test_a_step_exactly_at_max_step_from_a_float32_reading_passes(reading: float, limit: float) -> None:
    """A correction of exactly max_step from a float32 value read off the PLC lands a hair past the
    limit in float64 arithmetic; it is still the step the playbook allows."""
    assert code(locks(max_step=limit).check(VALVE, reading + limit, current=reading, quality=GOOD, t_ms=0)) is None
    assert code(locks(max_step=limit).check(VALVE, reading + limit * 1.001, current=reading, quality=GOOD,
                                            t_ms=0)) == "max_step"
