"""The tag map: every signal and setpoint a PLC exposes, and where to find it on the wire.

A tag map is the contract between a PLC and the edge (ARCHITECTURE.md). Each :class:`Tag`
has a name (``coater.blade3.pressure``), unit, register data type, access (``ro``/``rw``),
engineering range, Modbus table + address + word order + scale, OPC UA node, sample period
and source credibility. Array tags (``length``) occupy ``length`` consecutive elements.

Files: YAML (hand-written; Modbus addresses and OPC UA nodes may be omitted and are then
allocated deterministically) and CSV (the form PLC tag exports take; everything explicit).

Register conventions
--------------------
* ``address`` is the 0-based Modbus PDU address (``mbpoll -0 -r ADDRESS``); in the ``coil``
  and ``discrete`` (input) tables it is a bit address, and only ``bool`` tags live there.
* 32/64-bit types span 2/4 registers; ``word_order`` ``big`` puts the most significant
  word first (ABCD), ``little`` the least significant first (CDAB). ``byte_order`` ``big``
  (the Modbus default) puts the high byte of each register first; ``little`` swaps the two
  bytes of every register (BADC with ``word_order: big``, DCBA with ``little``).
* ``int8``/``uint8`` take the low byte of one register; a ``bool`` in a register table is
  0 or 1 (any non-zero reads as 1).
* Integer types hold ``round(value * scale)``; float types hold ``value * scale``.
* Integer types reserve one raw value as "no value" (NaN): the minimum of a signed type
  and the maximum of an unsigned one, as analog cards do for a broken wire.
* ``string`` takes ``chars`` characters (ASCII, two per register, NUL-padded);
  ``datetime`` is an int64 of milliseconds since 1970-01-01 UTC. Both are *text* tags: stored
  as text in the historian (``text_samples``), shown, never passed to detectors.
* ``unit_id`` on a tag reads it from another unit behind the same gateway (default: the
  endpoint's, else the tag map's).

OPC UA node ids
---------------
``opcua_node`` is any node id asyncua parses: numeric (``ns=3;i=1001``), string
(``ns=3;s=Line.Speed``), GUID (``ns=3;g=...``) or opaque (``ns=3;b=...``). ``ns=N`` is the
server's namespace index N as given; ``nsu=URI;...`` names the namespace by its URI, resolved
when the session opens (servers may renumber indexes when they restart). Without one a tag
gets ``ns=2;s=<name>``, where the virtual PLC serves it.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from qtconfig import (
    ConfigError,
    Conflict,
    Loc,
    check_file,
    describe_validation_error,
    read_text,
    read_yaml,
    validate_document,
)

DType = Literal["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
                "float32", "float64", "string", "datetime"]
Table = Literal["holding", "input", "coil", "discrete"]
Access = Literal["ro", "rw"]
WordOrder = Literal["big", "little"]
SourceKind = Literal["device-direct", "edge-computed", "supplier-reported", "manual-entry"]

REGISTER_WIDTH: dict[str, int] = {  # registers per element; a string's width follows its ``chars``
    "bool": 1,
    "int8": 1,
    "uint8": 1,
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "int64": 4,
    "uint64": 4,
    "float32": 2,
    "float64": 4,
    "datetime": 4,
}
TEXT_TYPES = frozenset({"string", "datetime"})  # stored as text, never passed to detectors
BIT_TABLES = frozenset({"coil", "discrete"})  # Modbus tables of single bits (bool tags only)
TABLES: tuple[str, ...] = ("holding", "input", "coil", "discrete")
DEFAULT_CHARS = 32  # characters of a Modbus string tag that does not say (two per register)
MAX_ADDRESS = 65535
TAG_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
CSV_COLUMNS = [
    "name",
    "unit",
    "dtype",
    "access",
    "low",
    "high",
    "period_ms",
    "length",
    "table",
    "address",
    "word_order",
    "byte_order",
    "scale",
    "unit_id",
    "chars",
    "deadband",
    "opcua_node",
    "credibility",
    "description",
]


class Tag(BaseModel):
    """One PLC tag; see the module docstring for register conventions."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str
    unit: str = ""
    dtype: DType = "float32"
    access: Access = "ro"
    low: float | None = None
    high: float | None = None
    period_ms: int = Field(gt=0)
    length: int | None = Field(default=None, ge=1, description="array length; None for a scalar")
    table: Table = "holding"
    address: int | None = Field(default=None, ge=0, le=MAX_ADDRESS)
    word_order: WordOrder = "big"
    byte_order: WordOrder = "big"
    scale: float = Field(default=1.0, gt=0)
    unit_id: int | None = Field(default=None, ge=0, le=255)
    chars: int | None = Field(default=None, ge=1, le=2 * 125)
    deadband: float | None = Field(default=None, gt=0)
    opcua_node: str | None = None
    credibility: SourceKind | Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=1.0, description="where the value comes from and so how far it is trusted: a source kind "
        "(device-direct, edge-computed, supplier-reported, manual-entry; the asset catalogue turns it into a prior, "
        "1.0 to 0.5), or the prior itself as a number 0-1 (a device-direct source; default 1.0)")
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> Tag:
        if not TAG_NAME.match(self.name):
            raise ValueError(f"tag name {self.name!r} must be dotted words like 'line.asset.signal'")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"tag {self.name}: low ({self.low}) must be below high ({self.high})")
        if self.access == "rw" and self.table not in ("holding", "coil"):
            raise ValueError(f"tag {self.name}: a read-write tag must live in the holding or coil table")
        if self.access == "rw" and self.length is not None:
            raise ValueError(f"tag {self.name}: array tags are read-only")
        if self.table in BIT_TABLES and self.dtype != "bool":
            raise ValueError(f"tag {self.name}: the {self.table} table holds bits; its dtype must be bool")
        if self.is_text and (self.length is not None or self.access == "rw"):
            raise ValueError(f"tag {self.name}: {self.dtype} tags are read-only scalars")
        if self.chars is not None and self.dtype != "string":
            raise ValueError(f"tag {self.name}: chars is for string tags")
        if self.address is not None and self.address + self.n_registers - 1 > MAX_ADDRESS:
            raise ValueError(f"tag {self.name}: registers run past address {MAX_ADDRESS}")
        return self

    @property
    def asset(self) -> str:
        """Asset path: the name without its last dotted segment."""
        return self.name.rsplit(".", 1)[0]

    @property
    def elements(self) -> int:
        """Number of values: 1 for a scalar, ``length`` for an array."""
        return self.length or 1

    @property
    def is_text(self) -> bool:
        """True for ``string`` and ``datetime`` tags: stored as text, never a number."""
        return self.dtype in TEXT_TYPES

    @property
    def is_analog(self) -> bool:
        """True for a number on a continuous scale (not a bool, not text): what detectors watch."""
        return self.dtype != "bool" and not self.is_text

    @property
    def width(self) -> int:
        """Registers (bits, in a bit table) per element."""
        if self.dtype == "string":
            return -(-(self.chars or DEFAULT_CHARS) // 2)
        return REGISTER_WIDTH[self.dtype]

    @property
    def n_registers(self) -> int:
        """Registers the whole tag occupies."""
        return self.width * self.elements

    def element_names(self) -> list[str]:
        """Historian names of the elements: the tag name, or ``name[i]`` for arrays."""
        if self.length is None:
            return [self.name]
        return [f"{self.name}[{i}]" for i in range(self.length)]

    def in_range(self, value: float) -> bool:
        """True when ``value`` lies inside the engineering range (inclusive; an open end admits anything)."""
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


class TagMap(BaseModel):
    """All tags of one PLC (or one plant), with where the OPC UA nodes live."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    plant: str
    opcua_namespace: str = Field(default="", description="namespace URI the virtual PLC serves the tags in "
                                 "(index 2); a real server's namespaces are named in each tag's opcua_node")
    unit_id: int = Field(default=1, ge=0, le=247)
    clock_tag: str | None = Field(
        default=None, description="uint64 tag holding the PLC clock in ms of plant time; none (a real PLC that "
                                  "serves no clock): the edge stamps samples with its own clock")
    tags: list[Tag]
    _index: tuple[list[Tag], dict[str, Tag]] | None = PrivateAttr(default=None)  # (the list it indexes, by name)

    @model_validator(mode="after")
    def _check(self) -> TagMap:
        _check_unique(self.tags, lambda t: t.name, lambda name: "have the same name")
        if self.clock_tag is not None and self.clock_tag not in {t.name for t in self.tags}:
            raise ValueError(f"clock_tag {self.clock_tag!r} is not one of the tags")
        _check_no_overlap(self.tags)  # among the tags with an address; allocation never makes an overlap
        _check_unique(self.tags, lambda t: t.opcua_node, lambda node: f"have the same opcua_node {node}")
        return self

    # ----------------------------------------------------------------- lookups
    def __iter__(self) -> Iterator[Tag]:  # type: ignore[override]
        return iter(self.tags)

    def __len__(self) -> int:
        return len(self.tags)

    def __getitem__(self, name: str) -> Tag:
        found = self._by_name().get(name)
        if found is None:
            raise KeyError(f"no tag named {name!r} in the {self.plant} tag map")
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._by_name()

    def _by_name(self) -> dict[str, Tag]:
        """Tags by name, built on first use (a map of thousands of tags is looked up per tag)."""
        if self._index is None or self._index[0] is not self.tags:  # a copy with other tags brings its own list
            self._index = (self.tags, {t.name: t for t in self.tags})
        return self._index[1]

    def names(self) -> list[str]:
        """Tag names in map order."""
        return [t.name for t in self.tags]

    def select(self, patterns: Iterable[str]) -> list[Tag]:
        """Tags whose name matches any of the shell-style ``patterns``, in map order."""
        return select_tags(self.tags, patterns)

    @property
    def clock(self) -> Tag | None:
        """The PLC clock tag (None: the PLC serves no clock)."""
        return None if self.clock_tag is None else self[self.clock_tag]

    # -------------------------------------------------------------- allocation
    def allocated(self) -> TagMap:
        """A copy in which every tag has a Modbus address and an OPC UA node.

        Tags without an address are placed after the highest explicit address of their
        table, grouped by sample period (so one read covers the tags due together) and
        otherwise in map order; the result is the same for the same input.
        """
        next_free = dict.fromkeys(TABLES, 0)
        for tag in self.tags:
            if tag.address is not None:
                end = tag.address + tag.n_registers
                next_free[tag.table] = max(next_free[tag.table], end)
        order = sorted(range(len(self.tags)), key=lambda i: (self.tags[i].period_ms, i))
        placed: dict[int, Tag] = {}
        for i in order:
            tag = self.tags[i]
            update: dict[str, Any] = {}
            if tag.address is None:
                update["address"] = next_free[tag.table]
                next_free[tag.table] += tag.n_registers
            if tag.opcua_node is None:
                update["opcua_node"] = f"ns=2;s={tag.name}"
            placed[i] = tag.model_copy(update=update) if update else tag
        tags = [placed[i] for i in range(len(self.tags))]
        for table, end in next_free.items():
            if end - 1 > MAX_ADDRESS:
                raise ValueError(f"the {table} table needs {end} registers, more than Modbus has")
        return TagMap(
            plant=self.plant,
            opcua_namespace=self.opcua_namespace,
            unit_id=self.unit_id,
            clock_tag=self.clock_tag,
            tags=tags,
        )

    # ------------------------------------------------------------------- files
    def to_yaml(self, path: str | Path) -> None:
        """Write the map as YAML (every field explicit)."""
        from ruamel.yaml import YAML

        doc = self.model_dump(mode="json", exclude_defaults=False)
        with Path(path).open("w", encoding="utf-8") as fh:
            YAML(typ="safe", pure=True).dump(doc, fh)

    def to_csv(self, path: str | Path) -> None:
        """Write the map as a PLC-style tag export; header fields go in ``#`` comment lines."""
        with Path(path).open("w", encoding="utf-8", newline="") as fh:
            fh.write(f"# plant: {self.plant}\n# opcua_namespace: {self.opcua_namespace}\n")
            fh.write(f"# unit_id: {self.unit_id}\n")
            if self.clock_tag is not None:
                fh.write(f"# clock_tag: {self.clock_tag}\n")
            writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for tag in self.tags:
                row = tag.model_dump(mode="json")
                writer.writerow({k: "" if row[k] is None else row[k] for k in CSV_COLUMNS})


def element_slices(tags: Iterable[Tag]) -> tuple[list[str], dict[str, slice]]:
    """Element names of ``tags`` in order (``tag`` or ``tag[i]``), and each tag's slice of them."""
    names: list[str] = []
    slices: dict[str, slice] = {}
    for tag in tags:
        first = len(names)
        names.extend(tag.element_names())
        slices[tag.name] = slice(first, len(names))
    return names, slices


def select_tags(tags: Iterable[Tag], patterns: Iterable[str]) -> list[Tag]:
    """The ``tags`` whose name matches any of the shell-style ``patterns``, in order."""
    pats = list(patterns)
    exact = {p for p in pats if not any(c in p for c in "*?[")}  # plain names: a set lookup, not a match each
    wild = [p for p in pats if p not in exact]
    return [t for t in tags if t.name in exact or any(fnmatch.fnmatchcase(t.name, p) for p in wild)]


def load_tagmap(path: str | Path) -> TagMap:
    """Load a tag map from ``.yaml``/``.yml`` or ``.csv`` and allocate what is left open.

    Any problem is a :class:`~qtconfig.ConfigError` naming the file and, where there is one, the
    line: a missing file or a folder, bytes that are not UTF-8, a CSV row with more fields than its
    header, a bad field, two tags with one name, register or OPC UA node (both named, each with its line).
    """
    path = check_file(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".yaml", ".yml"):
        raise ConfigError(path, [f"unknown tag map format {path.suffix!r}; use .yaml or .csv"])
    document, lines = _read_csv(path) if suffix == ".csv" else (read_yaml(path), None)
    tagmap = validate_document(TagMap, document, path, lines)
    try:
        return tagmap.allocated()
    except ValidationError as err:  # an allocated OPC UA node another tag names already
        raise ConfigError(path, describe_validation_error(err, document, TagMap, lines)) from None
    except ValueError as err:  # a table fuller than Modbus has
        raise ConfigError(path, [str(err)]) from None


def _read_csv(path: Path) -> tuple[dict[str, Any], Callable[[Loc], int | None]]:
    """A CSV tag map as the document :class:`TagMap` validates, and the line of each of its fields.

    ``# key: value`` lines are the map's own fields; blank lines are left out (line numbers stay the
    file's); a row with more (non-blank) fields than the header is refused, naming its line.
    """
    header: dict[str, str] = {}
    header_lines: dict[str, int] = {}
    kept: list[int] = []  # the file's line number of each line handed to the CSV reader

    def data_lines(text: str) -> Iterator[str]:
        for number, line in enumerate(io.StringIO(text, newline=""), start=1):  # lines end at \n, \r\n or \r
            if line.startswith("#"):
                key, _, value = line[1:].partition(":")
                header[key.strip()], header_lines[key.strip()] = value.strip(), number
            else:
                kept.append(number)
                yield line

    reader = csv.reader(data_lines(read_text(path)))
    records: list[tuple[int, list[str]]] = []
    read = 0  # lines the reader has taken: the next record starts at the file's line kept[read]
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                records.append((kept[read], cells))
            read = reader.line_num
    except csv.Error as err:
        raise ConfigError(path, [f"line {kept[min(read, len(kept) - 1)]}: not readable as CSV: {err}"]) from None
    if not records:
        raise ConfigError(path, ["no CSV header line (name,unit,dtype,...)"])
    (header_line, columns), rows = records[0], records[1:]
    missing = [c for c in ("name", "period_ms") if c not in columns]
    twice = sorted({c for c in columns if c and columns.count(c) > 1})
    if missing or twice:
        problem = f"lacks column(s) {', '.join(missing)}" if missing else f"names column(s) twice: {', '.join(twice)}"
        raise ConfigError(path, [f"line {header_line}: the CSV header {problem}"])
    tags: list[dict[str, Any]] = []
    for number, cells in rows:
        if any(cell.strip() for cell in cells[len(columns):]):  # blank cells past the header are no harm
            raise ConfigError(path, [f"line {number}: {len(cells)} fields, but the header (line {header_line}) "
                                     f"has {len(columns)}: a comma in an unquoted cell?"])
        tags.append({k: v for k, v in zip(columns, cells) if k and v != ""})
    row_lines = [number for number, _ in rows]

    def lines(loc: Loc) -> int | None:
        if len(loc) >= 2 and loc[0] == "tags" and isinstance(loc[1], int) and 0 <= loc[1] < len(row_lines):
            return row_lines[loc[1]]
        return header_lines.get(str(loc[0])) if loc else None

    return {**header, "tags": tags}, lines


def _check_unique(tags: list[Tag], key: Callable[[Tag], str | None], what: Callable[[str], str]) -> None:
    """Raise a :class:`~qtconfig.Conflict` naming the first two tags with the same ``key`` (None: not compared),
    saying ``what(key)`` of them."""
    first: dict[str, int] = {}
    for i, tag in enumerate(tags):
        value = key(tag)
        if value is None:
            continue
        if value in first:
            j = first[value]
            raise Conflict("tags", [(("tags", j), tags[j].name), (("tags", i), tag.name)], what(value))
        first[value] = i


def _check_no_overlap(tags: list[Tag]) -> None:
    """Raise a :class:`~qtconfig.Conflict` naming both tags when two tags with an address share a register."""
    for table in TABLES:
        placed = sorted((t.unit_id is not None, t.unit_id or 0, t.address, i)
                        for i, t in enumerate(tags) if t.table == table and t.address is not None)
        for (_, _, start, i), (_, _, next_start, j) in zip(placed, placed[1:]):
            a, b = tags[i], tags[j]
            if a.unit_id == b.unit_id and next_start < start + a.n_registers:
                raise Conflict("tags", [(("tags", i), a.name), (("tags", j), b.name)],
                               f"overlap in the {table} table (register {next_start})")
