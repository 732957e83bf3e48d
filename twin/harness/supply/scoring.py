"""Score a supply run against its truth: detection, lots and units, escapes, effort, cost, scorecard.

Scoring code may read the chain's truth (``Lot`` objects); the OEM stack never does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from plant_models.rng import rng_for
from supply_chain_sim.flow import Lot, SupplyChain
from supply_chain_sim.physics import qualification_failures
from supply_chain_sim.spec import CoffinManson
from twin.edge.ledger import verify_ledger
from twin.harness.supply.episode import Episode
from twin.harness.supply.report import DetectionScore, RunCounts, SupplyReport
from twin.harness.supply.scenario import SupplyScenario

# which warnings count as finding which fault kind
FINDS = {"mean_shift": {"spc"}, "variance_growth": {"spc", "lot_rejected"}, "qualification_gap": {"qualification_gap"},
         "humidity_excursion": {"threshold_rule"}, "transport_excursion": {"transport_excursion"},
         "mixed_lot": {"spc", "lot_rejected", "lot_traced"}}
NOT_WARNINGS = {"spc_closed"}


def score(spec: SupplyScenario, seed: int, adaptive: Episode, fixed: Episode, ledger_path: Path,
          wall_s: float) -> SupplyReport:
    """Build the report of one scenario run (adaptive stack and fixed baseline, same seed)."""
    ours, base = counts(spec, adaptive), counts(spec, fixed)
    detection = [_detect(spec, adaptive, i) for i in range(len(spec.chain.faults))]
    effort = {"adaptive_samples": ours.samples, "fixed_samples": base.samples,
              "samples_change_pct": _pct(ours.samples, base.samples),
              "adaptive_samples_and_screening": ours.samples + ours.screened,
              "fixed_samples_and_screening": base.samples + base.screened,
              "total_change_pct": _pct(ours.samples + ours.screened, base.samples + base.screened)}
    cost = {"adaptive": ours.quality_cost["total"], "fixed": base.quality_cost["total"],
            "change_pct": _pct(ours.quality_cost["total"], base.quality_cost["total"])}
    warnings = [w for w in adaptive.oem.warnings if w["kind"] not in NOT_WARNINGS]
    scores = {
        "detection_delay_days": [d.delay_days for d in detection],
        "lots_affected": {"truth": sum(d.lots_affected_truth for d in detection),
                          "identified": sum(d.lots_identified for d in detection),
                          "identified_correct": sum(d.lots_identified_correct for d in detection)},
        "field_units_affected": {"truth": sum(d.field_units_affected_truth for d in detection),
                                 "identified": sum(d.field_units_identified for d in detection)},
        "escapes": {"adaptive": ours.escapes, "fixed": base.escapes, "avoided": base.escapes - ours.escapes},
        "field_failures_warranty": {"adaptive": ours.field_failures_warranty, "fixed": base.field_failures_warranty},
        "inspection_effort": effort,
        "quality_cost": cost,
        "warnings": len(warnings),
    }
    oem = adaptive.oem
    return SupplyReport(
        scenario=spec.model_dump(mode="json"), seed=seed, faults=[f.model_dump() for f in spec.chain.faults],
        detection=detection, adaptive=ours, fixed=base, scores=scores,
        extended_qualification=extended_qualification(spec, seed, adaptive.chain),
        scorecard=scorecard(spec, adaptive), warnings=warnings,
        tasks=[{"id": t.id, "level": t.level, "role": t.role, "action": t.action, "reason": t.reason,
                "warning": t.warning, "status": t.status, "history": t.history} for t in oem.workflow.tasks],
        switching={s: {"severity": st.severity, "score": st.score, "discontinued": st.discontinued,
                       "moves": st.moves, "skip_frequency": oem.skip[s].frequency}
                   for s, st in oem.switching.items()},
        semantic_mismatches=[m.to_dict() for m in oem.semantic.mismatches], portal=adaptive.portal,
        ledger=verify_ledger(ledger_path).to_dict(), durations={"wall_s": round(wall_s, 3)})


def nonconforming(spec: SupplyScenario, lot: Lot) -> np.ndarray:
    """Truth: units out of the drawing limits, or weaker than the design (a latent defect)."""
    supplier = spec.chain.supplier(lot.supplier)
    c = supplier.characteristic
    bad = np.zeros(len(lot.values), dtype=bool)
    if c.lsl is not None:
        bad |= lot.values < c.lsl
    if c.usl is not None:
        bad |= lot.values > c.usl
    if isinstance(supplier.failure, CoffinManson):
        bad |= lot.robust_max_c < supplier.failure.robust_max_c
    return bad


def counts(spec: SupplyScenario, episode: Episode) -> RunCounts:
    """Inspection counters, escapes, field failures and quality cost of one run."""
    c, k = episode.counts, spec.costs
    shipped = escapes = observed = warranty = 0
    end_h = spec.chain.horizon_days * 24.0
    for lot in episode.chain.lots.values():
        if lot.shipped is None:
            continue
        fail = lot.fail_days
        shipped += int(lot.shipped.sum())
        escapes += int((nonconforming(spec, lot) & lot.shipped).sum())
        observed += int((lot.service_h + fail * 24.0 <= end_h).sum())
        warranty += int((fail <= spec.chain.field.warranty_days).sum())
    cost = {"inspection": c["samples"] * k.per_sample, "screening": c["screened"] * k.per_screened,
            "scrap": c["scrapped"] * k.per_scrapped, "rejected_lots": c["lots_rejected"] * k.per_rejected_lot,
            "field": warranty * k.per_field_failure}
    cost["total"] = sum(cost.values())
    return RunCounts(lots=len(episode.lots), lots_inspected=c["lots_inspected"], lots_skipped=c["lots_skipped"],
                     lots_rejected=c["lots_rejected"], samples=c["samples"], screened=c["screened"],
                     final_checked=c["final_checked"], scrapped=c["scrapped"], shipped=shipped, escapes=escapes,
                     field_failures_observed=observed, field_failures_warranty=warranty,
                     quality_cost={name: round(v, 2) for name, v in cost.items()})


def _detect(spec: SupplyScenario, episode: Episode, index: int) -> DetectionScore:
    fault, oem, lots = spec.chain.faults[index], episode.oem, episode.chain.lots
    found = [w for w in oem.warnings if w["supplier"] == fault.supplier and w["kind"] in FINDS[fault.kind]
             and w["t_h"] >= fault.start_h]
    first = found[0] if found else None
    truth = {lot_id for lot_id, lot in lots.items() if index in lot.fault_ids}
    identified = _identified(fault.kind, fault.supplier, episode)
    return DetectionScore(
        fault=index, kind=fault.kind, supplier=fault.supplier, onset_h=fault.start_h, detected=first is not None,
        first_warning=first, delay_days=None if first is None else round((first["t_h"] - fault.start_h) / 24.0, 2),
        lots_affected_truth=len(truth), lots_identified=len(identified),
        lots_identified_correct=len(identified & truth),
        field_units_affected_truth=_units(lots, truth), field_units_identified=_units(lots, identified))


def _identified(kind: str, supplier: str, episode: Episode) -> set[str]:
    """The lots the stack pointed at, by the kind of evidence that finds this fault kind."""
    oem = episode.oem
    mine = [row for row in episode.lots if row["supplier"] == supplier]
    if kind in ("qualification_gap", "mixed_lot"):
        traced = {lot for lot, info in oem.field.traced_lots.items() if info["supplier"] == supplier}
        return traced | ({r["lot"] for r in mine if r["outcome"].startswith("rejected")} if kind == "mixed_lot"
                         else set())
    if kind == "humidity_excursion":
        return {lot for lot, f in oem.lot_factor.items() if f != 1.0 and lot.startswith(f"{supplier}-")}
    if kind == "transport_excursion":
        return {r["lot"] for r in mine if "transport excursion" in r["reasons"]}
    windows = [(w.opened_h, w.closed_h or float("inf")) for w in oem.monitors[supplier].warnings]
    return {r["lot"] for r in mine if any(a <= r["produced_h"] <= b for a, b in windows)}


def _units(lots: dict[str, Lot], ids: set[str]) -> int:
    return sum(int(lots[i].shipped.sum()) for i in ids if lots[i].shipped is not None)


def extended_qualification(spec: SupplyScenario, seed: int, chain: SupplyChain) -> dict[str, Any]:
    """What-if: field failures an extended qualification test on every lot would have caught."""
    out: dict[str, Any] = {}
    for part, band in spec.extended_qualification.items():
        supplier = next(s for s in spec.chain.suppliers if s.part == part)
        model = supplier.failure
        if not isinstance(model, CoffinManson):
            out[part] = {"note": "the extended test applies to thermal-cycling parts only"}
            continue
        standard = spec.oem.qualification.get(part)
        caught = failures = lots_failed = lots_failed_standard = 0
        for lot in chain.lots.values():
            if lot.part != part or lot.shipped is None:
                continue
            rng = rng_for(seed, f"supply.whatif.{lot.id}")
            idx = rng.choice(len(lot.values), size=min(band.samples, len(lot.values)), replace=False)
            z = rng.standard_normal(len(idx))
            lot_failures = int((lot.fail_days <= spec.chain.field.warranty_days).sum())
            failures += lot_failures
            if qualification_failures(model, lot.robust_max_c[idx], band.t_min_c, band.t_max_c, band.cycles, z):
                lots_failed += 1
                caught += lot_failures
            if standard is not None and qualification_failures(model, lot.robust_max_c[idx], standard.t_min_c,
                                                               standard.t_max_c, standard.cycles, z):
                lots_failed_standard += 1
        out[part] = {"test": band.model_dump(), "lots_failing_extended": lots_failed,
                     "lots_failing_standard": lots_failed_standard, "field_failures_warranty": failures,
                     "caught_by_extended": caught}
    return out


def scorecard(spec: SupplyScenario, episode: Episode) -> list[dict[str, Any]]:
    """Quality, delivery and data completeness per supplier (0-100), weighted into one score."""
    w, oem, rows = spec.scorecard, episode.oem, []
    total_weight = w.quality + w.delivery + w.data
    returns = {}
    for r in oem.field.returns:
        returns[r["supplier"]] = returns.get(r["supplier"], 0) + 1
    for s in spec.chain.suppliers:
        mine = [r for r in episode.lots if r["supplier"] == s.name]
        inspected = [r for r in mine if r["sample_n"] > 0]
        rejected = sum(r["outcome"].startswith("rejected") for r in inspected)
        shipped = sum(r["shipped"] for r in mine) or 1
        ppm = returns.get(s.name, 0) / shipped * 1e6
        quality = 100 * (1 - rejected / max(len(inspected), 1)) * max(0.0, 1 - ppm / w.ppm_scale)
        on_time = sum(r["arrived_h"] - r["produced_h"] <= s.transport.promised_h for r in mine)
        delivery = 100 * on_time / max(len(mine), 1)
        declared = len(s.publishes)
        data = 100 * min(1.0, oem.fields_ok[s.name] / max(len(mine) * declared, 1)) if declared else 0.0
        total = (w.quality * quality + w.delivery * delivery + w.data * data) / total_weight
        rows.append({"supplier": s.name, "part": s.part, "lots": len(mine), "field_ppm": round(ppm, 1),
                     "quality": round(quality, 1), "delivery": round(delivery, 1), "data_completeness": round(data, 1),
                     "score": round(total, 1)})
    return rows


def _pct(new: float, old: float) -> float | None:
    return None if old == 0 else round(100.0 * (new - old) / old, 1)
