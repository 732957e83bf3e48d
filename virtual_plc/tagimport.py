"""Tag maps from the tag exports engineers hand over, and a tag map as Kepware's CSV.

Three readers, one result (:class:`ImportResult`):

* ``kepware`` — a KEPServerEX CSV tag export (File > Export CSV of a device or tag group);
* ``tia`` — a Siemens TIA Portal PLC tag table export (.xlsx, sheet ``PLC Tags``);
* ``rockwell`` — a Rockwell Studio 5000 / RSLogix 5000 tag CSV export (``remark`` lines, a
  version line, then ``TYPE,SCOPE,NAME,DESCRIPTION,DATATYPE,SPECIFIER,ATTRIBUTES``).

Every vendor type the tag map can hold becomes its ``dtype`` (booleans, 8- to 64-bit integers,
floats, strings with their length in ``chars``, dates and times as ``datetime``; the tables are in
the how-to "Import a plant's tag export"). A row that cannot become a tag (a structure, packed BCD,
a bit inside a register, a number that is not one) is skipped and named by file, row and column in
:attr:`ImportResult.skipped`; nothing is dropped silently. What the exports lack is filled with
documented defaults: an integer type's range (:func:`type_range`) when the export gives none, no
range at all (``low``/``high`` None) for floats, bools and text; a period of 1000 ms
(``DEFAULT_PERIOD_MS``); Modbus addresses and OPC UA nodes left to allocation (Kepware's Modbus
address still gives the table, a string's length and byte order); no clock tag when the export has
none (the edge then stamps samples with its own time). Every name is put under the plant
(``<plant>.<name>``) and made of dotted words; a name that had to change is noted.

:func:`write_kepware_csv` writes a tag map in Kepware's CSV import format; reading that file back
with :func:`import_tags` gives the same tags (names, types, units, ranges, periods, access, scales,
array lengths, tables, string lengths and byte orders). What Kepware's CSV cannot say (a unit id
per tag, a scaled float without a range) is refused with :class:`KepwareExportError`; what it says
per device, not per tag, is in :func:`kepware_notes`.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from qtconfig import ConfigError, read_bytes
from virtual_plc.codec import value_range
from virtual_plc.tagmap import BIT_TABLES, DEFAULT_CHARS, TEXT_TYPES, DType, Tag, TagMap

FORMATS: tuple[str, ...] = ("kepware", "tia", "rockwell")
DEFAULT_PERIOD_MS = 1000
EXACT_COUNT = 2**53  # the largest count a double holds exactly: 64-bit integer ranges stop at ±EXACT_COUNT
MAX_CHARS = next(m.le for m in Tag.model_fields["chars"].metadata if hasattr(m, "le"))  # one Modbus read
TIA_STRING_CHARS = 254  # a TIA String without [n]
LOGIX_STRING_CHARS = 82  # Studio 5000's STRING: LEN and DATA[82]
KEPWARE_STRING_CHARS = (2, 240)  # the lengths Kepware's Modbus driver reads (4xxxxx.nnH)
CLOCK_SEGMENT = "clock_ms"
BEYOND_HEADER = "(beyond the last column)"  # the column a row's surplus cells are named by
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
    """One data row: its number in the file (as an editor or a spreadsheet shows it), its cells, and how many
    cells it has beyond the header's columns (blank ones not counted)."""

    number: int
    cells: dict[str, str]
    extra: int = 0

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


def decode_export(path: Path) -> str:
    """The file's text: UTF-16 by its byte-order mark, else UTF-8 (with or without BOM), else Windows-1252."""
    data = read_bytes(path)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as err:
            raise ConfigError(path, [f"not UTF-16 text although it starts with a UTF-16 byte-order mark: "
                                     f"{err.reason} at byte offset {err.start}"]) from None
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
            extra = sum(1 for c in cells[len(header):] if c.strip())
            rows.append(_Row(number, {k: v for k, v in zip(header, cells) if k}, extra))
    return rows


def _csv_lines(path: Path, first: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every CSV record; ``;`` is the delimiter when the header line uses it."""
    text = decode_export(path)
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

    data = io.BytesIO(read_bytes(path))
    try:
        book = openpyxl.load_workbook(data, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError) as err:
        raise ConfigError(path, [f"not an Excel workbook (.xlsx): {err}"]) from None
    try:
        names = {name.lower(): name for name in book.sheetnames}
        if sheet.lower() not in names:
            raise ConfigError(path, [f"no sheet {sheet!r} (sheets: {', '.join(book.sheetnames)})"])
        rows = book[names[sheet.lower()]].iter_rows(values_only=True)
        return [(number, [cell_text(v) for v in values]) for number, values in enumerate(rows, start=1)]
    finally:
        book.close()


def cell_text(value: Any) -> str:
    """A spreadsheet cell as the text it shows: whole floats without ``.0``, empty cells empty."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class _Type:
    """Our type for a vendor type: the dtype, the range its values can take (None: not known), a string's
    length and the unit a time type counts in."""

    dtype: DType
    low: float | None = None
    high: float | None = None
    chars: int | None = None
    unit: str = ""


def type_range(dtype: str) -> tuple[float, float] | None:
    """The values an integer type carries (the codec's "no value" sentinel left out), 64-bit types cut
    at ±2**53; None for float, bool and text types, whose range only the export can give.

    >>> type_range("int8"), type_range("uint16"), type_range("int64"), type_range("float32")
    ((-127, 127), (0, 65534), (-9007199254740992, 9007199254740992), None)
    """
    limits = None if dtype in TEXT_TYPES else value_range(dtype)
    if limits is None:
        return None
    return max(limits[0], -EXACT_COUNT), min(limits[1], EXACT_COUNT)


def _integer(dtype: DType, unit: str = "") -> _Type:
    """An integer type over every raw value it carries (:func:`type_range`)."""
    low, high = type_range(dtype)  # type: ignore[misc]
    return _Type(dtype, low, high, unit=unit)


_BOOL, _DATETIME, _STRING = _Type("bool"), _Type("datetime"), _Type("string")
_I8, _U8, _I16, _U16 = _integer("int8"), _integer("uint8"), _integer("int16"), _integer("uint16")
_I32, _U32, _I64, _U64 = _integer("int32"), _integer("uint32"), _integer("int64"), _integer("uint64")
_F32, _F64 = _Type("float32"), _Type("float64")

KEPWARE_TYPES: dict[str, _Type] = {
    "boolean": _BOOL, "char": _I8, "byte": _U8, "short": _I16, "word": _U16, "long": _I32, "dword": _U32,
    "llong": _I64, "qword": _U64, "float": _F32, "double": _F64, "string": _STRING, "date": _DATETIME,
}
TIA_TYPES: dict[str, _Type] = {
    "bool": _BOOL, "sint": _I8, "usint": _U8, "byte": _U8, "char": replace(_STRING, chars=1), "int": _I16,
    "uint": _U16, "word": _U16, "dint": _I32, "udint": _U32, "dword": _U32, "lint": _I64, "ulint": _U64,
    "lword": _U64, "real": _F32, "lreal": _F64, "string": replace(_STRING, chars=TIA_STRING_CHARS),
    "date_and_time": _DATETIME, "dt": _DATETIME, "ldt": _DATETIME, "dtl": _DATETIME,
    "time": _integer("int32", "ms"), "ltime": _integer("int64", "ns"), "time_of_day": _integer("uint32", "ms"),
    "tod": _integer("uint32", "ms"), "ltime_of_day": _integer("uint64", "ns"), "ltod": _integer("uint64", "ns"),
}
ROCKWELL_TYPES: dict[str, _Type] = {
    "bool": _BOOL, "sint": _I8, "usint": _U8, "int": _I16, "uint": _U16, "dint": _I32, "udint": _U32,
    "lint": _I64, "ulint": _U64, "real": _F32, "lreal": _F64, "string": replace(_STRING, chars=LOGIX_STRING_CHARS),
}
# vendor types the tag map cannot hold, and why (any other unknown type is a structure or user-defined type)
_CANNOT = {
    **dict.fromkeys(["bcd", "lbcd"], "packed BCD: the tag map has no BCD encoding"),
    "date": "a calendar date without a time of day: the tag map's datetime is a point in time",
    "s5time": "S5 time (BCD with a time base): the tag map has no such encoding",
    **dict.fromkeys(["wstring", "wchar"], "UTF-16 text: the tag map's strings hold one byte a character"),
    "default": "'Default' (the driver's choice): set the tag's type in the export",
}
_SIZED_STRING = re.compile(r"^(w?string)\s*\[\s*(\d+)\s*\]$", re.IGNORECASE)


def _type_of(column: str, vendor: str, table: dict[str, _Type]) -> _Type:
    """Our type for the vendor's ``vendor`` type (``String[20]``: a string of 20); another type skips the row."""
    key = vendor.strip().lower()
    sized = _SIZED_STRING.match(key)
    if sized and sized.group(1) in table:
        return replace(table[sized.group(1)], chars=int(sized.group(2)))
    if key in table:
        return table[key]
    if not key:
        raise _Skip(column, "no data type")
    base = sized.group(1) if sized else key
    if base in _CANNOT:
        raise _Skip(column, f"data type {vendor!r}: {_CANNOT[base]}")
    raise _Skip(column, f"data type {vendor!r} is not a type the tag map holds (a structure or user-defined "
                        f"type?); it holds {', '.join(sorted(table))}")


def _bit_table(dtype: str, access: str) -> str:
    """Where a tag of an export without Modbus addresses goes: a bool in the coils (writable) or the
    discrete inputs, anything else in the holding registers."""
    if dtype != "bool":
        return "holding"
    return "coil" if access == "rw" else "discrete"


# --------------------------------------------------------------------------- a row becomes a draft tag


@dataclass
class _Draft:
    """What a row says about its tag, before its name is normalised and the tag validated."""

    name: str
    name_column: str
    fields: dict[str, Any]
    notes: list[tuple[str, str]] = field(default_factory=list)
    open_range: bool = False  # a float the export gives no range for


def _draft(name: str, name_column: str, kind: _Type, *, low: float | None = None, high: float | None = None,
           description: str = "", where: str = "", **fields: Any) -> _Draft:
    """A draft tag: ``low``/``high`` default to the type's range (None where the type has none)."""
    if not name:
        raise _Skip(name_column, "no tag name")
    if low is None or high is None:
        low, high = kind.low, kind.high
    if where:  # a map exported and imported again keeps one note of the same vendor, the new one
        description = re.sub(rf"\s*\[{re.escape(where.split()[0])} (?:[^\[\]]|\[[^\[\]]*\])*\]$", "", description)
    text = " ".join(part for part in (description, f"[{where}]" if where else "") if part)
    if kind.dtype == "string":
        fields.setdefault("chars", kind.chars)
    if kind.unit and not fields.get("unit"):
        fields["unit"] = kind.unit
    return _Draft(name, name_column, {"dtype": kind.dtype, "low": low, "high": high, "description": text, **fields},
                  open_range=kind.dtype.startswith("float") and (low is None or high is None))


def _fit(draft: _Draft, access_column: str, type_column: str) -> _Draft:
    """What the tag map holds differently from the export, made to fit with a note each.

    A writable array or text tag is imported read-only (the tag map's are); a string longer than
    MAX_CHARS gets MAX_CHARS; an array of text cannot be a tag (text tags are scalars).
    """
    tag = draft.fields
    text = tag["dtype"] in TEXT_TYPES
    if text and tag.get("length") is not None:
        raise _Skip(type_column, f"an array of {tag['dtype']} values: the tag map's text tags are scalars")
    if tag.get("access") == "rw" and (text or tag.get("length") is not None):
        tag["access"] = "ro"
        what = f"a {tag['dtype']} tag" if text else "an array tag"
        draft.notes.append((access_column, f"{what}: imported read-only (array and text tags are read-only "
                                           "in the tag map)"))
    chars = tag.get("chars")
    if chars is not None and chars > MAX_CHARS:
        tag["chars"] = MAX_CHARS
        draft.notes.append((type_column, f"a string of {chars} characters: imported with chars {MAX_CHARS}, the "
                                         "most one Modbus read holds (longer text is cut)"))
    return draft


def _period(row: _Row, column: str) -> int:
    """A sample period in ms from ``column``; DEFAULT_PERIOD_MS when empty or 0 (the vendor's "default")."""
    value = row.number_or_none(column)
    if value is None or value == 0:
        return DEFAULT_PERIOD_MS
    if value < 0 or not value.is_integer():
        raise _Skip(column, f"{row.text(column)!r} is not a period in whole milliseconds")
    return int(value)


# Kepware's Modbus address: table digit, then the 1-based item (5-digit 4xxxx or 6-digit 4xxxxx); a
# register bit (.0-.15) or a string's length and byte order (.20H high byte first, .20L low byte
# first); [n] or [rows][cols] for arrays
_KEPWARE_MODBUS = re.compile(r"^(?P<table>[0134])(?P<item>\d{4,5})(?:\.(?P<bit>\d{1,2})|\.(?P<chars>\d{1,3})"
                             r"(?P<order>[HL]))?(?:\[\s*(?P<rows>\d+)\s*\](?:\[\s*(?P<cols>\d+)\s*\])?)?$",
                             re.IGNORECASE)
_KEPWARE_TABLES = {"0": "coil", "1": "discrete", "3": "input", "4": "holding"}
_KEPWARE_ARRAY = re.compile(r"\[\s*(\d+)\s*\](?:\s*\[\s*(\d+)\s*\])?\s*$")
_KEPWARE_ACCESS = {"ro": "ro", "r/o": "ro", "rw": "rw", "r/w": "rw", "wo": "rw", "": "ro"}
# what Kepware has no type for travels as another type, marked in the description (see kepware_rows)
_KEPWARE_MARK = re.compile(r"\s*\[tag map dtype (?P<dtype>bool|datetime)\b[^\]]*\]")
_KEPWARE_CARRIER: dict[str, DType] = {"bool": "uint16", "datetime": "int64"}  # a Word, an LLong


def _kepware_tag(row: _Row) -> _Draft:
    """A Kepware row: Tag Name, Address, Data Type, Client Access, Scan Rate, scaling, Eng Units, Description."""
    vendor_type = row.text("Data Type")
    is_array = vendor_type.lower().endswith(" array")
    base_type = vendor_type[: -len(" array")] if is_array else vendor_type
    kind = _type_of("Data Type", base_type, KEPWARE_TYPES)
    description, kind, mark_note = _kepware_unmark(row.text("Description"), kind)
    address = row.text("Address")
    modbus = _KEPWARE_MODBUS.match(address)
    length = _kepware_length(address, modbus) if is_array else None
    access = _KEPWARE_ACCESS.get(row.text("Client Access").lower())
    if access is None:
        raise _Skip("Client Access", f"{row.text('Client Access')!r} is not RO, R/W or WO")
    place, notes = _kepware_place(address, modbus, kind, base_type, access)
    read_only = {"input": "input register", "discrete": "discrete input"}.get(place["table"])
    if access == "rw" and read_only:
        raise _Skip("Client Access", f"R/W on {read_only} {address}, which Modbus cannot write")
    kind, scale, low, high, note = _kepware_scaling(row, kind, base_type)
    draft = _draft(row.text("Tag Name"), "Tag Name", kind, low=low, high=high, description=description,
                   where=f"Kepware address {address}" if address else "", unit=row.text("Eng Units"), access=access,
                   period_ms=_period(row, "Scan Rate"), length=length, scale=scale, **place)
    draft.notes.extend([*notes, *([("Description", mark_note)] if mark_note else []),
                        *([("Scaling", note)] if note else [])])
    return _fit(draft, "Client Access", "Data Type")


def _kepware_length(address: str, modbus: re.Match[str] | None) -> int:
    """The element count of an array tag: ``[n]`` or ``[rows][cols]`` after the address."""
    dims = (modbus.group("rows"), modbus.group("cols")) if modbus and modbus.group("rows") else None
    if dims is None:
        found = _KEPWARE_ARRAY.search(address)
        dims = found.groups() if found else None
    if not dims:
        raise _Skip("Address", f"{address!r}: an array tag needs [columns] or [rows][columns] after the address")
    length = int(dims[0]) * int(dims[1] or 1)
    if length < 1:
        raise _Skip("Address", f"{address!r}: an array of no elements")
    return length


def _kepware_place(address: str, modbus: re.Match[str] | None, kind: _Type, vendor_type: str,
                   access: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """(table and, for a string, chars and byte order; notes) from a Kepware address.

    A Modbus address names the table (0xxxxx coil, 1xxxxx discrete input, 3xxxxx input register,
    4xxxxx holding register) and a string's ``.nnH``/``.nnL``; another driver's address says neither:
    bools go in the coils (writable) or discrete inputs, the rest in the holding registers.
    """
    notes: list[tuple[str, str]] = []
    place: dict[str, Any] = {}
    if modbus is None:
        place["table"] = _bit_table(kind.dtype, access)
    else:
        table = place["table"] = _KEPWARE_TABLES[modbus.group("table")]
        if not 1 <= int(modbus.group("item")) <= 65536:
            raise _Skip("Address", f"{address!r}: Modbus item {int(modbus.group('item'))} is not in 1…65536")
        if table in BIT_TABLES and kind.dtype != "bool":
            what = "a coil" if table == "coil" else "a discrete input"
            raise _Skip("Data Type", f"{vendor_type!r} on {address}: {what} is one bit; its Data Type must be Boolean")
        if modbus.group("bit") is not None:
            raise _Skip("Address", f"{address}: bit {modbus.group('bit')} inside a register; the tag map has no "
                                   "tags for single bits of a register")
        if modbus.group("chars") is not None:
            if kind.dtype != "string":
                raise _Skip("Address", f"{address}: a string address (.length H/L), but the Data Type is "
                                       f"{vendor_type!r}")
            place["chars"] = int(modbus.group("chars"))
            place["byte_order"] = "little" if modbus.group("order").upper() == "L" else "big"
    if kind.dtype == "string" and "chars" not in place:
        notes.append(("Address", f"no string length in {address!r} (Modbus: 4xxxxx.nnH): chars left at the "
                                 f"default, {DEFAULT_CHARS}"))
    return place, notes


def _kepware_unmark(description: str, kind: _Type) -> tuple[str, _Type, str]:
    """(description without the tag map's dtype mark, the type, a note) — see :func:`kepware_rows`."""
    mark = _KEPWARE_MARK.search(description)
    if mark is None:
        return description, kind, ""
    text = (description[: mark.start()] + description[mark.end():]).strip()
    dtype = mark.group("dtype")
    if kind.dtype != _KEPWARE_CARRIER[dtype]:
        return text, kind, (f"marked as a {dtype} tag, which travels as a {KEPWARE_NAMES[_KEPWARE_CARRIER[dtype]]}: "
                            f"imported as the Data Type says, {kind.dtype}")
    return text, _Type(dtype), ""


def _kepware_scaling(row: _Row, kind: _Type, vendor_type: str) -> tuple[_Type, float, float | None, float | None, str]:
    """(type, scale, low, high, note) from Kepware's scaling columns.

    No scaling: the data type's range. Linear scaling through zero (raw = scaled × k): the raw type
    with ``scale`` k and the scaled range, as the tag map encodes it. Any other scaling (an offset,
    Square Root): the Scaled Data Type and range, scale 1, as Kepware's clients read the value.
    """
    scaling = row.text("Scaling")
    if scaling.lower() in ("", "none"):
        return kind, 1.0, None, None, ""
    if not kind.dtype.startswith(("int", "uint", "float")):
        raise _Skip("Scaling", f"{scaling!r} scaling of a {vendor_type}: Kepware scales numbers only")
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
    if not scaled.dtype.startswith(("int", "uint", "float")):
        raise _Skip("Scaled Data Type", f"{row.text('Scaled Data Type')!r} is not a number Kepware scales to")
    note = (f"Kepware scales raw {raw_low:g}…{raw_high:g} to {low:g}…{high:g} ({scaling}): imported as the scaled "
            f"{scaled.dtype} value Kepware's clients read, scale 1")
    return scaled, 1.0, low, high, note


_TRUE, _FALSE = {"true", "1", "yes", "x"}, {"false", "0", "no", ""}


def _tia_tag(row: _Row) -> _Draft:
    """A TIA row: Name, Path, Data Type, Logical Address, Comment, Hmi Writeable."""
    writable = row.text("Hmi Writeable").lower()
    if writable not in _TRUE | _FALSE:
        raise _Skip("Hmi Writeable", f"{row.text('Hmi Writeable')!r} is not True or False")
    kind = _type_of("Data Type", row.text("Data Type"), TIA_TYPES)
    access = "rw" if writable in _TRUE else "ro"
    address, table = row.text("Logical Address"), row.text("Path")
    where = ", ".join(part for part in (address and f"TIA {address}", table and f"tag table {table}") if part)
    draft = _draft(row.text("Name"), "Name", kind, description=row.text("Comment"), where=where, access=access,
                   period_ms=DEFAULT_PERIOD_MS, table=_bit_table(kind.dtype, access))
    return _fit(draft, "Hmi Writeable", "Data Type")


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
    access = "rw" if writable else "ro"
    scope, name = row.text("SCOPE"), row.text("NAME")
    draft = _draft(f"{scope}.{name}" if scope and name else name, "NAME", kind,
                   description=_logix_unescape(row.text("DESCRIPTION")),
                   where=f"Logix tag {f'Program:{scope}.' if scope else ''}{name}", access=access,
                   period_ms=DEFAULT_PERIOD_MS, length=length, table=_bit_table(kind.dtype, access))
    return _fit(draft, "ATTRIBUTES", "DATATYPE")


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
    open_range = 0
    for row in rows:
        try:
            if row.extra:
                raise _Skip(BEYOND_HEADER, f"{row.extra} cell(s) beyond the header's last column: a separator "
                                           "inside an unquoted cell?")
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
        open_range += draft.open_range
        if any(name_segment(word) != word for word in draft.name.split(".")):
            notes.append(RowNote(str(path), row.number, draft.name_column, f"name {draft.name!r} became {name}"))
        notes.extend(RowNote(str(path), row.number, column, message) for column, message in draft.notes)
    remarks = []
    if open_range:
        remarks.append(f"{open_range} float tag(s) have no range in the export: low/high left open; set the real "
                       "range before detection or write limits rely on it")
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

KEPWARE_NAMES: dict[str, str] = {  # our dtype -> Kepware's Data Type (bools in a register and datetimes: marked)
    "bool": "Boolean", "int8": "Char", "uint8": "Byte", "int16": "Short", "uint16": "Word", "int32": "Long",
    "uint32": "DWord", "int64": "LLong", "uint64": "QWord", "float32": "Float", "float64": "Double",
    "string": "String", "datetime": "LLong",
}
_KEPWARE_MARK_TEXT = {"bool": "[tag map dtype bool: 0 or 1 in a register]",
                      "datetime": "[tag map dtype datetime: ms since 1970-01-01 UTC]"}
_KEPWARE_TABLE_DIGIT = {table: digit for digit, table in _KEPWARE_TABLES.items()}


class KepwareExportError(ValueError):
    """Tags Kepware's CSV cannot carry, each named with why; nothing was written."""


def _number_text(value: float) -> str:
    """A number as Kepware shows it: whole numbers without a decimal point, others exactly (shortest repr)."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e16 else repr(float(value))


def kepware_address(tag: Tag) -> str:
    """The tag's Modbus address in Kepware's 6-digit form (raises :class:`KepwareExportError` when there is none).

    0xxxxx coil, 1xxxxx discrete input, 3xxxxx input register, 4xxxxx holding register; ``[n]`` for
    arrays; a string's length and byte order after a dot (``.20H`` high byte first, ``.20L`` low).

    >>> kepware_address(Tag(name="a.b", low=0, high=1, period_ms=10, address=0, table="input", length=8))
    '300001[8]'
    >>> kepware_address(Tag(name="a.c", dtype="string", chars=20, period_ms=10, address=99))
    '400100.20H'
    """
    if tag.address is None:
        raise KepwareExportError(f"tag {tag.name} has no Modbus address; allocate the map first")
    if tag.unit_id is not None:
        raise KepwareExportError(
            f"tag {tag.name}: unit id {tag.unit_id}: Kepware's tag CSV has no unit id (a Kepware device has one, "
            "in its Device ID <IP>.<unit>); export each unit's tags without unit_id and import them under a "
            "device of that ID")
    where = f"{_KEPWARE_TABLE_DIGIT[tag.table]}{tag.address + 1:05d}"
    if tag.dtype == "string":
        chars = max(tag.chars or DEFAULT_CHARS, KEPWARE_STRING_CHARS[0])  # 1 character: .2H reads the same register
        if chars > KEPWARE_STRING_CHARS[1]:
            raise KepwareExportError(f"tag {tag.name}: a string of {chars} characters; Kepware's Modbus driver "
                                     f"reads {KEPWARE_STRING_CHARS[0]} to {KEPWARE_STRING_CHARS[1]}")
        return f"{where}.{chars}{'L' if tag.byte_order == 'little' else 'H'}"
    return where + (f"[{tag.length}]" if tag.length else "")


def _kepware_type(tag: Tag) -> tuple[str, str]:
    """(Kepware's Data Type, the mark that says what the tag map makes of it, or "").

    A bool in a register table travels as a Word (0 or 1; a Kepware Boolean there would be a bit of
    the register), a datetime as the LLong it is on the wire; the mark in the Description tells
    :func:`import_tags` which.
    """
    marked = tag.dtype == "datetime" or (tag.dtype == "bool" and tag.table not in BIT_TABLES)
    name = KEPWARE_NAMES[_KEPWARE_CARRIER[tag.dtype]] if marked else KEPWARE_NAMES[tag.dtype]
    return (f"{name} Array" if tag.length else name), (_KEPWARE_MARK_TEXT[tag.dtype] if marked else "")


def _kepware_scaling_cells(tag: Tag) -> dict[str, str]:
    """Kepware's scaling columns: the range as Linear scaling raw = value × scale, or none.

    Bools and text carry no scaling. A number with no range (an integer: its type's whole range) and
    scale 1 is written unscaled; an integer's missing ``low``/``high`` is its type's range
    (:func:`type_range`) divided by ``scale``; a float with a scale needs both, as Linear scaling is
    two points.
    """
    low, high = tag.low, tag.high
    if not tag.is_analog or (low is None and high is None and tag.scale == 1):
        return {}
    limits = type_range(tag.dtype)
    if limits is not None:
        low = limits[0] / tag.scale if low is None else low
        high = limits[1] / tag.scale if high is None else high
    elif low is None or high is None:
        if tag.scale == 1:
            return {}
        raise KepwareExportError(f"tag {tag.name}: a {tag.dtype} with scale {tag.scale:g} needs low and high; "
                                 "Kepware's Linear scaling is two points (set the range)")
    if not low < high:
        raise KepwareExportError(f"tag {tag.name}: low {low:g} and high {high:g} (filled from the {tag.dtype} range) "
                                 "are no range; set both")
    if tag.scale == 1 and (low, high) == limits:  # what importing an unscaled integer gives
        return {}
    return {
        "Scaling": "Linear", "Raw Low": _number_text(low * tag.scale), "Raw High": _number_text(high * tag.scale),
        "Scaled Low": _number_text(low), "Scaled High": _number_text(high),
        "Scaled Data Type": "Float" if tag.dtype in ("float32", "int8", "uint8", "int16", "uint16") else "Double",
        "Clamp Low": "0", "Clamp High": "0",
    }


def kepware_rows(tagmap: TagMap) -> list[dict[str, str]]:
    """One Kepware CSV row per tag (map allocated first); :class:`KepwareExportError` names each tag it cannot write."""
    rows, refused = [], []
    for tag in tagmap.allocated().tags:
        try:
            address = kepware_address(tag)
            dtype, mark = _kepware_type(tag)
            scaling = _kepware_scaling_cells(tag)
        except KepwareExportError as err:
            refused.append(str(err))
            continue
        rows.append({
            **dict.fromkeys(KEPWARE_COLUMNS, ""), "Tag Name": tag.name, "Address": address, "Data Type": dtype,
            "Respect Data Type": "1", "Client Access": "R/W" if tag.access == "rw" else "RO",
            "Scan Rate": str(tag.period_ms), **scaling, "Eng Units": tag.unit,
            "Description": " ".join(part for part in (tag.description, mark) if part), "Negate Value": "0",
        })
    if refused:
        raise KepwareExportError(f"{len(refused)} tag(s) Kepware's CSV cannot carry:\n" + "\n".join(refused))
    return rows


def kepware_notes(tagmap: TagMap) -> list[str]:
    """What a Kepware CSV of ``tagmap`` leaves to the Kepware device's settings or drops, one line each."""
    tags = tagmap.tags
    notes = []
    little_words = sum(t.word_order == "little" and t.width > 1 and t.dtype != "string" for t in tags)
    if little_words:
        notes.append(f"{little_words} tag(s) use word order 'little'; Kepware sets word order per device (Data "
                     "Encoding: First Word Low in 32-bit, First DWord Low in 64-bit data types)")
    swapped = sum(t.byte_order == "little" and t.dtype != "string" for t in tags)
    if swapped:
        notes.append(f"{swapped} tag(s) use byte order 'little'; Kepware sets byte order per device (Data Encoding: "
                     "Modbus Byte Order off); strings carry theirs (.nnL)")
    unscaled = sum(not t.is_analog and t.scale != 1 for t in tags)
    if unscaled:
        notes.append(f"{unscaled} bool or text tag(s) have a scale; Kepware scales numbers only: written unscaled")
    half = sum(t.dtype.startswith("float") and t.scale == 1 and (t.low is None) != (t.high is None) for t in tags)
    if half:
        notes.append(f"{half} float tag(s) have only one of low/high; Kepware's scaling needs both: written unscaled")
    if tagmap.unit_id != 1:
        notes.append(f"the map's unit id is {tagmap.unit_id}: give the Kepware device the Device ID "
                     f"<IP>.{tagmap.unit_id}")
    return notes


def write_kepware_csv(tagmap: TagMap, path: str | Path) -> None:
    """Write ``tagmap`` as a Kepware CSV tag import (every cell quoted, CRLF, as Kepware writes it).

    Raises :class:`KepwareExportError` naming every tag it cannot write, before writing anything.
    """
    rows = kepware_rows(tagmap)
    with Path(path).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=KEPWARE_COLUMNS, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
