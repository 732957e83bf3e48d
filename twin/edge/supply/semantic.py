"""The semantic layer: each supplier's field names and units mapped onto one definition per parameter.

A supplier declares, per field it publishes, which canonical parameter it claims to be, its unit
and its definition. The layer converts values with pint; a claim that cannot be honoured is a
**mismatch**, reported with the supplier, field and reason, and its values are never merged
into the canonical stream:

- ``unknown_parameter``: the canonical name is not in the catalogue;
- ``unit``: the unit is unknown, or of another dimension (absolute humidity in g/m^3 is not %RH);
- ``definition``: same parameter name, different definition (radial vs lateral runout);
- ``undeclared_field``: a message carries a field the supplier never declared;
- ``message_unit`` / ``message_definition``: a portal message says another unit or definition than
  the one declared for its field (reported by :mod:`twin.edge.supply.portal`).

>>> layer = SemanticLayer({"disc.runout": Definition(unit="mm", definition="lateral runout at 10 mm from rim")})
>>> layer.declare("brakeco", {"RO_UM": {"canonical": "disc.runout", "unit": "micrometer", "definition": ""},
...                            "RO_RAD": {"canonical": "disc.runout", "unit": "mm", "definition": "radial runout"}})
>>> layer.map("brakeco", {"RO_UM": [20.0, 22.0], "RO_RAD": [0.03]})
{'disc.runout': [0.02, 0.022]}
>>> [(m.field, m.kind) for m in layer.mismatches]
[('RO_RAD', 'definition')]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pint
from pydantic import BaseModel, ConfigDict

UNITS = pint.UnitRegistry()


class Definition(BaseModel):
    """One canonical parameter: its unit and what exactly is measured."""

    model_config = ConfigDict(extra="forbid")

    unit: str
    definition: str = ""


@dataclass(frozen=True)
class Mismatch:
    """A claim the semantic layer refused to merge, and why."""

    supplier: str
    field: str
    canonical: str
    kind: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {"supplier": self.supplier, "field": self.field, "canonical": self.canonical, "kind": self.kind,
                "detail": self.detail}


class SemanticLayer:
    """Validates supplier declarations against a catalogue and maps their messages onto it."""

    def __init__(self, catalogue: dict[str, Definition]) -> None:
        self.catalogue = catalogue
        self.mismatches: list[Mismatch] = []
        self._claims: dict[str, dict[str, dict[str, Any]]] = {}
        self._valid: dict[tuple[str, str], str] = {}
        self._reported: set[tuple[str, str, str]] = set()

    def declare(self, supplier: str, claims: dict[str, dict[str, Any]]) -> None:
        """Register a supplier's declared fields; mismatching claims are reported now."""
        self._claims[supplier] = claims
        for name, claim in claims.items():
            problem = self._check(claim)
            if problem:
                self._report(supplier, name, claim["canonical"], *problem)
            else:
                self._valid[(supplier, name)] = claim["canonical"]

    def map(self, supplier: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Canonical name -> values in the canonical unit, for the fields that map cleanly."""
        out: dict[str, Any] = {}
        claims = self._claims.get(supplier, {})
        for name, value in fields.items():
            if name not in claims:
                self._report(supplier, name, "", "undeclared_field", f"{supplier} never declared field {name!r}")
                continue
            canonical = self._valid.get((supplier, name))
            if canonical is None:
                continue
            target = self.catalogue[canonical].unit
            converted = UNITS.Quantity(np.asarray(value, dtype=float), claims[name]["unit"]).to(target).magnitude
            out[canonical] = np.round(converted, 12).tolist()
        return out

    def streams(self, supplier: str) -> list[str]:
        """The canonical parameters a supplier publishes cleanly."""
        return sorted({c for (s, _), c in self._valid.items() if s == supplier})

    def _check(self, claim: dict[str, Any]) -> tuple[str, str] | None:
        canonical = claim["canonical"]
        if canonical not in self.catalogue:
            return "unknown_parameter", f"no canonical parameter {canonical!r}; known: {sorted(self.catalogue)}"
        want = self.catalogue[canonical]
        try:
            unit = UNITS.Unit(claim["unit"])
        except (pint.errors.UndefinedUnitError, ValueError, AttributeError):
            return "unit", f"unit {claim['unit']!r} is not a unit"
        if unit.dimensionality != UNITS.Unit(want.unit).dimensionality:
            return "unit", (f"{claim['unit']} ({unit.dimensionality}) cannot be {canonical} in {want.unit} "
                            f"({UNITS.Unit(want.unit).dimensionality})")
        said = " ".join(str(claim.get("definition", "")).lower().split())
        if said and want.definition and said != " ".join(want.definition.lower().split()):
            return "definition", f"declared as {claim['definition']!r}, canonical is {want.definition!r}"
        return None

    def report(self, supplier: str, name: str, canonical: str, kind: str, detail: str) -> None:
        """Record a mismatch found elsewhere (e.g. a portal message deviating from its declaration);
        each (supplier, field, kind) is listed once."""
        self._report(supplier, name, canonical, kind, detail)

    def _report(self, supplier: str, name: str, canonical: str, kind: str, detail: str) -> None:
        key = (supplier, name, kind)
        if key not in self._reported:
            self._reported.add(key)
            self.mismatches.append(Mismatch(supplier, name, canonical, kind, detail))
