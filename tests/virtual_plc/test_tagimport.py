"""Tag maps from Kepware, TIA Portal and Studio 5000 tag exports; a tag map out as Kepware's CSV."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qtconfig import ConfigError
from tests.conftest import REPO
from tests.support import every_kind_tagmap
from virtual_plc.tagimport import (
    DEFAULT_PERIOD_MS,
    KEPWARE_COLUMNS,
    KEPWARE_NAMES,
    ImportResult,
    KepwareExportError,
    import_tags,
    kepware_notes,
    kepware_rows,
    type_range,
    write_kepware_csv,
)
from virtual_plc.tagmap import DEFAULT_CHARS, TABLES, TEXT_TYPES, DType, Tag, TagMap, load_tagmap

FIXTURES = REPO / "tests" / "fixtures"
KEPWARE = FIXTURES / "kepware_tags.csv"
TIA = FIXTURES / "tia_plc_tags.xlsx"
ROCKWELL = FIXTURES / "rockwell_tags.csv"
SAME_FIELDS = ("name", "unit", "dtype", "access", "low", "high", "period_ms", "length", "table", "scale", "chars")


def skipped_at(result: ImportResult) -> list[tuple[int, str]]:
    return [(s.row, s.column) for s in result.skipped]


def test_kepware_export_types_units_ranges_periods_access() -> None:
    result = import_tags(KEPWARE, "kepware", plant="line1")
    assert (result.rows, result.imported, len(result.skipped)) == (23, 19, 4)
    m = result.tagmap
    zone = m["line1.Oven.Zone1.Temperature"]  # Short 0..3200 scaled to 0..320: int16 holding value x 10
    assert (zone.dtype, zone.scale, zone.low, zone.high, zone.unit) == ("int16", 10.0, 0.0, 320.0, "degC")
    assert (zone.period_ms, zone.access, zone.table) == (500, "ro", "input")
    assert "Kepware address 300001" in zone.description
    setpoint = m["line1.Oven.Zone1.Setpoint"]
    assert (setpoint.access, setpoint.table, setpoint.period_ms) == ("rw", "holding", 1000)
    speed = m["line1.Coater.Web.Speed"]  # a float without scaling: no range in the export, none invented
    assert (speed.dtype, speed.low, speed.high, speed.unit) == ("float32", None, None, "")
    assert any("2 float tag(s) have no range in the export: low/high left open" in r for r in result.remarks)
    pressure = m["line1.Coater.Pump.Pressure"]  # 4-20 mA: an offset the map cannot hold -> the scaled value
    assert (pressure.dtype, pressure.scale, pressure.low, pressure.high, pressure.unit) == (
        "float32", 1.0, 0.0, 10.0, "bar")
    assert (m["line1.Coater.Pump.RunHours"].dtype, m["line1.Coater.Pump.RunHours"].high) == ("uint32", 2**32 - 2)
    assert m["line1.Coater.Pump.Flow"].dtype == "float64"
    assert (m["line1.Coater.Web.Profile"].length, m["line1.Coater.Web.Profile"].dtype) == (8, "float32")
    assert (m["line1.Coater.Drive.Torque"].dtype, m["line1.Coater.Drive.Torque"].scale) == ("int32", 10.0)
    assert m["line1.Coater.Drive.PartCount"].dtype == "uint64"
    assert skipped_at(result) == [(16, "Scan Rate"), (17, "Scaled High"), (23, "Data Type"), (24, "Address")]
    assert all(s.file == str(KEPWARE) for s in result.skipped)
    assert "'1OO' is not a number" in result.skipped[0].message and "BCD" in result.skipped[2].message
    assert "bit 3 inside a register" in result.skipped[3].message
    notes = {(n.row, n.column): n.message for n in result.notes}
    assert "became line1.Line_1_Speed_2" in notes[(13, "Tag Name")]
    assert "scales raw 6400" in notes[(7, "Scaling")]
    assert "string tag: imported read-only" in notes[(14, "Client Access")]


def test_kepware_bools_strings_and_64_bit_integers_keep_their_table_length_and_byte_order() -> None:
    m = import_tags(KEPWARE, "kepware", plant="line1").tagmap
    shape = ("dtype", "table", "access", "length", "chars", "byte_order", "low", "high")
    assert {t.name.removeprefix("line1."): tuple(getattr(t, f) for f in shape) for t in m.tags[12:]} == {
        "Coater.Recipe.Name": ("string", "holding", "ro", None, 20, "big", None, None),  # 400100.20H, R/W
        "Coater.Drive.Running": ("bool", "coil", "ro", None, None, "big", None, None),  # 000001
        "Coater.Drive.Fault": ("bool", "discrete", "ro", None, None, "big", None, None),  # 100001
        "Coater.Drive.Enable": ("bool", "coil", "rw", None, None, "big", None, None),  # 000002, R/W
        "Coater.Lane.Ok": ("bool", "discrete", "ro", 8, None, "big", None, None),  # 100010[8], Boolean Array
        "Coater.Lot.Number": ("string", "input", "ro", None, 12, "little", None, None),  # 300100.12L
        "Coater.Drive.EnergyWh": ("int64", "input", "ro", None, None, "big", -(2**53), 2**53),  # LLong
    }


def test_tia_export_types_access_and_skipped_rows() -> None:
    result = import_tags(TIA, "tia", plant="mixer")
    assert (result.rows, result.imported, len(result.skipped)) == (20, 18, 2)
    m = result.tagmap
    assert (m["mixer.Pump_Speed_SP"].access, m["mixer.Pump_Speed"].access) == ("rw", "ro")
    assert (m["mixer.Tank_Temp"].dtype, m["mixer.Tank_Temp"].low, m["mixer.Tank_Temp"].high) == (
        "int16", -32767, 32767)
    assert (m["mixer.Valve_Position"].dtype, m["mixer.Valve_Position"].high) == ("uint16", 65534)
    assert (m["mixer.Batch_Count"].dtype, m["mixer.Energy_Wh"].dtype) == ("int32", "uint32")
    assert (m["mixer.Tank_Level"].low, m["mixer.Tank_Level"].high) == (None, None)  # Real: no range given
    assert all(t.period_ms == DEFAULT_PERIOD_MS for t in m.tags)
    assert m["mixer.Pump_Speed_SP"].description == "Pump speed setpoint [TIA %MD20, tag table Motors]"
    assert "mixer.Motor_2_Speed" in m
    assert skipped_at(result) == [(10, "Hmi Writeable"), (21, "Data Type")]
    assert "'Maybe'" in result.skipped[0].message and "'Date': a calendar date" in result.skipped[1].message


def test_tia_bools_chars_strings_date_and_time_and_time() -> None:
    result = import_tags(TIA, "tia", plant="mixer")
    m = result.tagmap
    shape = ("dtype", "table", "access", "chars", "unit", "low", "high")
    got = {name: tuple(getattr(m[f"mixer.{name}"], f) for f in shape) for name in (
        "Pump_Run", "Guard_Closed", "Mode_Letter", "Batch_ID", "Recipe_Name", "Batch_Start", "Mix_Time")}
    assert got == {
        "Pump_Run": ("bool", "coil", "rw", None, "", None, None),  # Bool, Hmi Writeable
        "Guard_Closed": ("bool", "discrete", "ro", None, "", None, None),
        "Mode_Letter": ("string", "holding", "ro", 1, "", None, None),  # Char: one character
        "Batch_ID": ("string", "holding", "ro", 16, "", None, None),  # String[16]
        "Recipe_Name": ("string", "holding", "ro", 250, "", None, None),  # String: 254, cut to one Modbus read
        "Batch_Start": ("datetime", "holding", "ro", None, "", None, None),  # Date_And_Time
        "Mix_Time": ("int32", "holding", "rw", None, "ms", -(2**31 - 1), 2**31 - 1),  # Time: ms, signed 32 bits
    }
    notes = {(n.row, n.column): n.message for n in result.notes}
    assert "254 characters: imported with chars 250" in notes[(14, "Data Type")]
    assert "string tag: imported read-only" in notes[(14, "Hmi Writeable")]


def tia_file(tmp_path: Path, *rows: tuple[str, str]) -> Path:
    """A PLC tag table with one row per (name, data type), read-only."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "PLC Tags"
    sheet.append(["Name", "Path", "Data Type", "Logical Address", "Comment", "Hmi Writeable"])
    for name, dtype in rows:
        sheet.append([name, "Default tag table", dtype, "", "", "False"])
    book.save(tmp_path / "tags.xlsx")
    return tmp_path / "tags.xlsx"


def test_tia_types_the_tag_map_holds_and_those_it_cannot(tmp_path: Path) -> None:
    path = tia_file(tmp_path, ("A", "SInt"), ("B", "USInt"), ("C", "Byte"), ("D", "LInt"), ("E", "ULInt"),
                    ("F", "DTL"), ("G", "LDT"), ("H", "LTime"), ("I", "Time_Of_Day"), ("J", "String[300]"),
                    ("K", "WString"), ("L", "S5Time"), ("M", "IEC_TIMER"), ("N", "Date"))
    result = import_tags(path, "tia", plant="p")
    got = {t.name[2:]: (t.dtype, t.unit, t.low, t.high, t.chars) for t in result.tagmap.tags}
    assert got == {
        "A": ("int8", "", -127, 127, None), "B": ("uint8", "", 0, 254, None), "C": ("uint8", "", 0, 254, None),
        "D": ("int64", "", -(2**53), 2**53, None), "E": ("uint64", "", 0, 2**53, None),
        "F": ("datetime", "", None, None, None), "G": ("datetime", "", None, None, None),
        "H": ("int64", "ns", -(2**53), 2**53, None), "I": ("uint32", "ms", 0, 2**32 - 2, None),
        "J": ("string", "", None, None, 250),
    }
    reasons = [s.message for s in result.skipped]
    assert [s.row for s in result.skipped] == [12, 13, 14, 15]
    assert "UTF-16 text" in reasons[0] and "S5 time" in reasons[1] and "calendar date" in reasons[3]
    assert "'IEC_TIMER' is not a type the tag map holds (a structure or user-defined type?)" in reasons[2]


def test_rockwell_export_scopes_arrays_attributes_and_skipped_rows() -> None:
    result = import_tags(ROCKWELL, "rockwell", plant="filler")
    assert (result.rows, result.imported, len(result.skipped)) == (21, 15, 6)
    m = result.tagmap
    assert (m["filler.Filler_Speed_SP"].access, m["filler.Filler_Speed"].access) == ("rw", "ro")
    assert m["filler.Max_Fill_Weight"].access == "ro"  # Constant := true
    assert (m["filler.Max_Fill_Weight"].dtype, m["filler.Recipe_Number"].dtype) == ("float64", "uint16")
    weights = m["filler.Fill_Weights"]  # REAL[10], Read/Write: arrays are read-only in the tag map
    assert (weights.length, weights.access) == (10, "ro")
    step = m["filler.MainProgram.Valve_Step"]  # program scope: the program is a word of the name
    assert (step.dtype, step.low, step.high) == ("int8", -127, 127)
    assert "Program:MainProgram.Valve_Step" in step.description
    assert m["filler.Tank_Level"].description.startswith("Buffer tank level (radar)")  # $N unescaped
    assert skipped_at(result) == [(23, "DATATYPE"), (24, "DATATYPE"), (25, "DATATYPE"), (26, "ATTRIBUTES"),
                                  (27, "TYPE"), (28, "TYPE")]
    assert "array of string values" in result.skipped[0].message and "'TIMER'" in result.skipped[1].message
    assert "array size '1O'" in result.skipped[2].message and "alias of Local:1:I.Ch0Data" in result.skipped[4].message
    assert any(n.row == 13 and "read-only" in n.message for n in result.notes)


def test_rockwell_bools_strings_and_lint() -> None:
    result = import_tags(ROCKWELL, "rockwell", plant="filler")
    m = result.tagmap
    shape = ("dtype", "table", "access", "length", "chars", "low", "high")
    got = {name: tuple(getattr(m[f"filler.{name}"], f) for f in shape) for name in (
        "Filler_Running", "Reject_Gate", "Lane_Sensors", "Recipe_Name", "Total_Bottles")}
    assert got == {
        "Filler_Running": ("bool", "discrete", "ro", None, None, None, None),  # BOOL, Read Only
        "Reject_Gate": ("bool", "coil", "rw", None, None, None, None),  # BOOL, Read/Write
        "Lane_Sensors": ("bool", "discrete", "ro", 32, None, None, None),  # BOOL[32]
        "Recipe_Name": ("string", "holding", "ro", None, 82, None, None),  # STRING: 82 characters, made read-only
        "Total_Bottles": ("int64", "holding", "ro", None, None, -(2**53), 2**53),  # LINT
    }
    assert any(n.row == 19 and "string tag: imported read-only" in n.message for n in result.notes)


@pytest.mark.parametrize(("fmt", "path"), [("kepware", KEPWARE), ("tia", TIA), ("rockwell", ROCKWELL)])
def test_an_imported_map_without_a_clock_says_so_and_loads_back_from_yaml_and_csv(
        fmt: str, path: Path, tmp_path: Path) -> None:
    result = import_tags(path, fmt, plant="line1")
    assert result.tagmap.clock_tag is None and len(result.tagmap) == result.imported  # nothing invented
    assert any("no clock tag in the export" in r for r in result.remarks)
    assert result.imported + len(result.skipped) == result.rows  # nothing dropped silently
    for name in ("tags.yaml", "tags.csv"):
        (result.tagmap.to_yaml if name.endswith(".yaml") else result.tagmap.to_csv)(tmp_path / name)
        assert load_tagmap(tmp_path / name) == result.tagmap.allocated()


def test_the_plant_defaults_to_the_file_name_and_names_stay_under_it() -> None:
    result = import_tags(KEPWARE, "kepware")
    assert result.tagmap.plant == "kepware_tags"
    assert all(t.name.startswith("kepware_tags.") for t in result.tagmap.tags)


# --------------------------------------------------------------------------- round trip through Kepware's CSV


def expected_after_kepware(tag: Tag) -> dict[str, object]:
    """What importing a Kepware CSV of ``tag`` gives: the same, but for what Kepware's CSV cannot say.

    Bools and text carry no range or scale; an integer's missing bound is its type's range over the
    scale; a string without chars gets the default, a 1-character one the shortest Kepware string (2).
    """
    want: dict[str, object] = {f: getattr(tag, f) for f in SAME_FIELDS}
    if not tag.is_analog:
        want.update(low=None, high=None, scale=1.0)
    limits = type_range(tag.dtype)
    if limits is not None:
        want["low"] = limits[0] / tag.scale if tag.low is None else tag.low
        want["high"] = limits[1] / tag.scale if tag.high is None else tag.high
    if tag.dtype == "string":
        want["chars"] = max(tag.chars or DEFAULT_CHARS, 2)
    want["byte_order"] = tag.byte_order if tag.dtype == "string" else "big"  # others: a device setting
    return want


def assert_same_tags(original: TagMap, imported: TagMap) -> None:
    assert [t.name for t in imported.tags] == [t.name for t in original.tags]
    assert imported.clock_tag == original.clock_tag
    for before, after in zip(original.tags, imported.tags):
        assert {f: getattr(after, f) for f in [*SAME_FIELDS, "byte_order"]} == expected_after_kepware(before)
        assert after.description.startswith(before.description)


def test_kepware_export_then_import_gives_the_same_tags(tmp_path: Path) -> None:
    tagmap = every_kind_tagmap()
    write_kepware_csv(tagmap, tmp_path / "kepware.csv")
    header = (tmp_path / "kepware.csv").read_text().splitlines()[0]
    assert header == ",".join(f'"{c}"' for c in KEPWARE_COLUMNS)
    result = import_tags(tmp_path / "kepware.csv", "kepware", plant=tagmap.plant)
    assert not result.skipped and not result.remarks
    assert_same_tags(tagmap, result.tagmap)


def test_every_dtype_has_a_kepware_data_type() -> None:
    assert set(KEPWARE_NAMES) == set(get_args(DType))


def new_types_tagmap() -> TagMap:
    def tag(name: str, **fields: object) -> Tag:
        return Tag(name=f"n.{name}", period_ms=100, **fields)  # type: ignore[arg-type]

    return TagMap(plant="n", tags=[
        tag("run.cmd", dtype="bool", table="coil", access="rw", description="Run command"),
        tag("run.fb", dtype="bool", table="discrete"),
        tag("lanes.ok", dtype="bool", table="discrete", length=16),
        tag("valve.open", dtype="bool", table="holding", access="rw"),  # a bool in a holding register
        tag("lot.id", dtype="string", chars=20, table="input"),
        tag("lot.code", dtype="string", chars=7, byte_order="little"),
        tag("batch.start", dtype="datetime", table="input", description="Batch start"),
        tag("mode.step", dtype="int8", low=-10, high=10),
        tag("mode.raw", dtype="uint8"),
        tag("drive.energy", dtype="int64", scale=10.0, low=0),
    ]).allocated()


def test_bools_strings_datetimes_and_small_integers_are_written_as_kepware_reads_them(tmp_path: Path) -> None:
    tagmap = new_types_tagmap()
    cells = {row["Tag Name"][2:]: (row["Address"], row["Data Type"], row["Client Access"], row["Scaling"])
             for row in kepware_rows(tagmap)}
    assert cells == {
        "run.cmd": ("000001", "Boolean", "R/W", ""), "run.fb": ("100001", "Boolean", "RO", ""),
        "lanes.ok": ("100002[16]", "Boolean Array", "RO", ""), "valve.open": ("400001", "Word", "R/W", ""),
        "lot.id": ("300001.20H", "String", "RO", ""), "lot.code": ("400002.7L", "String", "RO", ""),
        "batch.start": ("300011", "LLong", "RO", ""), "mode.step": ("400006", "Char", "RO", "Linear"),
        "mode.raw": ("400007", "Byte", "RO", ""), "drive.energy": ("400008", "LLong", "RO", "Linear"),
    }
    rows = {row["Tag Name"][2:]: row for row in kepware_rows(tagmap)}
    assert rows["valve.open"]["Description"] == "[tag map dtype bool: 0 or 1 in a register]"
    assert rows["batch.start"]["Description"] == "Batch start [tag map dtype datetime: ms since 1970-01-01 UTC]"
    energy = rows["drive.energy"]  # low given, high the int64 range over the scale
    assert (energy["Raw Low"], energy["Raw High"], energy["Scaled High"]) == ("0", str(2**53), repr(2**53 / 10))
    write_kepware_csv(tagmap, tmp_path / "kepware.csv")
    result = import_tags(tmp_path / "kepware.csv", "kepware", plant="n")
    assert not result.skipped and not result.notes
    assert_same_tags(tagmap, result.tagmap)
    assert result.tagmap["n.batch.start"].description == "Batch start [Kepware address 300011]"
    write_kepware_csv(result.tagmap, tmp_path / "again.csv")  # the vendor's note is replaced, not added to
    again = import_tags(tmp_path / "again.csv", "kepware", plant="n").tagmap
    assert again["n.lanes.ok"].description == "[Kepware address 100002[16]]"
    assert again["n.run.cmd"].description == "Run command [Kepware address 000001]"


def test_what_kepware_cannot_carry_is_refused_naming_each_tag_and_nothing_is_written(tmp_path: Path) -> None:
    tagmap = TagMap(plant="r", tags=[
        Tag(name="r.a.flow", period_ms=100, unit_id=3),
        Tag(name="r.a.ratio", period_ms=100, scale=10.0, low=0),  # a scaled float needs both bounds
        Tag(name="r.a.note", dtype="string", chars=250, period_ms=100),
        Tag(name="r.a.ok", period_ms=100, low=0, high=1),
    ])
    with pytest.raises(KepwareExportError) as err:
        write_kepware_csv(tagmap, tmp_path / "kepware.csv")
    lines = str(err.value).splitlines()
    assert lines[0] == "3 tag(s) Kepware's CSV cannot carry:"
    assert lines[1].startswith("tag r.a.flow: unit id 3: Kepware's tag CSV has no unit id")
    assert lines[2].startswith("tag r.a.ratio: a float32 with scale 10 needs low and high")
    assert lines[3] == "tag r.a.note: a string of 250 characters; Kepware's Modbus driver reads 2 to 240"
    assert not (tmp_path / "kepware.csv").exists()


def test_kepware_notes_name_what_the_device_decides_or_the_csv_drops() -> None:
    tagmap = TagMap(plant="k", unit_id=7, tags=[
        Tag(name="k.a.f", period_ms=100, word_order="little", byte_order="little"),
        Tag(name="k.a.s", dtype="string", period_ms=100, byte_order="little"),  # .nnL: no note
        Tag(name="k.a.b", dtype="bool", period_ms=100, scale=2.0),
        Tag(name="k.a.g", period_ms=100, low=0),
    ])
    notes = kepware_notes(tagmap)
    assert len(notes) == 5
    assert notes[0].startswith("1 tag(s) use word order 'little'") and notes[1].startswith("1 tag(s) use byte order")
    assert "written unscaled" in notes[2] and "only one of low/high" in notes[3] and "<IP>.7" in notes[4]
    assert len(kepware_notes(every_kind_tagmap())) == 1  # its little word order only


SEGMENT = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(lambda s: s != "plc")
DECIMAL = st.tuples(st.integers(-10**6, 10**6), st.sampled_from([1, 10, 100])).map(lambda p: p[0] / p[1])
SPAN = st.tuples(st.integers(1, 10**6), st.sampled_from([1, 10, 100])).map(lambda p: p[0] / p[1])
SCALES = [1.0, 10.0, 100.0, 0.5, 0.1, 1000.0]


@st.composite
def kepware_tags(draw: st.DrawFn, name: str) -> Tag:
    """A valid tag of any dtype and table that Kepware's CSV can carry (no unit id, strings of 1 to 240)."""
    dtype = draw(st.sampled_from(sorted(get_args(DType))))
    common: dict[str, object] = {
        "name": name, "dtype": dtype, "period_ms": draw(st.integers(1, 60_000)),
        "unit": draw(st.sampled_from(["", "bar", "°C", "m/min", "%", "kg, wet"])),
        "description": draw(st.text(st.sampled_from('abc XYZ,";\''), max_size=12)).strip(),
    }
    if dtype in TEXT_TYPES:  # read-only scalars in a register table
        chars = draw(st.none() | st.integers(1, 240)) if dtype == "string" else None
        return Tag(**common, table=draw(st.sampled_from(["holding", "input"])), chars=chars,  # type: ignore[arg-type]
                   byte_order=draw(st.sampled_from(["big", "little"])))
    table = draw(st.sampled_from(TABLES if dtype == "bool" else ("holding", "input")))
    access = draw(st.sampled_from(["ro", "rw"])) if table in ("holding", "coil") else "ro"
    length = None if access == "rw" else draw(st.none() | st.integers(1, 8))
    if dtype == "bool":
        return Tag(**common, table=table, access=access, length=length)  # type: ignore[arg-type]
    scale = draw(st.sampled_from(SCALES))
    ranged = dtype.startswith("float") and scale != 1 or draw(st.booleans())  # a scaled float needs its range
    low = draw(DECIMAL) if ranged else None
    return Tag(**common, table=table, access=access, length=length, scale=scale, low=low,  # type: ignore[arg-type]
               high=None if low is None else low + draw(SPAN))


@st.composite
def tag_maps(draw: st.DrawFn) -> TagMap:
    clock = Tag(name="p.plc.clock_ms", dtype="uint64", low=0, high=2**53, period_ms=10, table="input")
    names = draw(st.lists(st.tuples(SEGMENT, SEGMENT), min_size=1, max_size=8, unique=True))
    tags = [clock, *(draw(kepware_tags(f"p.{asset}.{signal}")) for asset, signal in names)]
    return TagMap(plant="p", opcua_namespace="urn:p", clock_tag="p.plc.clock_ms", tags=tags)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tagmap=tag_maps())
def test_any_tag_map_survives_a_kepware_round_trip(tagmap: TagMap, tmp_path: Path) -> None:
    write_kepware_csv(tagmap, tmp_path / "kepware.csv")
    result = import_tags(tmp_path / "kepware.csv", "kepware", plant="p")
    assert not result.skipped
    assert_same_tags(tagmap, result.tagmap)


# --------------------------------------------------------------------------- rows and files it cannot read


def kepware_file(tmp_path: Path, *rows: str, delimiter: str = ",", columns: int = 7) -> Path:
    path = tmp_path / "export.csv"
    path.write_text("\n".join([delimiter.join(KEPWARE_COLUMNS[:columns]), *rows]) + "\n")
    return path


def test_kepware_rows_that_cannot_be_tags_name_their_column(tmp_path: Path) -> None:
    path = kepware_file(
        tmp_path,
        "A.speed,300001,Float Array,1,RO,100,",  # an array without [n]
        "A.sp,300002,Float,1,R/W,100,",  # writable input register
        "A.x,400001,Float,1,maybe,100,",
        "A.y,400003,Float,1,RO,100,Logarithmic",
        "A.z,400005,LBCD,1,RO,100,",
        "A y,400007,Float,1,RO,100,",
        "A_y,400009,Float,1,RO,100,",  # the same name as the row before once normalised
        "A.c,000010,Word,1,RO,100,",  # a coil holds one bit
        "A.d,100010,Boolean,1,R/W,100,",  # a discrete input cannot be written
        "A.e,400010.15,Boolean,1,RO,100,",  # a bit of a register
        "A.f,400012.10H,Float,1,RO,100,",  # a string address for a number
        "A.g,400020[4],String Array,1,RO,100,",  # text tags are scalars
        "A.h,000011,Boolean,1,RO,100,Linear",  # Kepware scales numbers only
        "A.i,400030,Struct,1,RO,100,",
    )
    result = import_tags(path, "kepware", plant="A")
    assert skipped_at(result) == [(2, "Address"), (3, "Client Access"), (4, "Client Access"), (5, "Scaling"),
                                  (6, "Data Type"), (8, "Tag Name"), (9, "Data Type"), (10, "Client Access"),
                                  (11, "Address"), (12, "Address"), (13, "Data Type"), (14, "Scaling"),
                                  (15, "Data Type")]
    reasons = [s.message for s in result.skipped]
    assert "packed BCD" in reasons[4] and "already the tag of row 7" in reasons[5]
    assert "a coil is one bit; its Data Type must be Boolean" in reasons[6]
    assert reasons[7] == "R/W on discrete input 100010, which Modbus cannot write"
    assert "bit 15 inside a register" in reasons[8] and "a string address" in reasons[9]
    assert "text tags are scalars" in reasons[10] and "Kepware scales numbers only" in reasons[11]
    assert "'Struct' is not a type the tag map holds" in reasons[12]
    assert result.imported == 1


def test_kepware_types_the_tag_map_now_holds(tmp_path: Path) -> None:
    path = kepware_file(
        tmp_path,
        "A.a,400001,Char,1,RO,100,", "A.b,400002,Byte,1,RO,100,", "A.c,40003,LLong,1,RO,100,",
        "A.d,400010,Date,1,RO,100,",  # a Kepware Date is a point in time
        "A.e,DB1.DBX0.0,Boolean,1,R/W,100,", "A.f,I0.1,Boolean,1,RO,100,",  # another driver's bits
        "A.g,N7:10,String,1,RO,100,",  # another driver's string: no length in its address
        "A.h,400030,Word,1,RO,100,,,,,,,,,,Valve [tag map dtype bool: 0 or 1 in a register]",
        "A.i,400031,Float,1,RO,100,,,,,,,,,,Start [tag map dtype datetime: ms since 1970-01-01 UTC]",
        columns=16,
    )
    result = import_tags(path, "kepware", plant="A")
    assert not result.skipped
    got = {t.name[2:]: (t.dtype, t.table, t.access, t.low, t.high, t.chars) for t in result.tagmap.tags}
    assert got == {
        "a": ("int8", "holding", "ro", -127, 127, None), "b": ("uint8", "holding", "ro", 0, 254, None),
        "c": ("int64", "holding", "ro", -(2**53), 2**53, None), "d": ("datetime", "holding", "ro", None, None, None),
        "e": ("bool", "coil", "rw", None, None, None), "f": ("bool", "discrete", "ro", None, None, None),
        "g": ("string", "holding", "ro", None, None, None), "h": ("bool", "holding", "ro", None, None, None),
        "i": ("float32", "holding", "ro", None, None, None),  # the mark needs its carrier (an LLong)
    }
    assert result.tagmap["A.h"].description == "Valve [Kepware address 400030]"
    notes = {(n.row, n.column): n.message for n in result.notes}
    assert "no string length in 'N7:10'" in notes[(8, "Address")] and "default, 32" in notes[(8, "Address")]
    assert "marked as a datetime tag, which travels as a LLong" in notes[(10, "Description")]


def test_a_row_with_cells_beyond_the_header_is_skipped_and_named_blank_ones_are_not(tmp_path: Path) -> None:
    path = kepware_file(tmp_path, "A.a,400001,Float,1,RO,100,", "A.b,400003,Float,1,RO,100,,9",
                        "A.c,400005,Float,1,RO,100,,,  ")
    result = import_tags(path, "kepware", plant="A")
    assert skipped_at(result) == [(3, "(beyond the last column)")]
    assert "1 cell(s) beyond the header's last column" in result.skipped[0].message
    assert result.tagmap.names() == ["A.a", "A.c"]


def test_a_semicolon_kepware_export_and_a_windows_1252_one_are_read(tmp_path: Path) -> None:
    path = kepware_file(tmp_path, "Ofen.Zone;300001;Float;1;RO;250;", delimiter=";")
    path.write_bytes(path.read_text().replace("Zone", "Zöne").encode("cp1252"))
    result = import_tags(path, "kepware", plant="Ofen")
    assert result.tagmap["Ofen.Zöne"].period_ms == 250


@pytest.mark.parametrize(("fmt", "content", "message"), [
    ("kepware", "", "no header line starting with 'Tag Name'"),
    ("kepware", '"Tag Name","Scan Rate"\nA.b,100\n', "lacks column(s) Address, Data Type"),
    ("rockwell", 'remark,"CSV-Import-Export"\n0.3\n', "not a Studio 5000 tag CSV export"),
    ("tia", "Name,Data Type\nA,Real\n", "not an Excel workbook"),
])
def test_a_file_it_cannot_read_names_the_file_and_why(fmt: str, content: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / ("export.xlsx" if fmt == "tia" else "export.csv")
    path.write_text(content)
    with pytest.raises(ConfigError) as err:
        import_tags(path, fmt)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_a_workbook_without_the_plc_tags_sheet_and_a_missing_file(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "Constants"
    book.save(tmp_path / "tags.xlsx")
    with pytest.raises(ConfigError, match=r"no sheet 'PLC Tags' \(sheets: Constants\)"):
        import_tags(tmp_path / "tags.xlsx", "tia")
    with zipfile.ZipFile(tmp_path / "other.xlsx", "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    with pytest.raises(ConfigError, match="not an Excel workbook"):
        import_tags(tmp_path / "other.xlsx", "tia")
    with pytest.raises(ConfigError, match="file not found"):
        import_tags(tmp_path / "missing.csv", "rockwell")
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        import_tags(tmp_path / "folder.csv", "kepware")
