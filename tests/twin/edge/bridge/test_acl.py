"""The brokers' accounts and ACL (amqtt and Mosquitto alike): only the edge publishes commands for its plant,
the bridge only acks. And TCP_NODELAY on every client socket and in the Mosquitto configuration.
tests/security/test_mqtt_auth.py has the anonymous clients and the whole publish matrix."""

from __future__ import annotations

import asyncio

import pytest

from tests.mqtt_support import Brokers, broker_fixture, command, run
from twin.contracts import Ack
from twin.edge.bridge.brokers import BRIDGE_USER, EDGE_USER
from twin.edge.bridge.mqtt import MqttLink, MqttUnavailable
from twin.edge.control.messages import ack_topic, command_topic


@pytest.fixture(scope="module", params=["amqtt", "mosquitto"])
def broker(request, tmp_path_factory):
    yield from broker_fixture(request, tmp_path_factory)


async def connected(brokers: Brokers, user: str, client_id: str) -> MqttLink:
    link = MqttLink(brokers.account(user), client_id)
    await link.connect()
    return link


def test_only_the_edge_commands_and_only_the_bridge_acks(broker) -> None:
    ack = Ack(command_id="x", tag="t.coolant.valve.command", status="applied", value=65.0, read_back=65.0)

    async def scenario():
        observer = await connected(broker, "observer", "acl-observer")
        await observer.subscribed("qt/#")
        edge = await connected(broker, EDGE_USER, "acl-edge")
        bridge = await connected(broker, BRIDGE_USER, "acl-bridge")
        cmd_topic = command_topic("t", "l1", "t.coolant.valve.command")
        bridge.publish(cmd_topic, command(id="forged-by-bridge").to_json())  # bridge may not command
        edge.publish(ack_topic("t", "l1", "t.coolant.valve.command"), ack.to_json())  # edge may not ack
        edge.publish(command_topic("coater", "l1", "coater.coolant.valve.command"),
                     command(id="other-plant").to_json())  # edge of plant t may not command plant coater
        edge.publish(cmd_topic, command(id="allowed-command").to_json())
        bridge.publish(ack_topic("t", "l1", "t.coolant.valve.command"), ack.to_json())
        seen = []
        for _ in range(2):
            seen.append(await asyncio.wait_for(observer.messages.get(), 5))
        await asyncio.sleep(0.3)  # anything forged would have arrived by now
        while not observer.messages.empty():
            seen.append(observer.messages.get_nowait())
        for link in (observer, edge, bridge):
            await link.close()
        return seen

    seen = run(scenario())
    topics = sorted(topic for topic, _ in seen)
    assert topics == ["qt/t/l1/ack/t.coolant.valve.command", "qt/t/l1/cmd/t.coolant.valve.command"]
    assert not any(b"forged-by-bridge" in payload or b"other-plant" in payload for _, payload in seen)


def test_a_wrong_password_is_refused_with_the_broker_named(broker) -> None:
    async def scenario():
        link = MqttLink(broker.account(EDGE_USER).as_user(EDGE_USER, "wrong"), "acl-wrong")
        await link.connect(timeout_s=3)

    with pytest.raises(MqttUnavailable, match=r"127\.0\.0\.1:\d+.*refused"):
        run(scenario())


def test_tcp_nodelay_on_every_client_and_in_mosquitto(broker) -> None:
    async def scenario():
        fast = await connected(broker, EDGE_USER, "nodelay-on")
        slow = MqttLink(broker.account(EDGE_USER), "nodelay-off", nodelay=False)
        await slow.connect()
        flags = fast.socket_nodelay, slow.socket_nodelay
        await fast.close()
        await slow.close()
        return flags

    assert run(scenario()) == (True, False)
    if broker.kind == "mosquitto":  # amqtt: asyncio sets TCP_NODELAY on the sockets it accepts
        assert "set_tcp_nodelay true" in broker.server.config_path.read_text().splitlines()
        assert f"listener {broker.server.port} 127.0.0.1" in broker.server.config_path.read_text()
