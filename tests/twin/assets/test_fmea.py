"""FMEA sheets: read whole or refused naming row and column, AIAG-VDA action priority, the catalogue import, the
knowledge draft, and ``twin fmea import`` / ``twin knowledge from-fmea``."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from qtconfig import read_yaml, validate_document
from rootcause.knowledge import KnowledgeFile, load_knowledge
from tests.support import flat
from twin.cli.fmea import fmea_app, knowledge_app
from twin.edge.assets.catalogue import KINDS, Catalogue
from twin.edge.assets.credibility import SOURCE_PRIOR
from twin.edge.assets.fmea import (
    FmeaError,
    action_priority,
    draft_knowledge,
    fmea_refs,
    knowledge_yaml,
    parse_mapping,
    read_fmea,
)

SHEET = Path(__file__).parents[3] / "scenarios" / "lines" / "motor_assembly" / "fmea.csv"
runner = CliRunner()
cli = typer.Typer()
cli.add_typer(fmea_app, name="fmea")
cli.add_typer(knowledge_app, name="knowledge")
Grid = list[list[str]]

# what an engineer of the motor line types: words of a cell = the tag or asset it stands for
MAPS = [
    "rotor supplier lot=motor.bearing_press.rotor_lot",
    "clearance supplier lot=motor.bearing_press.bearing_lot",
    "press force=motor.bearing_press.force_peak",
    "press tool=motor.bearing_press",
    "seated skewed=motor.bearing_press.force_curve",
    "preloaded=motor.runin_test.friction_torque",
    "driver bit=motor.screwdriver",
    "short of torque=motor.screwdriver.final_torque",
    "vibration=motor.eol_test.vibration",
    "noise=motor.eol_test.sound_level",
    "floor vibration=motor.eol_test.background_vibration",
    "fixture clamping=motor.eol_test",
]


def _grid() -> Grid:
    with SHEET.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _write_csv(path: Path, grid: Grid, delimiter: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(grid)
    return path


def _edited(tmp_path: Path, edit: Callable[[Grid], None], name: str = "fmea.csv") -> Path:
    grid = _grid()
    edit(grid)
    return _write_csv(tmp_path / name, grid)


def _write_xlsx(path: Path, grid: Grid, *, title: bool = False, merge_steps: bool = False) -> Path:
    """The sheet as a workbook, ratings as numbers; with a title block above the header and a cover sheet before
    it, and the step column merged over each step's rows, as FMEA spreadsheets are laid out."""
    from openpyxl import Workbook

    book = Workbook()
    sheet, top = book.active, 0  # top: the rows above the header
    if title:
        book.active.title = "Cover"
        sheet, top = book.create_sheet("PFMEA"), 2
        sheet.append(["Process FMEA: motor assembly line", None, "FMEA ID: PF-0042"])
        sheet.append(["Team: process, quality, maintenance"])
    for cells in grid:
        sheet.append([int(c) if c.isdigit() else c for c in cells])
    if merge_steps:  # one merged cell over the rows of each process step, the value kept in its first row only
        rows = range(top + 2, top + len(grid) + 1)
        starts = [r for r in rows if r == rows[0] or grid[r - top - 1][0] != grid[r - top - 2][0]]
        for first, after in zip(starts, [*starts[1:], rows[-1] + 1], strict=True):
            if after - first > 1:
                sheet.merge_cells(start_row=first, start_column=1, end_row=after - 1, end_column=1)
    book.save(path)
    return path



# --------------------------------------------------------------------------- reading


def test_the_motor_lines_fmea_reads_whole() -> None:
    sheet = read_fmea(SHEET)
    assert len(sheet.rows) == 14 and sheet.warnings == []
    assert [r.id for r in sheet.rows[:2]] == ["fmea:fmea#2", "fmea:fmea#3"]
    assert max(r.severity for r in sheet.rows) == 10 and min(r.severity for r in sheet.rows) == 2
    assert sheet.by_priority() == {"H": 2, "M": 3, "L": 9} and sheet.computed == 3  # three AP cells left empty
    screw = next(r for r in sheet.rows if r.failure_mode == "End-shield screw short of torque")
    assert (screw.id, screw.severity, screw.occurrence, screw.detection, screw.action_priority) == (
        "fmea:fmea#7", 10, 4, 2, "H")


def test_import_round_trips_every_column(tmp_path: Path) -> None:
    sheet = read_fmea(SHEET)
    with Catalogue(tmp_path / "assets.duckdb") as cat:
        asset = cat.put_fmea(sheet)
        stored = cat.fmea_rows(asset.id)
        assert cat.fmea_rows() == stored == cat.fmea_rows(asset.location) and cat.fmea_rows("fmea:other") == []
        edges = cat.con.execute("SELECT upstream, downstream, relation FROM lineage ORDER BY downstream").fetchall()
        assert cat.assets("fmea") == [cat.get(asset.id)]
    assert stored == sheet.rows
    # every column as the file has it, read here with nothing but csv
    header, *lines = _grid()
    for row, cells in zip(stored, lines, strict=True):
        by = dict(zip(header, cells, strict=True))
        assert (row.step, row.function, row.effect, row.severity, row.failure_mode, row.cause, row.prevention,
                row.occurrence, row.detection_controls, row.detection) == (
            by["Process Step"], by["Function"], by["Failure Effect"], int(by["Severity"]), by["Failure Mode"],
            by["Failure Cause"], by["Current Prevention Controls"], int(by["Occurrence"]),
            by["Current Detection Controls"], int(by["Detection"]))
        assert row.action_priority == (by["AP"] or action_priority(row.severity, row.occurrence, row.detection))
    assert "fmea" in KINDS
    assert (asset.id, asset.kind, asset.source_kind) == ("fmea:" + asset.location, "fmea", "manual-entry")
    assert asset.location.endswith("fmea.csv")
    assert asset.credibility == asset.prior == SOURCE_PRIOR["manual-entry"]
    assert sorted(edges) == sorted((asset.id, r.id, "contains") for r in sheet.rows)


def test_importing_again_replaces_the_lines_and_keeps_what_a_person_set(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "line" / "fmea.csv", _grid())
    with Catalogue(tmp_path / "assets.duckdb") as cat:
        asset = cat.put_fmea(read_fmea(path))
        cat.label(asset.id, ["bearing-fit -> field-returns"], owner="quality")
        _write_csv(path, _grid()[:5])  # the team struck lines: four are left
        again = cat.put_fmea(read_fmea(path))
        assert [r.id for r in cat.fmea_rows(asset.id)] == ["fmea:fmea#2", "fmea:fmea#3", "fmea:fmea#4", "fmea:fmea#5"]
        assert cat.con.execute("SELECT count(*) FROM lineage WHERE upstream = ?", [asset.id]).fetchone() == (4,)
    assert (again.labels, again.owner, again.description) == (["bearing-fit -> field-returns"], "quality",
                                                              "FMEA, 4 lines: 1 H, 1 M, 2 L")


def test_the_same_sheet_as_a_workbook_reads_the_same(tmp_path: Path) -> None:
    from_csv = read_fmea(SHEET).rows
    assert read_fmea(_write_xlsx(tmp_path / "fmea.xlsx", _grid())).rows == from_csv
    # a cover sheet, a title block above the header and merged step cells: row numbers as the sheet shows them
    (tmp_path / "laid_out").mkdir()
    laid_out = read_fmea(_write_xlsx(tmp_path / "laid_out" / "fmea.xlsx", _grid(), title=True, merge_steps=True)).rows
    assert [r.id for r in laid_out] == [f"fmea:fmea#{n}" for n in range(4, 18)]  # header in row 3
    assert [r.step for r in laid_out] == [r.step for r in from_csv]  # a merged cell counts in every row it spans
    assert [(r.failure_mode, r.severity, r.action_priority) for r in laid_out] == [
        (r.failure_mode, r.severity, r.action_priority) for r in from_csv]


def test_aiag_vda_form_headers_and_semicolons_are_read(tmp_path: Path) -> None:
    form = {"Process Step": "2. Process Step Station No. and Name of Focus Element",
            "Function": "2. Function of the Process Step and Product Characteristic",
            "Failure Effect": "1. Failure Effects (FE) to the Next Higher Level Element and/or End User",
            "Severity": "Severity (S) of FE", "Failure Mode": "2. Failure Mode (FM) of the Focus Element",
            "Failure Cause": "3. Failure Cause (FC) of the Work Element",
            "Current Prevention Controls": "Current Prevention Controls (PC) of FC",
            "Occurrence": "Occurrence (O) of FC",
            "Current Detection Controls": "Current Detection Controls (DC) of FC or FM",
            "Detection": "Detection (D) of FC/FM", "AP": "PFMEA AP"}
    grid = _grid()
    grid[0] = [form[h] for h in grid[0]]
    grid[0] += ["Detection Action", "Severity (S)", "PFMEA AP"]  # the optimisation step's columns come later
    for cells in grid[1:]:
        cells += ["", "1", "L"]
    sheet = read_fmea(_write_csv(tmp_path / "fmea.csv", grid, delimiter=";"))
    assert sheet.rows == read_fmea(SHEET).rows


def test_short_headers_and_no_ap_column(tmp_path: Path) -> None:
    short = {"Process Step": "Item", "Failure Effect": "Effect", "Severity": "S", "Failure Cause": "Cause",
             "Occurrence": "O", "Detection": "D", "Current Detection Controls": "Detection Controls"}
    grid = [[short.get(h, h) for h in _grid()[0]][:-1], *(cells[:-1] for cells in _grid()[1:])]
    sheet = read_fmea(_write_csv(tmp_path / "fmea.csv", grid))
    assert sheet.computed == 14 and sheet.warnings == []
    assert [r.action_priority for r in sheet.rows] == [r.action_priority for r in read_fmea(SHEET).rows]


def test_a_priority_the_sheet_gives_is_kept_with_a_warning(tmp_path: Path) -> None:
    def edit(grid: Grid) -> None:
        grid[1][-1] = "High"  # the table says M for S=8 O=4 D=3
        grid[2][-1] = "l"

    sheet = read_fmea(_edited(tmp_path, edit))
    assert [r.action_priority for r in sheet.rows[:2]] == ["H", "L"]
    assert [str(w) for w in sheet.warnings] == [
        f"{tmp_path / 'fmea.csv'}: row 2, column 'AP': the sheet gives H, the AIAG-VDA table M for S=8 O=4 D=3; kept H"]


# --------------------------------------------------------------------------- refusals


def _set(row: int, column: str, value: str) -> Callable[[Grid], None]:
    def edit(grid: Grid) -> None:
        grid[row - 1][grid[0].index(column)] = value
    return edit


def _drop(column: str) -> Callable[[Grid], None]:
    def edit(grid: Grid) -> None:
        at = grid[0].index(column)
        for cells in grid:
            del cells[at]
    return edit


@pytest.mark.parametrize(("edit", "expected"), [
    (_drop("Severity"), "row 1, column 'Severity': no such column in the header; name one 'Severity' or 'S'"),
    (_set(7, "Severity", "11"), "row 7, column 'Severity': 11 is not between 1 and 10"),
    (_set(4, "Severity", "high"), "row 4, column 'Severity': 'high' is not a whole number from 1 to 10"),
    (_set(9, "Failure Mode", " "), "row 9, column 'Failure Mode': empty; every row needs one"),
    (_set(3, "AP", "urgent"), "row 3, column 'AP': 'urgent' is not H, M or L (High, Medium, Low)"),
], ids=["missing-column", "severity-11", "severity-high", "empty-failure-mode", "bad-ap"])
def test_a_bad_sheet_is_refused_naming_row_and_column_and_nothing_is_written(
        tmp_path: Path, edit: Callable[[Grid], None], expected: str) -> None:
    good, bad = _write_csv(tmp_path / "good" / "fmea.csv", _grid()), _edited(tmp_path, edit)
    catalogue = tmp_path / "assets.duckdb"
    with Catalogue(catalogue) as cat:
        cat.put_fmea(read_fmea(good))
    with pytest.raises(FmeaError) as err:
        read_fmea(bad)
    assert str(err.value) == f"{bad}: {expected}"
    result = runner.invoke(cli, ["fmea", "import", str(bad), "--catalogue", str(catalogue)])
    assert result.exit_code == 2
    assert result.stderr == f"{bad}: {expected}\n" and result.stdout == ""  # one line, on stderr
    with Catalogue(catalogue) as cat:  # only the good sheet, as before
        assert [a.location.rsplit("/", 2)[-2] for a in cat.assets("fmea")] == ["good"]
        assert len(cat.fmea_rows()) == 14 and cat.con.execute("SELECT count(*) FROM lineage").fetchone() == (14,)


def test_every_bad_row_is_named_not_only_the_first(tmp_path: Path) -> None:
    def edit(grid: Grid) -> None:
        _set(3, "Occurrence", "0")(grid)
        _set(3, "Failure Cause", "")(grid)
        _set(12, "Detection", "7.5")(grid)
        _set(15, "Severity", "")(grid)

    with pytest.raises(FmeaError) as err:
        read_fmea(_edited(tmp_path, edit))
    assert [(p.row, p.column) for p in err.value.problems] == [
        (3, "Failure Cause"), (3, "Occurrence"), (12, "Detection"), (15, "Severity")]
    assert str(err.value).count("\n") == 3 and "'7.5' is not a whole number" in str(err.value)


def test_a_file_that_is_no_fmea_sheet_is_refused(tmp_path: Path) -> None:
    notes = tmp_path / "notes.csv"
    notes.write_text("just,some\nnotes,here\n")
    for path, expected in ((notes, "no header row"), (tmp_path / "fmea.txt", "give a .csv or an .xlsx"),
                           (tmp_path / "missing.csv", "file not found")):
        if path.suffix == ".txt":
            path.write_text("x")
        with pytest.raises(ValueError, match=expected):
            read_fmea(path)
    fake = tmp_path / "fmea.xlsx"
    fake.write_text("not a zip")
    with pytest.raises(ValueError, match="not an Excel workbook"):
        read_fmea(fake)


# --------------------------------------------------------------------------- the action priority table


# Cells read off the printed table "Action Priority (AP) for DFMEA and PFMEA" of the AIAG & VDA FMEA Handbook
# (2019): severity band, occurrence band, detection band -> AP; each is a cell where a neighbour differs.
@pytest.mark.parametrize(("s", "o", "d", "ap"), [
    (10, 10, 10, "H"), (9, 8, 1, "H"),          # S 9-10, O 8-10: H whatever the detection
    (10, 6, 1, "H"),                            # S 9-10, O 6-7: H whatever the detection
    (9, 5, 2, "H"), (9, 4, 1, "M"),             # S 9-10, O 4-5: H down to D 2-4, M at D 1
    (10, 3, 7, "H"), (9, 2, 5, "M"), (10, 3, 4, "L"), (9, 2, 1, "L"),  # S 9-10, O 2-3: H, M, L, L
    (10, 1, 10, "L"), (9, 1, 1, "L"),           # O 1 (very low): L even at S 9-10
    (8, 9, 1, "H"), (7, 7, 2, "H"), (8, 6, 1, "M"),           # S 7-8, O 8-10 all H; O 6-7 H H H M
    (7, 4, 7, "H"), (8, 5, 5, "M"), (7, 4, 1, "M"),           # S 7-8, O 4-5: H M M M
    (8, 3, 7, "M"), (7, 2, 5, "M"), (8, 2, 4, "L"),           # S 7-8, O 2-3: M M L L
    (6, 8, 7, "H"), (4, 10, 5, "H"), (5, 9, 4, "M"), (6, 8, 1, "M"),   # S 4-6, O 8-10: H H M M
    (5, 7, 7, "M"), (4, 6, 2, "M"), (6, 6, 1, "L"),           # S 4-6, O 6-7: M M M L
    (6, 5, 7, "M"), (5, 4, 6, "L"),                           # S 4-6, O 4-5: M L L L
    (6, 3, 10, "L"),                                          # S 4-6, O 2-3: L
    (3, 8, 7, "M"), (2, 10, 5, "M"), (3, 9, 4, "L"), (3, 7, 10, "L"),  # S 2-3: M M L L at O 8-10, L below
    (1, 10, 10, "L"),                                         # S 1 (no discernible effect): L
])
def test_action_priority_matches_the_published_table(s: int, o: int, d: int, ap: str) -> None:
    assert action_priority(s, o, d) == ap


RANK = {"L": 0, "M": 1, "H": 2}
ratings = st.integers(1, 10)


@settings(max_examples=300, deadline=None)
@given(ratings, ratings, ratings, st.sampled_from([0, 1, 2]), st.integers(1, 9))
def test_action_priority_is_defined_and_monotone(s: int, o: int, d: int, which: int, step: int) -> None:
    ap = action_priority(s, o, d)
    assert ap in ("H", "M", "L")
    higher = [s, o, d]
    higher[which] = min(10, higher[which] + step)  # a worse severity, occurrence or detection rating
    assert RANK[action_priority(*higher)] >= RANK[ap]


@pytest.mark.parametrize("rating", [0, 11, 5.0, "5", True])
def test_action_priority_refuses_what_is_no_rating(rating: object) -> None:
    with pytest.raises(ValueError, match="whole number from 1 to 10"):
        action_priority(5, rating, 5)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the knowledge draft


@pytest.fixture(scope="module")
def motor_names() -> list[str]:
    """The tag names and asset paths of the motor assembly line (what a knowledge file may name)."""
    from rootcause.diagnoser import plant_names
    from twin.harness.binding import plant_tagmap
    from twin.harness.episode import build_episode_plant
    from twin.harness.scenario import load_scenario

    scenario = load_scenario(SHEET.parent / "motor_assembly_clean.yaml")
    return plant_names(plant_tagmap(build_episode_plant(scenario, 1), 10))


def test_the_drafted_knowledge_validates_and_maps_the_patterns(tmp_path: Path, motor_names: list[str]) -> None:
    draft = draft_knowledge(read_fmea(SHEET), dict(parse_mapping(m) for m in MAPS))
    assert KnowledgeFile.model_validate(draft).plant == "motor"
    path = tmp_path / "knowledge.yaml"
    path.write_text(knowledge_yaml(draft))
    spec = validate_document(KnowledgeFile, read_yaml(path), path)
    knowledge = load_knowledge(path, motor_names)  # every name drafted is one the line has
    links = {(link.cause, link.effect): link.note for link in spec.links}
    assert set(knowledge.links) == set(links)
    # cause -> failure mode -> effect of the S 9 line: bearing lot -> preload (friction at run-in)
    assert fmea_refs(links["motor.bearing_press.bearing_lot", "motor.runin_test.friction_torque"]) == [
        ("fmea:fmea#5", 9, "H")]
    # the S 10 line: driver bit -> short of torque; its effect maps to nothing and is listed, not dropped
    assert fmea_refs(links["motor.screwdriver", "motor.screwdriver.final_torque"]) == [("fmea:fmea#7", 10, "H")]
    # a failure mode -> effect link (skewed seat -> vibration), and a cause -> failure mode one
    assert fmea_refs(links["motor.bearing_press.force_curve", "motor.eol_test.vibration"]) == [("fmea:fmea#4", 6, "L")]
    assert fmea_refs(links["motor.bearing_press.rotor_lot", "motor.bearing_press.force_peak"]) == [
        ("fmea:fmea#2", 8, "M")]
    for note in links.values():
        assert fmea_refs(note) and note.startswith("[fmea:fmea#")
    text = path.read_text()
    todo = text.split("todo:", 1)[1].split("\nplant:", 1)[0]
    assert "fmea:fmea#7 (S=10 AP=H): effect \"End shield loosens" in todo
    assert "fmea:fmea#15 (S=2 AP=L): failure mode 'Housing scratched in the test fixture'" in todo
    assert todo.index("fmea#7 ") < todo.index("fmea#15 ")  # most severe first
    # every row either has a link or is in the todo list
    linked = {ref.row_id for note in links.values() for ref in fmea_refs(note)}
    assert all(r.id in linked or f"{r.id} " in todo for r in read_fmea(SHEET).rows)


def test_globs_several_names_and_unused_patterns(tmp_path: Path, motor_names: list[str]) -> None:
    maps = dict(parse_mapping(m) for m in ["clearance supplier lot=motor.bearing_press.bearing_lot",
                                           "bearing play=motor.eol_test.*",
                                           "fixture jaw=motor.eol_test",
                                           "scratched=motor.eol_test.vibration, motor.eol_test.sound_level",
                                           "no such words=motor.eol_test.vibration"])
    draft = draft_knowledge(read_fmea(SHEET), maps, plant="motor")
    links = {(link["cause"], link["effect"]): link["note"] for link in draft["links"]}
    glob = "motor.eol_test.{m2_1}"  # '*' became a placeholder of the pattern's own
    assert set(links) == {("motor.bearing_press.bearing_lot", glob), ("motor.eol_test", "motor.eol_test.vibration"),
                          ("motor.eol_test", "motor.eol_test.sound_level")}
    assert [r.row_id for r in fmea_refs(links["motor.bearing_press.bearing_lot", glob])] == ["fmea:fmea#12"]
    assert [r.row_id for r in fmea_refs(links["motor.eol_test", "motor.eol_test.sound_level"])] == ["fmea:fmea#15"]
    path = tmp_path / "k.yaml"
    path.write_text(knowledge_yaml(draft))
    expanded = load_knowledge(path, motor_names).links
    assert ("motor.bearing_press.bearing_lot", "motor.eol_test.vibration") in expanded
    assert ("motor.bearing_press.bearing_lot", "motor.eol_test.bearing_lot") in expanded  # as typed: every signal
    assert "--map 'no such words' matched no cell" in path.read_text()


def test_two_lines_of_one_link_are_drafted_once(tmp_path: Path) -> None:
    draft = draft_knowledge(read_fmea(SHEET), {"radial internal clearance": "motor.bearing_press.bearing_lot",
                                               "bearing preloaded": "motor.eol_test.vibration",
                                               "bearing play": "motor.eol_test.vibration"})
    (link,) = draft["links"]
    assert [r.row_id for r in fmea_refs(link["note"])] == ["fmea:fmea#5", "fmea:fmea#12"]  # S 9 before S 6


@pytest.mark.parametrize("text", ["motor.eol_test.vibration", "=motor.x", "vibration=", "a=motor x", "a=b.c$"])
def test_a_mapping_that_is_no_pattern_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="--map"):
        parse_mapping(text)


# --------------------------------------------------------------------------- the commands


def test_fmea_import_prints_what_it_imported(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["fmea", "import", str(SHEET), "--catalogue", str(tmp_path / "a.duckdb")])
    assert result.exit_code == 0, result.output
    out = flat(result.stdout)
    for line in ("lines imported 14", "action priority H 2", "action priority M 3", "action priority L 9",
                 "priority from the AIAG-VDA table 3"):
        assert line in out
    with Catalogue(tmp_path / "a.duckdb") as cat:
        assert len(cat.fmea_rows()) == 14


def test_knowledge_from_fmea_writes_the_draft(tmp_path: Path, motor_names: list[str]) -> None:
    out = tmp_path / "knowledge.yaml"
    args = ["knowledge", "from-fmea", str(SHEET), *(a for m in MAPS for a in ("--map", m)), "--out", str(out)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "wrote 10 links" in result.stdout and "from 8 of 14 FMEA lines" in result.stdout
    assert load_knowledge(out, motor_names).plant == "motor"
    again = runner.invoke(cli, args)
    assert again.exit_code == 2 and again.stderr.strip().endswith("exists; --force overwrites it")
    assert runner.invoke(cli, [*args, "--force"]).exit_code == 0
    bad_map = runner.invoke(cli, ["knowledge", "from-fmea", str(SHEET), "--map", "vibration", "--out",
                                  str(tmp_path / "k2.yaml")])
    assert bad_map.exit_code == 2 and bad_map.stderr.count("\n") == 1 and "give TEXT=NAME" in bad_map.stderr
    bad_sheet = _edited(tmp_path, _set(7, "Severity", "11"))
    refused = runner.invoke(cli, ["knowledge", "from-fmea", str(bad_sheet), "--map", "a=b", "--out",
                                  str(tmp_path / "k3.yaml")])
    assert refused.exit_code == 2
    assert refused.stderr == f"{bad_sheet}: row 7, column 'Severity': 11 is not between 1 and 10\n"
    assert not (tmp_path / "k3.yaml").exists()
