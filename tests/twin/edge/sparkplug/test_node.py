"""Our Sparkplug B edge node on real brokers (amqtt in process, Mosquitto), read back with our decoder."""

from __future__ import annotations

import pytest

from tests.mqtt_support import SCAN_MS, run
from tests.twin.edge.sparkplug.support import GROUP, HOST_USER, Line, Spy, count, node_for, sparkplug_brokers
from twin.edge.bridge.mqtt import MqttLink
from twin.edge.sparkplug.payloads import rebirth_command
from twin.edge.sparkplug.schema import DataType
from twin.edge.sparkplug.values import properties_of

broker = pytest.fixture(scope="module", params=["amqtt", "mosquitto"])(sparkplug_brokers)


def metric_names(payload) -> dict[str, int]:
    return {m.name: m.alias for m in payload.metrics}


def test_births_aliases_and_seq_wrap(broker):
    """NBIRTH (bdSeq, Rebirth), DBIRTH with every metric's alias, datatype, unit and range, then DDATA by alias
    with seq 0-255 wrapping over 300 frames."""
    async def main():
        async with Line() as line, Spy(broker) as spy:
            node = node_for(broker, line, report_by_exception=False, client_id=f"births-{broker.kind}")
            async with node:
                for k in range(300):
                    node.publish(await line.scan(k * SCAN_MS), line.down())
                seen = await spy.until(count("DDATA", 299))
                bd_seq = node.bd_seq
            return node, seen, bd_seq

    node, seen, bd_seq = run(main())
    kinds = [t.kind for t, _ in seen]
    assert kinds[:3] == ["NBIRTH", "DBIRTH", "DDATA"]
    nbirth, dbirth = seen[0][1], seen[1][1]
    assert nbirth.seq == 0 and {m.name for m in nbirth.metrics} == {
        "bdSeq", "Node Control/Rebirth", "Command/Id", "Command/Metric", "Command/Status", "Command/Reason"}
    assert [m.long_value for m in nbirth.metrics if m.name == "bdSeq"] == [bd_seq]
    aliases = metric_names(dbirth)
    assert set(aliases) == {"t.coolant.valve.command", "t.coolant.flow", "t.blade1.pressure_sp", "t.blade1.pressure",
                            "t.gauge.thickness", "t.oven.power_sp"}
    assert len(set(aliases.values())) == len(aliases)
    by_name = {m.name: m for m in dbirth.metrics}
    assert by_name["t.coolant.flow"].datatype == DataType.FLOAT
    assert by_name["t.oven.power_sp"].datatype == DataType.DOUBLE  # int16 with scale 10: fractions
    assert properties_of(by_name["t.coolant.flow"]) == {"engUnit": "L/min", "engLow": 0.0, "engHigh": 50.0,
                                                       "readOnly": True, "Quality": 192.0}
    assert properties_of(by_name["t.blade1.pressure_sp"])["readOnly"] == 0.0  # a setpoint
    ddata = [p for t, p in seen if t.kind == "DDATA"]
    assert all(not m.name and m.alias in aliases.values() for p in ddata for m in p.metrics)
    seqs = [p.seq for _, p in seen]
    assert seqs == [k % 256 for k in range(len(seqs))] and len(seqs) > 256
    assert node.forward.counts.dropped == 0 and node.forward.counts.invariant_holds(node.forward.pending)


def test_report_by_exception_sends_only_changes(broker):
    async def main():
        async with Line() as line, Spy(broker) as spy:
            async with node_for(broker, line, client_id=f"rbe-{broker.kind}") as node:
                for k in range(20):
                    node.publish(await line.scan(k * SCAN_MS), line.down())
                await spy.until(count("DDATA", 19))
            return spy.seen

    seen = run(main())
    aliases = metric_names(seen[1][1])
    moving = aliases["t.blade1.pressure"]  # follows a setpoint the line moves every scan
    ddata = [p for t, p in seen if t.kind == "DDATA"]
    assert all(moving in {m.alias for m in p.metrics} for p in ddata)
    assert all(aliases["t.gauge.thickness"] not in {m.alias for m in p.metrics} for p in ddata)  # constant 100


def test_rebirth_on_request_and_death_on_a_killed_edge(broker):
    """An NCMD Node Control/Rebirth from the host brings NBIRTH + DBIRTH again (seq back to 0); a connection
    dropped without DISCONNECT makes the broker publish the NDEATH will with this session's bdSeq."""
    async def main():
        async with Line() as line, Spy(broker) as spy:
            node = node_for(broker, line, client_id=f"kill-{broker.kind}")
            await node.start()
            node.publish(await line.scan(0), line.down())
            await spy.until(count("DBIRTH"))
            host = MqttLink(broker.account(HOST_USER), f"host-{broker.kind}")
            await host.connect()
            host.publish(f"spBv1.0/{GROUP}/NCMD/e1", rebirth_command(1))
            await spy.until(count("DBIRTH", 2))
            node.publish(await line.scan(SCAN_MS), line.down())
            await spy.until(count("DDATA"))
            assert node.link is not None
            node.link.abort()
            await spy.until(count("NDEATH"))
            await host.close()
            return node, spy.seen

    node, seen = run(main())
    assert [t.kind for t, _ in seen] == ["NBIRTH", "DBIRTH", "NCMD", "NBIRTH", "DBIRTH", "DDATA", "NDEATH"]
    assert [p.seq for t, p in seen if t.kind not in ("NCMD", "NDEATH")] == [0, 1, 0, 1, 2]
    births = [p for t, p in seen if t.kind == "NBIRTH"]
    death = seen[-1][1]
    bd = [m.long_value for m in death.metrics if m.name == "bdSeq"]
    assert bd == [m.long_value for m in births[-1].metrics if m.name == "bdSeq"] == [node.bd_seq]
    assert node.counts.rebirth_requests == 1


def test_plc_lost_is_a_device_death_and_its_return_a_birth(broker):
    async def main():
        async with Line() as line, Spy(broker) as spy:
            async with node_for(broker, line, client_id=f"ddeath-{broker.kind}") as node:
                node.publish(await line.scan(0), line.down())
                await line.plc.modbus.stop()
                for k in range(1, 4):
                    node.publish(await line.scan(k * SCAN_MS), line.down())
                assert line.down() == {"plc1"}
                await spy.until(count("DDEATH"))
                await line.plc.modbus.start()
                for k in range(4, 40):  # the collector backs off before reconnecting
                    node.publish(await line.scan(k * SCAN_MS), line.down())
                    if not line.down():
                        break
                await spy.until(count("DBIRTH", 2))
            return spy.kinds()

    kinds = run(main())
    assert kinds[:4] == ["NBIRTH", "DBIRTH", "DDEATH", "DBIRTH"]
