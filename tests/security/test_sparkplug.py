"""Issue 22: a Sparkplug DCMD reaches the PLC only from an account the broker's ACL lets publish commands, and then
only through the closed loop's interlocks, signed command, bridge and ledger.

Real brokers (amqtt with the TopicAcl plug-in, Mosquitto with the ACL file rendered from the same TopicAcl), the
toy PLC over Modbus TCP on 127.0.0.1; every refusal is checked where it matters: the PLC's process image.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.mqtt_support import Brokers, run
from tests.twin.edge.sparkplug.support import NODE_USER, SP_ACL, SP_USERS, CommandLine
from twin.edge.bridge.brokers import TopicAcl
from twin.edge.bridge.mqtt import MqttLink
from twin.edge.ledger import read_entries
from twin.edge.sparkplug.schema import DataType

SP = "t.blade1.pressure_sp"
ROGUE, ECHO = "rogue", "rogue/echo"


@pytest.fixture(scope="module", params=["amqtt", "mosquitto"])
def broker(request, tmp_path_factory) -> Iterator[Brokers]:
    """The Sparkplug accounts, plus ``rogue``: a valid login whose grants cover only ``rogue/#``."""
    brokers = Brokers(request.param, tmp_path_factory.mktemp(f"sps-{request.param}"), {**SP_USERS, ROGUE: "r0gue"},
                      SP_ACL | TopicAcl.grant(ROGUE, read=("rogue/#",), write=("rogue/#",)))
    yield brokers
    brokers.server.stop()


async def forged(line: CommandLine, user: str, value: float) -> None:
    """A DCMD to the setpoint from ``user``'s account, then (as ``rogue``) an echo through the broker: once it
    returns, the broker has handled the DCMD, and anything it forwarded would reach the node before what the host
    publishes next."""
    link = MqttLink(line.brokers.account(user), f"forger-{user}-{line.run_id}")
    await link.connect()
    line.dcmd((SP, DataType.FLOAT, value), link=link)
    await link.close()
    rogue = MqttLink(line.brokers.account(ROGUE), f"echo-{user}-{line.run_id}")
    await rogue.connect()
    await rogue.subscribed(ECHO)
    rogue.publish(ECHO, b"ping")
    await asyncio.wait_for(rogue.messages.get(), 10)
    await rogue.close()


def test_a_dcmd_from_an_account_the_acl_does_not_allow_never_reaches_the_plc(broker, tmp_path):
    """A login without a DCMD grant (``rogue``) and the edge node's own account (it may read commands, not send
    them) publish DCMDs; the broker drops them. The host's DCMD that follows is the first and only the node gets."""
    async def main():
        async with CommandLine(broker, tmp_path, f"acl-{broker.kind}") as line:
            await forged(line, ROGUE, 12.0)
            await forged(line, NODE_USER, 11.0)
            line.dcmd((SP, DataType.FLOAT, 9.0))  # the host: allowed
            await line.settle(1)
            return line.plc(SP), line.node.counts, read_entries(tmp_path / "ledger.jsonl")

    sp, counts, entries = run(main())
    assert counts.commands == 1 and counts.applied_commands == 1 and sp == 9.0
    assert [e["payload"]["value"] for e in entries if e["kind"] == "sparkplug_dcmd"] == [9.0]


def test_an_allowed_dcmd_out_of_range_is_refused_by_the_interlocks_and_ledgered(broker, tmp_path):
    """From the host's account, in the tag map's range but a step larger than the interlocks' max_step (2 N), and
    out of range: both refused by the loop's interlocks, never signed, never sent, the PLC untouched."""
    async def main():
        async with CommandLine(broker, tmp_path, f"range-{broker.kind}") as line:
            line.dcmd((SP, DataType.FLOAT, 25.0))
            await line.settle(1)
            line.dcmd((SP, DataType.FLOAT, 14.0))
            await line.settle(2)
            return line.plc(SP), line.node.counts, read_entries(tmp_path / "ledger.jsonl")

    sp, counts, entries = run(main())
    assert sp == 8.0 and counts.refused_commands == 2 and counts.applied_commands == 0
    commands = [e["payload"] for e in entries if e["kind"] == "command"]
    assert [(c["status"], c["refusal"]["code"], c["command"]) for c in commands] == [
        ("refused", "out_of_range", None), ("refused", "max_step", None)]
    assert not [e for e in entries if e["kind"] == "ack"]
    assert [e["kind"] for e in read_entries(tmp_path / "bridge_journal.jsonl")] == ["journal"]  # nothing reached it
