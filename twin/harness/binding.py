"""Binding a plant model to a virtual PLC: the tag map a plant gets, and the checks between them.

This is the one place where a plant's signals meet PLC tags. The edge never sees it.
"""

from __future__ import annotations

import math

from plant_models.base import PlantModel
from qtconfig import ConfigError
from virtual_plc.endpoints import Endpoint, EndpointFile
from virtual_plc.tagmap import Tag, TagMap

CLOCK_SUFFIX = "plc.clock_ms"


def plant_tagmap(plant: PlantModel, scan_ms: int) -> TagMap:
    """The tag map a virtual PLC gets for ``plant`` at a scan period of ``scan_ms``.

    Measurements go to input registers, setpoints to holding registers, all float32,
    big-endian word order; a signal's period is rounded up to a whole number of scans
    (a PLC cannot refresh faster than it scans). A uint64 clock tag comes first.
    """
    tags = [
        Tag(
            name=f"{plant.name}.{CLOCK_SUFFIX}",
            unit="ms",
            dtype="uint64",
            low=0,
            high=2**53,
            period_ms=scan_ms,
            table="input",
            description="PLC clock: plant time of the last scan",
        )
    ]
    for sig in plant.signals():
        setpoint = sig.kind == "setpoint"
        tags.append(
            Tag(
                name=sig.name,
                unit=sig.unit,
                dtype="float32",
                access="rw" if setpoint else "ro",
                low=sig.low,
                high=sig.high,
                period_ms=scan_ms * max(1, math.ceil(sig.period_ms / scan_ms)),
                length=sig.shape[0] if sig.shape else None,
                table="holding" if setpoint else "input",
                description=sig.description,
            )
        )
    return TagMap(
        plant=plant.name,
        opcua_namespace=f"urn:quality-twin:{plant.name}",
        clock_tag=tags[0].name,
        tags=tags,
    ).allocated()


def check_binding(plant: PlantModel, tagmap: TagMap, origin: str = "tag map") -> None:
    """Every plant signal has a tag of the right access, and every tag a plant signal."""
    signals = {s.name: s for s in plant.signals()}
    problems = []
    for tag in tagmap.tags:
        if tag.name == tagmap.clock_tag:
            continue
        sig = signals.get(tag.name)
        if sig is None:
            problems.append(f"tag {tag.name} has no signal in plant {plant.name}")
        elif (sig.kind == "setpoint") != (tag.access == "rw"):
            problems.append(f"tag {tag.name} is {tag.access} but the plant's signal is a {sig.kind}")
    missing = sorted(set(signals) - set(tagmap.names()))
    if missing:
        problems.append(f"plant signals without a tag: {', '.join(missing)}")
    if problems:
        raise ConfigError(origin, problems)


def virtual_endpoints(
    tagmap: TagMap, tag_map_file: str, *, modbus_port: int, opcua_port: int, scan_ms: int,
    timeout_s: float | None = None,
) -> EndpointFile:
    """Endpoints of a virtual line: fast tags (refreshed every scan) and setpoints over Modbus
    TCP, the slower and array-valued ones over OPC UA, as a coating head PLC and a line PLC
    would split them. ``timeout_s``: how long a read waits for an answer (default: the endpoint's own)."""
    fast = [
        t.name
        for t in tagmap.tags
        if t.name != tagmap.clock_tag and (t.access == "rw" or (t.period_ms == scan_ms and t.length is None))
    ]
    plcs = []
    extra = {} if timeout_s is None else {"timeout_s": timeout_s}
    if fast:
        plcs.append(Endpoint(name=f"{tagmap.plant}-fast", protocol="modbus", port=modbus_port, tags=fast, **extra))
    plcs.append(Endpoint(name=f"{tagmap.plant}-line", protocol="opcua", port=opcua_port, tags=["*"], **extra))
    return EndpointFile(tag_map=tag_map_file, plcs=plcs)
