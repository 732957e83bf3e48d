"""Role views: the same run shown to different people, each seeing what their work needs.

* **test engineer** — raw signals and curves: trends, control charts, the alarm list, exports;
  no detector or model internals.
* **process engineer** — the detector and model intermediates as well: what was monitored and
  why, the root-cause graph with candidate scores, commands, the ledger, scores.
* **after-sales engineer** — only the diagnosis, its evidence and the repair guidance: no
  signals, no charts, no alarms, no exports of raw data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["test", "process", "after_sales"]
Panel = Literal["summary", "metrics", "timeline", "trends", "control_charts", "alarms", "detector", "rootcause",
                "commands", "ledger", "scores", "diagnosis", "guidance", "exports"]


@dataclass(frozen=True)
class RoleView:
    """A role's label, what it is for, and the panels it sees (in order)."""

    label: str
    purpose: str
    panels: tuple[Panel, ...]


ROLES: dict[Role, RoleView] = {
    "test": RoleView("Test engineer", "raw signals and curves",
                     ("summary", "metrics", "timeline", "trends", "control_charts", "alarms", "exports")),
    "process": RoleView("Process engineer", "detector and model intermediates",
                        ("summary", "metrics", "timeline", "control_charts", "detector", "alarms", "rootcause",
                         "commands", "ledger", "scores", "exports")),
    "after_sales": RoleView("After-sales engineer", "the diagnosis, its evidence and the repair guidance only",
                            ("diagnosis", "guidance")),
}

PANEL_TITLES: dict[Panel, str] = {
    "summary": "Run summary",
    "metrics": "Outcome",
    "timeline": "Timeline",
    "trends": "Trends",
    "control_charts": "Control charts",
    "alarms": "Alarms (ISA-18.2)",
    "detector": "Detector intermediates",
    "rootcause": "Root-cause graph",
    "commands": "Command log",
    "ledger": "Ledger",
    "scores": "Scores against the truth",
    "diagnosis": "Diagnosis and evidence",
    "guidance": "Repair guidance",
    "exports": "Exports",
}


def panels_for(role: str) -> tuple[Panel, ...]:
    """The panels ``role`` sees; an unknown role is an error listing the known ones."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    return ROLES[role].panels  # type: ignore[index]
