"""The real-hardware shape: ``twin plc serve`` in one process, ``twin edge run`` in another.

The edge knows only the endpoint file the served PLC wrote; it detects the coil fault, diagnoses
it, and its bridge writes a valve command over Modbus TCP and acks it over MQTT. The flagship,
served at twice real time for :data:`END_S` of plant time, keeps it around a minute and a half.

Nothing here depends on how busy the machine is. The edge starts on the served PLC's clock
(``start_t_ms`` in ``edge.json``), and its detection warm-up counts on that clock too, so the
warm-up and the fault onset are placed in plant time with room for a slow edge start: the edge
may start as late as :data:`LATEST_EDGE_START_S` of plant time (about 8 s at idle, 17 s at load 4)
and still learn :data:`MIN_BASELINE_S` of in-control data before the fault. The run ends when the
served plant reaches :data:`END_S` of plant time, not after so many wall seconds; every wait is
bounded by a timeout named for what it guards.
A second test logs ``twin edge run --broker`` in to a Mosquitto with passwords and an ACL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from plant_models.registry import plant_spec
from tests.conftest import REPO
from tests.mqtt_support import PASSWORDS
from twin.edge.bridge.brokers import BRIDGE_USER, EDGE_USER, MosquittoBroker, closed_loop_acl
from twin.edge.bridge.mqtt import BrokerAddress, MqttUnavailable
from twin.edge.ledger import verify_ledger
from twin.edge.realtime import ACCOUNT_ENV, run_edge
from twin.edge.settings import load_edge_settings
from twin.harness.episode import build_episode_plant, scenario_tagmap
from twin.harness.scenario import load_scenario
from virtual_plc.endpoints import Endpoint, EndpointFile
from virtual_plc.modbus_server import ModbusPlcServer
from virtual_plc.plc import LOOPBACK, VirtualPlc, free_port
from virtual_plc.tagmap import Tag, TagMap

pytestmark = pytest.mark.slow

TWIN = [str(Path(sys.executable).with_name("twin"))]
SPEED = 1.0  # real time: at 2x a loaded 2-core machine let the edge fall behind the plant (comm alarms, no
# diagnosis before the plant ended; seen in CI)
VALVE = "coater.coolant.valve.command"

FLAGSHIP = REPO / "scenarios" / "coater_coil_ageing.yaml"

# Plant time (the served PLC's clock), in s. The edge's warm-up ends at WARMUP_S on that clock.
WARMUP_S = 75
FAULT_S = 80  # coil ageing onset: after the warm-up; the valve command follows about 35 s later
MIN_BASELINE_S = 20  # in-control plant seconds the edge must see before its warm-up ends
LATEST_EDGE_START_S = WARMUP_S - MIN_BASELINE_S
END_S = 150  # the served plant stops here, and then the edge is stopped
# Wall-clock bounds, each for one thing that could hang (none paces the test).
SERVE_READY_TIMEOUT_S = 60  # twin plc serve: files written and both servers listening
PLANT_END_TIMEOUT_S = 300  # the served plant reaching END_S (150 s of wall time when it keeps pace)
EDGE_STOP_TIMEOUT_S = 60  # twin edge run writing edge.json and exiting after SIGINT
EDGE_BACKSTOP_S = PLANT_END_TIMEOUT_S + SERVE_READY_TIMEOUT_S  # --wall-seconds: the edge never outlives the test


async def serve_bare_modbus(tagmap: TagMap, folder: Path) -> tuple[VirtualPlc, Path]:
    """``tagmap``'s process image behind a bare Modbus server on 127.0.0.1 (no plant, no scan), and an
    endpoint file for it in ``folder`` (the tag map must be saved there as ``tags.yaml``)."""
    plc = VirtualPlc(tagmap)
    plc.modbus = ModbusPlcServer(plc.image, host=LOOPBACK, port=free_port())
    await plc.modbus.start()
    endpoints = folder / "endpoints.yaml"
    EndpointFile(tag_map="tags.yaml", plcs=[Endpoint(name="plc", protocol="modbus", port=plc.modbus.port)]).save(
        endpoints)
    return plc, endpoints


def compressed_flagship(path: Path) -> Path:
    """The flagship with the coil starting to age at 30 s (after a 25 s warm-up), policy auto
    (what ``tests/twin/harness/test_closed_loop_recommend.py`` runs in lockstep, where the edge starts at 0 s)."""
    spec = yaml.safe_load(FLAGSHIP.read_text())
    spec["name"] = "edge_two_process"
    spec["faults"][0].update(start_s=30)
    spec["detection"]["warmup_s"] = 25
    spec["control"] = {"policy": "auto"}
    path.write_text(yaml.safe_dump(spec))
    return path


def served_flagship(path: Path) -> Path:
    """The flagship for the two processes: warm-up until :data:`WARMUP_S`, coil ageing from :data:`FAULT_S`."""
    spec = yaml.safe_load(FLAGSHIP.read_text())
    spec["name"] = "edge_two_process"
    spec["faults"][0].update(start_s=FAULT_S)
    spec["detection"]["warmup_s"] = WARMUP_S
    spec["control"] = {"policy": "auto"}
    path.write_text(yaml.safe_dump(spec))
    return path


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1.0):
            return True
    except OSError:
        return False


def _wait_until_served(plc_dir: Path, ports: tuple[int, ...], proc: subprocess.Popen, timeout_s: float) -> None:
    """Until the served PLC has written its endpoint file and both its servers accept connections."""
    deadline = time.monotonic() + timeout_s
    while not ((plc_dir / "endpoints.yaml").exists() and all(_listening(p) for p in ports)):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, f"twin plc serve not listening on {ports} within {timeout_s:g} s"
        time.sleep(0.1)


def _stop(proc: subprocess.Popen, timeout_s: float) -> tuple[str, str]:
    """SIGINT (Ctrl-C, what a person stops the edge with), then its output; killed if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{proc.args[:3]} did not stop within {timeout_s:g} s of SIGINT:\n{err[-3000:]}")


@pytest.mark.timeout(SERVE_READY_TIMEOUT_S + PLANT_END_TIMEOUT_S + 2 * EDGE_STOP_TIMEOUT_S)
def test_plc_serve_and_edge_run_close_the_loop_over_sockets_and_mqtt(tmp_path: Path) -> None:
    scenario = served_flagship(tmp_path / "scenario.yaml")
    plc_dir, edge_dir = tmp_path / "plc", tmp_path / "edge"
    ports = (free_port(), free_port())
    serve = subprocess.Popen([*TWIN, "plc", "serve", str(scenario), "--modbus-port", str(ports[0]),
                              "--opcua-port", str(ports[1]), "--speed", str(SPEED), "--duration", str(END_S),
                              "--out", str(plc_dir)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    edge = None
    try:
        _wait_until_served(plc_dir, ports, serve, SERVE_READY_TIMEOUT_S)
        edge = subprocess.Popen([*TWIN, "edge", "run", "--endpoints", str(plc_dir / "endpoints.yaml"),
                                 "--settings", str(scenario), "--out", str(edge_dir), "--speed", str(SPEED),
                                 "--wall-seconds", str(EDGE_BACKSTOP_S)], cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:  # the plant's clock ends the run: serve exits once END_S of plant time has passed
            _, serve_err = serve.communicate(timeout=PLANT_END_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the served plant did not reach {END_S} s of plant time within {PLANT_END_TIMEOUT_S} s")
        assert serve.returncode == 0, serve_err
        assert edge.poll() is None, edge.communicate()[1]  # the edge ran the whole time
        _, edge_err = _stop(edge, EDGE_STOP_TIMEOUT_S)
        assert edge.returncode == 0, edge_err
    finally:
        for proc in (edge, serve):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()
    result = json.loads((edge_dir / "edge.json").read_text())
    assert result["start_t_ms"] <= LATEST_EDGE_START_S * 1000, (
        f"the edge started at {result['start_t_ms'] / 1000:g} s of plant time: its warm-up (until {WARMUP_S} s) "
        f"had less than {MIN_BASELINE_S} s of in-control data")
    assert result["alarms"] and result["diagnoses"]
    applied = [c for c in result["commands"] if c["tag"] == VALVE and c["status"] == "applied"]
    assert applied, result["commands"]
    first = applied[0]
    assert first["value"] > first["previous"] and first["ack"]["read_back"] == pytest.approx(first["value"], rel=1e-6)
    assert first["ack"]["plc_t_ms"] >= FAULT_S * 1000  # the PLC's clock, after the fault's onset
    assert verify_ledger(edge_dir / "ledger.jsonl").ok and verify_ledger(edge_dir / "bridge_journal.jsonl").ok
    assert not (edge_dir / "report.json").exists()  # the edge never sees the truth, so it scores nothing


def credentials_env() -> dict[str, str]:
    """The environment that gives ``twin edge run`` the edge's and the bridge's Mosquitto accounts."""
    edge_user, edge_password, _ = ACCOUNT_ENV["edge"]
    bridge_user, bridge_password, _ = ACCOUNT_ENV["bridge"]
    return {edge_user: EDGE_USER, edge_password: PASSWORDS[EDGE_USER],
            bridge_user: BRIDGE_USER, bridge_password: PASSWORDS[BRIDGE_USER]}


async def edge_against_mosquitto(tmp_path: Path, broker: BrokerAddress) -> tuple[int | None, str, Path]:
    """Serve the flagship's tag map on a bare Modbus PLC; refused without credentials, then ``twin edge run``
    with them in its environment. Returns the CLI's exit status, its stderr and its output folder."""
    scenario = load_scenario(FLAGSHIP)
    tagmap = scenario_tagmap(scenario, build_episode_plant(scenario, scenario.seed))
    tagmap.to_yaml(tmp_path / "tags.yaml")
    plc, endpoints = await serve_bare_modbus(tagmap, tmp_path)
    settings = tmp_path / "edge.yaml"
    playbook = str(plant_spec("coater").playbook_file())  # the edge has no plant defaults: its settings name it
    settings.write_text(yaml.safe_dump({"rootcause": {"enabled": False},
                                        "control": {"policy": "auto", "playbook": playbook}}))
    try:
        with pytest.raises(MqttUnavailable, match="refused"):  # no credentials: the edge and bridge defaults
            edge_settings, base = load_edge_settings(settings)
            await run_edge(endpoints, tmp_path / "anonymous", settings=edge_settings, settings_base=base,
                           broker=broker, duration_s=1.0)
        out = tmp_path / "edge"
        cli = await asyncio.create_subprocess_exec(
            *TWIN, "edge", "run", "--endpoints", str(endpoints), "--settings", str(settings), "--out", str(out),
            "--broker", f"{broker.host}:{broker.port}", "--duration", "1.5", cwd=tmp_path,
            env={**os.environ, **credentials_env()}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, stderr = await asyncio.wait_for(cli.communicate(), 60)
        return cli.returncode, stderr.decode(), out
    finally:
        await plc.stop()


@pytest.mark.timeout(90)
def test_edge_run_logs_in_to_a_broker_with_passwords(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in credentials_env():
        monkeypatch.delenv(variable, raising=False)
    mosquitto = MosquittoBroker(tmp_path / "mosquitto", PASSWORDS, closed_loop_acl("coater"))
    mosquitto.start()
    try:
        status, stderr, out = asyncio.run(edge_against_mosquitto(tmp_path, mosquitto.address))
    finally:
        mosquitto.stop()
    assert status == 0, stderr
    result = json.loads((out / "edge.json").read_text())
    assert result["policy"] == "auto" and result["frames"] > 0
    assert verify_ledger(out / "ledger.jsonl").ok


def test_edge_run_duration_counts_plc_seconds_and_wall_seconds_count_wall_time(tmp_path: Path) -> None:
    """``--duration`` is plant (PLC) time everywhere: the edge stops after that many seconds of its PLC
    grid, however busy the machine; ``--wall-seconds`` is the wall-clock stop."""
    scenario = load_scenario(FLAGSHIP)
    tagmap = scenario_tagmap(scenario, build_episode_plant(scenario, scenario.seed))
    tagmap.to_yaml(tmp_path / "tags.yaml")
    settings = tmp_path / "edge.yaml"
    settings.write_text(yaml.safe_dump({"rootcause": {"enabled": False}, "detection": {"enabled": False}}))

    async def main() -> tuple[dict, dict]:
        plc, endpoints = await serve_bare_modbus(tagmap, tmp_path)
        try:
            runs = {}
            for name, flags in (("plant", ["--duration", "0.5", "--scan-ms", "10"]),
                                ("wall", ["--wall-seconds", "0.5", "--scan-ms", "10"]),
                                ("too_fast", ["--wall-seconds", "1.5", "--scan-ms", "1"])):
                cli = await asyncio.create_subprocess_exec(
                    *TWIN, "edge", "run", "--endpoints", str(endpoints), "--settings", str(settings), "--out",
                    str(tmp_path / name), *flags, cwd=tmp_path, stderr=subprocess.PIPE)
                _, stderr = await asyncio.wait_for(cli.communicate(), 120)  # bounds a hung edge, not its speed
                assert cli.returncode == 0, stderr.decode()
                runs[name] = json.loads((tmp_path / name / "edge.json").read_text())
            return runs
        finally:
            await plc.stop()

    runs = asyncio.run(main())
    plant, wall, too_fast = runs["plant"], runs["wall"], runs["too_fast"]
    # every tick of the 0.5 s PLC grid was taken, or skipped and counted late (never squeezed in)
    assert 0 < plant["frames"] <= 50 and plant["end_t_ms"] - plant["start_t_ms"] <= 490
    assert plant["frames"] + plant["late_ticks"] >= 50
    assert wall["frames"] >= 1  # stopped by the wall clock, after however many ticks it managed
    # a 1 ms scan no machine holds: frames are stamped when they happen, so 1.5 s of wall time is not
    # stored as the few hundred ms its frames would add up to
    span_ms = too_fast["end_t_ms"] - too_fast["start_t_ms"]
    assert span_ms >= 1000 and too_fast["frames"] + too_fast["late_ticks"] >= span_ms


def test_edge_run_needs_nothing_from_the_project_for_a_line_it_does_not_know(tmp_path: Path) -> None:
    """A plant the project does not ship: the edge runs detection only and says, once, what it runs without;
    a playbook given by flag is read from there (and refused by name when it is another plant's)."""
    tagmap = TagMap(plant="bottling", opcua_namespace="urn:bottling", clock_tag="bottling.plc.clock", tags=[
        Tag(name="bottling.plc.clock", dtype="uint64", low=0, high=1e12, period_ms=10),
        Tag(name="bottling.filler.level", unit="mm", low=0, high=500, period_ms=10),
        Tag(name="bottling.filler.level_sp", unit="mm", access="rw", low=0, high=500, period_ms=10)]).allocated()
    tagmap.to_yaml(tmp_path / "tags.yaml")

    async def main() -> list[tuple[int, str, Path]]:
        plc, endpoints = await serve_bare_modbus(tagmap, tmp_path)
        try:
            runs = []
            coater_playbook = plant_spec("coater").playbook_file()
            for name, flags in (("bare", []), ("foreign", ["--playbook", str(coater_playbook)])):
                cli = await asyncio.create_subprocess_exec(
                    *TWIN, "edge", "run", "--endpoints", str(endpoints), "--out", str(tmp_path / name),
                    "--policy", "auto", "--duration", "0.3", *flags, cwd=tmp_path, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"})
                output, _ = await asyncio.wait_for(cli.communicate(), 120)  # bounds a hung edge, not its speed
                runs.append((cli.returncode, output.decode(), tmp_path / name))
            return runs
        finally:
            await plc.stop()

    (code, output, out), (foreign_code, foreign_output, _) = asyncio.run(main())
    assert code == 0, output
    assert "knowledge: none given: no diagnosis" in output
    assert "playbook: none given: detection and diagnosis only, nothing is proposed" in output
    edge = json.loads((out / "edge.json").read_text())
    assert edge["frames"] == 30 and edge["commands"] == []
    assert any("no playbook" in note for note in edge["notes"]) and any("knowledge" in n for n in edge["notes"])
    assert foreign_code == 2 and "playbook is for 'coater', the tag map for 'bottling'" in foreign_output


@pytest.mark.parametrize("clock", ["tag_map", "none_in_tag_map", "none_at_endpoint"])
def test_edge_run_reads_a_plain_pymodbus_server(tmp_path: Path, clock: str) -> None:
    """Interoperability: the edge against pymodbus's own TCP server (no code of ours serving), a line it does
    not know, only an endpoint file and a tag map. What the server holds is what the historian stores; a
    server without a clock register needs no clock tag: the edge stamps samples with its own time."""
    import struct
    import time

    from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
    from pymodbus.server import ModbusTcpServer

    from twin.edge.historian import HistorianReader

    in_map = clock != "none_in_tag_map"
    clocked = clock == "tag_map"
    clock_tag = [Tag(name="bottling.plc.clock", dtype="uint64", low=0, high=1e12, period_ms=10, address=0)]
    tagmap = TagMap(plant="bottling", opcua_namespace="urn:bottling",
                    clock_tag="bottling.plc.clock" if in_map else None,
                    tags=[*(clock_tag if in_map else []),
                          Tag(name="bottling.filler.level", unit="mm", low=0, high=500, period_ms=10, address=4),
                          Tag(name="bottling.filler.pressure", unit="bar", low=0, high=10, period_ms=10, address=6,
                              scale=100.0, dtype="uint16")])
    tagmap.to_yaml(tmp_path / "tags.yaml")
    registers = [*struct.unpack(">4H", struct.pack(">Q", 5_000)), *struct.unpack(">2H", struct.pack(">f", 123.5)), 250]

    async def main() -> tuple[int, str]:
        port = free_port()
        block = ModbusSequentialDataBlock(1, registers)  # pymodbus counts block addresses from 1: this is register 0
        server = ModbusTcpServer(ModbusServerContext(devices=ModbusDeviceContext(hr=block, ir=block), single=True),
                                 address=(LOOPBACK, port))
        serving = asyncio.create_task(server.serve_forever())
        try:
            for _ in range(100):  # until it accepts connections (bounded)
                try:
                    _, writer = await asyncio.open_connection(LOOPBACK, port)
                    writer.close()
                    break
                except OSError:
                    await asyncio.sleep(0.05)
            endpoint = Endpoint(name="plc", protocol="modbus", port=port, clock="tagmap" if clocked else "none")
            EndpointFile(tag_map="tags.yaml", plcs=[endpoint]).save(tmp_path / "endpoints.yaml")
            cli = await asyncio.create_subprocess_exec(
                *TWIN, "edge", "run", "--endpoints", str(tmp_path / "endpoints.yaml"), "--out", str(tmp_path / "edge"),
                "--duration", "0.2", cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            output, _ = await asyncio.wait_for(cli.communicate(), 120)  # bounds a hung edge, not its speed
            return cli.returncode, output.decode()
        finally:
            await server.shutdown()
            serving.cancel()

    code, output = asyncio.run(main())
    assert code == 0, output
    with HistorianReader(tmp_path / "edge" / "historian.duckdb") as reader:
        rows = reader.window(tags=["bottling.filler.level", "bottling.filler.pressure"]).to_pylist()
    level = [r for r in rows if r["tag"] == "bottling.filler.level"]
    pressure = [r for r in rows if r["tag"] == "bottling.filler.pressure"]
    assert len(level) == 20 and {r["value"] for r in level} == {123.5} and level[0]["quality"] == "good"
    assert {r["value"] for r in pressure} == {2.5}  # 250 raw counts at scale 100
    edge = json.loads((tmp_path / "edge" / "edge.json").read_text())
    if clocked:
        # this server's clock tag never moves, so later reads of the same PLC time are judged stale, not bad
        assert {r["quality"] for r in level} <= {"good", "stale"} and edge["start_t_ms"] == 5_000
    else:  # no clock: every read is stamped when it happened, so every sample is fresh; time is UTC
        assert {r["quality"] for r in level} == {"good"}
        assert abs(edge["start_t_ms"] - time.time() * 1000) < 600_000
