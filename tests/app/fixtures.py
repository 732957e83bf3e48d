"""Shared pieces of the app tests (no tests here): a short scenario, one CLI run of it, and a
hand-made run whose report carries diagnoses, commands, scores and a ledger, shaped by the
contracts of issues 5 and 6 (``twin.contracts.Diagnosis``, ``twin.contracts.CommandRecord``)."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from functools import cache
from pathlib import Path

from filelock import FileLock
from typer.testing import CliRunner

from twin.cli import app
from twin.contracts import Ack, Candidate, CommandRecord, Diagnosis, EvidenceStep, QualityOutcome, Scores, Verification
from twin.edge.ledger import Ledger

SEED = 3
DURATION_S = 40.0
ONSET_S = 20.0
SCENARIO = f"""\
name: short_blade_drift
description: blade 3 pressure drifts +0.5 N from t = {ONSET_S:g} s; a {DURATION_S:g} s run for the app tests
plant: coater
seed: {SEED}
duration_s: {DURATION_S:g}
scan_ms: 10
faults:
  - kind: blade_pressure_drift
    target: coater.blade3
    start_s: {ONSET_S:g}
    magnitude: 0.5
    rate: 0.1
detection:
  warmup_s: 15
control:
  policy: "off"
endpoints: virtual
"""

# valve coil ageing, fast: alarms from ~36 s, a valve correction proposed at ~90 s (recommend holds it)
COIL_SCENARIO = """\
name: short_coil_ageing
description: valve coil ageing from t = 25 s; a 120 s recommend-policy run for the live console tests
plant: coater
seed: 7
duration_s: 120
scan_ms: 10
faults:
  - kind: valve_coil_ageing
    target: coater.coolant.valve
    start_s: 25
    magnitude: 6.0
    rate: 0.1
detection:
  warmup_s: 20
control:
  policy: recommend
endpoints: virtual
"""

_ROOT = Path(tempfile.mkdtemp(prefix="qt-app-tests-"))
atexit.register(shutil.rmtree, _ROOT, True)
_SHARED: list[Path] = []  # a folder every xdist worker of this test run shares (tests/conftest.py sets it)


def share_between_workers(folder: Path) -> None:
    """Keep the scenarios and the CLI run in ``folder``, which the other workers of this run share: the run is
    made once (about 10 s of lockstep) instead of once per worker."""
    _SHARED[:] = [folder]


def _shared_root() -> Path:
    return _SHARED[0] if _SHARED else _ROOT


@cache  # after tests/conftest.py chose the folder: its session fixture comes before any test
def scenarios_dir() -> Path:
    """A scenarios folder holding the short scenario (first) and the short coil-ageing one."""
    root = _shared_root()
    folder = root / "scenarios"
    with FileLock(str(root / "scenarios.lock")):
        if not folder.exists():
            folder.mkdir()
            (folder / "short_blade_drift.yaml").write_text(SCENARIO)
            (folder / "short_coil_ageing.yaml").write_text(COIL_SCENARIO)
    return folder


@cache
def cli_run() -> Path:
    """``twin run`` of the short scenario (lockstep, real sockets), made once per test run (the first worker to
    ask makes it, under a lock; the others wait for it) and copied into this process's own runs folder."""
    root = _shared_root()
    made, out = root / "cli-run", _ROOT / "runs" / "cli"
    with FileLock(str(root / "cli-run.lock")):
        if not (made / "report.json").is_file():
            shutil.rmtree(made, ignore_errors=True)  # a worker that died half way
            result = CliRunner().invoke(app, ["run", str(scenarios_dir() / "short_blade_drift.yaml"), "--seed",
                                              str(SEED), "--duration", f"{DURATION_S:g}", "--out", str(made)])
            assert result.exit_code == 0, result.output
    shutil.copytree(made, out)
    return out


@cache
def bare_run() -> Path:
    """The CLI run as it is before issues 5 and 6: no diagnoses, commands, scores or ledger
    (pinned, so these tests keep meaning the same once the runner fills those sections)."""
    out = _ROOT / "runs" / "bare"
    shutil.copytree(cli_run(), out, ignore=shutil.ignore_patterns("ledger.jsonl*"))
    report = json.loads((out / "report.json").read_text())
    report.update(diagnoses=[], commands=[])
    for key in ("scores", "rootcause"):
        report.pop(key, None)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return out


def diagnosis() -> Diagnosis:
    """A diagnosis as issue 5 will write one: blade 3 first, evidence from the blade to wrinkles."""
    return Diagnosis(
        id="D0001", t_ms=21_000, alarm_ids=["A00001"], method="gnn", model_version="test-0",
        candidates=[Candidate(asset="coater.blade3", score=0.82, signal="coater.blade3.pressure"),
                    Candidate(asset="coater.blade3.pressure", score=0.12, kind="sensor"),
                    Candidate(asset="coater.coolant.valve", score=0.06)],
        evidence_path=[
            EvidenceStep(cause="coater.blade3", effect="coater.blade3.pressure", signal="coater.blade3.pressure",
                         score=0.91, lag_s=0.0),
            EvidenceStep(cause="coater.blade3.pressure", effect="coater.xray.wrinkles_per_m",
                         signal="coater.xray.wrinkles_per_m", score=0.74, lag_s=3.0),
        ],
    )


COMMAND = CommandRecord(  # as the playbook trims blade 3; built through the contract
    id="C0001", kind="correction", t_ms=22_000, tag="coater.blade3.pressure_sp", value=7.6,
    previous=8.0, reason="blade pressure drift → trim that blade's setpoint", diagnosis_id="D0001",
    rule="blade pressure drift", policy="auto", status="applied", applied_t_ms=23_500,
    ack=Ack(command_id="C0001", tag="coater.blade3.pressure_sp", status="applied", value=7.6, read_back=7.6),
    verification=Verification(signal="coater.blade3.pressure", window_s=10.0, outcome="worked"),
).to_dict()
SCORES = Scores(  # as closed-loop control (issue 6) scores the run; built through the contract
    detection_delay_s=0.0, diagnosis_delay_s=1.0, command_delay_s=2.0, verified_delay_s=3.5,
    analysis_wall_ms_per_alarm=1.2, top1_correct=True, top3_correct=True,
    quality=QualityOutcome(metric="coater.xray.wrinkles_per_m", pre_fault=0.2, final=0.21),
).model_dump(mode="json")


@cache
def full_run() -> Path:
    """A copy of the CLI run whose report has a diagnosis, a command and scores, with a ledger."""
    out = _ROOT / "runs" / "full"
    shutil.copytree(bare_run(), out)
    report = json.loads((out / "report.json").read_text())
    report["diagnoses"] = [diagnosis().model_dump(mode="json")]
    report["commands"] = [COMMAND]
    report["scores"] = SCORES
    (out / "report.json").write_text(json.dumps(report, indent=2))
    ledger = Ledger(out / "ledger.jsonl")
    ledger.append("alarm", report["alarms"][0], t_ms=report["alarms"][0]["t_ms"])
    ledger.append("diagnosis", report["diagnoses"][0], t_ms=21_000)
    ledger.append("command", COMMAND, t_ms=22_000)
    return out
