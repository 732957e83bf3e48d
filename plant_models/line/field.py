"""The field: which shipped parts of a line fail in service, and the design parameters their lots were made to.

A template's ``parts.field`` (:class:`~plant_models.line.template.FieldService`) says how a part that left the
line fails in service: the chance of each failure mode within ``service_h`` follows one part attribute
through a table (a bearing mounted with too much play rattles within a year far more often than one mounted
right). :func:`field_returns` draws that for every shipped part (recorded at the last station, rejected
nowhere) from the parts a run made, one seeded draw per part and mode in part order, so a shorter run gives
the same returns for the parts it shares with a longer one. A drawn failure comes ``u / p`` of the way
through the service period (uniform, given that it fails).

:func:`design_parameters` lists the lot properties the template gives a design tolerance (``spec``): the
drawing's bearing clearance class is the design parameter behind every box of bearings.

Both are what a plant's service organisation and its engineering drawings hold, not hidden truth: the run
writes them as ``returns.parquet`` and ``design.json`` beside the historian, where lineage reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from plant_models.line.template import LineTemplate
from plant_models.rng import rng_for


def lot_part(lot_name: str, part: str | None) -> str:
    """The component a lot holds: its declared ``part``, else its name without ``_lot`` (bearing_lot: bearing)."""
    return part or lot_name.removesuffix("_lot")


def design_parameters(template: LineTemplate) -> list[dict[str, Any]]:
    """Every lot property with a design tolerance: ``design`` (``<component>/<property>``), ``lot``, ``part``,
    ``property``, ``spec`` ``[low, high]``, ``unit`` and the ``supplier`` asset (its full path)."""
    parts = template.parts
    out: list[dict[str, Any]] = []
    for lot_name, lot in (parts.lots if parts else {}).items():
        component = lot_part(lot_name, lot.part)
        for prop, spec in lot.properties.items():
            if spec.spec is not None:
                out.append({"design": f"{component}/{prop}", "lot": lot_name, "part": component, "property": prop,
                            "spec": list(spec.spec), "unit": spec.unit,
                            "supplier": f"{template.line}.{lot.asset}"})
    return out


def field_returns(template: LineTemplate, parts_log: Sequence[Mapping[str, Any]],
                  seed: int) -> list[dict[str, Any]] | None:
    """The field failures of the parts in ``parts_log`` (per-station records, as
    :attr:`~plant_models.line.model.LineModel.parts_log` keeps them), one row each: ``serial`` (part id),
    ``unit`` (``<line>-<id>``, the id lineage gives the part), ``part`` (the component), ``mode``, ``lot`` and
    ``lot_number`` (the component's lot), ``t_h`` (plant hour of the failure), ``service_h`` (hours in
    service when it failed), ``repair``. None when the template declares no field."""
    parts = template.parts
    if parts is None or parts.field is None:
        return None
    by_part: dict[int, dict[str, Any]] = {}
    stations: dict[int, set[str]] = {}
    rejected: set[int] = set()
    for record in parts_log:
        pid = int(record["part_id"])
        by_part.setdefault(pid, {}).update(record)
        stations.setdefault(pid, set()).add(str(record["station"]))
        if record.get("rejected"):
            rejected.add(pid)
    last = f"{template.line}.{parts.stations[-1].asset}"
    rng = rng_for(seed, f"{template.line}.field")
    field = parts.field
    tables = [(np.array([x for x, _ in f.points]), np.array([p for _, p in f.points])) for f in field.failures]
    returns: list[dict[str, Any]] = []
    for pid in sorted(by_part):
        if last not in stations[pid] or pid in rejected:
            continue  # still on the line, or scrapped: never shipped
        record = by_part[pid]
        for failure, (xs, ps) in zip(field.failures, tables):
            draw = float(rng.random())
            chance = float(np.interp(float(record.get(failure.from_, np.nan)), xs, ps))
            if not draw < chance:  # a missing attribute (nan) never fails
                continue
            service_h = field.service_h * draw / chance
            returns.append({
                "serial": pid, "unit": f"{template.line}-{pid}", "part": failure.component, "mode": failure.mode,
                "lot": failure.lot or "", "lot_number": int(record.get(failure.lot, 0)) if failure.lot else 0,
                "t_h": round(float(record["t_s"]) / 3600 + service_h, 4), "service_h": round(service_h, 4),
                "repair": failure.repair})
    return returns
