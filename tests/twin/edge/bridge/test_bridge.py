"""The PLC bridge over real brokers and a real virtual PLC: every command ends applied, refused,
failed or expired — also across a dropped PLC connection, a bridge restart and a broker restart."""

from __future__ import annotations

import pytest

from tests.mqtt_support import (
    SCAN_MS,
    Rig,
    ask,
    broker_fixture,
    command,
    diagnosis,
    run,
    toy_playbook,
    toy_tagmap,
)
from twin.edge.bridge.bridge import read_back_matches
from twin.edge.ledger import read_entries, verify_ledger
from virtual_plc.modbus_server import ModbusPlcServer
from virtual_plc.plc import LOOPBACK

FINAL = {"applied", "refused", "failed", "expired"}


@pytest.fixture(scope="module", params=["amqtt", "mosquitto"])
def broker(request, tmp_path_factory):
    yield from broker_fixture(request, tmp_path_factory)


def test_applied_with_read_back_on_both_protocols(broker, tmp_path) -> None:
    async def episode(protocol):
        async with Rig(broker, tmp_path / protocol, run_id=f"ok-{protocol}-{broker.kind}", protocol=protocol) as rig:
            await rig.scan(1000)
            acks = await ask(rig, command(id="c1", value=65.0),
                             command(id="c2", tag="t.oven.power_sp", value=1.23, previous=0.0, low=-100, high=100))
            await rig.scan(1000 + SCAN_MS)
            return acks, dict(rig.line.setpoints)

    for protocol in ("modbus", "opcua") if broker.kind == "amqtt" else ("modbus",):
        (valve, oven), setpoints = run(episode(protocol))
        assert valve.status == "applied" and valve.read_back == pytest.approx(65.0) and valve.plc_t_ms == 1000
        assert oven.status == "applied" and oven.read_back == pytest.approx(1.2)  # int16 at scale 10
        assert setpoints["t.coolant.valve.command"] == pytest.approx(65.0)


def test_expired_refused_invalid_and_plc_refusals(broker, tmp_path) -> None:
    wide = toy_tagmap(valve_high=200.0)  # the bridge believes a wider range than the PLC has

    async def episode():
        async with Rig(broker, tmp_path, run_id=f"no-{broker.kind}", bridge_tagmap=wide,
                       playbook=toy_playbook(interlocks={"defaults": {"max_step": 100}})) as rig:
            await rig.scan(5000)
            acks = await ask(
                rig,
                command(id="late", issued_t_ms=0, expires_t_ms=4000),
                command(id="range", value=250.0, high=250.0),
                command(id="bounds", value=70.0, low=0.0, high=65.0),
                command(id="plc", value=150.0, high=150.0),
                '{"id": "broken", "tag": "t.coolant.valve.command", "value": "lots"}',
                command(id="ro", tag="t.coolant.flow", value=1.0),
            )
            await rig.scan(5000 + SCAN_MS)
            return acks, rig.line.setpoints

    acks, setpoints = run(episode())
    late, out_of_range, bounds, plc, broken, read_only = acks
    assert late.status == "expired" and "past expiry" in late.reason
    assert out_of_range.status == "refused" and out_of_range.reason.startswith("out_of_range")
    assert bounds.status == "refused" and bounds.reason.startswith("out_of_bounds")
    assert plc.status == "refused" and "PLC refused (modbus_exception" in plc.reason
    assert broken.status == "refused" and broken.command_id == "broken" and "invalid command" in broken.reason
    assert read_only.status == "refused" and "not_writable" in read_only.reason
    assert setpoints["t.coolant.valve.command"] == 60.0  # nothing reached the process


def test_a_dropped_plc_connection_fails_the_command_then_recovers(broker, tmp_path) -> None:
    async def episode():
        async with Rig(broker, tmp_path, run_id=f"drop-{broker.kind}") as rig:
            await rig.scan(1000)
            port = rig.plc.modbus.port
            await rig.plc.modbus.stop()
            (down,) = await ask(rig, command(id="down", value=62.0))
            rig.plc.modbus = ModbusPlcServer(rig.plc.image, host=LOOPBACK, port=port)
            await rig.plc.modbus.start()
            (up,) = await ask(rig, command(id="up", value=62.0))
            return down, up

    down, up = run(episode())
    assert down.status == "failed" and "PLC unavailable" in down.reason and "toy" in down.reason
    assert up.status == "applied" and up.read_back == pytest.approx(62.0)


def test_a_bridge_restart_loses_nothing_and_answers_resends_from_its_journal(broker, tmp_path) -> None:
    async def episode():
        async with Rig(broker, tmp_path, run_id=f"brr-{broker.kind}",
                       playbook=toy_playbook(command_expiry_s=60)) as rig:
            await rig.run(0, 20)
            await rig.stop_bridge()
            rig.loop.ack_timeout_s = 0.2
            await rig.run(20, 21, {20.0: diagnosis("t.coolant.valve", 20_000)})
            assert [r["status"] for r in rig.loop.records()] == ["sent"]
            await rig.start_bridge()
            for _ in range(100):  # bounded: the queued command or a re-send reaches the new bridge
                await rig.run(21, 21.25, pace_s=0.02)
                if rig.loop.records()[0]["status"] != "sent":
                    break
            first = rig.loop.records()[0]
            written = [e["kind"] for e in read_entries(tmp_path / "bridge_journal.jsonl")]
            await rig.stop_bridge()
            await rig.start_bridge()  # a third bridge process, same journal
            (again,) = await ask(rig, rig.loop._records[first["id"]].command)
            return first, again, written, [e["kind"] for e in read_entries(tmp_path / "bridge_journal.jsonl")]

    first, again, written, written_after = run(episode())
    assert first["status"] == "applied"
    assert again.status == "applied" and again.read_back == first["ack"]["read_back"]
    assert written == written_after == ["journal", "command", "ack"]  # answered from the journal: written once
    assert verify_ledger(tmp_path / "bridge_journal.jsonl").ok


def test_a_broker_restart_loses_no_command(broker, tmp_path) -> None:
    async def episode():
        async with Rig(broker, tmp_path, run_id=f"bkr-{broker.kind}",
                       playbook=toy_playbook(command_expiry_s=120)) as rig:
            await rig.run(0, 20)
            rig.loop.ack_timeout_s = 0.2
            broker.server.restart()
            await rig.run(20, 21, {20.0: diagnosis("t.coolant.valve", 20_000)})
            for _ in range(200):  # bounded, ~8 s: reconnects take about a second
                await rig.run(21, 21.25, pace_s=0.04)
                if all(r["status"] in FINAL for r in rig.loop.records()):
                    break
            return rig.loop.records(), rig.line.setpoints

    records, setpoints = run(episode())
    (record,) = records
    assert record["status"] == "applied", record
    assert setpoints["t.coolant.valve.command"] == pytest.approx(record["value"])


def test_read_back_tolerance_follows_the_register_type() -> None:
    tags = {t.name: t for t in toy_tagmap().tags}
    assert read_back_matches(tags["t.oven.power_sp"], 12.34, 12.3)
    assert not read_back_matches(tags["t.oven.power_sp"], 12.34, 12.2)
    assert read_back_matches(tags["t.coolant.valve.command"], 65.1, float(__import__("numpy").float32(65.1)))
    assert not read_back_matches(tags["t.coolant.valve.command"], 65.1, 65.2)
    assert not read_back_matches(tags["t.coolant.valve.command"], 65.1, float("nan"))
