"""The run report (``report.json``): one per run, read by the app, CI and outside tools.

Keys (ARCHITECTURE.md "Run report"): ``scenario``, ``seed``, ``mode``, ``faults`` (the
injected truth), ``counts`` (frames, samples by quality, collector health), ``alarms``,
``diagnoses``, ``commands`` (filled by the detection, root-cause and control layers),
``detection`` (what was monitored and the alarm-rate figures),
``durations`` (plant and wall-clock seconds), ``outputs`` (files of the run).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

REPORT_VERSION = 1


class Counts(BaseModel):
    """How much the edge collected, and how healthy it was."""

    frames: int
    samples: int
    samples_by_quality: dict[str, int]
    polls: int
    failed_polls: int
    reconnects: int


class Durations(BaseModel):
    """Plant time simulated and wall-clock time spent."""

    plant_s: float
    wall_s: float
    realtime_factor: float = Field(description="plant seconds per wall second")


class RunReport(BaseModel):
    """Everything a run produced, and the truth it is scored against."""

    model_config = ConfigDict(extra="forbid")

    report_version: int = REPORT_VERSION
    scenario: dict[str, Any]
    seed: int
    mode: str
    faults: list[dict[str, Any]]
    counts: Counts
    alarms: list[dict[str, Any]] = Field(default_factory=list)
    detection: dict[str, Any] = Field(
        default_factory=dict, description="what was monitored, what was not and why, alarm-rate figures"
    )
    diagnoses: list[dict[str, Any]] = Field(default_factory=list)
    commands: list[dict[str, Any]] = Field(default_factory=list)
    durations: Durations
    outputs: dict[str, str]
    stopped_early: str | None = Field(default=None, description="why the run ended before its duration")

    def write(self, path: str | Path) -> Path:
        """Write as indented JSON."""
        path = Path(path)
        path.write_text(json.dumps(self.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
        return path


def read_report(path: str | Path) -> RunReport:
    """Read a ``report.json`` (or the one inside a run directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    return RunReport.model_validate_json(path.read_text(encoding="utf-8"))
