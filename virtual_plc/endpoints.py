"""The endpoint file: where the edge finds each PLC, and which tags it reads from which.

This file is all the edge knows about a line. For a virtual line the runner writes one
next to the run; for a real line an engineer writes it by hand::

    tag_map: coater.tags.csv          # relative to this file
    plcs:
      - name: coating-head
        protocol: modbus
        host: 127.0.0.1
        port: 5020
        tags: ["coater.blade*", "coater.coolant.*"]
      - name: line
        protocol: opcua
        host: 127.0.0.1
        port: 4840
        tags: ["*"]                    # everything not taken by an earlier PLC

Each tag is read from the first PLC whose ``tags`` patterns match it; the clock tag is
read from every PLC. A tag no PLC takes is an error, named in the message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from ruamel.yaml import YAML

from qtconfig import ConfigError, load_yaml_model
from virtual_plc.tagmap import Tag, TagMap, load_tagmap, select_tags


class Endpoint(BaseModel):
    """One PLC connection."""

    model_config = ConfigDict(extra="forbid")

    name: str
    protocol: Literal["modbus", "opcua"]
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    unit_id: int | None = Field(default=None, ge=0, le=247, description="Modbus unit; default from the tag map")
    timeout_s: float = Field(default=1.0, gt=0)
    security: Literal["none"] = Field(default="none", description="only unsecured sessions are implemented so far")
    tags: list[str] = Field(default_factory=lambda: ["*"])
    clock: Literal["tagmap", "none"] = Field(
        default="tagmap", description="tagmap: this PLC serves the tag map's clock tag; none: it serves no clock "
                                      "(the edge stamps its samples with its own time)")

    @property
    def url(self) -> str:
        """``opc.tcp://host:port`` for OPC UA, ``modbus://host:port`` for Modbus."""
        scheme = "opc.tcp" if self.protocol == "opcua" else "modbus"
        return f"{scheme}://{self.host}:{self.port}"


def endpoint_clock(endpoint: Endpoint, tagmap: TagMap) -> Tag | None:
    """The clock tag a PLC serves: the tag map's, unless the endpoint says ``clock: none`` (or the map has none)."""
    return None if endpoint.clock == "none" else tagmap.clock


class EndpointFile(BaseModel):
    """A whole endpoint file."""

    model_config = ConfigDict(extra="forbid")

    tag_map: str
    plcs: list[Endpoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> EndpointFile:
        names = [p.name for p in self.plcs]
        if len(set(names)) != len(names):
            raise ValueError(f"PLC names must be unique, got {names}")
        return self

    def save(self, path: str | Path) -> None:
        """Write the endpoint file as YAML."""
        with Path(path).open("w", encoding="utf-8") as fh:
            YAML(typ="safe", pure=True).dump(self.model_dump(mode="json"), fh)


class ResolvedEndpoints(BaseModel):
    """An endpoint file with its tag map loaded and every tag assigned to one PLC."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    tagmap: TagMap
    assignments: list[tuple[Endpoint, list[Tag]]]


def read_endpoint_file(path: str | Path) -> EndpointFile:
    """Read and validate an endpoint file (its tag map is not loaded)."""
    return load_yaml_model(EndpointFile, path)


def load_endpoints(path: str | Path) -> ResolvedEndpoints:
    """Load an endpoint file and its tag map; assign each tag to the first PLC that takes it."""
    path = Path(path)
    spec = read_endpoint_file(path)
    tagmap = load_tagmap((path.parent / spec.tag_map).resolve())
    return resolve(spec, tagmap, path)


def resolve(spec: EndpointFile, tagmap: TagMap, origin: str | Path = "<endpoints>") -> ResolvedEndpoints:
    """Assign the tags of ``tagmap`` to the PLCs of ``spec`` (first match wins)."""
    remaining = [t for t in tagmap.tags if t.name != tagmap.clock_tag]
    assignments: list[tuple[Endpoint, list[Tag]]] = []
    for plc in spec.plcs:
        taken = select_tags(remaining, plc.tags)
        taken_names = {t.name for t in taken}
        remaining = [t for t in remaining if t.name not in taken_names]
        assignments.append((plc, taken))
    if remaining:
        shown = ", ".join(t.name for t in remaining[:10]) + (" ..." if len(remaining) > 10 else "")
        raise ConfigError(origin, [f"no PLC in the endpoint file reads these tags: {shown}"])
    return ResolvedEndpoints(tagmap=tagmap, assignments=assignments)
