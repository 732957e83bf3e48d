"""Modbus TCP adapter over a :class:`~virtual_plc.image.ProcessImage` (pymodbus server).

Reads are served from the process image; writes go through the image's validation and
come back as Modbus exceptions when refused: ``ILLEGAL DATA VALUE`` (03) for a value
outside the engineering range or not a number, ``ILLEGAL DATA ADDRESS`` (02) for a
read-only tag, an address with no tag, or a write that covers only part of a tag.

Requests are answered as the Modbus Application Protocol (v1.1b3, section 7) and the Modbus
Messaging on TCP/IP Implementation Guide (v1.0b) say, each exception with the request's function
code + 0x80:

* a function code this PLC does not serve (it serves 1, 2, 3, 4, 5, 6, 15, 16, 22 and 23) →
  ``ILLEGAL FUNCTION`` (01);
* a request of the wrong length, a quantity of 0 or over the function's limit (125 registers
  read, 123 written, 2000 bits read, 1968 written), a byte count that disagrees with the
  quantity or the data, a single-coil value other than 0x0000 / 0xFF00 → ``ILLEGAL DATA VALUE`` (03);
* a unit id other than the tag map's (or 0xFF, "this server" on TCP) → ``GATEWAY TARGET DEVICE
  FAILED TO RESPOND`` (0x0B): the PLC answers as a gateway with one device behind it, at once,
  rather than leave the client waiting for a time-out; logged at debug level, never a traceback.

Requests sent back to back (pipelined, several in one TCP segment or split across segments) are
answered one by one, in order. A frame with a broken MBAP header (protocol id not 0, or a length
outside 2..254, so an ADU over the 260 bytes TCP allows) closes that connection with a warning;
the server and its other clients carry on.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

from virtual_plc.image import ProcessImage, Refusal, WriteRefused

log = logging.getLogger(__name__)

_HOLDING_CODES = {3, 6, 16, 22, 23}
_INPUT_CODES = {4}
_REFUSAL_CODES = {
    Refusal.OUT_OF_RANGE: ExcCodes.ILLEGAL_VALUE,
    Refusal.NOT_A_NUMBER: ExcCodes.ILLEGAL_VALUE,
    Refusal.READ_ONLY: ExcCodes.ILLEGAL_ADDRESS,
    Refusal.UNKNOWN: ExcCodes.ILLEGAL_ADDRESS,
    Refusal.PARTIAL: ExcCodes.ILLEGAL_ADDRESS,
}
MBAP_MAX_LENGTH = 254  # unit id + PDU (253 bytes at most)
MAX_ADU = 6 + MBAP_MAX_LENGTH  # 260 bytes: the MBAP header's first six bytes, then what its length counts
THIS_SERVER = 0xFF  # the unit id of a server addressed directly over TCP (Implementation Guide 4.4.1.2)
MAX_UNANSWERED = 16 * MAX_ADU  # stop reading a client's socket while this many bytes wait to be answered
SERVED_FUNCTIONS = frozenset({1, 2, 3, 4, 5, 6, 15, 16, 22, 23})

_READ_LIMITS = {1: 2000, 2: 2000, 3: 125, 4: 125}  # function code → most items one read may ask for


def _bits(quantity: int) -> int:
    """Bytes that ``quantity`` coils take."""
    return (quantity + 7) // 8


def _words(quantity: int) -> int:
    """Bytes that ``quantity`` registers take."""
    return 2 * quantity


# function code → (most items one write may carry, the byte count that many items take)
_WRITE_LIMITS: dict[int, tuple[int, Callable[[int], int]]] = {15: (1968, _bits), 16: (123, _words)}


def request_exception(pdu: bytes) -> ExcCodes | None:
    """The exception a request PDU is answered with before it reaches the process image, or None.

    ``ILLEGAL_FUNCTION`` for a function code this PLC does not serve, ``ILLEGAL_VALUE`` for a request
    whose length, quantity or byte count is wrong (Modbus Application Protocol v1.1b3, section 6).

    >>> request_exception(bytes([0x03, 0x00, 0x10, 0x00, 0x02]))  # read 2 holding registers at 16
    >>> request_exception(bytes([0x03, 0x00, 0x10, 0x00, 0x00]))  # ... 0 of them
    <ExcCodes.ILLEGAL_VALUE: 3>
    >>> request_exception(bytes([0x08, 0x00, 0x00, 0x12, 0x34]))  # diagnostics: not served
    <ExcCodes.ILLEGAL_FUNCTION: 1>
    """
    code, data = pdu[0], pdu[1:]
    if code not in SERVED_FUNCTIONS:
        return ExcCodes.ILLEGAL_FUNCTION
    return None if _well_formed(code, data) else ExcCodes.ILLEGAL_VALUE


def _well_formed(code: int, data: bytes) -> bool:
    """True when the data after function code ``code`` has the structure the specification gives it."""
    if code in _READ_LIMITS:
        return len(data) == 4 and 1 <= _word(data, 2) <= _READ_LIMITS[code]
    if code == 5:  # write single coil: ON is 0xFF00, OFF 0x0000, nothing else
        return len(data) == 4 and data[2:4] in (b"\xff\x00", b"\x00\x00")
    if code == 6:
        return len(data) == 4
    if code == 22:  # mask write: address, AND mask, OR mask
        return len(data) == 6
    if code == 23:  # read address and quantity, then a write block as function 16 has it
        return len(data) >= 4 and 1 <= _word(data, 2) <= 125 and _write_block_ok(data[4:], 121, _words)
    return _write_block_ok(data, *_WRITE_LIMITS[code])


def _write_block_ok(data: bytes, limit: int, size: Callable[[int], int]) -> bool:
    """Address, quantity (1..limit), byte count equal to ``size(quantity)``, then exactly that many bytes."""
    if len(data) < 5:
        return False
    quantity = _word(data, 2)
    return 1 <= quantity <= limit and data[4] == size(quantity) == len(data) - 5


def _word(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 2], "big")


def _exception(code: int, exception: ExcCodes) -> bytes:
    """An exception response PDU: the request's function code + 0x80, then the exception code."""
    return bytes([code | 0x80, exception])


def _header_problem(buffer: bytes | bytearray) -> str | None:
    """What is wrong with the MBAP header at the start of ``buffer``; None if fine or not all here yet."""
    if len(buffer) < 6:
        return None
    protocol_id, length = struct.unpack_from(">HH", buffer, 2)
    if protocol_id != 0 or not 2 <= length <= MBAP_MAX_LENGTH:
        return f"protocol id {protocol_id}, length {length}"
    return None


class _PlcRequestHandler(ServerRequestHandler):
    """One client connection: whole frames taken off the stream and answered one at a time, in order.

    Replaces pymodbus' framing, which answers only the first of several requests in one segment,
    drops more than 516 buffered bytes without a word, answers an undecodable request 0x80/01 and
    logs a traceback for an unknown unit id.
    """

    def __init__(self, owner: _PlcModbusServer) -> None:
        super().__init__(owner, owner.trace_packet, owner.trace_pdu, owner.trace_connect)
        self.unit_id = owner.unit_id
        self._inbox = bytearray()
        self._arrived = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._paused = False

    def data_received(self, data: bytes) -> None:
        """Keep the bytes; the connection's worker answers the frames in them, in order."""
        self._inbox += data
        self._arrived.set()
        if self._worker is None:
            self._worker = self.loop.create_task(self._answer_all(), name="modbus connection")
        if len(self._inbox) > MAX_UNANSWERED and not self._paused:
            self.transport.pause_reading()  # type: ignore[attr-defined]
            self._paused = True

    def close(self, reconnect: bool = False) -> None:
        """Close the connection and stop answering it."""
        self._stop_worker()
        super().close(reconnect)

    def callback_disconnected(self, exc: Exception | None) -> None:
        """The client went away: stop answering it."""
        self._stop_worker()
        super().callback_disconnected(exc)

    def _stop_worker(self) -> None:
        if self._worker is not None and self._worker is not asyncio.current_task():
            self._worker.cancel()

    async def _answer_all(self) -> None:
        """Answer every whole frame as it arrives; close the connection at a broken MBAP header."""
        while True:
            if (problem := _header_problem(self._inbox)) is not None:
                log.warning("malformed Modbus frame (%s): closing this connection", problem)
                self.close()
                return
            if len(self._inbox) < 6 or len(self._inbox) < 6 + _word(self._inbox, 4):  # not all here yet
                self._resume_reading()
                self._arrived.clear()
                await self._arrived.wait()
                continue
            size = 6 + _word(self._inbox, 4)
            frame = bytes(self._inbox[:size])
            del self._inbox[:size]
            answer = await self._respond(frame[6], frame[7:])
            if self.transport is not None:
                self.send(self.framer.encode(answer, frame[6], _word(frame, 0)))
            await asyncio.sleep(0)  # a long burst of requests still lets the scan and other clients run

    def _resume_reading(self) -> None:
        if self._paused and self.transport is not None:
            self.transport.resume_reading()  # type: ignore[attr-defined]
            self._paused = False

    async def _respond(self, unit: int, pdu: bytes) -> bytes:
        """The response PDU to one request PDU addressed to ``unit``."""
        code = pdu[0]
        if unit not in (self.unit_id, THIS_SERVER):
            log.debug("Modbus request for unit %d: this PLC is unit %d, answered 0x0B", unit, self.unit_id)
            return _exception(code, ExcCodes.GATEWAY_NO_RESPONSE)
        if (refused := request_exception(pdu)) is not None:
            log.debug("Modbus request %s refused: exception %d", pdu[:8].hex(), refused)
            return _exception(code, refused)
        request = self.server.decoder.decode(pdu)
        if request is None:  # pymodbus cannot read what passed the checks: still the client's request
            return _exception(code, ExcCodes.ILLEGAL_VALUE)
        try:
            response = await request.datastore_update(self.server.context, self.unit_id)
            return response.function_code.to_bytes(1, "big") + response.encode()
        except Exception as err:  # noqa: BLE001 - a failure answers this request, it never ends the server
            log.error("Modbus function %d failed: %s: %s", code, type(err).__name__, err)
            return _exception(code, ExcCodes.DEVICE_FAILURE)


class _PlcModbusServer(ModbusTcpServer):
    """ModbusTcpServer whose connections use the PLC's request handler."""

    def __init__(self, device: SimDevice, *, address: tuple[str, int], unit_id: int) -> None:
        super().__init__(device, address=address)
        self.unit_id = unit_id

    def callback_new_connection(self) -> ServerRequestHandler:
        """Create the handler for one client connection."""
        return _PlcRequestHandler(self)


class ModbusPlcServer:
    """Serve a process image over Modbus TCP on ``host:port``."""

    def __init__(self, image: ProcessImage, *, host: str = "127.0.0.1", port: int = 5020) -> None:
        self.image = image
        self.host = host
        self.port = port
        self._server: _PlcModbusServer | None = None

    def device(self) -> SimDevice:
        """The pymodbus device: holding and input tables sized to the tag map."""
        sizes = {table: len(regs) for table, regs in self.image.registers.items()}
        bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
        return SimDevice(
            id=self.image.tagmap.unit_id,
            simdata=(
                bits,
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(0, count=sizes["holding"], values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=sizes["input"], values=0, datatype=DataType.REGISTERS)],
            ),
            action=self._action,
        )

    async def start(self) -> None:
        """Bind and start serving in the background; OSError naming the address when it cannot listen."""
        self._server = _PlcModbusServer(self.device(), address=(self.host, self.port),
                                        unit_id=self.image.tagmap.unit_id)
        try:
            await self._server.serve_forever(background=True)
        except RuntimeError as err:  # pymodbus' "Could not start listen": the port is taken, or not ours to use
            self._server = None
            raise OSError(f"the Modbus TCP server cannot listen on {self.host}:{self.port}: {err}") from None

    async def stop(self) -> None:
        """Close the listener and every client connection."""
        if self._server is not None:
            for conn in list(self._server.active_connections.values()):
                conn.close()
            await self._server.shutdown()
            self._server = None
            await asyncio.sleep(0)

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus hook on every access: refresh reads from the image, validate writes."""
        if function_code in _HOLDING_CODES:
            table = "holding"
        elif function_code in _INPUT_CODES:
            table = "input"
        else:
            return ExcCodes.ILLEGAL_ADDRESS if set_values else None
        offset = address - start_address
        if set_values is None:
            current_registers[offset : offset + count] = self.image.registers[table][address : address + count].tolist()
            return None
        try:
            self.image.write_registers(table, address, [int(v) for v in set_values])
        except WriteRefused as err:
            log.info("Modbus write refused: %s", err)
            return _REFUSAL_CODES[err.reason]
        return None
