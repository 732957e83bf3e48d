"""``twin tags import`` from the three vendor exports and ``twin tags export`` of any tag map (no sockets)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO
from tests.support import every_kind_tagmap
from twin.cli import app
from virtual_plc.tagimport import import_tags
from virtual_plc.tagmap import load_tagmap

runner = CliRunner()
FIXTURES = REPO / "tests" / "fixtures"
WIDE = {"COLUMNS": "200"}


@pytest.mark.parametrize(("fmt", "name", "imported", "skipped", "first_skipped"), [
    ("kepware", "kepware_tags.csv", 19, 4, "row 16, column 'Scan Rate': '1OO' is not a number"),
    ("tia", "tia_plc_tags.xlsx", 18, 2, "row 10, column 'Hmi Writeable': 'Maybe' is not True or False"),
    ("rockwell", "rockwell_tags.csv", 15, 6, "row 23, column 'DATATYPE': an array of string values"),
])
def test_import_writes_the_map_and_names_every_skipped_row(fmt: str, name: str, imported: int, skipped: int,
                                                           first_skipped: str, tmp_path: Path) -> None:
    out = tmp_path / "tags.yaml"
    result = runner.invoke(app, ["tags", "import", str(FIXTURES / name), "--from", fmt, "--plant", "line1",
                                 "--out", str(out)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert re.search(rf"imported\W+{imported}\b", result.output) and re.search(rf"skipped\W+{skipped}\b", result.output)
    assert result.output.count("skipped: ") == skipped
    assert f"skipped: {FIXTURES / name}: {first_skipped}" in result.output
    assert f"wrote {imported} tags to {out}" in result.output
    tagmap = load_tagmap(out)
    assert tagmap.plant == "line1" and len(tagmap) == imported and tagmap.clock_tag is None


def test_import_of_a_file_it_cannot_read_exits_2_naming_the_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["tags", "import", str(FIXTURES / "rockwell_tags.csv"), "--from", "kepware",
                                 "--out", str(tmp_path / "tags.yaml")], env=WIDE)
    assert result.exit_code == 2
    assert f"{FIXTURES / 'rockwell_tags.csv'}: no header line starting with 'Tag Name'" in result.output
    assert not (tmp_path / "tags.yaml").exists()
    missing = runner.invoke(app, ["tags", "import", str(tmp_path / "nope.xlsx"), "--from", "tia"], env=WIDE)
    assert missing.exit_code == 2 and "nope.xlsx: file not found" in missing.output
    bad_format = runner.invoke(app, ["tags", "import", str(FIXTURES / "kepware_tags.csv"), "--from", "wonderware"])
    assert bad_format.exit_code == 2 and "--from must be kepware, tia, rockwell" in bad_format.output


def test_import_with_every_row_skipped_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    export = tmp_path / "bits.csv"  # a bit inside a register: no tag type holds one
    export.write_text('"Tag Name","Address","Data Type"\n"A.run","400001.0","Boolean"\n')
    result = runner.invoke(app, ["tags", "import", str(export), "--from", "kepware", "--out",
                                 str(tmp_path / "tags.yaml")], env=WIDE)
    assert result.exit_code == 1 and "nothing imported" in result.output
    assert not (tmp_path / "tags.yaml").exists()


def test_export_any_tag_map_to_kepware_and_import_it_back(tmp_path: Path) -> None:
    tagmap = every_kind_tagmap()
    tagmap.to_yaml(tmp_path / "tags.yaml")
    tagmap.to_csv(tmp_path / "tags.csv")
    for source in ("tags.yaml", "tags.csv"):
        out = tmp_path / f"kepware_from_{Path(source).suffix[1:]}.csv"
        result = runner.invoke(app, ["tags", "export", str(tmp_path / source), "--to", "kepware", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert f"wrote {len(tagmap)} tags" in result.output and "word order" in result.output  # the map has both
        back = import_tags(out, "kepware", plant="t").tagmap
        assert [(t.name, t.dtype, t.low, t.high, t.scale) for t in back.tags] == \
            [(t.name, t.dtype, t.low, t.high, t.scale) for t in tagmap.tags]


def test_export_a_tag_map_file_as_our_csv_or_yaml(tmp_path: Path) -> None:
    every_kind_tagmap().to_csv(tmp_path / "tags.csv")
    result = runner.invoke(app, ["tags", "export", str(tmp_path / "tags.csv"), "--out", str(tmp_path / "out.yaml")])
    assert result.exit_code == 0, result.output
    assert load_tagmap(tmp_path / "out.yaml") == every_kind_tagmap()
    wrong = runner.invoke(app, ["tags", "export", str(tmp_path / "tags.csv"), "--to", "kepware",
                                "--out", str(tmp_path / "k.yaml")])
    assert wrong.exit_code == 2 and "--out must end in .csv" in wrong.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("plant: a\ntags:\n  - {name: nodots, period_ms: 10}\n")
    result = runner.invoke(app, ["tags", "export", str(broken), "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "broken.yaml" in result.output
