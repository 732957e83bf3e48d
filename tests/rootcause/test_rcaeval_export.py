"""Results in RCAEval's layout: written, read back, the same numbers as the harness's."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from openpyxl import load_workbook

from rootcause.evaluate import Case, rank_cases, summarise_rankings
from rootcause.features import Evidence
from rootcause.graph import PlantGraph
from rootcause.knowledge import Knowledge
from rootcause.metrics import ac_at, avg_at, rank_of
from rootcause.rcaeval import REPORT_COLUMNS, read_report, read_results, write_rcaeval
from virtual_plc.tagmap import Tag, TagMap

GRAPH = PlantGraph(TagMap(plant="p", tags=[Tag(name=t, period_ms=1000) for t in ("p.a.x", "p.b_2.y", "p.c.z")]),
                   Knowledge(plant="p", kinds={}, links=()))
NAMES = GRAPH.candidate_names()  # p.a.x, p.a, p.b_2.y, p.b_2, p.c.z, p.c


def fixed(order: dict[int, dict[str, float]]):
    """A ranker giving case ``i`` (told by its ``t_ms``) the scores ``order[i]`` (by candidate; others 0)."""
    return lambda graph, evidence: np.array([order[evidence.t_ms].get(name, 0.0) for name in NAMES])


CASES = [Case(GRAPH, Evidence(i, 0), label, kind) for i, (label, kind) in
         enumerate([("p.a", "blade_drift"), ("p.b_2", "blade_drift"), ("p.c.z", "stuck"), ("p.a", "stuck")])]
METHODS = {
    # case 0: right first; 1: second; 2: tied with two others (ties count against it: third); 3: last
    "tidy": fixed({0: {"p.a": 6, "p.a.x": 5}, 1: {"p.a": 6, "p.b_2": 5}, 2: {"p.c.z": 5, "p.c": 5, "p.a": 5},
                   3: {"p.a": -1}}),
    "flat": fixed({i: {} for i in range(4)}),  # no opinion: the truth ranks last among equals
}


@pytest.fixture
def exported(tmp_path: Path) -> tuple[Path, list, dict]:
    rankings = rank_cases(CASES, METHODS)
    write_rcaeval(tmp_path, rankings)
    return tmp_path, rankings, summarise_rankings(rankings, METHODS)


def test_a_ranked_list_puts_the_truth_where_the_metrics_count_it() -> None:
    rankings = rank_cases(CASES, METHODS)
    assert [r.rank for r in rankings if r.method == "tidy"] == [1, 2, 3, 6]
    assert [r.rank for r in rankings if r.method == "flat"] == [6, 6, 6, 6]
    for r in rankings:
        assert r.ranked.index(r.label) + 1 == r.rank
        assert rank_of(np.array(METHODS[r.method](GRAPH, CASES[r.case].evidence)), NAMES.index(r.label)) == r.rank


def test_the_layout_is_rcaevals(exported) -> None:
    out, _, _ = exported
    assert sorted(p.name for p in out.iterdir()) == ["flat", "table.csv", "tidy"]
    tidy = out / "tidy"
    assert sorted(p.name for p in tidy.iterdir()) == ["report.csv", "report.xlsx", "results"]
    files = sorted(p.name for p in (tidy / "results").iterdir())
    # {service}_{fault}_{case}.json, with every "_" inside a name turned into "-"
    assert files == ["p.a_blade-drift_0.json", "p.a_stuck_3.json", "p.b-2_blade-drift_1.json", "p.c.z_stuck_2.json"]
    first = json.loads((tidy / "results" / "p.a_blade-drift_0.json").read_text())
    assert list(first) == ["0"] and first["0"][0] == "p.a" and "p.b-2.y" in first["0"]
    sheet = load_workbook(tidy / "report.xlsx").active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == REPORT_COLUMNS
    assert [r[0] for r in rows[1:]] == ["p.a_blade-drift", "p.a_stuck", "p.b-2_blade-drift", "p.c.z_stuck",
                                        "overall_blade-drift", "overall_stuck", "overall"]


def test_the_export_reads_back_to_the_same_numbers(exported) -> None:
    out, rankings, summary = exported
    for method in METHODS:
        back = read_results(out / method)
        assert [(s, f, c) for s, f, c, _ in back] == [("p.a", "blade-drift", 0), ("p.b-2", "blade-drift", 1),
                                                      ("p.c.z", "stuck", 2), ("p.a", "stuck", 3)]
        # RCAEval's scoring: is the answer among the first k of the list?
        ranks = [ranked.index(service) + 1 for service, _, _, ranked in back]
        assert ranks == [r.rank for r in rankings if r.method == method]
        for kind, fault in (("blade_drift", "blade-drift"), ("stuck", "stuck")):
            mine = summary[method]["per_kind"][kind]
            theirs = [rank for rank, (_, f, _, _) in zip(ranks, back) if f == fault]
            assert (ac_at(theirs, 1), ac_at(theirs, 3), avg_at(theirs, 5)) == (mine["ac1"], mine["ac3"], mine["avg5"])
        report = {row["service-fault"]: row for row in read_report(out / method)}
        for key, scores in [("overall", summary[method]["overall"]),
                            ("overall_stuck", summary[method]["per_kind"]["stuck"])]:
            row = report[key]
            assert float(row["top_1_service"]) == float(row["top_1_metric"]) == pytest.approx(scores["ac1"])
            assert float(row["top_3_service"]) == pytest.approx(scores["ac3"])
            assert float(row["avg@5_service"]) == float(row["avg@5_metric"]) == pytest.approx(scores["avg5"])
    assert summary["tidy"]["overall"]["ac1"] == 0.25 and summary["flat"]["overall"]["ac1"] == 0.0


def test_the_paper_table_has_a_row_per_method_and_three_figures_per_fault_kind(exported) -> None:
    out, _, summary = exported
    with (out / "table.csv").open(newline="") as f:
        rows = {row["method"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(METHODS)
    assert float(rows["tidy"]["blade-drift AC@1"]) == summary["tidy"]["per_kind"]["blade_drift"]["ac1"] == 0.5
    assert float(rows["tidy"]["overall Avg@5"]) == pytest.approx(summary["tidy"]["overall"]["avg5"])


def test_a_rerun_replaces_the_result_files(exported) -> None:
    out, rankings, _ = exported
    write_rcaeval(out, [r for r in rankings if r.case < 2])
    assert sorted(p.name for p in (out / "tidy" / "results").iterdir()) == ["p.a_blade-drift_0.json",
                                                                            "p.b-2_blade-drift_1.json"]
