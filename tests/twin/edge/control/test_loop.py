"""The control loop end to end on a toy line: real virtual PLC, real broker, real bridge, real ledger.

Each test runs the loop the way the runner will: scan, poll, frame, ``on_frame``; a diagnosis
is handed in at a chosen plant time (the root-cause layer is not under test here).
"""

from __future__ import annotations

import pytest

from tests.mqtt_support import (
    Rig,
    ToyLine,
    broker_fixture,
    diagnosis,
    json_ready,
    run,
    statuses,
    toy_playbook,
    without_ids,
)
from twin.edge.ledger import read_entries, verify_ledger


@pytest.fixture(scope="module", params=["amqtt", "mosquitto"])
def broker(request, tmp_path_factory):
    yield from broker_fixture(request, tmp_path_factory)


def test_auto_restores_the_flow_and_verifies_it(broker, tmp_path) -> None:
    async def episode():
        async with Rig(broker, tmp_path, run_id=f"auto-{broker.kind}") as rig:
            await rig.run(0, 60, {20.0: diagnosis("t.coolant.valve", 20_000)})
            return rig.loop.records(), rig.line.measurements()["t.coolant.flow"], rig.line.setpoints

    records, flow, setpoints = run(episode())
    assert json_ready(records)
    first = records[0]
    assert first["status"] == "applied" and first["tag"] == "t.coolant.valve.command"
    assert first["ack"]["read_back"] == pytest.approx(first["value"], rel=1e-6)
    assert first["verification"]["outcome"] in ("worked", "partial")
    assert first["verification"]["effect"] > 0
    # the fault keeps worsening, so restore repeats; the flow ends close to its 27 L/min start
    assert all(r["status"] == "applied" for r in records) and len(records) >= 2
    assert flow == pytest.approx(27.0, abs=1.5)
    assert setpoints["t.coolant.valve.command"] > 70
    check = verify_ledger(tmp_path / "ledger.jsonl")
    assert check.ok, check.reason
    kinds = [e["kind"] for e in read_entries(tmp_path / "ledger.jsonl")]
    assert {"diagnosis", "command", "ack", "verification"} <= set(kinds)


def test_without_the_loop_the_flow_stays_low(broker, tmp_path) -> None:
    async def episode():
        async with Rig(broker, tmp_path, policy="off", run_id=f"off-{broker.kind}") as rig:
            await rig.run(0, 60, {20.0: diagnosis("t.coolant.valve", 20_000)})
            return rig.loop.records(), rig.line.measurements()["t.coolant.flow"], rig.line.setpoints

    records, flow, setpoints = run(episode())
    assert statuses(records) == ["logged"] and records[0]["value"] > 60
    assert setpoints["t.coolant.valve.command"] == 60.0  # nothing reached the PLC
    assert flow == pytest.approx(20.25, abs=0.1)


def test_same_inputs_give_the_same_records(broker, tmp_path) -> None:
    """The same records, but for what is random by design: ids, nonces and signatures."""
    async def episode(n):
        async with Rig(broker, tmp_path / str(n), run_id=f"det-{n}-{broker.kind}") as rig:
            await rig.run(0, 40, {20.0: diagnosis("t.coolant.valve", 20_000)})
            return [{k: v for k, v in r.items() if k not in ("sends",)} for r in rig.loop.records()]

    first, second = run(episode(1)), run(episode(2))
    assert first and without_ids(first) == without_ids(second)
    assert not {r["id"] for r in first} & {r["id"] for r in second}


def test_recommend_waits_for_the_operator(broker, tmp_path) -> None:
    async def episode():
        async with Rig(broker, tmp_path, policy="recommend", run_id=f"rec-{broker.kind}") as rig:
            await rig.run(0, 21, {20.0: diagnosis("t.coolant.valve", 20_000, n=1)})
            (waiting,) = rig.loop.pending()
            await rig.run(21, 22)
            assert rig.line.setpoints["t.coolant.valve.command"] == 60.0  # selected, not operated
            rig.loop.approve(waiting["id"], operator="ana")
            await rig.run(22, 23)
            with pytest.raises(ValueError, match="not pending"):
                rig.loop.approve(waiting["id"])
            await rig.run(23, 26, {23.0: diagnosis("t.blade1", 23_000, n=2)})
            (blade,) = [p for p in rig.loop.pending() if p["tag"] == "t.blade1.pressure_sp"]
            rig.loop.reject(blade["id"], operator="ana", reason="product change")
            await rig.run(26, 40)
            await rig.run(40, 41, {40.0: diagnosis("t.blade1", 40_000, n=3)})
            await rig.run(41, 52)  # nobody answers within the 10 s select timeout
            return rig.loop.records(), rig.line.setpoints

    records, setpoints = run(episode())
    valve, blade, late = [r for r in records if r["follow_up_of"] is None]
    assert valve["status"] == "applied" and valve["approved_by"] == "ana"
    assert setpoints["t.coolant.valve.command"] == pytest.approx(valve["value"])
    assert blade["status"] == "rejected" and "product change" in blade["notes"][0]
    assert late["status"] == "expired" and "select timeout" in late["notes"][0]
    assert setpoints["t.blade1.pressure_sp"] == 8.0


def test_a_suspect_sensor_raises_a_work_order_and_moves_nothing(broker, tmp_path) -> None:
    async def episode():
        async with Rig(broker, tmp_path, run_id=f"wo-{broker.kind}") as rig:
            observer = await rig.link("observer", f"wo-observer-{broker.kind}", persistent=False)
            await observer.subscribed("qt/t/l1/workorder")
            await rig.run(0, 12, {10.0: diagnosis("t.gauge", 10_000, kind="sensor", signal="t.gauge.thickness")})
            topic, payload = await observer.messages.get()
            return rig.loop.records(), rig.line.setpoints, payload

    records, setpoints, payload = run(episode())
    (order,) = records
    assert order["kind"] == "work_order" and order["status"] == "raised"
    assert "recalibrate t.gauge.thickness on t.gauge" in order["reason"]
    assert b"recalibrate" in payload
    assert setpoints == ToyLine().setpoints


def test_a_correction_that_makes_things_worse_is_rolled_back(broker, tmp_path) -> None:
    wrong = toy_playbook()
    rules = [r.model_dump() for r in wrong.rules]
    rules[1]["actions"][0]["gain"] = -2.2  # the wrong sign: closes the valve further
    rules[1]["actions"][0]["max_repeats"] = 0
    wrong = toy_playbook(rules=rules)

    async def episode():
        async with Rig(broker, tmp_path, playbook=wrong, run_id=f"rb-{broker.kind}") as rig:
            await rig.run(0, 40, {20.0: diagnosis("t.coolant.valve", 20_000)})
            return rig.loop.records(), rig.line.setpoints

    records, setpoints = run(episode())
    bad, undo = records
    assert bad["verification"]["outcome"] == "worse" and bad["rolled_back_by"] == undo["id"]
    assert undo["kind"] == "rollback" and undo["status"] == "applied" and undo["value"] == 60.0
    assert setpoints["t.coolant.valve.command"] == 60.0


def test_the_loop_refuses_and_records_why(broker, tmp_path) -> None:
    tight = toy_playbook(interlocks={"move_budget": 1, "defaults": {"max_step": 0.2}})

    async def episode():
        async with Rig(broker, tmp_path, playbook=tight, run_id=f"ref-{broker.kind}") as rig:
            await rig.run(0, 22, {20.0: diagnosis("t.coolant.valve", 20_000, n=1),
                                  21.0: diagnosis("t.blade1", 21_000, n=2)})
            return rig.loop.records(), rig.line.setpoints

    records, setpoints = run(episode())
    valve, blade = records
    assert valve["status"] == "refused" and valve["refusal"]["code"] == "max_step"
    assert blade["status"] == "refused" and blade["refusal"]["code"] == "max_step"
    assert setpoints == ToyLine().setpoints
