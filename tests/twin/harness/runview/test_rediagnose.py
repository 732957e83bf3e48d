"""What-if on knowledge (:mod:`twin.harness.runview.rediagnose`): a finished run diagnosed again with other
knowledge, on a real run of the shipped blade-drift scenario; and the checks and saving the knowledge editor uses."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import twin.cli.rediagnose  # noqa: F401 - registers `twin rootcause rediagnose` (twin.cli imports it too)
from rootcause.diagnoser import plant_names
from rootcause.knowledge import Knowledge, KnowledgeFile, load_knowledge
from tests.conftest import REPO
from twin.cli import app
from twin.contracts import Candidate, Diagnosis
from twin.harness.runview import load_run
from twin.harness.runview.rediagnose import (
    Rediagnosis,
    check_knowledge,
    check_rows,
    knowledge_lineage,
    open_knowledge,
    rediagnose,
    save_knowledge,
)
from virtual_plc.tagmap import load_tagmap

SCENARIO = REPO / "scenarios" / "coater_blade_drift.yaml"
DURATION_S = 180.0  # blade 3's drift alarms at about 170 s and is diagnosed 5 s later
COATER_KNOWLEDGE = REPO / "plant_models" / "coater" / "knowledge.yaml"
MOTOR_KNOWLEDGE = REPO / "scenarios" / "lines" / "motor_assembly" / "knowledge.yaml"


@pytest.fixture(scope="module")
def drift_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped blade-drift scenario run offline for 180 plant seconds (about 15 s): its diagnosis names
    blade 3 with the plant's own knowledge and GNN."""
    from twin.harness.episode import EpisodeConfig, run_episode
    from twin.harness.scenario import load_scenario

    out = tmp_path_factory.mktemp("rediagnose") / "blade_drift"
    scenario = load_scenario(SCENARIO)
    asyncio.run(run_episode(scenario, EpisodeConfig(out_dir=out, mode="offline", seed=scenario.seed,
                                                    duration_s=DURATION_S)))
    return out


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` -> the SHA-256 of its bytes."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def without_wall_time(diagnosis: Diagnosis) -> dict:
    """A diagnosis as JSON, without the wall-clock time it took (the one figure a rerun cannot repeat)."""
    return diagnosis.model_dump(mode="json", exclude={"wall_ms"})


def knowledge_of(run_dir: Path) -> Knowledge:
    """The plant's own knowledge, resolved against the run's tags."""
    return load_knowledge(COATER_KNOWLEDGE, plant_names(load_tagmap(run_dir / "tags.csv")))


@pytest.mark.slow
def test_the_runs_own_knowledge_gives_back_the_recorded_diagnoses(drift_run: Path) -> None:
    run = load_run(drift_run)
    assert run.diagnoses and run.diagnoses[0].top.asset == "coater.blade3", "the fixture should diagnose the drift"
    assert run.rootcause_info["knowledge"] == str(COATER_KNOWLEDGE)
    before = snapshot(drift_run)
    result = rediagnose(drift_run, run.rootcause_info["knowledge"])
    assert [p.recorded.id for p in result.pairs] == [d.id for d in run.diagnoses]
    for pair in result.pairs:  # the same graph, method, model, times and alarms: the same answer, in full
        assert without_wall_time(pair.new) == without_wall_time(pair.recorded)
        assert not pair.changed
    assert result.changed == 0 and result.method == "gnn"
    assert result.model_version == run.rootcause_info["model_version"]
    assert result.links == run.rootcause_info["knowledge_links"]
    assert snapshot(drift_run) == before, "rediagnosing wrote into the run folder"


@pytest.mark.slow
def test_without_the_links_from_the_true_cause_the_diagnosis_changes(drift_run: Path) -> None:
    run = load_run(drift_run)
    truth = run.faults[0]["target"]
    assert truth == "coater.blade3"
    own = knowledge_of(drift_run)
    cut = dataclasses.replace(own, links=tuple((c, e) for c, e in own.links if c != truth
                                               and not c.startswith(truth + ".")), path="<without blade 3's links>")
    assert len(cut.links) < len(own.links)
    before = snapshot(drift_run)
    result = rediagnose(drift_run, cut)
    assert result.links < run.rootcause_info["knowledge_links"] and result.knowledge == "<without blade 3's links>"
    for pair in result.pairs:
        assert without_wall_time(pair.new) != without_wall_time(pair.recorded)
        new_scores = {c.asset: c.score for c in pair.new.candidates}
        old_scores = {c.asset: c.score for c in pair.recorded.candidates}
        assert new_scores != old_scores
        assert pair.new.confidence < pair.recorded.confidence  # less sure of the cause it cannot trace any more
    assert snapshot(drift_run) == before, "rediagnosing wrote into the run folder"


@pytest.mark.slow
def test_the_cli_prints_recorded_against_new_and_refuses_another_plants_knowledge(drift_run: Path) -> None:
    before = snapshot(drift_run)
    runner = CliRunner()
    shown = runner.invoke(app, ["rootcause", "rediagnose", str(drift_run), "--knowledge", str(COATER_KNOWLEDGE),
                                "--json"])
    assert shown.exit_code == 0, shown.output
    payload = json.loads(shown.stdout)
    assert payload["changed"] == 0 and payload["method"] == "gnn"
    assert [(r["diagnosis"], r["recorded cause"], r["new cause"]) for r in payload["rows"]] == [
        (d.id, "coater.blade3", "coater.blade3") for d in load_run(drift_run).diagnoses]
    table = runner.invoke(app, ["rootcause", "rediagnose", str(drift_run), "--knowledge", str(COATER_KNOWLEDGE)])
    assert table.exit_code == 0 and "recorded vs new diagnosis" in table.stdout
    assert "0 of 1 diagnoses name another most likely cause" in " ".join(table.stdout.split())
    refused = runner.invoke(app, ["rootcause", "rediagnose", str(drift_run), "--knowledge", str(MOTOR_KNOWLEDGE)])
    assert refused.exit_code == 2 and "the knowledge is of plant 'motor'" in refused.output
    assert snapshot(drift_run) == before


# ---------------------------------------------------------------- the editor's checks and saving (no run)
NAMES = ["c.valve", "c.valve.flow", "c.blade1", "c.blade1.pressure", "c.xray.wrinkles"]


def test_the_validator_names_the_row_and_field_of_each_problem() -> None:
    document = {"plant": "c", "nodes": [{"name": "c.head", "kind": "equipment"}], "links": [
        {"cause": "c.valve", "effect": "c.valve.flow"},
        {"cause": "c.nowhere", "effect": "c.blade1.pressure", "note": "a tag the plant lacks"},
        {"cause": "c.head", "effect": "c.gone"},
    ]}
    checked = check_knowledge(document, NAMES)
    assert not checked.ok
    assert [(p.table, p.row, p.field) for p in checked.problems] == [("links", 1, "cause"), ("links", 2, "effect")]
    assert "'c.nowhere' names no tag, asset or declared node" in str(checked.problems[0])
    assert str(checked.problems[0]).startswith("links row 1, field cause: ")
    document["links"][1] = {"cause": "c.valve", "effect": "c.blade1.pressure", "severity": 12}
    checked = check_knowledge(document, NAMES)  # the file's own schema is checked first
    assert [(p.table, p.row, p.field) for p in checked.problems] == [("links", 1, "severity")]
    assert "less than or equal to 10" in checked.problems[0].message


def test_rows_are_numbered_as_the_editor_shows_them_blank_ones_skipped() -> None:
    blank = {"cause": None, "effect": None, "note": "", "severity": None}
    links = [{"cause": "c.valve", "effect": "c.valve.flow", "note": "", "severity": None}, blank,
             {"cause": "c.valve", "effect": "c.nowhere", "note": "", "severity": None}]
    document, checked = check_rows("c", "", [], links, NAMES)
    assert len(document["links"]) == 2
    assert [(p.row, p.field) for p in checked.problems] == [(2, "effect")]
    document, checked = check_rows("c", "", [{"name": "c.head", "kind": "furnace", "severity": None}], links[:1],
                                   NAMES)
    assert [(p.table, p.row, p.field) for p in checked.problems] == [("nodes", 0, "kind")]


def test_saving_writes_a_new_file_the_loader_reads_and_never_overwrites(tmp_path: Path) -> None:
    spec = KnowledgeFile(plant="c", source="test", nodes=[], links=[
        {"cause": "c.valve", "effect": "c.valve.flow", "note": "coil opens the valve"},
        {"cause": "c.{b:blade*}.pressure", "effect": "c.xray.wrinkles", "severity": 7}])
    path = save_knowledge(spec, tmp_path / "knowledge", "no-blade-temperature", origin="the plant's own")
    assert path == tmp_path / "knowledge" / "no-blade-temperature.yaml"
    assert path.read_text().startswith("# Knowledge edited in the Quality Twin app")
    assert open_knowledge(path) == spec
    loaded = load_knowledge(path, NAMES)
    assert loaded.links == (("c.valve", "c.valve.flow"), ("c.blade1.pressure", "c.xray.wrinkles"))
    assert loaded.severities == {"c.xray.wrinkles": 7}
    before = path.read_bytes()
    with pytest.raises(ValueError, match="exists: choose another name"):
        save_knowledge(spec, tmp_path / "knowledge", "no-blade-temperature.yaml")
    with pytest.raises(ValueError, match="a file name, no folder"):
        save_knowledge(spec, tmp_path / "knowledge", "../plant_models/coater/knowledge")
    assert path.read_bytes() == before


def test_a_changed_diagnosis_is_one_naming_another_cause_first() -> None:
    def diagnosis(*assets: str, confidence: float = 0.5) -> Diagnosis:
        return Diagnosis(id="D0001", t_ms=1000, alarm_ids=["A00001"], method="gnn", model_version="t",
                         candidates=[Candidate(asset=a, score=1.0) for a in assets], confidence=confidence)

    assert not Rediagnosis(diagnosis("a", "b"), diagnosis("a", "c", confidence=0.2)).changed
    assert Rediagnosis(diagnosis("a", "b"), diagnosis("b", "a")).changed
    assert Rediagnosis(diagnosis("a"), diagnosis()).changed
    row = Rediagnosis(diagnosis("a", "b"), diagnosis("b", "a")).row()
    assert (row["recorded cause"], row["new cause"], row["changed"]) == ("a", "b", True)


def test_the_links_around_a_node_are_layered_for_the_lineage_drawing() -> None:
    links = (("a", "b"), ("b", "q"), ("c", "q"), ("a", "q"), ("q", "z"))
    upstream = knowledge_lineage(links, "q")
    assert upstream.depth_of() == {"q": 0, "b": -1, "c": -1, "a": -1}
    assert {(s.upstream, s.downstream) for s in upstream.steps} == {("a", "b"), ("b", "q"), ("c", "q"), ("a", "q")}
    both = knowledge_lineage(links, "q", "both")
    assert both.depth_of()["z"] == 1
    assert knowledge_lineage(links, "nowhere").steps == []
