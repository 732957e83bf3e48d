"""Client drivers: how the edge reads and writes one PLC.

A driver reads a :class:`~virtual_plc.image.DueSet` (the tags due at one poll, clock
first) and returns a :class:`Reading`: one float per numeric element in the due set's layout
(NaN for an element the PLC marked bad or sent with the wrong type), the text of the due
``string``/``datetime`` tags, the server's source timestamps where the protocol gives them,
and why each bad sample is bad. A connection problem raises :class:`PlcUnavailable`; the
caller records bad samples and calls :meth:`PlcDriver.read` again later, which reconnects
first. A refused write raises :class:`PlcWriteRefused` with the protocol's own answer.

On connecting, a driver probes the PLC once (:attr:`PlcDriver.probe`): the tags the server
does not know (OPC UA ``BadNodeIdUnknown``, a namespace URI it does not serve, a Modbus
address it refuses), and, over OPC UA, each node's EngineeringUnits and EURange (Part 8).

:class:`ModbusDriver` and :class:`OpcUaDriver` talk to any PLC over real sockets;
:class:`ImageDriver` reads a process image in-process, for offline runs, through the
same register decoding as Modbus, so an offline run stores the same values.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from virtual_plc.codec import ElementLayout, decode, decode_text, parse_source, register_source, tag_words
from virtual_plc.endpoints import Endpoint
from virtual_plc.image import ProcessImage, WriteRefused
from virtual_plc.schedule import DueSet
from virtual_plc.tagmap import BIT_TABLES, Tag, TagMap

log = logging.getLogger(__name__)

MODBUS_MAX_READ = {"holding": 125, "input": 125, "coil": 2000, "discrete": 2000}  # per request (Modbus spec)
MODBUS_MAX_GAP = 16  # unused registers worth reading to save a request
OPCUA_BATCH = 500  # nodes per browse-path request at start-up (servers cap operations per request)


class PlcUnavailable(ConnectionError):
    """The PLC could not be reached or did not answer; names the endpoint."""


class PlcWriteRefused(Exception):
    """The PLC refused a write; ``code`` is the protocol's answer (exception code or status)."""

    def __init__(self, tag: str, code: str, message: str) -> None:
        self.tag = tag
        self.code = code
        super().__init__(message)


@dataclass
class Reading:
    """What one read returned.

    ``values``: one per numeric element of the due set's layout, NaN where bad; ``text``: the due
    text tags' values (None where bad); ``source_ms``: per element, the server's source timestamp
    (UTC ms; -1 where it gave none), or None when the protocol has none; ``problems``: tag →
    why its sample is bad, where the driver knows more than "the PLC marked it bad".
    """

    values: np.ndarray
    text: dict[str, str | None] = field(default_factory=dict)
    source_ms: np.ndarray | None = None
    problems: dict[str, str] = field(default_factory=dict)


@dataclass
class Probe:
    """What a driver learnt about its PLC when it connected.

    ``unknown``: tag → why the server does not serve it; ``units`` and ``ranges``: the
    engineering unit and range the server declares per tag (OPC UA EngineeringUnits, EURange).
    """

    unknown: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)


class _Notifications:
    """asyncua subscription handler: keeps the latest DataValue per tag."""

    def __init__(self, by_node: dict[ua.NodeId, str], latest: dict[str, ua.DataValue]) -> None:
        self.by_node = by_node
        self.latest = latest

    def datachange_notification(self, node: Any, _value: Any, data: Any) -> None:
        """Keep the notified DataValue (with its status and source timestamp)."""
        name = self.by_node.get(node.nodeid)
        if name is not None:
            self.latest[name] = data.monitored_item.Value

    def status_change_notification(self, _status: Any) -> None:
        """A subscription status change: the session's loss is seen by the client's own watchdog."""


class PlcDriver(ABC):
    """Reads and writes one PLC."""

    def __init__(self, endpoint: Endpoint, tagmap: TagMap) -> None:
        self.endpoint = endpoint
        self.tagmap = tagmap
        self.probe: Probe | None = None  # set by the first successful connect
        self.sessions_opened = 0
        self._single: dict[str, DueSet] = {}

    @property
    @abstractmethod
    def connected(self) -> bool:
        """True while a connection is open."""

    async def connect(self) -> None:
        """Open the connection (closing any open one first) and probe the PLC; raises :class:`PlcUnavailable`."""
        await self.close()
        await self._open()
        self.sessions_opened += 1
        probe = await self._probe()
        if self.probe is None and probe.unknown:
            shown = "; ".join(f"{t}: {why}" for t, why in list(probe.unknown.items())[:20])
            log.warning("PLC %s does not serve %d of the tag map's tags: %s", self.endpoint.name,
                        len(probe.unknown), shown)
        self.probe = probe
        await self._started()

    async def _started(self) -> None:  # noqa: B027 - a hook most drivers leave empty
        """After connecting and probing: anything a driver starts per session (OPC UA subscriptions)."""

    @abstractmethod
    async def _open(self) -> None: ...

    async def _probe(self) -> Probe:
        return Probe()

    @abstractmethod
    async def close(self) -> None:
        """Close the connection (safe to call twice)."""

    @abstractmethod
    async def _read(self, due: DueSet) -> Reading: ...

    @abstractmethod
    async def _write(self, tag: Tag, value: float) -> None: ...

    async def read(self, due: DueSet) -> Reading:
        """What the PLC holds for ``due``; reconnects first if the connection was lost."""
        if not self.connected:
            await self.connect()
        try:
            return await self._read(due)
        except PlcUnavailable:
            await self.close()
            raise

    async def write(self, tag: Tag, value: float) -> float:
        """Write engineering ``value`` to ``tag`` and return the value read back."""
        if not self.connected:
            await self.connect()
        await self._write(tag, value)
        due = self._single.get(tag.name)
        if due is None:  # kept for the driver's life: read plans are cached per layout
            due = self._single[tag.name] = DueSet([tag], ElementLayout([tag]))
        return float((await self._read(due)).values[0])

    def _unavailable(self, err: BaseException) -> PlcUnavailable:
        return PlcUnavailable(f"PLC {self.endpoint.name} at {self.endpoint.url}: {str(err) or type(err).__name__}")


class ModbusDriver(PlcDriver):
    """Modbus TCP client (pymodbus) reading register and bit spans and decoding them by the tag map.

    Tags may sit in the holding or input registers, the coils or the discrete inputs, and on
    several unit ids behind one gateway (a tag's ``unit_id``). A request the PLC answers with
    an exception (an address or unit it does not have) makes the tags it covers ``bad`` with
    that reason; only a connection that fails or does not answer makes the PLC unavailable.
    """

    def __init__(self, endpoint: Endpoint, tagmap: TagMap) -> None:
        super().__init__(endpoint, tagmap)
        self.unit = endpoint.unit_id if endpoint.unit_id is not None else tagmap.unit_id
        self._client: AsyncModbusTcpClient | None = None
        self._plans: dict[tuple[ElementLayout, tuple[Tag, ...]], list[tuple[str, int, int]]] = {}
        self._everything: DueSet | None = None  # every tag, read once per connect to find refused addresses
        extent: dict[str, int] = {}
        for tag in tagmap.tags:
            source = register_source(tag)
            extent[source] = max(extent.get(source, 0), (tag.address or 0) + tag.n_registers)
        self._scratch = {source: np.zeros(max(n, 1), dtype=np.uint16) for source, n in extent.items()}

    @property
    def connected(self) -> bool:
        """True while the TCP connection is open."""
        return self._client is not None and self._client.connected

    async def _open(self) -> None:
        """Connect (no automatic reconnect: the collector decides when to retry)."""
        self._client = AsyncModbusTcpClient(
            self.endpoint.host,
            port=self.endpoint.port,
            timeout=self.endpoint.timeout_s,
            retries=0,
            reconnect_delay=0,
        )
        if not await self._client.connect():
            raise self._unavailable(ConnectionRefusedError("connection refused"))

    async def _probe(self) -> Probe:
        """Read every tag once: tags behind an address or unit the PLC refuses are unknown."""
        probe = Probe()
        if self._everything is None:
            numbers = [t for t in self.tagmap.tags if not t.is_text]
            self._everything = DueSet(numbers, ElementLayout(numbers), tuple(t for t in self.tagmap.tags if t.is_text))
        reading = await self._read(self._everything)
        probe.unknown.update({t: why for t, why in reading.problems.items() if why.startswith("Modbus exception")})
        return probe

    async def close(self) -> None:
        """Close the TCP connection."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def read_plan(self, layout: ElementLayout, text: Sequence[Tag] = ()) -> list[tuple[str, int, int]]:
        """(register source, address, count) requests covering every register of ``layout`` and ``text``."""
        wanted: dict[str, set[int]] = {}
        for g in layout.groups:
            wanted.setdefault(g.table, set()).update(int(r) for r in g.registers.ravel())
        for tag in text:
            wanted.setdefault(register_source(tag), set()).update(
                range(tag.address or 0, (tag.address or 0) + tag.n_registers))
        plan: list[tuple[str, int, int]] = []
        for source in sorted(wanted):
            limit = MODBUS_MAX_READ[parse_source(source)[0]]
            start = prev = None
            for reg in sorted(wanted[source]):
                if start is None:
                    start = prev = reg
                elif reg - prev > MODBUS_MAX_GAP or reg - start >= limit:
                    plan.append((source, start, prev - start + 1))
                    start = reg
                prev = reg
            if start is not None and prev is not None:
                plan.append((source, start, prev - start + 1))
        return plan

    async def _read(self, due: DueSet) -> Reading:
        key = (due.layout, due.text)  # a layout hashes by identity: due sets are cached, so are their plans
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self.read_plan(due.layout, due.text)
        assert self._client is not None
        refused: list[tuple[str, int, int, str]] = []
        for source, address, count in plan:
            table, unit = parse_source(source)
            reader = {"holding": self._client.read_holding_registers, "input": self._client.read_input_registers,
                      "coil": self._client.read_coils, "discrete": self._client.read_discrete_inputs}[table]
            try:
                response = await reader(address, count=count, device_id=self.unit if unit is None else unit)
            except (TimeoutError, ModbusException, OSError) as err:
                raise self._unavailable(err) from err
            if response.isError():
                code = getattr(response, "exception_code", 0)
                unit_shown = self.unit if unit is None else unit
                refused.append((source, address, count,
                                f"Modbus exception {code:02d} reading {table} {address}+{count} (unit {unit_shown})"))
                continue
            words = response.bits[:count] if table in BIT_TABLES else response.registers
            self._scratch[source][address : address + count] = words
        if refused:
            return self._read_with_refusals(due, refused)
        return Reading(decode(due.layout, self._scratch), {t.name: self._text(t) for t in due.text})

    def _read_with_refusals(self, due: DueSet, refused: list[tuple[str, int, int, str]]) -> Reading:
        """The reading when some requests were refused: the tags they overlap are bad, with the reason."""
        values = decode(due.layout, self._scratch)
        problems: dict[str, str] = {}
        for tag in [*due.tags, *due.text]:
            source, first, end = register_source(tag), tag.address or 0, (tag.address or 0) + tag.n_registers
            why = next((why for s, a, c, why in refused if s == source and a < end and first < a + c), None)
            if why is not None:
                problems[tag.name] = why
                if not tag.is_text:
                    values[due.layout.slices[tag.name]] = np.nan
        text = {t.name: None if t.name in problems else self._text(t) for t in due.text}
        return Reading(values, text, problems=problems)

    def _text(self, tag: Tag) -> str | None:
        first = tag.address or 0
        return decode_text(tag, self._scratch[register_source(tag)][first : first + tag.n_registers])

    async def _write(self, tag: Tag, value: float) -> None:
        assert self._client is not None
        unit = self.unit if tag.unit_id is None else tag.unit_id
        words = tag_words(tag, value)
        try:
            if tag.table == "coil":
                response = await self._client.write_coil(tag.address or 0, bool(words[0]), device_id=unit)
            else:
                response = await self._client.write_registers(tag.address or 0, [int(w) for w in words],
                                                              device_id=unit)
        except (TimeoutError, ModbusException, OSError) as err:
            raise self._unavailable(err) from err
        if response.isError():
            code = getattr(response, "exception_code", 0)
            raise PlcWriteRefused(
                tag.name,
                f"modbus_exception_{code:02d}",
                f"PLC refused write of {value} to {tag.name}: Modbus exception {code:02d}",
            )


class OpcUaDriver(PlcDriver):
    """OPC UA client (asyncua) reading every due node in one Read request, in one session kept open.

    Node ids may name their namespace by index (``ns=3;...``) or by URI (``nsu=urn:...;...``,
    resolved when the session opens). With ``security: Basic256Sha256`` the session is signed (and
    encrypted) with the edge's certificate; a login comes from the endpoint's credentials.
    Values arrive with the server's source timestamps; a value of the wrong type for its tag is a
    bad sample with the reason, never an exception.
    """

    def __init__(self, endpoint: Endpoint, tagmap: TagMap, *, subscribe: bool = False) -> None:
        super().__init__(endpoint, tagmap)
        self.subscribe = subscribe
        self._client: Client | None = None
        self._latest: dict[str, ua.DataValue] | None = None  # subscribed: the last notification per tag
        self._lost: BaseException | None = None  # why asyncua gave the session up
        self._nodeids: dict[str, ua.NodeId] = {}
        self._variant: dict[str, ua.VariantType] = {}  # a setpoint's data type on the server
        self._unresolved: dict[str, str] = {}  # tags whose namespace URI the server lacks
        self._plans: dict[tuple[ElementLayout, tuple[Tag, ...]], list[ua.NodeId]] = {}

    @property
    def connected(self) -> bool:
        """True while a session is open."""
        return self._client is not None

    async def _open(self) -> None:
        """Open a session (secured and logged in as the endpoint says) and resolve every tag's node id."""
        client = new_client(self.endpoint)
        try:
            await configure_client(client, self.endpoint)
            await client.connect()
            namespaces = await client.get_namespace_array()
        except (TimeoutError, OSError, ua.UaError, ValueError, ConnectionError) as err:
            await _quiet_disconnect(client)
            raise self._unavailable(_login_hint(err)) from err
        self._client = client
        client.connection_lost_callback = self._on_lost
        self._nodeids, self._unresolved = {}, {}
        for tag in self.tagmap.tags:
            node = ua.NodeId.from_string(tag.opcua_node or f"ns=2;s={tag.name}")
            uri = getattr(node, "NamespaceUri", None)
            if uri:
                if uri not in namespaces:
                    self._unresolved[tag.name] = f"the server has no namespace {uri}"
                    continue
                node = ua.NodeId(node.Identifier, namespaces.index(uri), node.NodeIdType)
            self._nodeids[tag.name] = node
        self._plans = {}

    async def _on_lost(self, err: Exception) -> None:
        """asyncua's watchdog found the session dead: the next read says so (and the collector reconnects)."""
        self._lost = err

    async def _probe(self) -> Probe:
        """Unknown nodes, the setpoints' data types, and each node's EngineeringUnits and EURange."""
        assert self._client is not None
        probe = Probe(unknown=dict(self._unresolved))
        names = [n for n in self._nodeids]
        nodes = [self._nodeids[n] for n in names]
        try:
            classes = await self._client.uaclient.read_attributes(nodes, ua.AttributeIds.NodeClass)
            for name, dv in zip(names, classes):
                if not dv.StatusCode.is_good():
                    probe.unknown[name] = f"node {self._nodeids[name].to_string()}: {dv.StatusCode.name}"
            writable = [n for n in names if self.tagmap[n].access == "rw" and n not in probe.unknown]
            types = await self._client.uaclient.read_attributes([self._nodeids[n] for n in writable],
                                                                ua.AttributeIds.DataType)
            for name, dv in zip(writable, types):
                if dv.StatusCode.is_good() and isinstance(dv.Value.Value, ua.NodeId):
                    self._variant[name] = _VARIANT_OF_DATATYPE.get(dv.Value.Value.Identifier, ua.VariantType.Double)
            known = [n for n in names if n not in probe.unknown]
            for name, value in (await self._properties(known, "EngineeringUnits")).items():
                if (unit := eu_unit(value)) is not None:
                    probe.units[name] = unit
            for name, value in (await self._properties(known, "EURange")).items():
                if (limits := eu_range(value)) is not None:
                    probe.ranges[name] = limits
        except (TimeoutError, OSError, ua.UaError, ConnectionError) as err:
            await self.close()
            raise self._unavailable(err) from err
        for name in probe.unknown:
            self._nodeids.pop(name, None)
        return probe

    async def _properties(self, names: list[str], prop: str) -> dict[str, Any]:
        """The value of property ``prop`` of each named tag's node, where the node has it."""
        assert self._client is not None
        found: dict[str, ua.NodeId] = {}
        for i in range(0, len(names), OPCUA_BATCH):
            batch = names[i : i + OPCUA_BATCH]
            paths = [ua.BrowsePath(StartingNode=self._nodeids[n], RelativePath=ua.RelativePath(Elements=[
                ua.RelativePathElement(ReferenceTypeId=ua.NodeId(ua.ObjectIds.HasProperty), IsInverse=False,
                                       IncludeSubtypes=True, TargetName=ua.QualifiedName(prop, 0))]))
                     for n in batch]
            results = await self._client.uaclient.translate_browsepaths_to_nodeids(paths)
            found.update({n: r.Targets[0].TargetId for n, r in zip(batch, results)
                          if r.StatusCode.is_good() and r.Targets})
        if not found:
            return {}
        values = await self._client.uaclient.read_attributes(
            [ua.NodeId(t.Identifier, t.NamespaceIndex, t.NodeIdType) for t in found.values()], ua.AttributeIds.Value)
        return {n: dv.Value.Value for n, dv in zip(found, values) if dv.StatusCode.is_good() and dv.Value is not None}

    async def close(self) -> None:
        """Close the session (and with it any subscription)."""
        self._latest, self._lost = None, None
        if self._client is not None:
            client, self._client = self._client, None
            await _quiet_disconnect(client)

    async def _read(self, due: DueSet) -> Reading:
        tags = (*due.tags, *due.text)
        if self._latest is not None:  # subscribed: what the server last notified, while the session lives
            if self._lost is not None:
                raise self._unavailable(self._lost)
            return self._reading(due, [self._latest.get(t.name) for t in tags if t.name in self._nodeids])
        key = (due.layout, due.text)
        nodeids = self._plans.get(key)
        if nodeids is None:
            nodeids = self._plans[key] = [self._nodeids[t.name] for t in tags if t.name in self._nodeids]
        assert self._client is not None
        try:
            datavalues = await self._client.uaclient.read_attributes(nodeids, ua.AttributeIds.Value) if nodeids else []
        except (TimeoutError, OSError, ua.UaError, ConnectionError) as err:
            raise self._unavailable(err) from err
        return self._reading(due, datavalues)

    def _reading(self, due: DueSet, datavalues: Sequence[ua.DataValue | None]) -> Reading:
        """The reading of ``due`` from the DataValues of its served tags, in order (None: nothing yet)."""
        values = np.full(due.layout.size, np.nan)
        source = np.full(due.layout.size, -1, dtype=np.int64)
        reading = Reading(values, {t.name: None for t in due.text}, source)
        served = iter(datavalues)
        for tag in (*due.tags, *due.text):
            if tag.name not in self._nodeids:
                reading.problems[tag.name] = (self.probe.unknown.get(tag.name, "unknown node id") if self.probe
                                              else "unknown node id")
                continue
            dv = next(served)
            if dv is None:
                continue
            if dv.StatusCode is not None and not dv.StatusCode.is_good():
                reading.problems[tag.name] = f"server status {dv.StatusCode.name}"
                continue
            value, problem = _convert(tag, dv.Value.Value if dv.Value is not None else None)
            if problem is not None:
                reading.problems[tag.name] = problem
            elif tag.is_text:
                reading.text[tag.name] = value
            else:
                values[due.layout.slices[tag.name]] = value
                if dv.SourceTimestamp is not None:
                    source[due.layout.slices[tag.name]] = _epoch_ms(dv.SourceTimestamp)
        return reading

    async def _started(self) -> None:
        """Subscribe to every served tag when reading by subscription (after each connect: a reconnect restores
        them); monitored items sample at the tag's period, with its deadband if it has one."""
        if not self.subscribe:
            return
        assert self._client is not None
        latest: dict[str, ua.DataValue] = {}
        by_node = {node: name for name, node in self._nodeids.items()}
        periods = sorted({self.tagmap[n].period_ms for n in self._nodeids})
        try:
            subscription = await self._client.create_subscription(min(periods, default=1000),
                                                                   _Notifications(by_node, latest))
            groups: dict[tuple[int, float | None], list[str]] = {}
            for name in self._nodeids:
                tag = self.tagmap[name]
                groups.setdefault((tag.period_ms, tag.deadband), []).append(name)
            for (period_ms, deadband), names in groups.items():
                nodes = [self._client.get_node(self._nodeids[n]) for n in names]
                mfilter = None if not deadband else ua.DataChangeFilter(
                    Trigger=ua.DataChangeTrigger.StatusValue, DeadbandType=1, DeadbandValue=float(deadband))
                results = await subscription._subscribe(nodes, mfilter=mfilter, sampling_interval=float(period_ms))
                refused = {n: r for n, r in zip(names, results) if isinstance(r, ua.StatusCode)}
                for name, status in refused.items():
                    log.warning("PLC %s refused to monitor %s: %s", self.endpoint.name, name, status.name)
        except (TimeoutError, OSError, ua.UaError, ConnectionError) as err:
            await self.close()
            raise self._unavailable(err) from err
        self._latest = latest

    async def _write(self, tag: Tag, value: float) -> None:
        assert self._client is not None
        variant = self._variant.get(tag.name, ua.VariantType.Double)
        typed: Any = bool(value) if variant == ua.VariantType.Boolean else (
            float(value) if variant in (ua.VariantType.Double, ua.VariantType.Float) else int(round(value)))
        dv = ua.DataValue(ua.Variant(typed, variant))
        node = self._nodeids.get(tag.name)
        if node is None:
            raise PlcWriteRefused(tag.name, "BadNodeIdUnknown", f"PLC does not serve {tag.name}")
        try:
            (status,) = await self._client.uaclient.write_attributes([node], [dv])
        except (TimeoutError, OSError, ConnectionError) as err:
            raise self._unavailable(err) from err
        if not status.is_good():
            raise PlcWriteRefused(tag.name, status.name, f"PLC refused write of {value} to {tag.name}: {status.name}")


def new_client(endpoint: Endpoint, url: str | None = None) -> Client:
    """An asyncua client for ``endpoint`` (at ``url`` if given, e.g. with a path), not yet connected."""
    # asyncua's watchdog gives up on a server silent for its interval: no sooner than the endpoint's timeout
    return Client(url or endpoint.url, timeout=endpoint.timeout_s, watchdog_intervall=max(1.0, endpoint.timeout_s))


async def configure_client(client: Client, endpoint: Endpoint) -> None:
    """Give an unconnected asyncua ``client`` the endpoint's application URI, login and security.

    Raises :class:`~qtconfig.ConfigError` for a login it cannot find, ``OSError``/``ValueError``
    for a certificate or key it cannot load.
    """
    client.application_uri = endpoint.application_uri
    login = endpoint.login()
    if login is not None:
        client.set_user(login[0])
        client.set_password(login[1])
    if endpoint.security == "Basic256Sha256":
        await client.set_security(
            SecurityPolicyBasic256Sha256, certificate=str(endpoint.certificate),
            private_key=str(endpoint.private_key), server_certificate=endpoint.server_certificate,
            mode=getattr(ua.MessageSecurityMode, endpoint.mode))


def eu_unit(value: Any) -> str | None:
    """The unit an OPC UA ``EngineeringUnits`` property names (its display name), or None."""
    if isinstance(value, ua.EUInformation) and value.DisplayName and value.DisplayName.Text:
        return str(value.DisplayName.Text)
    return None


def eu_range(value: Any) -> tuple[float, float] | None:
    """(low, high) of an OPC UA ``EURange`` property, or None when it is not a finite, ordered range."""
    if isinstance(value, ua.Range) and math.isfinite(value.Low) and math.isfinite(value.High):
        return (float(value.Low), float(value.High)) if value.Low < value.High else None
    return None


_VARIANT_OF_DATATYPE = {  # ns=0 DataType node ids -> the variant a write must carry
    1: ua.VariantType.Boolean, 2: ua.VariantType.SByte, 3: ua.VariantType.Byte, 4: ua.VariantType.Int16,
    5: ua.VariantType.UInt16, 6: ua.VariantType.Int32, 7: ua.VariantType.UInt32, 8: ua.VariantType.Int64,
    9: ua.VariantType.UInt64, 10: ua.VariantType.Float, 11: ua.VariantType.Double,
}


def _convert(tag: Tag, value: Any) -> tuple[Any, str | None]:
    """The value a tag stores from an OPC UA value (a float, an array, or text), or why it cannot."""
    if tag.dtype == "string":
        return (value, None) if isinstance(value, str) else (None, _wrong(tag, value))
    if tag.dtype == "datetime":
        if isinstance(value, datetime):
            return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat(timespec="milliseconds"), None
        return None, _wrong(tag, value)
    if tag.length is not None:
        if isinstance(value, (list, tuple, np.ndarray)) and len(value) == tag.length and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return np.asarray(value, dtype=np.float64), None
        return None, _wrong(tag, value)
    if tag.dtype == "bool":
        return (float(value), None) if isinstance(value, bool) or value in (0, 1) else (None, _wrong(tag, value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), None
    return None, _wrong(tag, value)


def _wrong(tag: Tag, value: Any) -> str:
    """Why ``value`` cannot be ``tag``'s sample."""
    shown = f"{type(value).__name__} {value!r}"[:60]
    want = f"an array of {tag.length}" if tag.length is not None else f"a {tag.dtype}"
    return f"wrong type: the server sent {shown}, the tag map expects {want}"


def _epoch_ms(stamp: datetime) -> int:
    """UTC ms since the epoch of an OPC UA timestamp (naive ones are UTC)."""
    return int((stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp() * 1000)


def _login_hint(err: BaseException) -> BaseException:
    """A connect error, made to say so when the server refused the login."""
    text = str(err) or type(err).__name__
    if "BadUserAccessDenied" in text or "BadIdentityToken" in text:
        return PermissionError(f"the server refused the login ({text}); check the endpoint's credentials")
    return err


class ImageDriver(PlcDriver):
    """Reads a process image in-process (offline mode): no sockets, same decoding."""

    def __init__(self, endpoint: Endpoint, tagmap: TagMap, image: ProcessImage) -> None:
        super().__init__(endpoint, tagmap)
        self.image = image

    @property
    def connected(self) -> bool:
        """Always connected."""
        return True

    async def _open(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    async def _read(self, due: DueSet) -> Reading:
        return Reading(decode(due.layout, self.image.registers))

    async def _write(self, tag: Tag, value: float) -> None:
        try:
            self.image.write_setpoint(tag.name, value)
        except WriteRefused as err:
            raise PlcWriteRefused(tag.name, err.reason.value, str(err)) from err


def make_driver(endpoint: Endpoint, tagmap: TagMap, *, realtime: bool = False) -> PlcDriver:
    """The socket driver for ``endpoint.protocol``. An OPC UA driver subscribes when the endpoint says
    ``read: subscribe``, or ``read: auto`` in ``realtime`` (a lockstep run polls: its reads follow plant time)."""
    if endpoint.protocol == "modbus":
        return ModbusDriver(endpoint, tagmap)
    subscribe = endpoint.read == "subscribe" or (endpoint.read == "auto" and realtime)
    return OpcUaDriver(endpoint, tagmap, subscribe=subscribe)


def realtime_driver(endpoint: Endpoint, tagmap: TagMap) -> PlcDriver:
    """:func:`make_driver` for the real-time edge (OPC UA by subscription unless the endpoint says ``read: poll``)."""
    return make_driver(endpoint, tagmap, realtime=True)


async def _quiet_disconnect(client: Client) -> None:
    try:
        await client.disconnect()
    except Exception:  # noqa: BLE001 - the connection is gone either way
        pass


__all__: Sequence[str] = [
    "ImageDriver",
    "ModbusDriver",
    "OpcUaDriver",
    "PlcDriver",
    "PlcUnavailable",
    "PlcWriteRefused",
    "Probe",
    "Reading",
    "configure_client",
    "eu_range",
    "eu_unit",
    "new_client",
    "make_driver",
    "realtime_driver",
]
