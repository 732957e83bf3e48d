"""The Diagnosis contract (ARCHITECTURE.md): what the root-cause layer tells the rest of the stack.

A diagnosis answers one alarm (or a burst of them): ranked candidate assets, named by the tag
map's asset paths (the same names scenario fault targets use, e.g. ``coater.coolant.valve``),
and the evidence path through the graph from the alarmed signal back to the top candidate, with
the signal behind each step. It is written to ``report.json`` ``diagnoses``, to the ledger,
and read by the control playbook and the app.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from twin.contracts.enums import CandidateKind
from twin.contracts.row import Row


class Candidate(Row):
    """One candidate root cause: an asset and how strongly the model believes in it."""

    model_config = ConfigDict(extra="forbid")

    asset: str = Field(description="asset path from the tag map, e.g. 'coater.coolant.valve'")
    score: float = Field(description="the model's score; higher is more likely; comparable within a diagnosis")
    kind: CandidateKind = Field(
        default=CandidateKind.PROCESS,
        description="'sensor' when the evidence says the measuring instrument, not the process, is at fault",
    )
    signal: str | None = Field(default=None, description="the tag that carries this candidate's strongest evidence")


class EvidenceStep(Row):
    """One edge of the evidence path: cause → effect, and the signal that shows it."""

    model_config = ConfigDict(extra="forbid")

    cause: str = Field(description='the upstream node of this link')
    effect: str = Field(description='the downstream node')
    signal: str = Field(description="the tag whose data support this link")
    score: float = Field(description="strength of the link's evidence in the alarm window (e.g. lagged correlation)")
    lag_s: float | None = Field(default=None, description="delay of effect behind cause, seconds")


class Diagnosis(Row):
    """A ranked answer to 'what caused this alarm?', with the evidence path behind the top candidate."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="the diagnosis's id (unique in the run)")
    t_ms: int = Field(description="plant time the diagnosis was made")
    alarm_ids: list[str] = Field(description='the alarms it answers')
    candidates: list[Candidate] = Field(description="best first")
    evidence_path: list[EvidenceStep] = Field(
        default_factory=list, description="from the top candidate down to the alarmed signal"
    )
    method: str = Field(description="which diagnoser produced it, e.g. 'gnn' or 'earliest_onset'")
    model_version: str = Field(description='the version of the model (or baseline) that made it')
    wall_ms: float = Field(default=0.0, description="wall-clock time spent diagnosing")
    confidence: float = Field(default=0.0, ge=0, le=1, description="the top candidate's share of the candidates' "
                                                                    "scores (1: it stands alone)")
    revises: str | None = Field(default=None, description="the earlier diagnosis of the same alarms this one "
                                                          "revises with more evidence")
    severity: int | None = Field(default=None, ge=1, le=10, description="the highest severity (FMEA 1-10) of the "
                                 "customer-facing effects its alarms threaten (None: the knowledge rates none)")
    effect: str | None = Field(default=None, description="the effect that carries that severity")
    uncertain: str | None = Field(default=None, description="set when the evidence cannot tell the top candidate "
                                  "from another (which, and why): e.g. only one signal deviates, so a bias of its "
                                  "sensor and a change of the process look alike; both are among the candidates")

    @property
    def top(self) -> Candidate | None:
        """The best candidate, or None when the diagnoser had none."""
        return self.candidates[0] if self.candidates else None
