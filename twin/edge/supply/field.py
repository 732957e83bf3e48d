"""Field returns: genealogy, failure rate against the contract, lot tracing, qualification gaps.

The OEM records which supplier lot every shipped serial came from (its genealogy). On each
return it asks three questions, each answered at most once per part (lots: once per lot):

1. **field rate** -- are there more failures than the contract allows? Exact Poisson test of the
   returns against ``contract_ppm`` times the exposure (each unit's age as a share of the
   warranty), at ``alpha``, with at least ``min_returns`` returns;
2. **lots** -- which supplier lots carry the excess? A lot is traced when it has at least two
   returns and its own Poisson test against the contract fails at ``alpha``;
3. **qualification gap** -- do the failures come from use outside the part's qualified band?
   When at least ``gap_share`` of the returns ran outside the band (peak above, low below, or a
   faster transient than qualified) while only a small share of the fleet does (ratio at least
   ``gap_ratio``), the part's qualification did not cover its use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import poisson


class QualificationBand(BaseModel):
    """The environment a part was qualified for (temperature range and fastest transient)."""

    model_config = ConfigDict(extra="forbid")

    t_min_c: float = -40.0
    t_max_c: float = 85.0
    ramp_s: float = Field(default=600.0, gt=0, description="fastest transient covered by the test")
    cycles: int = Field(default=1000, ge=1)
    samples: int = Field(default=22, ge=1)

    def outside(self, env: dict[str, Any]) -> bool:
        """Whether an environment profile leaves the band."""
        return env["t_max_c"] > self.t_max_c or env["t_min_c"] < self.t_min_c or env["ramp_s"] < self.ramp_s


class FieldSettings(BaseModel):
    """Field-return analysis settings (scenario ``detection.field``)."""

    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(default=1e-4, gt=0, lt=1)
    min_returns: int = Field(default=3, ge=1)
    gap_share: float = Field(default=0.8, gt=0, le=1)
    gap_ratio: float = Field(default=3.0, ge=1)
    gap_min_returns: int = Field(default=5, ge=1)


@dataclass
class _Shipment:
    lot: str
    supplier: str
    part: str
    service_h: float
    count: int


class FieldAnalyst:
    """Keeps the genealogy and judges field returns per part."""

    def __init__(self, settings: FieldSettings, contract_ppm: dict[str, float], warranty_days: float,
                 bands: dict[str, QualificationBand], fleet: list[dict[str, Any]]) -> None:
        self.settings, self.contract_ppm, self.warranty_days = settings, contract_ppm, warranty_days
        self.bands, self.fleet = bands, fleet
        self.genealogy: dict[int, str] = {}
        self.shipments: dict[str, _Shipment] = {}
        self.returns: list[dict[str, Any]] = []
        self.flags: dict[tuple[str, str], dict[str, Any]] = {}
        self.traced_lots: dict[str, dict[str, Any]] = {}

    def record_shipment(self, lot: str, supplier: str, part: str, serials: np.ndarray, service_h: float) -> None:
        """Assembly record: these serials came from this supplier lot."""
        for serial in serials.tolist():
            self.genealogy[serial] = lot
        self.shipments[lot] = _Shipment(lot, supplier, part, service_h, len(serials))

    def trace(self, serial: int) -> _Shipment:
        """The shipment (supplier lot) a serial came from."""
        return self.shipments[self.genealogy[serial]]

    def on_return(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """Record a return; return the new findings (rate, traced lots, qualification gap)."""
        origin = self.trace(message["serial"])
        self.returns.append({**message, "lot": origin.lot, "supplier": origin.supplier})
        t_h, part = message["t_h"], origin.part
        findings = []
        mine = [r for r in self.returns if r["part"] == part]
        if ("rate", part) not in self.flags:
            p, expected = self._poisson(len(mine), [s for s in self.shipments.values() if s.part == part], t_h, part)
            if len(mine) >= self.settings.min_returns and p < self.settings.alpha:
                findings.append(self._flag("rate", part, t_h, {
                    "supplier": origin.supplier, "returns": len(mine), "expected_at_contract": expected, "p": p,
                    "contract_ppm": self.contract_ppm.get(part, 10.0)}))
        if ("rate", part) in self.flags:
            findings += self._trace_lots(mine, part, t_h)
            if ("qualification_gap", part) not in self.flags and part in self.bands:
                findings += self._gap(mine, part, t_h)
        return findings

    def _poisson(self, k: int, shipments: list[_Shipment], t_h: float, part: str) -> tuple[float, float]:
        exposure = sum(s.count * min(1.0, max(0.0, t_h - s.service_h) / 24.0 / self.warranty_days)
                       for s in shipments)
        expected = self.contract_ppm.get(part, 10.0) * 1e-6 * exposure
        return float(poisson.sf(k - 1, expected)) if k > 0 else 1.0, expected

    def _trace_lots(self, mine: list[dict[str, Any]], part: str, t_h: float) -> list[dict[str, Any]]:
        findings = []
        for lot in sorted({r["lot"] for r in mine} - set(self.traced_lots)):
            k = sum(r["lot"] == lot for r in mine)
            p, expected = self._poisson(k, [self.shipments[lot]], t_h, part)
            if k >= 2 and p < self.settings.alpha:
                supplier = next(r["supplier"] for r in mine if r["lot"] == lot)
                self.traced_lots[lot] = {"lot": lot, "supplier": supplier, "part": part, "t_h": t_h, "returns": k,
                                         "p": p}
                findings.append({"finding": "lot_traced", **self.traced_lots[lot]})
        return findings

    def _gap(self, mine: list[dict[str, Any]], part: str, t_h: float) -> list[dict[str, Any]]:
        band = self.bands[part]
        if len(mine) < self.settings.gap_min_returns:
            return []
        outside = [r for r in mine if band.outside(r["environment"])]
        share = len(outside) / len(mine)
        fleet_share = sum(e["share"] for e in self.fleet if band.outside(e)) or 1e-9
        if share < self.settings.gap_share or share / fleet_share < self.settings.gap_ratio:
            return []
        envs = [r["environment"] for r in outside]
        suppliers = sorted({r["supplier"] for r in mine})
        return [self._flag("qualification_gap", part, t_h, {
            "supplier": suppliers[0] if len(suppliers) == 1 else suppliers, "returns": len(mine),
            "share_outside_band": share, "fleet_share_outside_band": fleet_share,
            "band": band.model_dump(), "seen": {"t_min_c": min(e["t_min_c"] for e in envs),
                                                "t_max_c": max(e["t_max_c"] for e in envs),
                                                "ramp_s": min(e["ramp_s"] for e in envs)}})]

    def _flag(self, kind: str, part: str, t_h: float, evidence: dict[str, Any]) -> dict[str, Any]:
        finding = {"finding": kind, "part": part, "t_h": t_h, **evidence}
        self.flags[(kind, part)] = finding
        return finding
