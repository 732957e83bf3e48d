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

# process fault kinds: (target family prefix or exact target) -> (|magnitude| low, high, may be negative)
PROCESS_MAGNITUDES: dict[tuple[str, str], tuple[float, float, bool]] = {
    ("valve_coil_ageing", "coater.coolant.valve"): (2.0, 10.0, False),
    ("blade_pressure_drift", "blade"): (0.1, 0.6, True),
    ("step", "blade"): (0.2, 1.0, True),
    ("step", "zone"): (3.0, 12.0, True),
    ("step", "coater.slurry"): (300.0, 1500.0, True),
    ("step", "coater.coolant"): (1.0, 5.0, True),
    ("step", "coater.line"): (2.0, 8.0, True),
    ("thermal_shock", "zone"): (10.0, 40.0, False),
    ("thermal_shock", "coater.head"): (5.0, 20.0, False),
}
# sensor fault magnitude as a fraction of the tag's engineering range
SENSOR_MAGNITUDES: dict[str, tuple[float, float, bool]] = {
    "sensor_bias": (0.01, 0.04, True),
    "sensor_noise_burst": (0.005, 0.02, False),
    "sensor_stuck": (0.0, 0.0, False),
    "sensor_dropout": (0.0, 0.0, False),
}


def _coater_draw(rule: Split, rng: np.random.Generator, tagmap: TagMap, index: int) -> tuple[str, str, float, float]:
    """A coater fault: sensor or process family, then kind, target, magnitude quantile and magnitude."""
    choices = _fault_choices(tagmap, rule.variant, rule.targets)
    family = "sensor" if rng.random() < 0.5 else "process"
    kind = str(rng.choice(sorted({k for k, _ in choices[family]})))
    targets = sorted(t for k, t in choices[family] if k == kind)
    target = str(targets[int(rng.integers(len(targets)))])
    lo_q, hi_q = rule.quantiles[int(rng.integers(len(rule.quantiles)))]
    q = float(rng.uniform(lo_q, hi_q))
    return kind, target, _magnitude(kind, target, q, rng, tagmap), q


def _fault_choices(tagmap: TagMap, blades: int, which: str) -> dict[str, list[tuple[str, str]]]:
    blade_assets = [f"coater.blade{i}" for i in range(1, blades + 1)]
    zones = [f"coater.oven.zone{j}" for j in range(1, 4)]
    process = [("valve_coil_ageing", "coater.coolant.valve")]
    process += [("blade_pressure_drift", b) for b in blade_assets]
    process += [("step", t) for t in [*blade_assets, *zones, "coater.slurry", "coater.coolant", "coater.line"]]
    process += [("thermal_shock", t) for t in [*zones, "coater.head"]]
    measured = [t.name for t in tagmap.tags if t.access == "ro" and t.name != tagmap.clock_tag]
    sensor = [(k, t) for k in SENSOR_KINDS for t in measured]

    def keep(target: str) -> bool:
        held = target == HELDOUT_TARGET or target.startswith(HELDOUT_TARGET + ".")
        return {"all": True, "not_heldout": not held, "only_heldout": held}[which]

    return {"process": [c for c in process if keep(c[1])], "sensor": [c for c in sensor if keep(c[1])]}


def _magnitude(kind: str, target: str, q: float, rng: np.random.Generator, tagmap: TagMap) -> float:
    if kind in SENSOR_MAGNITUDES:
        lo, hi, signed = SENSOR_MAGNITUDES[kind]
        tag = tagmap[target]
        scale = tag.high - tag.low
    else:
        family = "blade" if target.startswith("coater.blade") else "zone" if target.startswith("coater.oven.zone") \
            else target
        lo, hi, signed = PROCESS_MAGNITUDES[(kind, family)]
        scale = 1.0
    value = (lo + q * (hi - lo)) * scale
    if signed and rng.random() < 0.5:
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
