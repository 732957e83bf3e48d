"""The episode runner end to end: real sockets, determinism, dropped connections, reports."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from twin.contracts import read_report
from twin.edge.frames import Quality
from twin.edge.historian import HistorianReader
from twin.harness.episode import EpisodeConfig, run_episode, run_scan, wire
from twin.harness.scenario import Scenario
from virtual_plc.endpoints import load_endpoints

SHORT = dict(
    name="short",
    plant="coater",
    seed=5,
    duration_s=4.0,
    scan_ms=10,
    faults=[{"kind": "blade_pressure_drift", "target": "coater.blade3", "start_s": 1.0, "magnitude": 0.3}],
)


def scenario(**changes: object) -> Scenario:
    return Scenario.model_validate({**SHORT, **changes})


def run(spec: Scenario, out: Path, **config: object) -> dict:
    asyncio.run(run_episode(spec, EpisodeConfig(out_dir=out, **config)))
    return json.loads((out / "report.json").read_text())


def historian_hash(run_dir: Path) -> str:
    with HistorianReader(run_dir / "historian.duckdb") as reader:
        return reader.content_hash()


@pytest.mark.slow
def test_same_seed_gives_an_identical_historian_over_real_sockets(tmp_path: Path) -> None:
    run(scenario(), tmp_path / "a")
    run(scenario(), tmp_path / "b")
    run(scenario(), tmp_path / "c", seed=6)
    assert historian_hash(tmp_path / "a") == historian_hash(tmp_path / "b")
    assert historian_hash(tmp_path / "a") != historian_hash(tmp_path / "c")


@pytest.mark.slow
def test_offline_mode_stores_exactly_what_lockstep_stores(tmp_path: Path) -> None:
    run(scenario(), tmp_path / "sockets", mode="lockstep")
    run(scenario(), tmp_path / "offline", mode="offline")
    assert historian_hash(tmp_path / "sockets") == historian_hash(tmp_path / "offline")


@pytest.mark.slow
def test_report_holds_truth_counts_and_durations(tmp_path: Path) -> None:
    report = run(scenario(), tmp_path / "r")
    assert report["seed"] == 5 and report["scenario"]["name"] == "short"
    (fault,) = report["faults"]
    assert fault["kind"] == "blade_pressure_drift" and fault["target"] == "coater.blade3"
    assert fault["onset_s"] == 1.0 and fault["magnitude"] == 0.3
    counts = report["counts"]
    assert counts["frames"] == 400
    assert counts["samples"] == sum(counts["samples_by_quality"].values())
    with HistorianReader(tmp_path / "r" / "historian.duckdb") as reader:
        assert counts["samples_by_quality"] == reader.counts_by_quality()
        assert counts["samples"] == reader.window().num_rows
    assert counts["samples_by_quality"]["good"] == counts["samples"]  # nothing went wrong
    assert report["alarms"] == [] and report["diagnoses"] == [] and report["commands"] == []
    assert report["durations"]["plant_s"] == 4.0 and report["durations"]["wall_s"] > 0
    for name in ("historian.duckdb", "frames.parquet", "endpoints.yaml", "tags.csv"):
        assert (tmp_path / "r" / name).is_file()
    assert read_report(tmp_path / "r").seed == 5


@pytest.mark.slow
def test_a_plc_that_drops_off_the_network_gives_bad_samples_then_recovers(tmp_path: Path) -> None:
    async def episode() -> list[tuple[int, Quality, Quality]]:
        wiring = await wire(scenario(), 5, tmp_path, "lockstep")
        seen = []
        try:
            modbus_port, opcua_port = wiring.plc.modbus.port, wiring.plc.opcua.port
            for k in range(300):
                if k == 100:
                    await wiring.plc.stop()  # every client connection dies with it
                if k == 150:
                    await wiring.plc.start(modbus_port=modbus_port, opcua_port=opcua_port)
                frame = await run_scan(wiring, k * 10)
                seen.append(
                    (k, frame.quality_of("coater.blade3.pressure"), frame.quality_of("coater.xray.thickness_mean"))
                )
        finally:
            await wiring.close()
        stats = {c.name: c.stats for c in wiring.edge.collectors}
        assert all(s.failed_polls > 0 and s.reconnects >= 1 for s in stats.values()), stats
        return seen

    seen = asyncio.run(episode())
    assert all(q == Quality.GOOD for k, q, _ in seen if k < 100)
    back = next(k for k, q, _ in seen if k >= 100 and q == Quality.GOOD)  # the first poll after a reconnect
    # reconnects back off (0.5 s of edge time, doubling, with jitter): back within the waits, never before
    assert 150 <= back <= 150 + 150
    assert all(q == Quality.BAD for k, q, _ in seen if 100 <= k < back)
    assert all(q == Quality.GOOD for k, q, _ in seen if k >= back)
    # the 1 Hz tag read at t=1000 ms fails; at the first read after the reconnect it is back
    assert {q for k, _, q in seen if 100 <= k < 150} == {Quality.BAD}
    assert seen[-1][2] == Quality.GOOD
    with HistorianReader(tmp_path / "historian.duckdb") as reader:
        rows = reader.window(tags=["coater.blade3.pressure"]).to_pylist()
    assert len(rows) == 300, "a dropped connection leaves no gap in the timeline"
    assert [r["ts_ms"] for r in rows if r["quality"] == "bad"] == [k * 10 for k in range(100, back)]


@pytest.mark.slow
def test_an_interrupted_run_keeps_what_it_collected(tmp_path: Path) -> None:
    def stop_at_300ms(frame) -> None:  # noqa: ANN001
        if frame.ts_ms == 300:
            raise RuntimeError("operator pressed stop")

    with pytest.raises(RuntimeError, match="operator pressed stop"):
        run(scenario(), tmp_path, hooks=[stop_at_300ms])
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["counts"]["frames"] == 31
    assert report["stopped_early"] == "RuntimeError: operator pressed stop"
    with HistorianReader(tmp_path / "historian.duckdb") as reader:
        assert max(reader.window().column("ts_ms").to_pylist()) == 300


@pytest.mark.slow
def test_setpoints_written_by_a_client_reach_the_plant(tmp_path: Path) -> None:
    """A write through the edge's own Modbus driver changes the process."""

    async def episode() -> tuple[float, float]:
        wiring = await wire(scenario(faults=[]), 5, tmp_path, "lockstep")
        try:
            fast = next(c for c in wiring.edge.collectors if c.driver.endpoint.protocol == "modbus")
            for k in range(100):
                await run_scan(wiring, k * 10)
            before = wiring.edge.aligner.frame(990).value("coater.blade2.pressure")
            sp = wiring.tagmap["coater.blade2.pressure_sp"]
            assert await fast.driver.write(sp, 10.0) == 10.0
            for k in range(100, 250):
                frame = await run_scan(wiring, k * 10)
            return before, frame.value("coater.blade2.pressure")
        finally:
            await wiring.close()

    before, after = asyncio.run(episode())
    assert abs(before - 8.0) < 0.3 and abs(after - 10.0) < 0.3


@pytest.mark.parametrize("anonymous_writes, opcua_codes", [
    (True, ["BadOutOfRange", "BadOutOfRange", "BadNotWritable"]),  # a lab PLC: the range check answers
    (False, ["BadUserAccessDenied", "BadUserAccessDenied", "BadNotWritable"]),  # the default: no anonymous writes
])
@pytest.mark.slow
def test_refused_writes_leave_the_plant_on_its_last_good_setpoint(tmp_path: Path, anonymous_writes: bool,
                                                                  opcua_codes: list[str]) -> None:
    """Out-of-range and read-only writes over both protocols never reach the model; an anonymous OPC UA
    session may write nothing unless the scenario allows it."""
    from virtual_plc.drivers import PlcWriteRefused

    async def episode() -> list[str]:
        wiring = await wire(scenario(faults=[], opcua_anonymous_writes=anonymous_writes), 5, tmp_path, "lockstep")
        codes = []
        try:
            for k in range(20):
                await run_scan(wiring, k * 10)
            before = wiring.plant.setpoints()
            valve = wiring.tagmap["coater.coolant.valve.command"]
            flow = wiring.tagmap["coater.coolant.flow"]
            for collector in wiring.edge.collectors:
                for tag, value in ((valve, 150.0), (valve, -1.0), (flow, 10.0)):
                    try:
                        await collector.driver.write(tag, value)
                    except PlcWriteRefused as err:
                        codes.append(err.code)
            for k in range(20, 40):
                await run_scan(wiring, k * 10)
            assert wiring.plant.setpoints() == before
        finally:
            await wiring.close()
        return codes

    codes = asyncio.run(episode())
    assert codes == ["modbus_exception_03", "modbus_exception_03", "modbus_exception_02", *opcua_codes]


@pytest.mark.slow
def test_a_scenario_endpoint_file_fixes_the_ports_the_edge_uses(tmp_path: Path) -> None:
    """`endpoints: FILE` serves the virtual PLC where the file says, and the edge reads it there."""
    from twin.harness.binding import plant_tagmap
    from twin.harness.episode import build_episode_plant
    from virtual_plc.endpoints import Endpoint, EndpointFile
    from virtual_plc.plc import free_port

    spec = scenario()
    plant_tagmap(build_episode_plant(spec, 5), 10).to_csv(tmp_path / "line.csv")
    modbus_port, opcua_port = free_port(), free_port()
    EndpointFile(tag_map="line.csv", plcs=[
        Endpoint(name="head", protocol="modbus", port=modbus_port, tags=["coater.blade*", "coater.coolant.*"]),
        Endpoint(name="line", protocol="opcua", port=opcua_port, tags=["*"]),
    ]).save(tmp_path / "endpoints.yaml")
    fixed = scenario(endpoints=str(tmp_path / "endpoints.yaml"))
    report = run(fixed, tmp_path / "run", duration_s=1.0)
    assert report["outputs"]["endpoints"] == str(tmp_path / "endpoints.yaml")
    assert report["counts"]["samples_by_quality"]["good"] == report["counts"]["samples"] > 0
    assert report["counts"]["failed_polls"] == 0
    assert not (tmp_path / "run" / "endpoints.yaml").exists()


def test_a_virtual_plc_refuses_an_endpoint_file_off_loopback(tmp_path: Path) -> None:
    from qtconfig import ConfigError

    (tmp_path / "endpoints.yaml").write_text(
        "tag_map: line.csv\nplcs:\n  - {name: head, protocol: modbus, host: 10.0.0.5, port: 5020}\n"
    )
    with pytest.raises(ConfigError, match="binds only to 127.0.0.1, not 10.0.0.5"):
        run(scenario(endpoints=str(tmp_path / "endpoints.yaml")), tmp_path / "run")


def test_a_non_positive_duration_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="duration must be positive"):
        run(scenario(), tmp_path, duration_s=-3.0)


@pytest.mark.slow
def test_a_lost_plc_raises_one_comm_lost_alarm_per_link_that_returns_to_normal(tmp_path: Path) -> None:
    async def episode() -> list:
        wiring = await wire(scenario(), 5, tmp_path, "lockstep")
        try:
            modbus_port, opcua_port = wiring.plc.modbus.port, wiring.plc.opcua.port
            for k in range(1400):
                if k == 100:
                    await wiring.plc.stop()
                if k == 150:
                    await wiring.plc.start(modbus_port=modbus_port, opcua_port=opcua_port)
                await run_scan(wiring, k * 10)
        finally:
            await wiring.close()
        return [a.to_dict() for a in wiring.edge.alarms.alarms]

    alarms = asyncio.run(episode())
    comm = [a for a in alarms if a["detector"] == "comm"]
    links = sorted(e.name for e, _ in load_endpoints(tmp_path / "endpoints.yaml").assignments)
    assert sorted(a["tag"] for a in comm) == links and {a["rule"] for a in comm} == {"comm_lost"}
    assert all(a["t_ms"] == 1000 for a in comm)
    assert not [a for a in alarms if a["detector"] == "data_loss"]  # not one per tag element
    # back to normal (unacknowledged) once the link has answered for the off-delay
    assert all(a["history"][-1]["state"] == "unack_rtn" for a in comm), [a["history"] for a in comm]
