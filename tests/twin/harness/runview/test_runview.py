"""``twin.harness.runview``: what the app and the HTML report show of a run, checked on a real short run."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from plant_models.spec import QualityCharacteristic
from tests.app.fixtures import DURATION_S, ONSET_S, SCORES, bare_run, cli_run, full_run, scenarios_dir
from twin.cli import app
from twin.harness.runview import RunData, list_runs, load_run
from twin.harness.runview.charts import chart_series, control_chart_figure, figure_png, rootcause_figure
from twin.harness.runview.html import render_html
from twin.harness.runview.metrics import compare, run_metrics
from twin.harness.runview.roles import ROLES, panels_for
from twin.harness.runview.run import NO_COMMANDS, NO_DIAGNOSES, NO_LEDGER, NO_SCORES, plant_clock
from twin.harness.runview.whatif import FINISHED_NOTE, FaultKnob, Knobs, LiveRun, apply_knobs, fault_targets, whatif_dir
from twin.harness.scenario import load_scenario


def scenario():
    return load_scenario(scenarios_dir() / "short_blade_drift.yaml")


@pytest.mark.slow
def test_control_chart_flags_the_drift_from_its_onset_and_not_before() -> None:
    series = chart_series(load_run(cli_run()), "coater.blade3.pressure")
    assert series.n_phase1 == 15  # the 15 s warm-up, in 1 s subgroups
    assert series.lcl < series.center < series.ucl
    first = series.first_violation_s()
    assert first is not None and ONSET_S <= first <= ONSET_S + 3
    assert not series.violations[1] or min(series.violations[1]) >= series.n_phase1
    assert figure_png(control_chart_figure(series, [ONSET_S])).startswith(b"\x89PNG")


def test_a_chart_needs_phase_one_data() -> None:
    with pytest.raises(ValueError, match="at least 5 in Phase I"):
        chart_series(load_run(cli_run()), "coater.blade3.pressure", phase1_s=3)


def test_metrics_of_a_run_without_control_say_why_correction_is_missing() -> None:
    run = load_run(bare_run())
    m = run_metrics(run)
    first_alarm_s = min(a["t_ms"] for a in run.alarms) / 1000
    assert m.detection_delay_s == pytest.approx(first_alarm_s - ONSET_S)
    assert m.false_alarms == 0 and m.alarms == len(run.alarms)
    assert m.time_to_correction_s is None and m.notes["time_to_correction_s"] == NO_COMMANDS
    assert 0 < m.defect_rate < 1  # wrinkles rise past 0.5 /m after the drift
    assert run_metrics(run, (QualityCharacteristic("coater.xray.wrinkles_per_m", high=100.0),)).defect_rate == 0.0


def test_time_to_correction_and_comparison_read_the_command_records() -> None:
    a, b = run_metrics(load_run(bare_run())), run_metrics(load_run(full_run()))
    assert b.time_to_correction_s == pytest.approx(23.5 - ONSET_S)  # applied_t_ms of the record
    rows = {r["metric"]: r for r in compare(a, b)}
    assert rows["time to correction (s)"]["A"] == NO_COMMANDS
    assert rows["commands"]["B − A"] == "1"


def test_the_run_view_renders_the_contracts_of_issues_5_and_6() -> None:
    plain, full = load_run(bare_run()), load_run(full_run())
    assert plain.diagnoses == [] and plain.ledger is None and plain.scores is None
    assert [d.top.asset for d in full.diagnoses] == ["coater.blade3"]
    assert full.ledger.ok and full.ledger.kinds == {"alarm": 1, "diagnosis": 1, "command": 1}
    assert full.guidance() == ["blade pressure drift → trim that blade's setpoint: set coater.blade3.pressure_sp "
                               "to 7.6 N, was 8 N (applied)"]  # in the tag's unit, four digits at most
    assert figure_png(rootcause_figure(full.diagnoses[0])).startswith(b"\x89PNG")
    assert RunData(full.run_dir, {**full.report, "scores": SCORES}).scores == SCORES


def test_a_tampered_ledger_and_a_broken_diagnosis_are_reported(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(full_run(), run_dir)
    lines = (run_dir / "ledger.jsonl").read_text().splitlines()
    lines[1] = lines[1].replace("coater.blade3", "coater.blade1", 1)
    (run_dir / "ledger.jsonl").write_text("\n".join(lines) + "\n")
    assert load_run(run_dir).ledger.summary().startswith("ledger BROKEN at entry 1")
    report = json.loads((run_dir / "report.json").read_text())
    del report["diagnoses"][0]["candidates"]
    (run_dir / "report.json").write_text(json.dumps(report))
    with pytest.raises(ValueError, match=r"diagnoses\[0\] breaks the Diagnosis contract"):
        _ = load_run(run_dir).diagnoses


def test_load_run_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no report.json"):
        load_run(tmp_path)
    (tmp_path / "report.json").write_text('{"seed": 1}')
    with pytest.raises(ValueError, match="lacks scenario, mode, faults"):
        load_run(tmp_path)
    assert cli_run() in list_runs(cli_run().parent)


def test_html_report_embeds_charts_and_says_what_a_run_lacks() -> None:
    plain = render_html(load_run(bare_run()))
    assert plain.count("data:image/png;base64,") >= 2 and "<script" not in plain
    for note in (NO_DIAGNOSES, NO_COMMANDS, NO_LEDGER, NO_SCORES):
        assert note in plain.replace("&#x27;", "'")
    full = render_html(load_run(full_run()))
    assert NO_DIAGNOSES not in full and "coater.coolant.valve" in full and "ledger verified: 3 entries" in full


def test_twin_report_html_writes_the_page(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", "html", str(cli_run()), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<!DOCTYPE html>")
    missing = CliRunner().invoke(app, ["report", "html", str(tmp_path)])
    assert missing.exit_code == 2 and "no report.json" in missing.output


def test_knobs_turn_the_scenario_and_refuse_what_cannot_run() -> None:
    spec = scenario()
    same = apply_knobs(spec, Knobs(seed=3, fault=FaultKnob("blade_pressure_drift", "coater.blade3", 0.5, ONSET_S)))
    assert same.model_dump() == spec.model_dump()  # unchanged knobs leave the scenario as it is
    turned = apply_knobs(spec, Knobs(fault=FaultKnob("sensor_stuck", "coater.blade2.pressure", 0.0, 10.0),
                                     scan_ms=20, warmup_s=8))
    assert [(f.kind, f.target, f.start_s, f.rate) for f in turned.faults] == [
        ("sensor_stuck", "coater.blade2.pressure", 10.0, None)]
    assert turned.scan_ms == 20 and turned.detection.warmup_s == 8
    assert apply_knobs(spec, Knobs(clean=True)).faults == []
    with pytest.raises(ValueError, match="not a target of blade_pressure_drift"):
        apply_knobs(spec, Knobs(fault=FaultKnob("blade_pressure_drift", "coater.blade9", 0.3, 10.0)))
    with pytest.raises(ValueError, match="at or after the end of the run"):
        apply_knobs(spec, Knobs(duration_s=ONSET_S))
    assert "coater.blade3" in fault_targets(spec)["blade_pressure_drift"]
    here = whatif_dir("r", spec, Knobs(seed=4))
    assert here == whatif_dir("r", spec, Knobs(seed=4)) != whatif_dir("r", spec, Knobs(seed=4, duration_s=DURATION_S))
    assert here.name.startswith("short_blade_drift-as-scenario-off-seed4-")  # a person can tell runs apart
    named = whatif_dir("r", spec, Knobs(seed=2, policy="auto", fault=FaultKnob("blade_pressure_drift",
                                                                                "coater.blade3", 0.3, 10.0)))
    assert named.name.startswith("short_blade_drift-blade_pressure_drift-auto-seed2-")
    assert whatif_dir("r", spec, Knobs(clean=True)).name.startswith("short_blade_drift-clean-")


def test_knowledge_knobs_turn_the_rootcause_block() -> None:
    spec = scenario()
    turned = apply_knobs(spec, Knobs(knowledge_drop=0.5, knowledge_add=0.1, knowledge_seed=4, method="random_walk"))
    rc = turned.rootcause
    assert (rc.knowledge_drop, rc.knowledge_add, rc.knowledge_seed, rc.method) == (0.5, 0.1, 4, "random_walk")
    assert apply_knobs(spec, Knobs()).rootcause == spec.rootcause
    with pytest.raises(ValueError, match="knowledge_drop"):
        apply_knobs(spec, Knobs(knowledge_drop=1.5))
    with pytest.raises(ValueError, match="method"):
        apply_knobs(spec, Knobs(method="tea_leaves"))


def test_a_live_run_refuses_operator_actions_once_finished(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="speed must be positive"):
        LiveRun(scenario(), Knobs(), tmp_path, speed=0)
    live = LiveRun(scenario(), Knobs(duration_s=1.0, mode="offline", clean=True), tmp_path / "live").start()
    assert live.join(60) and live.error is None and live.report is not None
    assert live.pending() == []  # policy off: nothing waits
    with pytest.raises(RuntimeError, match="finished"):
        live.acknowledge("A00001")
    with pytest.raises(RuntimeError, match="finished"):
        live.approve("c0001")
    assert "Tick “live run”" in FINISHED_NOTE


@pytest.mark.slow
def test_a_live_lockstep_run_scans_over_sockets_to_its_end(tmp_path: Path) -> None:
    """The app's default mode, live: the run on the page's background thread serves its PLC and reads it over
    Modbus and OPC UA on 127.0.0.1 every scan (it once sat at 0 scans for minutes, then crawled)."""
    live = LiveRun(scenario(), Knobs(duration_s=5.0, mode="lockstep", clean=True), tmp_path / "live").start()
    assert live.join(240), f"the live lockstep run stalled at {live.done}/{live.total} scans"
    assert live.error is None and live.report is not None
    assert live.total > 0 and live.done == live.total and live.t_ms == 5000 - 5000 // live.total  # the last scan
    assert live.report.stopped_early is None


def test_roles_hide_what_they_must() -> None:
    raw = {"trends", "control_charts", "alarms", "exports"}
    internals = {"detector", "rootcause", "scores"}
    assert not raw & set(panels_for("after_sales")) and not internals & set(panels_for("after_sales"))
    assert not internals & set(panels_for("test")) and "trends" in panels_for("test")
    assert internals <= set(panels_for("process"))
    assert set(ROLES) == {"test", "process", "after_sales"}
    with pytest.raises(ValueError, match="unknown role 'boss'"):
        panels_for("boss")


def test_the_no_commands_note_tells_an_older_run_from_a_quiet_loop() -> None:
    assert load_run(bare_run()).no_commands_note() == NO_COMMANDS  # no scores: from before issue 6
    run = load_run(cli_run())  # the runner wired issue 6: scores are there
    quiet = RunData(run.run_dir, {**run.report, "commands": []})  # a loop that answered nothing
    assert not quiet.commands and quiet.scores is not None
    assert quiet.no_commands_note() != NO_COMMANDS and "policy off" in quiet.no_commands_note()


def test_the_no_diagnosis_note_says_why() -> None:
    run = load_run(bare_run())
    assert run.no_diagnoses_note() == NO_DIAGNOSES
    off = RunData(run.run_dir, {**run.report, "rootcause": {"enabled": False, "reason": "no knowledge file"}})
    assert off.no_diagnoses_note() == "Root cause was off for this run: no knowledge file"
    quiet = RunData(run.run_dir, {**run.report, "rootcause": {"enabled": True, "method": "gnn"}})
    assert quiet.no_diagnoses_note() == "Root cause ran (gnn) but made no diagnosis in this run."


def test_the_plugin_knobs_choose_the_runs_implementations(tmp_path: Path) -> None:
    spec = scenario()
    turned = apply_knobs(spec, Knobs(detector="tests.plugin_examples:Phantom", control_policy="playbook"))
    assert turned.plugins.detector.use == "tests.plugin_examples:Phantom"
    assert turned.plugins.diagnoser == spec.plugins.diagnoser and turned.plugins.control_policy.use == "playbook"
    assert apply_knobs(spec, Knobs()).plugins == spec.plugins


def test_after_sales_names_the_cause_most_diagnoses_name_not_the_last_one(tmp_path: Path) -> None:
    """Nine diagnoses: five name the feed, four the condenser, the last one among them: the consensus is the
    feed (5 of 9), then the condenser; ties go to the higher mean confidence."""
    import json
    import shutil

    from twin.contracts import Candidate, Diagnosis

    run_dir = tmp_path / "run"
    shutil.copytree(full_run(), run_dir)
    report = json.loads((run_dir / "report.json").read_text())
    names = ["feed"] * 5 + ["condenser"] * 3
    report["diagnoses"] = [Diagnosis(id=f"D{k:04d}", t_ms=1000 * k, alarm_ids=[], candidates=[
        Candidate(asset=f"tep.{name}", score=0.6), Candidate(asset="tep.other", score=0.4)], method="m",
        model_version="v", confidence=0.6 if name == "feed" else 0.9).model_dump(mode="json")
        for k, name in enumerate(names[:4] + names[5:] + names[4:5] + ["condenser"])]
    (run_dir / "report.json").write_text(json.dumps(report))
    run = load_run(run_dir)
    assert run.diagnoses[-1].top.asset == "tep.condenser"  # the last diagnosis is not the consensus
    ranked = run.consensus()
    assert [(c.asset, c.count, c.total) for c in ranked] == [("tep.feed", 5, 9), ("tep.condenser", 4, 9)]
    assert ranked[0].confidence == pytest.approx(0.6)


def test_a_control_chart_names_its_unit_keeps_the_legend_off_the_data_and_reads_clock_time() -> None:
    import numpy as np

    from twin.harness.runview.charts import ChartSeries, control_chart_figure

    t = np.arange(0.0, 4000.0, 10.0)
    series = ChartSeries("l.coolant.flow", t, np.sin(t / 300), 0.0, -1.0, 1.0, 50, 10.0, "western-electric", {},
                         "L/min")
    fig = control_chart_figure(series, [1200.0])
    ax = fig.axes[0]
    assert ax.get_ylabel() == "flow (L/min)" and ax.get_xlabel() == "plant time (h:mm:ss)"
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1  # beside the axes, never over the data
    labels = [label.get_text() for label in ax.get_xticklabels() if label.get_text()]
    assert labels and all(re.fullmatch(r"\d+:\d\d:\d\d", text) for text in labels), labels


def test_the_alarm_list_has_priority_description_and_how_long_it_lasted() -> None:
    run = load_run(full_run())
    rows = run.alarm_rows()
    assert rows and [r["id"] for r in rows] == [a["id"] for a in run.alarms]  # unrated: time order kept
    for row, alarm in zip(rows, run.alarms, strict=True):
        assert row["priority"] == "low" and row["description"] == run.descriptions[alarm["tag"].split("[")[0]]
        assert row["description"]  # the coater's tag map describes every tag
        cleared = [h["t_ms"] for h in alarm["history"] if h["state"] in ("unack_rtn", "normal")]
        assert row["lasted"] == (plant_clock(cleared[0] - alarm["t_ms"]) if cleared else "still active at the end")


def test_the_report_draws_two_diagnoses_and_tables_the_rest(tmp_path: Path) -> None:
    """A run with five diagnoses: the page draws the two most at stake and lists the other three in one table,
    instead of a picture each (pages of 6,000-12,000 px)."""
    import json
    import shutil

    from twin.harness.runview.html import render_html

    run_dir = tmp_path / "run"
    shutil.copytree(full_run(), run_dir)
    report = json.loads((run_dir / "report.json").read_text())
    one = report["diagnoses"][0]
    report["diagnoses"] = [{**one, "id": f"D{k:04d}", "t_ms": one["t_ms"] + 1000 * k} for k in range(5)]
    (run_dir / "report.json").write_text(json.dumps(report))
    page = render_html(load_run(run_dir))
    assert "3 more diagnoses:" in page
    rest = page[page.index("3 more diagnoses:"):]
    assert all(f"<td>D000{k}</td>" in rest for k in (2, 3, 4)) and "<td>D0000</td>" not in rest


def test_capability_of_a_quality_characteristic_against_its_spec() -> None:
    """Cp, Cpk and Ppk on a series whose figures are known by hand: mean 10, within sigma 1 (the chart's limits),
    overall sigma sqrt(100/99), spec 4..16: Cp = Cpk = 2, Ppk = 6 / (3 * 1.005); intervals around each; one-sided
    specs give no Cp."""
    import math

    import numpy as np

    from twin.harness.runview.charts import ChartSeries

    values = np.tile([9.0, 11.0], 50)
    series = ChartSeries("l.q", np.arange(100.0), values, 10.0, 7.0, 13.0, 100, 1.0, "western-electric", {}, "mm",
                         4.0, 16.0)
    cap = series.capability()
    assert cap is not None and cap.n == 100
    assert cap.cp == pytest.approx(2.0) and cap.cpk == pytest.approx(2.0)
    assert cap.ppk == pytest.approx(6 / (3 * math.sqrt(100 / 99)))
    for low, value, high in ((cap.cp_low, cap.cp, cap.cp_high), (cap.cpk_low, cap.cpk, cap.cpk_high),
                             (cap.ppk_low, cap.ppk, cap.ppk_high)):
        assert low < value < high
    upper_only = ChartSeries("l.q", np.arange(100.0), values, 10.0, 7.0, 13.0, 100, 1.0, "western-electric", {},
                             "mm", None, 13.0)
    one_sided = upper_only.capability()
    assert one_sided is not None and one_sided.cp is None and one_sided.cpk == pytest.approx(1.0)
    assert ChartSeries("l.q", np.arange(100.0), values, 10.0, 7.0, 13.0, 100, 1.0, "western-electric",
                       {}).capability() is None


def test_the_control_chart_of_a_quality_characteristic_draws_its_spec_and_capability() -> None:
    from twin.harness.runview.charts import chart_series, control_chart_figure

    run = load_run(full_run())
    series = chart_series(run, "coater.xray.wrinkles_per_m")
    assert (series.lsl, series.usl) == (None, 0.5)  # the coater's spec: at most 0.5 wrinkles per metre
    ax = control_chart_figure(series).axes[0]
    assert "Cpk" in ax.get_title() and "Ppk" in ax.get_title()
    assert any(label.startswith("USL 0.5") for label in ax.get_legend_handles_labels()[1])
