"""Data health on a hand-built historian: every measure is what was written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.twin.assets.support import regular, write_historian
from twin.edge.assets.health import historian_health, run_health
from twin.edge.frames import Quality
from twin.edge.historian import HistorianReader
from virtual_plc.tagmap import Tag

END_MS = 20_000  # a 20 s run, 100 ms samples, 1 s subgroups: 20 subgroups, the first 5 learn
NOISE = np.random.default_rng(7).normal(10.0, 1.0, size=200)


@pytest.fixture
def reader(tmp_path: Path) -> HistorianReader:
    """Four steps: ``l.a`` sound (its clock off by 10 s for the last quarter), ``l.b`` dropping out at 10 s,
    ``l.c`` with every other sample bad, ``l.d`` stuck at 10 s."""
    tags = [Tag(name=f"l.{step}.v", period_ms=100) for step in "abcd"]
    half = [(t, v, Quality.BAD if i % 2 else q, o) for i, (t, v, q, o) in enumerate(regular(100, END_MS, NOISE))]
    rows = {
        "l.a.v": regular(100, 15_000, NOISE) + regular(100, END_MS, NOISE, start_ms=15_000, offset_ms=10_000),
        "l.b.v": regular(100, 10_000, NOISE),
        "l.c.v": half,
        "l.d.v": regular(100, 10_000, NOISE) + regular(100, END_MS, [4.0], start_ms=10_000),
    }
    path = write_historian(tmp_path / "historian.duckdb", tags, rows)
    with HistorianReader(path) as opened:
        yield opened


def test_health_per_step_is_what_the_historian_holds(reader: HistorianReader) -> None:
    health = historian_health(reader, "hand-built", plant_s=END_MS / 1000)
    steps = {s.step: s for s in health.steps}
    assert list(steps) == ["l.a", "l.b", "l.c", "l.d"] and health.span_ms == (0, END_MS)
    a, b, c, d = steps.values()
    assert (a.completeness, a.timeliness, a.sensors, a.clock, a.problems) == (1.0, 1.0, 1.0, None, [])
    # l.b: half its samples never came; no fresh sample in 10 of 20 subgroups; data loss flagged from the
    # third empty subgroup (subgroups 12-19) out of the 15 judged
    assert (b.completeness, b.timeliness, b.problems) == (0.5, 0.5, ["dropped"])
    assert b.sensors == pytest.approx(1 - 8 / 15)
    # l.c: every other sample bad: half complete, yet a good sample in every subgroup
    assert (c.completeness, c.timeliness, c.sensors) == (0.5, 1.0, 1.0)
    # l.d: complete and timely, but flat from subgroup 11: stuck once five flat subgroups ran (15-19)
    assert (d.completeness, d.timeliness, d.problems) == (1.0, 1.0, ["stuck"])
    assert d.sensors == pytest.approx(1 - 5 / 15)
    assert [s.step for s in health.healthy()] == ["l.a"] and health.healthy_share == 0.25
    record = health.to_dict()
    assert [s["healthy"] for s in record["steps"]] == [True, False, False, False]


def test_clock_agreement_where_the_clocks_should_agree(reader: HistorianReader) -> None:
    steps = {s.step: s for s in historian_health(reader, "hand-built", plant_s=END_MS / 1000, clock=True).steps}
    assert steps["l.a"].clock == pytest.approx(0.75)  # the last quarter of l.a's samples is 10 s off
    assert steps["l.a"].score == pytest.approx(0.75) and steps["l.a"].weakest() == "clock"
    assert steps["l.c"].clock == 1.0  # bad samples still carry a wall-clock time that agrees


def test_health_settings_are_checked(reader: HistorianReader) -> None:
    with pytest.raises(ValueError, match="subgroup_ms"):
        historian_health(reader, "x", subgroup_ms=0)
    with pytest.raises(ValueError, match="warmup_share"):
        historian_health(reader, "x", warmup_share=1.0)


def test_a_tiny_run_with_data_problems_names_its_steps(clean_run: Path, degraded_run: Path) -> None:
    clean = run_health(clean_run)
    assert clean.healthy_share == 1.0
    degraded = {s.step: s for s in run_health(degraded_run).steps}
    failing = {name: s.problems for name, s in degraded.items() if s.score < 0.95}
    assert failing == {"coater.blade3": ["stuck"], "coater.coolant": ["dropped"], "coater.oven.zone1": ["dropped"]}
    # coolant: the flow (10 ms) lost 12 of 20 s, the temperature (1 s) none
    assert degraded["coater.coolant"].completeness == pytest.approx((0.4 + 1.0) / 2, abs=0.01)
