"""``run_edge(..., sparkplug=SparkplugOptions(...))`` end to end: the real-time edge reads a served Modbus PLC
and publishes every frame as a Sparkplug B edge node on a broker with accounts and an ACL; a spy reads it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.mqtt_support import Brokers, toy_tagmap
from tests.twin.edge.sparkplug.support import EDGE_NODE, GROUP, NODE_USER, SP_ACL, SP_USERS, Spy
from twin.edge.realtime import run_edge
from twin.edge.sparkplug.node import SparkplugOptions
from virtual_plc.endpoints import Endpoint, EndpointFile
from virtual_plc.modbus_server import ModbusPlcServer
from virtual_plc.plc import LOOPBACK, VirtualPlc, free_port

WALL_S = 3.0  # the edge runs this long (wall clock): enough for births and a few hundred data messages


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["amqtt", "mosquitto"])
def test_the_real_time_edge_publishes_as_a_sparkplug_node(tmp_path: Path, kind: str) -> None:
    tagmap = toy_tagmap()
    tagmap.to_yaml(tmp_path / "tags.yaml")
    brokers = Brokers(kind, tmp_path / "broker", SP_USERS, SP_ACL)

    async def main() -> list[str]:
        plc = VirtualPlc(tagmap)
        plc.modbus = ModbusPlcServer(plc.image, host=LOOPBACK, port=free_port())
        await plc.modbus.start()
        EndpointFile(tag_map="tags.yaml", plcs=[Endpoint(name="plc1", protocol="modbus", port=plc.modbus.port)]).save(
            tmp_path / "endpoints.yaml")
        try:
            async with Spy(brokers) as spy:
                node = brokers.account(NODE_USER)
                await run_edge(tmp_path / "endpoints.yaml", tmp_path / "edge", broker=node, bridge=False,
                               edge_account=(NODE_USER, SP_USERS[NODE_USER]), scan_ms=100, duration_s=WALL_S,
                               sparkplug=SparkplugOptions(GROUP, EDGE_NODE, buffer_samples=1000))
                await spy.until(lambda seen: any(t.kind == "DBIRTH" for t, _ in seen), timeout_s=10)
                return spy.kinds()
        finally:
            await plc.stop()

    try:
        kinds = asyncio.run(main())
    finally:
        brokers.server.stop()
    assert kinds[0] == "NBIRTH" and "DBIRTH" in kinds
    assert kinds.index("DBIRTH") < (kinds.index("DDATA") if "DDATA" in kinds else len(kinds))
    assert (tmp_path / "edge" / "historian.duckdb").is_file()
