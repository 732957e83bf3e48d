"""The supply flow as SimPy processes: suppliers make lots, legs carry them, the OEM receives,
assembles and ships them, vehicles use them, and failures come back as field returns.

The OEM side is not modelled here: whoever runs the chain registers three callbacks
(``on_publish`` for supplier portal messages, ``on_arrival`` for a lot at the dock, ``on_return``
for a field return) and calls :meth:`SupplyChain.sample`, :meth:`SupplyChain.measure` and
:meth:`SupplyChain.ship` to act. What the callbacks receive is what an OEM could know (JSON-ready
dicts); the :class:`Lot` objects with the true unit values stay here, for scoring.

Every random draw comes from a named stream (``plant_models.rng.rng_for``) and the draws per lot
do not depend on what the OEM does, so two runs with one seed but different inspection policies
see the same lots.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pint
import simpy
from scipy.signal import lfilter

from plant_models.rng import rng_for
from supply_chain_sim import faults as fx
from supply_chain_sim.physics import days_disc, days_esd, days_thermal
from supply_chain_sim.spec import Chain, CoffinManson, DiscWear, Supplier

MOISTURE_TAU_H = 48.0
UNITS = pint.UnitRegistry()
SITE_UNITS = {"site.temperature": "degC", "site.humidity": "percent"}

Callback = Callable[[dict[str, Any]], None]


@dataclass
class Lot:
    """One supplier lot and its truth: unit values, weaknesses, faults, what happened to it."""

    id: str
    supplier: str
    part: str
    produced_h: float
    values: np.ndarray
    robust_max_c: np.ndarray
    mixed: np.ndarray
    fault_ids: list[int]
    field_z: np.ndarray
    field_wait: np.ndarray
    env_index: np.ndarray
    transport: dict[str, float] = field(default_factory=dict)
    sampled: np.ndarray | None = None
    shipped: np.ndarray | None = None
    serials: np.ndarray | None = None
    service_h: float = math.nan
    fail_days: np.ndarray | None = None


class SupplyChain:
    """A running supply chain for one seed; time in hours."""

    def __init__(self, spec: Chain, seed: int) -> None:
        self.spec = spec
        self.seed = seed
        self.env = simpy.Environment()
        self.lots: dict[str, Lot] = {}
        self.on_publish: Callback = lambda message: None
        self.on_arrival: Callback = lambda view: None
        self.on_return: Callback = lambda message: None
        self.adjustments: dict[str, list[tuple[float, float]]] = {s.name: [] for s in spec.suppliers}
        self.transport_cap_c: dict[str, float] = {}
        self._climate = {s.name: self._make_climate(s) for s in spec.suppliers}
        self._serial = 0
        self._gauges = {s.name: rng_for(seed, f"supply.{s.name}.gauge") for s in spec.suppliers}
        self._samplers = {s.name: rng_for(seed, f"supply.{s.name}.sampling") for s in spec.suppliers}
        for supplier in spec.suppliers:
            self.env.process(self._produce(supplier))

    # ---- what the OEM may do -------------------------------------------------------------
    def run(self) -> None:
        """Run until the horizon."""
        self.env.run(until=self.spec.horizon_days * 24.0)

    def sample(self, lot_id: str, n: int) -> np.ndarray:
        """Draw ``n`` units of a lot at random (without replacement, not drawn before); their indices."""
        lot = self.lots[lot_id]
        free = np.flatnonzero(~lot.sampled)
        chosen = np.sort(self._samplers[lot.supplier].choice(free, size=min(n, len(free)), replace=False))
        lot.sampled[chosen] = True
        return chosen

    def measure(self, lot_id: str, indices: np.ndarray) -> np.ndarray:
        """The OEM gauge's readings of units of a lot (true value plus gauge noise)."""
        lot = self.lots[lot_id]
        noise = self.spec.supplier(lot.supplier).characteristic.gauge_sigma
        return lot.values[indices] + noise * self._gauges[lot.supplier].standard_normal(len(indices))

    def ship(self, lot_id: str, keep: np.ndarray) -> np.ndarray:
        """Assemble the kept units of a lot into vehicles; returns their serial numbers."""
        lot = self.lots[lot_id]
        supplier = self.spec.supplier(lot.supplier)
        lot.shipped = keep.copy()
        n = int(keep.sum())
        lot.serials = np.arange(self._serial, self._serial + n)
        self._serial += n
        lot.service_h = self.env.now + self.spec.field.delivery_h
        lot.fail_days = self._fail_days(supplier, lot, keep)
        end_h = self.spec.horizon_days * 24.0
        for serial, days, index in zip(lot.serials, lot.fail_days, np.flatnonzero(keep)):
            if lot.service_h + days * 24.0 <= end_h:
                self.env.process(self._return(lot, int(serial), int(index), lot.service_h + days * 24.0))
        return lot.serials

    def adjust_mean(self, supplier: str, delta: float) -> None:
        """The supplier moves its process target by ``delta`` (a corrective action), from now on."""
        self.adjustments[supplier].append((self.env.now, delta))

    def cap_transport(self, supplier: str, max_c: float) -> None:
        """Logistics switches the supplier's leg to temperature-controlled transport (peak <= max_c)."""
        self.transport_cap_c[supplier] = max_c

    # ---- the flow ------------------------------------------------------------------------
    def _produce(self, s: Supplier) -> Any:
        process = rng_for(self.seed, f"supply.{s.name}.process")
        transport = rng_for(self.seed, f"supply.{s.name}.transport")
        publish = rng_for(self.seed, f"supply.{s.name}.publish")
        field_rng = rng_for(self.seed, f"supply.{s.name}.field")
        end_h, index, maintained_h = self.spec.production_days * 24.0, 0, 0.0
        yield self.env.timeout(s.lot_interval_h)
        while self.env.now <= end_h:
            now = self.env.now
            if now - maintained_h >= s.maintenance_every_days * 24.0:
                maintained_h = now
                self._publish(s, publish, {"kind": "event", "event": "maintenance", "t_h": now})
            lot = self._make_lot(s, index, process, field_rng, now - maintained_h)
            self.lots[lot.id] = lot
            self._publish_lot(s, lot, publish)
            self.env.process(self._carry(s, lot, transport))
            index += 1
            yield self.env.timeout(s.lot_interval_h)

    def _make_lot(self, s: Supplier, index: int, rng: np.random.Generator, field_rng: np.random.Generator,
                  since_maintenance_h: float) -> Lot:
        c, now, faults = s.characteristic, self.env.now, self.spec.faults
        temperature, _, moisture = self._conditions(s, now - s.lot_interval_h, now)
        z, lot_z = rng.standard_normal(s.lot_size), rng.standard_normal()
        mix_u, mix_z = rng.random(s.lot_size), rng.standard_normal(s.lot_size)
        mean = (c.mean + c.lot_sigma * lot_z + c.ambient_coeff * (temperature - 20.0)
                + c.wear_per_day * since_maintenance_h / 24.0 + fx.mean_offset(faults, s.name, now)
                + sum(delta for t, delta in self.adjustments[s.name] if t <= now))
        fault_ids = [i for i, _ in fx.active(faults, s.name, "mean_shift", now)]
        fault_ids += [i for i, _ in fx.active(faults, s.name, "variance_growth", now)]
        for i, f in fx.of_kind(faults, s.name, "humidity_excursion"):
            loss = f.params.get("per_pct", 0.0) * max(0.0, moisture - f.params.get("onset_pct", 80.0))
            mean -= loss
            if loss > 0.1 * f.params.get("per_pct", 0.0) * max(f.magnitude - f.params.get("onset_pct", 80.0), 0):
                fault_ids.append(i)
        values = mean + c.sigma * fx.sigma_factor(faults, s.name, now) * z
        mixed = np.zeros(s.lot_size, dtype=bool)
        for i, f in fx.active(faults, s.name, "mixed_lot", now):
            mixed |= mix_u < f.magnitude
            values = np.where(mixed, mean + f.params.get("offset", 0.0) + c.sigma * mix_z, values)
            fault_ids.append(i)
        robust = np.full(s.lot_size, s.failure.robust_max_c if isinstance(s.failure, CoffinManson) else np.inf)
        for i, f in fx.active(faults, s.name, "qualification_gap", now):
            weak = mix_u < f.params.get("share", 1.0)
            robust = np.where(weak, f.params.get("robust_max_c", 110.0), robust)
            fault_ids.append(i)
        env_index = field_rng.choice(len(self.spec.field.environments), size=s.lot_size,
                                     p=[e.share for e in self.spec.field.environments])
        return Lot(id=f"{s.name}-L{index:04d}", supplier=s.name, part=s.part, produced_h=now, values=values,
                   robust_max_c=robust, mixed=mixed, fault_ids=sorted(set(fault_ids)),
                   field_z=field_rng.standard_normal(s.lot_size),
                   field_wait=field_rng.exponential(1.0, (2, s.lot_size)),
                   env_index=env_index, sampled=np.zeros(s.lot_size, dtype=bool))

    def _carry(self, s: Supplier, lot: Lot, rng: np.random.Generator) -> Any:
        leg, departed = s.transport, self.env.now
        duration = leg.duration_h * math.exp(leg.duration_sigma * rng.standard_normal())
        season = leg.temperature_season_c * math.sin(2 * math.pi * (departed / 24.0 - 80.0) / 365.0)
        peak = leg.temperature_c + season + leg.temperature_sigma_c * rng.standard_normal()
        shock = leg.shock_g * math.exp(0.3 * rng.standard_normal())
        for i, f in fx.active(self.spec.faults, s.name, "transport_excursion", departed):
            peak += f.magnitude
            lot.fault_ids = sorted({*lot.fault_ids, i})
        if s.name in self.transport_cap_c:
            peak = min(peak, self.transport_cap_c[s.name])
        lot.values = lot.values + leg.thermal_coeff * max(0.0, peak - 30.0)
        yield self.env.timeout(duration)
        lot.transport = {"departed_h": departed, "arrived_h": self.env.now, "duration_h": duration,
                         "peak_c": peak, "shock_g": shock}
        self.on_arrival({"lot": lot.id, "supplier": s.name, "part": s.part, "size": s.lot_size,
                         "produced_h": lot.produced_h, "promised_h": leg.promised_h, **lot.transport})

    def _return(self, lot: Lot, serial: int, index: int, at_h: float) -> Any:
        yield self.env.timeout(at_h - self.env.now)
        env = self.spec.field.environments[int(lot.env_index[index])]
        self.on_return({"serial": serial, "part": lot.part, "t_h": float(at_h), "service_h": float(lot.service_h),
                        "environment": env.model_dump(), "mode": self.spec.supplier(lot.supplier).failure.kind})

    def _fail_days(self, s: Supplier, lot: Lot, keep: np.ndarray) -> np.ndarray:
        envs = self.spec.field.environments
        idx = lot.env_index[keep]
        env = {k: np.array([getattr(envs[i], k) for i in range(len(envs))])[idx]
               for k in ("t_min_c", "t_max_c", "cycles_per_day", "km_per_day")}
        model = s.failure
        if isinstance(model, CoffinManson):
            days = days_thermal(model, env, lot.robust_max_c[keep], lot.field_z[keep])
        elif isinstance(model, DiscWear):
            days = days_disc(model, lot.values[keep], env) * np.exp(0.3 * lot.field_z[keep])
        else:
            days = days_esd(model, lot.values[keep], lot.field_wait[0, keep])
        base = self.spec.field.base_failures_per_year / 365.0
        random_days = lot.field_wait[1, keep] / base if base > 0 else np.full(int(keep.sum()), np.inf)
        return np.minimum(days, random_days)

    # ---- the supplier portal -------------------------------------------------------------
    def _publish_lot(self, s: Supplier, lot: Lot, rng: np.random.Generator) -> None:
        temperature, humidity, _ = self._conditions(s, lot.produced_h - s.lot_interval_h, lot.produced_h)
        groups = lot.values[: s.subgroups_per_lot * s.subgroup_size].reshape(s.subgroups_per_lot, s.subgroup_size)
        canonical = {s.characteristic.name: (groups, s.characteristic.unit),
                     "site.temperature": (temperature, "degC"), "site.humidity": (humidity, "percent")}
        fields, units = {}, {}
        for name, claim in s.publishes.items():
            if claim.canonical in canonical:
                value, unit = canonical[claim.canonical]
                sent = claim.unit
                if claim.sent_unit is not None and lot.produced_h >= claim.sent_from_day * 24.0:
                    sent = claim.sent_unit
                fields[name], units[name] = _in_unit(value, unit, sent), sent
        self._publish(s, rng, {"kind": "lot_data", "lot": lot.id, "t_h": lot.produced_h, "fields": fields,
                               "units": units})

    def _publish(self, s: Supplier, rng: np.random.Generator, message: dict[str, Any]) -> None:
        lost = rng.random() < s.data_loss
        if not lost:
            self.on_publish({"supplier": s.name, "part": s.part, **message})

    # ---- site climate ----------------------------------------------------------------------
    def _make_climate(self, s: Supplier) -> np.ndarray:
        """Hourly (temperature, humidity, moisture taken up by parts) at the supplier's site."""
        rng = rng_for(self.seed, f"supply.{s.name}.climate")
        hours = np.arange(int(self.spec.horizon_days * 24) + 2, dtype=float)
        daily = np.sin(2 * np.pi * (hours - 9.0) / 24.0)
        site = s.site
        noise = site.noise * rng.standard_normal((2, len(hours)))
        temperature = site.temperature_c + site.temperature_swing_c * daily + noise[0]
        humidity = site.humidity_pct - site.humidity_swing_pct * daily + noise[1]
        for _, f in fx.of_kind(self.spec.faults, s.name, "humidity_excursion"):
            inside = np.array([fx.strength(f, h) for h in hours])
            humidity = np.where(inside > 0, np.maximum(humidity, f.magnitude + site.noise * daily), humidity)
        humidity = np.clip(humidity, 0.0, 100.0)
        a = 1.0 / MOISTURE_TAU_H
        moisture, _ = lfilter([a], [1.0, a - 1.0], humidity, zi=[humidity[0] * (1 - a)])
        return np.vstack([temperature, humidity, moisture])

    def _conditions(self, s: Supplier, t0_h: float, t1_h: float) -> tuple[float, float, float]:
        """Mean temperature and humidity over ``[t0, t1)`` and the moisture state at ``t1``."""
        climate = self._climate[s.name]
        lo, hi = max(int(t0_h), 0), max(int(t1_h), 1)
        return (float(climate[0, lo:hi].mean()), float(climate[1, lo:hi].mean()),
                float(climate[2, min(hi, climate.shape[1] - 1)]))


def _in_unit(value: Any, unit: str, target: str) -> Any:
    """A value converted to the unit a supplier declares (left as it is when not convertible)."""
    try:
        converted = UNITS.Quantity(np.asarray(value, dtype=float), unit).to(target).magnitude
    except (pint.errors.DimensionalityError, pint.errors.UndefinedUnitError):
        converted = np.asarray(value, dtype=float)
    return converted.round(9).tolist()
