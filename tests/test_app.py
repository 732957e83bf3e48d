"""The Streamlit app under ``streamlit.testing.v1.AppTest``: pages load, a what-if run from the app
gives the CLI's report, and each role sees only its panels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO
from tests.test_app_fixtures import bare_run, cli_run, full_run, scenarios_dir
from twin.runview.roles import PANEL_TITLES, panels_for
from twin.runview.run import NO_COMMANDS, NO_DIAGNOSES, NO_LEDGER

PAGES = ("app_pages/run.py", "app_pages/view.py", "app_pages/compare.py")


def app(runs_root: Path, *, role: str = "test", run_dir: Path | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state["runs_root"] = str(runs_root)
    at.session_state["scenarios_dir"] = str(scenarios_dir())
    at.session_state["role"] = role
    if run_dir is not None:
        at.session_state["run_dir"] = str(run_dir)
    return at.run()


def deterministic(report: dict) -> dict:
    """The report without wall-clock figures (a diagnosis records how long it took)."""
    for d in report.get("diagnoses", []):
        d.pop("wall_ms", None)
    return report


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
    run_dir = Path(at.session_state["run_dir"])
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
