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
publishes nothing until that host's ``spBv1.0/STATE/<host>`` says ``online`` in the current MQTT session, and
stops when it says offline.

Store and forward (:mod:`twin.edge.sparkplug.forward`): while the broker is unreachable or the primary host
offline, each frame's ``DDATA`` goes to a bounded disk buffer instead; after the next births the node replays
it, oldest first and at most ``replay_batch`` messages per frame, each metric marked ``is_historical``
(frames that come while it replays queue behind, so the order holds). A
``DDATA`` the broker had not acknowledged when the connection dropped is taken back from the MQTT client
(which would otherwise re-send it before the new session's births) and replayed first. Without a buffer
(``forward`` None) such samples are dropped and counted.

A ``DCMD`` goes through the edge's closed loop (:mod:`twin.edge.sparkplug.commands`; the stack attaches it
with :meth:`SparkplugNode.attach`): the same busy check, interlocks, policy, signed command, PLC bridge, ack
and ledger as the playbook's commands. Its outcome is published back once final: an ``NDATA`` of the node's
command metrics (``Command/Id`` — the loop's command id, or the request's when it never became one —
``Command/Metric`` ``<device>/<metric>``, ``Command/Status`` — applied, refused, failed, expired, rejected or
logged — and ``Command/Reason``), then a ``DDATA`` of the metric with the value the PLC reads back (the
current value when nothing was written). A node no closed loop is attached to refuses every DCMD (counted,
logged), never writes.

Metric timestamps are the UTC wall-clock time of each sample (the server's source timestamp where it gave
one), exactly the historian's ``wall_utc``; bad and missing values are null with ``Quality`` 0.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

from twin.edge.bridge.mqtt import BrokerAddress, MqttUnavailable
from twin.edge.collector import element_index
from twin.edge.control.loop import ControlLoop
from twin.edge.frames import Frame, Quality
from twin.edge.ledger import Ledger
from twin.edge.sparkplug.commands import CommandGate, Outcome, WriteRequest
from twin.edge.sparkplug.forward import DEFAULT_MAX_SAMPLES, StoreAndForward
from twin.edge.sparkplug.link import SparkplugLink
from twin.edge.sparkplug.payloads import BD_SEQ, REBIRTH, add_metric, death_certificate, new_payload, parse_state
from twin.edge.sparkplug.schema import DataType, Payload
from twin.edge.sparkplug.topics import Topic, check_id, state_topic
from twin.edge.sparkplug.values import QUALITY_CODE, QUALITY_PROPERTY, datatype_of, get_value, tag_properties
from virtual_plc.endpoints import ResolvedEndpoints
from virtual_plc.tagmap import Tag

log = logging.getLogger(__name__)

SEQ_MODULO = 256
COMMAND_ID, COMMAND_METRIC, COMMAND_STATUS, COMMAND_REASON = (
    "Command/Id", "Command/Metric", "Command/Status", "Command/Reason")
COMMAND_METRICS = (COMMAND_ID, COMMAND_METRIC, COMMAND_STATUS, COMMAND_REASON)  # String node metrics (NBIRTH)


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

    def find(self, name: str, alias: int | None) -> NodeMetric | None:
        """The metric called ``name`` (or, without a name, with ``alias``), None when the device has none."""
        return next((m for m in self.metrics if (m.name == name if name else m.alias == alias)), None)


@dataclass
class NodeCounts:
    """What the node has done: messages by type, metrics published, and samples it could not publish."""

    births: int = 0
    deaths: int = 0
    data_messages: int = 0
    metrics_published: int = 0  # in births and live data (replays: forward.counts.replayed)
    rebirth_requests: int = 0
    commands: int = 0  # DCMD metrics received
    applied_commands: int = 0
    refused_commands: int = 0  # every outcome but applied, and every DCMD while no closed loop is attached


@dataclass(frozen=True)
class SparkplugOptions:
    """How ``twin edge run`` publishes as a Sparkplug B edge node: its ids, the primary host it waits for
    (None: none), and how many samples its store-and-forward buffer holds before the oldest go."""

    group: str
    edge_node: str
    primary_host: str | None = None
    buffer_samples: int = DEFAULT_MAX_SAMPLES


class SparkplugNode:
    """Publishes an edge's frames as Sparkplug B edge node ``group``/``edge_node`` (see the module docstring).

    ``endpoints`` are the edge's PLCs and tag map; ``address`` the broker and account. ``primary_host``: a
    host id whose STATE gates publishing. ``forward``: the store-and-forward buffer (None: none, samples the
    broker cannot take are dropped and counted in :attr:`forward`'s counts all the same). Call :meth:`publish`
    with every frame, from the event loop that ran :meth:`start`.
    """

    def __init__(self, address: BrokerAddress, group: str, edge_node: str, endpoints: ResolvedEndpoints, *,
                 report_by_exception: bool = True, primary_host: str | None = None,
                 client_id: str | None = None, forward: StoreAndForward | None = None,
                 replay_batch: int = 100) -> None:
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
        self.forward = forward if forward is not None else StoreAndForward(None, 0)
        self.replay_batch = replay_batch
        self.link: SparkplugLink | None = None
        self._host_session: int | None = None  # the MQTT session the primary host last said online in
        self._sessions_born = 0
        self._commands: asyncio.Task[None] | None = None
        self._last_frame: Frame | None = None
        self._down: set[str] = set()
        self._text: dict[str, str | None] = {}  # latest value of each text tag
        self.commands: CommandGate | None = None
        last_alias = max((m.alias for d in self.devices.values() for m in d.metrics), default=0)
        self._node_aliases = {name: last_alias + k for k, name in enumerate(COMMAND_METRICS, 1)}

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
        self.link = SparkplugLink(self.address, self.client_id, will=self._will, reclaim=True)
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
        self.forward.close()

    async def __aenter__(self) -> SparkplugNode:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def host_online(self) -> bool:
        """True without a primary host, or when it said online in the current MQTT session."""
        return self.primary_host is None or (self.link is not None and self._host_session == self.link.sessions)

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

    def _send(self, topic: Topic, payload: Any) -> bool:
        """Publish ``payload``; False when the MQTT client's queue is full (the message is not sent)."""
        assert self.link is not None
        try:
            self.link.publish(str(topic), payload.SerializeToString())
        except MqttUnavailable as err:
            log.warning("sparkplug node %s: %s", self.client_id, err)
            return False
        return True

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
        for name, alias in self._node_aliases.items():
            add_metric(payload, name=name, alias=alias, datatype=DataType.STRING, value="", timestamp=t)
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
            self._store(frame)
            return 0
        if self._needs_birth():
            self._reclaim()
            self.rebirth()
            self._replay()
            return sum(len(d.metrics) for d in self.devices.values() if d.born)
        if self.forward.pending:  # still replaying: the frame queues behind the buffer, so order holds
            self._store(frame)
            self._replay()
            return 0
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

    def _store(self, frame: Frame) -> None:
        """The frame's DDATA of every PLC that answers, marked historical, into the store-and-forward buffer."""
        for device in self.devices.values():
            if device.name in self._down:
                continue
            payload = self._ddata(device, frame)
            if payload is not None:
                for metric in payload.metrics:
                    metric.is_historical = True
                self.forward.store(device.name, payload.SerializeToString(), len(payload.metrics))

    def _reclaim(self) -> None:
        """DDATA the broker never acknowledged in the last session: back in front of the buffer, historical."""
        assert self.link is not None
        taken = []
        for topic, raw in self.link.take_unacked():
            where = Topic.parse(topic)
            if where.kind != "DDATA" or where.device is None:
                continue  # births are made anew, deaths and command outcomes are of their moment
            payload = Payload.FromString(raw)
            replay = any(m.is_historical for m in payload.metrics)
            for metric in payload.metrics:
                metric.is_historical = True
            payload.ClearField("seq")
            taken.append((where.device, payload.SerializeToString(), len(payload.metrics), replay))
        self.forward.reclaim(taken)

    def _replay(self) -> None:
        """Publish the oldest ``replay_batch`` buffered messages (a fresh ``seq`` each)."""
        for stored in self.forward.take(self.replay_batch) if self.forward.pending else ():
            payload = Payload.FromString(stored.payload)
            payload.seq = self._next_seq()
            if not self._send(self._topic("DDATA", stored.device), payload):
                return
            self.forward.sent(stored)

    def _data(self, device: Device, frame: Frame) -> int:
        """One DDATA with ``device``'s sampled metrics (report by exception applied); returns how many."""
        payload = self._ddata(device, frame)
        if payload is None:
            return 0
        payload.seq = self._next_seq()
        if not self._send(self._topic("DDATA", device.name), payload):
            for metric in payload.metrics:
                metric.is_historical = True
            payload.ClearField("seq")
            self.forward.store(device.name, payload.SerializeToString(), len(payload.metrics))
            return 0
        self.forward.live(len(payload.metrics))
        self.counts.data_messages += 1
        self.counts.metrics_published += len(payload.metrics)
        return len(payload.metrics)

    def _ddata(self, device: Device, frame: Frame) -> Any:
        """The DDATA payload (no ``seq`` yet) of ``device``'s sampled metrics, report by exception applied; None
        when nothing is to be reported."""
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
        return payload if payload.metrics else None

    def report(self) -> dict[str, Any]:
        """Counts for ``edge.json``: the node's messages and commands, and store and forward's samples
        (``collected == published + dropped + pending``)."""
        forward = self.forward.counts
        return {"group": self.group, "edge_node": self.edge_node, **asdict(self.counts),
                "samples": {**asdict(forward), "pending": self.forward.pending}}

    # ------------------------------------------------------------------ commands
    def attach(self, loop: ControlLoop | None, ledger: Ledger | None = None) -> None:
        """Send DCMD writes through ``loop`` (None: refuse them), ledgering each in ``ledger`` (default: the
        loop's)."""
        self.commands = CommandGate(loop, ledger)

    def after_control(self, frame: Frame) -> None:
        """After the closed loop's scan of ``frame``: hand it the DCMDs that came in, publish final outcomes."""
        if self.commands is None or not self.commands.busy:
            return
        for outcome in self.commands.step(frame):
            if outcome.status == "applied":
                self.counts.applied_commands += 1
            else:
                self.counts.refused_commands += 1
            self._report(outcome)

    def _report(self, outcome: Outcome) -> None:
        """Publish ``outcome``: NDATA of the command metrics, then DDATA of the metric's read-back value."""
        request = outcome.request
        if not self.ready:
            log.warning("sparkplug node %s: DCMD %s/%s %s, not reported (not connected)", self.client_id,
                        request.device, request.metric, outcome.status)
            return
        t = now_ms()
        payload = new_payload(t, self._next_seq())
        values = (outcome.command_id or request.id, f"{request.device}/{request.metric}", outcome.status,
                  outcome.reason)
        for name, value in zip(COMMAND_METRICS, values, strict=True):
            add_metric(payload, alias=self._node_aliases[name], datatype=DataType.STRING, value=value, timestamp=t)
        self._send(self._topic("NDATA"), payload)
        device = self.devices.get(request.device)
        metric = device.find(request.metric, None) if device is not None else None
        if device is None or metric is None or not device.born:
            return
        value = outcome.read_back
        if value is None and self._last_frame is not None:
            value = self._sample(metric, self._last_frame, latest=True)[0]
        data = new_payload(t, self._next_seq())
        add_metric(data, alias=metric.alias, datatype=metric.datatype, value=value, timestamp=t)
        if self._send(self._topic("DDATA", device.name), data):
            device.last[metric.alias] = (value, QUALITY_CODE[Quality.GOOD], t)
            self.forward.live(1)
            self.counts.data_messages += 1
            self.counts.metrics_published += 1

    def _requests(self, device_name: str, payload: Any) -> list[WriteRequest]:
        """One write request per metric of a DCMD to ``device_name``."""
        device = self.devices.get(device_name)
        requests = []
        for sent in payload.metrics:
            alias = int(sent.alias) if sent.HasField("alias") else None
            metric = device.find(sent.name, alias) if device is not None else None
            if metric is None:
                requests.append(WriteRequest(device_name, sent.name or f"alias {alias}", None))
                continue
            value = get_value(sent, metric.datatype)
            refusal = None
            if metric.position is None or metric.name != metric.tag.name:
                refusal = ("not_scalar", f"{metric.name} is a text tag or an array element: commands write "
                                         "scalar numeric tags")
            elif not isinstance(value, float):
                refusal = ("not_numeric", f"{value!r} is not a number")
            requests.append(WriteRequest(device_name, metric.name, value, tag=metric.tag.name, refusal=refusal))
        return requests

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
            if online is not None and self.link is not None:
                self._host_session = self.link.sessions if online else None
                if not online:
                    self._sessions_born = -1  # born again (and replaying) once the host is back
            return
        where = Topic.parse(topic)
        kind = where.kind
        payload = Payload.FromString(raw)
        if kind == "NCMD":
            if any(m.name == REBIRTH and get_value(m, DataType.BOOLEAN) for m in payload.metrics):
                self.counts.rebirth_requests += 1
                if self.ready and self._last_frame is not None:
                    self.rebirth()
            return
        if kind != "DCMD":
            return
        requests = self._requests(where.device or "", payload)
        self.counts.commands += len(requests)
        if self.commands is None:
            self.counts.refused_commands += len(requests)
            log.warning("sparkplug node %s: refused a DCMD on %s (no closed loop attached)", self.client_id, topic)
            return
        for request in requests:
            self.commands.submit(request)

