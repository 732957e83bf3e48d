"""``twin tags discover`` / :func:`virtual_plc.discover.discover`: a tag map browsed off a real OPC UA server.

Over real sockets on 127.0.0.1: the node-opcua interop server (tests/node_opcua.py), plain and with
Basic256Sha256 + a login, and an asyncua server with 2,000 variables for the scale.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from asyncua import Server, ua
from asyncua.client.ua_client import UaClient

from tests.node_opcua import (
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    LINE_NS,
    UTILITIES_NS,
    NodeOpcuaServer,
    free_port,
    node_opcua_fixture,
)
from virtual_plc.certs import create_certificate
from virtual_plc.codec import ElementLayout
from virtual_plc.discover import DiscoveryError, DiscoveryResult, discover, endpoint_for, unique_tag_names
from virtual_plc.drivers import OpcUaDriver
from virtual_plc.schedule import DueSet
from virtual_plc.tagmap import TagMap, load_tagmap

T = TypeVar("T")
CALL_TIMEOUT_S = 120.0  # one whole discovery
TWIN = Path(sys.executable).with_name("twin")
SERVER_PLANT = "quality_twin_interop_server"  # the interop server's application name, made a word

plain_server = node_opcua_fixture()
secure_server = node_opcua_fixture(secure=True)

# browse path below Objects -> (dtype, length, node id) of the interop server (tests/fixtures/opcua_server.js)
INTEROP = {
    "Line.Recipe": ("string", None, f"nsu={LINE_NS};s=Line.Recipe"),
    "Line.Running": ("bool", None, f"nsu={LINE_NS};s=Line.Running"),
    "Line.PartCount": ("int32", None, f"nsu={LINE_NS};s=Line.PartCount"),
    "Line.OvenTemperature": ("float64", None, f"nsu={LINE_NS};s=Line.OvenTemperature"),
    "Line.Profile": ("float64", 8, f"nsu={LINE_NS};s=Line.Profile"),
    "Line.SpeedSetpoint": ("float64", None, f"nsu={LINE_NS};s=Line.SpeedSetpoint"),
    "Line.Speed": ("float64", None, f"nsu={LINE_NS};s=Line.Speed"),
    "Line.LastChange": ("datetime", None, f"nsu={LINE_NS};s=Line.LastChange"),
    "Utilities.SupplyPressure": ("float64", None, f"nsu={UTILITIES_NS};i=1001"),
    "Utilities.CoolingWaterOn": ("bool", None, f"nsu={UTILITIES_NS};i=1002"),
    "Utilities.ShiftName": ("string", None, f"nsu={UTILITIES_NS};i=1003"),
}


def run(coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT_S) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many Browse, BrowseNext and Read requests asyncua's client sends during the test."""
    sent: Counter[str] = Counter()
    for service in ("browse", "browse_next", "read"):
        original = getattr(UaClient, service)

        async def counted(self: UaClient, params: Any, _original: Any = original, _service: str = service) -> Any:
            sent[_service] += 1
            return await _original(self, params)

        monkeypatch.setattr(UaClient, service, counted)
    return sent


def secured(server: NodeOpcuaServer, tmp_path: Path) -> dict[str, str]:
    """Endpoint fields for Basic256Sha256 SignAndEncrypt with a fresh client certificate and a login from INTEROP_*."""
    cert, key = create_certificate(tmp_path / "pki", "urn:quality-twin:edge")
    return {"security": "Basic256Sha256", "mode": "SignAndEncrypt", "certificate": str(cert), "private_key": str(key),
            "server_certificate": str(server.server_certificate_der), "credentials_env": "INTEROP"}


def test_names_are_dotted_words_under_the_plant_and_collisions_are_told_apart_in_path_order() -> None:
    paths = [("Oven", "Zone-1"), ("Oven", "Zone 1"), ("Oven", "Zone_1_2"), ("2nd pump",), ("line", "Speed")]
    names, notes = unique_tag_names(paths, "line")
    assert names == ["line.Oven.Zone_1_3", "line.Oven.Zone_1",
                     "line.Oven.Zone_1_2", "line._2nd_pump", "line.Speed"]
    assert notes == ["Oven/Zone-1 became line.Oven.Zone_1_3 (line.Oven.Zone_1 is Oven/Zone 1)"]
    assert unique_tag_names(list(reversed(paths)), "line")[0] == list(reversed(names))  # order of input: same names


@pytest.mark.slow
def test_every_variable_of_both_namespaces_becomes_a_tag_the_edge_reads(plain_server: NodeOpcuaServer) -> None:
    found: list[tuple[int, int]] = []
    result = run(discover(plain_server.endpoint, plant="interop", default_period_ms=250,
                          progress=lambda browsed, known: found.append((browsed, known))))
    tags = {t.name: t for t in result.tagmap}
    assert set(tags) == {f"interop.{path}" for path in INTEROP}
    for path, (dtype, length, node) in INTEROP.items():
        tag = tags[f"interop.{path}"]
        assert (tag.dtype, tag.length, tag.opcua_node) == (dtype, length, node), tag
        assert tag.address is None and tag.table == "holding"
    oven, setpoint = tags["interop.Line.OvenTemperature"], tags["interop.Line.SpeedSetpoint"]
    assert (oven.unit, oven.low, oven.high) == ("°C", 0.0, 200.0)
    assert (setpoint.unit, setpoint.low, setpoint.high, setpoint.access) == ("%", 0.0, 100.0, "rw")
    # node-opcua lets anyone write every variable of the fixture; text and arrays stay read-only all the same
    assert {t.access for t in result.tagmap if t.is_text or t.length} == {"ro"}
    # MinimumSamplingInterval 100 / 1000 ms; the setpoint and LastChange declare none (0): the default
    assert tags["interop.Line.Speed"].period_ms == 100 and tags["interop.Line.Recipe"].period_ms == 1000
    assert tags["interop.Line.SpeedSetpoint"].period_ms == 250 and tags["interop.Line.LastChange"].period_ms == 250
    assert (result.variables, result.skipped, result.tagmap.clock_tag) == (11, [], None)
    assert any("standard namespace" in note for note in result.notes)  # the Server object was not browsed
    assert found and found[-1] == (result.browsed, result.browsed)

    async def read_back(tagmap: TagMap) -> tuple[Any, Any]:
        driver = OpcUaDriver(endpoint_for(plain_server.endpoint), tagmap)
        await driver.connect()
        numbers = [t for t in tagmap.tags if not t.is_text]
        reading = await driver.read(DueSet(numbers, ElementLayout(numbers), tuple(t for t in tagmap if t.is_text)))
        await driver.close()
        return driver.probe, reading

    probe, reading = run(read_back(result.tagmap.allocated()))
    assert probe.unknown == {} and probe.ranges["interop.Line.OvenTemperature"] == (0.0, 200.0)
    assert reading.problems == {} and reading.text["interop.Line.Recipe"] == "RECIPE-A"


@pytest.mark.slow
def test_start_node_and_depth_bound_the_browse_and_what_cannot_be_a_tag_is_named(
        plain_server: NodeOpcuaServer) -> None:
    line = run(discover(plain_server.endpoint, start=f"nsu={LINE_NS};s=Line", depth=1, plant="oven"))
    assert sorted(line.tagmap.names()) == sorted(f"oven.{p.split('.')[1]}" for p in INTEROP if p.startswith("Line."))
    assert run(discover(plain_server.endpoint, depth=1, plant="p")).tagmap.tags == []  # only the folders
    standard = run(discover(plain_server.endpoint, plant="p", depth=3, include_standard=True))
    reasons = standard.skipped_by_reason()
    assert reasons["data type ServerStatusDataType is a structure (ExtensionObject): no tag type holds it"] == 1
    assert reasons["data type LocalizedText has no tag type"] == 1
    status = next(s for s in standard.skipped if s.path == "Server/ServerStatus")
    assert status.node == "i=2256"
    assert standard.tagmap["p.Server.ServerStatus.State"].dtype == "int32"  # an enumeration
    assert standard.tagmap["p.Server.ServerStatus.CurrentTime"].dtype == "datetime"  # UtcTime, a DateTime subtype
    assert len(standard.tagmap) + len(standard.skipped) == standard.variables
    with pytest.raises(ValueError, match="no namespace urn:nowhere"):
        run(discover(plain_server.endpoint, start="nsu=urn:nowhere;s=Line"))


@pytest.mark.slow
def test_batches_of_two_page_through_continuation_points_to_the_same_map(
        plain_server: NodeOpcuaServer, requests: Counter[str]) -> None:
    whole = run(discover(plain_server.endpoint, plant="p", depth=4, include_standard=True))
    assert requests["browse"] <= 8 and requests["browse_next"] == 0 and requests["read"] <= 6, requests
    requests.clear()
    paged = run(discover(plain_server.endpoint, plant="p", depth=4, include_standard=True, batch=2))
    assert requests["browse_next"] > 0 and requests["read"] > 50  # two references, two attributes per request
    assert (paged.tagmap, paged.skipped, paged.notes) == (whole.tagmap, whole.skipped, whole.notes)


@pytest.mark.slow
def test_a_secured_server_is_discovered_with_a_login_and_a_wrong_password_is_named(
        secure_server: NodeOpcuaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = endpoint_for(secure_server.endpoint, **secured(secure_server, tmp_path))
    monkeypatch.setenv("INTEROP_USERNAME", DEFAULT_USERNAME)
    monkeypatch.setenv("INTEROP_PASSWORD", DEFAULT_PASSWORD)
    result = run(discover(secure_server.endpoint, endpoint=endpoint))
    assert result.tagmap.plant == SERVER_PLANT and len(result.tagmap) == len(INTEROP)
    monkeypatch.setenv("INTEROP_PASSWORD", "wrong-" + DEFAULT_PASSWORD)
    with pytest.raises(DiscoveryError) as refused:
        run(discover(secure_server.endpoint, endpoint=endpoint))
    message = str(refused.value)
    assert message.startswith(f"OPC UA server at {secure_server.endpoint}: ") and "refused the login" in message
    assert DEFAULT_PASSWORD not in message


@pytest.mark.slow
def test_the_twin_command_writes_a_tag_map_over_basic256sha256_and_names_what_fails(
        secure_server: NodeOpcuaServer, tmp_path: Path) -> None:
    fields = secured(secure_server, tmp_path)
    options = ["--security", "Basic256Sha256", "--mode", "SignAndEncrypt", "--certificate", fields["certificate"],
               "--private-key", fields["private_key"], "--server-certificate", fields["server_certificate"],
               "--credentials-env", "INTEROP"]
    env = {**os.environ, "COLUMNS": "200", "INTEROP_USERNAME": DEFAULT_USERNAME, "INTEROP_PASSWORD": DEFAULT_PASSWORD}

    def twin(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(TWIN), "tags", "discover", *args], capture_output=True, text=True, timeout=180,
                              env={**env, **extra})

    out = tmp_path / "tags.yaml"
    done = twin(secure_server.endpoint, "--out", str(out), *options)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"wrote {len(INTEROP)} tags to {out}" in done.stderr and "nodes browsed" in done.stderr
    tagmap = load_tagmap(out)
    assert tagmap.plant == SERVER_PLANT and tagmap.clock_tag is None
    assert {t.name: t.dtype for t in tagmap} == {f"{SERVER_PLANT}.{p}": d for p, (d, _, _) in INTEROP.items()}
    assert all(t.opcua_node.startswith("nsu=urn:qt-interop:") for t in tagmap)

    refused = twin(secure_server.endpoint, "--out", str(tmp_path / "no.yaml"), *options,
                   INTEROP_PASSWORD="wrong-" + DEFAULT_PASSWORD)
    assert refused.returncode == 1 and not (tmp_path / "no.yaml").exists()
    error = refused.stderr.strip().splitlines()[-1]
    assert error.startswith(f"OPC UA server at {secure_server.endpoint}: ") and "refused the login" in error
    assert DEFAULT_PASSWORD not in refused.stdout + refused.stderr

    unset = twin(secure_server.endpoint, "--out", str(tmp_path / "no.yaml"), *options[:-1], "NOBODY")
    assert unset.returncode == 2 and "environment variable NOBODY_PASSWORD is not set" in unset.stderr

    nobody = f"opc.tcp://127.0.0.1:{free_port()}"
    unreachable = twin(nobody, "--out", str(tmp_path / "no.yaml"), "--timeout", "5")
    assert unreachable.returncode == 1 and unreachable.stderr.strip().splitlines()[-1].startswith(
        f"OPC UA server at {nobody}: ")


# ------------------------------------------------------------------------------------------- the scale

ASSETS, PER_ASSET = 20, 100  # 2,000 variables that become tags, and two per asset that cannot
KINDS = 10


class ScaleServer:
    """An asyncua server on its own loop and thread, serving ASSETS objects of PER_ASSET variables of every kind."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"opc.tcp://127.0.0.1:{self.port}"
        self.server = Server()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(180)

    async def _start(self) -> None:
        await self.server.init()
        self.server.set_endpoint(self.url)
        self.server.set_server_name("Scale test")
        self.server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        ns = await self.server.register_namespace("urn:qt-test:scale")
        for a in range(ASSETS):
            asset = await self.server.nodes.objects.add_object(ua.NodeId(f"Asset{a:02d}", ns), f"{ns}:Asset {a:02d}")
            for k in range(PER_ASSET):
                await _add(asset, ns, a, k)
            await asset.add_variable(ua.NodeId(f"Asset{a:02d}.Label", ns), f"{ns}:Label", ua.LocalizedText("x"))
            await asset.add_variable(ua.NodeId(f"Asset{a:02d}.Limits", ns), f"{ns}:Limits", ua.Range(Low=0, High=1))
        await self.server.start()

    def close(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


async def _add(asset: Any, ns: int, a: int, k: int) -> None:
    """Variable k of asset a: its kind is k % KINDS."""
    nodeid, name, kind = ua.NodeId(f"Asset{a:02d}.V{k:03d}", ns), f"{ns}:V{k:03d}", k % KINDS
    values: list[tuple[Any, ua.VariantType]] = [
        (20.0, ua.VariantType.Double), (1.5, ua.VariantType.Float), (7, ua.VariantType.Int32),
        (3, ua.VariantType.UInt16), (True, ua.VariantType.Boolean), ("A", ua.VariantType.String),
        (datetime(2025, 1, 1, tzinfo=UTC), ua.VariantType.DateTime), ([0.0, 1.0, 2.0, 3.0], ua.VariantType.Double),
        (50.0, ua.VariantType.Double), (-4, ua.VariantType.SByte),
    ]
    value, variant = values[kind]
    var = await asset.add_variable(nodeid, name, value, varianttype=variant)
    if kind == 0:  # an analog item: unit, range, a sampling interval
        await var.add_property(ns, "EURange", ua.Range(Low=0.0, High=200.0))
        await var.add_property(ns, "EngineeringUnits", ua.EUInformation(DisplayName=ua.LocalizedText("°C")))
        await var.write_attribute(ua.AttributeIds.MinimumSamplingInterval,
                                  ua.DataValue(ua.Variant(250.0, ua.VariantType.Double)))
    elif kind == 7:
        await var.write_value_rank(1)
        await var.write_array_dimensions([4])
    elif kind == 8:
        await var.set_writable()


@pytest.fixture(scope="module")
def scale_server() -> Iterator[ScaleServer]:
    server = ScaleServer()
    yield server
    server.close()


@pytest.mark.slow
def test_two_thousand_variables_on_loopback(scale_server: ScaleServer, requests: Counter[str]) -> None:
    began = time.monotonic()
    result: DiscoveryResult = run(discover(scale_server.url))
    elapsed = time.monotonic() - began
    print(f"\ndiscovered {len(result.tagmap)} tags of {result.variables} variables ({result.browsed} nodes browsed) "
          f"in {elapsed:.2f} s with {dict(requests)} requests")
    assert sum(requests.values()) < 60  # batched: ~15,000 attributes and 2,061 browses, not a round trip per node
    assert result.tagmap.plant == "scale_test"
    assert len(result.tagmap) == ASSETS * PER_ASSET and result.variables == ASSETS * (PER_ASSET + 2)
    assert result.skipped_by_reason() == {
        "data type LocalizedText has no tag type": ASSETS,
        "data type Range is a structure (ExtensionObject): no tag type holds it": ASSETS,
    }
    tags = {t.name: t for t in result.tagmap}
    dtypes = ["float64", "float32", "int32", "uint16", "bool", "string", "datetime", "float64", "float64", "int8"]
    for k in range(PER_ASSET):
        assert tags[f"scale_test.Asset_07.V{k:03d}"].dtype == dtypes[k % KINDS]
    analog = tags["scale_test.Asset_19.V090"]
    assert (analog.unit, analog.low, analog.high, analog.period_ms) == ("°C", 0.0, 200.0, 250)
    assert analog.opcua_node == "nsu=urn:qt-test:scale;s=Asset19.V090"
    assert tags["scale_test.Asset_03.V017"].length == 4 and tags["scale_test.Asset_03.V017"].access == "ro"
    assert tags["scale_test.Asset_03.V018"].access == "rw" and tags["scale_test.Asset_03.V019"].access == "ro"
    assert tags["scale_test.Asset_03.V011"].period_ms == 1000  # no sampling interval declared: the default
    TagMap.model_validate(result.tagmap.model_dump()).allocated()
