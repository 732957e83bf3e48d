"""The OEM's quality stack for a supply chain: portal intake, incoming inspection, warnings, tasks.

One :class:`Oem` per run. ``adaptive`` is our stack: supplier data through the semantic layer
into SPC, the warning ladder routing tasks, dynamic threshold rules, ISO 2859-1 switching and
skip-lot. ``adaptive=False`` is the fixed baseline: normal inspection of every lot at the
specification limits, supplier data unused, no tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from twin.edge.detection.thresholds import RuleEngine, ThresholdRule
from twin.edge.ledger import Ledger
from twin.edge.supply.field import FieldAnalyst, FieldSettings, QualificationBand
from twin.edge.supply.monitor import MonitorSettings, SupplierMonitor
from twin.edge.supply.sampling import Edition, Plan, single_plan, tighter_aql
from twin.edge.supply.semantic import Definition, SemanticLayer
from twin.edge.supply.switching import SkipLot, SwitchingState
from twin.edge.supply.workflow import LEVEL_ROLE, MS_PER_H, Task, Workflow


class InspectionSettings(BaseModel):
    """Incoming inspection: ISO 2859-1 AQL and level, skip-lot, transport logger limits.

    The logger limits raise a ``transport_excursion`` warning, so on an undisturbed leg they must
    essentially never trip. A default leg (``supply_chain_sim.spec.Transport``) peaks at
    log-normal shocks with median 3 g and log-sigma 0.3 and at temperatures of at most 28 degC
    mean (season included) with sigma 3 degC. A three-supplier run logs about 270 legs: a 10 g
    limit sits 4.0 sigma out (3e-5 a leg, 0.8 % of clean runs raise a warning), 15 g sits
    5.4 sigma out (4e-8 a leg, 1e-5 a run); 45 degC is 5.7 sigma out (2e-6 a run).
    """

    model_config = ConfigDict(extra="forbid")

    aql: float = 1.0
    level: str = "II"
    skip_lot: bool = True
    qualify_lots: int = Field(default=10, ge=1)
    reduced_allowed: bool = True
    edition: Edition = Field(default="iso2859-1:1999", description="reading of the reduced table: ISO 2859-1:1999 "
                             "(Re = Ac + 1) or ansi-z1.4 (a gap: accept but reinstate normal); see sampling")
    transport_peak_c: float = 45.0
    transport_shock_g: float = 15.0
    resume_after_lots: int = Field(default=5, ge=1, description="lots screened before a discontinued supplier resumes")


class OemSettings(BaseModel):
    """Everything the OEM's stack is configured with (the scenario's OEM-side sections)."""

    model_config = ConfigDict(extra="forbid")

    inspection: InspectionSettings = Field(default_factory=InspectionSettings)
    supplier_spc: MonitorSettings = Field(default_factory=MonitorSettings)
    field: FieldSettings = Field(default_factory=FieldSettings)
    rules: list[ThresholdRule] = Field(default_factory=list)
    semantic: dict[str, Definition] = Field(default_factory=dict)
    contract_ppm: dict[str, float] = Field(default_factory=dict, description="part -> field failures allowed, ppm")
    qualification: dict[str, QualificationBand] = Field(default_factory=dict, description="part -> qualified band")
    final_inspection: list[str] = Field(default_factory=list, description="parts gauged 100 % at assembly")
    guard_band_sigmas: float = Field(default=2.0, ge=0, description="tightened final limit: spec minus k gauge sigma")
    transport_cap_c: float = Field(default=25.0, description="temperature-controlled transport peak")
    response_h: dict[str, float] = Field(default_factory=lambda: {
        "supplier_quality_engineer": 24.0, "logistics_dispatcher": 8.0, "oem_process_expert": 4.0})


@dataclass(frozen=True)
class PartInfo:
    """What the OEM knows of a supplier's part: drawing limits, nominal, lot size, its own gauge."""

    supplier: str
    part: str
    stream: str
    nominal: float
    lsl: float | None
    usl: float | None
    lot_size: int
    gauge_sigma: float


@dataclass
class Order:
    """The inspection decided for one arriving lot."""

    lot: str
    supplier: str
    plan: Plan | None
    lsl: float | None
    usl: float | None
    reasons: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        """Units to sample (0: the lot is skipped)."""
        return 0 if self.plan is None else self.plan.n


class Oem:
    """The OEM side of one run."""

    def __init__(self, settings: OemSettings, parts: list[PartInfo], claims: dict[str, dict[str, dict[str, Any]]],
                 fleet: list[dict[str, Any]], warranty_days: float, ledger: Ledger, adaptive: bool = True) -> None:
        self.settings, self.adaptive, self.ledger = settings, adaptive, ledger
        self.parts = {p.supplier: p for p in parts}
        self.semantic = SemanticLayer(settings.semantic)
        for supplier, declared in claims.items():
            self.semantic.declare(supplier, declared)
        self.monitors = {p.supplier: SupplierMonitor(p.supplier, p.stream, p.lsl, p.usl, settings.supplier_spc)
                         for p in parts}
        self.switching = {p.supplier: SwitchingState(reduced_allowed=settings.inspection.reduced_allowed)
                          for p in parts}
        self.skip = {p.supplier: SkipLot(qualify_lots=settings.inspection.qualify_lots) for p in parts}
        self.rule_engines = {p.supplier: self._rule_engine(p) for p in parts}
        self.lot_factor: dict[str, float] = {}
        self.field = FieldAnalyst(settings.field, settings.contract_ppm, warranty_days, settings.qualification, fleet)
        self.workflow = Workflow(ledger, settings.response_h)
        self.new_tasks: list[Task] = []
        self.final_limits: dict[str, tuple[float | None, float | None]] = {
            p.supplier: (p.lsl, p.usl) for p in parts if p.part in settings.final_inspection}
        self.warnings: list[dict[str, Any]] = []
        self.messages: dict[str, int] = {p.supplier: 0 for p in parts}
        self.fields_ok: dict[str, int] = {p.supplier: 0 for p in parts}
        self.screened_lots: dict[str, int] = {p.supplier: 0 for p in parts}
        self.data_lots: dict[str, set[str]] = {p.supplier: set() for p in parts}
        self._now_h = 0.0
        self.incoming_limits: dict[str, tuple[float | None, float | None]] = {}

    # ---- supplier portal -------------------------------------------------------------------
    def on_publish(self, message: dict[str, Any]) -> None:
        """A supplier portal message: map it, chart it, evaluate the threshold rules."""
        supplier, t_h = message["supplier"], message["t_h"]
        if message["kind"] != "lot_data" or supplier not in self.parts:
            return
        self.messages[supplier] += 1
        self.data_lots[supplier].add(message["lot"])
        mapped = self.semantic.map(supplier, message.get("fields", {}))
        self.fields_ok[supplier] += len(mapped)
        if not self.adaptive:
            return
        part = self.parts[supplier]
        if part.stream in mapped:
            for event in self.monitors[supplier].update(t_h, mapped[part.stream]):
                self._on_spc_event(event)
        engine = self.rule_engines[supplier]
        if engine is not None:
            means = np.array([np.mean(mapped[n.split(".", 1)[1]]) if n.split(".", 1)[1] in mapped else np.nan
                              for n in engine.names])
            before = len(engine.firings)
            factor = engine.step(round(t_h * MS_PER_H), means)
            self.lot_factor[message["lot"]] = float(factor[engine.names.index(f"{supplier}.{part.stream}")])
            for firing in engine.firings[before:]:
                self._warn("threshold_rule", supplier, t_h, firing)

    # ---- incoming inspection ---------------------------------------------------------------
    def plan(self, arrival: dict[str, Any]) -> Order:
        """Decide how to inspect an arriving lot."""
        supplier, part = arrival["supplier"], self.parts[arrival["supplier"]]
        self._now_h = float(arrival["arrived_h"])
        cfg = self.settings.inspection
        factor = self.lot_factor.get(arrival["lot"], 1.0) if self.adaptive else 1.0
        lsl = None if part.lsl is None else part.nominal - (part.nominal - part.lsl) * factor
        usl = None if part.usl is None else part.nominal + (part.usl - part.nominal) * factor
        reasons = [f"threshold rule: limits x{factor:g}"] if factor != 1.0 else []
        if self.adaptive and supplier in self.incoming_limits:
            guarded_lsl, guarded_usl = self.incoming_limits[supplier]
            lsl = guarded_lsl if lsl is None or guarded_lsl is None else max(lsl, guarded_lsl)
            usl = guarded_usl if usl is None or guarded_usl is None else min(usl, guarded_usl)
            reasons.append("guard-banded incoming limits")
        if not self.adaptive:
            return Order(arrival["lot"], supplier, single_plan(arrival["size"], cfg.aql, "normal", cfg.level), lsl, usl)
        excursion = arrival["peak_c"] > cfg.transport_peak_c or arrival["shock_g"] > cfg.transport_shock_g
        if excursion:
            reasons.append(f"transport excursion: peak {arrival['peak_c']:.1f} degC, shock {arrival['shock_g']:.1f} g")
            self._warn("transport_excursion", supplier, arrival["arrived_h"], {"lot": arrival["lot"],
                       "leg": {"from": supplier, "departed_h": arrival["departed_h"],
                               "arrived_h": arrival["arrived_h"]},
                       "peak_c": arrival["peak_c"], "shock_g": arrival["shock_g"]})
        state, monitor = self.switching[supplier], self.monitors[supplier]
        spread = monitor.warning is not None and monitor.warning.cause == "dispersion"
        if spread:
            reasons.append(f"open dispersion warning {monitor.warning.id}: tightened")
        if state.discontinued:
            return Order(arrival["lot"], supplier, None, lsl, usl, [*reasons, "discontinued: 100 % screening"])
        eligible = (cfg.skip_lot and monitor.capable() and not excursion and factor == 1.0
                    and state.severity != "tightened" and arrival["lot"] in self.data_lots[supplier])
        if not self.skip[supplier].due(eligible):
            return Order(arrival["lot"], supplier, None, lsl, usl, [*reasons, "skip-lot"])
        severity = "tightened" if (excursion or factor != 1.0 or spread) else state.severity
        plan = single_plan(arrival["size"], cfg.aql, severity, cfg.level, cfg.edition)
        return Order(arrival["lot"], supplier, plan, lsl, usl, reasons)

    def judge(self, order: Order, measured: np.ndarray) -> tuple[bool, int]:
        """Accept or not on the sample; update switching and skip-lot. Returns (accepted, defectives)."""
        assert order.plan is not None
        defective = int(self.nonconforming(measured, order.lsl, order.usl).sum())
        decision = order.plan.decide(defective)
        accepted = decision != "reject"
        if self.adaptive:
            state = self.switching[order.supplier]
            tighter = tighter_aql(order.plan.aql)
            ac_tighter = None
            if tighter is not None and state.severity == "normal":
                ac_tighter = single_plan(self.parts[order.supplier].lot_size, tighter, "normal",
                                         self.settings.inspection.level).ac
            if order.plan.severity == state.severity:
                state.record(accepted, defective, order.plan.ac, ac_tighter,
                             reinstate_normal=decision == "accept_reinstate_normal")
            self.skip[order.supplier].record(accepted)
            if not accepted:
                self._warn("lot_rejected", order.supplier, self._now_h, {"lot": order.lot, "defective": defective,
                                                                         "n": order.plan.n, "ac": order.plan.ac})
        return accepted, defective

    def screened(self, supplier: str) -> None:
        """A lot of a discontinued supplier was screened; resume on tightened after enough of them."""
        self.screened_lots[supplier] += 1
        if self.screened_lots[supplier] >= self.settings.inspection.resume_after_lots:
            self.switching[supplier].resume()
            self.screened_lots[supplier] = 0

    @staticmethod
    def nonconforming(values: np.ndarray, lsl: float | None, usl: float | None) -> np.ndarray:
        """Mask of values outside the limits."""
        bad = np.zeros(len(values), dtype=bool)
        if lsl is not None:
            bad |= values < lsl
        if usl is not None:
            bad |= values > usl
        return bad

    # ---- field -----------------------------------------------------------------------------
    def on_return(self, message: dict[str, Any]) -> None:
        """A field return: genealogy, rate, lots, qualification gap."""
        for finding in self.field.on_return(message):
            kind = finding.pop("finding")
            supplier = finding.get("supplier")
            self._warn(kind, supplier if isinstance(supplier, str) else ",".join(supplier), finding["t_h"], finding)

    # ---- tasks -------------------------------------------------------------------------------
    def task_done(self, task: Task, t_h: float, result: str) -> None:
        """A role carried out its task (the runner applied the action to the world)."""
        action = task.action
        if action["kind"] == "final_limit":
            self.final_limits[action["supplier"]] = (action.get("lsl"), action.get("usl"))
        if action["kind"] == "incoming_limit":
            self.incoming_limits[action["supplier"]] = (action.get("lsl"), action.get("usl"))
        if action["kind"] == "adjust_mean":
            self.monitors[action["supplier"]].corrected()
        self.workflow.done(task, t_h, result)

    def _on_spc_event(self, event: dict[str, Any]) -> None:
        supplier = event["supplier"]
        if event["event"] == "closed":
            self._warn("spc_closed", supplier, event["t_h"], event)
            self.workflow.verify(event["warning"], event["t_h"], event["reason"])
            return
        self._warn("spc", supplier, event["t_h"], event)
        part, level = self.parts[supplier], event["level"]
        if level == 1 and event.get("cause") == "dispersion":
            action = {"kind": "reduce_variation", "supplier": supplier, "sigma_ratio": event["sigma_ratio"],
                      "text": f"find and remove the extra variation of {part.stream} (subgroup sigma "
                              f"x{event['sigma_ratio']:.2f} of Phase I): tooling, fixtures, mixed material"}
        elif level == 1:
            action = {"kind": "adjust_mean", "supplier": supplier, "delta": -event["shift"],
                      "text": f"move the process target of {part.stream} by {-event['shift']:+.4g}"}
        elif level == 2:
            action = {"kind": "cap_transport", "supplier": supplier, "max_c": self.settings.transport_cap_c,
                      "text": f"temperature-controlled transport, peak <= {self.settings.transport_cap_c:g} degC"}
        else:
            guard = self.settings.guard_band_sigmas * part.gauge_sigma
            final = part.part in self.settings.final_inspection
            action = {"kind": "final_limit" if final else "incoming_limit", "supplier": supplier,
                      "lsl": None if part.lsl is None else part.lsl + guard,
                      "usl": None if part.usl is None else part.usl - guard,
                      "text": f"{'final' if final else 'incoming'} inspection of {part.part}: limits guard-banded by "
                              f"{guard:.4g} inside the drawing limits"}
        task = self.workflow.route(event["t_h"], level, LEVEL_ROLE[level], action, event["rule"], event["warning"])
        self.new_tasks.append(task)

    def _warn(self, kind: str, supplier: str, t_h: float, detail: dict[str, Any]) -> None:
        entry = {"kind": kind, "supplier": supplier, "t_h": float(t_h), "detail": _plain(detail)}
        self.warnings.append(entry)
        self.ledger.append("warning", entry, t_ms=round(t_h * MS_PER_H))

    def _rule_engine(self, part: PartInfo) -> RuleEngine | None:
        canonical = sorted({part.stream, *self.semantic.streams(part.supplier)})
        names = [f"{part.supplier}.{c}" for c in canonical]
        rules = [r for r in self.settings.rules if r.when.tag in names]
        return RuleEngine(rules, names) if rules else None


def _plain(obj: Any) -> Any:
    """JSON-ready copy (numpy scalars to Python, NaN to None)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if obj != obj else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
