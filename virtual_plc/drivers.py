"""Client drivers: how the edge reads and writes one PLC.

A driver reads a :class:`~virtual_plc.image.DueSet` (the tags due at one poll, clock
first) and returns one float per element in the due set's layout, NaN for an element the
PLC marked bad. A connection problem raises :class:`PlcUnavailable`; the caller records
bad samples and calls :meth:`PlcDriver.read` again later, which reconnects first.
A refused write raises :class:`PlcWriteRefused` with the protocol's own answer.

:class:`ModbusDriver` and :class:`OpcUaDriver` talk to any PLC over real sockets;
:class:`ImageDriver` reads a process image in-process, for offline runs, through the
same register decoding as Modbus, so an offline run stores the same values.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
from asyncua import Client, ua
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from virtual_plc.codec import ElementLayout, decode, to_words
from virtual_plc.endpoints import Endpoint
from virtual_plc.image import ProcessImage, WriteRefused
from virtual_plc.schedule import DueSet
from virtual_plc.tagmap import Tag, TagMap

MODBUS_MAX_READ = 125  # registers per read request (Modbus spec)
MODBUS_MAX_GAP = 16  # unused registers worth reading to save a request


class PlcUnavailable(ConnectionError):
    """The PLC could not be reached or did not answer; names the endpoint."""


class PlcWriteRefused(Exception):
    """The PLC refused a write; ``code`` is the protocol's answer (exception code or status)."""

    def __init__(self, tag: str, code: str, message: str) -> None:
        self.tag = tag
        self.code = code
        super().__init__(message)


class PlcDriver(ABC):
    """Reads and writes one PLC."""

    def __init__(self, endpoint: Endpoint, tagmap: TagMap) -> None:
        self.endpoint = endpoint
        self.tagmap = tagmap
        self._single: dict[str, DueSet] = {}

    @property
    @abstractmethod
    def connected(self) -> bool:
        """True while a connection is open."""

    @abstractmethod
    async def connect(self) -> None:
        """Open the connection; raises :class:`PlcUnavailable`."""

    @abstractmethod
    async def close(self) -> None:
        """Close the connection (safe to call twice)."""

    @abstractmethod
    async def _read(self, due: DueSet) -> np.ndarray: ...

    @abstractmethod
    async def _write(self, tag: Tag, value: float) -> None: ...

    async def read(self, due: DueSet) -> np.ndarray:
        """Element values of ``due``; reconnects first if the connection was lost."""
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
        return float((await self._read(due))[0])

    def _unavailable(self, err: BaseException) -> PlcUnavailable:
        return PlcUnavailable(f"PLC {self.endpoint.name} at {self.endpoint.url}: {err or type(err).__name__}")


class ModbusDriver(PlcDriver):
    """Modbus TCP client (pymodbus) reading register spans and decoding them by the tag map."""

    def __init__(self, endpoint: Endpoint, tagmap: TagMap) -> None:
        super().__init__(endpoint, tagmap)
        self.unit = endpoint.unit_id if endpoint.unit_id is not None else tagmap.unit_id
        self._client: AsyncModbusTcpClient | None = None
        self._plans: dict[ElementLayout, list[tuple[str, int, int]]] = {}
        extent = ElementLayout(tagmap.tags).register_extent()
        self._scratch = {table: np.zeros(max(n, 1), dtype=np.uint16) for table, n in extent.items()}

    @property
    def connected(self) -> bool:
        """True while the TCP connection is open."""
        return self._client is not None and self._client.connected

    async def connect(self) -> None:
        """Connect (no automatic reconnect: the collector decides when to retry)."""
        await self.close()
        self._client = AsyncModbusTcpClient(
            self.endpoint.host,
            port=self.endpoint.port,
            timeout=self.endpoint.timeout_s,
            retries=0,
            reconnect_delay=0,
        )
        if not await self._client.connect():
            raise self._unavailable(ConnectionRefusedError("connection refused"))

    async def close(self) -> None:
        """Close the TCP connection."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def read_plan(self, layout: ElementLayout) -> list[tuple[str, int, int]]:
        """(table, address, count) requests covering every register of ``layout``."""
        plan: list[tuple[str, int, int]] = []
        for table in ("holding", "input"):
            regs = sorted({int(r) for g in layout.groups if g.table == table for r in g.registers.ravel()})
            start = prev = None
            for reg in regs:
                if start is None:
                    start = prev = reg
                elif reg - prev > MODBUS_MAX_GAP or reg - start >= MODBUS_MAX_READ:
                    plan.append((table, start, prev - start + 1))
                    start = reg
                prev = reg
            if start is not None and prev is not None:
                plan.append((table, start, prev - start + 1))
        return plan

    async def _read(self, due: DueSet) -> np.ndarray:
        plan = self._plans.get(due.layout)
        if plan is None:
            plan = self._plans[due.layout] = self.read_plan(due.layout)
        assert self._client is not None
        for table, address, count in plan:
            reader = self._client.read_holding_registers if table == "holding" else self._client.read_input_registers
            try:
                response = await reader(address, count=count, device_id=self.unit)
            except (TimeoutError, ModbusException, OSError) as err:
                raise self._unavailable(err) from err
            if response.isError():
                raise self._unavailable(
                    RuntimeError(f"exception response {response} reading {table} {address}+{count}")
                )
            self._scratch[table][address : address + count] = response.registers
        return decode(due.layout, self._scratch)

    async def _write(self, tag: Tag, value: float) -> None:
        assert self._client is not None
        words = to_words(tag.dtype, np.array([value * tag.scale]), little=tag.word_order == "little")[0]
        try:
            response = await self._client.write_registers(
                tag.address or 0, [int(w) for w in words], device_id=self.unit
            )
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
    """OPC UA client (asyncua) reading every due node in one Read request."""

    def __init__(self, endpoint: Endpoint, tagmap: TagMap) -> None:
        super().__init__(endpoint, tagmap)
        self._client: Client | None = None
        self._nodeids: dict[str, ua.NodeId] = {}
        self._plans: dict[ElementLayout, list[ua.NodeId]] = {}

    @property
    def connected(self) -> bool:
        """True while a session is open."""
        return self._client is not None

    async def connect(self) -> None:
        """Open a session and map the tag map's namespace onto the server's index."""
        await self.close()
        client = Client(self.endpoint.url, timeout=self.endpoint.timeout_s)
        try:
            await client.connect()
            ns = await client.get_namespace_index(self.tagmap.opcua_namespace)
        except (TimeoutError, OSError, ua.UaError, ValueError) as err:
            await _quiet_disconnect(client)
            raise self._unavailable(err) from err
        self._client = client
        self._nodeids = {}
        for tag in self.tagmap.tags:
            node = ua.NodeId.from_string(tag.opcua_node or f"ns=2;s={tag.name}")
            self._nodeids[tag.name] = ua.NodeId(node.Identifier, ns)
        self._plans = {}

    async def close(self) -> None:
        """Close the session."""
        if self._client is not None:
            client, self._client = self._client, None
            await _quiet_disconnect(client)

    async def _read(self, due: DueSet) -> np.ndarray:
        nodeids = self._plans.get(due.layout)
        if nodeids is None:
            nodeids = self._plans[due.layout] = [self._nodeids[t.name] for t in due.tags]
        assert self._client is not None
        try:
            datavalues = await self._client.uaclient.read_attributes(nodeids, ua.AttributeIds.Value)
        except (TimeoutError, OSError, ua.UaError, ConnectionError) as err:
            raise self._unavailable(err) from err
        out = np.full(due.layout.size, np.nan)
        for tag, dv in zip(due.tags, datavalues):
            if dv.StatusCode is not None and not dv.StatusCode.is_good():
                continue
            value = dv.Value.Value if dv.Value is not None else None
            if value is not None:
                out[due.layout.slices[tag.name]] = value
        return out

    async def _write(self, tag: Tag, value: float) -> None:
        assert self._client is not None
        dv = ua.DataValue(ua.Variant(float(value), ua.VariantType.Double))
        try:
            (status,) = await self._client.uaclient.write_attributes([self._nodeids[tag.name]], [dv])
        except (TimeoutError, OSError, ConnectionError) as err:
            raise self._unavailable(err) from err
        if not status.is_good():
            raise PlcWriteRefused(tag.name, status.name, f"PLC refused write of {value} to {tag.name}: {status.name}")


class ImageDriver(PlcDriver):
    """Reads a process image in-process (offline mode): no sockets, same decoding."""

    def __init__(self, endpoint: Endpoint, tagmap: TagMap, image: ProcessImage) -> None:
        super().__init__(endpoint, tagmap)
        self.image = image

    @property
    def connected(self) -> bool:
        """Always connected."""
        return True

    async def connect(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    async def _read(self, due: DueSet) -> np.ndarray:
        return decode(due.layout, self.image.registers)

    async def _write(self, tag: Tag, value: float) -> None:
        try:
            self.image.write_setpoint(tag.name, value)
        except WriteRefused as err:
            raise PlcWriteRefused(tag.name, err.reason.value, str(err)) from err


def make_driver(endpoint: Endpoint, tagmap: TagMap) -> PlcDriver:
    """The socket driver for ``endpoint.protocol``."""
    if endpoint.protocol == "modbus":
        return ModbusDriver(endpoint, tagmap)
    return OpcUaDriver(endpoint, tagmap)


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
    "make_driver",
]
