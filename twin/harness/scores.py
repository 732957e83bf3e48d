"""Score a run against the injected truth: delays, diagnosis accuracy, quality outcome (``report.json`` ``scores``).

This reads the truth (the faults the plant recorded), so it is not edge code: it runs after the
episode, on what the edge produced (alarms, diagnoses, commands) and on the historian.

* Delays are plant seconds from the **first** fault's onset to the first alarm, diagnosis,
  applied correction and verified correction at or after it (None when it never happened).
* ``top1_correct`` / ``top3_correct``: the first diagnosis after the onset names the fault's
  ``answer`` (:func:`expected_answer`; the ``target`` when a record has none) among its first
  one / three candidates: the asset where a process fault enters the plant (``tep.reactor`` for
  IDV 4) and the measured tag for a sensor fault (the candidate then has kind ``sensor``).
* ``quality``: the plant's first quality characteristic (its spec's ``quality_characteristics``), its mean before the
  onset and over the last 10 % of the run.

>>> faults = [{"kind": "valve_coil_ageing", "target": "coater.coolant.valve", "onset_s": 120.0}]
>>> diagnoses = [{"t_ms": 154_000, "candidates": [{"asset": "coater.coolant", "kind": "process"},
...                                               {"asset": "coater.coolant.valve", "kind": "process"}]}]
>>> diagnosis_hits(faults, diagnoses)
(False, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from plant_models.base import FaultSpec, PlantModel
from plant_models.registry import SPECS
from twin.contracts import QualityOutcome, Scores
from twin.edge.historian import HistorianReader

FINAL_SHARE = 0.10
Record = Mapping[str, Any]


def first_onset_ms(faults: Sequence[Record]) -> int | None:
    """The earliest fault onset in plant ms (None for a clean run)."""
    onsets = [float(f["onset_s"]) for f in faults if f.get("onset_s") is not None]
    return int(round(min(onsets) * 1000)) if onsets else None


def _delay(onset_ms: int | None, times_ms: Sequence[int | None]) -> float | None:
    """Seconds from ``onset_ms`` to the earliest of ``times_ms`` at or after it."""
    if onset_ms is None:
        return None
    after = [t for t in times_ms if t is not None and t >= onset_ms]
    return round((min(after) - onset_ms) / 1000, 3) if after else None


def diagnosis_hits(faults: Sequence[Record], diagnoses: Sequence[Record]) -> tuple[bool | None, bool | None]:
    """(top-1, top-3) correctness of the first diagnosis after the first onset; None when there is none."""
    onset = first_onset_ms(faults)
    if onset is None:
        return None, None
    fault = min(faults, key=lambda f: float(f["onset_s"]))
    kind = "sensor" if str(fault["kind"]).startswith("sensor_") else "process"
    first = next((d for d in diagnoses if int(d["t_ms"]) >= onset), None)
    if first is None:
        return None, None
    answer = fault.get("answer", fault["target"])
    hit = [c["asset"] == answer and c.get("kind", "process") == kind for c in first["candidates"]]
    return any(hit[:1]), any(hit[:3])


def expected_answer(plant: PlantModel, fault: FaultSpec, graph: Any = None) -> str:
    """The candidate a perfect diagnosis names: the measured tag for a sensor fault; for a process
    fault the asset of the node where the plant's declared causal structure says it enters
    (``cause_node``; ``graph`` is the plant's causal graph, built here when not given)."""
    cause_node = getattr(plant, "cause_node", None)
    if fault.kind.startswith("sensor_") or cause_node is None:
        return fault.target
    graph = plant.causal_graph() if graph is None else graph
    return str(graph.nodes[cause_node(fault)].get("asset", fault.target))


def with_answers(plant: PlantModel, faults: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The truth records of a run, each with its ``answer`` (:func:`expected_answer`)."""
    graph = plant.causal_graph()
    out = []
    for record in faults:
        spec = FaultSpec(kind=record["kind"], target=record["target"], start_s=float(record["onset_s"]),
                         magnitude=float(record.get("magnitude") or 0.0))
        out.append({**record, "answer": expected_answer(plant, spec, graph)})
    return out


def quality_metric(plant: str, options: Mapping[str, Any] | None = None) -> str | None:
    """The tag a run's quality is scored on: the plant's first quality characteristic (None: it declares none).

    >>> quality_metric("coater")
    'coater.xray.wrinkles_per_m'
    """
    spec = SPECS.get(plant)
    characteristics = spec.quality_characteristics(dict(options or {})) if spec is not None else ()
    return characteristics[0].tag if characteristics else None


def quality_outcome(plant: str, historian: str | Path, onset_ms: int | None, end_ms: int,
                    options: Mapping[str, Any] | None = None) -> QualityOutcome:
    """The plant's quality metric before the onset (whole run if clean) and over the last 10 % of the run."""
    metric = quality_metric(plant, options)
    if metric is None or end_ms <= 0:
        return QualityOutcome(metric=metric, pre_fault=None, final=None)
    with HistorianReader(historian) as reader:
        if metric not in reader.tags():
            return QualityOutcome(metric=metric, pre_fault=None, final=None)
        pre_end = onset_ms if onset_ms is not None else end_ms
        final_start = end_ms - int(end_ms * FINAL_SHARE)
        return QualityOutcome(metric=metric, pre_fault=_mean(reader, metric, 0, pre_end),
                              final=_mean(reader, metric, final_start, end_ms + 1))


def _mean(reader: HistorianReader, tag: str, start_ms: int, end_ms: int) -> float | None:
    """Mean of the good samples of ``tag`` with ``start_ms <= ts < end_ms``."""
    table = reader.window(start_ms, end_ms, [tag])
    values = [v for v, q in zip(table.column("value").to_pylist(), table.column("quality").to_pylist())
              if q == "good" and v is not None and math.isfinite(v)]
    return round(sum(values) / len(values), 6) if values else None


def score_run(
    plant: str,
    faults: Sequence[Record],
    alarms: Sequence[Record],
    diagnoses: Sequence[Record],
    commands: Sequence[Record],
    *,
    historian: str | Path,
    end_ms: int,
    analysis_wall_ms: float,
    plant_options: Mapping[str, Any] | None = None,
) -> Scores:
    """Everything ``report.json`` ``scores`` holds, from the run's records, its historian and the truth."""
    onset = first_onset_ms(faults)
    corrections = [c for c in commands if c.get("kind") == "correction"]
    verified = [(c.get("verification") or {}) for c in corrections]
    top1, top3 = diagnosis_hits(faults, diagnoses)
    return Scores(
        detection_delay_s=_delay(onset, [int(a["t_ms"]) for a in alarms]),
        diagnosis_delay_s=_delay(onset, [int(d["t_ms"]) for d in diagnoses]),
        command_delay_s=_delay(onset, [c.get("applied_t_ms") for c in corrections if c.get("status") == "applied"]),
        verified_delay_s=_delay(onset, [v.get("verified_t_ms") for v in verified if v.get("outcome") == "worked"]),
        analysis_wall_ms_per_alarm=round(analysis_wall_ms / len(alarms), 3) if alarms else None,
        top1_correct=top1,
        top3_correct=top3,
        quality=quality_outcome(plant, historian, onset, end_ms, plant_options),
    )
