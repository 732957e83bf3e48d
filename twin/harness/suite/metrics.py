"""Per-episode figures a gate can name, read from a ``report.json`` (plant or supply run).

>>> report = {"faults": [{"onset_s": 100.0}], "alarms": [{"t_ms": 50_000}, {"t_ms": 130_000}],
...           "durations": {"plant_s": 3600.0}, "commands": [],
...           "scores": {"detection_delay_s": 30.0, "diagnosis_delay_s": None, "top1_correct": None,
...                      "top3_correct": None, "quality": {"final": 0.2}}}
>>> m = episode_metrics(report)
>>> m["detection_delay_s"], m["diagnosis_delay_s"], m["top1_accuracy"], m["false_alarms_per_hour"]
(30.0, inf, 0.0, 36.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from twin.harness.scores import first_onset_ms

DELAYS = ("detection_delay_s", "diagnosis_delay_s", "command_delay_s", "verified_delay_s")


def episode_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """Every gateable figure of one run; a figure that does not apply (a delay in a clean run) is absent."""
    if report.get("kind") == "supply":
        return _numbers(report.get("scores") or {})
    scores = report.get("scores") or {}
    faults = report.get("faults") or []
    onset_ms = first_onset_ms(faults)
    plant_s = float((report.get("durations") or {}).get("plant_s") or 0.0)
    alarms = report.get("alarms") or []
    commands = report.get("commands") or []
    out: dict[str, float] = {
        "alarms": float(len(alarms)),
        "commands_applied": float(sum(1 for c in commands if c.get("status") == "applied")),
        "commands_refused": float(sum(1 for c in commands if c.get("status") == "refused")),
    }
    quiet_s = (onset_ms / 1000 if onset_ms is not None else plant_s)
    if quiet_s > 0:
        false = [a for a in alarms if onset_ms is None or a["t_ms"] < onset_ms]
        out["false_alarms_per_hour"] = len(false) / (quiet_s / 3600)
    if onset_ms is not None:
        for key in DELAYS:
            value = scores.get(key)
            out[key] = math.inf if value is None else float(value)
        out["top1_accuracy"] = 1.0 if scores.get("top1_correct") else 0.0
        out["top3_accuracy"] = 1.0 if scores.get("top3_correct") else 0.0
    sentinel = scores.get("sentinel") or {}
    for key in ("recall", "false_per_1000"):
        if isinstance(sentinel.get(key), (int, float)):
            out[f"sentinel_{key}"] = float(sentinel[key])
    final = (scores.get("quality") or {}).get("final")
    if isinstance(final, (int, float)):
        out["quality_final"] = float(final)
    return out


def _numbers(scores: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a supply run's scores, dotted below the top level (``inspection_effort.reduction``);
    a top-level figure with a ``total`` or ``adaptive`` part is also named by itself (``escapes``)."""
    out: dict[str, float] = {}
    for key, value in scores.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            out[name] = float(value)
        elif isinstance(value, (int, float)):
            out[name] = float(value)
        elif isinstance(value, Mapping):
            out.update(_numbers(value, f"{name}_"))
            for part in ("total", "adaptive"):
                if not prefix and isinstance(value.get(part), (int, float)) and name not in out:
                    out[name] = float(value[part])
    return out
