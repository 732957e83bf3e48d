"""A toy line behind a real virtual PLC (Modbus, 127.0.0.1), read by the edge's own collectors, published by
our Sparkplug edge node on a real broker (amqtt in process or Mosquitto, with accounts and ACL).

Accounts: :data:`NODE_USER` publishes as edge node ``g/e1``; :data:`HOST_USER` is a host (reads the group,
sends NCMD, publishes STATE ``h1``); :data:`SPY_USER` reads ``spBv1.0/#`` for the checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mqtt_support import SCAN_MS, Brokers, ToyLine, toy_tagmap
from twin.edge.bridge.brokers import TopicAcl
from twin.edge.bridge.mqtt import MqttLink
from twin.edge.collector import build_collectors, element_index, poll_all
from twin.edge.frames import Aligner, Frame
from twin.edge.historian import Historian
from twin.edge.sparkplug.node import SparkplugNode
from twin.edge.sparkplug.schema import Payload
from twin.edge.sparkplug.topics import Topic, sparkplug_acl
from virtual_plc.drivers import make_driver
from virtual_plc.endpoints import Endpoint, EndpointFile, resolve
from virtual_plc.modbus_server import ModbusPlcServer
from virtual_plc.plc import LOOPBACK, VirtualPlc, free_port

GROUP, EDGE_NODE, HOST_ID = "g", "e1", "h1"
NODE_USER, HOST_USER, SPY_USER = "spnode", "sphost", "spspy"
SP_USERS = {NODE_USER: "node-secret", HOST_USER: "host-secret", SPY_USER: "spy-secret"}
SP_ACL = (sparkplug_acl(GROUP, EDGE_NODE, node_user=NODE_USER, host_user=HOST_USER, host_id=HOST_ID)
          | TopicAcl.grant(SPY_USER, read=("spBv1.0/#",)))


def sparkplug_brokers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Brokers]:
    """Body of the parametrised ``broker`` fixture: the toy accounts plus the Sparkplug ones."""
    brokers = Brokers(request.param, tmp_path_factory.mktemp(f"sp-{request.param}"), SP_USERS, SP_ACL)
    yield brokers
    brokers.server.stop()


class Line:
    """Toy line + virtual PLC + collectors; ``scan(t_ms)`` gives the edge's frame of that scan."""

    def __init__(self) -> None:
        self.tagmap = toy_tagmap()
        self.line = ToyLine()
        self.plc = VirtualPlc(self.tagmap)

    async def __aenter__(self) -> Line:
        self.plc.initialise_setpoints(self.line.setpoints)
        self.plc.modbus = ModbusPlcServer(self.plc.image, host=LOOPBACK, port=free_port())
        await self.plc.modbus.start()
        spec = EndpointFile(tag_map="toy", plcs=[Endpoint(name="plc1", protocol="modbus", port=self.plc.modbus.port,
                                                          tags=["*"])])
        self.endpoints = resolve(spec, self.tagmap)
        self.index = element_index(self.endpoints)
        self.aligner = Aligner(self.index)
        self.collectors = build_collectors(self.endpoints, self.aligner, make_driver)
        return self

    async def scan(self, t_ms: int) -> Frame:
        """One PLC scan (a value that moves every scan), then the edge's poll and frame."""
        self.line.t_s = t_ms / 1000
        self.line.setpoints["t.blade1.pressure_sp"] = 8.0 + (t_ms // SCAN_MS) % 7 * 0.5
        await self.plc.scan(t_ms, self.line.measurements())
        return await poll_all(self.collectors, self.aligner, t_ms)

    def historian(self, path: Path) -> Historian:
        """The edge's own historian for these endpoints."""
        text = [t for _, tags in self.endpoints.assignments for t in tags if t.is_text]
        return Historian(path, self.index, text_tags=text)

    def down(self) -> set[str]:
        """Names of the PLCs the collectors lost."""
        return {c.name for c in self.collectors if c.down}

    async def __aexit__(self, *_exc: object) -> None:
        for collector in self.collectors:
            await collector.close()
        await self.plc.stop()


class Spy:
    """A subscriber on ``spBv1.0/#`` decoding every message (our decoder) in arrival order."""

    def __init__(self, brokers: Brokers) -> None:
        self.link = MqttLink(brokers.account(SPY_USER), "spy")
        self.seen: list[tuple[Topic, Any]] = []

    async def __aenter__(self) -> Spy:
        await self.link.connect()
        await self.link.subscribed("spBv1.0/#")
        return self

    async def until(self, done: Any, timeout_s: float = 10.0) -> list[tuple[Topic, Any]]:
        """Collect messages until ``done(seen)`` is true."""
        async def wait() -> None:
            while not done(self.seen):
                topic, raw = await self.link.messages.get()
                if "/STATE/" not in topic:
                    self.seen.append((Topic.parse(topic), Payload.FromString(raw)))
        await asyncio.wait_for(wait(), timeout_s)
        return self.seen

    def kinds(self) -> list[str]:
        """Message types seen, in order."""
        return [t.kind for t, _ in self.seen]

    async def __aexit__(self, *_exc: object) -> None:
        await self.link.close()


def node_for(brokers: Brokers, line: Line, **options: Any) -> SparkplugNode:
    """Our edge node ``g/e1`` for ``line``'s endpoints under the node account."""
    return SparkplugNode(brokers.account(NODE_USER), GROUP, EDGE_NODE, line.endpoints, **options)


def count(kind: str, n: int = 1) -> Any:
    """A ``done`` predicate: at least ``n`` messages of ``kind``."""
    return lambda seen: sum(1 for t, _ in seen if t.kind == kind) >= n
