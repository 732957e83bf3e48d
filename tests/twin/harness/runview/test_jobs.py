"""Runs as jobs: a run in its own process, followed through its files from anywhere, stopped on request."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.app.fixtures import scenarios_dir
from twin.harness.runview.jobs import job_status, list_jobs, request_stop, start_job, start_task
from twin.harness.runview.whatif import Knobs
from twin.harness.scenario import load_scenario

pytestmark = pytest.mark.slow  # two short episodes in processes of their own


def wait_for(run_dir: Path, states: tuple[str, ...], limit_s: float = 180.0) -> str:
    """Poll the job's files (bounded) until it reaches one of ``states``."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        status = job_status(run_dir)
        if status.state in states:
            return status.state
        time.sleep(0.2)
    raise AssertionError(f"job {run_dir} still {job_status(run_dir).state} after {limit_s} s")


def test_a_job_runs_in_its_own_process_reports_progress_and_finishes(tmp_path: Path) -> None:
    scenario = load_scenario(scenarios_dir() / "short_blade_drift.yaml")
    out = start_job(scenario, Knobs(mode="offline", duration_s=30.0), tmp_path / "app" / "one")
    status = job_status(out)
    assert status.state == "running" and status.scenario == "short_blade_drift"
    assert wait_for(out, ("finished", "failed", "lost", "stopped")) == "finished"
    done = job_status(out)
    assert done.done == done.total > 0 and done.fraction == 1.0 and done.error is None
    report = json.loads((out / "report.json").read_text())
    assert report["durations"]["plant_s"] == pytest.approx(30.0) and report["stopped_early"] is None
    assert [j.run_dir for j in list_jobs(tmp_path / "app")] == [out]


def test_a_job_stops_when_asked_and_keeps_what_it_collected(tmp_path: Path) -> None:
    scenario = load_scenario(scenarios_dir() / "short_blade_drift.yaml")
    out = start_job(scenario, Knobs(mode="offline", duration_s=3600.0), tmp_path / "app" / "long")
    deadline = time.monotonic() + 120
    while job_status(out).done == 0 and time.monotonic() < deadline:  # running, some scans done
        time.sleep(0.2)
    request_stop(out)
    assert wait_for(out, ("stopped", "finished", "failed", "lost")) == "stopped"
    report = json.loads((out / "report.json").read_text())
    assert "stopped by the operator" in report["stopped_early"]
    assert 0 < report["durations"]["plant_s"] < 3600


def counting_task(steps: int, fail_at: int | None, *, progress) -> str:  # noqa: ANN001 - the jobs' progress
    """A task for start_task: counts to ``steps`` in two labelled halves, failing at ``fail_at``."""
    for k in range(1, steps + 1):
        if k == fail_at:
            raise RuntimeError(f"step {k} refused")
        progress(k, steps, "first half" if k <= steps // 2 else "second half")
    return f"counted to {steps}"


def test_a_task_reports_its_steps_and_what_it_made_and_a_failed_one_says_why(tmp_path: Path) -> None:
    done = start_task(tmp_path / "builds" / "ok", "counting", counting_task, 6, None)
    failed = start_task(tmp_path / "builds" / "bad", "counting badly", counting_task, 6, 4)
    assert wait_for(done, ("finished", "failed", "lost")) == "finished"
    assert wait_for(failed, ("finished", "failed", "lost")) == "failed"
    ok, bad = job_status(done), job_status(failed)
    assert (ok.result, ok.done, ok.total, ok.label, ok.error) == ("counted to 6", 6, 6, "second half", None)
    assert bad.error == "RuntimeError: step 4 refused" and bad.result is None and bad.done < 4
    assert json.loads((done / "job.json").read_text())["task"].endswith("test_jobs.counting_task")
    assert {j.run_dir for j in list_jobs(tmp_path / "builds")} == {done, failed}
