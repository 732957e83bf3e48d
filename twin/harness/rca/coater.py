"""The coater's root-cause sweep.

The coater's splits (see :data:`SPLITS`) differ in seeds, fault magnitudes and onsets, fault
targets and the line variant, so ``twin rootcause evaluate`` can measure generalisation honestly:

=====================  ========  ===================  ==========  ==========================
split                  blades    magnitude quantile   onset (s)   targets
=====================  ========  ===================  ==========  ==========================
``train``              4         0.2 .. 0.8           130 .. 190  all but ``coater.blade3*``
``heldout_seeds``      4         0.2 .. 0.8           130 .. 190  all but ``coater.blade3*``
``heldout_magnitude``  4         0 .. 0.2, 0.8 .. 1   190 .. 240  all but ``coater.blade3*``
``heldout_target``     4         0.2 .. 0.8           130 .. 190  only ``coater.blade3*``
``line_variant``       6         0.2 .. 0.8           130 .. 190  all
=====================  ========  ===================  ==========  ==========================
"""

from __future__ import annotations

import numpy as np

from plant_models.registry import plant_spec
from plant_models.spec import FaultRange
from twin.harness.rca.sweep import SENSOR_KINDS, Split, SweepPlant
from twin.harness.scenario import SCENARIO_DIR
from virtual_plc.tagmap import TagMap

BASE_SCENARIO = SCENARIO_DIR / "coater_coil_ageing.yaml"
SWEEP_SCAN_MS = 100
HELDOUT_TARGET = "coater.blade3"
DETECT_WITHIN_S = 90.0

SPLITS: dict[str, Split] = {
    "train": Split(4, ((0.2, 0.8),), (130.0, 190.0), "not_heldout"),
    "heldout_seeds": Split(4, ((0.2, 0.8),), (130.0, 190.0), "not_heldout"),
    "heldout_magnitude": Split(4, ((0.0, 0.2), (0.8, 1.0)), (190.0, 240.0), "not_heldout"),
    "heldout_target": Split(4, ((0.2, 0.8),), (130.0, 190.0), "only_heldout"),
    "line_variant": Split(6, ((0.2, 0.8),), (130.0, 190.0), "all"),
}


def _coater_draw(rule: Split, rng: np.random.Generator, tagmap: TagMap, index: int) -> tuple[str, str, float, float]:
    """A coater fault: sensor or process family, then kind, target, magnitude quantile and magnitude."""
    catalogue = plant_spec("coater").fault_catalogue({"blades": rule.variant})
    choices = _fault_choices(catalogue, tagmap, rule.targets)
    family = "sensor" if rng.random() < 0.5 else "process"
    kind = str(rng.choice(sorted({k for k, _ in choices[family]})))
    targets = sorted(t for k, t in choices[family] if k == kind)
    target = str(targets[int(rng.integers(len(targets)))])
    lo_q, hi_q = rule.quantiles[int(rng.integers(len(rule.quantiles)))]
    q = float(rng.uniform(lo_q, hi_q))
    return kind, target, _magnitude(catalogue, kind, target, q, rng, tagmap), q


def _fault_choices(catalogue: tuple[FaultRange, ...], tagmap: TagMap, which: str) -> dict[str, list[tuple[str, str]]]:
    """(kind, target) pairs of the plant's fault catalogue, by family, for the split's targets."""
    process = [(r.kind, r.target) for r in catalogue if r.family == "process"]
    measured = [t.name for t in tagmap.tags if t.access == "ro" and t.name != tagmap.clock_tag]
    sensor_kinds = {r.kind for r in catalogue if r.family == "sensor"}
    sensor = [(k, t) for k in SENSOR_KINDS if k in sensor_kinds for t in measured]

    def keep(target: str) -> bool:
        held = target == HELDOUT_TARGET or target.startswith(HELDOUT_TARGET + ".")
        return {"all": True, "not_heldout": not held, "only_heldout": held}[which]

    return {"process": [c for c in process if keep(c[1])], "sensor": [c for c in sensor if keep(c[1])]}


def _magnitude(catalogue: tuple[FaultRange, ...], kind: str, target: str, q: float, rng: np.random.Generator,
               tagmap: TagMap) -> float:
    """The magnitude at quantile ``q`` of the catalogue's range for ``kind`` on ``target``."""
    ranges = {(r.kind, r.target): r for r in catalogue}
    entry = ranges.get((kind, target)) or ranges[(kind, "*")]
    scale = (tagmap[target].high - tagmap[target].low) if entry.relative else 1.0
    value = (entry.low + q * (entry.high - entry.low)) * scale
    if entry.signed and rng.random() < 0.5:
        value = -value
    return float(np.round(value, 6))


COATER = SweepPlant(
    name="coater",
    base_scenario=BASE_SCENARIO,
    splits=SPLITS,
    evaluations={
        "heldout_seeds": ("heldout_seeds", 0.0),
        "heldout_magnitude_onset": ("heldout_magnitude", 0.0),
        "heldout_target": ("heldout_target", 0.0),
        "knowledge_drop_20": ("heldout_seeds", 0.2),
        "line_variant_6_blades": ("line_variant", 0.0),
    },
    draw=_coater_draw,
    fault_kind=lambda spec: spec.kind,
    variant_options=lambda blades: {"blades": blades},
    scan_ms=SWEEP_SCAN_MS,
    detect_within_s=DETECT_WITHIN_S,
    eval_episodes=150,
    description="twin rootcause dataset (offline episodes, scan 100 ms, 4-blade coater, blade 3 held out)",
)
