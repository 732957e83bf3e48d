"""``open_closed_loop``: the few lines the runner needs, on a shared broker, on its own amqtt, and off."""

from __future__ import annotations

import pytest

from tests.mqtt_support import Rig, broker_fixture, diagnosis, run
from twin.edge.ledger import verify_ledger


@pytest.fixture(scope="module", params=["amqtt", "mosquitto"])
def broker(request, tmp_path_factory):
    yield from broker_fixture(request, tmp_path_factory)


@pytest.mark.parametrize("wired", ["shared", "own"])
def test_open_closed_loop_closes_the_loop(broker, tmp_path, wired) -> None:
    """'own' ignores the shared broker and starts its own amqtt, whichever broker the module runs on."""

    async def episode():
        async with Rig(broker, tmp_path, run_id=f"w-{wired}-{broker.kind}", wired=wired) as rig:
            await rig.run(0, 30, {20.0: diagnosis("t.coolant.valve", 20_000)})
            assert (rig.closed.broker is not None) == (wired == "own")
            return rig.loop.records()

    records = run(episode())
    assert records[0]["status"] == "applied" and records[0]["verification"]["outcome"] == "worked"
    assert verify_ledger(tmp_path / "ledger.jsonl").ok and verify_ledger(tmp_path / "bridge_journal.jsonl").ok


def test_policy_off_starts_no_broker_and_sends_nothing(broker, tmp_path) -> None:
    async def episode():
        async with Rig(broker, tmp_path, policy="off", run_id=f"w-off-{broker.kind}", wired="own") as rig:
            await rig.run(0, 22, {20.0: diagnosis("t.coolant.valve", 20_000)})
            assert rig.closed.broker is None and rig.closed.bridge is None and rig.loop.channel is None
            return rig.loop.records(), rig.line.setpoints["t.coolant.valve.command"]

    records, valve = run(episode())
    assert [r["status"] for r in records] == ["logged"] and valve == 60.0
