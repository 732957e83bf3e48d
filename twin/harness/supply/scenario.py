"""Supply scenarios (``kind: supply``): the chain (truth side), the OEM's stack, costs, scorecard.

A supply scenario is a different kind of file from a plant scenario (``twin.harness.scenario``): no PLC,
no scan, time in hours and days. Errors name the field and its line, as for every file a
person writes (``qtconfig``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qtconfig import load_yaml_model, yaml_kind
from supply_chain_sim.spec import Chain
from twin.edge.supply.field import QualificationBand
from twin.edge.supply.oem import OemSettings
from twin.harness.supply.portal import PortalSettings


class Costs(BaseModel):
    """Quality cost rates (one currency unit)."""

    model_config = ConfigDict(extra="forbid")

    per_sample: float = Field(default=4.0, ge=0, description="incoming inspection, per unit sampled")
    per_screened: float = Field(default=1.0, ge=0, description="100 % screening of a rejected lot, per unit")
    per_scrapped: float = Field(default=15.0, ge=0, description="a part removed as nonconforming")
    per_rejected_lot: float = Field(default=250.0, ge=0, description="handling a rejected lot")
    per_field_failure: float = Field(default=2500.0, ge=0, description="warranty claim")


class ScorecardWeights(BaseModel):
    """Weights of the supplier scorecard (normalised to sum 1) and the field ppm scale of quality."""

    model_config = ConfigDict(extra="forbid")

    quality: float = Field(default=0.5, ge=0)
    delivery: float = Field(default=0.3, ge=0)
    data: float = Field(default=0.2, ge=0)
    ppm_scale: float = Field(default=1000.0, gt=0, description="field ppm at which the quality score reaches 0")

    @model_validator(mode="after")
    def _some_weight(self) -> ScorecardWeights:
        if self.quality + self.delivery + self.data <= 0:
            raise ValueError("at least one scorecard weight must be positive")
        return self


class SupplyScenario(BaseModel):
    """One supply scenario file."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["supply"]
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = Field(default=0, ge=0)
    chain: Chain
    oem: OemSettings = Field(default_factory=OemSettings)
    portal: PortalSettings = Field(default_factory=PortalSettings, description="how supplier data reach the OEM")
    costs: Costs = Field(default_factory=Costs)
    scorecard: ScorecardWeights = Field(default_factory=ScorecardWeights)
    extended_qualification: dict[str, QualificationBand] = Field(
        default_factory=dict, description="part -> the extended test (what-if: failures it would have caught)")
    outputs: dict[str, str] = Field(default_factory=dict, description="dir: the run directory")

    @model_validator(mode="after")
    def _parts_known(self) -> SupplyScenario:
        parts = {s.part for s in self.chain.suppliers}
        named = {"oem.contract_ppm": self.oem.contract_ppm, "oem.qualification": self.oem.qualification,
                 "extended_qualification": self.extended_qualification}
        for where, mapping in named.items():
            unknown = sorted(set(mapping) - parts)
            if unknown:
                raise ValueError(f"{where} names parts {unknown} that no supplier makes; parts: {sorted(parts)}")
        unknown = sorted(set(self.oem.final_inspection) - parts)
        if unknown:
            raise ValueError(f"oem.final_inspection names parts {unknown} that no supplier makes")
        for supplier in self.chain.suppliers:
            if supplier.characteristic.name not in self.oem.semantic:
                raise ValueError(f"oem.semantic has no definition of {supplier.characteristic.name!r} "
                                 f"(the characteristic of {supplier.name})")
        return self

    def output_dir(self) -> Path:
        """The run directory (default ``runs/<name>``)."""
        return Path(self.outputs.get("dir", f"runs/{self.name}"))


def load_supply_scenario(path: str | Path) -> SupplyScenario:
    """Read and validate a supply scenario; problems raise ``ConfigError`` naming field and line."""
    return load_yaml_model(SupplyScenario, path)


def is_supply_file(path: str | Path) -> bool:
    """Whether a YAML file declares ``kind: supply`` (unreadable files are not)."""
    return yaml_kind(path) == "supply"
