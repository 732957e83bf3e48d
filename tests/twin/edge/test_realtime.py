"""The real-hardware shape: ``twin plc serve`` in one process, ``twin edge run`` in another.

The edge knows only the endpoint file the served PLC wrote; it detects the coil fault, diagnoses
it, and its bridge writes a valve command over Modbus TCP and acks it over MQTT. The flagship
with its fault moved to 30 s, served at twice real time, keeps it under about a minute.
A second test logs ``twin edge run --broker`` in to a Mosquitto with passwords and an ACL.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

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

TWIN = [str(Path(sys.executable).with_name("twin"))]
SPEED = 2.0
VALVE = "coater.coolant.valve.command"

FLAGSHIP = REPO / "scenarios" / "coater_coil_ageing.yaml"


def compressed_flagship(path: Path) -> Path:
    """The flagship with the coil starting to age at 30 s (after a 25 s warm-up), policy auto."""
    spec = yaml.safe_load(FLAGSHIP.read_text())
    spec["name"] = "edge_two_process"
    spec["faults"][0].update(start_s=30)
    spec["detection"]["warmup_s"] = 25
    spec["control"] = {"policy": "auto"}
    path.write_text(yaml.safe_dump(spec))
    return path


def _wait_for(path: Path, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


@pytest.mark.timeout(150)
def test_plc_serve_and_edge_run_close_the_loop_over_sockets_and_mqtt(tmp_path: Path) -> None:
    scenario = compressed_flagship(tmp_path / "scenario.yaml")
    plc_dir, edge_dir = tmp_path / "plc", tmp_path / "edge"
    serve = subprocess.Popen([*TWIN, "plc", "serve", str(scenario), "--modbus-port", str(free_port()),
                              "--opcua-port", str(free_port()), "--speed", str(SPEED), "--duration", "200",
                              "--out", str(plc_dir)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        _wait_for(plc_dir / "endpoints.yaml", serve, 60)
        time.sleep(1.0)  # the servers start listening right after the files are written
        edge = subprocess.run([*TWIN, "edge", "run", "--endpoints", str(plc_dir / "endpoints.yaml"),
                               "--settings", str(scenario), "--out", str(edge_dir), "--speed", str(SPEED),
                               "--duration", "40"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert edge.returncode == 0, edge.stderr
    finally:
        serve.terminate()
        serve.communicate(timeout=30)
    result = json.loads((edge_dir / "edge.json").read_text())
    assert result["alarms"] and result["diagnoses"]
    applied = [c for c in result["commands"] if c["tag"] == VALVE and c["status"] == "applied"]
    assert applied, result["commands"]
    first = applied[0]
    assert first["value"] > first["previous"] and first["ack"]["read_back"] == pytest.approx(first["value"], rel=1e-6)
    assert first["ack"]["plc_t_ms"] >= 30_000  # the PLC's clock, after the fault's onset
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
    plc = VirtualPlc(tagmap)
    plc.modbus = ModbusPlcServer(plc.image, host=LOOPBACK, port=free_port())
    await plc.modbus.start()
    endpoints = tmp_path / "endpoints.yaml"
    EndpointFile(tag_map="tags.yaml", plcs=[Endpoint(name="plc", protocol="modbus", port=plc.modbus.port)]).save(
        endpoints)
    settings = tmp_path / "edge.yaml"
    settings.write_text(yaml.safe_dump({"rootcause": {"enabled": False}, "control": {"policy": "auto"}}))
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
