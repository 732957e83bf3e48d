"""Routed tasks: each warning level becomes a task for one role, every step in the ledger.

Roles: the supplier quality engineer (process-parameter recommendation to the supplier), the
logistics dispatcher (tighter transport temperature control) and the OEM process expert (a
tighter final-inspection threshold). A task moves ``created -> assigned -> accepted -> done ->
verified -> closed``; each move is one hash-chained ledger entry (kind ``task``) with the task id,
status, role, action and reason, stamped with plant time in ms.

>>> import tempfile, pathlib
>>> from twin.edge.ledger import Ledger, verify_ledger
>>> path = pathlib.Path(tempfile.mkdtemp()) / "ledger.jsonl"
>>> flow = Workflow(Ledger(path), {"supplier_quality_engineer": 8.0})
>>> task = flow.route(100.0, 1, "supplier_quality_engineer", {"kind": "adjust_mean", "delta": -0.002}, "CUSUM", "W-1")
>>> flow.done(task, 108.0, "target moved")
>>> [e["payload"]["status"] for e in flow.steps], verify_ledger(path).ok
(['created', 'assigned', 'accepted', 'done'], True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twin.edge.ledger import Ledger

ROLES = ("supplier_quality_engineer", "logistics_dispatcher", "oem_process_expert")
LEVEL_ROLE = {1: ROLES[0], 2: ROLES[1], 3: ROLES[2]}
MS_PER_H = 3_600_000


@dataclass
class Task:
    """One routed task and its history."""

    id: str
    level: int
    role: str
    action: dict[str, Any]
    reason: str
    warning: str
    created_h: float
    status: str = "created"
    history: list[dict[str, Any]] = field(default_factory=list)


class Workflow:
    """Creates tasks, moves them through their states and writes every step to the ledger."""

    def __init__(self, ledger: Ledger, response_h: dict[str, float]) -> None:
        unknown = set(response_h) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}; roles are {list(ROLES)}")
        self.ledger = ledger
        self.response_h = response_h
        self.tasks: list[Task] = []
        self.steps: list[dict[str, Any]] = []

    def route(self, t_h: float, level: int, role: str, action: dict[str, Any], reason: str, warning: str) -> Task:
        """Create a task for ``role`` and assign it."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; roles are {list(ROLES)}")
        task = Task(id=f"T-{len(self.tasks) + 1:03d}", level=level, role=role, action=action, reason=reason,
                    warning=warning, created_h=t_h)
        self.tasks.append(task)
        self._step(task, "created", t_h)
        self._step(task, "assigned", t_h, {"to": role, "respond_within_h": self.delay(role)})
        return task

    def delay(self, role: str) -> float:
        """How long the role takes to act (hours)."""
        return self.response_h.get(role, 24.0)

    def done(self, task: Task, t_h: float, result: str) -> None:
        """The role accepted the task and carried out the action."""
        self._step(task, "accepted", t_h)
        self._step(task, "done", t_h, {"result": result})

    def verify(self, warning: str, t_h: float, evidence: str) -> None:
        """The warning behind these tasks closed: verify and close every done task of it."""
        for task in self.tasks:
            if task.warning == warning and task.status == "done":
                self._step(task, "verified", t_h, {"evidence": evidence})
                self._step(task, "closed", t_h)

    def _step(self, task: Task, status: str, t_h: float, extra: dict[str, Any] | None = None) -> None:
        task.status = status
        payload = {"task": task.id, "status": status, "level": task.level, "role": task.role, "action": task.action,
                   "reason": task.reason, "warning": task.warning, **(extra or {})}
        task.history.append({"t_h": t_h, "status": status})
        self.steps.append(self.ledger.append("task", payload, t_ms=round(t_h * MS_PER_H)))
