"""DCMD writes through the closed loop on real brokers: the toy PLC over Modbus, the PLC bridge, signed commands
and the ledger (tests.mqtt_support.Rig wired by open_closed_loop), our edge node attached to the loop."""

from __future__ import annotations

import pytest

from tests.mqtt_support import run
from tests.twin.edge.sparkplug.support import CommandLine, Spy, count, outcomes, sparkplug_brokers
from twin.edge.ledger import read_entries, verify_ledger
from twin.edge.sparkplug.schema import DataType

broker = pytest.fixture(scope="module", params=["amqtt", "mosquitto"])(sparkplug_brokers)
SP, OVEN, FLOW = "t.blade1.pressure_sp", "t.oven.power_sp", "t.coolant.flow"


def test_dcmd_in_range_is_written_and_the_rest_refused_all_ledgered(broker, tmp_path):
    """One DCMD, four metrics: a setpoint in range (by alias) reaches the PLC and is read back; a setpoint out of
    range, a read-only metric and an unknown one are refused; every one is ledgered and its outcome published."""
    async def main():
        async with Spy(broker) as spy, CommandLine(broker, tmp_path, f"dcmd-{broker.kind}") as line:
            line.dcmd((line.alias(SP), DataType.FLOAT, 9.0), (OVEN, DataType.DOUBLE, 150.0),
                      (FLOW, DataType.FLOAT, 1.0), ("t.nope", DataType.DOUBLE, 1.0))
            await line.settle(4)
            await spy.until(count("NDATA", 4))
            await spy.until(lambda seen: any(t.kind == "DDATA" and any(m.float_value == 9.0 for m in p.metrics)
                                             for t, p in seen))
            return line.plc(SP), line.plc(OVEN), line.node.counts, spy.seen

    sp, oven, counts, seen = run(main())
    assert sp == 9.0 and oven == 0.0
    assert counts.commands == 4 and counts.applied_commands == 1 and counts.refused_commands == 3
    reported = {o["Metric"]: o for o in outcomes(seen)}
    assert reported[f"toy/{SP}"]["Status"] == "applied"
    assert reported[f"toy/{OVEN}"]["Status"] == "refused" and reported[f"toy/{OVEN}"]["Reason"].startswith(
        "out_of_range")
    assert reported[f"toy/{FLOW}"]["Reason"].startswith("not_writable")
    assert reported["toy/t.nope"]["Reason"].startswith("unknown_metric")
    entries = read_entries(tmp_path / "ledger.jsonl")
    requests = {e["payload"]["metric"]: e["payload"] for e in entries if e["kind"] == "sparkplug_dcmd"}
    assert requests["t.nope"]["status"] == "refused" and requests[SP]["status"] == "admitted"
    commands = {e["payload"]["tag"]: e["payload"] for e in entries if e["kind"] == "command"}
    assert commands[SP]["status"] == "sent" and commands[SP]["command"]["signature"]  # signed with the line's key
    assert commands[OVEN]["refusal"]["code"] == "out_of_range" and commands[FLOW]["refusal"]["code"] == "not_writable"
    acks = [e["payload"] for e in entries if e["kind"] == "ack"]
    assert [(a["tag"], a["status"], a["read_back"]) for a in acks] == [(SP, "applied", 9.0)]
    assert verify_ledger(tmp_path / "ledger.jsonl").ok


def test_recommend_holds_a_dcmd_for_the_operator(broker, tmp_path):
    """Policy recommend: select-before-operate. The DCMD waits, unwritten, until an operator approves it."""
    async def main():
        async with CommandLine(broker, tmp_path, f"sbo-{broker.kind}", policy="recommend") as line:
            line.dcmd((SP, DataType.FLOAT, 8.5))
            for _ in range(40):  # the request reaches the node, then the loop at the next scan
                await line.scan()
                if line.rig.loop.pending():
                    break
            held = line.plc(SP)
            line.rig.loop.approve(line.rig.loop.pending()[0]["id"], operator="ana")
            await line.settle(1)
            return held, line.plc(SP), line.rig.loop.records()

    held, written, records = run(main())
    assert held == 8.0 and written == 8.5
    assert [(r["status"], r["approved_by"], r["rule"]) for r in records] == [("applied", "ana", "sparkplug_dcmd")]


def test_without_a_closed_loop_every_dcmd_is_refused(broker, tmp_path):
    async def main():
        async with CommandLine(broker, tmp_path, f"noloop-{broker.kind}", attach=False) as line:
            line.node.attach(None)
            line.dcmd((SP, DataType.FLOAT, 9.0))
            await line.settle(1)
            return line.plc(SP), line.node.counts

    sp, counts = run(main())
    assert sp == 8.0 and counts.refused_commands == 1 and counts.applied_commands == 0
