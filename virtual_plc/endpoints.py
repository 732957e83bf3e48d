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

An OPC UA server that requires security is reached with ``security: Basic256Sha256``,
``mode: Sign`` or ``SignAndEncrypt``, the edge's certificate and key (``twin certs create``
makes a pair), the server's certificate to trust, and a login from a file
(``credentials_file``: YAML with ``username`` and ``password``) or from environment variables
(``credentials_env: PREFIX`` reads ``PREFIX_USERNAME`` and ``PREFIX_PASSWORD``). Files are
relative to the endpoint file; passwords are never logged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from ruamel.yaml import YAML

from qtconfig import ConfigError, line_of, load_yaml_model, read_yaml
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
    security: Literal["none", "Basic256Sha256"] = Field(
        default="none", description="OPC UA security policy: none, or Basic256Sha256 (needs certificate and key)")
    mode: Literal["Sign", "SignAndEncrypt"] = Field(
        default="SignAndEncrypt", description="OPC UA message security mode with Basic256Sha256")
    certificate: str | None = Field(default=None, description="the edge's certificate (DER or PEM), relative to "
                                    "this file; twin certs create makes one")
    private_key: str | None = Field(default=None, description="the edge's private key (PEM), relative to this file")
    server_certificate: str | None = Field(
        default=None, description="the server certificate to trust (DER or PEM), relative to this file; none: the "
                                  "one the server presents")
    application_uri: str = Field(default="urn:quality-twin:edge",
                                 description="the edge's OPC UA application URI (must match its certificate)")
    credentials_file: str | None = Field(
        default=None, description="YAML file with username and password for the OPC UA login, relative to this file")
    credentials_env: str | None = Field(
        default=None, description="environment variable prefix: PREFIX_USERNAME and PREFIX_PASSWORD hold the login")
    read: Literal["auto", "poll", "subscribe"] = Field(
        default="auto", description="OPC UA: poll (one Read per scan) or subscribe (monitored items at each tag's "
                                    "period); auto subscribes in real time and polls in a lockstep run")
    reconnect_min_s: float = Field(default=0.5, gt=0, description="first wait before reconnecting (doubles, with "
                                   "jitter, after each failure)")
    reconnect_max_s: float = Field(default=30.0, gt=0, description="longest wait between reconnect attempts")
    tags: list[str] = Field(default_factory=lambda: ["*"])
    clock: Literal["tagmap", "none"] = Field(
        default="tagmap", description="tagmap: this PLC serves the tag map's clock tag; none: it serves no clock "
                                      "(the edge stamps its samples with its own time)")

    @model_validator(mode="after")
    def _check_security(self) -> Endpoint:
        if self.security != "none":
            if self.protocol != "opcua":
                raise ValueError(f"PLC {self.name}: security applies to OPC UA only (Modbus TCP has none)")
            missing = [k for k in ("certificate", "private_key") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"PLC {self.name}: security {self.security} needs {' and '.join(missing)}")
        if self.credentials_file is not None and self.credentials_env is not None:
            raise ValueError(f"PLC {self.name}: give credentials_file or credentials_env, not both")
        return self

    def with_base(self, base: Path) -> Endpoint:
        """This endpoint with its file fields resolved against ``base`` (the endpoint file's folder)."""
        fields = ("certificate", "private_key", "server_certificate", "credentials_file")
        update = {k: str((base / v).resolve()) for k in fields if (v := getattr(self, k)) is not None}
        return self.model_copy(update=update)

    def login(self) -> tuple[str, str] | None:
        """The OPC UA user name and password (from the file or the environment), or None for anonymous.

        Raises :class:`~qtconfig.ConfigError` naming the file or variable that is missing.
        """
        if self.credentials_env is not None:
            names = (f"{self.credentials_env}_USERNAME", f"{self.credentials_env}_PASSWORD")
            unset = [n for n in names if not os.environ.get(n)]
            if unset:
                raise ConfigError(f"PLC {self.name}", [f"environment variable {n} is not set" for n in unset])
            return os.environ[names[0]], os.environ[names[1]]
        if self.credentials_file is not None:
            doc = read_yaml(self.credentials_file)
            try:
                return str(doc["username"]), str(doc["password"])
            except (KeyError, TypeError):
                raise ConfigError(self.credentials_file, ["needs username and password"]) from None
        return None

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
    spec = spec.model_copy(update={"plcs": [p.with_base(path.resolve().parent) for p in spec.plcs]})
    try:
        tagmap = load_tagmap((path.parent / spec.tag_map).resolve())
    except ConfigError as err:  # name the endpoint file's field first, then the tag map's own problem
        line = line_of(read_yaml(path), ("tag_map",))
        raise ConfigError(path, [f"field tag_map{f' (line {line})' if line else ''}: {err}"]) from None
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
