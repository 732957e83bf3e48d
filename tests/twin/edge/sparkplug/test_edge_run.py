"""``run_edge(..., sparkplug=SparkplugOptions(...))`` end to end: the real-time edge reads a served Modbus PLC
and publishes every frame as a Sparkplug B edge node on a broker with accounts and an ACL; a spy reads it, a
host sends a DCMD the edge (no playbook: no closed loop) refuses and ledgers, and ``edge.json`` counts it all."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import duckdb
import pytest

from tests.mqtt_support import Brokers, toy_tagmap
from tests.twin.edge.sparkplug.support import EDGE_NODE, GROUP, HOST_USER, NODE_USER, SP_ACL, SP_USERS, Spy
from twin.edge.bridge.mqtt import MqttLink
from twin.edge.ledger import read_entries, verify_ledger
from twin.edge.realtime import EdgeRunResult, run_edge
from twin.edge.sparkplug.node import SparkplugOptions, now_ms
from twin.edge.sparkplug.payloads import add_metric, new_payload
from twin.edge.sparkplug.schema import DataType
from twin.edge.sparkplug.topics import Topic
from virtual_plc.endpoints import Endpoint, EndpointFile
from virtual_plc.modbus_server import ModbusPlcServer
from virtual_plc.plc import LOOPBACK, VirtualPlc, free_port

MAX_WALL_S = 20.0  # a bound, not an expectation: the run stops as soon as the DCMD's refusal is counted
SP = "t.blade1.pressure_sp"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["amqtt", "mosquitto"])
def test_the_real_time_edge_publishes_as_a_sparkplug_node(tmp_path: Path, kind: str) -> None:
    tagmap = toy_tagmap()
    tagmap.to_yaml(tmp_path / "tags.yaml")
    brokers = Brokers(kind, tmp_path / "broker", SP_USERS, SP_ACL)

    def refused(result: EdgeRunResult) -> bool:
        return result.publisher.get("refused_commands", 0) >= 1

    async def main() -> tuple[list[str], tuple[float, float], EdgeRunResult]:
        plc = VirtualPlc(tagmap)
        plc.modbus = ModbusPlcServer(plc.image, host=LOOPBACK, port=free_port())
        await plc.modbus.start()
        EndpointFile(tag_map="tags.yaml", plcs=[Endpoint(name="plc1", protocol="modbus", port=plc.modbus.port)]).save(
            tmp_path / "endpoints.yaml")
        host = MqttLink(brokers.account(HOST_USER), f"host-{kind}")
        try:
            async with Spy(brokers) as spy:
                edge = asyncio.create_task(run_edge(
                    tmp_path / "endpoints.yaml", tmp_path / "edge", broker=brokers.account(NODE_USER), bridge=False,
                    edge_account=(NODE_USER, SP_USERS[NODE_USER]), scan_ms=20, duration_s=MAX_WALL_S,
                    stop=refused, sparkplug=SparkplugOptions(GROUP, EDGE_NODE, buffer_samples=1000)))
                await spy.until(lambda seen: any(t.kind == "DBIRTH" for t, _ in seen), timeout_s=10)
                await host.connect()
                before = float(plc.image.value(SP))
                dcmd = new_payload(now_ms())
                add_metric(dcmd, name=SP, datatype=DataType.FLOAT, value=9.0)
                host.publish(str(Topic(GROUP, "DCMD", EDGE_NODE, "plc1")), dcmd.SerializeToString())
                result = await edge
                return spy.kinds(), (before, float(plc.image.value(SP))), result
        finally:
            await host.close()
            await plc.stop()

    try:
        kinds, sp, result = asyncio.run(main())
    finally:
        brokers.server.stop()
    assert kinds[0] == "NBIRTH" and "DBIRTH" in kinds
    assert kinds.index("DBIRTH") < (kinds.index("DDATA") if "DDATA" in kinds else len(kinds))
    # the DCMD: refused (no playbook, no closed loop), never written, ledgered in a signed ledger of the run's own
    assert refused(result) and sp[1] == sp[0]
    entries = [e["payload"] for e in read_entries(tmp_path / "edge" / "ledger.jsonl") if e["kind"] == "sparkplug_dcmd"]
    assert [(e["metric"], e["status"], e["refusal"]["code"]) for e in entries] == [(SP, "refused", "no_closed_loop")]
    assert verify_ledger(tmp_path / "edge" / "ledger.jsonl").ok
    # edge.json counts what the node and the historian did; nothing collected went missing
    report = json.loads((tmp_path / "edge" / "edge.json").read_text())
    samples = report["publisher"]["samples"]
    assert samples["collected"] == samples["published"] + samples["dropped"] + samples["pending"]
    assert samples["published"] > 0 and report["publisher"]["commands"] == 1
    historian = report["historian"]
    assert historian["collected"] == historian["stored"] > 0 and historian["dropped"] == historian["unwritten"] == 0
    with duckdb.connect(str(tmp_path / "edge" / "historian.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == historian["stored"]
    # and its OpenLineage events beside it: the endpoint file in, the historian out
    events = [json.loads(line) for line in (tmp_path / "edge" / "openlineage.jsonl").read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert any(d["name"].endswith("historian.duckdb") for d in events[-1]["outputs"])
