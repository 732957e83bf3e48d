"""A Sparkplug B host reader: any edge node's data (ours or another vendor's) into our historian.

It subscribes to ``spBv1.0/<group>/#`` and follows each edge node: ``NBIRTH`` (its ``bdSeq`` and
``seq``), ``DBIRTH`` (metric names, aliases, datatypes, ``engUnit`` → the element's unit), data by
alias, ``seq`` (a gap, or data from a node or device it has no birth for, makes it send ``NCMD
Node Control/Rebirth``, once until the next NBIRTH), ``DDEATH`` and ``NDEATH`` (the will matching the
birth's ``bdSeq``; a stale will from an older session is ignored): every metric of the dead device or
node gets a ``bad`` sample at the death, so the historian reads ``bad`` from the death until the birth
brings values again.

Storage (:class:`SparkplugStore`) is a :class:`~twin.edge.historian.Historian` file — the same tables, so
the detectors, the diagnoser and ``HistorianReader`` read it — whose elements are declared as births
name them: element = metric name (a second device or node with the same metric name stores it as
``<node>/<device>/<metric>``). ``ts_ms`` and ``wall_utc`` are the metric's timestamp (else the payload's,
else the time received), UTC ms since the epoch. Numbers and booleans go to ``samples``; strings, text,
UUIDs and DateTimes (ISO 8601) to ``text_samples``; bytes, data sets and templates are counted, not stored.
Quality: the ``Quality`` property (192 good, 500 stale, else bad; none: good); a null is bad.

With ``host_id`` it is a primary host application: retained ``spBv1.0/STATE/<host_id>`` online (again after
every reconnect: a restarted broker has forgotten it, and edge nodes wait for it), offline as its will and
when it stops. Historical metrics (an edge node's store-and-forward replay) are stored like live ones, by
their own timestamps, and counted.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from twin.edge.bridge.mqtt import BrokerAddress
from twin.edge.frames import ElementIndex
from twin.edge.historian import Historian
from twin.edge.sparkplug.compound import COMPOUND, Element, expand
from twin.edge.sparkplug.link import SparkplugLink
from twin.edge.sparkplug.node import now_ms
from twin.edge.sparkplug.payloads import BD_SEQ, rebirth_command, state_payload
from twin.edge.sparkplug.schema import DataType, Payload
from twin.edge.sparkplug.topics import NAMESPACE, Topic, check_id, state_topic
from twin.edge.sparkplug.values import NUMERIC, QUALITY_PROPERTY, UNIT, properties_of, quality_name

log = logging.getLogger(__name__)

TEXT = frozenset({DataType.STRING, DataType.TEXT, DataType.UUID, DataType.DATETIME})
CONTROL_PREFIX = "Node Control/"


class SparkplugStore:
    """A historian file whose elements are declared as Sparkplug births name them (see the module docstring)."""

    def __init__(self, path: str | Path, *, period_ms: int = 1000) -> None:
        self.historian = Historian(path, ElementIndex([]))
        self.con = self.historian.con
        self.period_ms = period_ms
        self.sources: dict[str, str] = {}  # element -> the node/device that declared it
        self.text: set[str] = set()
        self._rows: list[tuple[int, str, float | None, str, int]] = []
        self._text_rows: list[tuple[int, str, str | None, str, int]] = []
        self.samples = 0

    def declare(self, metric: str, source: str, datatype: DataType, unit: str) -> str:
        """The element name metric ``metric`` of ``source`` (``node/device``) is stored under, declared once."""
        name = metric if self.sources.get(metric, source) == source else f"{source}/{metric}"
        if name not in self.sources:
            self.sources[name] = source
            if datatype in TEXT:
                self.text.add(name)
                self.con.execute("INSERT INTO text_tags VALUES (?, ?, ?, ?)",
                                 [name, datatype.name.lower(), unit, self.period_ms])
            else:
                self.con.execute("INSERT INTO elements VALUES (?, ?, ?, ?)", [name, name, unit, self.period_ms])
        return name

    def add(self, ts_ms: int, name: str, value: float | str | None, quality: str) -> None:
        """Buffer one sample of element ``name``."""
        if name in self.text:
            self._text_rows.append((ts_ms, name, None if value is None else str(value), quality, ts_ms))
        else:
            number = None if value is None or isinstance(value, str) else float(value)
            self._rows.append((ts_ms, name, number, quality, ts_ms))
        self.samples += 1

    def flush(self) -> None:
        """Write buffered samples (through the historian's queue: a file that cannot be written loses nothing)."""
        tables = (("samples", self._rows, pa.float64()), ("text_samples", self._text_rows, pa.string()))
        for table, rows, kind in tables:
            if not rows:
                continue
            ts, names, values, qualities, wall = zip(*rows)
            self.historian.counts.collected += len(rows)
            self.historian.write(table, pa.table({
                "ts_ms": pa.array(ts, pa.int64()), "tag": pa.array(names, pa.string()),
                "value": pa.array(values, kind), "quality": pa.array(qualities, pa.string()),
                "wall_ms": np.asarray(wall, dtype=np.int64)}))
            rows.clear()

    def close(self) -> None:
        """Flush and close the file (safe to call twice)."""
        if not self.historian.closed:
            self.flush()
            self.historian.close()


@dataclass
class DeviceBirth:
    """What a (D|N)BIRTH of ``source`` (``node/device``) declared: alias -> metric name, name -> datatype and
    unit, template name -> its members' datatypes (by ``/member`` suffix); and where each element is stored."""

    source: str = ""
    names: dict[int, str] = field(default_factory=dict)
    datatypes: dict[str, DataType] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    members: dict[str, dict[str, DataType]] = field(default_factory=dict)
    elements: dict[str, str] = field(default_factory=dict)  # element name (metric + suffix) -> stored name

    def element(self, store: SparkplugStore, name: str, datatype: DataType) -> str | None:
        """Where element ``name`` (a metric, ``metric[i]`` or ``metric/member``) of datatype ``datatype`` is
        stored, declared in ``store`` the first time; None for a datatype the historian cannot hold."""
        if name not in self.elements:
            if datatype not in NUMERIC and datatype not in TEXT:
                return None
            metric = name.split("[", 1)[0].split("/", 1)[0]
            self.elements[name] = store.declare(name, self.source, datatype, self.units.get(metric, ""))
        return self.elements[name]


@dataclass
class NodeState:
    """One edge node as the host follows it."""

    bd_seq: int | None = None
    seq: int | None = None
    alive: bool = False
    rebirth_asked: bool = False
    devices: dict[str | None, DeviceBirth] = field(default_factory=dict)  # None: the node's own metrics


@dataclass
class HostCounts:
    """What the host has seen and done."""

    messages: int = 0
    births: int = 0
    deaths: int = 0
    samples: int = 0
    historical: int = 0  # samples marked is_historical (replayed after an outage)
    seq_gaps: int = 0
    rebirth_requests: int = 0
    unknown: int = 0  # data from a node or device without a birth, or an alias no birth named
    unsupported: int = 0  # metrics of datatypes the historian does not hold
    bad_messages: int = 0


class SparkplugHost:
    """Follows every edge node of ``group`` on the broker at ``address`` into ``store``."""

    def __init__(self, address: BrokerAddress, group: str, store: SparkplugStore, *, host_id: str | None = None,
                 client_id: str | None = None) -> None:
        self.address = address
        self.group = check_id(group, "Sparkplug group id")
        self.store = store
        self.host_id = check_id(host_id, "host id") if host_id is not None else None
        self.client_id = client_id or f"qt-host-{group}"
        self.nodes: dict[str, NodeState] = {}
        self.counts = HostCounts()
        self.link: SparkplugLink | None = None

    def _will(self) -> tuple[str, bytes, bool]:
        return *self._state(online=False), True

    def _state(self, *, online: bool = True) -> tuple[str, bytes]:
        assert self.host_id is not None
        return state_topic(self.host_id), state_payload(online, now_ms())

    async def start(self, timeout_s: float = 5.0) -> SparkplugHost:
        """Connect, subscribe to the group, and (primary host) say online."""
        self.link = SparkplugLink(self.address, self.client_id, will=self._will if self.host_id else None,
                                  announce=self._state if self.host_id else None)
        await self.link.connect(timeout_s)
        await self.link.subscribed(f"{NAMESPACE}/{self.group}/#", timeout_s)
        if self.host_id is not None:
            self.link.publish_retained(*self._state())
        return self

    async def run(self, *, duration_s: float | None = None, messages: int | None = None) -> HostCounts:
        """Handle messages until ``duration_s`` seconds pass or ``messages`` have been handled (none: forever)."""
        assert self.link is not None
        loop = asyncio.get_running_loop()
        deadline = None if duration_s is None else loop.time() + duration_s
        while messages is None or self.counts.messages < messages:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                break
            try:
                topic, raw = await asyncio.wait_for(self.link.messages.get(), left)
            except TimeoutError:
                break
            self.handle(topic, raw)
        self.store.flush()
        return self.counts

    async def close(self) -> None:
        """Say offline (primary host), disconnect, and close the store."""
        if self.link is not None:
            link, self.link = self.link, None
            if self.host_id is not None and link.connected:
                link.publish_retained(state_topic(self.host_id), state_payload(False, now_ms()))
            await link.close()
        self.store.close()

    async def __aenter__(self) -> SparkplugHost:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ messages
    def handle(self, topic: str, raw: bytes, received_ms: int | None = None) -> None:
        """Handle one message (a bad one is counted and logged, never raised)."""
        if "/STATE/" in topic or topic.split("/")[2:3] in (["NCMD"], ["DCMD"]):
            return  # hosts' states, and commands (ours too): not data
        self.counts.messages += 1
        received = now_ms() if received_ms is None else received_ms
        try:
            where = Topic.parse(topic)
            payload = Payload.FromString(raw)
        except Exception as err:  # noqa: BLE001 - a malformed message from the broker is not ours to crash on
            self.counts.bad_messages += 1
            log.warning("sparkplug host: ignored %s: %s", topic, err)
            return
        if where.group != self.group:
            return
        node = self.nodes.setdefault(where.edge_node, NodeState())
        kind = where.kind
        if kind == "NDEATH":
            self._node_death(where, node, payload, received)
            return
        if kind == "NBIRTH":
            node.devices, node.alive, node.rebirth_asked = {}, True, False
            node.bd_seq = next((int(m.long_value) for m in payload.metrics if m.name == BD_SEQ), None)
        elif not node.alive:
            self._unknown(where, node)
        elif payload.HasField("seq") and node.seq is not None and payload.seq != (node.seq + 1) % 256:
            self.counts.seq_gaps += 1
            log.warning("sparkplug host: %s seq %d after %d", where, payload.seq, node.seq)
            self._ask_rebirth(where, node)
        if payload.HasField("seq"):
            node.seq = int(payload.seq)
        if kind in ("NBIRTH", "DBIRTH"):
            self._birth(where, node, payload, received)
        elif kind in ("NDATA", "DDATA"):
            self._data(where, node, payload, received)
        elif kind == "DDEATH":
            self.counts.deaths += 1
            self._mark_bad(node.devices.pop(where.device, None), payload.timestamp or received)

    def _birth(self, where: Topic, node: NodeState, payload: Any, received: int) -> None:
        self.counts.births += 1
        birth = node.devices[where.device] = DeviceBirth(source=f"{where.edge_node}/{where.device or ''}")
        for metric in payload.metrics:
            if metric.name == BD_SEQ or metric.name.startswith(CONTROL_PREFIX):
                continue
            datatype = DataType(metric.datatype) if metric.datatype in DataType._value2member_map_ else DataType.UNKNOWN
            if metric.HasField("alias"):
                birth.names[int(metric.alias)] = metric.name
            birth.datatypes[metric.name] = datatype
            unit = properties_of(metric).get(UNIT)
            birth.units[metric.name] = unit if isinstance(unit, str) else ""
            if datatype == DataType.TEMPLATE:  # the members' datatypes, for data that leaves them out
                birth.members[metric.name] = {suffix: kind for suffix, kind, _ in self._expand(where, metric, datatype)}
        self._data(where, node, payload, received, birth)

    def _data(self, where: Topic, node: NodeState, payload: Any, received: int,
              birth: DeviceBirth | None = None) -> None:
        birth = birth or node.devices.get(where.device)
        if birth is None:
            self._unknown(where, node)
            return
        for metric in payload.metrics:
            name = metric.name if metric.name else birth.names.get(int(metric.alias))
            if name is not None and (name == BD_SEQ or name.startswith(CONTROL_PREFIX)):
                continue
            if name is None or name not in birth.datatypes:
                self.counts.unknown += 1
                continue
            datatype = birth.datatypes[name]
            if datatype not in NUMERIC and datatype not in TEXT and datatype not in COMPOUND:
                self.counts.unsupported += 1
                continue
            code = properties_of(metric).get(QUALITY_PROPERTY) if metric.HasField("properties") else None
            ts = int(metric.timestamp if metric.HasField("timestamp") else (payload.timestamp or received))
            for suffix, kind, value in self._expand(where, metric, datatype, birth.members.get(name)):
                element = birth.element(self.store, name + suffix, kind)
                if element is None:
                    self.counts.unsupported += 1
                    continue
                self.store.add(ts, element, value, quality_name(code, value is None))
                self.counts.samples += 1
                self.counts.historical += metric.is_historical

    def _expand(self, where: Topic, metric: Any, datatype: DataType,
                known: dict[str, DataType] | None = None) -> list[Element]:
        """``metric``'s elements (:func:`~twin.edge.sparkplug.compound.expand`); a malformed array is counted."""
        try:
            return expand(metric, datatype, known)
        except ValueError as err:
            self.counts.bad_messages += 1
            log.warning("sparkplug host: %s metric %s: %s", where, metric.name or metric.alias, err)
            return []

    def _node_death(self, where: Topic, node: NodeState, payload: Any, received: int) -> None:
        bd_seq = next((int(m.long_value) for m in payload.metrics if m.name == BD_SEQ), None)
        if node.bd_seq is not None and bd_seq is not None and bd_seq != node.bd_seq:
            log.info("sparkplug host: %s: NDEATH of an older session (bdSeq %s, born %s) ignored", where, bd_seq,
                     node.bd_seq)
            return
        self.counts.deaths += 1
        node.alive = False
        for birth in node.devices.values():
            self._mark_bad(birth, received)
        node.devices = {}

    def _mark_bad(self, birth: DeviceBirth | None, t_ms: int) -> None:
        """A bad sample of every stored metric of ``birth`` at ``t_ms`` (a death)."""
        for element in (birth.elements.values() if birth is not None else ()):
            self.store.add(t_ms, element, None, "bad")

    def _unknown(self, where: Topic, node: NodeState) -> None:
        self.counts.unknown += 1
        self._ask_rebirth(where, node)

    def _ask_rebirth(self, where: Topic, node: NodeState) -> None:
        """NCMD Node Control/Rebirth to ``where``'s node, once until its next NBIRTH."""
        if node.rebirth_asked or self.link is None:
            return
        node.rebirth_asked = True
        self.counts.rebirth_requests += 1
        self.link.publish(str(Topic(self.group, "NCMD", where.edge_node)), rebirth_command(now_ms()))
