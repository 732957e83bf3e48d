"""Tag maps from the tag exports engineers hand over, and a tag map as Kepware's CSV.

Three readers, one result (:class:`ImportResult`):

* ``kepware`` — a KEPServerEX CSV tag export (File > Export CSV of a device or tag group);
* ``tia`` — a Siemens TIA Portal PLC tag table export (.xlsx, sheet ``PLC Tags``);
* ``rockwell`` — a Rockwell Studio 5000 / RSLogix 5000 tag CSV export (``remark`` lines, a
  version line, then ``TYPE,SCOPE,NAME,DESCRIPTION,DATATYPE,SPECIFIER,ATTRIBUTES``).

A row that cannot become a tag (a Boolean, a String, a number that is not one, a structure) is
skipped and named by file, row and column in :attr:`ImportResult.skipped`; nothing is dropped
silently. What the exports lack is filled with the defaults documented on the tag-map reference
page ("Importing a plant's tag export"): the data type's range (floats: ±1e9, ``FLOAT_RANGE``),
a period of 1000 ms (``DEFAULT_PERIOD_MS``), Modbus addresses and OPC UA nodes left to allocation,
and no clock tag when the export has none (the edge then stamps samples with its own time).
Every name is put under the plant (``<plant>.<name>``) and made of dotted words; a name that had
to change is noted.

:func:`write_kepware_csv` writes any tag map in Kepware's CSV import format; reading that file
back with :func:`import_tags` gives the same tags (names, types, units, ranges, periods, access,
scales, array lengths and tables).
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from qtconfig import ConfigError
from virtual_plc.codec import value_range
from virtual_plc.tagmap import DType, Tag, TagMap

FORMATS: tuple[str, ...] = ("kepware", "tia", "rockwell")
DEFAULT_PERIOD_MS = 1000
FLOAT_RANGE = 1e9
_FLOAT_RANGE_TEXT = "±1e9"
CLOCK_SEGMENT = "clock_ms"
KEPWARE_COLUMNS = [
    "Tag Name", "Address", "Data Type", "Respect Data Type", "Client Access", "Scan Rate", "Scaling",
    "Raw Low", "Raw High", "Scaled Low", "Scaled High", "Scaled Data Type", "Clamp Low", "Clamp High",
    "Eng Units", "Description", "Negate Value",
]
TIA_SHEET = "PLC Tags"
TIA_COLUMNS = ["Name", "Path", "Data Type", "Logical Address", "Comment", "Hmi Visible", "Hmi Accessible",
               "Hmi Writeable", "Typeobject ID", "Version ID"]
ROCKWELL_COLUMNS = ["TYPE", "SCOPE", "NAME", "DESCRIPTION", "DATATYPE", "SPECIFIER", "ATTRIBUTES"]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class RowNote:
    """A row of an export, the column concerned and what happened to it (why skipped, what changed)."""

    file: str
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: row {self.row}, column {self.column!r}: {self.message}"


@dataclass(frozen=True)
class ImportResult:
    """A tag map read from a vendor export, with every skipped row and every change named.

    ``rows`` counts the export's data rows (header, remarks and blank lines not counted); each
    became a tag (``imported``) or is in ``skipped``. ``notes`` name rows imported with a change
    (a renamed tag, a writable array made read-only, a scaling the map cannot hold); ``remarks``
    are about the whole map (defaulted ranges, a missing clock tag).
    """

    tagmap: TagMap
    fmt: str
    file: Path
    rows: int
    imported: int
    skipped: list[RowNote]
    notes: list[RowNote]
    remarks: list[str]

    def skipped_by_reason(self) -> dict[str, int]:
        """How many rows were skipped for each reason (a data type's reason is one line for all its rows)."""
        counts: dict[str, int] = {}
        for note in self.skipped:
            counts[note.message] = counts.get(note.message, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: -item[1]))


# --------------------------------------------------------------------------- reading rows


class _Skip(Exception):
    """This row cannot become a tag; ``column`` is where the reason is."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def _key(column: str) -> str:
    """Columns are matched case-insensitively, ignoring dots and surrounding spaces ("Eng. Units")."""
    return column.strip().lower().replace(".", "")


@dataclass(frozen=True)
class _Row:
    """One data row: its number in the file (as an editor or a spreadsheet shows it) and its cells."""

    number: int
    cells: dict[str, str]

    def text(self, column: str) -> str:
        """The cell of ``column``, stripped; empty when the column is missing."""
        return self.cells.get(_key(column), "").strip()

    def number_or_none(self, column: str) -> float | None:
        """The cell as a finite number, None when empty; anything else skips the row."""
        value = self.text(column)
        if not value:
            return None
        try:
            number = float(value)
        except ValueError:
            raise _Skip(column, f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise _Skip(column, f"{value!r} is not a finite number")
        return number

    def required_number(self, column: str) -> float:
        """The cell as a finite number; empty skips the row."""
        number = self.number_or_none(column)
        if number is None:
            raise _Skip(column, "empty; a number is needed here")
        return number


def _decode(path: Path) -> str:
    """The file's text: UTF-16 by its byte-order mark, else UTF-8 (with or without BOM), else Windows-1252."""
    if not path.is_file():
        raise ConfigError(path, ["file not found"])
    data = path.read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _table(path: Path, lines: list[tuple[int, list[str]]], first: str, required: list[str], what: str) -> list[_Row]:
    """Rows after the header line (the first whose first cell is ``first``), keyed by header; blank rows left out."""
    index = next((i for i, (_, cells) in enumerate(lines) if cells and _key(cells[0]) == _key(first)), None)
    if index is None:
        raise ConfigError(path, [f"no header line starting with {first!r}: not a {what}"])
    header = [_key(c) for c in lines[index][1]]
    missing = [c for c in required if _key(c) not in header]
    if missing:
        raise ConfigError(path, [f"the header lacks column(s) {', '.join(missing)}: not a {what}"])
    rows = []
    for number, cells in lines[index + 1:]:
        if any(c.strip() for c in cells):
            rows.append(_Row(number, {k: v for k, v in zip(header, cells) if k}))
    return rows


def _csv_lines(path: Path, first: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every CSV record; ``;`` is the delimiter when the header line uses it."""
    text = _decode(path)
    header = next((line for line in text.splitlines() if _key(line.strip().strip('"')).startswith(_key(first))), "")
    delimiter = ";" if header.count(";") > header.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    lines = []
    try:
        for cells in reader:
            lines.append((reader.line_num, cells))
    except csv.Error as err:
        raise ConfigError(path, [f"line {reader.line_num}: not readable as CSV: {err}"]) from None
    return lines


def _xlsx_lines(path: Path, sheet: str) -> list[tuple[int, list[str]]]:
    """(row number, cells as text) of one sheet of an Excel workbook."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    if not path.is_file():
        raise ConfigError(path, ["file not found"])
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError) as err:
        raise ConfigError(path, [f"not an Excel workbook (.xlsx): {err}"]) from None
    try:
        names = {name.lower(): name for name in book.sheetnames}
        if sheet.lower() not in names:
            raise ConfigError(path, [f"no sheet {sheet!r} (sheets: {', '.join(book.sheetnames)})"])
        rows = book[names[sheet.lower()]].iter_rows(values_only=True)
        return [(number, [_cell_text(v) for v in values]) for number, values in enumerate(rows, start=1)]
    finally:
        book.close()


def _cell_text(value: Any) -> str:
    """A spreadsheet cell as the text it shows: whole floats without ``.0``, empty cells empty."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class _Type:
    """Our register type for a vendor type, and the range its values can take (None: a float)."""

    dtype: DType
    low: float | None = None
    high: float | None = None


def _integer(dtype: DType) -> _Type:
    """An integer type over every raw value it carries: the codec reserves one for "no value"."""
    return _Type(dtype, *value_range(dtype))  # type: ignore[misc]


_I8, _U8 = _Type("int16", -128, 127), _Type("uint16", 0, 255)  # 8-bit types widen to 16 bits, keeping their range
_I16, _U16 = _integer("int16"), _integer("uint16")
_I32, _U32 = _integer("int32"), _integer("uint32")
_U64 = _Type("uint64", 0, 2**53)  # 2**53: the largest count a double holds exactly
_F32, _F64 = _Type("float32"), _Type("float64")

KEPWARE_TYPES: dict[str, _Type] = {
    "char": _I8, "byte": _U8, "short": _I16, "word": _U16, "bcd": _Type("uint16", 0, 9999), "long": _I32,
    "dword": _U32, "lbcd": _Type("uint32", 0, 99_999_999), "float": _F32, "double": _F64, "qword": _U64,
}
TIA_TYPES: dict[str, _Type] = {
    "sint": _I8, "usint": _U8, "byte": _U8, "int": _I16, "uint": _U16, "word": _U16, "dint": _I32,
    "udint": _U32, "dword": _U32, "ulint": _U64, "lword": _U64, "real": _F32, "lreal": _F64,
}
ROCKWELL_TYPES: dict[str, _Type] = {
    "sint": _I8, "usint": _U8, "int": _I16, "uint": _U16, "dint": _I32, "udint": _U32, "ulint": _U64,
    "real": _F32, "lreal": _F64,
}
# vendor types the tag map has no type for yet (they are skipped, and say which type is missing)
_NOT_YET = {
    **dict.fromkeys(["bool", "boolean"], "bool"),
    **dict.fromkeys(["string", "wstring", "char", "wchar"], "string"),
    **dict.fromkeys(["date", "time", "ltime", "s5time", "time_of_day", "tod", "ltod", "date_and_time", "dt", "ldt",
                     "dtl"], "date/time"),
    **dict.fromkeys(["lint", "llong"], "int64"),
}


def _type_of(column: str, vendor: str, table: dict[str, _Type]) -> _Type:
    """Our type for the vendor's ``vendor`` type; a type we cannot represent skips the row."""
    key = vendor.strip().lower()
    if key in table:
        return table[key]
    if not key:
        raise _Skip(column, "no data type")
    if key in _NOT_YET:
        raise _Skip(column, f"data type {vendor!r}: the tag map has no {_NOT_YET[key]} type yet")
    if key == "default":
        raise _Skip(column, "data type 'Default' (the driver's choice): set the tag's type in the export")
    raise _Skip(column, f"data type {vendor!r} is not a numeric type the tag map knows ({', '.join(sorted(table))})")


# --------------------------------------------------------------------------- a row becomes a draft tag


@dataclass
class _Draft:
    """What a row says about its tag, before its name is normalised and the tag validated."""

    name: str
    name_column: str
    fields: dict[str, Any]
    notes: list[tuple[str, str]] = field(default_factory=list)
    default_range: bool = False


def _draft(name: str, name_column: str, kind: _Type, *, low: float | None = None, high: float | None = None,
           description: str = "", where: str = "", **fields: Any) -> _Draft:
    """A draft tag: ``low``/``high`` default to the type's range (floats: ±FLOAT_RANGE, said in the description)."""
    if not name:
        raise _Skip(name_column, "no tag name")
    if low is None or high is None:
        low, high = kind.low, kind.high
    default_range = low is None or high is None  # a float the export gives no range for
    if default_range:
        low, high = -FLOAT_RANGE, FLOAT_RANGE
        where = "; ".join(part for part in (where, f"range not in the export: default {_FLOAT_RANGE_TEXT}") if part)
    if where:  # a map exported and imported again keeps one note of the same vendor, the new one
        description = re.sub(rf"\s*\[{re.escape(where.split()[0])} [^\]]*\]$", "", description)
    text = " ".join(part for part in (description, f"[{where}]" if where else "") if part)
    return _Draft(name, name_column, {"dtype": kind.dtype, "low": low, "high": high, "description": text, **fields},
                  default_range=default_range)


def _period(row: _Row, column: str) -> int:
    """A sample period in ms from ``column``; DEFAULT_PERIOD_MS when empty or 0 (the vendor's "default")."""
    value = row.number_or_none(column)
    if value is None or value == 0:
        return DEFAULT_PERIOD_MS
    if value < 0 or not value.is_integer():
        raise _Skip(column, f"{row.text(column)!r} is not a period in whole milliseconds")
    return int(value)


def _read_only_array(draft: _Draft, column: str) -> _Draft:
    """Array tags are read-only in the tag map: a writable array becomes read-only, and says so."""
    if draft.fields.get("length") is not None and draft.fields.get("access") == "rw":
        draft.fields["access"] = "ro"
        draft.notes.append((column, "an array tag: imported read-only (array tags are read-only in the tag map)"))
    return draft


_KEPWARE_ARRAY = re.compile(r"\[\s*(\d+)\s*\](?:\s*\[\s*(\d+)\s*\])?\s*$")
_INPUT_REGISTER = re.compile(r"^3\d{4,5}\b")
_KEPWARE_ACCESS = {"ro": "ro", "r/o": "ro", "rw": "rw", "r/w": "rw", "wo": "rw", "": "ro"}


def _kepware_tag(row: _Row) -> _Draft:
    """A Kepware row: Tag Name, Address, Data Type, Client Access, Scan Rate, scaling, Eng Units, Description."""
    vendor_type = row.text("Data Type")
    is_array = vendor_type.lower().endswith(" array")
    kind = _type_of("Data Type", vendor_type[: -len(" array")] if is_array else vendor_type, KEPWARE_TYPES)
    address = row.text("Address")
    length = None
    if is_array:
        dims = _KEPWARE_ARRAY.search(address)
        if not dims:
            raise _Skip("Address", f"{address!r}: an array tag needs [columns] or [rows][columns] after the address")
        length = int(dims.group(1)) * int(dims.group(2) or 1)
        if length < 1:
            raise _Skip("Address", f"{address!r}: an array of no elements")
    access = _KEPWARE_ACCESS.get(row.text("Client Access").lower())
    if access is None:
        raise _Skip("Client Access", f"{row.text('Client Access')!r} is not RO, R/W or WO")
    table = "input" if _INPUT_REGISTER.match(address) else "holding"
    if access == "rw" and table == "input":
        raise _Skip("Client Access", f"R/W on input register {address}, which Modbus cannot write")
    kind, scale, low, high, note = _kepware_scaling(row, kind)
    draft = _draft(row.text("Tag Name"), "Tag Name", kind, low=low, high=high, description=row.text("Description"),
                   where=f"Kepware address {address}" if address else "", unit=row.text("Eng Units"), access=access,
                   period_ms=_period(row, "Scan Rate"), length=length, table=table, scale=scale)
    if note:
        draft.notes.append(("Scaling", note))
    return _read_only_array(draft, "Data Type")


def _kepware_scaling(row: _Row, kind: _Type) -> tuple[_Type, float, float | None, float | None, str]:
    """(type, scale, low, high, note) from Kepware's scaling columns.

    No scaling: the data type's range. Linear scaling through zero (raw = scaled × k): the raw type
    with ``scale`` k and the scaled range, as the tag map encodes it. Any other scaling (an offset,
    Square Root): the Scaled Data Type and range, scale 1, as Kepware's clients read the value.
    """
    scaling = row.text("Scaling")
    if scaling.lower() in ("", "none"):
        return kind, 1.0, None, None, ""
    if scaling.lower() not in ("linear", "square root"):
        raise _Skip("Scaling", f"{scaling!r} is not Linear or Square Root")
    raw_low, raw_high = row.required_number("Raw Low"), row.required_number("Raw High")
    low, high = row.required_number("Scaled Low"), row.required_number("Scaled High")
    if not low < high:
        raise _Skip("Scaled High", f"Scaled High ({high:g}) must be above Scaled Low ({low:g})")
    if raw_low == raw_high:
        raise _Skip("Raw High", f"Raw High equals Raw Low ({raw_low:g})")
    # k from the end farther from zero (one ratio: no cancellation), checked at the other end
    far, near = ((raw_high, high), (raw_low, low)) if abs(high) >= abs(low) else ((raw_low, low), (raw_high, high))
    k = far[0] / far[1]
    if scaling.lower() == "linear" and k > 0 and abs(near[0] - near[1] * k) <= 1e-9 * max(abs(raw_low), abs(raw_high)):
        return kind, float(f"{k:.12g}"), low, high, ""
    scaled = _type_of("Scaled Data Type", row.text("Scaled Data Type") or "Double", KEPWARE_TYPES)
    note = (f"Kepware scales raw {raw_low:g}…{raw_high:g} to {low:g}…{high:g} ({scaling}): imported as the scaled "
            f"{scaled.dtype} value Kepware's clients read, scale 1")
    return scaled, 1.0, low, high, note


_TRUE, _FALSE = {"true", "1", "yes", "x"}, {"false", "0", "no", ""}


def _tia_tag(row: _Row) -> _Draft:
    """A TIA row: Name, Path, Data Type, Logical Address, Comment, Hmi Writeable."""
    writable = row.text("Hmi Writeable").lower()
    if writable not in _TRUE | _FALSE:
        raise _Skip("Hmi Writeable", f"{row.text('Hmi Writeable')!r} is not True or False")
    address, table = row.text("Logical Address"), row.text("Path")
    where = ", ".join(part for part in (address and f"TIA {address}", table and f"tag table {table}") if part)
    return _draft(row.text("Name"), "Name", _type_of("Data Type", row.text("Data Type"), TIA_TYPES),
                  description=row.text("Comment"), where=where, access="rw" if writable in _TRUE else "ro",
                  period_ms=DEFAULT_PERIOD_MS)


_LOGIX_ARRAY = re.compile(r"^(\w+)\[([^\]]*)\]$")
_LOGIX_ESCAPES = {"$": "$", "Q": '"', "'": "'", "N": " ", "L": " ", "R": " ", "T": " ", "P": " "}


def _rockwell_tag(row: _Row) -> _Draft:
    """A Studio 5000 row: TYPE, SCOPE, NAME, DESCRIPTION, DATATYPE, ATTRIBUTES (SPECIFIER of aliases and comments)."""
    row_type = row.text("TYPE").upper()
    if row_type == "ALIAS":
        raise _Skip("TYPE", f"an alias of {row.text('SPECIFIER') or '?'}: its base tag is imported from its own row")
    if row_type != "TAG":
        raise _Skip("TYPE", f"a {row_type or 'blank'} row, not a tag")
    base, length = _logix_datatype(row.text("DATATYPE"))
    kind = _type_of("DATATYPE", base, ROCKWELL_TYPES)
    attributes = _logix_attributes(row.text("ATTRIBUTES"))
    external = attributes.get("externalaccess", "Read/Write")
    if external.lower() == "none":
        raise _Skip("ATTRIBUTES", "ExternalAccess := None: no client can read it")
    writable = external.lower() == "read/write" and attributes.get("constant", "false").lower() != "true"
    scope, name = row.text("SCOPE"), row.text("NAME")
    draft = _draft(f"{scope}.{name}" if scope and name else name, "NAME", kind,
                   description=_logix_unescape(row.text("DESCRIPTION")),
                   where=f"Logix tag {f'Program:{scope}.' if scope else ''}{name}", access="rw" if writable else "ro",
                   period_ms=DEFAULT_PERIOD_MS, length=length)
    return _read_only_array(draft, "ATTRIBUTES")


def _logix_datatype(datatype: str) -> tuple[str, int | None]:
    """``REAL`` -> ("REAL", None); ``REAL[10]`` -> ("REAL", 10); ``DINT[2,5]`` -> ("DINT", 10)."""
    match = _LOGIX_ARRAY.match(datatype.replace(" ", ""))
    if not match:
        return datatype, None
    try:
        dims = [int(d) for d in match.group(2).split(",")]
    except ValueError:
        raise _Skip("DATATYPE", f"{datatype!r}: array size {match.group(2)!r} is not a whole number") from None
    if min(dims) < 1:
        raise _Skip("DATATYPE", f"{datatype!r}: an array of no elements")
    return match.group(1), math.prod(dims)


def _logix_attributes(text: str) -> dict[str, str]:
    """``(RADIX := Float, Constant := false, ExternalAccess := Read/Write)`` -> lower-case keys to values."""
    pairs = (part.split(":=", 1) for part in text.strip().strip("()").split(",") if ":=" in part)
    return {key.strip().lower(): value.strip() for key, value in pairs}


def _logix_unescape(text: str) -> str:
    """Logix description escapes: ``$$`` ``$Q`` ``$'``; line breaks and tabs (``$N`` ``$L`` ``$R`` ``$T``) -> space."""
    return re.sub(r"\$(.)", lambda m: _LOGIX_ESCAPES.get(m.group(1).upper(), m.group(0)), text).strip()


# --------------------------------------------------------------------------- the formats


def _read_kepware(path: Path) -> list[_Row]:
    return _table(path, _csv_lines(path, "Tag Name"), "Tag Name", ["Tag Name", "Address", "Data Type"],
                  "Kepware CSV tag export")


def _read_tia(path: Path) -> list[_Row]:
    return _table(path, _xlsx_lines(path, TIA_SHEET), "Name", ["Name", "Data Type"],
                  f"TIA Portal PLC tag export (sheet {TIA_SHEET!r})")


def _read_rockwell(path: Path) -> list[_Row]:
    return _table(path, _csv_lines(path, "TYPE"), "TYPE", ["TYPE", "NAME", "DATATYPE"],
                  "Studio 5000 tag CSV export")


_FORMATS: dict[str, tuple[Callable[[Path], list[_Row]], Callable[[_Row], _Draft]]] = {
    "kepware": (_read_kepware, _kepware_tag),
    "tia": (_read_tia, _tia_tag),
    "rockwell": (_read_rockwell, _rockwell_tag),
}


# --------------------------------------------------------------------------- names, the clock, the map


def name_segment(text: str) -> str:
    """``text`` as one word of a tag name: other characters become ``_``, a leading digit gets a ``_``.

    >>> name_segment("Line 1 Speed#2"), name_segment("2nd-pump")
    ('Line_1_Speed_2', '_2nd_pump')
    """
    word = re.sub(r"\W", "_", text.strip())
    return word if re.match(r"[A-Za-z_]", word) else f"_{word}"


def tag_name(vendor_name: str, plant: str) -> str:
    """Our name for a vendor's tag name: dotted words (see :func:`name_segment`) under the plant.

    >>> tag_name("Oven.Zone 1.Temp", "line1"), tag_name("line1.Tank_Level", "line1")
    ('line1.Oven.Zone_1.Temp', 'line1.Tank_Level')
    """
    prefix = name_segment(plant)
    words = [name_segment(part) for part in vendor_name.split(".") if part.strip()]
    return ".".join(words if words[:1] == [prefix] else [prefix, *words])


def import_tags(path: str | Path, fmt: str, plant: str | None = None) -> ImportResult:
    """Read a ``kepware``, ``tia`` or ``rockwell`` tag export into a tag map.

    ``plant`` defaults to the file's name. A file that cannot be read at all (missing, not the
    format, no header) raises :class:`~qtconfig.ConfigError`; a row that cannot
    become a tag is skipped and named in the result.
    """
    path = Path(path)
    if fmt not in _FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use {', '.join(FORMATS)}")
    read, convert = _FORMATS[fmt]
    plant = plant or name_segment(path.stem)
    rows = read(path)
    tags: list[Tag] = []
    skipped: list[RowNote] = []
    notes: list[RowNote] = []
    row_of: dict[str, int] = {}
    defaulted = 0
    for row in rows:
        try:
            draft = convert(row)
            name = tag_name(draft.name, plant)
            if name in row_of:
                raise _Skip(draft.name_column, f"{name} is already the tag of row {row_of[name]}")
            tag = _validated(draft, name)
        except _Skip as skip:
            skipped.append(RowNote(str(path), row.number, skip.column, skip.reason))
            continue
        row_of[name] = row.number
        tags.append(tag)
        defaulted += draft.default_range
        if any(name_segment(word) != word for word in draft.name.split(".")):
            notes.append(RowNote(str(path), row.number, draft.name_column, f"name {draft.name!r} became {name}"))
        notes.extend(RowNote(str(path), row.number, column, message) for column, message in draft.notes)
    remarks = []
    if defaulted:
        remarks.append(f"{defaulted} float tag(s) have no range in the export: low/high set to {_FLOAT_RANGE_TEXT} "
                       "(said in their description); set the real range before detection uses it")
    imported = len(tags)
    clock = _imported_clock(tags)
    if clock is None:
        remarks.append("no clock tag in the export (a uint64 tag named ...clock_ms): the edge stamps samples "
                       "with its own time")
    tagmap = TagMap(plant=plant, opcua_namespace=f"urn:quality-twin:{plant}",
                    clock_tag=None if clock is None else clock.name, tags=tags)
    return ImportResult(tagmap, fmt, path, len(rows), imported, skipped, notes, remarks)


def _validated(draft: _Draft, name: str) -> Tag:
    """The tag, or a skip naming the row's name column with what the tag map refuses."""
    try:
        return Tag(name=name, **draft.fields)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'tag'}: {e['msg']}" for e in err.errors())
        raise _Skip(draft.name_column, problems) from None


def _imported_clock(tags: list[Tag]) -> Tag | None:
    """The first imported uint64 tag whose last word is ``clock_ms``, if any."""
    return next((t for t in tags if t.dtype == "uint64" and t.name.rsplit(".", 1)[-1] == CLOCK_SEGMENT), None)


# --------------------------------------------------------------------------- Kepware CSV out

_KEPWARE_NAMES: dict[str, str] = {
    "int16": "Short", "uint16": "Word", "int32": "Long", "uint32": "DWord", "float32": "Float", "float64": "Double",
    "uint64": "QWord",
}


def _number_text(value: float) -> str:
    """A number as Kepware shows it: whole numbers without a decimal point, others exactly (shortest repr)."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e16 else repr(float(value))


def kepware_address(tag: Tag) -> str:
    """The tag's Modbus register in Kepware's 6-digit form: 4xxxxx holding, 3xxxxx input, ``[n]`` for arrays.

    >>> kepware_address(Tag(name="a.b", low=0, high=1, period_ms=10, address=0, table="input", length=8))
    '300001[8]'
    """
    if tag.address is None:
        raise ValueError(f"tag {tag.name} has no Modbus address; allocate the map first")
    prefix = "4" if tag.table == "holding" else "3"
    return f"{prefix}{tag.address + 1:05d}" + (f"[{tag.length}]" if tag.length else "")


def kepware_rows(tagmap: TagMap) -> list[dict[str, str]]:
    """One Kepware CSV row per tag (map allocated first): the range as linear scaling raw = value × scale."""
    rows = []
    for tag in tagmap.allocated().tags:
        dtype = _KEPWARE_NAMES[tag.dtype]
        rows.append({
            "Tag Name": tag.name, "Address": kepware_address(tag),
            "Data Type": f"{dtype} Array" if tag.length else dtype, "Respect Data Type": "1",
            "Client Access": "R/W" if tag.access == "rw" else "RO", "Scan Rate": str(tag.period_ms),
            "Scaling": "Linear", "Raw Low": _number_text(tag.low * tag.scale),
            "Raw High": _number_text(tag.high * tag.scale), "Scaled Low": _number_text(tag.low),
            "Scaled High": _number_text(tag.high),
            "Scaled Data Type": "Float" if tag.dtype in ("float32", "int16", "uint16") else "Double",
            "Clamp Low": "0", "Clamp High": "0", "Eng Units": tag.unit, "Description": tag.description,
            "Negate Value": "0",
        })
    return rows


def write_kepware_csv(tagmap: TagMap, path: str | Path) -> None:
    """Write ``tagmap`` as a Kepware CSV tag import (every cell quoted, CRLF, as Kepware writes it)."""
    with Path(path).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=KEPWARE_COLUMNS, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(kepware_rows(tagmap))
