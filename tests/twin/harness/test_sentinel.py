"""Sentinel scoring: latent parts warned in time, false warnings per 1,000 healthy parts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from twin.harness.sentinel import SentinelSettings, score_sentinel

SETTINGS = SentinelSettings(latent="micro_short", fails_after_h="runaway_h", lead_h=24)


def part(pid: int, latent: bool, rejected: bool, runaway_h: float = 72.0) -> list[dict[str, object]]:
    """A cell through formation (t = pid) and ageing (three days later)."""
    common = {"part_id": pid, "micro_short": float(latent), "runaway_h": runaway_h}
    return [{**common, "station": "cells.formation", "t_s": float(pid), "rejected": False},
            {**common, "station": "cells.ageing", "t_s": pid + 3 * 86_400.0, "rejected": rejected}]


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60))
def test_counts_follow_the_truth_and_the_warnings(cells: list[tuple[bool, bool]]) -> None:
    records = [r for pid, (latent, rejected) in enumerate(cells, start=1) for r in part(pid, latent, rejected)]
    score = score_sentinel(records, SETTINGS)
    latent = sum(1 for lat, _ in cells if lat)
    assert score.latent == latent and score.healthy == len(cells) - latent
    assert score.warned_in_time == sum(1 for lat, rej in cells if lat and rej)  # 72 h of lead >= 24 h
    assert score.false_warnings == sum(1 for lat, rej in cells if rej and not lat)
    if latent:
        assert score.recall == round(score.warned_in_time / latent, 4)
        assert score.min_lead_h == (72.0 if score.warned_in_time else None)


def test_a_warning_too_late_does_not_count_and_a_part_still_on_the_shelf_is_not_judged() -> None:
    records = part(1, latent=True, rejected=True, runaway_h=10.0) + part(2, latent=True, rejected=True)
    records.append({"part_id": 3, "station": "cells.formation", "t_s": 5.0, "micro_short": 1.0, "rejected": False})
    score = score_sentinel(records, SETTINGS)
    assert (score.latent, score.warned_in_time, score.min_lead_h) == (2, 1, 10.0)
    assert score.target_met is None  # no healthy cells: no false-warning rate


def test_the_targets() -> None:
    healthy = [r for pid in range(1, 2001) for r in part(pid, latent=False, rejected=pid == 7)]
    latent = [r for pid in range(3001, 3011) for r in part(pid, latent=True, rejected=pid != 3001)]
    score = score_sentinel(healthy + latent, SETTINGS)
    assert (score.recall, score.false_per_1000, score.target_met) == (0.9, 0.5, True)
    worse = score_sentinel(healthy + latent, SETTINGS.model_copy(update={"recall_target": 0.95}))
    assert worse.target_met is False
