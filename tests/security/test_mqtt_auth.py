"""Issue 18, item 2: the MQTT brokers of the closed loop need an account and apply one ACL, the default
in-process amqtt exactly like Mosquitto. Real brokers, real clients (paho, ``mosquitto_pub``), 127.0.0.1."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest

from tests.mqtt_support import Rig, broker_fixture, command, run
from twin.edge.bridge.brokers import BRIDGE_USER, EDGE_USER, EmbeddedBroker, closed_loop_acl
from twin.edge.bridge.mqtt import MqttLink, MqttUnavailable
from twin.edge.control.messages import ack_topic, command_topic
from twin.edge.ledger import read_entries

VALVE = "t.coolant.valve.command"
CMD = command_topic("t", "l1", VALVE)


@pytest.fixture(scope="module", params=["amqtt", "mosquitto"])
def broker(request, tmp_path_factory):
    yield from broker_fixture(request, tmp_path_factory)


@pytest.fixture(scope="module", params=["amqtt"])
def amqtt(request, tmp_path_factory):
    """Only for the Rig's own accounts: the closed loop under test starts a broker of its own."""
    yield from broker_fixture(request, tmp_path_factory)


def test_the_default_broker_refuses_anonymous_and_unknown_clients_and_nothing_reaches_the_plc(amqtt, tmp_path):
    """The attack of the issue: an anonymous ``mosquitto_pub`` of a valve command on the broker the
    closed loop starts by default. It cannot even connect; the valve stays where it was."""

    async def episode():
        async with Rig(amqtt, tmp_path, run_id="anon", wired="own") as rig:
            await rig.run(0, 2)
            own = rig.closed.broker
            assert isinstance(own, EmbeddedBroker) and set(own.users) == {EDGE_USER, BRIDGE_USER}
            refusals = []
            for address in (own.address, own.address.as_user(EDGE_USER, "guessed"),
                            own.address.as_user("intruder", own.users[EDGE_USER])):
                link = MqttLink(address, f"attacker-{len(refusals)}")
                with pytest.raises(MqttUnavailable, match="refused") as refused:
                    await link.connect(timeout_s=3)
                refusals.append(str(refused.value))
            published = None
            if shutil.which("mosquitto_pub"):
                published = await asyncio.to_thread(
                    subprocess.run, ["mosquitto_pub", "-h", own.address.host, "-p", str(own.address.port),
                                     "-q", "1", "-t", CMD, "-m", command(id="anon-1", value=52.0).to_json()],
                    capture_output=True, text=True, timeout=20)
            await rig.run(2, 3)
            journal = [e["kind"] for e in read_entries(tmp_path / "bridge_journal.jsonl")]
            return refusals, published, journal, rig.plc.image.value(VALVE)

    refusals, published, journal, valve = run(episode())
    assert all("Not authorized" in r or "not authori" in r.lower() for r in refusals), refusals
    if published is not None:
        assert published.returncode != 0 and "not authori" in (published.stderr + published.stdout).lower()
    assert journal == ["journal"]  # the bridge never saw a command
    assert valve == 60.0


def test_every_account_may_publish_only_its_own_topics_on_both_brokers(broker) -> None:
    """One ACL (``closed_loop_acl``), the same outcome on amqtt and Mosquitto: the edge publishes commands
    and work orders of its plant, the bridge acks, the observer (read-only) and everyone else nothing."""
    attempts = [(user, topic) for user in (EDGE_USER, BRIDGE_USER, "observer")
                for topic in (CMD, ack_topic("t", "l1", VALVE), "qt/t/l1/workorder",
                              command_topic("coater", "l1", "coater.coolant.valve.command"))]

    async def scenario() -> set[tuple[str, str]]:
        observer = MqttLink(broker.account("observer"), f"matrix-watch-{broker.kind}")
        await observer.connect()
        await observer.subscribed("qt/#")
        links = {}
        for user in (EDGE_USER, BRIDGE_USER, "observer"):
            links[user] = MqttLink(broker.account(user), f"matrix-{user}-{broker.kind}")
            await links[user].connect()
        for user, topic in attempts:
            links[user].publish(topic, f"{user}|{topic}".encode())
        seen = set()
        for _ in range(50):  # bounded: the allowed ones arrive, the refused never do
            try:
                _, payload = await asyncio.wait_for(observer.messages.get(), 0.5)
            except TimeoutError:
                break
            user, topic = payload.decode().split("|")
            seen.add((user, topic))
        for link in (observer, *links.values()):
            await link.close()
        return seen

    assert run(scenario()) == {(EDGE_USER, CMD), (EDGE_USER, "qt/t/l1/workorder"),
                               (BRIDGE_USER, ack_topic("t", "l1", VALVE))}


def test_the_edge_cannot_read_commands_nor_the_bridge_acks(broker) -> None:
    """Reading is granted like writing: a subscription outside an account's ``read`` filters gets nothing."""

    async def scenario() -> tuple[list[str], list[str]]:
        edge = MqttLink(broker.account(EDGE_USER), f"read-edge-{broker.kind}")
        bridge = MqttLink(broker.account(BRIDGE_USER), f"read-bridge-{broker.kind}")
        for link in (edge, bridge):
            await link.connect()
        await edge.subscribed("qt/t/+/cmd/#")  # not the edge's to read
        await bridge.subscribed("qt/t/+/ack/#")  # not the bridge's to read
        edge.publish(CMD, b"command")
        bridge.publish(ack_topic("t", "l1", VALVE), b"ack")
        await asyncio.sleep(0.5)  # long enough for both to have arrived, were they delivered
        got = [[], []]
        for box, link in zip(got, (edge, bridge)):
            while not link.messages.empty():
                box.append(link.messages.get_nowait()[0])
        for link in (edge, bridge):
            await link.close()
        return got[0], got[1]

    assert run(scenario()) == ([], [])


def test_both_brokers_are_given_the_same_acl() -> None:
    acl = closed_loop_acl("coater")
    rendered = acl.amqtt()
    assert rendered == {"read": {"edge": ["qt/coater/+/ack/#"], "bridge": ["qt/coater/+/cmd/#"]},
                        "write": {"edge": ["qt/coater/+/cmd/#", "qt/coater/+/workorder"],
                                  "bridge": ["qt/coater/+/ack/#"]}}
    lines = acl.mosquitto().splitlines()
    for user in acl.users:
        start = lines.index(f"user {user}")
        block = lines[start + 1:start + 1 + len(rendered["read"][user]) + len(rendered["write"][user])]
        assert block == ([f"topic read {t}" for t in rendered["read"][user]]
                         + [f"topic write {t}" for t in rendered["write"][user]])
