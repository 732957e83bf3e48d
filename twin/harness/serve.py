"""Serve a scenario's plant behind its virtual PLC in real time, for any outside client.

``twin plc serve`` runs this: the plant advances one scan per ``scan_ms / speed`` of wall
time (paced by the asyncio clock, so the servers keep answering between scans), the
PLC refreshes its image, and any Modbus TCP or OPC UA client can read it at the addresses of
the exported tag CSV, which is written next to an endpoint file. Setpoints are written over
Modbus TCP, or over OPC UA by an engineer's login (a security file) or, on an open server
started with ``anonymous_writes``, by anyone.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from twin.contracts import RunFiles
from twin.harness.binding import virtual_endpoints
from twin.harness.episode import build_episode_plant, scenario_tagmap
from twin.harness.scenario import Scenario
from virtual_plc.plc import LOOPBACK, VirtualPlc, free_port
from virtual_plc.security import OpcUaSecurity


@dataclass
class ServeInfo:
    """Where the served PLC listens and where its files are."""

    modbus_port: int
    opcua_port: int
    tags_csv: Path
    endpoints: Path


async def serve_plc(
    scenario: Scenario,
    *,
    out_dir: Path,
    modbus_port: int | None = None,
    opcua_port: int | None = None,
    seed: int | None = None,
    speed: float = 1.0,
    duration_s: float | None = None,
    ready: Callable[[ServeInfo], None] | None = None,
    opcua_security: OpcUaSecurity | None = None,
    anonymous_writes: bool = False,
) -> int:
    """Serve until ``duration_s`` of plant time has passed (forever if None); returns scans run.

    ``opcua_security``: the OPC UA server's certificate and users (:mod:`virtual_plc.security`);
    ``anonymous_writes``: without one, let anonymous OPC UA sessions write setpoints (default: they
    may read and subscribe, a write is answered ``BadUserAccessDenied``).
    """
    if speed <= 0:
        raise ValueError(f"speed must be positive, got {speed}")
    plant = build_episode_plant(scenario, scenario.seed if seed is None else seed)
    tagmap = scenario_tagmap(scenario, plant)
    plc = VirtualPlc(tagmap)
    plc.initialise_setpoints(plant.setpoints())
    modbus_port = modbus_port or free_port()
    opcua_port = opcua_port or free_port()
    out_dir.mkdir(parents=True, exist_ok=True)
    tagmap.to_csv(out_dir / RunFiles.TAGS)
    endpoints = virtual_endpoints(tagmap, RunFiles.TAGS, modbus_port=modbus_port, opcua_port=opcua_port,
                                  scan_ms=scenario.scan_ms)
    await plc.scan(0, plant.measurements())
    await plc.start(host=LOOPBACK, modbus_port=modbus_port, opcua_port=opcua_port, opcua_security=opcua_security,
                    anonymous_writes=anonymous_writes)
    gc.collect()
    gc.freeze()  # the address space built at start stays: collecting it paused the scan
    endpoints.save(out_dir / RunFiles.ENDPOINTS)  # only once the servers listen: a client may read it at once
    if ready is not None:
        ready(ServeInfo(modbus_port, opcua_port, out_dir / RunFiles.TAGS, out_dir / RunFiles.ENDPOINTS))
    period_s = scenario.scan_ms / 1000 / speed
    started = time.monotonic()
    k = 0
    try:
        while duration_s is None or k * scenario.scan_ms < duration_s * 1000:
            k += 1
            for name, value in plc.take_setpoint_changes().items():
                plant.apply_setpoint(name, value)
            t_ms = k * scenario.scan_ms
            plant.env.run(until=t_ms)
            await plc.scan(t_ms, plant.measurements())
            await asyncio.sleep(max(0.0, started + k * period_s - time.monotonic()))
    finally:
        gc.unfreeze()
        await plc.stop()
    return k
