"""Risk ranking: severities from the knowledge file (nodes, FMEA-rated links) flow upstream through the plant
graph; alarms and diagnoses carry the highest severity they threaten; reports rank by it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from qtconfig import ConfigError
from rootcause.knowledge import load_knowledge
from rootcause.risk import RiskMap
from tests.conftest import REPO
from twin.cli import app
from twin.contracts import by_risk
from twin.harness.runview.run import priority_of

NAMES = ["l.valve.cmd", "l.weld.current", "l.weld.strength", "l.paint.gloss", "l.paint.thickness"]


def knowledge(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "knowledge.yaml"
    path.write_text("plant: l\n" + body)
    return path


def test_node_and_link_severities_reach_the_knowledge_and_the_highest_wins(tmp_path: Path) -> None:
    path = knowledge(tmp_path, """nodes:
  - {name: l.weld.strength, kind: quality, severity: 9}
  - {name: l.paint.gloss, kind: quality}
links:
  - {cause: l.valve.cmd, effect: l.weld.current}
  - {cause: l.weld.current, effect: l.weld.strength}
  - {cause: l.paint.thickness, effect: l.paint.gloss, severity: 2}
  - {cause: l.valve.cmd, effect: l.paint.gloss, severity: 3}
""")
    loaded = load_knowledge(path, NAMES)
    assert loaded.severities == {"l.weld.strength": 9, "l.paint.gloss": 3}
    graph = nx.DiGraph(list(loaded.links))
    risk = RiskMap(graph, loaded.severities)
    assert risk.of("l.valve.cmd").severity == 9 and risk.of("l.valve.cmd").effect == "l.weld.strength"
    assert risk.of("l.paint.thickness").severity == 3 and risk.of("l.weld.current[0]").severity == 9
    assert risk.highest(["l.paint.thickness", "l.weld.current"]).effect == "l.weld.strength"


@pytest.mark.parametrize(("line", "words"), [
    ("  - {name: l.weld.strength, kind: quality, severity: 11}", "severity"),
    ("  - {name: l.weld.strength, kind: quality, severity: high}", "severity"),
])
def test_a_severity_off_the_scale_is_refused_naming_file_and_field(tmp_path: Path, line: str, words: str) -> None:
    path = knowledge(tmp_path, f"nodes:\n{line}\nlinks:\n  - {{cause: l.valve.cmd, effect: l.weld.strength}}\n")
    with pytest.raises(ConfigError, match=re.escape(str(path))) as err:
        load_knowledge(path, NAMES)
    assert f"field nodes[0].{words} (line 3)" in str(err.value)


@given(st.data())
def test_a_node_threatens_the_highest_severity_anywhere_downstream(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 12))
    edges = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=30))
    graph = nx.DiGraph()
    graph.add_nodes_from(f"n{k}" for k in range(n))
    graph.add_edges_from((f"n{a}", f"n{b}") for a, b in edges if a != b)
    rated = data.draw(st.dictionaries(st.integers(0, n - 1), st.integers(1, 10), max_size=n))
    severities = {f"n{k}": s for k, s in rated.items()}
    risk = RiskMap(graph, severities)
    for node in (f"n{k}" for k in range(n)):
        reach = ({node} | nx.descendants(graph, node)) if node in graph else {node}
        expected = max((severities[m] for m in reach if m in severities), default=None)
        found = risk.of(node)
        assert (found.severity if found else None) == expected
        if found:
            assert found.effect in reach and severities[found.effect] == expected


@pytest.mark.slow
def test_a_motor_run_ranks_the_run_in_seizure_risk_above_the_eol_rattle(tmp_path: Path) -> None:
    """The wide bearing box: preloaded motors (run-in friction: fire hazard, severity 9) and loose ones (EOL
    vibration: rattle complaint, 6). Alarms carry the severity the knowledge file gives their tag's effects; the
    HTML report and the summary rank them by it, and each diagnosis carries the highest of its alarms'."""
    scenario = REPO / "scenarios/lines/motor_assembly/motor_assembly_bearing_lot_spread.yaml"
    out = tmp_path / "run"
    done = CliRunner().invoke(app, ["run", str(scenario), "--offline", "--out", str(out)], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    report = json.loads((out / "report.json").read_text())
    declared = {n["name"]: n.get("severity") for n in _yaml(REPO / "scenarios/lines/motor_assembly/knowledge.yaml")}
    alarms = report["alarms"]
    assert {a["tag"] for a in alarms} >= {"motor.runin_test.friction_torque", "motor.eol_test.vibration"}
    for alarm in alarms:
        if declared.get(alarm["tag"]) is not None:  # a rated quality characteristic: at least its own severity
            assert alarm["severity"] >= declared[alarm["tag"]]
    for diagnosis in report["diagnoses"]:
        mine = [a.get("severity") or 0 for a in alarms if a["id"] in diagnosis["alarm_ids"]]
        assert (diagnosis.get("severity") or 0) == max(mine, default=0)
    riskiest = by_risk(alarms)[0]
    assert riskiest["severity"] == max(a.get("severity") or 0 for a in alarms)
    assert f"severity {riskiest['severity']}" in done.output  # the summary's highest-risk row
    html = CliRunner().invoke(app, ["report", "html", str(out)])
    assert html.exit_code == 0, html.output
    page = (out / "report.html").read_text()
    table = page[page.index("Ranked by priority"):]
    rows = re.findall(r"<tr><td>(A\d+)</td><td>([^<]*)</td>", table)
    order = {"urgent": 3, "high": 2, "medium": 1, "low": 0}
    priorities = [order[p] for _, p in rows]
    assert priorities == sorted(priorities, reverse=True) and rows[0][1] == priority_of(riskiest["severity"])


def _yaml(path: Path) -> list[dict]:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(path.read_text())["nodes"]
