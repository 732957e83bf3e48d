"""The edge against an OPC UA server no one here wrote: node-opcua (tests/fixtures/opcua_server.js).

Several namespaces named by URI, a String, a Boolean, an Int32, a DateTime, an AnalogItemType Double
whose unit and range come from the server, an 8-Double array, a writable setpoint, no clock node; a
secured twin that offers only Basic256Sha256 SignAndEncrypt with a user login. What the server
serves is checked against the formulas in the server script's header, each at its own source
timestamp (which the historian keeps as ``wall_utc``).
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, ua

from tests.node_opcua import DEFAULT_PASSWORD, DEFAULT_USERNAME, LINE_NS, UTILITIES_NS, node_opcua_fixture
from twin.contracts import Command
from twin.edge.bridge.bridge import PlcBridge
from twin.edge.control.interlocks import Interlocks, InterlockSettings
from twin.edge.control.messages import new_nonce, sign
from twin.edge.historian import HistorianReader
from twin.edge.keys import generate_keys
from twin.edge.realtime import run_edge
from twin.edge.settings import EdgeSettings
from virtual_plc.certs import create_certificate
from virtual_plc.endpoints import Endpoint, EndpointFile, load_endpoints
from virtual_plc.tagmap import Tag, TagMap

pytestmark = pytest.mark.slow

plain_server = node_opcua_fixture()
secure_server = node_opcua_fixture(secure=True)

LINE = f"nsu={LINE_NS};s=Line."
TAGS = [
    Tag(name="line.oven.temperature", dtype="float64", period_ms=100, opcua_node=LINE + "OvenTemperature"),
    Tag(name="line.recipe.name", dtype="string", period_ms=100, opcua_node=LINE + "Recipe"),
    Tag(name="line.drive.running", dtype="bool", period_ms=100, opcua_node=LINE + "Running"),
    Tag(name="line.counter.parts", dtype="int32", period_ms=100, opcua_node=LINE + "PartCount"),
    Tag(name="line.coater.profile", dtype="float64", length=8, period_ms=100, opcua_node=LINE + "Profile"),
    Tag(name="line.drive.speed_sp", dtype="float64", access="rw", unit="percent", low=0, high=100, period_ms=100,
        opcua_node=LINE + "SpeedSetpoint"),
    Tag(name="line.recipe.changed", dtype="datetime", period_ms=100, opcua_node=LINE + "LastChange"),
    Tag(name="line.air.pressure", dtype="float64", unit="bar", period_ms=100, opcua_node=f"nsu={UTILITIES_NS};i=1001"),
    Tag(name="line.oven.missing", dtype="float64", period_ms=100, opcua_node=LINE + "NoSuchNode"),
    Tag(name="line.elsewhere.value", dtype="float64", period_ms=100, opcua_node="nsu=urn:nowhere;s=X"),
]


def oven(t_s: float) -> float:
    return 150 + 10 * math.sin(2 * math.pi * t_s / 60)


def air(t_s: float) -> float:
    return 6 + 0.25 * math.sin(2 * math.pi * t_s / 20)


def write_line(folder: Path, url: str, **endpoint: Any) -> Path:
    """A tag map and an endpoint file for the interop server at ``url`` (no clock)."""
    port = int(url.rsplit(":", 1)[1])
    TagMap(plant="line", tags=TAGS).to_yaml(folder / "tags.yaml")
    plc = Endpoint(name="interop", protocol="opcua", port=port, clock="none", timeout_s=5.0, reconnect_min_s=0.2,
                   reconnect_max_s=0.5, **endpoint)
    EndpointFile(tag_map="tags.yaml", plcs=[plc]).save(folder / "endpoints.yaml")
    return folder / "endpoints.yaml"


async def session_count(url: str) -> tuple[int, int]:
    """The server's own count of open sessions (this one included) and subscriptions (ServerDiagnosticsSummary)."""
    ids = ua.ObjectIds
    async with Client(url, timeout=5) as client:
        sessions = await client.get_node(
            ua.NodeId(ids.Server_ServerDiagnostics_ServerDiagnosticsSummary_CurrentSessionCount)).read_value()
        subscriptions = await client.get_node(
            ua.NodeId(ids.Server_ServerDiagnostics_ServerDiagnosticsSummary_CurrentSubscriptionCount)).read_value()
        return int(sessions), int(subscriptions)


@pytest.mark.parametrize("read", ["subscribe", "poll"])
def test_edge_collects_every_type_with_units_from_the_server_and_survives_a_restart(plain_server: Any, read: str,
                                                                                     tmp_path: Path) -> None:
    endpoints = write_line(tmp_path, plain_server.endpoint, read=read)
    sessions: list[tuple[int, int]] = []
    outage: dict[str, float] = {}

    async def main() -> dict:
        async def watch_and_interrupt() -> None:
            await asyncio.sleep(1.5)
            sessions.append(await session_count(plain_server.endpoint))
            outage["start"] = time.time()
            await asyncio.to_thread(plain_server.stop)
            await asyncio.sleep(2.0)
            await asyncio.to_thread(plain_server.start)
            outage["end"] = time.time()
            await asyncio.sleep(2.0)
            sessions.append(await session_count(plain_server.endpoint))

        side = asyncio.create_task(watch_and_interrupt())
        result = await run_edge(endpoints, tmp_path / "edge", settings=EdgeSettings(), scan_ms=100,
                                duration_s=None, stop=lambda r: side.done())
        await side
        return result.__dict__

    result = asyncio.run(main())
    # the edge's one session and this check's, before and after the restart; a subscription when subscribing
    assert sessions == [(2, 1 if read == "subscribe" else 0)] * 2
    with HistorianReader(tmp_path / "edge" / "historian.duckdb") as reader:
        rows = reader.window().to_pylist()
        text = reader.text_window().to_pylist()
        units = dict(reader.con.execute("SELECT name, unit FROM elements").fetchall())
    good = [r for r in rows if r["quality"] == "good"]
    # values are exact functions of the server's source timestamps, which wall_utc keeps
    for tag, formula in (("line.oven.temperature", oven), ("line.air.pressure", air)):
        samples = [r for r in good if r["tag"] == tag]
        assert len(samples) > 10
        for r in samples:
            assert r["value"] == pytest.approx(formula(r["wall_utc"].timestamp()), abs=1e-6), tag
    by_tag = {r["tag"]: r for r in good}
    assert by_tag["line.drive.running"]["value"] == 1.0
    assert by_tag["line.counter.parts"]["value"] >= 0 and float(by_tag["line.counter.parts"]["value"]).is_integer()
    assert by_tag["line.coater.profile[7]"]["value"] == pytest.approx(70, abs=1.0)
    assert {r["value"] for r in text if r["tag"] == "line.recipe.name" and r["quality"] == "good"} == {"RECIPE-A"}
    assert any(r["value"].startswith("20") for r in text if r["tag"] == "line.recipe.changed" and r["value"])
    # unit and range from the server where the tag map leaves them out; a disagreement named once
    assert units["line.oven.temperature"] == "°C" and units["line.air.pressure"] == "bar"
    notes = result["notes"]
    assert any("line.drive.speed_sp" in n and "'percent'" in n and "'%'" in n for n in notes)
    (link,) = result["plcs"]
    assert set(link["unknown"]) == {"line.oven.missing", "line.elsewhere.value"}
    assert "BadNodeIdUnknown" in link["unknown"]["line.oven.missing"]
    assert "urn:nowhere" in link["unknown"]["line.elsewhere.value"]
    # the restart: bad for as long as it lasted (edge time is wall time here), one comm_lost alarm, back good
    oven_rows = [r for r in rows if r["tag"] == "line.oven.temperature"]
    bad = [r["ts_ms"] for r in oven_rows if r["quality"] == "bad"]
    measured_ms = (outage["end"] - outage["start"]) * 1000
    assert bad and bad[-1] - bad[0] >= 0.8 * measured_ms
    assert oven_rows[-1]["quality"] == "good"
    assert [a["tag"] for a in result["alarms"] if a["detector"] == "comm"] == ["interop"]
    assert link["reconnects"] == 1 and link["sessions_opened"] == 2


def test_a_bounded_write_through_the_bridge_reaches_the_setpoint_and_reads_back(plain_server: Any,
                                                                                tmp_path: Path) -> None:
    endpoints = load_endpoints(write_line(tmp_path, plain_server.endpoint))

    async def main() -> tuple[Any, Any, float]:
        keys = generate_keys("l1")
        bridge = PlcBridge(None, endpoints, Interlocks(InterlockSettings(), endpoints.tagmap),  # type: ignore[arg-type]
                           keys=keys, run_id="opcua-write")
        try:
            now = time.time_ns() // 1_000_000
            command = Command(id="t-1", plant="line", line="l1", tag="line.drive.speed_sp", value=61.5, low=0,
                              high=100, reason="test", issued_t_ms=now, expires_t_ms=now + 60_000, nonce=new_nonce())
            applied = await bridge.handle(sign(command, keys).model_dump_json())
            too_far = command.model_copy(update={"id": "t-2", "value": 150.0, "high": 200.0, "nonce": new_nonce()})
            refused = await bridge.handle(sign(too_far, keys).model_dump_json())
        finally:
            for driver in bridge.drivers:
                await driver.close()
        async with Client(plain_server.endpoint, timeout=5) as client:
            ns = await client.get_namespace_index(LINE_NS)
            value = await client.get_node(f"ns={ns};s=Line.SpeedSetpoint").read_value()
        return applied, refused, value

    applied, refused, value = asyncio.run(main())  # value: read after both commands, by a client of our own
    assert applied.status == "applied" and applied.read_back == 61.5, applied
    assert value == 61.5
    # the interlocks stop a value outside the tag's range before it reaches the server (which would refuse it too)
    assert refused.status == "refused" and refused.reason.startswith("out_of_range"), refused


def test_a_secured_server_is_read_with_basic256sha256_and_a_login_and_a_wrong_password_is_named(
        secure_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = create_certificate(tmp_path / "pki", "urn:quality-twin:edge")
    secured = {"security": "Basic256Sha256", "mode": "SignAndEncrypt", "certificate": str(cert),
               "private_key": str(key), "server_certificate": str(secure_server.server_certificate_der),
               "credentials_env": "INTEROP"}
    endpoints = write_line(tmp_path, secure_server.endpoint, **secured)
    monkeypatch.setenv("INTEROP_USERNAME", DEFAULT_USERNAME)
    monkeypatch.setenv("INTEROP_PASSWORD", DEFAULT_PASSWORD)
    result = asyncio.run(run_edge(endpoints, tmp_path / "edge", settings=EdgeSettings(), scan_ms=100,
                                  duration_s=1.0))
    with HistorianReader(tmp_path / "edge" / "historian.duckdb") as reader:
        rows = reader.window(tags=["line.oven.temperature"]).to_pylist()
    assert rows and all(r["quality"] == "good" for r in rows[1:])
    assert result.plcs[0]["sessions_opened"] == 1

    monkeypatch.setenv("INTEROP_PASSWORD", "wrong-" + DEFAULT_PASSWORD)
    with pytest.raises(ConnectionError) as refused:
        asyncio.run(run_edge(endpoints, tmp_path / "edge2", settings=EdgeSettings(), scan_ms=100, duration_s=0.5))
    message = str(refused.value)
    assert "no PLC of the endpoint file answered (interop: " in message and "refused the login" in message
    edge = (tmp_path / "edge2" / "edge.json").read_text()
    assert "interop" in edge and "refused the login" in edge and DEFAULT_PASSWORD not in edge


def test_discover_then_run_the_edge_on_what_was_discovered(plain_server: Any, tmp_path: Path) -> None:
    """The issue's path for a new line, with nothing written by hand but the endpoint's address: browse the
    server into a tag map, point the edge at it, and every value and unit arrives right."""
    from virtual_plc.discover import discover

    found = asyncio.run(discover(plain_server.endpoint, plant="interop", default_period_ms=200))
    found.tagmap.to_yaml(tmp_path / "tags.yaml")
    port = int(plain_server.endpoint.rsplit(":", 1)[1])
    EndpointFile(tag_map="tags.yaml", plcs=[Endpoint(name="interop", protocol="opcua", port=port, clock="none",
                                                     timeout_s=5.0)]).save(tmp_path / "endpoints.yaml")
    result = asyncio.run(run_edge(tmp_path / "endpoints.yaml", tmp_path / "edge", settings=EdgeSettings(),
                                  scan_ms=200, duration_s=2.0))
    assert result.plcs[0]["unknown"] == {} and result.plcs[0]["sessions_opened"] == 1
    by_node = {t.opcua_node: t.name for t in found.tagmap.tags}
    oven_tag = by_node[f"nsu={LINE_NS};s=Line.OvenTemperature"]
    recipe = by_node[f"nsu={LINE_NS};s=Line.Recipe"]
    with HistorianReader(tmp_path / "edge" / "historian.duckdb") as reader:
        rows = [r for r in reader.window(tags=[oven_tag]).to_pylist() if r["quality"] == "good"]
        text = reader.text_window().to_pylist()
        unit = dict(reader.con.execute("SELECT name, unit FROM elements").fetchall())[oven_tag]
    assert len(rows) >= 5 and unit == "°C"
    for r in rows:
        assert r["value"] == pytest.approx(oven(r["wall_utc"].timestamp()), abs=1e-6)
    assert {r["value"] for r in text if r["tag"] == recipe and r["quality"] == "good"} == {"RECIPE-A"}
