"""Tag maps from Kepware, TIA Portal and Studio 5000 tag exports; a tag map out as Kepware's CSV."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qtconfig import ConfigError
from tests.conftest import REPO
from tests.support import every_kind_tagmap
from virtual_plc.tagimport import (
    DEFAULT_PERIOD_MS,
    FLOAT_RANGE,
    KEPWARE_COLUMNS,
    ImportResult,
    import_tags,
    write_kepware_csv,
)
from virtual_plc.tagmap import REGISTER_WIDTH, Tag, TagMap, load_tagmap

FIXTURES = REPO / "tests" / "fixtures"
KEPWARE = FIXTURES / "kepware_tags.csv"
TIA = FIXTURES / "tia_plc_tags.xlsx"
ROCKWELL = FIXTURES / "rockwell_tags.csv"
SAME_FIELDS = ("name", "unit", "dtype", "access", "low", "high", "period_ms", "length", "table", "scale")


def skipped_at(result: ImportResult) -> list[tuple[int, str]]:
    return [(s.row, s.column) for s in result.skipped]


def test_kepware_export_types_units_ranges_periods_access() -> None:
    result = import_tags(KEPWARE, "kepware", plant="line1")
    assert (result.rows, result.imported, len(result.skipped)) == (16, 12, 4)
    m = result.tagmap
    zone = m["line1.Oven.Zone1.Temperature"]  # Short 0..3200 scaled to 0..320: int16 holding value x 10
    assert (zone.dtype, zone.scale, zone.low, zone.high, zone.unit) == ("int16", 10.0, 0.0, 320.0, "degC")
    assert (zone.period_ms, zone.access, zone.table) == (500, "ro", "input")
    assert "Kepware address 300001" in zone.description
    setpoint = m["line1.Oven.Zone1.Setpoint"]
    assert (setpoint.access, setpoint.table, setpoint.period_ms) == ("rw", "holding", 1000)
    speed = m["line1.Coater.Web.Speed"]  # a float without scaling: no range in the export
    assert (speed.dtype, speed.low, speed.high, speed.unit) == ("float32", -FLOAT_RANGE, FLOAT_RANGE, "")
    assert "range not in the export" in speed.description
    pressure = m["line1.Coater.Pump.Pressure"]  # 4-20 mA: an offset the map cannot hold -> the scaled value
    assert (pressure.dtype, pressure.scale, pressure.low, pressure.high, pressure.unit) == (
        "float32", 1.0, 0.0, 10.0, "bar")
    assert (m["line1.Coater.Pump.RunHours"].dtype, m["line1.Coater.Pump.RunHours"].high) == ("uint32", 2**32 - 2)
    assert m["line1.Coater.Pump.Flow"].dtype == "float64"
    assert (m["line1.Coater.Web.Profile"].length, m["line1.Coater.Web.Profile"].dtype) == (8, "float32")
    assert (m["line1.Coater.Drive.Torque"].dtype, m["line1.Coater.Drive.Torque"].scale) == ("int32", 10.0)
    assert m["line1.Coater.Drive.PartCount"].dtype == "uint64"
    assert skipped_at(result) == [(14, "Data Type"), (15, "Data Type"), (16, "Scan Rate"), (17, "Scaled High")]
    assert all(s.file == str(KEPWARE) for s in result.skipped)
    assert "String" in result.skipped[0].message and "'1OO' is not a number" in result.skipped[2].message
    notes = {(n.row, n.column): n.message for n in result.notes}
    assert "became line1.Line_1_Speed_2" in notes[(13, "Tag Name")]
    assert "scales raw 6400" in notes[(7, "Scaling")]


def test_tia_export_types_access_and_skipped_rows() -> None:
    result = import_tags(TIA, "tia", plant="mixer")
    assert (result.rows, result.imported, len(result.skipped)) == (14, 11, 3)
    m = result.tagmap
    assert (m["mixer.Pump_Speed_SP"].access, m["mixer.Pump_Speed"].access) == ("rw", "ro")
    assert (m["mixer.Tank_Temp"].dtype, m["mixer.Tank_Temp"].low, m["mixer.Tank_Temp"].high) == (
        "int16", -32767, 32767)
    assert (m["mixer.Valve_Position"].dtype, m["mixer.Valve_Position"].high) == ("uint16", 65534)
    assert (m["mixer.Batch_Count"].dtype, m["mixer.Energy_Wh"].dtype) == ("int32", "uint32")
    assert all(t.period_ms == DEFAULT_PERIOD_MS for t in m.tags)
    assert "[TIA %MD20, tag table Motors; range not in the export" in m["mixer.Pump_Speed_SP"].description
    assert "mixer.Motor_2_Speed" in m
    assert skipped_at(result) == [(8, "Data Type"), (10, "Hmi Writeable"), (14, "Data Type")]
    assert "no bool type" in result.skipped[0].message and "'Maybe'" in result.skipped[1].message


def test_rockwell_export_scopes_arrays_attributes_and_skipped_rows() -> None:
    result = import_tags(ROCKWELL, "rockwell", plant="filler")
    assert (result.rows, result.imported, len(result.skipped)) == (17, 10, 7)
    m = result.tagmap
    assert (m["filler.Filler_Speed_SP"].access, m["filler.Filler_Speed"].access) == ("rw", "ro")
    assert m["filler.Max_Fill_Weight"].access == "ro"  # Constant := true
    assert (m["filler.Max_Fill_Weight"].dtype, m["filler.Recipe_Number"].dtype) == ("float64", "uint16")
    weights = m["filler.Fill_Weights"]  # REAL[10], Read/Write: arrays are read-only in the tag map
    assert (weights.length, weights.access) == (10, "ro")
    step = m["filler.MainProgram.Valve_Step"]  # program scope: the program is a word of the name
    assert (step.dtype, step.low, step.high) == ("int16", -128, 127)
    assert "Program:MainProgram.Valve_Step" in step.description
    assert m["filler.Tank_Level"].description.startswith("Buffer tank level (radar)")  # $N unescaped
    assert skipped_at(result) == [(18, "DATATYPE"), (19, "DATATYPE"), (20, "DATATYPE"), (21, "DATATYPE"),
                                  (22, "ATTRIBUTES"), (23, "TYPE"), (24, "TYPE")]
    assert "array size '1O'" in result.skipped[3].message and "alias of Local:1:I.Ch0Data" in result.skipped[5].message
    assert any(n.row == 13 and "read-only" in n.message for n in result.notes)


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


def assert_same_tags(original: TagMap, imported: TagMap) -> None:
    assert [t.name for t in imported.tags] == [t.name for t in original.tags]
    assert imported.clock_tag == original.clock_tag
    for before, after in zip(original.tags, imported.tags):
        assert {f: getattr(after, f) for f in SAME_FIELDS} == {f: getattr(before, f) for f in SAME_FIELDS}
        assert after.description.startswith(before.description)


def test_kepware_export_then_import_gives_the_same_tags(tmp_path: Path) -> None:
    tagmap = every_kind_tagmap()
    write_kepware_csv(tagmap, tmp_path / "kepware.csv")
    header = (tmp_path / "kepware.csv").read_text().splitlines()[0]
    assert header == ",".join(f'"{c}"' for c in KEPWARE_COLUMNS)
    result = import_tags(tmp_path / "kepware.csv", "kepware", plant=tagmap.plant)
    assert not result.skipped and not result.remarks
    assert_same_tags(tagmap, result.tagmap)


SEGMENT = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(lambda s: s != "plc")
DECIMAL = st.tuples(st.integers(-10**6, 10**6), st.sampled_from([1, 10, 100])).map(lambda p: p[0] / p[1])
SPAN = st.tuples(st.integers(1, 10**6), st.sampled_from([1, 10, 100])).map(lambda p: p[0] / p[1])


@st.composite
def tag_maps(draw: st.DrawFn) -> TagMap:
    clock = Tag(name="p.plc.clock_ms", dtype="uint64", low=0, high=2**53, period_ms=10, table="input")
    tags = [clock]
    for asset, signal in draw(st.lists(st.tuples(SEGMENT, SEGMENT), min_size=1, max_size=6, unique=True)):
        access = draw(st.sampled_from(["ro", "rw"]))
        low = draw(DECIMAL)
        tags.append(Tag(
            name=f"p.{asset}.{signal}", dtype=draw(st.sampled_from(sorted(REGISTER_WIDTH))), access=access,
            low=low, high=low + draw(SPAN), period_ms=draw(st.integers(1, 60_000)),
            scale=draw(st.sampled_from([1.0, 10.0, 100.0, 0.5, 0.1, 1000.0])),
            table="holding" if access == "rw" else draw(st.sampled_from(["holding", "input"])),
            length=None if access == "rw" else draw(st.none() | st.integers(1, 8)),
            unit=draw(st.sampled_from(["", "bar", "°C", "m/min", "%", "kg, wet"])),
            description=draw(st.text(st.sampled_from('abc XYZ,";\''), max_size=12)).strip(),
        ))
    return TagMap(plant="p", opcua_namespace="urn:p", clock_tag="p.plc.clock_ms", tags=tags)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tagmap=tag_maps())
def test_any_tag_map_survives_a_kepware_round_trip(tagmap: TagMap, tmp_path: Path) -> None:
    write_kepware_csv(tagmap, tmp_path / "kepware.csv")
    result = import_tags(tmp_path / "kepware.csv", "kepware", plant="p")
    assert not result.skipped
    assert_same_tags(tagmap, result.tagmap)


# --------------------------------------------------------------------------- rows and files it cannot read


def kepware_file(tmp_path: Path, *rows: str, delimiter: str = ",") -> Path:
    path = tmp_path / "export.csv"
    path.write_text("\n".join([delimiter.join(KEPWARE_COLUMNS[:7]), *rows]) + "\n")
    return path


def test_kepware_rows_that_cannot_be_tags_name_their_column(tmp_path: Path) -> None:
    path = kepware_file(
        tmp_path,
        "A.speed,300001,Float Array,1,RO,100,",  # an array without [n]
        "A.sp,300002,Float,1,R/W,100,",  # writable input register
        "A.x,400001,Float,1,maybe,100,",
        "A.y,400003,Float,1,RO,100,Logarithmic",
        "A.z,400005,LLong,1,RO,100,",
        "A y,400007,Float,1,RO,100,",
        "A_y,400009,Float,1,RO,100,",  # the same name as the row before once normalised
    )
    result = import_tags(path, "kepware", plant="A")
    assert skipped_at(result) == [(2, "Address"), (3, "Client Access"), (4, "Client Access"), (5, "Scaling"),
                                  (6, "Data Type"), (8, "Tag Name")]
    assert "no int64 type" in result.skipped[4].message and "already the tag of row 7" in result.skipped[5].message
    assert result.imported == 1


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
