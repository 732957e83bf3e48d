"""Suite files: scenarios × seeds × overrides, and the gates a run of them must hold.

::

    name: smoke
    mode: offline                 # offline (default) or lockstep
    episode_timeout_s: 600        # wall seconds one episode may take
    entries:
      - scenario: ../coater_coil_ageing.yaml   # relative to the suite file
        seeds: [1, 2]
        duration_s: 300                        # optional: shorter than the scenario's
        overrides: {control: {policy: auto}}   # merged into the scenario
        gates: [verified_delay_s.max <= 120]   # held by this entry's episodes only
    gates:
      - detection_delay_s.p90 <= 120
      - false_alarms_per_hour.max <= 0.1
      - top1_accuracy >= 0.9
    regression: {relative: 0.05, absolute: 0.01}   # --baseline tolerance

A gate is ``metric[.aggregate] op number``; see :mod:`twin.harness.suite.gates`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qtconfig import ConfigError, read_yaml, resolve_path, validate_document
from twin.harness.suite.gates import Gate, parse_gate


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Entry(_Strict):
    """One scenario of a suite, the seeds to run it with, and what to change in it."""

    scenario: str = Field(description="scenario file, relative to the suite file")
    seeds: list[int] = Field(min_length=1)
    duration_s: float | None = Field(default=None, gt=0)
    overrides: dict[str, Any] = Field(default_factory=dict, description="merged into the scenario file")
    label: str | None = Field(default=None, description="name in the tables (default: the scenario's file stem)")
    gates: list[Gate] = Field(default_factory=list, description="gates over this entry's episodes only")

    @field_validator("gates", mode="before")
    @classmethod
    def _parse_gates(cls, gates: Any) -> Any:
        return _gates(gates)

    def name(self) -> str:
        """The entry's label: ``label``, or the scenario's file stem."""
        return self.label or Path(self.scenario).stem

    @field_validator("seeds")
    @classmethod
    def _non_negative(cls, seeds: list[int]) -> list[int]:
        if any(s < 0 for s in seeds):
            raise ValueError(f"seeds must be non-negative, got {seeds}")
        return seeds


class Regression(_Strict):
    """How much worse than the baseline a gated figure may get: max(relative × |baseline|, absolute)."""

    relative: float = Field(default=0.05, ge=0)
    absolute: float = Field(default=0.0, ge=0)

    def allowed(self, baseline: float) -> float:
        """The tolerated worsening of a figure whose baseline is ``baseline``."""
        return max(self.relative * abs(baseline), self.absolute)


class Suite(_Strict):
    """A suite file (module docstring)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    mode: Literal["offline", "lockstep"] = "offline"
    episode_timeout_s: float = Field(default=900.0, gt=0)
    entries: list[Entry] = Field(min_length=1)
    gates: list[Gate] = Field(default_factory=list)
    regression: Regression = Regression()
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("gates", mode="before")
    @classmethod
    def _parse_gates(cls, gates: Any) -> Any:
        return _gates(gates)

    def scenario_path(self, entry: Entry) -> Path:
        """An entry's scenario file, resolved from the suite file's folder."""
        return resolve_path(entry.scenario, self.source.parent if self.source is not None else None)


def _gates(gates: Any) -> Any:
    """Gate texts parsed (other values left for pydantic to judge)."""
    if not isinstance(gates, list):
        return gates
    return [parse_gate(g) if isinstance(g, str) else g for g in gates]


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file; errors name the field and its line, and a missing scenario file."""
    path = Path(path)
    suite = validate_document(Suite, read_yaml(path), path)
    suite.source = path.resolve()
    missing = [e.scenario for e in suite.entries if not suite.scenario_path(e).is_file()]
    if missing:
        raise ConfigError(path, [f"entries: no scenario file {m} (paths are relative to the suite file)"
                                 for m in missing])
    return suite
