"""What a supply chain is made of: suppliers, transport legs, field use, faults (the truth side).

These pydantic models are the ``chain`` part of a supply scenario (``twin.harness.supply.scenario``
adds the OEM's inspection, detection, workflow and cost settings). Times are hours of
simulation time unless a field name says otherwise (``_days``, ``_s``).
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Characteristic(_Strict):
    """The key characteristic of a part: in-control distribution and specification limits."""

    name: str = Field(description="canonical name, e.g. disc.runout")
    unit: str = Field(description="pint unit of the canonical values, e.g. mm")
    mean: float
    sigma: float = Field(gt=0, description="unit-to-unit sigma")
    lot_sigma: float = Field(default=0.0, ge=0, description="sigma of the lot-to-lot mean offset")
    lsl: float | None = None
    usl: float | None = None
    gauge_sigma: float = Field(default=0.0, ge=0, description="measurement noise of the OEM's gauge")
    ambient_coeff: float = Field(default=0.0, description="change per degC of site temperature above 20 degC")
    wear_per_day: float = Field(default=0.0, description="tool-wear drift per day, reset by maintenance")

    @model_validator(mode="after")
    def _limits(self) -> Characteristic:
        if self.lsl is None and self.usl is None:
            raise ValueError("a characteristic needs lsl, usl or both")
        if self.lsl is not None and self.usl is not None and self.lsl >= self.usl:
            raise ValueError(f"lsl ({self.lsl}) must be below usl ({self.usl})")
        return self


class Site(_Strict):
    """A supplier's local climate: a daily cycle around a mean, plus noise."""

    temperature_c: float = 22.0
    temperature_swing_c: float = Field(default=4.0, ge=0)
    humidity_pct: float = Field(default=55.0, ge=0, le=100)
    humidity_swing_pct: float = Field(default=8.0, ge=0)
    noise: float = Field(default=1.0, ge=0, description="sigma of hourly noise (degC and %RH)")


class Published(_Strict):
    """One field a supplier publishes, in the supplier's own words: name, unit, definition."""

    canonical: str = Field(description="the canonical parameter this field claims to be")
    unit: str
    definition: str = ""
    sent_unit: str | None = Field(default=None, description="the unit the supplier's messages actually carry from "
                                  "sent_from_day on (an undeclared gauge or software change); None: the declared unit")
    sent_from_day: float = Field(default=0.0, ge=0)


class Transport(_Strict):
    """A transport leg: duration, temperature and shock profile, logged by a data logger."""

    duration_h: float = Field(default=36.0, gt=0)
    duration_sigma: float = Field(default=0.2, ge=0, description="log-normal sigma of the duration")
    promised_h: float = Field(default=48.0, gt=0, description="lead time promised to the OEM")
    temperature_c: float = Field(default=22.0, description="mean peak temperature in the trailer")
    temperature_season_c: float = Field(default=6.0, ge=0, description="seasonal amplitude of the peak")
    temperature_sigma_c: float = Field(default=3.0, ge=0)
    shock_g: float = Field(default=3.0, gt=0, description="median peak shock")
    thermal_coeff: float = Field(default=0.0, ge=0, description="characteristic change per degC peak above 30 degC")


class CoffinManson(_Strict):
    """Thermal-cycling fatigue (Coffin-Manson with an Arrhenius term on the peak temperature).

    Cycles to failure of a unit: ``N = N_ref * (dT / dT_ref)**-n * exp(Ea/k * (1/Tmax - 1/T_ref))``,
    log-normal scatter; a cycle whose peak exceeds the unit's robust temperature divides ``N``
    by ``beyond_band_factor`` (the mechanism a standard-band qualification never activates).
    """

    kind: Literal["coffin_manson"] = "coffin_manson"
    n_ref: float = Field(default=2.0e6, gt=0, description="median cycles to failure at the reference")
    delta_t_ref_k: float = Field(default=100.0, gt=0)
    t_ref_c: float = 85.0
    exponent: float = Field(default=2.0, gt=0, description="Coffin-Manson exponent n")
    activation_ev: float = Field(default=0.3, ge=0, description="Arrhenius activation energy Ea")
    scatter: float = Field(default=0.5, ge=0, description="log-normal sigma of N")
    robust_max_c: float = Field(default=150.0, description="peak temperature the design withstands")
    beyond_band_factor: float = Field(default=2000.0, ge=1)


class DiscWear(_Strict):
    """Brake judder: runout above the contact threshold wears disc thickness variation (DTV).

    Days to judder: ``dtv_crit / (wear * (runout - contact) * km_per_day)`` for runout above contact.
    """

    kind: Literal["disc_wear"] = "disc_wear"
    contact_mm: float = Field(default=0.030, description="runout above which the pads touch the disc")
    dtv_crit_mm: float = Field(default=0.010, gt=0)
    wear_per_km: float = Field(default=0.02, gt=0, description="DTV growth per km per mm of excess runout")


class EsdStress(_Strict):
    """Electrostatic discharges in use: Poisson events, log-normal peak voltage; a unit fails at
    the first event above its withstand voltage."""

    kind: Literal["esd"] = "esd"
    events_per_day: float = Field(default=0.05, gt=0)
    median_kv: float = Field(default=0.3, gt=0)
    sigma_log: float = Field(default=0.5, gt=0)


FailureModel = Annotated[Union[CoffinManson, DiscWear, EsdStress], Field(discriminator="kind")]


class Environment(_Strict):
    """One class of vehicles and how they are used (a share of the fleet)."""

    name: str
    share: float = Field(gt=0, le=1)
    cycles_per_day: float = Field(default=2.0, ge=0, description="thermal cycles per day")
    t_min_c: float = -10.0
    t_max_c: float = 60.0
    ramp_s: float = Field(default=600.0, gt=0, description="duration of the temperature transient")
    km_per_day: float = Field(default=40.0, ge=0)


class FieldUse(_Strict):
    """Field use: the fleet's environments, when vehicles enter service, the warranty."""

    environments: list[Environment] = Field(
        default_factory=lambda: [Environment(name="temperate", share=1.0)], min_length=1
    )
    delivery_h: float = Field(default=240.0, ge=0, description="assembly to vehicle in service")
    warranty_days: float = Field(default=730.0, gt=0)
    base_failures_per_year: float = Field(default=1e-6, ge=0, description="random failures, any part")

    @model_validator(mode="after")
    def _shares(self) -> FieldUse:
        total = sum(e.share for e in self.environments)
        if abs(total - 1) > 1e-6:
            raise ValueError(f"environment shares must add up to 1, got {total:g}")
        return self


class Supplier(_Strict):
    """A supplier: one part, its process, site, lots, maintenance, data it publishes, its leg."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    part: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    characteristic: Characteristic
    failure: FailureModel
    site: Site = Field(default_factory=Site)
    transport: Transport = Field(default_factory=Transport)
    lot_size: int = Field(default=1000, ge=2)
    lot_interval_h: float = Field(default=24.0, gt=0)
    subgroups_per_lot: int = Field(default=4, ge=1)
    subgroup_size: int = Field(default=5, ge=2)
    maintenance_every_days: float = Field(default=14.0, gt=0)
    publishes: dict[str, Published] = Field(
        default_factory=dict, description="supplier field name -> what it claims to be (the semantic layer)"
    )
    data_loss: float = Field(default=0.0, ge=0, lt=1, description="share of published messages lost")
    corrupt_messages: list[int] = Field(default_factory=list, description="sequence numbers (0, 1, ...) of this "
                                        "supplier's portal messages that leave truncated (a firmware fault)")

    @model_validator(mode="after")
    def _topic_safe_fields(self) -> Supplier:
        for name in self.publishes:
            if not name or any(c in name for c in "/+#") or name != name.strip():
                raise ValueError(f"published field name {name!r} of {self.name} cannot be an MQTT topic level "
                                 "(no '/', '+', '#' or surrounding spaces)")
        return self


FaultKind = Literal["mean_shift", "variance_growth", "qualification_gap", "transport_excursion", "mixed_lot",
                    "humidity_excursion"]


class SupplyFault(_Strict):
    """An injected supply fault with its ground truth.

    - ``mean_shift``: the characteristic mean moves by ``magnitude`` over ``ramp_h``;
    - ``variance_growth``: sigma grows by a factor ``1 + magnitude`` over ``ramp_h``;
    - ``qualification_gap``: lots made in the window have ``params.robust_max_c`` (a weaker
      design margin) — invisible to a standard-band test;
    - ``transport_excursion``: legs departing in the window peak ``magnitude`` degC hotter;
    - ``mixed_lot``: a share ``magnitude`` of each lot in the window comes from another process
      whose mean is off by ``params.offset``;
    - ``humidity_excursion``: site humidity rises to ``magnitude`` %RH for the window; moisture
      taken up lowers the characteristic by ``params.per_pct`` per %RH above ``params.onset_pct``.
    """

    kind: FaultKind
    supplier: str
    start_day: float = Field(ge=0)
    duration_days: float | None = Field(default=None, gt=0, description="None: until the end")
    magnitude: float
    ramp_h: float = Field(default=0.0, ge=0)
    params: dict[str, float] = Field(default_factory=dict)

    @property
    def start_h(self) -> float:
        """Onset in hours."""
        return self.start_day * 24.0

    @property
    def end_h(self) -> float:
        """End in hours (infinite when open-ended)."""
        return float("inf") if self.duration_days is None else (self.start_day + self.duration_days) * 24.0


class Chain(_Strict):
    """The whole flow: suppliers, field, how long it runs, and the faults injected."""

    suppliers: list[Supplier] = Field(min_length=1)
    field: FieldUse = Field(default_factory=FieldUse)
    production_days: float = Field(default=90.0, gt=0)
    horizon_days: float = Field(default=300.0, gt=0, description="simulation end (field returns observed until)")
    faults: list[SupplyFault] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Chain:
        names = [s.name for s in self.suppliers]
        if len(set(names)) != len(names):
            raise ValueError(f"supplier names must be unique, got {names}")
        for i, fault in enumerate(self.faults):
            if fault.supplier not in names:
                raise ValueError(f"faults[{i}].supplier {fault.supplier!r} is not a supplier; valid: {names}")
        if self.horizon_days < self.production_days:
            raise ValueError(f"horizon_days ({self.horizon_days:g}) must be at least production_days "
                             f"({self.production_days:g})")
        return self

    def supplier(self, name: str) -> Supplier:
        """The supplier called ``name``."""
        return next(s for s in self.suppliers if s.name == name)
