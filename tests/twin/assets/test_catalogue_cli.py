"""``twin assets scan|list|show|label``: the catalogue file, its credibility, and bad input as one line (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from tests.support import flat
from twin.cli import app
from twin.edge.assets.catalogue import Catalogue

runner = CliRunner()



@pytest.fixture
def catalogue(tmp_path: Path, clean_run: Path, degraded_run: Path) -> Path:
    """A catalogue with both tiny runs scanned."""
    path = tmp_path / "assets.duckdb"
    result = runner.invoke(app, ["assets", "scan", str(clean_run), str(degraded_run), "--catalogue", str(path)])
    assert result.exit_code == 0, result.output
    assert "lowest credibility" in result.output
    return path


def test_scanning_runs_registers_tags_and_historians_with_credibility(catalogue: Path, degraded_run: Path) -> None:
    with Catalogue(catalogue) as cat:
        tags, historians = cat.assets("tag"), cat.assets("historian")
        flow = cat.get("tag:coater.coolant.flow")
        runs = cat.measurements(flow.id)
    assert len(tags) == 34 and len(historians) == 2
    assert {a.source_kind for a in tags} == {"device-direct"}  # a PLC tag, its tag map's credibility 1.0
    # the flow was good throughout one run and lost 12 of 20 s in the other: pooled over both
    assert [round(m["good_share"], 2) for m in runs] == [1.0, 0.4]
    assert flow.good_share == pytest.approx(0.7, abs=0.01) and flow.unit == "L/min"
    assert flow.credibility == pytest.approx(flow.good_share * (1 - flow.gap_share))
    steady = next(a for a in tags if a.id == "tag:coater.line.speed")
    assert steady.credibility == 1.0 > flow.credibility
    by_id = {h.id.rsplit("/", 1)[-1]: h for h in historians}
    assert by_id["clean"].credibility == 1.0 > by_id["degraded"].credibility


def test_labels_owner_and_compliance_survive_a_rescan(catalogue: Path, degraded_run: Path) -> None:
    asset = "tag:coater.coolant.flow"
    labelled = runner.invoke(app, ["assets", "label", asset, "coolant-dropout -> thickness", "--owner", "maintenance",
                                   "--personal-data", "--retention-days", "365", "--catalogue", str(catalogue)])
    assert labelled.exit_code == 0, labelled.output
    assert runner.invoke(app, ["assets", "scan", str(degraded_run), "--catalogue", str(catalogue)]).exit_code == 0
    shown = runner.invoke(app, ["assets", "show", asset, "--json", "--catalogue", str(catalogue)])
    record = json.loads(shown.stdout)
    assert (record["labels"], record["owner"], record["personal_data"], record["retention_days"]) == (
        ["coolant-dropout -> thickness"], "maintenance", True, 365)
    listed = runner.invoke(app, ["assets", "list", "--label", "coolant-dropout -> thickness", "--catalogue",
                                 str(catalogue)])
    assert listed.exit_code == 0 and ": 1 assets" in flat(listed.output)
    removed = runner.invoke(app, ["assets", "label", asset, "coolant-dropout -> thickness", "--remove",
                                  "--catalogue", str(catalogue)])
    assert removed.exit_code == 0
    with Catalogue(catalogue) as cat:
        assert cat.get(asset).labels == [] and cat.get(asset).owner == "maintenance"


def test_models_and_knowledge_files_are_assets(tmp_path: Path) -> None:
    model, knowledge = tmp_path / "m.pt", tmp_path / "coater.yaml"
    model.write_bytes(b"weights")
    model.with_suffix(".json").write_text(json.dumps({"version": "v1", "data": {"health": {
        "healthy_share": 0.5, "forced": True}}}))
    knowledge.write_text("links: []\n")
    with Catalogue(tmp_path / "a.duckdb") as cat:
        (m,), (k,) = cat.scan(model), cat.scan(knowledge)
    assert (m.kind, m.source_kind, m.credibility, m.description) == ("model", "edge-computed", 0.45, "v1 (gate forced)")
    assert (k.kind, k.source_kind, k.credibility) == ("knowledge", "manual-entry", 0.5)


@pytest.mark.parametrize("args", [["show", "tag:no.such.tag"], ["label", "tag:no.such.tag", "x"]])
def test_an_unknown_asset_is_one_line_exit_2(catalogue: Path, args: list[str]) -> None:
    result = runner.invoke(app, ["assets", *args, "--catalogue", str(catalogue)])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "no asset 'tag:no.such.tag'" in result.output


def test_a_file_that_is_not_a_catalogue_is_one_line_exit_2(tmp_path: Path) -> None:
    text, other = tmp_path / "notes.duckdb", tmp_path / "other.duckdb"
    text.write_text("not a database\n")
    duckdb.connect(str(other)).execute("CREATE TABLE t (x INT)").close()
    for path, expected in ((text, "not a DuckDB catalogue"), (other, "not an asset catalogue"),
                           (tmp_path / "missing.duckdb", "no catalogue here")):
        result = runner.invoke(app, ["assets", "list", "--catalogue", str(path)])
        assert result.exit_code == 2, result.output
        assert result.output.strip().count("\n") == 0 and str(path.name) in result.output and expected in result.output
    scan = runner.invoke(app, ["assets", "scan", str(tmp_path), "--catalogue", str(tmp_path / "c.duckdb")])
    assert scan.exit_code == 2 and "not a run directory" in scan.output
    kind = runner.invoke(app, ["assets", "list", "--kind", "tags", "--catalogue", str(tmp_path / "c.duckdb")])
    assert kind.exit_code == 2 and "--kind must be one of" in kind.output
