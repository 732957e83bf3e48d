"""The Streamlit app under ``streamlit.testing.v1.AppTest``: pages load, a what-if run from the app
gives the CLI's report, and each role sees only its panels."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.fixtures import bare_run, cli_run, full_run, scenarios_dir
from tests.conftest import REPO
from tests.mqtt_support import without_ids
from twin.harness.runview.roles import PANEL_TITLES, panels_for
from twin.harness.runview.run import NO_COMMANDS, NO_DIAGNOSES, NO_LEDGER
from twin.harness.runview.whatif import FINISHED_NOTE

pytestmark = pytest.mark.slow  # AppTest pages and what-if runs, about 85 s (a live recommend run is 60 s)

PAGES = ("app_pages/run.py", "app_pages/view.py", "app_pages/assets.py", "app_pages/knowledge.py",
         "app_pages/compare.py")  # compare last: the checks after the loop read its widgets


def app(runs_root: Path, *, role: str = "test", run_dir: Path | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state["runs_root"] = str(runs_root)
    at.session_state["scenarios_dir"] = str(scenarios_dir())
    at.session_state["role"] = role
    if run_dir is not None:
        at.session_state["run_dir"] = str(run_dir)
    return at.run()


def deterministic(report: dict) -> dict:
    """The report without wall-clock figures (a diagnosis records how long it took) and without what is random
    by design in its commands (ids, nonces, signatures: every run signs with fresh keys)."""
    for d in report.get("diagnoses", []):
        d.pop("wall_ms", None)
    report["commands"] = without_ids(report.get("commands", []))
    return report


def wait_for_run(at: AppTest, limit_s: float = 180.0) -> Path:
    """Rerun the page (as a browser's timer does) until the job it started has ended and shows its run; while
    it runs the knobs are read-only and a role switch does not stop it."""
    deadline = time.monotonic() + limit_s
    while "run_dir" not in at.session_state and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
        assert not at.exception, at.exception
    assert "run_dir" in at.session_state, "the job did not end in time"
    return Path(at.session_state["run_dir"])


def subheaders(at: AppTest) -> list[str]:
    return [s.value for s in at.subheader]


def test_each_page_loads_without_exception() -> None:
    full_run()
    at = app(cli_run().parent)
    assert not at.exception
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert not at.error, (page, [e.value for e in at.error])
    assert [s.label for s in at.selectbox][:2] == ["run A", "run B"]
    assert at.dataframe, "the comparison table is missing"


def test_a_run_from_the_app_gives_the_cli_report(tmp_path: Path) -> None:
    at = app(tmp_path)
    assert [s.value for s in at.selectbox if s.label == "scenario"][0].name == "short_blade_drift.yaml"
    at.button[0].click().run()
    assert not at.exception and not at.error
    run_dir = wait_for_run(at)
    assert run_dir.parent == tmp_path / "app"
    ours, cli = (deterministic(json.loads((d / "report.json").read_text())) for d in (run_dir, cli_run()))
    for key in ("scenario", "seed", "mode", "faults", "counts", "alarms", "detection", "diagnoses", "commands"):
        assert ours[key] == cli[key], key
    assert ours["alarms"], "the short run should alarm; an empty list compares too easily"
    assert ours["durations"]["plant_s"] == cli["durations"]["plant_s"]
    assert "Control charts" in subheaders(at)  # the run is shown under the knobs


@pytest.mark.parametrize("role", ["test", "process", "after_sales"])
def test_role_views_show_only_their_panels(role: str) -> None:
    at = app(full_run().parent, role=role, run_dir=full_run()).switch_page("app_pages/view.py").run()
    assert not at.exception
    assert subheaders(at) == [PANEL_TITLES[p] for p in panels_for(role)]
    text = " ".join(m.value for m in at.markdown)
    if role == "after_sales":
        assert not at.dataframe and not at.json and not at.metric  # no signals, alarms, scores or internals
        assert "Most likely cause:** coater.blade3" in text and "0.82" not in text
        assert "coater.blade3.pressure → coater.xray.wrinkles_per_m" in text
        assert "trim that blade's setpoint" in text
    elif role == "test":
        assert "Root-cause graph" not in subheaders(at) and not at.json  # no detector or model internals
        assert "0.82" not in str([df.value for df in at.dataframe])
    else:
        assert "0.82" in str([df.value for df in at.dataframe])  # candidate scores
        assert "ledger verified: 3 entries" in " ".join(s.value for s in at.success)


def test_a_run_without_issue_5_and_6_says_so() -> None:
    at = app(bare_run().parent, role="process", run_dir=bare_run()).switch_page("app_pages/view.py").run()
    notes = [i.value for i in at.info]
    assert NO_DIAGNOSES in notes and NO_COMMANDS in notes and NO_LEDGER in notes
    at.session_state["role"] = "after_sales"
    at.run()
    assert NO_DIAGNOSES in [i.value for i in at.info]


def test_knowledge_knobs_reach_root_cause(tmp_path: Path) -> None:
    at = app(tmp_path)
    by_label = {w.label: w for w in at.number_input}
    by_label["duration (plant s)"].set_value(1.0)
    by_label["knowledge links dropped (%)"].set_value(50)
    [mode] = [r for r in at.radio if r.label == "mode"]
    mode.set_value("offline")
    [method] = [s for s in at.selectbox if s.label == "diagnosis method"]
    method.set_value("random_walk")
    [clean] = [c for c in at.checkbox if c.label == "run clean (no fault)"]
    clean.check()  # a 1 s run ends before the fault's onset
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    ours = json.loads((wait_for_run(at) / "report.json").read_text())
    default = json.loads((cli_run() / "report.json").read_text())
    assert ours["scenario"]["rootcause"]["knowledge_drop"] == 0.5
    assert ours["rootcause"]["method"] == "random_walk"
    assert 0 < ours["rootcause"]["knowledge_links"] < default["rootcause"]["knowledge_links"]


def rerun_until(at: AppTest, found: Callable[[AppTest], bool], what: str, timeout_s: float = 60.0) -> AppTest:
    """Rerun the app (as the console's one-second refresh does) until ``found`` holds."""
    deadline = time.monotonic() + timeout_s
    while not found(at.run()):
        assert not at.exception, at.exception
        assert time.monotonic() < deadline, f"no {what} within {timeout_s:g} s"
        time.sleep(0.3)
    return at


def buttons(at: AppTest, label: str) -> list:
    return [b for b in at.button if b.label == label]


@pytest.mark.timeout(120)
def test_a_live_recommend_run_waits_for_the_operator_who_acks_and_approves(tmp_path: Path) -> None:
    at = app(tmp_path)
    [scenario] = [s for s in at.selectbox if s.label == "scenario"]
    scenario.select_index(1).run()  # short_coil_ageing: recommend policy
    [mode] = [r for r in at.radio if r.label == "mode"]
    mode.set_value("offline")
    [live] = [c for c in at.checkbox if c.label == "live run (operator console)"]
    live.check()
    buttons(at.run(), "Run")[0].click().run()
    assert not at.exception and not at.error
    # the plant is held while the valve correction waits: the alarm list stands still too
    rerun_until(at, lambda a: bool(buttons(a, "Approve")), "pending command")
    rerun_until(at, lambda a: any("The plant is held, waiting for you" in w.value for w in a.warning),
                "the held-plant banner")  # it says how long the plant waits for the operator
    ack = buttons(at, "Acknowledge")[0]
    alarm_id = ack.key.removeprefix("ack-")
    ack.click().run()
    command_id = buttons(at, "Approve")[0].key.removeprefix("approve-")

    def approve_all_until_the_end(a: AppTest) -> bool:
        """Approve what waits (a verified correction may be followed by a repeat); done when the run ends."""
        for button in buttons(a, "Approve"):
            button.click()
        return "live" not in a.session_state

    rerun_until(at, approve_all_until_the_end, "end of the live run")
    report = json.loads((Path(at.session_state["run_dir"]) / "report.json").read_text())
    [command] = [c for c in report["commands"] if c["id"] == command_id]
    assert command["approved_by"] == "app operator" and command["status"] == "applied"
    [alarm] = [a for a in report["alarms"] if a["id"] == alarm_id]
    assert "acknowledged by app operator" in [h["reason"] for h in alarm["history"]]
    assert PANEL_TITLES["alarms"] in subheaders(at)  # the finished run is shown, and says it is finished
    assert FINISHED_NOTE in [c.value for c in at.caption]


def test_the_data_assets_page_scans_shows_health_and_draws_lineage(tmp_path: Path) -> None:
    """Scan the runs folder from the page; the catalogue lists the run's tags with credibility, the health tab
    rates each step and says what the gate decides, the lineage tab draws a diagnosis's upstream."""
    run = cli_run()
    at = app(run.parent)
    at.switch_page("app_pages/assets.py").run()
    assert not at.exception
    at.text_input(key="catalogue_path").set_value(str(tmp_path / "assets.duckdb")).run()
    at.button(key="scan_runs").click().run()
    assert not at.exception and any("scanned" in s.value for s in at.success)
    table = at.dataframe[0].value
    assert "tag:coater.coolant.flow" in set(table["id"]) and table["credibility"].between(0, 1).all()
    health = [d.value for d in at.dataframe[1:] if "score" in d.value.columns]
    assert health and set(health[0]["healthy"]) <= {True, False}
    assert at.success or at.error  # the gate's verdict, either way
    report = json.loads((run / "report.json").read_text())
    start = f"diagnosis:{run}#{report['diagnoses'][0]['id']}" if report["diagnoses"] else f"historian:{run}"
    at.text_input(key="lineage_start").set_value(start).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [c for c in at.tabs[2].children.values() if getattr(c, "type", None) == "image"], "no lineage picture"
    edges = at.dataframe[-1].value
    assert set(edges.columns) >= {"from", "relation", "to"} and len(edges) > 0


def test_open_a_run_keeps_the_pick_across_reruns() -> None:
    """The run picked in "Open a run" stays picked when the page reruns (it used to snap back)."""
    full_run()
    at = app(cli_run().parent)
    at.switch_page("app_pages/view.py").run()
    box = at.selectbox(key="open_run")
    assert len(box.options) >= 2
    other = next(o for o in box.options if o != box.value)
    box.set_value(other).run()
    at.run()  # any later interaction reruns the page
    assert at.selectbox(key="open_run").value == other and at.session_state["run_dir"] == other
    assert not at.exception


def test_a_supply_scenario_runs_from_the_app_and_shows_the_supply_view(tmp_path: Path) -> None:
    """Supply scenarios are listed with the plant ones; picking one gives its own knobs, and Run shows the supply
    view (headline figures, scorecard) instead of failing as a plant scenario."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state["runs_root"] = str(tmp_path / "runs")
    at.session_state["scenarios_dir"] = str(REPO / "scenarios")
    at.session_state["role"] = "test"
    at.run()
    at.selectbox[0].set_value(REPO / "scenarios" / "supply_brake_disc_runout.yaml").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.button(key="supply_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    figures = at.dataframe[0].value
    assert "samples adaptive / fixed" in set(figures["what"])
    assert any(str(v).startswith("fault 0:") for v in figures["what"])  # the injected fault's detection row
    assert (tmp_path / "runs").is_dir() and any((tmp_path / "runs").glob("supply_brake_disc_runout-*/report.json"))


def test_a_run_is_a_job_that_survives_a_role_switch_and_keeps_its_knobs_fixed(tmp_path: Path) -> None:
    """Switching role while a run goes used to kill it (StopException); a job runs in its own process: the
    page shows its knobs read-only and its progress, the role switch changes nothing, and the run finishes."""
    at = app(tmp_path)
    at.button[0].click().run()
    assert not at.exception and "job" in at.session_state
    job = Path(at.session_state["job"])
    at.run()
    assert any("its knobs are fixed" in i.value for i in at.info)  # no editable knobs while it runs
    assert not [b for b in at.button if b.label == "Run"]
    at.session_state["role"] = "process"
    at.run()  # a role switch reruns the page
    run_dir = wait_for_run(at)
    assert run_dir == job and json.loads((run_dir / "report.json").read_text())["stopped_early"] is None


def test_a_jump_from_the_timeline_sets_the_control_chart_and_can_be_undone() -> None:
    from twin.harness.runview.run import load_run
    from twin.harness.runview.timeline import jump_to, timeline_events

    run_dir = full_run()
    run = load_run(run_dir)
    alarm = next(e for e in timeline_events(run) if e.lane == "alarms")
    jump = jump_to(run, [{"time": alarm.t_s * 1000, "lane": "alarms"}])
    assert jump is not None and jump.element is not None
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state["runs_root"] = str(run_dir.parent)
    at.session_state["scenarios_dir"] = str(scenarios_dir())
    at.session_state["role"] = "test"
    at.session_state["run_dir"] = str(run_dir)
    at.session_state[f"timeline-jump-{run.run_dir}"] = jump  # what a click on the alarm leaves (the pick)
    at.run().switch_page("app_pages/view.py").run()
    at.session_state[f"chart-jump-{run.run_dir}"] = True  # the page now shows the run's charts: take the tag
    at.run()
    assert not at.exception, at.exception
    assert any("Jumped to alarm" in i.value for i in at.info)
    assert at.selectbox(key=f"chart-element-{run.run_dir}").value == jump.element
    at.button(key=f"timeline-whole-{run.run_dir}").click().run()
    assert not any("Jumped to" in i.value for i in at.info)


def test_a_run_is_renamed_and_annotated_without_moving_its_folder(tmp_path: Path) -> None:
    import shutil

    from twin.harness.runview.notes import load_notes

    run_dir = tmp_path / "runs" / "the_run"
    shutil.copytree(full_run(), run_dir)
    at = app(tmp_path / "runs", role="test", run_dir=run_dir)
    at.switch_page("app_pages/view.py").run()
    next(t for t in at.text_input if t.label == "title").input("Blade 3 drift, auto, first try")
    next(t for t in at.text_area if t.label == "note").input("the wrinkles came back once at 0:04:10")
    at.button[[b.label for b in at.button].index("Save")].click().run()
    assert not at.exception, at.exception
    assert load_notes(run_dir).title == "Blade 3 drift, auto, first try" and run_dir.is_dir()
    assert any("first try" in o for o in at.selectbox(key="open_run").options)
    assert any("0:04:10" in i.value for i in at.info)


def _chart_rows(spec: object) -> list[dict]:
    """Every row of the inline data tables of a Vega-Lite spec (a table several layers draw counts once)."""
    tables: dict[str, list] = {}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "values" and isinstance(value, list):
                    tables[json.dumps(value, sort_keys=True)] = value
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(spec)
    return [row for table in tables.values() for row in table if isinstance(row, dict)]


def _two_runs(root: Path) -> tuple[Path, Path]:
    """Two small runs under ``root``: the full fixture run and the bare one."""
    import shutil

    one, two = root / "one", root / "two"
    shutil.copytree(full_run(), one)
    shutil.copytree(bare_run(), two)
    return one, two


def _compare(root: Path, one: Path, two: Path) -> AppTest:
    """The Compare page with run A ``one`` and run B ``two`` picked (and no exception)."""
    at = app(root).switch_page("app_pages/compare.py").run()
    [a_box, b_box] = [s for s in at.selectbox if s.label in ("run A", "run B")]
    a_box.set_value(str(one))
    b_box.set_value(str(two))
    at.run()
    assert not at.exception, at.exception
    return at


def test_compare_draws_a_vs_b_on_one_axis_with_one_cursor_and_the_truth_hideable(tmp_path: Path) -> None:
    from twin.harness.runview.run import load_run
    from twin.harness.runview.spcchart import LINES

    one, two = _two_runs(tmp_path / "runs")
    at = _compare(tmp_path / "runs", one, two)
    assert not at.error, [e.value for e in at.error]
    [chart] = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    raw, control = spec["vconcat"]  # the raw-signal overlay above the control-chart overlay
    names = {f"A: {load_run(one).name}", f"B: {load_run(two).name}"}
    assert {r["run"] for r in _chart_rows(raw) if "value" in r} == names
    assert {r["run"] for r in _chart_rows(control) if "state" in r} == names
    [cursor] = [p for p in spec["params"] if p["name"] == "cursor"]
    assert len(cursor["views"]) == 2 and spec["resolve"]["scale"]["x"] == "shared"
    assert [r for r in _chart_rows(spec) if r.get("what") == LINES[3]]  # each run's fault onsets ...
    assert any("A and B on one plant-time axis" in c.value for c in at.caption)
    at.checkbox(key="compare-truth").uncheck().run()
    assert not at.exception
    hidden = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert not [r for r in _chart_rows(hidden) if r.get("what") == LINES[3] or "fault" in r]  # ... hideable


def test_compare_says_so_when_two_runs_store_no_element_in_common(tmp_path: Path) -> None:
    import duckdb

    from twin.contracts import RunFiles

    one, two = _two_runs(tmp_path / "runs")
    with duckdb.connect(str(two / RunFiles.HISTORIAN)) as con:  # the same run, every element under another name
        con.execute("ALTER TABLE samples ALTER tag TYPE VARCHAR")  # as files were before the ENUM: any name goes
        con.execute("UPDATE samples SET tag = 'elsewhere.' || tag")
        con.execute("CREATE TABLE renamed AS SELECT 'elsewhere.' || name AS name, tag, unit, period_ms FROM elements")
        con.execute("DROP TABLE elements")
        con.execute("ALTER TABLE renamed RENAME TO elements")
    at = _compare(tmp_path / "runs", one, two)
    assert any("no element in common" in i.value for i in at.info)
    assert not at.get("vega_lite_chart")


def test_the_run_view_links_the_timeline_to_the_trend_and_control_chart_below_it() -> None:
    at = app(full_run().parent, role="process", run_dir=full_run()).switch_page("app_pages/view.py").run()
    assert not at.exception, at.exception
    [timeline] = [c for c in at.get("vega_lite_chart") if c.key == f"timeline-chart-{full_run()}"]
    spec = json.loads(timeline.proto.spec)
    assert len(spec["vconcat"]) == 3  # the events, the trend, the control chart
    params = {p["name"]: p for p in spec["params"]}
    assert params["pick"]["select"]["on"] == "click"  # a click on an event still jumps
    assert len(params["cursor"]["views"]) == 2 and len(params["zoom"]["views"]) == 2
    chosen = at.selectbox(key=f"chart-element-{full_run()}").value
    assert chosen in json.dumps(spec["vconcat"][2])
    assert any("drawn under the timeline above" in c.value for c in at.caption)  # not drawn twice
