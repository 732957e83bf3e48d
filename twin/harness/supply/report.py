"""``report.json`` of a supply run: the truth, the stack's findings, and the scores against the truth."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class RunCounts(BaseModel):
    """Inspection and outcome counts of one run (adaptive stack or fixed baseline)."""

    lots: int
    lots_inspected: int
    lots_skipped: int
    lots_rejected: int
    samples: int = Field(description="units sampled by incoming inspection")
    screened: int = Field(description="units gauged in 100 % screening of rejected lots")
    final_checked: int = Field(description="units gauged at final inspection (in-line, not counted as effort)")
    scrapped: int
    shipped: int
    escapes: int = Field(description="shipped units that are nonconforming in truth (out of spec or latently weak)")
    field_failures_observed: int = Field(description="returns within the simulated horizon")
    field_failures_warranty: int = Field(description="truth: failures within the warranty period")
    quality_cost: dict[str, float]


class DetectionScore(BaseModel):
    """How one injected fault was found: delay, and what the stack identified against the truth."""

    fault: int
    kind: str
    supplier: str
    onset_h: float
    detected: bool
    first_warning: dict[str, Any] | None
    delay_days: float | None
    lots_affected_truth: int
    lots_identified: int
    lots_identified_correct: int
    field_units_affected_truth: int
    field_units_identified: int


class SupplyReport(BaseModel):
    """One supply run."""

    kind: Literal["supply"] = "supply"
    scenario: dict[str, Any]
    seed: int
    faults: list[dict[str, Any]]
    detection: list[DetectionScore]
    adaptive: RunCounts
    fixed: RunCounts
    scores: dict[str, Any] = Field(description="headline scores: delay, lots, units, escapes, effort, cost")
    extended_qualification: dict[str, Any]
    scorecard: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    switching: dict[str, Any]
    semantic_mismatches: list[dict[str, str]]
    portal: dict[str, Any] = Field(default_factory=dict, description="supplier portal: transport, broker, messages "
                                   "published and received per supplier, rejected messages named")
    ledger: dict[str, Any]
    durations: dict[str, float]
    outputs: dict[str, str] = Field(default_factory=dict)

    def summary_rows(self) -> list[tuple[str, str]]:
        """The headline figures as (what, value) rows: each fault's detection, inspection effort, escapes, cost,
        warnings, the ledger (what ``twin run`` prints and the app shows)."""
        s = self.scores
        rows = []
        for d in self.detection:
            found = f"after {d.delay_days:g} d ({d.first_warning['kind']})" if d.detected and d.first_warning \
                else "not detected"
            rows.append((f"fault {d.fault}: {d.kind} at {d.supplier}", found))
            rows.append(("  lots affected / identified / correct",
                         f"{d.lots_affected_truth} / {d.lots_identified} / {d.lots_identified_correct}"))
        effort, cost, esc = s["inspection_effort"], s["quality_cost"], s["escapes"]
        rows += [("samples adaptive / fixed", f"{effort['adaptive_samples']:,} / {effort['fixed_samples']:,} "
                                              f"({effort['samples_change_pct']} %)"),
                 ("escapes adaptive / fixed", f"{esc['adaptive']} / {esc['fixed']}"),
                 ("quality cost adaptive / fixed", f"{cost['adaptive']:,.0f} / {cost['fixed']:,.0f} "
                                                   f"({cost['change_pct']} %)"),
                 ("warnings / tasks", f"{s['warnings']} / {len(self.tasks)}"),
                 ("ledger", "verified" if self.ledger["ok"] else f"BROKEN: {self.ledger['reason']}")]
        return rows
