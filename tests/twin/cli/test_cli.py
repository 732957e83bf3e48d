"""The ``twin`` command line, including a standalone PLC read by stock clients."""

from __future__ import annotations

import csv
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO
from twin.cli import app
from virtual_plc.plc import free_port
from virtual_plc.tagmap import load_tagmap

runner = CliRunner()
CLOCK_ADVANCE_TIMEOUT_S = 60.0
FLAGSHIP = REPO / "scenarios" / "coater_coil_ageing.yaml"
TWIN = Path(sys.executable).with_name("twin")


@pytest.mark.slow
def test_run_writes_the_three_outputs_and_a_summary(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(FLAGSHIP), "--duration", "2", "--seed", "3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert {"historian.duckdb", "frames.parquet", "report.json"} <= {p.name for p in tmp_path.iterdir()}
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["seed"] == 3 and report["counts"]["frames"] == 200 and report["mode"] == "lockstep"
    assert "frames" in result.output and "200" in result.output


def test_run_policy_and_offline_flags(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["run", str(FLAGSHIP), "--duration", "1", "--offline", "--policy", "auto", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["mode"] == "offline" and report["scenario"]["control"]["policy"] == "auto"
    bad = runner.invoke(app, ["run", str(FLAGSHIP), "--policy", "sometimes", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "--policy must be off, recommend or auto" in bad.output


def test_a_broken_scenario_fails_with_field_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(FLAGSHIP.read_text().replace("magnitude: 6.0", "magnitude: lots"))
    result = runner.invoke(app, ["run", str(broken)])
    assert result.exit_code == 2
    assert "field faults[0].magnitude (line" in result.output


def test_tags_export_csv_and_yaml_load_back_equal(tmp_path: Path) -> None:
    for name in ("tags.csv", "tags.yaml"):
        result = runner.invoke(app, ["tags", "export", str(FLAGSHIP), "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    assert load_tagmap(tmp_path / "tags.csv") == load_tagmap(tmp_path / "tags.yaml")
    names = load_tagmap(tmp_path / "tags.csv").names()
    assert "coater.coolant.valve.coil_current" in names and "coater.xray.thickness_profile" in names


def test_scenario_check_validates_and_checks_determinism(tmp_path: Path) -> None:
    result = runner.invoke(app, ["scenario", "check", str(FLAGSHIP), "--determinism", "--duration", "1"])
    assert result.exit_code == 0, result.output
    assert "deterministic" in result.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\n")
    assert runner.invoke(app, ["scenario", "check", str(broken)]).exit_code == 2  # a file it cannot use


@pytest.fixture()
def served(tmp_path: Path):  # noqa: ANN201
    """``twin plc serve`` in its own process, in real time; yields (ports, tag rows)."""
    modbus_port, opcua_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            str(TWIN),
            "plc",
            "serve",
            str(FLAGSHIP),
            "--modbus-port",
            str(modbus_port),
            "--opcua-port",
            str(opcua_port),
            "--duration",
            "120",
            "--out",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "serving" in line or proc.poll() is not None:
            break
    assert any("serving" in line for line in lines), "".join(lines)
    exported = [line for line in (tmp_path / "tags.csv").open() if not line.startswith("#")]
    rows = {r["name"]: r for r in csv.DictReader(exported)}
    yield modbus_port, opcua_port, rows
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_plc_serve_answers_mbpoll_and_uaread_at_the_exported_addresses(served) -> None:  # noqa: ANN001
    modbus_port, opcua_port, rows = served
    mbpoll = shutil.which("mbpoll")
    assert mbpoll, "mbpoll is installed by .ci/run (Debian package mbpoll)"
    flow = rows["coater.coolant.flow"]
    table = "3" if flow["table"] == "input" else "4"
    out = subprocess.run(
        [
            mbpoll,
            "-m",
            "tcp",
            "-p",
            str(modbus_port),
            "-a",
            "1",
            "-0",
            "-r",
            flow["address"],
            "-t",
            f"{table}:float",
            "-B",
            "-1",
            "127.0.0.1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    flow_value = float(re.search(r"^\[\d+\]:\s+(\S+)", out.stdout, re.M).group(1))
    assert float(flow["low"]) <= flow_value <= float(flow["high"]) and flow_value > 5  # coolant is flowing

    uaread = Path(sys.executable).with_name("uaread")
    clock_node = rows["coater.plc.clock_ms"]["opcua_node"]
    url = f"opc.tcp://127.0.0.1:{opcua_port}"
    first = subprocess.run([str(uaread), "-u", url, "-n", clock_node], capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    t1 = t2 = float(first.stdout.split()[-1])
    deadline = time.monotonic() + CLOCK_ADVANCE_TIMEOUT_S  # guards: the served plant's clock moving at all
    while t2 <= t1 and time.monotonic() < deadline:  # read until the clock moves, however busy the machine
        second = subprocess.run([str(uaread), "-u", url, "-n", clock_node], capture_output=True, text=True,
                                timeout=60)
        assert second.returncode == 0, second.stderr
        t2 = float(second.stdout.split()[-1])
    assert t2 > t1  # the plant runs in real time behind the PLC
    temp = subprocess.run(
        [str(uaread), "-u", url, "-n", rows["coater.blade3.temperature"]["opcua_node"]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert 10 < float(temp.stdout.split()[-1]) < 60


def test_run_names_a_broken_endpoint_file_and_a_bad_duration(tmp_path: Path) -> None:
    (tmp_path / "endpoints.yaml").write_text("tag_map: tags.csv\nplcs: []\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(FLAGSHIP.read_text().replace("endpoints: virtual", "endpoints: endpoints.yaml"))
    result = runner.invoke(app, ["run", str(scenario), "--duration", "1", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "field plcs" in result.output and "endpoints.yaml" in result.output
    bad = runner.invoke(app, ["run", str(FLAGSHIP), "--duration", "0"])
    assert bad.exit_code == 2 and "--duration must be positive" in bad.output


def test_detect_arl_prints_run_lengths() -> None:
    result = runner.invoke(app, ["detect", "arl", "shewhart", "--rules", "1", "--shift", "3", "--runs", "2000"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.strip().startswith("3.00"))
    arl = float(row.split()[1])
    assert 1.8 < arl < 2.6  # P(beyond 3 sigma | shift 3) = 0.5: ARL 2


@pytest.mark.slow
def test_a_plant_trip_ends_the_run_with_a_message_not_a_traceback(tmp_path: Path) -> None:
    """IDV 6 (A feed loss) trips the Tennessee Eastman plant some hours after onset."""
    scenario = REPO / "scenarios" / "tep_idv06.yaml"
    result = runner.invoke(app, ["run", str(scenario), "--offline", "--duration", "86400", "--out", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "the plant shut down:" in result.output and "Traceback" not in result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["stopped_early"].startswith("PlantShutdown")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--username", "edge"], "--username and --password-file need --broker"),
        (["--broker", "127.0.0.1:1883", "--password-file", "{pw}"], "--password-file needs --username"),
        (["--broker", "127.0.0.1:1883", "--username", "edge", "--password-file", "{missing}"], "no file"),
        (["--broker", "localhost"], "--broker must be HOST:PORT"),
    ],
)
def test_edge_run_refuses_broken_broker_accounts_by_name(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "pw").write_text("secret\n")
    args = [a.format(pw=tmp_path / "pw", missing=tmp_path / "nope") for a in args]
    result = runner.invoke(app, ["edge", "run", "--endpoints", str(tmp_path / "endpoints.yaml"), *args])
    assert result.exit_code == 2
    assert message in result.output
