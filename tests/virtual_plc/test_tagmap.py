"""Tag map: files, allocation and errors that name what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from qtconfig import ConfigError
from tests.support import every_kind_tagmap
from virtual_plc.tagmap import Tag, TagMap, load_tagmap


def test_csv_and_yaml_round_trip_every_field(tmp_path: Path) -> None:
    tagmap = every_kind_tagmap()
    tagmap.to_csv(tmp_path / "tags.csv")
    tagmap.to_yaml(tmp_path / "tags.yaml")
    assert load_tagmap(tmp_path / "tags.csv") == tagmap
    assert load_tagmap(tmp_path / "tags.yaml") == tagmap


def test_allocation_is_deterministic_groups_by_period_and_never_overlaps() -> None:
    tags = [Tag(name="a.plc.clock", dtype="uint64", low=0, high=1e12, period_ms=10)]
    tags += [Tag(name=f"a.s{i}.v", low=0, high=1, period_ms=1000 if i % 2 else 10) for i in range(10)]
    raw = TagMap(plant="a", opcua_namespace="urn:a", clock_tag="a.plc.clock", tags=tags)
    first, second = raw.allocated(), raw.allocated()
    assert first == second
    fast = sorted(t.address for t in first.tags if t.period_ms == 10)
    slow = sorted(t.address for t in first.tags if t.period_ms == 1000)
    assert max(fast) < min(slow)  # tags due together are contiguous
    used = [r for t in first.tags for r in range(t.address, t.address + t.n_registers)]
    assert len(used) == len(set(used))


def test_yaml_error_names_field_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "plant: a\nopcua_namespace: urn:a\nclock_tag: a.plc.clock\ntags:\n"
        "  - name: a.plc.clock\n    dtype: uint64\n    low: 0\n    high: 1.0e12\n    period_ms: 10\n"
        "  - name: a.blade.pressure\n    low: 0\n    high: 20\n    period_ms: -5\n"
    )
    with pytest.raises(ConfigError) as err:
        load_tagmap(path)
    assert "tags[1].period_ms (line 13)" in str(err.value)


def test_csv_error_names_line(tmp_path: Path) -> None:
    tagmap = every_kind_tagmap()
    tagmap.to_csv(tmp_path / "tags.csv")
    lines = (tmp_path / "tags.csv").read_text().splitlines()
    header_lines = sum(1 for line in lines if line.startswith("#")) + 1
    broken_row = header_lines + 3  # fourth tag
    cells = lines[broken_row].split(",")
    cells[4] = "oops"  # the 'low' column
    lines[broken_row] = ",".join(cells)
    (tmp_path / "tags.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as err:
        load_tagmap(tmp_path / "tags.csv")
    assert f"line {broken_row + 1}" in str(err.value) and "tags[3].low" in str(err.value)


def test_overlapping_registers_name_both_tags() -> None:
    with pytest.raises(ValueError, match="a.s1.v and a.s2.v overlap"):
        TagMap(
            plant="a",
            opcua_namespace="urn:a",
            clock_tag="a.plc.clock",
            tags=[
                Tag(
                    name="a.plc.clock", dtype="uint64", low=0, high=1, period_ms=10, address=100, opcua_node="ns=2;s=c"
                ),
                Tag(name="a.s1.v", low=0, high=1, period_ms=10, address=0, opcua_node="ns=2;s=1"),
                Tag(name="a.s2.v", low=0, high=1, period_ms=10, address=1, opcua_node="ns=2;s=2"),
            ],
        )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"low": 5, "high": 1}, r"low \(5.0\) must be below high"),
        ({"access": "rw", "table": "input"}, "read-write tag must live in the holding or coil table"),
        ({"table": "coil", "dtype": "int16"}, "the coil table holds bits; its dtype must be bool"),
        ({"dtype": "string", "access": "rw"}, "string tags are read-only scalars"),
        ({"dtype": "datetime", "length": 4}, "datetime tags are read-only scalars"),
        ({"chars": 8}, "chars is for string tags"),
        ({"name": "nodots"}, "must be dotted words"),
        ({"access": "rw", "length": 4}, "array tags are read-only"),
    ],
)
def test_invalid_tags_are_refused_with_a_reason(fields: dict, message: str) -> None:
    base = {"name": "a.b.c", "low": 0, "high": 1, "period_ms": 10}
    with pytest.raises(ValueError, match=message):
        Tag(**{**base, **fields})


def test_a_copy_with_other_tags_is_looked_up_by_its_own_tags() -> None:
    """The edge fills units and ranges from the server into a copy of the map; lookups must see them."""
    first = TagMap(plant="p", tags=[Tag(name="p.a.b", period_ms=10)])
    assert first["p.a.b"].unit == ""  # looked up once: its name index is built
    filled = first.model_copy(update={"tags": [Tag(name="p.a.b", period_ms=10, unit="bar", low=0, high=5)]})
    assert filled["p.a.b"].unit == "bar" and filled["p.a.b"].high == 5
    assert first["p.a.b"].unit == "" and "p.a.b" in filled


@pytest.mark.parametrize(("second", "message"), [
    ("{name: a.s1.v, period_ms: 10}", "tags a.s1.v (line 3) and a.s1.v (line 4) have the same name"),
    ("{name: a.s2.v, period_ms: 10, address: 1}", "tags a.s1.v (line 3) and a.s2.v (line 4) overlap in the holding"),
    ("{name: a.s2.v, period_ms: 10, opcua_node: 'ns=2;s=x.y'}",
     "tags a.s1.v (line 3) and a.s2.v (line 4) have the same opcua_node ns=2;s=x.y"),
    # no node given: allocation gives this one ns=2;s=x.y, which the first tag names already
    ("{name: x.y, period_ms: 10}", "tags a.s1.v (line 3) and x.y (line 4) have the same opcua_node ns=2;s=x.y"),
])
def test_yaml_conflicts_name_both_tags_with_their_lines(tmp_path: Path, second: str, message: str) -> None:
    first = "{name: a.s1.v, period_ms: 10, address: 0, opcua_node: 'ns=2;s=x.y'}"
    (tmp_path / "tags.yaml").write_text(f"plant: a\ntags:\n  - {first}\n  - {second}\n")
    with pytest.raises(ConfigError) as err:
        load_tagmap(tmp_path / "tags.yaml")
    assert str(err.value).startswith(f"{tmp_path / 'tags.yaml'}: {message}") and "\n" not in str(err.value)


def test_csv_lines_are_the_files_whatever_comes_first_and_however_lines_end(tmp_path: Path) -> None:
    rows = ["# plant: a", "", "name,period_ms,description", "", "a.b.c,10,\"two\nlines\"", "a.b.d,-1,"]
    for end in ("\n", "\r\n"):
        (tmp_path / "tags.csv").write_text(end.join(rows) + end, newline="")
        with pytest.raises(ConfigError) as err:
            load_tagmap(tmp_path / "tags.csv")
        assert "field tags[1].period_ms (line 7)" in str(err.value)  # after a quoted cell of two lines


@pytest.mark.parametrize(("content", "message"), [
    (b"name,period_ms\na.b.c,10,,\na.b.d,10,extra\n", "line 3: 3 fields, but the header (line 1) has 2"),
    (b"name,period_ms,name\na.b.c,10,x\n", "line 1: the CSV header names column(s) twice: name"),
    (b"unit,dtype\n", "line 1: the CSV header lacks column(s) name, period_ms"),
    (b"# plant: a\n\n", "no CSV header line"),
    (b"name,period_ms\na.b.c,10\n# plant: caf\xe9\n", "line 3: not UTF-8 text: byte 0xe9 at byte offset 36"),
    (b"# unit_id: many\nname,period_ms\na.b.c,10\n", "field unit_id (line 1): Input should be a valid integer"),
    (b"name,period_ms,low\na.b.c,10,nan\n", "field tags[0].low (line 2): Input should be a finite number"),
])
def test_csv_problems_name_their_line(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "tags.csv").write_bytes(content)
    with pytest.raises(ConfigError) as err:
        load_tagmap(tmp_path / "tags.csv")
    assert message in str(err.value), str(err.value)


def test_a_missing_file_a_folder_and_an_unknown_suffix_are_named(tmp_path: Path) -> None:
    (tmp_path / "maps").mkdir()
    (tmp_path / "tags.txt").write_text("")
    for name, message in (("nope.csv", "file not found"), ("maps", "is a folder, not a file"),
                          ("tags.txt", "unknown tag map format '.txt'")):
        with pytest.raises(ConfigError) as err:
            load_tagmap(tmp_path / name)
        assert str(err.value).startswith(f"{tmp_path / name}: {message}")
