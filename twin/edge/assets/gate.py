"""The data-health gate: no root-cause dataset or model from data whose steps are not healthy enough.

Over one or more runs (:class:`~twin.edge.assets.health.RunHealth`), each step's score is its mean over the
runs that have it; the gate **opens** when at least ``required_share`` of the steps (default 0.87: the
share of processes one bearing maker brought up to a data-health baseline before training anything)
score at least ``healthy_at``, and otherwise **closes**, naming the failing steps, their scores and weakest
measures, and both thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from twin.edge.assets.health import HEALTHY_AT, RunHealth

REQUIRED_SHARE = 0.87


@dataclass
class GateResult:
    """What the gate decided and why."""

    open: bool
    required_share: float
    healthy_at: float
    healthy_share: float
    runs: list[str]
    scores: dict[str, float]
    failing: dict[str, str] = field(default_factory=dict)  # step -> its weakest measure (and problems)

    def message(self) -> str:
        """One line: the decision, the share against the threshold, and the failing steps."""
        head = (f"data-health gate {'open' if self.open else 'closed'}: {self.healthy_share:.0%} of "
                f"{len(self.scores)} steps healthy (score >= {self.healthy_at:g}), "
                f"{self.required_share:.0%} required")
        if not self.failing:
            return head
        worst = sorted(self.failing, key=lambda s: self.scores[s])
        return head + "; failing: " + ", ".join(f"{s} {self.scores[s]:.2f} ({self.failing[s]})" for s in worst)

    def record(self, *, forced: bool = False) -> dict[str, Any]:
        """A JSON-ready record (what a dataset's meta and a model card keep)."""
        return {"open": self.open, "forced": forced, "required_share": self.required_share,
                "healthy_at": self.healthy_at, "healthy_share": self.healthy_share, "runs": self.runs,
                "scores": {s: round(v, 4) for s, v in self.scores.items()}, "failing": dict(self.failing)}

    @classmethod
    def from_record(cls, record: dict[str, Any], required_share: float = REQUIRED_SHARE) -> GateResult:
        """The gate decided again, at ``required_share``, on a :meth:`record` kept earlier (a dataset's)."""
        try:
            scores = {str(s): float(v) for s, v in record["scores"].items()}
            failing = {str(s): str(w) for s, w in record["failing"].items()}
            share, healthy_at = float(record["healthy_share"]), float(record["healthy_at"])
            runs = [str(r) for r in record["runs"]]
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ValueError(f"a data-health record without a readable {err}") from None
        return cls(share >= required_share, required_share, healthy_at, share, runs, scores, failing)


def check_gate(runs: Sequence[RunHealth], required_share: float = REQUIRED_SHARE,
               healthy_at: float = HEALTHY_AT) -> GateResult:
    """Decide the gate over ``runs`` (module docstring)."""
    if not 0 <= required_share <= 1:
        raise ValueError(f"required_share must be in [0, 1], got {required_share}")
    if not runs:
        raise ValueError("the data-health gate needs at least one run")
    by_step: dict[str, list[tuple[float, str]]] = {}
    for run in runs:
        for step in run.steps:
            why = step.weakest() + (": " + "/".join(step.problems) if step.problems else "")
            by_step.setdefault(step.step, []).append((step.score, why))
    scores = {step: sum(s for s, _ in seen) / len(seen) for step, seen in by_step.items()}
    failing = {step: min(by_step[step])[1] for step, score in scores.items() if score < healthy_at}
    share = 1 - len(failing) / len(scores) if scores else 1.0
    return GateResult(share >= required_share, required_share, healthy_at, share, [r.run for r in runs], scores,
                      failing)
