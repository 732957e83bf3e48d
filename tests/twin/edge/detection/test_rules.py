"""Run rules: the engine against the rules written out from their definitions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.twin.edge.detection.support import as_list, constant_zones, naive_rules
from twin.edge.detection import spc
from twin.edge.detection._rules import RuleEngine


def chart_of(x: list[float]) -> spc.ControlChart:
    """An individuals chart with centre 0 and sigma 1."""
    return spc.control_chart("xbar.one", x, center=0.0, std_dev=1.0)


# values on a grid so ties with the centre, the zone lines and between neighbours occur
grid_values = st.lists(st.integers(-14, 14).map(lambda v: v / 4), min_size=1, max_size=80)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(grid_values, st.sampled_from(["western-electric", "nelson"]))
def test_engine_matches_the_definitions(x: list[float], rule_set: str) -> None:
    if len(x) < 2:
        x = x + [0.25]
    assert chart_of(x).rules(rule_set) == naive_rules(x, 0.0, constant_zones(0.0, 1.0, len(x)), rule_set)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(st.integers(0, 12), min_size=5, max_size=60), st.lists(st.integers(20, 80), min_size=60, max_size=60))
def test_attribute_charts_judge_each_point_on_its_own_zones(counts: list[int], sizes: list[int]) -> None:
    sizes = sizes[: len(counts)]
    chart = spc.control_chart("p", counts, sizes=sizes)
    zones = {k: tuple(as_list(z) for z in chart.zone_limits(k)) for k in (1, 2, 3)}
    x = as_list(chart.statistics)
    for rule_set in ("western-electric", "nelson"):
        assert chart.rules(rule_set) == naive_rules(x, chart.center, zones, rule_set)


def test_one_point_beyond_three_sigma() -> None:
    rules = chart_of([0, 3.01, -3.5, 3.0, 0.1]).rules()
    assert rules[1] == [1, 2]  # exactly on the limit is not beyond


def test_two_of_three_needs_the_current_point_beyond_on_the_same_side() -> None:
    assert chart_of([0, 2.5, 2.5, 0, 0]).rules()[2] == [2]
    assert chart_of([0, 2.5, 0, 2.5, 0]).rules()[2] == [3]
    assert chart_of([0, 2.5, 2.5, 0]).rules()[2] == [2]
    assert chart_of([0, 2.5, -2.5, 2.5, -2.5]).rules()[2] == [3, 4]  # WE: 2 of 3 on one side
    # a full window of three is needed: two points beyond at the very start are not yet a signal
    assert chart_of([2.5, 2.5, 0.0]).rules()[2] == []


def test_four_of_five_beyond_one_sigma() -> None:
    assert chart_of([0, 1.5, 1.5, 0, 1.5, 1.5, 0]).rules()[3] == [5]
    assert chart_of([0, 1.5, 1.5, -1.5, 1.5, 1.5, 0]).rules()[3] == [5]


def test_runs_flag_from_the_point_they_reach_their_length_and_the_centre_breaks_them() -> None:
    x = [0.1] * 10 + [0.0] + [0.1] * 8
    we = chart_of(x).rules("western-electric")[4]
    assert we == [7, 8, 9, 18]
    nelson = chart_of(x).rules("nelson")[2]
    assert nelson == [8, 9]


def test_trend_alternation_stratification_and_mixture() -> None:
    trend = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.6]
    assert chart_of(trend).rules("nelson")[3] == [5, 6]
    alternating = [0.5 * (-1) ** i for i in range(15)] + [0.5, 0.5]
    assert chart_of(alternating).rules("nelson")[4] == [13, 14]
    within = [0.5, -0.5, 1.0, -1.0] * 4
    assert chart_of(within).rules("nelson")[7] == [14, 15]  # +-1 sigma inclusive
    mixture = [1.5, -1.5, 1.2, 1.3, 1.4, -1.2, 2.0, -2.0, 1.5]
    assert chart_of(mixture).rules("nelson")[8] == [7, 8]
    one_side = [1.5] * 9
    assert chart_of(one_side).rules("nelson")[8] == []  # both sides must be present


def test_unknown_rule_sets_and_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="rule_set"):
        chart_of([0, 1]).rules("nelsen")
    with pytest.raises(ValueError, match="rules"):
        RuleEngine(1, "western-electric", [5])


def test_streaming_and_chart_rules_agree_once_windows_are_full() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(0.3, 1.0, 400)
    chart = spc.control_chart("xbar.one", x, center=0.0, std_dev=1.0).rules("nelson")
    bank = spc.ShewhartBank(0.0, 1.0, rules=range(1, 9), rule_set="nelson")
    streamed: dict[int, list[int]] = {r: [] for r in range(1, 9)}
    for t, v in enumerate(x):
        bank.update(np.array([v]))
        for r in range(1, 9):
            if bank.last_rule_masks[0] & (1 << r):
                streamed[r].append(t)
    assert {r: [t for t in ts if t >= 4] for r, ts in streamed.items()} == {
        r: [t for t in ts if t >= 4] for r, ts in chart.items()}
