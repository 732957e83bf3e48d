"""The real-hardware shape: ``twin plc serve`` in one process, ``twin edge run`` in another.

The edge knows only the endpoint file the served PLC wrote; it detects the coil fault, diagnoses
it, and its bridge writes a valve command over Modbus TCP and acks it over MQTT. The flagship
with its fault moved to 30 s, served at twice real time, keeps it under about a minute.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from twin.ledger import verify_ledger
from virtual_plc.plc import free_port

TWIN = [str(Path(sys.executable).with_name("twin"))]
SPEED = 2.0
VALVE = "coater.coolant.valve.command"

FLAGSHIP = Path(__file__).resolve().parent.parent / "scenarios" / "coater_coil_ageing.yaml"


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
