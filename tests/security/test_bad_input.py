"""Bad input gets one line naming the file, field and line (or the flag) and exit code 2, never a traceback.

The cases of issue #18 item 5, each through the command a user would type (``twin run``, ``twin plc serve``,
``twin scenario check``, ``twin tags export``); none of them starts a run or a server. Then hypothesis draws
scenario fields, tag-map fields and flags over their types and edges (NaN, infinity, negatives, huge numbers,
empty and non-ASCII text, wrong types) and loads them through the real loaders: each is a valid model (whose
numbers are then finite and in range) or a :class:`~qtconfig.ConfigError` with a message, never another
exception.
"""

from __future__ import annotations

import csv
import io
import math
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from typer.testing import CliRunner

from plant_models.registry import build_plant
from qtconfig import ConfigError
from twin.cli import app
from twin.harness.binding import plant_tagmap
from twin.harness.scenario import MAX_DURATION_S, Scenario, load_scenario
from virtual_plc.tagmap import CSV_COLUMNS, MAX_ADDRESS, TagMap, load_tagmap

runner = CliRunner()

SCENARIO = """\
name: tiny
plant: coater
seed: 1
duration_s: 2
faults:
  - kind: step
    target: coater.blade3
    start_s: 1
    magnitude: 1
"""
TAGS = """\
# plant: t
# clock_tag: t.plc.clock_ms
name,dtype,low,high,period_ms,table,address
t.plc.clock_ms,uint64,0,1e12,10,input,0
t.oven.temp,float32,0,300,10,input,4
t.line.speed,float32,0,80,10,input,6
"""
# the lines of TAGS: comments 1-2, header 3, rows 4-6
TEMP_LINE, SPEED_LINE = 5, 6


def invoke(args: list[str]) -> tuple[int, list[str]]:
    """Run ``twin ARGS``; the exit code and the non-blank lines it printed (stdout and stderr)."""
    result = runner.invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, [line for line in result.output.splitlines() if line.strip()]


@pytest.fixture()
def held_port() -> Iterator[int]:
    """A port another program listens on (127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


# --------------------------------------------------------------------------- the cases of the issue

# (id, files to write {name: text or bytes}, argv (FILE: the folder they are in), what the line must name)
Case = tuple[str, dict[str, str | bytes], list[str], list[str]]


def _scenario(edit: tuple[str, str] = ("", ""), extra: str = "") -> str:
    return SCENARIO.replace(*edit) + extra


NOT_UTF8 = TAGS.encode().replace(b"0,300", b"0,3\xe90")  # Latin-1 é on the line of t.oven.temp
CASES: list[Case] = [
    # a tag map the scenario names: missing, a folder, not UTF-8
    ("tag map missing", {"s.yaml": _scenario(extra="tag_map: nope.csv\n")}, ["run", "{d}/s.yaml", "--offline"],
     ["s.yaml", "field tag_map (line 10)", "nope.csv", "file not found"]),
    ("tag map is a folder", {"s.yaml": _scenario(extra="tag_map: maps.csv\n"), "maps.csv/x": ""},
     ["run", "{d}/s.yaml", "--offline"], ["s.yaml", "field tag_map (line 10)", "maps.csv", "is a folder"]),
    ("tag map not UTF-8", {"s.yaml": _scenario(extra="tag_map: tags.csv\n"), "tags.csv": NOT_UTF8},
     ["run", "{d}/s.yaml", "--offline"],
     ["s.yaml", "field tag_map (line 10)", "tags.csv", f"line {TEMP_LINE}", "not UTF-8", "byte offset"]),
    ("tags export: missing", {}, ["tags", "export", "{d}/nope.csv", "--out", "{d}/o.yaml"],
     ["nope.csv", "file not found"]),
    ("tags export: not UTF-8", {"tags.csv": NOT_UTF8}, ["tags", "export", "{d}/tags.csv", "--out", "{d}/o.yaml"],
     ["tags.csv", f"line {TEMP_LINE}", "not UTF-8", "byte offset"]),
    # scenario numbers
    ("magnitude NaN", {"s.yaml": _scenario(("magnitude: 1", "magnitude: .nan"))}, ["run", "{d}/s.yaml"],
     ["s.yaml", "field faults[0].magnitude (line 9)", "finite"]),
    ("magnitude inf", {"s.yaml": _scenario(("magnitude: 1", "magnitude: .inf"))}, ["run", "{d}/s.yaml"],
     ["s.yaml", "field faults[0].magnitude (line 9)", "finite"]),
    ("magnitude NaN passes scenario check", {"s.yaml": _scenario(("magnitude: 1", "magnitude: .nan"))},
     ["scenario", "check", "{d}/s.yaml"], ["s.yaml", "field faults[0].magnitude (line 9)", "finite"]),
    ("duration inf", {"s.yaml": _scenario(("duration_s: 2", "duration_s: .inf"))}, ["run", "{d}/s.yaml"],
     ["s.yaml", "field duration_s (line 4)", "finite"]),
    ("fault duration inf", {"s.yaml": _scenario(("magnitude: 1", "magnitude: 1\n    duration_s: .inf"))},
     ["run", "{d}/s.yaml"], ["s.yaml", "field faults[0].duration_s (line 10)", "finite"]),
    ("duration 1e12 in the file", {"s.yaml": _scenario(("duration_s: 2", "duration_s: 1.0e12"))},
     ["scenario", "check", "{d}/s.yaml"], ["s.yaml", "field duration_s (line 4)", "30 days"]),
    ("magnitude beyond what the plant takes", {"s.yaml": _scenario(("magnitude: 1", "magnitude: 50"))},
     ["scenario", "check", "{d}/s.yaml"], ["s.yaml", "field faults[0] (line 6)", "magnitude 50", "outside"]),
    ("scenario not UTF-8", {"s.yaml": SCENARIO.replace("name: tiny", "name: tiny\ndescription: caf\xe9")
                                               .encode("latin-1")},
     ["run", "{d}/s.yaml"], ["s.yaml", "line 2", "not UTF-8", "byte offset 27"]),
    ("scenario with a control character", {"s.yaml": _scenario(("name: tiny", "name: tiny\ndescription: a\x07"))},
     ["run", "{d}/s.yaml"], ["s.yaml", "line 2", "#x0007"]),
    # twin run's flags
    ("run --duration nan", {"s.yaml": SCENARIO}, ["run", "{d}/s.yaml", "--duration", "nan"],
     ["--duration", "finite", "nan"]),
    ("run --duration inf", {"s.yaml": SCENARIO}, ["run", "{d}/s.yaml", "--duration", "inf"],
     ["--duration", "finite", "inf"]),
    ("run --duration 1e12", {"s.yaml": SCENARIO}, ["run", "{d}/s.yaml", "--duration", "1e12"],
     ["--duration", "30 days", "1e+12"]),
    ("run --seed -5", {"s.yaml": SCENARIO}, ["run", "{d}/s.yaml", "--seed", "-5"], ["--seed", "-5"]),
    # twin plc serve's flags
    ("serve --seed -5", {"s.yaml": SCENARIO}, ["plc", "serve", "{d}/s.yaml", "--seed", "-5"], ["--seed", "-5"]),
    ("serve --speed 0", {"s.yaml": SCENARIO}, ["plc", "serve", "{d}/s.yaml", "--speed", "0"],
     ["--speed", "positive"]),
    ("serve --speed nan", {"s.yaml": SCENARIO}, ["plc", "serve", "{d}/s.yaml", "--speed", "nan"],
     ["--speed", "finite"]),
    ("serve --duration -1", {"s.yaml": SCENARIO}, ["plc", "serve", "{d}/s.yaml", "--duration", "-1"],
     ["--duration", "positive"]),
    ("serve --duration nan", {"s.yaml": SCENARIO}, ["plc", "serve", "{d}/s.yaml", "--duration", "nan"],
     ["--duration", "finite"]),
    ("serve --modbus-port 70000", {"s.yaml": SCENARIO}, ["plc", "serve", "{d}/s.yaml", "--modbus-port", "70000"],
     ["--modbus-port", "70000", "0 to 65535"]),
    ("serve --opcua-port 70000", {"s.yaml": SCENARIO}, ["plc", "serve", "{d}/s.yaml", "--opcua-port", "70000"],
     ["--opcua-port", "70000", "0 to 65535"]),
    # twin edge run's flags (checked before the endpoint file is read)
    ("edge run --speed 0", {}, ["edge", "run", "--endpoints", "{d}/e.yaml", "--speed", "0"], ["--speed", "positive"]),
    ("edge run --scan-ms 0", {}, ["edge", "run", "--endpoints", "{d}/e.yaml", "--scan-ms", "0"],
     ["--scan-ms", "0"]),
    ("edge run --speed nan", {}, ["edge", "run", "--endpoints", "{d}/e.yaml", "--speed", "nan"],
     ["--speed", "finite"]),
    ("edge run --duration -1", {}, ["edge", "run", "--endpoints", "{d}/e.yaml", "--duration", "-1"],
     ["--duration", "positive"]),
    ("edge run --wall-seconds nan", {}, ["edge", "run", "--endpoints", "{d}/e.yaml", "--wall-seconds", "nan"],
     ["--wall-seconds", "finite"]),
    ("edge run --broker port 70000", {}, ["edge", "run", "--endpoints", "{d}/e.yaml", "--broker", "127.0.0.1:70000"],
     ["--broker", "70000"]),
    ("edge run --sparkplug-buffer -1", {}, ["edge", "run", "--endpoints", "{d}/e.yaml", "--sparkplug-buffer", "-1"],
     ["--sparkplug-buffer", "-1"]),
    ("edge run --sparkplug-primary-host alone", {},
     ["edge", "run", "--endpoints", "{d}/e.yaml", "--sparkplug-primary-host", "scada"],
     ["--sparkplug-primary-host", "--sparkplug"]),
    ("edge run --sparkplug without a node id", {},
     ["edge", "run", "--endpoints", "{d}/e.yaml", "--sparkplug", "line1", "--broker", "127.0.0.1:1883"],
     ["--sparkplug", "GROUP/EDGE_NODE"]),
    ("edge run: the endpoint file's tag map is missing",
     {"e.yaml": "plcs:\n  - {name: p, protocol: modbus, host: 127.0.0.1, port: 5020}\ntag_map: nope.csv\n"},
     ["edge", "run", "--endpoints", "{d}/e.yaml"], ["e.yaml", "field tag_map (line 3)", "nope.csv", "file not found"]),
    # a tag-map CSV's rows
    ("CSV row with an extra field", {"tags.csv": TAGS.replace("0,300,10,input,4", "0,300,10,input,4,9")},
     ["tags", "export", "{d}/tags.csv", "--out", "{d}/o.yaml"],
     ["tags.csv", f"line {TEMP_LINE}", "8 fields", "header (line 3) has 7"]),
    ("CSV duplicate address", {"tags.csv": TAGS.replace("input,6", "input,4")},
     ["tags", "export", "{d}/tags.csv", "--out", "{d}/o.yaml"],
     ["tags.csv", f"t.oven.temp (line {TEMP_LINE})", f"t.line.speed (line {SPEED_LINE})", "register 4"]),
    ("CSV overlapping addresses", {"tags.csv": TAGS.replace("input,6", "input,5")},
     ["tags", "export", "{d}/tags.csv", "--out", "{d}/o.yaml"],
     ["tags.csv", f"t.oven.temp (line {TEMP_LINE})", f"t.line.speed (line {SPEED_LINE})", "register 5"]),
    ("CSV blank lines first", {"tags.csv": "\n\n" + TAGS.replace("80,10,input", "80,-5,input")},
     ["tags", "export", "{d}/tags.csv", "--out", "{d}/o.yaml"],
     ["tags.csv", f"field tags[2].period_ms (line {SPEED_LINE + 2})"]),
]


@pytest.mark.parametrize(("files", "args", "named"), [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_bad_input_gets_one_line_naming_where_and_exit_2(tmp_path: Path, files: dict[str, str | bytes],
                                                         args: list[str], named: list[str]) -> None:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    code, lines = invoke([arg.format(d=tmp_path) for arg in args])
    assert code == 2, lines
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    for part in named:
        assert part in lines[0], (part, lines[0])


@pytest.mark.parametrize(("flag", "protocol"), [("--modbus-port", "Modbus TCP"), ("--opcua-port", "OPC UA")])
def test_a_port_in_use_is_named_with_its_protocol(tmp_path: Path, held_port: int, flag: str, protocol: str) -> None:
    (tmp_path / "s.yaml").write_text(SCENARIO)
    code, lines = invoke(["plc", "serve", str(tmp_path / "s.yaml"), "--modbus-port", "0", "--opcua-port", "0",
                          flag, str(held_port), "--out", str(tmp_path / "plc")])
    assert code == 2 and len(lines) == 1, lines
    assert f"{flag} {held_port}" in lines[0] and protocol in lines[0] and "in use" in lines[0]
    assert not (tmp_path / "plc" / "endpoints.yaml").exists()  # nothing was served


def test_scenario_check_passes_a_good_file_with_0(tmp_path: Path) -> None:
    """The other side of the cases above: a file it can use is 0 (2 is a file it cannot use, as everywhere)."""
    (tmp_path / "good.yaml").write_text(SCENARIO)
    assert invoke(["scenario", "check", str(tmp_path / "good.yaml")])[0] == 0


# --------------------------------------------------------------------------- hypothesis: loaders
# A valid file, then up to two of its fields replaced by an edge value of any type: about half the files
# drawn stay valid, and every field is reached with every kind of bad value.

NASTY_FLOATS = st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0, -0.0, 1e-300, 1e308, 2.0**64])
NUMBERS = st.one_of(NASTY_FLOATS, st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**70), 2**70))
TEXT = st.one_of(st.sampled_from(["", " ", "é", "名前", "a.b", "\u2028", "0x10", "1e3", "nan", "-inf", "tags.csv"]),
                 st.text(max_size=12))
EDGE_VALUES = st.one_of(NUMBERS, TEXT, st.none(), st.booleans(), st.lists(st.integers(), max_size=2),
                        st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))
Path_ = tuple[str | int, ...]


def _edited(document: dict[str, Any], edits: list[tuple[Path_, Any]]) -> dict[str, Any]:
    """``document`` with the value at each path replaced; missing containers on the way are made, and an edit
    whose way an earlier edit replaced by something else is left out."""
    for path, value in edits:
        node: Any = document
        for key, child in zip(path, path[1:]):
            node = _child(node, key, [] if isinstance(child, int) else {})
            if node is None:
                break
        else:
            last = path[-1]
            if isinstance(last, int) and _child(node, last, None) is not None or isinstance(node, dict):
                node[last] = value
    return document


def _child(node: Any, key: str | int, empty: Any) -> Any:
    """``node[key]``, made ``empty`` (a list grown with empty dicts) when missing; None when ``node`` cannot
    hold ``key``."""
    if isinstance(key, int) and isinstance(node, list):
        while len(node) <= key:
            node.append({})
        return node[key]
    if isinstance(key, str) and isinstance(node, dict):
        return node.setdefault(key, empty) if empty is not None else node.get(key)
    return None


def _drawn(valid: st.SearchStrategy[dict[str, Any]], paths: list[Path_]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid document from ``valid`` with up to two of ``paths`` set to an edge value."""
    edits = st.lists(st.tuples(st.sampled_from(paths), EDGE_VALUES), max_size=2)
    return st.tuples(valid, edits).map(lambda drawn: _edited(*drawn))


# (kind, target) pairs the coater takes
PAIRS = [("step", "coater.blade3"), ("thermal_shock", "coater.oven.zone1"),
         ("valve_coil_ageing", "coater.coolant.valve"), ("sensor_bias", "coater.line.speed"),
         ("blade_pressure_drift", "coater.blade2")]
VALID_FAULT = st.tuples(st.sampled_from(PAIRS), st.floats(0, 9), st.floats(-1, 1)).map(
    lambda f: {"kind": f[0][0], "target": f[0][1], "start_s": f[1], "magnitude": f[2]})
VALID_SCENARIO = st.fixed_dictionaries({
    "name": st.sampled_from(["tiny", "a-b.c_1"]),
    "plant": st.just("coater"),
    "seed": st.integers(0, 2**64),
    "duration_s": st.floats(10, 3600),
}, optional={
    "scan_ms": st.integers(1, 1000),
    "faults": st.lists(VALID_FAULT, max_size=2),
    "plant_options": st.fixed_dictionaries({}, optional={"blades": st.integers(3, 6)}),
    "outputs": st.fixed_dictionaries({"dir": st.sampled_from(["runs/x", "é/名前"])}),
    "tag_map": st.just("tags.csv"),
})
SCENARIO_PATHS: list[Path_] = [
    ("name",), ("plant",), ("seed",), ("duration_s",), ("scan_ms",), ("faults",), ("plant_options",),
    ("plant_options", "blades"), ("outputs",), ("outputs", "dir"), ("tag_map",), ("description",), ("unknown",),
    *[("faults", 0, key) for key in ("kind", "target", "start_s", "magnitude", "rate", "duration_s", "params")],
    ("faults", 0, "params", "rise_s"), ("faults", 1, "magnitude"),
]
SCENARIOS = _drawn(VALID_SCENARIO, SCENARIO_PATHS)


def _write_yaml(path: Path, document: dict[str, Any]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        YAML(typ="safe", pure=True).dump(document, fh)


def _numbers(value: Any) -> Iterator[float]:
    """Every float in a validated model's dump."""
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)


def _loads_or_refuses(load: Callable[[Path], Any], path: Path) -> Any:
    """The loaded model, or None when a ConfigError names the file and says what is wrong."""
    try:
        return load(path)
    except ConfigError as err:
        message = str(err)
        assert str(path) in message and len(message) > len(str(path)) + 2 and "Traceback" not in message
        return None


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=SCENARIOS)
def test_any_scenario_loads_or_is_refused_by_field(tmp_path: Path, document: dict[str, Any]) -> None:
    (tmp_path / "folder").mkdir(exist_ok=True)
    if not (tmp_path / "tags.csv").exists():  # the coater's own tag map, so a scenario naming it can be valid
        plant_tagmap(build_plant("coater", 1, {}), 10).to_csv(tmp_path / "tags.csv")
    path = tmp_path / "scenario.yaml"
    _write_yaml(path, document)
    scenario = _loads_or_refuses(load_scenario, path)
    if scenario is not None:
        assert isinstance(scenario, Scenario)
        assert all(math.isfinite(x) for x in _numbers(scenario.model_dump(mode="python")))
        assert 0 < scenario.duration_s <= MAX_DURATION_S and scenario.seed >= 0
        assert all(0 <= f.start_s < scenario.duration_s and math.isfinite(f.magnitude) for f in scenario.faults)


def _valid_row(i: int, period_ms: int, dtype: str, addressed: bool) -> dict[str, Any]:
    row = {"name": f"t.s{i}.v", "dtype": dtype, "low": 0, "high": 1, "period_ms": period_ms, "table": "input"}
    return {**row, "address": 4 * i} if addressed else row  # 4 registers apart: no dtype here overlaps


VALID_ROWS = st.lists(st.tuples(st.integers(1, 1000), st.sampled_from(["float32", "int16", "uint64"]),
                                st.booleans()), min_size=1, max_size=3).map(
    lambda drawn: [_valid_row(i, *row) for i, row in enumerate(drawn)])
VALID_TAGMAP = VALID_ROWS.map(lambda rows: {"plant": "t", "tags": rows})
TAGMAP_PATHS: list[Path_] = [("plant",), ("unit_id",), ("clock_tag",), ("opcua_namespace",), ("tags",),
                             *[("tags", i, key) for i in (0, 1) for key in CSV_COLUMNS]]
TAGMAPS = _drawn(VALID_TAGMAP, TAGMAP_PATHS)


def _csv_text(document: dict[str, Any], blank_lines: int) -> str:
    """The tag map as our CSV (header fields in comments), after ``blank_lines`` blank lines."""
    out = io.StringIO()
    out.write("\n" * blank_lines)
    for key, value in document.items():
        if key != "tags":
            out.write(f"# {key}: {' '.join(str(value).split())}\n")
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    rows = document["tags"] if isinstance(document["tags"], list) else []
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()} if isinstance(row, dict) else {})
    return out.getvalue()


def _valid_tagmap(tagmap: TagMap) -> None:
    """What a tag map that loaded must be: finite numbers, addresses that fit, no register used twice."""
    assert all(math.isfinite(x) for x in _numbers(tagmap.model_dump(mode="python")))
    used: set[tuple[str, int | None, int]] = set()
    for tag in tagmap.tags:
        assert tag.address is not None and tag.address + tag.n_registers - 1 <= MAX_ADDRESS
        cells = {(tag.table, tag.unit_id, r) for r in range(tag.address, tag.address + tag.n_registers)}
        assert not cells & used
        used |= cells


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=TAGMAPS, blank_lines=st.integers(0, 2))
def test_any_tag_map_csv_loads_or_is_refused_by_line(tmp_path: Path, document: dict[str, Any],
                                                     blank_lines: int) -> None:
    path = tmp_path / "tags.csv"
    path.write_text(_csv_text(document, blank_lines), encoding="utf-8")
    tagmap = _loads_or_refuses(load_tagmap, path)
    if tagmap is not None:
        _valid_tagmap(tagmap)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=TAGMAPS)
def test_any_tag_map_yaml_loads_or_is_refused_by_field(tmp_path: Path, document: dict[str, Any]) -> None:
    path = tmp_path / "tags.yaml"
    _write_yaml(path, document)
    tagmap = _loads_or_refuses(load_tagmap, path)
    if tagmap is not None:
        _valid_tagmap(tagmap)


# --------------------------------------------------------------------------- hypothesis: flags

FLAG_NUMBERS = st.one_of(NASTY_FLOATS, st.floats(-10, MAX_DURATION_S * 2), st.sampled_from([1.0, 60.0]))


@settings(max_examples=60, deadline=None)
@given(duration=st.one_of(st.none(), FLAG_NUMBERS), speed=FLAG_NUMBERS, seed=st.integers(-(2**65), 2**65),
       port=st.integers(-5, 70_000))
def test_any_flag_value_is_taken_or_refused_by_name(duration: float | None, speed: float, seed: int,
                                                    port: int) -> None:
    """The scenario does not exist: flags that pass lead to the one line about it; no server starts."""
    args = ["plc", "serve", "/nonexistent/scenario.yaml", "--speed", repr(speed), "--seed", str(seed),
            "--modbus-port", str(port), "--opcua-port", "0"]
    code, lines = invoke(args + ([] if duration is None else ["--duration", repr(duration)]))
    assert code == 2 and len(lines) == 1 and "Traceback" not in lines[0], lines
    flags_ok = (math.isfinite(speed) and speed > 0 and seed >= 0 and 0 <= port <= 65535
                and (duration is None or (math.isfinite(duration) and 0 < duration <= MAX_DURATION_S)))
    if flags_ok:  # the scenario's error, or (a port another program holds now) the port's
        assert "scenario.yaml: file not found" in lines[0] or f"--modbus-port {port}: " in lines[0], lines
    else:
        assert lines[0].startswith("--"), lines  # it names the flag
