"""The in-process broker delivers every QoS 1 message while other clients come and go.

amqtt 0.12 walks its subscription table across an await of the topic-check plug-in; a client that
subscribes or leaves meanwhile made the walk raise (or skip), and a subscriber whose filter came later in
the table lost the message: 42 of 1,500 here before ``_SnapshotSubscriptions``. Bounded: 1,500 messages,
a 30 s deadline for all of them to arrive.
"""

from __future__ import annotations

import asyncio
import time

from twin.edge.bridge.brokers import EmbeddedBroker, TopicAcl
from twin.edge.bridge.mqtt import MqttLink

MESSAGES = 1500
DEADLINE_S = 30.0  # bounds the wait for the last message, not its speed


def test_every_message_arrives_while_other_clients_subscribe_and_leave() -> None:
    acl = (TopicAcl.grant("pub", write=("t/#",)) | TopicAcl.grant("sub", read=("t/#",))
           | TopicAcl.grant("churn", read=("t/#", "c/#")))
    broker = EmbeddedBroker(acl, {"pub": "p", "sub": "s", "churn": "c"})
    broker.start()

    async def main() -> int:
        early = MqttLink(broker.account("churn"), "early")  # a filter ahead of the subscriber's in the table
        await early.connect()
        await early.subscribed("t/#")
        sub = MqttLink(broker.account("sub"), "sub")
        await sub.connect()
        await sub.subscribed("t/+")
        pub = MqttLink(broker.account("pub"), "pub")
        await pub.connect()
        stop = asyncio.Event()

        async def churn() -> None:
            i = 0
            while not stop.is_set():
                client = MqttLink(broker.account("churn"), f"churn{i}")
                await client.connect()
                await client.subscribed(f"c/{i}")
                await client.close()
                i += 1

        churning = asyncio.create_task(churn())
        for k in range(MESSAGES):
            pub.publish(f"t/{k}", b"x")
            if k % 50 == 0:
                await asyncio.sleep(0.01)
        got: set[str] = set()
        deadline = time.monotonic() + DEADLINE_S
        while len(got) < MESSAGES and time.monotonic() < deadline:
            try:
                topic, _ = await asyncio.wait_for(sub.messages.get(), 1.0)
                got.add(topic)
            except TimeoutError:
                pass
        stop.set()
        await churning
        for link in (sub, pub, early):
            await link.close()
        return len(got)

    try:
        assert asyncio.run(main()) == MESSAGES
    finally:
        broker.stop()
