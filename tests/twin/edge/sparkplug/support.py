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

from tests.mqtt_support import SCAN_MS, Brokers, Rig, ToyLine, toy_tagmap
from twin.edge.bridge.brokers import TopicAcl
from twin.edge.bridge.mqtt import MqttLink
from twin.edge.collector import build_collectors, element_index, poll_all
from twin.edge.frames import Aligner, Frame
from twin.edge.historian import Historian
from twin.edge.sparkplug.node import SparkplugNode, now_ms
from twin.edge.sparkplug.payloads import add_metric, new_payload
from twin.edge.sparkplug.schema import DataType, Payload
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


class CommandLine:
    """The closed loop's toy rig (:class:`tests.mqtt_support.Rig`, wired on the broker: bridge, signed commands,
    ledger) with our edge node attached to its control loop, and the host account to send DCMDs.

    :meth:`scan` runs one scan in the edge stack's order: control loop, node publish, node after-control.
    ``attach`` False leaves the node without a closed loop; ``extra`` more Rig options (``policy``)."""

    def __init__(self, brokers: Brokers, run_dir: Path, run_id: str, *, attach: bool = True, **extra: Any) -> None:
        self.brokers, self.run_id, self.attach = brokers, run_id, attach
        self.rig = Rig(brokers, run_dir, run_id=run_id, wired="shared", **extra)
        self.t_ms = 0

    async def __aenter__(self) -> CommandLine:
        await self.rig.__aenter__()
        endpoints = self.rig.endpoints(self.rig.tagmap)
        self.node = SparkplugNode(self.brokers.account(NODE_USER), GROUP, EDGE_NODE, endpoints,
                                  client_id=f"{self.run_id}-node")
        if self.attach:
            self.node.attach(self.rig.loop)
        await self.node.start()
        self.host = MqttLink(self.brokers.account(HOST_USER), f"{self.run_id}-host")
        await self.host.connect()
        await self.scan()
        return self

    async def scan(self) -> None:
        """One scan: PLC, collectors and control loop (the rig), then the node's publish and DCMD outcomes."""
        frame = await self.rig.scan(self.t_ms)
        self.t_ms += SCAN_MS
        self.node.publish(frame, ())
        self.node.after_control(frame)

    def dcmd(self, *metrics: tuple[str | int, DataType, Any], link: MqttLink | None = None) -> None:
        """Publish one DCMD to device ``toy``: (name or alias, datatype, value) per metric (default: as the host)."""
        payload = new_payload(now_ms())
        for key, datatype, value in metrics:
            named = {"name": key} if isinstance(key, str) else {"alias": key}
            add_metric(payload, datatype=datatype, value=value, **named)
        (link or self.host).publish(str(Topic(GROUP, "DCMD", EDGE_NODE, "toy")), payload.SerializeToString())

    async def settle(self, requests: int, max_scans: int = 40) -> None:
        """Wait (bounded) until the node has received ``requests`` DCMD metrics, then scan until every one has a
        reported outcome."""
        async def received() -> None:
            while self.node.counts.commands < requests:
                await asyncio.sleep(0.01)
        await asyncio.wait_for(received(), 10)
        for _ in range(max_scans):
            await self.scan()
            if self.node.counts.applied_commands + self.node.counts.refused_commands >= requests:
                return
        raise AssertionError(f"{requests} DCMD outcomes not reported within {max_scans} scans: {self.node.counts}")

    def plc(self, tag: str) -> float:
        """``tag``'s value in the PLC's process image."""
        return float(self.rig.plc.image.value(tag))

    def alias(self, name: str) -> int:
        """The node's alias of metric ``name`` of device ``toy``."""
        metric = self.node.devices["toy"].find(name, None)
        assert metric is not None
        return metric.alias

    async def __aexit__(self, *exc: object) -> None:
        await self.host.close()
        await self.node.close()
        await self.rig.__aexit__(*exc)


def outcomes(seen: list[tuple[Topic, Any]]) -> list[dict[str, str]]:
    """The command outcomes (NDATA ``Command/*`` metrics, by their NBIRTH aliases) the spy saw, in order."""
    births = [p for t, p in seen if t.kind == "NBIRTH"]
    names = {m.alias: m.name.removeprefix("Command/") for m in births[-1].metrics if m.name.startswith("Command/")}
    return [{names[m.alias]: m.string_value for m in p.metrics} for t, p in seen if t.kind == "NDATA"]
