"""What a run achieved, in the figures two runs are compared by.

* **defect rate** — the share of plant seconds in which a quality characteristic was out of
  its specification (the plant's quality characteristics, :func:`quality_specs`), judged on good samples on a 1 s grid;
* **detection delay** — from the first injected fault's onset (the truth) to the first alarm
  at or after it; alarms before the onset are counted as false alarms;
* **time to correction** — from the onset to the first correction the PLC applied (a command
  record with status ``applied``, issue 6).

A figure that cannot be computed is None with a note saying why, never a made-up number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from plant_models.registry import SPECS
from plant_models.spec import QualityCharacteristic
from twin.contracts import RunFiles
from twin.edge.frames import Quality
from twin.edge.historian import HistorianReader
from twin.harness.runview.run import RunData


def quality_specs(run: RunData) -> tuple[QualityCharacteristic, ...]:
    """The specification limits of the run's plant (its spec's quality characteristics that have limits)."""
    spec = SPECS.get(run.plant)
    if spec is None:
        return ()
    try:
        characteristics = spec.quality_characteristics(run.report["scenario"].get("plant_options") or {})
    except (OSError, ValueError):  # a line whose template has moved since the run
        return ()
    return tuple(c for c in characteristics if c.low is not None or c.high is not None)


@dataclass(frozen=True)
class RunMetrics:
    """The comparison figures of one run; None where a figure does not apply, with the reason."""

    run: str
    seed: int
    policy: str
    faults: str
    alarms: int
    false_alarms: int
    diagnoses: int
    commands: int
    defect_rate: float | None
    detection_delay_s: float | None
    time_to_correction_s: float | None
    notes: dict[str, str]


def run_metrics(run: RunData, specs: tuple[QualityCharacteristic, ...] | None = None, *,
                resolution_ms: int = 1000) -> RunMetrics:
    """Defect rate, detection delay and time to correction of one run (see the module docstring)."""
    notes: dict[str, str] = {}
    onset_s = min((float(f["onset_s"]) for f in run.faults), default=None)
    defect_rate = _defect_rate(run, quality_specs(run) if specs is None else specs,
                               resolution_ms, notes)
    starts = sorted(a["t_ms"] / 1000 for a in run.alarms)
    false_alarms = len(starts) if onset_s is None else sum(t < onset_s for t in starts)
    delay = None
    if onset_s is None:
        notes["detection_delay_s"] = "no fault injected"
    elif not (after := [t for t in starts if t >= onset_s]):
        notes["detection_delay_s"] = "the fault was not detected"
    else:
        delay = after[0] - onset_s
    return RunMetrics(
        run=str(run.run_dir), seed=run.seed, policy=run.policy,
        faults="; ".join(f"{f['kind']} on {f['target']} at {float(f['onset_s']):g} s" for f in run.faults) or "none",
        alarms=len(starts), false_alarms=false_alarms, diagnoses=len(run.diagnoses), commands=len(run.commands),
        defect_rate=defect_rate, detection_delay_s=delay,
        time_to_correction_s=_time_to_correction(run, onset_s, notes), notes=notes,
    )


def _defect_rate(run: RunData, specs: tuple[QualityCharacteristic, ...], resolution_ms: int,
                 notes: dict[str, str]) -> float | None:
    stored = set(run.elements)
    specs = tuple(s for s in specs if s.tag in stored)
    if not specs:
        notes["defect_rate"] = f"no quality specification declared for plant {run.plant!r}"
        return None
    end_ms = max(int(run.plant_s * 1000), resolution_ms)
    with HistorianReader(run.run_dir / RunFiles.HISTORIAN) as reader:
        grid = reader.resample(resolution_ms, 0, end_ms, [s.tag for s in specs])
    judged = np.ones(len(next(iter(grid.values()))[0]), dtype=bool)
    defect = np.zeros_like(judged)
    for spec in specs:
        values, quality = grid[spec.tag]
        judged &= quality == Quality.GOOD
        defect |= spec.violated(np.nan_to_num(values))
    if not judged.any():
        notes["defect_rate"] = "no good quality readings"
        return None
    return float((defect & judged).sum() / judged.sum())


def _time_to_correction(run: RunData, onset_s: float | None, notes: dict[str, str]) -> float | None:
    if not run.commands:
        notes["time_to_correction_s"] = run.no_commands_note()
        return None
    if onset_s is None:
        notes["time_to_correction_s"] = "no fault injected"
        return None
    applied = sorted(
        (c.get("applied_t_ms") or c["t_ms"]) / 1000
        for c in run.commands if c.get("status") == "applied" and c.get("kind") != "rollback"
    )
    if not applied:
        notes["time_to_correction_s"] = "no correction was applied"
        return None
    return applied[0] - onset_s


METRIC_LABELS = {
    "defect_rate": "defect rate (share of seconds out of spec)",
    "detection_delay_s": "detection delay (s)",
    "time_to_correction_s": "time to correction (s)",
    "alarms": "alarms",
    "false_alarms": "alarms before the fault",
    "diagnoses": "diagnoses",
    "commands": "commands",
}


def compare(a: RunMetrics, b: RunMetrics) -> list[dict[str, Any]]:
    """Rows ``metric, A, B, B − A`` for the two runs (a note stands where a figure is None)."""
    rows = []
    for key, label in METRIC_LABELS.items():
        va, vb = getattr(a, key), getattr(b, key)
        rows.append({
            "metric": label,
            "A": _shown(va, a.notes.get(key)),
            "B": _shown(vb, b.notes.get(key)),
            "B − A": _shown(vb - va) if va is not None and vb is not None else "—",
        })
    return rows


def _shown(value: float | int | None, note: str | None = None) -> str:
    if value is None:
        return note or "—"
    return f"{value:.3g}" if isinstance(value, float) else str(value)
