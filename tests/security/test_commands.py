"""Issue 18, item 2: only signed, fresh, in-window commands reach the PLC, a rollback undoes exactly what
the bridge applied (and waits for the cool-down), and no run answers from another run's journal.

Real broker (amqtt and Mosquitto), real bridge, real virtual PLC over Modbus TCP on 127.0.0.1; every
refusal is checked where it matters: the value in the PLC's process image.
"""

from __future__ import annotations

import json

import pytest

from tests.mqtt_support import (
    KEYS,
    Rig,
    ask,
    broker_fixture,
    command,
    diagnosis,
    run,
    toy_playbook,
    toy_tagmap,
)
from twin.edge.bridge.bridge import PlcBridge
from twin.edge.bridge.journal import JournalError
from twin.edge.control.interlocks import Interlocks
from twin.edge.keys import generate_keys
from twin.edge.ledger import read_entries

VALVE = "t.coolant.valve.command"


@pytest.fixture(scope="module", params=["amqtt", "mosquitto"])
def broker(request, tmp_path_factory):
    yield from broker_fixture(request, tmp_path_factory)


def valve(rig: Rig) -> float:
    """The valve command as the PLC holds it."""
    return float(rig.plc.image.value(VALVE))


def test_unsigned_forged_and_tampered_commands_are_refused_and_never_written(broker, tmp_path) -> None:
    genuine = command(id="g1", value=65.0)
    tampered = genuine.model_copy(update={"value": 70.0})  # a valid signature over another value

    async def episode():
        async with Rig(broker, tmp_path, run_id=f"sig-{broker.kind}") as rig:
            await rig.scan(1000)
            acks = await ask(rig, command(keys=None, id="u1", value=65.0),
                             command(keys=generate_keys("l1"), id="f1", value=65.0),
                             tampered,
                             command(keys=None, id="u2", value=65.0, nonce=""))
            return acks, valve(rig), [e["kind"] for e in read_entries(tmp_path / "bridge_journal.jsonl")]

    (unsigned, forged, changed, bare), written, journal = run(episode())
    assert unsigned.status == forged.status == changed.status == bare.status == "refused"
    assert unsigned.reason.startswith("unsigned") and bare.reason.startswith("unsigned")
    assert forged.reason.startswith("bad_signature") and changed.reason.startswith("bad_signature")
    assert written == 60.0
    assert journal == ["journal"] + ["refusal"] * 4  # ledgered, and none of them taken as a command


def test_a_forgery_cannot_take_the_id_of_the_real_command(broker, tmp_path) -> None:
    """The issue's pre-sent command: whatever arrives first under an id, only the signed command counts."""

    async def episode():
        async with Rig(broker, tmp_path, run_id=f"preempt-{broker.kind}") as rig:
            await rig.scan(1000)
            early = await ask(rig, command(keys=None, id="next", value=52.0, expires_t_ms=500))
            real = await ask(rig, command(id="next", value=65.0))
            return early + real, valve(rig)

    (early, real), written = run(episode())
    assert early.status == "refused" and early.reason.startswith("unsigned")
    assert real.status == "applied" and written == pytest.approx(65.0)


def test_replays_are_refused_and_a_resend_gets_its_stored_ack(broker, tmp_path) -> None:
    first = command(id="r1", value=62.0)

    async def episode():
        async with Rig(broker, tmp_path, run_id=f"replay-{broker.kind}",
                       playbook=toy_playbook(interlocks={"defaults": {"max_step": 10}})) as rig:
            await rig.scan(1000)
            (applied,) = await ask(rig, first)
            await rig.scan(10_000)
            again, same_nonce, same_id = await ask(
                rig,
                first,  # the very same command, captured and re-sent: its ack again, no second write
                command(id="r2", value=64.0, nonce=first.nonce, issued_t_ms=10_000),
                command(id="r1", value=64.0, issued_t_ms=10_000))
            kinds = [e["kind"] for e in read_entries(tmp_path / "bridge_journal.jsonl")]
            return applied, again, same_nonce, same_id, valve(rig), kinds

    applied, again, same_nonce, same_id, written, kinds = run(episode())
    assert applied.status == "applied" and again == applied
    assert same_nonce.status == "refused" and "nonce" in same_nonce.reason and same_nonce.reason.startswith("replayed")
    assert same_id.status == "refused" and "id r1" in same_id.reason and same_id.reason.startswith("replayed")
    assert written == pytest.approx(62.0)
    assert kinds.count("command") == 1 and kinds.count("refusal") == 2


def test_commands_outside_the_window_around_the_plc_clock_are_refused(broker, tmp_path) -> None:
    """Window 60 s (the toy playbook's ``command_window_s``); expiry is checked first."""

    async def episode():
        async with Rig(broker, tmp_path, run_id=f"window-{broker.kind}") as rig:
            await rig.scan(70_000)
            acks = await ask(rig,
                             command(id="old", issued_t_ms=0, expires_t_ms=10**9),
                             command(id="future", issued_t_ms=140_000, expires_t_ms=10**9),
                             command(id="expired", issued_t_ms=60_000, expires_t_ms=65_000),
                             command(id="fresh", issued_t_ms=69_000, expires_t_ms=75_000))
            return acks, valve(rig)

    (old, future, expired, fresh), written = run(episode())
    assert old.status == "refused" and old.reason.startswith("window") and "behind" in old.reason
    assert future.status == "refused" and future.reason.startswith("window") and "ahead of" in future.reason
    assert expired.status == "expired"
    assert fresh.status == "applied" and written == pytest.approx(65.0)


def test_a_rollback_must_undo_an_applied_command_and_waits_for_the_cooldown(broker, tmp_path) -> None:
    """The toy valve's cool-down is 8 s. A rollback names what it undoes and returns its previous value."""

    def rollback(rid: str, of: str | None, value: float, t_ms: int, **fields):
        return command(id=rid, kind="rollback", rollback_of=of, value=value, previous=65.0, issued_t_ms=t_ms,
                       **fields)

    async def episode():
        async with Rig(broker, tmp_path, run_id=f"rollback-{broker.kind}") as rig:
            await rig.scan(1000)
            (applied,) = await ask(rig, command(id="c1", value=65.0, issued_t_ms=1000))
            await rig.scan(2000)
            soon = await ask(rig, rollback("rb-soon", "c1", 60.0, 2000),  # the forged rollback of the issue
                             rollback("rb-none", "never-applied", 60.0, 2000))
            await rig.scan(9500)
            later = await ask(rig, rollback("rb-value", "c1", 55.0, 9500),
                              rollback("rb-ok", "c1", 60.0, 9500),
                              rollback("rb-twice", "c1", 60.0, 9500))
            after = valve(rig)
            await rig.scan(20_000)
            (raw,) = await ask(rig, json.dumps({**command(id="rb-raw", value=60.0).model_dump(mode="json"),
                                                "kind": "rollback"}))  # names nothing it undoes
            return applied, soon, later, raw, after

    applied, (soon, none), (wrong_value, ok, twice), raw, after = run(episode())
    assert applied.status == "applied"
    assert soon.status == "refused" and soon.reason.startswith("cooldown")
    assert none.status == "refused" and "never-applied is not a command this bridge applied" in none.reason
    assert wrong_value.status == "refused" and "must write that" in wrong_value.reason
    assert ok.status == "applied" and after == pytest.approx(60.0)
    assert twice.status == "refused" and "already rolled back" in twice.reason
    assert raw.status == "refused" and "invalid command" in raw.reason and "rollback_of" in raw.reason


def test_the_loop_rolls_back_after_the_cooldown_and_ignores_acks_to_forgeries(broker, tmp_path) -> None:
    """A correction that makes things worse is verified after 3 s, before the 8 s cool-down ends: the loop
    waits, then sends a rollback the bridge accepts. A forged copy of the correction's id, refused by the
    bridge, leaves the loop's record alone."""
    rules = [r.model_dump() for r in toy_playbook().rules]
    rules[1]["actions"][0].update(gain=-2.2, max_repeats=0)  # the wrong sign: closes the valve further
    rules[1]["actions"][0]["verify"]["window_s"] = 3
    wrong = toy_playbook(rules=rules)

    async def episode():
        async with Rig(broker, tmp_path, playbook=wrong, run_id=f"loop-rb-{broker.kind}") as rig:
            await rig.run(0, 21, {20.0: diagnosis("t.coolant.valve", 20_000)})
            bad_id = rig.loop.records()[0]["id"]
            (forged,) = await ask(rig, command(keys=None, id=bad_id, value=90.0))
            await rig.run(21, 40)
            return rig.loop.records(), forged, valve(rig)

    records, forged, written = run(episode())
    bad, undo = records
    assert forged.status == "refused" and bad["status"] == "applied"  # the refusal answered the forgery only
    assert bad["verification"]["outcome"] == "worse" and any("waits for the cool-down" in n for n in bad["notes"])
    assert undo["kind"] == "rollback" and undo["status"] == "applied" and undo["rollback_of"] == bad["id"]
    assert undo["t_ms"] - bad["applied_t_ms"] >= 8_000  # not before the cool-down ended
    assert undo["command"]["rollback_of"] == bad["id"] and undo["value"] == bad["command"]["previous"]
    assert written == pytest.approx(60.0)


def test_a_bridge_refuses_the_journal_of_another_run(broker, tmp_path) -> None:
    async def episode():
        async with Rig(broker, tmp_path, run_id="first") as rig:
            await rig.scan(1000)
            (applied,) = await ask(rig, command(id="c0001", value=65.0))
            return applied, rig.endpoints(rig.tagmap)

    applied, endpoints = run(episode())
    assert applied.status == "applied"
    journal = tmp_path / "bridge_journal.jsonl"
    with pytest.raises(JournalError, match="belongs to run 'first', not 'second'"):
        PlcBridge(None, endpoints, Interlocks(toy_playbook().interlocks, toy_tagmap()),  # type: ignore[arg-type]
                  keys=KEYS, run_id="second", journal=journal)
    legacy = tmp_path / "legacy.jsonl"
    legacy.write_text('{"index": 0, "kind": "ack", "payload": {}}\n')
    with pytest.raises(JournalError, match="does not say which run it belongs to"):
        PlcBridge(None, endpoints, Interlocks(toy_playbook().interlocks, toy_tagmap()),  # type: ignore[arg-type]
                  keys=KEYS, run_id="second", journal=legacy)


def test_a_second_run_into_the_same_folder_writes_its_own_commands(broker, tmp_path) -> None:
    """The issue's stale journal: a second closed loop into the same folder under the same run name. Its
    run id is fresh, so its bridge will not answer from the first run's journal: it refuses to start
    (the edge stack, which starts a fresh journal per run, is the way to re-run into a folder)."""

    async def first():
        async with Rig(broker, tmp_path, run_id="same", wired="own") as rig:
            await rig.run(0, 21, {20.0: diagnosis("t.coolant.valve", 20_000)})
            return rig.closed.run_id, rig.loop.records()

    async def second():
        rig = Rig(broker, tmp_path, run_id="same", wired="own")
        try:
            with pytest.raises(JournalError, match=f"belongs to run '{run_id}'"):
                await rig.__aenter__()
        finally:
            await rig.__aexit__(None, None, None)
        return valve(rig)

    run_id, records = run(first())
    assert run_id.startswith("same.") and records[0]["status"] == "applied"
    assert run(second()) == 60.0  # nothing was acked from the old journal, nothing written


def test_command_ids_and_nonces_are_unpredictable(broker, tmp_path) -> None:
    """Two loops, the same inputs: every id and nonce differs, and none is the old ``{run_id}:c0001``."""

    async def episode(n):
        async with Rig(broker, tmp_path / str(n), run_id="same-seed") as rig:
            await rig.run(0, 21, {20.0: diagnosis("t.coolant.valve", 20_000)})
            return [(r["id"], r["command"]["nonce"]) for r in rig.loop.records()]

    (id1, nonce1), (id2, nonce2) = run(episode(1))[0], run(episode(2))[0]
    assert id1 != id2 and nonce1 != nonce2 and len(nonce1) == 32
    assert id1.startswith("c0001-") and len(id1.split("-")[1]) == 16 and "same-seed" not in id1
