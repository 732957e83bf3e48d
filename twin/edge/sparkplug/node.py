"""The edge as a Sparkplug B edge node: each PLC of the endpoint file a device, each tag element a metric.

Per MQTT session: ``NBIRTH`` (``seq`` 0, metrics ``bdSeq`` — the same number as the ``NDEATH`` will
registered for this session — and ``Node Control/Rebirth``), then a ``DBIRTH`` per PLC naming every
metric with its alias, datatype and properties (``engUnit``, ``engLow``, ``engHigh``, ``readOnly``,
``Quality``; :mod:`twin.edge.sparkplug.values`) and current value. Then, per frame, a ``DDATA`` per PLC
with the metrics sampled at that frame, by alias and datatype (no name); with report by exception (the default) only
those whose value moved by more than the tag's ``deadband`` (any change without one) or whose quality
changed. ``seq`` counts every message but NDEATH, 0–255 and round again.

A PLC the collectors lose (:attr:`~twin.edge.collector.Collector.down`) gets a ``DDEATH`` and no data
until it answers again, then a fresh ``DBIRTH``. An ``NCMD`` ``Node Control/Rebirth`` = true makes the node
publish its births again (a new ``NBIRTH`` and every ``DBIRTH``). With a primary host configured, the node
publishes nothing until that host's ``spBv1.0/STATE/<host>`` says ``online``, and stops when it says
offline; frames in between are counted as not published. A ``DCMD`` is refused (counted, logged),
never written: writes go through the closed loop's bridge.

Metric timestamps are the UTC wall-clock time of each sample (the server's source timestamp where it gave
one), exactly the historian's ``wall_utc``; bad and missing values are null with ``Quality`` 0.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from twin.edge.bridge.mqtt import BrokerAddress
from twin.edge.collector import element_index
from twin.edge.frames import Frame, Quality
from twin.edge.sparkplug.link import SparkplugLink
from twin.edge.sparkplug.payloads import BD_SEQ, REBIRTH, add_metric, death_certificate, new_payload, parse_state
from twin.edge.sparkplug.schema import DataType, Payload
from twin.edge.sparkplug.topics import Topic, check_id, state_topic
from twin.edge.sparkplug.values import QUALITY_CODE, QUALITY_PROPERTY, datatype_of, get_value, tag_properties
from virtual_plc.endpoints import ResolvedEndpoints
from virtual_plc.tagmap import Tag

log = logging.getLogger(__name__)

SEQ_MODULO = 256


def now_ms() -> int:
    """UTC wall-clock time, ms since the epoch."""
    return time.time_ns() // 1_000_000


@dataclass
class NodeMetric:
    """One published metric: a tag element (``position`` in the frame) or a text tag (``position`` None)."""

    name: str
    alias: int
    datatype: DataType
    tag: Tag
    position: int | None


@dataclass
class Device:
    """One PLC as a Sparkplug device, with what it last published (for report by exception)."""

    name: str
    metrics: list[NodeMetric]
    born: bool = False
    last: dict[int, tuple[Any, int, int]] = field(default_factory=dict)  # alias -> (value, quality code, ts)


@dataclass
class NodeCounts:
    """What the node has done: messages by type, metrics published, and samples it could not publish."""

    births: int = 0
    deaths: int = 0
    data_messages: int = 0
    metrics_published: int = 0
    samples_unpublished: int = 0  # sampled while the broker or the primary host was away
    rebirth_requests: int = 0
    refused_commands: int = 0


class SparkplugNode:
    """Publishes an edge's frames as Sparkplug B edge node ``group``/``edge_node`` (see the module docstring).

    ``endpoints`` are the edge's PLCs and tag map; ``address`` the broker and account. ``primary_host``: a
    host id whose STATE gates publishing. Call :meth:`publish` with every frame, from the event loop that
    ran :meth:`start`.
    """

    def __init__(self, address: BrokerAddress, group: str, edge_node: str, endpoints: ResolvedEndpoints, *,
                 report_by_exception: bool = True, primary_host: str | None = None,
                 client_id: str | None = None) -> None:
        self.address = address
        self.group = check_id(group, "Sparkplug group id")
        self.edge_node = check_id(edge_node, "Sparkplug edge node id")
        self.report_by_exception = report_by_exception
        self.primary_host = check_id(primary_host, "primary host id") if primary_host is not None else None
        self.client_id = client_id or f"{group}-{edge_node}"
        self.devices = self._devices(endpoints)
        self.counts = NodeCounts()
        self.bd_seq = -1
        self.seq = 0
        self.host_online = primary_host is None
        self.link: SparkplugLink | None = None
        self._sessions_born = 0
        self._commands: asyncio.Task[None] | None = None
        self._last_frame: Frame | None = None
        self._down: set[str] = set()
        self._text: dict[str, str | None] = {}  # latest value of each text tag

    @staticmethod
    def _devices(endpoints: ResolvedEndpoints) -> dict[str, Device]:
        """One device per PLC with tags; aliases 1, 2, ... across the node, in endpoint and tag map order."""
        positions = element_index(endpoints).position  # where each element sits in the edge's frames
        devices: dict[str, Device] = {}
        alias = 0
        for endpoint, tags in endpoints.assignments:
            metrics = []
            for tag in tags:
                for name in ([tag.name] if tag.is_text else tag.element_names()):
                    alias += 1
                    metrics.append(NodeMetric(name, alias, datatype_of(tag), tag, positions.get(name)))
            if metrics:
                devices[check_id(endpoint.name, "endpoint name (Sparkplug device id)")] = Device(endpoint.name, metrics)
        return devices

    # ------------------------------------------------------------------ session
    def _will(self) -> tuple[str, bytes, bool]:
        """The NDEATH of the next session (bumps ``bdSeq``)."""
        self.bd_seq = (self.bd_seq + 1) % SEQ_MODULO
        return str(self._topic("NDEATH")), death_certificate(now_ms(), self.bd_seq), False

    def _topic(self, kind: str, device: str | None = None) -> Topic:
        return Topic(self.group, kind, self.edge_node, device)

    async def start(self, timeout_s: float = 5.0) -> SparkplugNode:
        """Connect (will: NDEATH), listen for commands (and the primary host's STATE), and be born unless a
        primary host is still offline."""
        self.link = SparkplugLink(self.address, self.client_id, will=self._will)
        await self.link.connect(timeout_s)
        await self.link.subscribed(str(self._topic("NCMD")), timeout_s)
        await self.link.subscribed(f"{self._topic('DCMD')}/+", timeout_s)
        if self.primary_host is not None:
            await self.link.subscribed(state_topic(self.primary_host), timeout_s)
        self._commands = asyncio.get_running_loop().create_task(self._serve(), name=f"sparkplug:{self.client_id}")
        return self  # born with the first frame: a birth carries current values

    async def close(self) -> None:
        """Publish NDEATH (a clean disconnect sends no will) and disconnect (safe to call twice)."""
        if self._commands is not None:
            self._commands.cancel()
            self._commands = None
        if self.link is not None:
            link, self.link = self.link, None
            if link.connected:
                link.publish(str(self._topic("NDEATH")), death_certificate(now_ms(), self.bd_seq))
                self.counts.deaths += 1
            await link.close()

    async def __aenter__(self) -> SparkplugNode:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def ready(self) -> bool:
        """True when data can be published: connected, the primary host (if any) online."""
        return self.link is not None and self.link.connected and self.host_online

    async def wait_ready(self, timeout_s: float) -> bool:
        """Wait until :attr:`ready` (the primary host online), at most ``timeout_s``; True when ready."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not self.ready and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        return self.ready

    def _next_seq(self) -> int:
        seq, self.seq = self.seq, (self.seq + 1) % SEQ_MODULO
        return seq

    def _send(self, topic: Topic, payload: Any) -> None:
        assert self.link is not None
        self.link.publish(str(topic), payload.SerializeToString())

    def _needs_birth(self) -> bool:
        """True when the current session has not seen our births yet (after a connect)."""
        return self.link is not None and self._sessions_born != self.link.sessions

    def rebirth(self) -> None:
        """Publish NBIRTH and a DBIRTH for every PLC that answers (current values, from the latest frame)."""
        assert self.link is not None
        self._sessions_born = self.link.sessions
        self.seq = 0
        t = now_ms()
        payload = new_payload(t, self._next_seq())
        add_metric(payload, name=BD_SEQ, datatype=DataType.UINT64, value=self.bd_seq, timestamp=t)
        add_metric(payload, name=REBIRTH, datatype=DataType.BOOLEAN, value=False, timestamp=t)
        self._send(self._topic("NBIRTH"), payload)
        self.counts.births += 1
        for device in self.devices.values():
            device.born = False
            if device.name not in self._down:
                self._birth(device)

    def _birth(self, device: Device) -> None:
        """DBIRTH: every metric named, with alias, datatype, properties and its latest value."""
        frame = self._last_frame
        payload = new_payload(frame.wall_ms if frame is not None else now_ms(), self._next_seq())
        device.last.clear()
        for metric in device.metrics:
            value, code, ts = self._sample(metric, frame, latest=True) if frame is not None else (None, 0, None)
            props = {**tag_properties(metric.tag), QUALITY_PROPERTY: (DataType.INT32, code)}
            add_metric(payload, name=metric.name, alias=metric.alias, datatype=metric.datatype, value=value,
                       timestamp=ts, properties=props)
            device.last[metric.alias] = (value, code, ts or 0)
        self._send(self._topic("DBIRTH", device.name), payload)
        device.born = True
        self.counts.births += 1
        self.counts.metrics_published += len(device.metrics)

    def _death(self, device: Device, t_ms: int) -> None:
        """DDEATH: the PLC does not answer; no data for it until its next DBIRTH."""
        self._send(self._topic("DDEATH", device.name), new_payload(t_ms, self._next_seq()))
        device.born = False
        self.counts.deaths += 1

    # ------------------------------------------------------------------ frames
    def _sample(self, metric: NodeMetric, frame: Frame, *, latest: bool = False) -> tuple[Any, int, int | None]:
        """(value, Quality code, timestamp) of ``metric`` in ``frame``; timestamp None when not sampled there
        (``latest``: the value all the same, stamped with the frame)."""
        if metric.position is None:
            if metric.name not in frame.text and not latest:
                return None, 0, None
            text = frame.text[metric.name] if metric.name in frame.text else self._text.get(metric.name)
            return text, QUALITY_CODE[Quality.GOOD if text is not None else Quality.BAD], frame.wall_ms
        k = metric.position
        if not frame.fresh[k] and not latest:
            return None, 0, None
        quality = Quality(int(frame.quality[k]))
        value = float(frame.values[k]) if quality <= Quality.STALE else None
        source = frame.source_ms[k] if frame.source_ms is not None else -1
        return value, QUALITY_CODE[quality], int(source) if source >= 0 else frame.wall_ms

    def _changed(self, metric: NodeMetric, previous: tuple[Any, int, int] | None, value: Any, code: int) -> bool:
        if not self.report_by_exception or previous is None or previous[1] != code:
            return True
        old = previous[0]
        if isinstance(value, float) and isinstance(old, float):
            band = metric.tag.deadband or 0.0
            return abs(value - old) > band if band else value != old
        return value != old

    def publish(self, frame: Frame, down: Collection[str] = ()) -> int:
        """Publish ``frame``: deaths and births of PLCs in and out of ``down`` (names of PLCs not answering),
        then a DDATA per PLC with its sampled (by exception: changed) metrics. Returns the metrics published."""
        self._last_frame = frame
        self._text.update(frame.text)
        self._down = set(down)
        if not self.ready:
            self.counts.samples_unpublished += self._count_sampled(frame)
            return 0
        if self._needs_birth():
            self.rebirth()
            return sum(len(d.metrics) for d in self.devices.values() if d.born)
        published = 0
        for device in self.devices.values():
            if device.name in self._down:
                if device.born:
                    self._death(device, frame.wall_ms)
            elif not device.born:
                self._birth(device)
                published += len(device.metrics)
            else:
                published += self._data(device, frame)
        return published

    def _count_sampled(self, frame: Frame) -> int:
        """Samples of ``frame`` for PLCs that answer (what a host should have received)."""
        return sum(1 for d in self.devices.values() if d.name not in self._down for m in d.metrics
                   if (m.name in frame.text if m.position is None else bool(frame.fresh[m.position])))

    def _data(self, device: Device, frame: Frame) -> int:
        """One DDATA with ``device``'s sampled metrics (report by exception applied); returns how many."""
        payload = new_payload(frame.wall_ms, None)
        for metric in device.metrics:
            value, code, ts = self._sample(metric, frame)
            if ts is None:
                continue
            if isinstance(value, float) and math.isnan(value):
                value = None
            previous = device.last.get(metric.alias)
            if not self._changed(metric, previous, value, code):
                continue
            good = code == QUALITY_CODE[Quality.GOOD] and (previous is None or previous[1] == code)
            props = None if good else {QUALITY_PROPERTY: (DataType.INT32, code)}  # absent: good
            # the datatype too (the specification lets data omit it): decoders such as Eclipse Tahu's JavaScript
            # one read the value by the metric's own datatype and give null without it
            add_metric(payload, alias=metric.alias, datatype=metric.datatype, value=value, timestamp=ts,
                       properties=props)
            device.last[metric.alias] = (value, code, ts)
        if not payload.metrics:
            return 0
        payload.seq = self._next_seq()
        self._send(self._topic("DDATA", device.name), payload)
        self.counts.data_messages += 1
        self.counts.metrics_published += len(payload.metrics)
        return len(payload.metrics)

    # ------------------------------------------------------------------ commands
    async def _serve(self) -> None:
        """Handle NCMD, DCMD and the primary host's STATE as they arrive."""
        assert self.link is not None
        while True:
            topic, raw = await self.link.messages.get()
            try:
                self._handle(topic, raw)
            except Exception as err:  # noqa: BLE001 - one bad message never stops the node
                log.warning("sparkplug node %s: ignored a message on %s: %s", self.client_id, topic, err)

    def _handle(self, topic: str, raw: bytes) -> None:
        if "/STATE/" in topic:  # our primary host's (another host's, or one we no longer follow: ignored)
            online = parse_state(raw) if topic == state_topic(self.primary_host or "-") else None
            if online is not None and online != self.host_online:
                self.host_online = online
                if online and self._last_frame is not None:
                    self.rebirth()
            return
        kind = Topic.parse(topic).kind
        payload = Payload.FromString(raw)
        if kind == "NCMD":
            if any(m.name == REBIRTH and get_value(m, DataType.BOOLEAN) for m in payload.metrics):
                self.counts.rebirth_requests += 1
                if self.ready and self._last_frame is not None:
                    self.rebirth()
            return
        self.counts.refused_commands += 1
        log.warning("sparkplug node %s: refused a %s on %s (writes go through the closed loop's bridge)",
                    self.client_id, kind, topic)

