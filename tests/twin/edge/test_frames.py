"""Alignment: as-of frames and the quality rule."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from twin.edge.frames import Aligner, ElementIndex, Quality
from virtual_plc.tagmap import Tag

FAST = Tag(name="l.a.fast", low=0, high=10, period_ms=10)
SLOW = Tag(name="l.b.slow", low=0, high=10, period_ms=1000, length=3)


def make() -> Aligner:
    return Aligner(ElementIndex([FAST, SLOW]), staleness_periods=2)


def test_never_sampled_is_missing_then_good_after_a_read() -> None:
    aligner = make()
    frame = aligner.frame(0)
    assert list(frame.quality) == [Quality.MISSING] * 4 and np.isnan(frame.values).all()
    aligner.update(np.array([0]), np.array([4.2]), 0)
    frame = aligner.frame(0)
    assert frame.quality_of("l.a.fast") == Quality.GOOD and frame.value("l.a.fast") == 4.2
    assert frame.quality_of("l.b.slow") == Quality.MISSING
    assert list(frame.fresh) == [True, False, False, False]


@given(age=st.integers(0, 100_000), period=st.sampled_from([10, 100, 1000]), k=st.floats(1, 5))
def test_a_value_turns_stale_exactly_past_its_bound(age: int, period: int, k: float) -> None:
    tag = Tag(name="l.a.x", low=0, high=1, period_ms=period)
    aligner = Aligner(ElementIndex([tag]), staleness_periods=k)
    aligner.update(np.array([0]), np.array([0.5]), 1_000)
    frame = aligner.frame(1_000 + age)
    expected = Quality.STALE if age > int(period * k) else Quality.GOOD
    assert frame.quality[0] == expected
    assert frame.values[0] == 0.5  # a stale value keeps the last good value


def test_a_failed_read_is_bad_and_the_next_good_read_recovers() -> None:
    aligner = make()
    aligner.update(np.array([0, 1, 2, 3]), np.array([1.0, 2.0, 3.0, 4.0]), 0)
    aligner.update(np.array([0]), np.array([np.nan]), 10)  # connection lost
    frame = aligner.frame(10)
    assert frame.quality_of("l.a.fast") == Quality.BAD and np.isnan(frame.value("l.a.fast"))
    assert frame.quality_of("l.b.slow") == Quality.GOOD
    assert list(frame.value("l.b.slow")) == [2.0, 3.0, 4.0]
    aligner.update(np.array([0]), np.array([1.5]), 20)
    assert aligner.frame(20).quality_of("l.a.fast") == Quality.GOOD


def test_invalid_staleness_is_named() -> None:
    try:
        Aligner(ElementIndex([FAST]), staleness_periods=0.5)
    except ValueError as err:
        assert "staleness_periods" in str(err)
    else:
        raise AssertionError("expected a ValueError")
