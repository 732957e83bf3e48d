"""Modbus TCP adapter over a :class:`~virtual_plc.image.ProcessImage` (pymodbus server).

Reads are served from the process image; writes go through the image's validation and
come back as Modbus exceptions when refused: ``ILLEGAL DATA VALUE`` (03) for a value
outside the engineering range or not a number, ``ILLEGAL DATA ADDRESS`` (02) for a
read-only tag, an address with no tag, or a write that covers only part of a tag.
A malformed frame (bad MBAP protocol id or length) closes that connection only.
"""

from __future__ import annotations

import asyncio
import logging

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


class _StrictRequestHandler(ServerRequestHandler):
    """pymodbus' handler, but a frame with a broken MBAP header closes the connection.

    The stock framer waits forever for "more data" after a bad protocol id, which leaves
    a garbage-sending client holding a dead connection; a real PLC drops it.
    """

    def callback_data(self, data: bytes, addr: tuple | None = None) -> int:
        """Check the MBAP header, then hand the frame to pymodbus."""
        if len(data) >= 6:
            protocol_id = int.from_bytes(data[2:4], "big")
            length = int.from_bytes(data[4:6], "big")
            if protocol_id != 0 or not 2 <= length <= MBAP_MAX_LENGTH:
                log.warning(
                    "malformed Modbus frame (protocol id %d, length %d): closing this connection",
                    protocol_id,
                    length,
                )
                self.close()
                return len(data)
        return super().callback_data(data, addr)


class _PlcModbusServer(ModbusTcpServer):
    """ModbusTcpServer whose connections use the strict handler."""

    def callback_new_connection(self) -> ServerRequestHandler:
        """Create the handler for one client connection."""
        return _StrictRequestHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)


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
        """Bind and start serving in the background."""
        self._server = _PlcModbusServer(self.device(), address=(self.host, self.port))
        await self._server.serve_forever(background=True)

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
