"""Baselines learned once: from a historian, kept in a checked file, judging every subgroup from the first.

The learning period is written by the edge's own historian from hand-made frames; the same rules
then watch a run that starts with a fault, with the baseline and with the warm-up fallback.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from twin.cli import app
from twin.edge.detection.baseline import BaselineError, Source, learn_baseline, load_baseline
from twin.edge.detection.monitor import SubgroupMonitor
from twin.edge.detection.settings import DetectionSettings, MonitorRule
from twin.edge.frames import ElementIndex, Frame, Quality
from twin.edge.historian import Historian
from virtual_plc.tagmap import Tag

TAGS = [Tag(name="l.oven.temp", period_ms=100), Tag(name="l.oven.flow", period_ms=100),
        Tag(name="l.oven.profile", period_ms=100, length=3)]
INDEX = ElementIndex(TAGS)
SETTINGS = DetectionSettings(warmup_s=30, subgroup_s=1.0, flatline_subgroups=3, monitor=[
    MonitorRule(name="level", tags=["*"], detector="shewhart", rules=[1], L=6.0, prewhiten=False),
    MonitorRule(name="change", tags=["*"], detector="cusum", k=1.0, h=12.0)])
CENTRE = np.array([150.0, 12.0, 1.0, 2.0, 3.0])
NOISE = np.array([0.5, 0.1, 0.05, 0.05, 0.05])


def frames(seconds: float, seed: int, offset: np.ndarray | None = None, stuck: int | None = None,
           bad_from_s: float | None = None) -> list[Frame]:
    """Frames every 100 ms of noisy in-control values (plus ``offset``; element ``stuck`` frozen)."""
    rng = np.random.default_rng(seed)
    out = []
    frozen = None
    for k in range(int(seconds * 10)):
        values = CENTRE + NOISE * rng.standard_normal(len(CENTRE)) + (0 if offset is None else offset)
        if stuck is not None:
            frozen = values[stuck] if frozen is None else frozen
            values[stuck] = frozen
        quality = np.zeros(len(CENTRE), np.uint8)
        if bad_from_s is not None and k >= bad_from_s * 10:
            quality[:], values[:] = Quality.BAD, np.nan
        out.append(Frame(k * 100, INDEX, values, quality, np.ones(len(CENTRE), bool)))
    return out


def historian_of(folder: Path, run: list[Frame]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "historian.duckdb"
    with Historian(path, INDEX) as historian:
        for frame in run:
            historian.append(frame)
    return path


def alarms_of(monitor: SubgroupMonitor, run: list[Frame]) -> list[tuple[int, str, str]]:
    return [(f.ts_ms, s.tag, s.rule) for f in run for s in monitor.observe(f)]


def test_a_baseline_holds_what_the_warm_up_would_learn_and_round_trips(tmp_path: Path) -> None:
    path = historian_of(tmp_path, frames(60, seed=1))
    baseline = learn_baseline([Source(path)], SETTINGS, "l")
    assert baseline.elements == INDEX.names and len(baseline.history) == 59  # whole subgroups only
    assert set(baseline.flat_limits) == set(INDEX.names) and not baseline.health.flagged
    saved = load_baseline(baseline.save(tmp_path / "b.json"))
    assert saved.history == baseline.history and saved.sha256 == baseline.content_hash()
    # the banks it builds are those a run's own warm-up builds on the same stretch of history
    run = frames(62, seed=5)
    warm = SubgroupMonitor(SETTINGS.model_copy(update={"warmup_s": 59.0}), INDEX)
    alarms_of(warm, run)
    same = learn_baseline([Source(historian_of(tmp_path / "same", run), 0, 59_000)], SETTINGS, "l")
    learned = SubgroupMonitor(SETTINGS, INDEX, same)
    for a, b in zip(warm.groups, learned.groups):
        assert np.allclose(a.bank.center, b.bank.center) and np.allclose(a.bank.sigma, b.bank.sigma)


def test_an_edited_baseline_is_refused(tmp_path: Path) -> None:
    path = learn_baseline([Source(historian_of(tmp_path, frames(20, seed=1)))], SETTINGS, "l").save(
        tmp_path / "b.json")
    doc = json.loads(path.read_text())
    doc["history"][3][0] += 1.0
    path.write_text(json.dumps(doc))
    with pytest.raises(BaselineError, match="does not match its sha256"):
        load_baseline(path)


@settings(max_examples=8, deadline=None)
@given(shift=st.floats(4.0, 20.0), sign=st.sampled_from([-1.0, 1.0]), element=st.integers(0, 4))
def test_a_fault_present_from_the_start_is_found_with_a_baseline_and_not_by_the_warm_up(
        tmp_path_factory: pytest.TempPathFactory, shift: float, sign: float, element: int) -> None:
    folder = tmp_path_factory.mktemp("run")
    baseline = learn_baseline([Source(historian_of(folder, frames(60, seed=1)))], SETTINGS, "l")
    offset = np.zeros(len(CENTRE))
    offset[element] = sign * shift * NOISE[element] * 3  # 12 .. 60 sigmas of the noise, from t = 0
    run = frames(60, seed=2, offset=offset)
    with_baseline = alarms_of(SubgroupMonitor(SETTINGS, INDEX, baseline), run)
    warm_up = alarms_of(SubgroupMonitor(SETTINGS, INDEX), run)
    assert with_baseline and with_baseline[0][1] == INDEX.names[element] and with_baseline[0][0] <= 3_000
    assert not warm_up  # the fault became its normal


def test_a_sensor_stuck_from_the_start_is_found_with_a_baseline(tmp_path: Path) -> None:
    baseline = learn_baseline([Source(historian_of(tmp_path, frames(60, seed=1)))], SETTINGS, "l")
    run = frames(30, seed=3, stuck=1)
    found = [a for a in alarms_of(SubgroupMonitor(SETTINGS, INDEX, baseline), run) if a[2] == "stuck"]
    assert found and found[0][1] == "l.oven.flow" and found[0][0] <= 6_000
    assert not [a for a in alarms_of(SubgroupMonitor(SETTINGS, INDEX), run) if a[2] == "stuck"]


def test_a_clean_run_stays_silent_with_a_baseline_from_another_run(tmp_path: Path) -> None:
    baseline = learn_baseline([Source(historian_of(tmp_path, frames(120, seed=1)))], SETTINGS, "l")
    assert alarms_of(SubgroupMonitor(SETTINGS, INDEX, baseline), frames(120, seed=4)) == []


def test_unhealthy_periods_are_refused_unless_forced_and_subgroups_must_match(tmp_path: Path) -> None:
    path = historian_of(tmp_path, frames(60, seed=1, bad_from_s=50))
    with pytest.raises(BaselineError, match="not in control.*under 95% good"):
        learn_baseline([Source(path)], SETTINGS, "l")
    with pytest.raises(BaselineError, match="1 alarm"):
        learn_baseline([Source(path, 0, 40_000, alarms=((20_000, "l.oven.temp: WE1"),))], SETTINGS, "l")
    forced = learn_baseline([Source(path)], SETTINGS, "l", force=True)
    assert forced.health.flagged and set(forced.health.low_good_elements) == set(INDEX.names)
    clean = learn_baseline([Source(path, 0, 40_000)], SETTINGS, "l")
    with pytest.raises(BaselineError, match="subgroups of 1 s, the detection settings use 2 s"):
        SubgroupMonitor(SETTINGS.model_copy(update={"subgroup_s": 2.0}), INDEX, clean)


def test_twin_detect_learn_reads_run_folders_and_refuses_one_with_alarms(tmp_path: Path) -> None:
    for name, alarms in (("clean", []), ("alarmed", [{"t_ms": 30_000, "tag": "l.oven.temp", "rule": "WE1"}])):
        folder = tmp_path / name
        folder.mkdir()
        historian_of(folder, frames(60, seed=1))
        (folder / "report.json").write_text(json.dumps({"alarms": alarms, "scenario": {
            "plant": "l", "detection": SETTINGS.model_dump(mode="json")}}))
    runner = CliRunner()
    ok = runner.invoke(app, ["detect", "learn", str(tmp_path / "clean"), "--start-s", "10",
                             "--out", str(tmp_path / "b.json")])
    assert ok.exit_code == 0, ok.output
    baseline = load_baseline(tmp_path / "b.json")
    assert baseline.line == "l" and baseline.periods[0].start_ms == 10_000 and len(baseline.history) == 49
    refused = runner.invoke(app, ["detect", "learn", str(tmp_path / "alarmed"), "--out", str(tmp_path / "c.json")])
    assert refused.exit_code == 1 and "l.oven.temp: WE1 at 30000 ms" in refused.output
    assert not (tmp_path / "c.json").exists()


def test_a_diagnosis_right_after_the_start_reads_the_baselines_reference_before_the_run(tmp_path: Path) -> None:
    from rootcause.features import EvidenceSettings
    from rootcause.window import read_evidence
    from twin.edge.detection.baseline import ReferencedReader
    from twin.edge.historian import HistorianReader

    learned = frames(60, seed=1)
    baseline = learn_baseline([Source(historian_of(tmp_path / "learn", learned))], SETTINGS, "l",
                              reference=(100, 10.0))
    assert baseline.reference is not None and len(baseline.reference.values) == 100
    offset = np.zeros(len(CENTRE))
    offset[0] = 20 * NOISE[0]  # the oven runs hot from the start
    run = frames(12, seed=2, offset=offset)
    with HistorianReader(historian_of(tmp_path / "run", run)) as plain:
        reader = ReferencedReader(plain, baseline, run_start_ms=0)
        assert reader.first_ms() == -10_000 and plain.first_ms() == 0
        grid = reader.resample(100, -10_000, 2_000, ["l.oven.temp"])["l.oven.temp"]
        assert len(grid[0]) == 120 and (grid[1][:100] == Quality.GOOD).all()
        assert np.allclose(grid[0][:100], [row[0] for row in baseline.reference.values])  # the learned stretch
        settings = EvidenceSettings(lookback_s=20, baseline_s=10)
        with_reference = read_evidence(reader, ["l.oven.temp", "l.oven.flow"], [("l.oven.temp", 3_000)], 8_000,
                                       settings)
        without = read_evidence(plain, ["l.oven.temp", "l.oven.flow"], [("l.oven.temp", 3_000)], 8_000, settings)
    # against the line in control the hot oven deviates and the flow does not; against itself, nothing does
    assert with_reference.feature("l.oven.temp", "deviated") == 1.0
    assert with_reference.feature("l.oven.flow", "deviated") == 0.0
    assert without.feature("l.oven.temp", "deviated") == 0.0


def test_a_reading_resting_at_the_low_end_of_its_range_is_not_stuck(tmp_path: Path) -> None:
    """A count rate at zero while nothing happens is at rest; frozen anywhere else it is stuck."""
    tags = [Tag(name="l.xray.wrinkles", low=0.0, high=100.0, period_ms=100)]
    index = ElementIndex(tags)
    monitor = SubgroupMonitor(SETTINGS.model_copy(update={"warmup_s": 10.0}), index)
    rng = np.random.default_rng(0)
    verdicts = []
    for k in range(400):
        value = 0.0 if 200 <= k < 300 else (5.0 if k >= 300 else 1.0 + rng.random())
        frame = Frame(k * 100, index, np.array([value]), np.zeros(1, np.uint8), np.ones(1, bool))
        verdicts += [(k // 10, s.rule) for s in monitor.observe(frame)]
    assert [s for s in verdicts if s[0] < 30 and s[1] == "stuck"] == []  # ten seconds at zero: not stuck
    assert any(rule == "stuck" for second, rule in verdicts if second >= 30)  # frozen at 5.0: stuck
