"""Fixtures for the closed-loop tests: real brokers (amqtt, Mosquitto), a toy line behind a real
virtual PLC, the bridge and the control loop, all on 127.0.0.1 — like the runner wires them.

The toy line "t" has a coolant valve whose coil ages (flow = 0.45 × command × health, health
falling after ``fault_s``) and one blade whose pressure follows its setpoint. It scans every
250 ms, so a minute of plant time is 240 scans.

Both brokers run with the same accounts and ACL (:data:`PASSWORDS`, ``closed_loop_acl("t")`` and an
``observer`` that reads everything); commands are signed with :data:`KEYS`, the toy line's keys.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from twin.contracts import Ack, Candidate, Command, Diagnosis
from twin.edge.bridge.bridge import PlcBridge
from twin.edge.bridge.brokers import BRIDGE_USER, EDGE_USER, EmbeddedBroker, MosquittoBroker, TopicAcl, closed_loop_acl
from twin.edge.bridge.mqtt import BrokerAddress, MqttLink
from twin.edge.collector import build_collectors, element_index, poll_all
from twin.edge.control.channel import MqttCommandChannel
from twin.edge.control.interlocks import Interlocks
from twin.edge.control.loop import ControlLoop
from twin.edge.control.messages import ack_filter, command_topic, new_nonce, sign
from twin.edge.control.playbook import Playbook
from twin.edge.control.wiring import ClosedLoop, open_closed_loop
from twin.edge.frames import Aligner, Frame
from twin.edge.keys import LineKeys, generate_keys
from twin.edge.ledger import Ledger
from virtual_plc.drivers import make_driver
from virtual_plc.endpoints import Endpoint, EndpointFile, ResolvedEndpoints, resolve
from virtual_plc.modbus_server import ModbusPlcServer
from virtual_plc.plc import LOOPBACK, VirtualPlc, free_port
from virtual_plc.tagmap import Tag, TagMap

SCAN_MS = 250
PASSWORDS = {EDGE_USER: "edge-secret", BRIDGE_USER: "bridge-secret", "observer": "observer-secret"}
KEYS = generate_keys("l1")  # the toy line's command secret and ledger key, for this test session only
TEST_ACL = closed_loop_acl("t") | TopicAcl.grant("observer", read=("qt/#",))


def toy_tagmap(valve_high: float = 100.0) -> TagMap:
    """The toy line's tag map (``valve_high`` lets a test give the bridge a wider range than the PLC's)."""
    common = dict(period_ms=SCAN_MS)
    return TagMap(plant="t", opcua_namespace="urn:quality-twin:toy", clock_tag="t.plc.clock_ms", tags=[
        Tag(name="t.plc.clock_ms", dtype="uint64", low=0, high=2**53, table="input", **common),
        Tag(name="t.coolant.valve.command", access="rw", low=0, high=valve_high, unit="%", **common),
        Tag(name="t.coolant.flow", low=0, high=50, unit="L/min", **common),
        Tag(name="t.blade1.pressure_sp", access="rw", low=0, high=20, unit="N", **common),
        Tag(name="t.blade1.pressure", low=0, high=30, unit="N", **common),
        Tag(name="t.gauge.thickness", low=0, high=300, unit="um", **common),
        Tag(name="t.oven.power_sp", access="rw", dtype="int16", scale=10, low=-100, high=100, **common),
    ]).allocated()


def toy_playbook(**overrides: Any) -> Playbook:
    """A playbook for the toy line, scaled to seconds; ``overrides`` replace top-level keys."""
    doc: dict[str, Any] = {
        "plant": "t",
        "line": "l1",
        "command_expiry_s": 5,
        "command_window_s": 60,
        "select_timeout_s": 10,
        "interlocks": {
            "move_budget": 6,
            "defaults": {"max_step": 2.0, "max_rate_per_s": 1.0, "cooldown_s": 5},
            "tags": {"t.coolant.valve.command": {"max_step": 15.0, "max_rate_per_s": 5.0, "cooldown_s": 8}},
        },
        "rules": [
            {"name": "suspect gauge", "match": {"asset": "t.*", "kind": "sensor"},
             "work_order": "recalibrate {signal} on {asset}"},
            {"name": "coil ageing", "match": {"asset": "t.coolant.valve"},
             "actions": [{"kind": "restore", "tag": "t.coolant.valve.command", "signal": "t.coolant.flow",
                          "gain": 2.2, "max_move": 15, "reference": {"window": "start", "seconds": 5},
                          "tolerance": 0.3, "max_repeats": 2,
                          "verify": {"signal": "t.coolant.flow", "window_s": 8, "min_effect": 0.5}}]},
            {"name": "blade drift", "match": {"asset": "t.blade*"},
             "actions": [{"kind": "step", "tag": "{asset}.pressure_sp", "by": -0.5}]},
        ],
    }
    doc.update(overrides)
    return Playbook.model_validate(doc)


class ToyLine:
    """The plant behind the toy PLC: deterministic, no randomness."""

    def __init__(self, fault_s: float = 10.0, loss_per_s: float = 0.05, floor: float = 0.75) -> None:
        self.fault_s, self.loss_per_s, self.floor = fault_s, loss_per_s, floor
        self.setpoints = {"t.coolant.valve.command": 60.0, "t.blade1.pressure_sp": 8.0, "t.oven.power_sp": 0.0}
        self.t_s = 0.0

    def measurements(self) -> dict[str, float]:
        """Signals at the current time."""
        health = 1.0 - min(max(self.t_s - self.fault_s, 0.0) * self.loss_per_s, 1.0 - self.floor)
        flow = 0.45 * self.setpoints["t.coolant.valve.command"] * health
        return {"t.coolant.flow": flow, "t.blade1.pressure": self.setpoints["t.blade1.pressure_sp"],
                "t.gauge.thickness": 100.0}


def diagnosis(asset: str, t_ms: int, kind: str = "process", signal: str | None = None, n: int = 1) -> Diagnosis:
    """A diagnosis naming ``asset`` as the top candidate (the root-cause layer's output, made by hand)."""
    return Diagnosis(id=f"d{n}", t_ms=t_ms, alarm_ids=[f"a{n}"], method="test", model_version="0",
                     candidates=[Candidate(asset=asset, score=0.9, kind=kind, signal=signal),  # type: ignore[arg-type]
                                 Candidate(asset="t.oven", score=0.1)])


class Brokers:
    """One started broker and its accounts: ``edge``, ``bridge``, ``observer`` (reads everything)."""

    def __init__(self, kind: str, workdir: Path, extra_users: dict[str, str] | None = None,
                 extra_acl: TopicAcl | None = None) -> None:
        self.kind = kind
        passwords = {**PASSWORDS, **(extra_users or {})}  # extra accounts (and their grants) for other tests
        acl = TEST_ACL | extra_acl if extra_acl is not None else TEST_ACL
        if kind == "amqtt":
            self.server: EmbeddedBroker | MosquittoBroker = EmbeddedBroker(acl, passwords)
        else:
            self.server = MosquittoBroker(workdir, passwords, acl)
        self.server.start()

    def account(self, user: str) -> BrokerAddress:
        """Address with the credentials of ``user``."""
        return self.server.account(user)


def broker_fixture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Brokers]:
    """Body of the parametrised ``broker`` fixtures (amqtt and Mosquitto)."""
    brokers = Brokers(request.param, tmp_path_factory.mktemp(f"broker-{request.param}"))
    yield brokers
    brokers.server.stop()


class Rig:
    """Toy line + virtual PLC + edge collectors + bridge + control loop on one asyncio loop, like the runner."""

    def __init__(self, brokers: Brokers, run_dir: Path, *, policy: str = "auto", playbook: Playbook | None = None,
                 line: ToyLine | None = None, bridge_tagmap: TagMap | None = None, run_id: str = "r",
                 protocol: str = "modbus", wired: str | None = None, keys: LineKeys = KEYS) -> None:
        self.brokers, self.run_dir, self.policy, self.run_id = brokers, run_dir, policy, run_id
        self.keys = keys
        self.protocol = protocol
        self.wired = wired  # None: parts built here; "shared": open_closed_loop on this broker; "own": on its own
        self.closed: ClosedLoop | None = None
        self.playbook = playbook or toy_playbook()
        self.line = line or ToyLine()
        self.tagmap = toy_tagmap()
        self.bridge_tagmap = bridge_tagmap or self.tagmap
        self.plc = VirtualPlc(self.tagmap)
        self.links: list[MqttLink] = []
        self.bridge: PlcBridge | None = None
        self.frame: Frame | None = None

    def endpoints(self, tagmap: TagMap) -> ResolvedEndpoints:
        """The edge's view: one PLC serving every tag over the rig's protocol."""
        server = self.plc.modbus if self.protocol == "modbus" else self.plc.opcua
        assert server is not None
        spec = EndpointFile(tag_map="toy", plcs=[Endpoint(name="toy", protocol=self.protocol,  # type: ignore[arg-type]
                                                          port=server.port, tags=["*"])])
        return resolve(spec, tagmap)

    async def __aenter__(self) -> Rig:
        self.plc.initialise_setpoints(self.line.setpoints)
        if self.protocol == "modbus":  # the OPC UA server takes seconds to start: only when asked for
            self.plc.modbus = ModbusPlcServer(self.plc.image, host=LOOPBACK, port=free_port())
            await self.plc.modbus.start()
        else:
            await self.plc.start(anonymous_writes=True)  # the bridge under test, not the PLC's logins
        endpoints = self.endpoints(self.tagmap)
        self.aligner = Aligner(element_index(endpoints))
        self.collectors = build_collectors(endpoints, self.aligner, make_driver)
        if self.wired is not None:
            return await self._wire(endpoints)
        await self.start_bridge()
        edge = await self.link(EDGE_USER, f"{self.run_id}-edge")
        channel = MqttCommandChannel(edge, "t", self.playbook.line)
        await channel.start()
        self.ledger = Ledger(self.run_dir / "ledger.jsonl", keys=self.keys)
        self.loop = ControlLoop(self.playbook, self.tagmap, channel, policy=self.policy,  # type: ignore[arg-type]
                                ledger=self.ledger, run_id=self.run_id, ack_timeout_s=3.0, keys=self.keys)
        return self

    async def _wire(self, endpoints: ResolvedEndpoints) -> Rig:
        """Everything from the collectors on through :func:`open_closed_loop`, as the runner will."""
        edge, bridge = self.brokers.account(EDGE_USER), self.brokers.account(BRIDGE_USER)
        self.closed = await open_closed_loop(
            endpoints, self.run_dir, policy=self.policy, run_id=self.run_id,  # type: ignore[arg-type]
            playbook=self.playbook, broker=None if self.wired == "own" else edge,
            edge_account=(EDGE_USER, edge.password or ""), bridge_account=(BRIDGE_USER, bridge.password or ""),
            keys=self.keys)
        self.loop, self.ledger = self.closed.loop, self.closed.ledger
        return self

    async def link(self, user: str, client_id: str, persistent: bool = True) -> MqttLink:
        """A connected MQTT link under ``user``'s account (closed with the rig)."""
        link = MqttLink(self.brokers.account(user), client_id, persistent=persistent)
        await link.connect()
        self.links.append(link)
        return link

    async def start_bridge(self) -> PlcBridge:
        """Start (or restart) the bridge with its journal in the run directory."""
        link = await self.link(BRIDGE_USER, f"{self.run_id}-bridge")
        bridge = PlcBridge(link, self.endpoints(self.bridge_tagmap),
                           Interlocks(self.playbook.interlocks, self.bridge_tagmap), keys=self.keys,
                           run_id=self.run_id, line=self.playbook.line, journal=self.run_dir / "bridge_journal.jsonl",
                           window_s=self.playbook.window_s)
        await bridge.start()
        self.bridge = bridge
        return bridge

    async def stop_bridge(self) -> None:
        """Stop the bridge and disconnect its link (its session stays with the broker)."""
        assert self.bridge is not None
        await self.bridge.stop()
        await self.bridge.link.close()
        self.links.remove(self.bridge.link)
        self.bridge = None

    async def scan(self, t_ms: int) -> Frame:
        """One lockstep scan: setpoints to the line, PLC scan, poll, align, control loop."""
        self.line.setpoints.update(self.plc.take_setpoint_changes())
        self.line.t_s = t_ms / 1000
        await self.plc.scan(t_ms, self.line.measurements())
        self.frame = await poll_all(self.collectors, self.aligner, t_ms)
        await self.loop.on_frame(self.frame)
        return self.frame

    async def run(self, start_s: float, end_s: float, diagnose: dict[float, Diagnosis] | None = None,
                  pace_s: float = 0.0) -> None:
        """Scan from ``start_s`` to ``end_s``; hand each diagnosis to the loop at its time.

        ``pace_s`` sleeps between scans (wall time for reconnects to happen in)."""
        due = dict(diagnose or {})
        for k in range(int(start_s * 1000 / SCAN_MS), int(end_s * 1000 / SCAN_MS)):
            frame = await self.scan(k * SCAN_MS)
            if pace_s:
                await asyncio.sleep(pace_s)
            for at in [a for a in due if a * 1000 <= frame.ts_ms]:
                await self.loop.on_diagnosis(due.pop(at), frame)

    async def __aexit__(self, *_exc: object) -> None:
        if self.closed is not None:
            await self.closed.close()
        if self.bridge is not None:
            await self.bridge.stop()
        for link in self.links:
            await link.close()
        for collector in self.collectors:
            await collector.close()
        await self.plc.stop()


async def ask(rig: Rig, *commands: Command | str, timeout_s: float = 5.0) -> list[Ack]:
    """Publish commands (or raw payloads) as the edge account and collect the bridge's acks, in order."""
    edge = await rig.link(EDGE_USER, f"{rig.run_id}-raw-{len(rig.links)}", persistent=False)
    await edge.subscribed(ack_filter("t", "l1"))
    for c in commands:
        tag = "t.coolant.valve.command" if isinstance(c, str) else c.tag
        edge.publish(command_topic("t", "l1", tag), c if isinstance(c, str) else c.to_json())
    acks = []
    for _ in commands:
        _topic, payload = await asyncio.wait_for(edge.messages.get(), timeout_s)
        acks.append(Ack.model_validate_json(payload))
    return acks


def command(keys: LineKeys | None = KEYS, **fields: Any) -> Command:
    """A valve command for the toy line with a fresh nonce, signed with ``keys`` (None: unsigned);
    ``fields`` override the defaults."""
    base: dict[str, Any] = dict(id="raw-1", plant="t", line="l1", tag="t.coolant.valve.command", value=65.0,
                                previous=60.0, low=0.0, high=100.0, reason="test", issued_t_ms=0,
                                expires_t_ms=10**9, nonce=new_nonce())
    base.update(fields)
    unsigned = Command(**base)
    return unsigned if keys is None else sign(unsigned, keys)


ID_FIELDS = ("id", "command_id", "nonce", "signature", "command_signature", "rollback_of", "rolled_back_by",
             "follow_up_of")


def without_ids(obj: Any) -> Any:
    """``obj`` (records, a record, a command) without the fields that are random by design: ids, nonces,
    signatures (what two runs with the same inputs may not share)."""
    if isinstance(obj, dict):
        return {k: without_ids(v) for k, v in obj.items() if k not in ID_FIELDS}
    if isinstance(obj, list):
        return [without_ids(v) for v in obj]
    return obj


async def arrivals(link: MqttLink, most: int, wait_s: float = 1.5) -> list[str]:
    """The topics of at most ``most`` messages ``link`` receives, each waited for at most ``wait_s`` (a message
    a broker refused never comes: the wait ends it)."""
    got: list[str] = []
    for _ in range(most):
        try:
            got.append((await asyncio.wait_for(link.messages.get(), wait_s))[0])
        except TimeoutError:
            break
    return got


def run(coro: Any, timeout_s: float = 60) -> Any:
    """Run a test coroutine with a hard time limit."""
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


def statuses(records: list[dict[str, Any]]) -> list[str]:
    """The status of each record."""
    return [r["status"] for r in records]


def json_ready(records: list[dict[str, Any]]) -> bool:
    """True when records survive strict JSON (no NaN)."""
    json.dumps(records, allow_nan=False)
    return all(r["value"] is None or math.isfinite(r["value"]) for r in records)
