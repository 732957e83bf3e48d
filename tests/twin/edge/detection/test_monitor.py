"""The subgroup monitor on hand-made frames: warm-up, subgroups, overlapping rules, band factors."""

from __future__ import annotations

import numpy as np

from twin.edge.detection.monitor import SubgroupMonitor
from twin.edge.detection.settings import DetectionSettings, MonitorRule
from twin.edge.detection.thresholds import RuleCondition, ThresholdRule
from twin.edge.frames import ElementIndex, Frame
from virtual_plc.tagmap import Tag

TAGS = [Tag(name="l.a.x", low=-1e6, high=1e6, period_ms=1000), Tag(name="l.amb.rh", low=0, high=100, period_ms=1000)]
INDEX = ElementIndex(TAGS)


def feed(monitor: SubgroupMonitor, xs: list[float], rh: float = 50.0, start_s: int = 0) -> list:
    signals = []
    for k, x in enumerate(xs):
        frame = Frame((start_s + k) * 1000, INDEX, np.array([x, rh]), np.zeros(2, np.uint8), np.ones(2, bool))
        signals += monitor.observe(frame)
    return signals


def test_overlapping_rules_each_keep_their_own_centre_under_a_band_factor() -> None:
    """A threshold rule tightens a level band around *its* centre, whatever else watches the tag."""
    rng = np.random.default_rng(0)
    settings = DetectionSettings(
        warmup_s=60,
        monitor=[
            MonitorRule(name="level", tags=["l.a.*"], detector="shewhart", rules=[1], L=4.0, prewhiten=False),
            MonitorRule(name="change", tags=["l.a.*"], detector="cusum", k=1.0, h=50.0),
        ],
        threshold_rules=[ThresholdRule(name="humid", when=RuleCondition(tag="l.amb.rh", above=85), tags=["l.a.*"],
                                       percent=50)],
    )
    monitor = SubgroupMonitor(settings, INDEX)
    # 62 s of data: warm-up subgroups close up to 60 s, the one closing at 61 s builds the banks
    assert feed(monitor, list(100 + rng.normal(0, 1, 62))) == []
    level = monitor.groups[0].bank
    assert monitor.groups[1].bank.center[0] == 0.0 != level.center[0]  # change judges forecast errors
    shifted = level.center[0] + 3 * level.sigma[0]  # inside L=4, beyond the tightened 4 * 0.5 = 2
    assert feed(monitor, [shifted], rh=50.0, start_s=62) + feed(monitor, [shifted], rh=50.0, start_s=63) == []
    at_centre = level.center[0]
    assert feed(monitor, [at_centre, at_centre], rh=90.0, start_s=64) == []  # tightened around its own centre
    signals = feed(monitor, [shifted, shifted], rh=90.0, start_s=66)
    assert [(s.detector, s.rule) for s in signals] == [("level", "WE1")]


def test_a_tag_seen_too_rarely_during_warm_up_is_reported_not_monitored() -> None:
    monitor = SubgroupMonitor(DetectionSettings(warmup_s=5), INDEX)
    feed(monitor, [1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0, 2.0])
    assert monitor.not_monitored["l.a.x"].startswith("only 5 good subgroups")


def test_the_warm_up_counts_from_the_first_frame_not_from_plant_time_zero() -> None:
    """An edge that joins a PLC whose clock is long past ``warmup_s`` still learns for ``warmup_s``, then judges."""
    rng = np.random.default_rng(1)
    settings = DetectionSettings(warmup_s=60, monitor=[MonitorRule(name="level", tags=["l.a.*"], detector="shewhart",
                                                                   rules=[1], L=4.0, prewhiten=False)])
    late, early = SubgroupMonitor(settings, INDEX), SubgroupMonitor(settings, INDEX)
    xs = list(100 + rng.normal(0, 1, 62))
    assert feed(late, xs, start_s=10_000) == [] and feed(early, xs) == []
    assert late.ready and early.ready  # the subgroup closing 61 s after the first frame built the banks
    assert late.groups[0].bank.center[0] == early.groups[0].bank.center[0]  # learned from the same 60 s
    assert [(s.detector, s.rule) for s in feed(late, [200.0, 200.0], start_s=10_062)] == [("level", "WE1")]
