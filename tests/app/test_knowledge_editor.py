"""The knowledge editor page (``app_pages/knowledge.py``) under ``streamlit.testing.v1.AppTest``: add, annotate and
remove links, see the validator's errors by row and field, save a new knowledge file and diagnose the run again
with it.

AppTest does not type into a table editor; an engineer's cell edits are given as the editor's edit state
(``edited_rows``), which is what the browser sends."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rootcause.diagnoser import plant_names
from rootcause.knowledge import load_knowledge
from tests.app.fixtures import cli_run, scenarios_dir
from tests.conftest import REPO
from twin.harness.runview import load_run
from twin.harness.runview.rediagnose import open_knowledge
from virtual_plc.tagmap import load_tagmap

pytestmark = pytest.mark.slow  # the shared short CLI run, then AppTest reruns and one GNN rediagnosis, about 20 s

SHIPPED = REPO / "plant_models" / "coater" / "knowledge.yaml"
PAGE = "app_pages/knowledge.py"


def editor(runs_root: Path, role: str = "process") -> AppTest:
    """The app on the knowledge editor page, with ``runs_root`` as the runs folder."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state["runs_root"] = str(runs_root)
    at.session_state["scenarios_dir"] = str(scenarios_dir())
    at.session_state["role"] = role
    at.run()
    return at.switch_page(PAGE).run()


def links_table(at: AppTest) -> list[dict]:
    """The link editor's rows as the page last drew them."""
    table = next(d for d in at.data_editor if d.key.startswith("kn_links_"))
    return table.value.to_dict("records")


def edit_cells(at: AppTest, edits: dict[int, dict]) -> AppTest:
    """Edit cells of the link table as the browser reports it (the whole edit state of the current editor)."""
    key = next(d.key for d in at.data_editor if d.key.startswith("kn_links_"))
    at.session_state[key] = {"edited_rows": edits, "added_rows": [], "deleted_rows": []}
    return at.run()


def problems(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_only_the_process_engineer_edits_the_knowledge(tmp_path: Path) -> None:
    shutil.copytree(cli_run(), tmp_path / "run")
    at = editor(tmp_path, role="test")
    assert not at.exception and not at.data_editor
    assert "Process engineer" in at.info[0].value


def test_add_annotate_remove_check_save_and_rediagnose(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(cli_run(), run_dir)
    shipped = hashlib.sha256(SHIPPED.read_bytes()).hexdigest()
    at = editor(tmp_path)
    assert not at.exception and not problems(at), problems(at)
    assert at.selectbox(key="kn_source").value == f"the run's: {SHIPPED}"
    original = [link.model_dump() for link in open_knowledge(SHIPPED).links]
    assert len(links_table(at)) == len(original)

    # add a link, cause and effect chosen from the run's names
    at.selectbox(key="kn_add_cause").set_value("coater.blade3.temperature")
    at.selectbox(key="kn_add_effect").set_value("coater.xray.wrinkles_per_m")
    at.text_input(key="kn_add_note").set_value("a hot blade wrinkles the web (what if?)")
    at.button(key="kn_add").click().run()
    assert not at.exception
    rows = links_table(at)
    assert len(rows) == len(original) + 1
    assert (rows[-1]["cause"], rows[-1]["effect"]) == ("coater.blade3.temperature", "coater.xray.wrinkles_per_m")

    # a tag the plant does not have: the validator names the row and the field, and nothing can be saved or rerun
    edit_cells(at, {3: {"cause": "coater.blade9.temperature"}})
    assert problems(at) == ["links row 3, field cause: 'coater.blade9.temperature' names no tag, asset or declared "
                            "node of the plant"]
    assert at.button(key="kn_save").disabled and at.button(key="kn_rerun").disabled
    edit_cells(at, {3: {"severity": 12}})  # the file's schema too
    assert [p.split(":")[0] for p in problems(at)] == ["links row 3, field severity"]

    # annotate instead (the bad cause gone), then remove blade pressure -> thickness profile (row 11)
    edit_cells(at, {3: {"note": "checked on the P&ID, rev. C"}})
    assert not problems(at) and at.success[0].value.startswith("valid: ")
    removed = (original[11]["cause"], original[11]["effect"])
    assert removed == ("coater.{blade:blade*}.pressure", "coater.xray.thickness_profile")
    at.multiselect(key=next(m.key for m in at.multiselect if m.key.startswith("kn_remove_"))).set_value([11]).run()
    at.button(key="kn_remove").click().run()
    rows = links_table(at)
    assert len(rows) == len(original) and removed not in [(r["cause"], r["effect"]) for r in rows]
    assert rows[3]["note"] == "checked on the P&ID, rev. C"  # the annotation survives the removal

    # save as a new file: it exists, loads with the real loader and holds the changes; the shipped file is untouched
    at.text_input(key="kn_name").set_value("blade3-what-if").run()
    at.button(key="kn_save").click().run()
    saved = tmp_path / "knowledge" / "blade3-what-if.yaml"
    assert saved.is_file(), problems(at)
    assert f"saved {saved}" in [s.value for s in at.success]
    spec = open_knowledge(saved)
    pairs = [(link.cause, link.effect) for link in spec.links]
    assert ("coater.blade3.temperature", "coater.xray.wrinkles_per_m") in pairs and removed not in pairs
    assert spec.links[3].note == "checked on the P&ID, rev. C"
    loaded = load_knowledge(saved, plant_names(load_tagmap(run_dir / "tags.csv")))
    assert ("coater.blade3.temperature", "coater.xray.wrinkles_per_m") in loaded.links
    assert ("coater.blade3.pressure", "coater.xray.thickness_profile") not in loaded.links
    assert hashlib.sha256(SHIPPED.read_bytes()).hexdigest() == shipped
    at.button(key="kn_save").click().run()  # the same name again: refused, the file kept
    assert any("exists: choose another name" in p for p in problems(at))

    # rerun the diagnosis on the run with it: recorded beside new, one row per recorded diagnosis
    at.button(key="kn_rerun").click().run()
    assert not at.exception and not problems(at), problems(at)
    comparison = next(d.value for d in at.dataframe if "recorded cause" in d.value.columns)
    recorded = load_run(run_dir).diagnoses
    assert list(comparison["diagnosis"]) == [d.id for d in recorded]
    assert list(comparison["recorded cause"]) == [d.top.asset for d in recorded]
    assert {"new cause", "new confidence", "changed"} <= set(comparison.columns)
    summary = [m.value for m in [*at.success, *at.warning] if "diagnoses name another most likely cause" in m.value]
    assert summary and summary[0].startswith(f"{int(comparison['changed'].sum())} of {len(recorded)} diagnoses")
    assert len(at.image) >= 2  # the recorded and the new diagnosis drawn
