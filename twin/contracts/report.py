"""The run report (``report.json``): one per run, read by the app, CI and outside tools.

Its JSON Schema is exported to ``docs/reference/run-report.schema.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from twin.contracts.diagnosis import Diagnosis
from twin.contracts.enums import Mode
from twin.contracts.files import RunFiles
from twin.contracts.records import AlarmRecord, CommandRecord, FaultRecord

REPORT_VERSION = 1


class Counts(BaseModel):
    """How much the edge collected, and how healthy it was."""

    frames: int
    samples: int
    samples_by_quality: dict[str, int]
    polls: int
    failed_polls: int
    reconnects: int


class PlcLink(BaseModel):
    """One PLC link's health over a run: how often the edge connected, and what it could not read."""

    name: str = Field(description="the PLC's name in the endpoint file")
    url: str = Field(description="where it was reached: opc.tcp://host:port or modbus://host:port")
    connect_attempts: int = Field(description="connections tried (the first included); reconnects back off")
    sessions_opened: int = Field(description="connections opened; one per endpoint at a time")
    reconnects: int = Field(description="reconnections after the link was lost")
    failed_polls: int = Field(description="polls that failed or waited for a reconnect (their tags became bad)")
    unknown: dict[str, str] = Field(default_factory=dict, description="tag -> why the server does not serve it")
    problems: dict[str, str] = Field(default_factory=dict, description="tag -> why its latest bad sample was bad")
    last_error: str = Field(default="", description="the latest connection error, if any (never a password)")


class Durations(BaseModel):
    """Plant time simulated and wall-clock time spent."""

    plant_s: float
    wall_s: float
    realtime_factor: float = Field(description="plant seconds per wall second")


class QualityOutcome(BaseModel):
    """The plant's product-quality metric before the fault and at the end of the run."""

    model_config = ConfigDict(extra="forbid")

    metric: str | None = Field(description="the quality tag scored, e.g. coater.xray.wrinkles_per_m")
    pre_fault: float | None = Field(description="mean before the first fault's onset (the whole run if none)")
    final: float | None = Field(description="mean over the last 10 % of the run")


class SentinelScore(BaseModel):
    """Per-part early warnings scored against the parts' hidden truth (a scenario's ``sentinel``).

    A part is *latent* when its hidden attribute says it would fail in the field; it is *warned*
    when a station rejected it; a warning is *in time* when it comes at least ``lead_h`` before
    the part would fail (it leaves the line, then fails ``fails_after_h`` later).
    """

    model_config = ConfigDict(extra="forbid")

    latent: int = Field(description="latent parts made")
    warned_in_time: int = Field(description="latent parts warned at least lead_h before they would fail")
    recall: float | None = Field(description="warned_in_time / latent (None without latent parts)")
    healthy: int = Field(description="healthy parts made")
    false_warnings: int = Field(description="healthy parts warned")
    false_per_1000: float | None = Field(description="false warnings per 1,000 healthy parts")
    min_lead_h: float | None = Field(description="the shortest warning lead over the warned latent parts, hours")
    target_met: bool | None = Field(description="recall >= the target and false_per_1000 <= the target")


class Scores(BaseModel):
    """A run scored against the injected truth (keys fixed: CI and outside tools read them).

    Delays are plant seconds from the first fault's onset; None when it never happened.
    """

    model_config = ConfigDict(extra="forbid")

    detection_delay_s: float | None = Field(description="onset -> first alarm at or after it")
    diagnosis_delay_s: float | None = Field(description="onset -> first diagnosis at or after it")
    command_delay_s: float | None = Field(description="onset -> first correction the bridge applied")
    verified_delay_s: float | None = Field(description="onset -> first correction verified as having worked")
    analysis_wall_ms_per_alarm: float | None = Field(
        description="wall ms of detection and root cause on the scans that raised alarms or made diagnoses, per alarm")
    top1_correct: bool | None = Field(description="the first diagnosis after onset names the fault target first")
    top3_correct: bool | None = Field(description="... among its first three candidates")
    quality: QualityOutcome
    sentinel: SentinelScore | None = Field(
        default=None, description="per-part early warnings (scenarios with sentinel)")


class RunReport(BaseModel):
    """Everything a run produced (``report.json``), and the truth it is scored against.

    Keys: ``scenario``, ``seed``, ``mode``, ``faults`` (the injected truth), ``counts`` (frames,
    samples by quality, collector health), ``alarms``, ``diagnoses``, ``commands``, ``detection``
    (what was monitored, alarm-rate figures), ``rootcause`` (how diagnoses were made), ``scores``
    (the run against the truth), ``durations``, ``outputs`` (files of the run, :class:`RunFiles`).
    """

    model_config = ConfigDict(extra="forbid")

    report_version: int = REPORT_VERSION
    scenario: dict[str, Any] = Field(description="the scenario as run, with its file, policy and duration")
    seed: int
    mode: Mode
    faults: list[FaultRecord] = Field(description="the injected faults (truth): kind, target, onset, answer")
    counts: Counts
    plcs: list[PlcLink] = Field(default_factory=list, description="each PLC link's connects, sessions and "
                                "the tags it could not serve")
    alarms: list[AlarmRecord] = Field(default_factory=list)
    detection: dict[str, Any] = Field(
        default_factory=dict, description="what was monitored, what was not and why, alarm-rate figures"
    )
    diagnoses: list[Diagnosis] = Field(default_factory=list)
    rootcause: dict[str, Any] = Field(
        default_factory=dict, description="how diagnoses were made: method, model version, knowledge file"
    )
    commands: list[CommandRecord] = Field(default_factory=list)
    scores: Scores | None = Field(default=None, description="the run scored against the truth")
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
        path = path / RunFiles.REPORT
    return RunReport.model_validate_json(path.read_text(encoding="utf-8"))
