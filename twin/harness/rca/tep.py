"""The Tennessee Eastman root-cause sweep: which disturbances, drawn how, scored how.

Scoring-side code, like :mod:`twin.harness.rca.dataset` (whose machinery runs these episodes): it names
disturbances and reads the plant's declared causal structure for the labels.

**Disturbances.** Only those with a *local entry point* (one unit or stream where the plant's
causal structure says they enter, :attr:`plant_models.tennessee_eastman.signals.Disturbance.asset`) and that
our TEP detectors catch within a few hours at their nominal size:

=====  =====================================  ===============
IDV    disturbance                            entry (label)
=====  =====================================  ===============
1, 2   stream 4 A/C ratio, B composition      ``tep.feed_ac``
7, 8   C header pressure, stream 4 random     ``tep.feed_ac``
4, 11  reactor cooling-water inlet (step,     ``tep.reactor``
       random)
13     reaction kinetics drift                ``tep.reactor``
14     reactor cooling-water valve stiction   ``tep.reactor``
17     reactor heat transfer (random)         ``tep.reactor``
27     reactor cooling-water supply pressure  ``tep.reactor``
5, 12  condenser cooling-water inlet (step,   ``tep.condenser``
       random)
18     condenser heat transfer (random)       ``tep.condenser``
6      A feed loss                            ``tep.feed_a``
16     stripper heat transfer (random)        ``tep.stripper``
24     D feed supply pressure (random)        ``tep.feed_d``
=====  =====================================  ===============

Left out: 3, 9 and 15 (no detector sees them), 10, 20, 21-23, 25, 26 and 28 (not detected
within 3 h, or not at all, in trial runs at nominal size), 19 (four valves in three units: no
single entry point).

**Splits.** ``train``, ``heldout_seeds`` (other seeds) and ``heldout_magnitude`` (smaller
disturbances, later onsets) cycle through every disturbance but the held-out ones;
``heldout_target`` holds only IDV 12 and 27, which no training episode has: new disturbances
entering at units the model has seen other disturbances enter.

=====================  ==================  ===========  ==============================
split                  magnitude (scale)   onset (h)    disturbances
=====================  ==================  ===========  ==============================
``train``              0.5 .. 1.0          7 .. 9       all but 12, 27
``heldout_seeds``      0.5 .. 1.0          7 .. 9       all but 12, 27
``heldout_magnitude``  0.25 .. 0.5         9 .. 10      all but 12, 27
``heldout_target``     0.5 .. 1.0          7 .. 9       12, 27
=====================  ==================  ===========  ==============================

Episodes run ``scenarios/tep_clean.yaml`` (scan 18 s, detection after 6 h of warm-up in 3-min
subgroups) with one disturbance; an alarm must come within 3 h of the onset. The evidence
settings are that scenario's ``rootcause.evidence``: 3-min means, 4 h of reference, 5 h of
look-back (so 1 h before the first alarm), diagnosis 1 h after the first alarm, deviation at
6 sigma. They were chosen on clean runs (few tags "deviate" without a fault), not on scores.
"""

from __future__ import annotations

import numpy as np

from plant_models.registry import plant_spec
from plant_models.tennessee_eastman.signals import DISTURBANCES, Disturbance
from twin.harness.rca.sweep import EpisodeSpec, Split, SweepPlant
from twin.harness.scenario import SCENARIO_DIR
from virtual_plc.tagmap import TagMap

IDVS = (1, 2, 4, 5, 6, 7, 8, 11, 12, 13, 14, 16, 17, 18, 24, 27)
HELDOUT_IDVS = (12, 27)
HOUR = 3600.0
BY_IDV: dict[int, Disturbance] = {d.idv: d for d in DISTURBANCES}
# the plant's fault catalogue: a magnitude range per disturbance
CATALOGUE = {(r.kind, r.target): r for r in plant_spec("tennessee_eastman").fault_catalogue()}

SPLITS: dict[str, Split] = {
    "train": Split(0, ((1 / 3, 1.0),), (7 * HOUR, 9 * HOUR), "not_heldout"),
    "heldout_seeds": Split(0, ((1 / 3, 1.0),), (7 * HOUR, 9 * HOUR), "not_heldout"),
    "heldout_magnitude": Split(0, ((0.0, 1 / 3),), (9 * HOUR, 10 * HOUR), "not_heldout"),
    "heldout_target": Split(0, ((1 / 3, 1.0),), (7 * HOUR, 9 * HOUR), "only_heldout"),
}


def disturbances(which: str) -> list[Disturbance]:
    """The disturbances a split draws from: ``all``, ``not_heldout`` or ``only_heldout``."""
    keep = {"all": lambda i: True, "not_heldout": lambda i: i not in HELDOUT_IDVS,
            "only_heldout": lambda i: i in HELDOUT_IDVS}[which]
    return [BY_IDV[i] for i in IDVS if keep(i)]


def draw(rule: Split, rng: np.random.Generator, tagmap: TagMap, index: int) -> tuple[str, str, float, float]:
    """Episode ``index`` takes the next disturbance in turn (so every one gets its share), then a
    random magnitude quantile in the split's range."""
    pool = disturbances(rule.targets)
    dist = pool[index % len(pool)]
    lo_q, hi_q = rule.quantiles[int(rng.integers(len(rule.quantiles)))]
    q = float(rng.uniform(lo_q, hi_q))
    entry = CATALOGUE[("step", dist.name)]
    return "step", dist.name, float(np.round(entry.low + q * (entry.high - entry.low), 6)), q


def fault_kind(spec: EpisodeSpec) -> str:
    """Results are broken down by disturbance id (every TEP fault has kind ``step``)."""
    return spec.target


TEP = SweepPlant(
    name="tennessee_eastman",
    base_scenario=SCENARIO_DIR / "tep_clean.yaml",
    splits=SPLITS,
    evaluations={
        "heldout_seeds": ("heldout_seeds", 0.0),
        "heldout_magnitude_onset": ("heldout_magnitude", 0.0),
        "heldout_disturbances_12_27": ("heldout_target", 0.0),
        "knowledge_drop_20": ("heldout_seeds", 0.2),
    },
    draw=draw,
    fault_kind=fault_kind,
    variant_options=lambda variant: {},
    scan_ms=None,  # the scenario's 18 s
    detect_within_s=3 * HOUR,
    eval_episodes=42,
    description="twin rootcause dataset --plant tennessee_eastman (offline episodes, scan 18 s, IDV "
                + ", ".join(str(i) for i in IDVS if i not in HELDOUT_IDVS) + "; IDV 12 and 27 held out)",
)
