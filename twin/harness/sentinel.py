"""Sentinel scoring: did the line warn about each latent part in time, and how often falsely?

Some defects do not show at the end of the line: a battery cell with a latent micro-short passes
every test that day and goes into thermal runaway in the field. A *sentinel* warns about such a
part early enough to act (the issue's target: at least 24 h before it would fail, on ≥ 90 % of
latent parts, with at most one false warning per 1,000 healthy ones). This module scores that from
the truth side (the parts a line made, :attr:`plant_models.line.model.LineModel.parts_log`, hidden
attributes included); the warning itself is a station rejecting the part (its spec limits in the
line template — e.g. a self-discharge limit at the end of an ageing shelf).

>>> settings = SentinelSettings(latent="micro_short", fails_after_h=72)
>>> parts = [{"part_id": 1, "station": "l.age", "t_s": 0.0, "micro_short": 1.0, "rejected": True},
...          {"part_id": 2, "station": "l.age", "t_s": 0.0, "micro_short": 0.0, "rejected": False}]
>>> score = score_sentinel(parts, settings)
>>> (score.latent, score.warned_in_time, score.healthy, score.false_warnings, score.target_met)
(1, 1, 1, 0, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from twin.contracts import SentinelScore


class SentinelSettings(BaseModel):
    """A scenario's ``sentinel`` block: which part attribute is the hidden truth, and the targets (finite numbers)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    latent: str = Field(description="the part attribute (a lot property) that is 1 for a part that would fail")
    fails_after_h: float | str = Field(
        description="hours after leaving the line when a latent part fails: a number or a part attribute")
    lead_h: float = Field(default=24.0, ge=0, description="a warning counts when it comes at least this early")
    station: str | None = Field(default=None, description="the station whose rejection is the warning (default: any)")
    recall_target: float = Field(default=0.9, ge=0, le=1, description="share of latent parts to warn in time")
    false_per_1000_target: float = Field(default=1.0, ge=0, description="false warnings per 1,000 healthy parts")


def score_sentinel(parts: Sequence[Mapping[str, Any]], settings: SentinelSettings) -> SentinelScore:
    """Score the per-station part records (``part_id``, ``station``, ``t_s``, attributes, ``rejected``).

    Only parts that left the line (were recorded at the last station any part reached) count: a
    part still on the shelf has had no chance to be judged yet.
    """
    by_part: dict[int, list[Mapping[str, Any]]] = {}
    for record in parts:
        by_part.setdefault(int(record["part_id"]), []).append(record)
    stations = list(dict.fromkeys(str(r["station"]) for r in parts))
    last = stations[-1] if stations else None
    latent = warned = healthy = false = 0
    leads: list[float] = []
    for records in by_part.values():
        if last is None or not any(r["station"] == last for r in records):
            continue
        warnings = [r for r in records if r.get("rejected") and (settings.station is None
                                                                   or r["station"] == settings.station)]
        left_s = max(float(r["t_s"]) for r in records)
        is_latent = any(float(r.get(settings.latent) or 0.0) >= 0.5 for r in records)
        if not is_latent:
            healthy += 1
            false += bool(warnings)
            continue
        latent += 1
        if not warnings:
            continue
        fails_after = settings.fails_after_h if isinstance(settings.fails_after_h, (int, float)) else \
            float(records[0].get(settings.fails_after_h) or 0.0)
        lead_h = (left_s + float(fails_after) * 3600.0 - min(float(r["t_s"]) for r in warnings)) / 3600.0
        leads.append(lead_h)
        warned += lead_h >= settings.lead_h
    recall = warned / latent if latent else None
    per_1000 = 1000.0 * false / healthy if healthy else None
    met = None if recall is None or per_1000 is None else (
        recall >= settings.recall_target and per_1000 <= settings.false_per_1000_target)
    return SentinelScore(latent=latent, warned_in_time=warned, recall=None if recall is None else round(recall, 4),
                         healthy=healthy, false_warnings=false,
                         false_per_1000=None if per_1000 is None else round(per_1000, 3),
                         min_lead_h=round(min(leads), 2) if leads else None, target_met=met)
