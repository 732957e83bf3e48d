"""A virtual PLC: a process image, its scan cycle, and the Modbus TCP / OPC UA servers.

The PLC knows nothing of the plant behind it. Each scan, whoever drives it (the episode
runner, or ``twin plc serve``) hands it the plant time and the current measurements;
the PLC refreshes the tags whose sample period is due, stamps its clock tag, and
publishes to OPC UA. Setpoints written by clients wait in
:meth:`VirtualPlc.take_setpoint_changes` for the driver to apply to the plant.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from operator import itemgetter

import numpy as np

from virtual_plc.codec import ElementLayout
from virtual_plc.image import ProcessImage
from virtual_plc.modbus_server import ModbusPlcServer
from virtual_plc.opcua_server import OpcUaPlcServer
from virtual_plc.schedule import DueSet, PollSchedule
from virtual_plc.security import OpcUaSecurity
from virtual_plc.tagmap import TagMap

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port the OS reports free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class VirtualPlc:
    """Process image + scan cycle + optional protocol servers for one tag map."""

    def __init__(self, tagmap: TagMap) -> None:
        self.tagmap = tagmap
        self.image = ProcessImage(tagmap)
        clock = tagmap.clock
        if clock is None:
            raise ValueError(f"the {tagmap.plant} tag map names no clock_tag: a virtual PLC serves its clock")
        measured = [t for t in tagmap.tags if t.access == "ro" and t.name != clock.name]
        self.schedule = PollSchedule(measured, always=[clock])
        self.modbus: ModbusPlcServer | None = None
        self.opcua: OpcUaPlcServer | None = None
        self._gatherers: dict[ElementLayout, _Gatherer] = {}

    def initialise_setpoints(self, setpoints: Mapping[str, float]) -> None:
        """Load the plant's starting setpoints into the image (before any client connects)."""
        for name, value in setpoints.items():
            self.image.write_setpoint(name, value)
        self.image.take_setpoint_changes()

    async def start(
        self, *, host: str = LOOPBACK, modbus_port: int | None = None, opcua_port: int | None = None,
        opcua_security: OpcUaSecurity | None = None, anonymous_writes: bool = False,
    ) -> None:
        """Start both servers; a port of ``None`` picks a free one (read it from ``.modbus.port``).

        ``opcua_security`` secures the OPC UA server (:mod:`virtual_plc.security`); without it OPC UA
        sessions may read and subscribe, and write setpoints only if ``anonymous_writes`` is True.
        Modbus TCP has no logins: whoever reaches its port may write (bind it to loopback or a cell
        network).
        """
        self.modbus = ModbusPlcServer(self.image, host=host, port=modbus_port or free_port(host))
        self.opcua = OpcUaPlcServer(self.image, host=host, port=opcua_port or free_port(host),
                                    security=opcua_security, anonymous_writes=anonymous_writes)
        await self.modbus.start()
        await self.opcua.start()

    async def stop(self) -> None:
        """Stop both servers (safe to call twice)."""
        if self.modbus is not None:
            await self.modbus.stop()
            self.modbus = None
        if self.opcua is not None:
            await self.opcua.stop()
            self.opcua = None

    async def scan(self, t_ms: int, measurements: Mapping[str, float | np.ndarray]) -> None:
        """One PLC scan at plant time ``t_ms``: refresh due tags, stamp the clock, publish."""
        due = self.schedule.due(t_ms)
        gather = self._gatherers.get(due.layout)
        if gather is None:
            gather = self._gatherers[due.layout] = _Gatherer(due)
        values = np.empty(due.layout.size, dtype=np.float64)
        values[0] = t_ms  # the clock tag comes first in every due set
        gather.fill(values, measurements)
        self.image.store(due.layout, values)
        if self.opcua is not None:
            await self.opcua.publish(due.layout, self.image.load(due.layout))

    def take_setpoint_changes(self) -> dict[str, float]:
        """Setpoints clients wrote since the last call."""
        return self.image.take_setpoint_changes()


class _Gatherer:
    """Copies a due set's values out of a measurements mapping: scalars in one C-level call."""

    def __init__(self, due: DueSet) -> None:
        scalars = [t for t in due.tags[1:] if t.length is None]
        self.scalar_names = [t.name for t in scalars]
        self.scalar_positions = np.array([due.layout.slices[t.name].start for t in scalars], dtype=np.int64)
        self.get_scalars = itemgetter(*self.scalar_names) if scalars else None
        self.arrays = [(t.name, due.layout.slices[t.name]) for t in due.tags[1:] if t.length is not None]

    def fill(self, values: np.ndarray, measurements: Mapping[str, float | np.ndarray]) -> None:
        """Write the due values into ``values`` (after the clock); a missing tag is named."""
        try:
            if self.get_scalars is not None:
                values[self.scalar_positions] = self.get_scalars(measurements)
            for name, where in self.arrays:
                values[where] = measurements[name]
        except KeyError:
            missing = [n for n in self.scalar_names + [n for n, _ in self.arrays] if n not in measurements]
            raise KeyError(f"the plant gave no value for tag(s) {', '.join(missing)}") from None
