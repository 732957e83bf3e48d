"""The Tennessee Eastman plant behind the virtual PLC, over real Modbus TCP and OPC UA sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from twin.edge.historian import HistorianReader
from twin.harness.episode import EpisodeConfig, run_episode, run_scan, wire
from twin.harness.scenario import Scenario
from virtual_plc.codec import ElementLayout, quantise
from virtual_plc.drivers import PlcWriteRefused, make_driver
from virtual_plc.endpoints import Endpoint
from virtual_plc.schedule import DueSet

pytestmark = pytest.mark.slow  # Tennessee Eastman episodes over sockets, about 25 s

SCAN_MS = 18_000
ONSET_S = 540.0  # scan 30
SHORT = dict(
    name="tep_short",
    plant="tennessee_eastman",
    plant_options={"sample_period_s": 18},  # every continuous tag every scan
    seed=5,
    duration_s=1080.0,  # 60 scans of 18 s
    scan_ms=SCAN_MS,
)
IDV04 = {"kind": "step", "target": "tep.idv04_reactor_cw_inlet_temp", "start_s": ONSET_S, "magnitude": 1.0}


def scenario(**changes: object) -> Scenario:
    return Scenario.model_validate({**SHORT, **changes})


def run(spec: Scenario, out: Path, **config: object) -> Path:
    asyncio.run(run_episode(spec, EpisodeConfig(out_dir=out, **config)))
    return out


def rows(run_dir: Path) -> list[dict]:
    with HistorianReader(run_dir / "historian.duckdb") as reader:
        # what was stored, without the wall-clock receive time (two runs of a seed differ only there)
        return reader.window().drop_columns(["wall_utc"]).to_pylist()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("tep_runs")
    return {
        "clean": run(scenario(), base / "clean"),
        "again": run(scenario(), base / "again"),
        "other_seed": run(scenario(), base / "other_seed", seed=6, mode="offline"),  # stores what lockstep does
        "idv04": run(scenario(faults=[IDV04]), base / "idv04"),
    }


def test_a_tep_tag_read_over_modbus_and_opcua_equals_the_simulators_float32_value(tmp_path: Path) -> None:
    names = ["tep.reactor.pressure", "tep.reactor.temperature", "tep.stripper.underflow",
             "tep.analyser.reactor_feed.a_pct", "tep.analyser.product.g_pct", "tep.reactor.cw_valve_out",
             "tep.reactor.cw_valve"]

    async def episode() -> int:
        wiring = await wire(scenario(), 5, tmp_path, "lockstep")
        tags = [wiring.tagmap[n] for n in names]
        due = DueSet([wiring.tagmap.clock, *tags], ElementLayout([wiring.tagmap.clock, *tags]))
        plc = wiring.plc
        drivers = [make_driver(Endpoint(name="dcs-modbus", protocol="modbus", port=plc.modbus.port), wiring.tagmap),
                   make_driver(Endpoint(name="dcs-opcua", protocol="opcua", port=plc.opcua.port), wiring.tagmap)]
        checked = 0
        try:
            for k in range(51):
                t_ms = k * SCAN_MS
                frame = await run_scan(wiring, t_ms)
                if t_ms % 900_000:  # every tag here is due at the product analyser's 0.25 h marks
                    continue
                plant = {**wiring.plant.measurements(), **wiring.plant.setpoints()}
                for driver in drivers:
                    values = (await driver.read(due)).values
                    assert values[0] == t_ms
                    for tag, value in zip(tags, values[1:]):
                        assert value == quantise(tag, plant[tag.name]), (driver.endpoint.protocol, tag.name)
                for tag in tags:
                    assert frame.value(tag.name) == quantise(tag, plant[tag.name]), tag.name
                checked += 1
        finally:
            for driver in drivers:
                await driver.close()
            await wiring.close()
        return checked

    assert asyncio.run(episode()) == 2  # at 0 h and at 0.25 h


def test_a_disturbance_shows_in_the_historian_after_its_onset_and_not_before(runs: dict[str, Path]) -> None:
    clean, fault = rows(runs["clean"]), rows(runs["idv04"])
    assert len(clean) == len(fault)
    onset_ms = int(ONSET_S * 1000)
    assert [r for r in fault if r["ts_ms"] <= onset_ms] == [r for r in clean if r["ts_ms"] <= onset_ms]
    after = [(a["value"], b["value"]) for a, b in zip(clean, fault)
             if a["ts_ms"] > onset_ms and a["tag"] == "tep.reactor.cw_outlet_temperature"]
    assert len(after) == 29 and all(a != b for a, b in after[:5])
    assert max(b - a for a, b in after) > 0.5  # warmer cooling water: about +1 K before the loop reacts
    assert {r["quality"] for r in fault} == {"good"}


def test_same_seed_gives_an_identical_historian(runs: dict[str, Path]) -> None:
    def content_hash(run_dir: Path) -> str:
        with HistorianReader(run_dir / "historian.duckdb") as reader:
            return reader.content_hash()

    assert content_hash(runs["clean"]) == content_hash(runs["again"])
    assert content_hash(runs["clean"]) != content_hash(runs["other_seed"])
    assert content_hash(runs["clean"]) != content_hash(runs["idv04"])


def test_offline_stores_what_lockstep_stores(runs: dict[str, Path], tmp_path: Path) -> None:
    offline = run(scenario(), tmp_path / "offline", mode="offline")
    assert rows(offline) == rows(runs["clean"])


def test_an_out_of_range_xmv_write_is_refused_and_the_plant_keeps_its_last_good_value(tmp_path: Path) -> None:
    async def episode() -> tuple[list[str], float]:
        # a lab PLC, so the OPC UA writes reach the range check
        wiring = await wire(scenario(opcua_anonymous_writes=True), 5, tmp_path, "lockstep")
        codes = []
        try:
            for k in range(5):
                await run_scan(wiring, k * SCAN_MS)
            before = wiring.plant.setpoints()
            valve = wiring.tagmap["tep.reactor.cw_valve"]
            for collector in wiring.edge.collectors:
                for value in (150.0, -1.0):
                    try:
                        await collector.driver.write(valve, value)
                    except PlcWriteRefused as err:
                        codes.append(err.code)
            for k in range(5, 10):
                frame = await run_scan(wiring, k * SCAN_MS)
            assert wiring.plant.setpoints() == before and wiring.plant.manual() == []
            assert 0.0 < frame.value("tep.reactor.cw_valve_out") < 100.0  # still the controller's output
            modbus = next(c for c in wiring.edge.collectors if c.driver.endpoint.protocol == "modbus")
            assert await modbus.driver.write(valve, 45.0) == 45.0  # a good write takes the loop to MANUAL
            for k in range(10, 12):
                frame = await run_scan(wiring, k * SCAN_MS)
            assert wiring.plant.manual() == ["tep.reactor.cw_valve"]
            return codes, frame.value("tep.reactor.cw_valve_out")
        finally:
            await wiring.close()

    codes, sent = asyncio.run(episode())
    assert codes == ["modbus_exception_03", "modbus_exception_03", "BadOutOfRange", "BadOutOfRange"]
    assert sent == 45.0


@pytest.mark.parametrize(("scenario", "entry"), [("tep_idv04", "tep.reactor"), ("tep_idv06", "tep.feed_a")])
def test_a_tep_run_scores_its_diagnosis_against_the_disturbances_entry_unit(tmp_path: Path, scenario: str,
                                                                         entry: str) -> None:
    from tests.conftest import REPO
    from twin.harness.scenario import load_scenario

    spec = load_scenario(REPO / "scenarios" / f"{scenario}.yaml")
    onset_s = spec.faults[0].start_s
    config = EpisodeConfig(out_dir=tmp_path, mode="offline", duration_s=onset_s + 3 * 3600)
    report = asyncio.run(run_episode(spec, config))
    (fault,) = report.faults
    assert fault["answer"] == entry and fault["target"] != entry  # a disturbance id, not an asset
    first = next(d for d in report.diagnoses if d["t_ms"] >= onset_s * 1000)
    names = [c["asset"] for c in first["candidates"]]
    assert report.scores.top1_correct == (names[0] == entry)
    assert report.scores.top3_correct == (entry in names[:3])
