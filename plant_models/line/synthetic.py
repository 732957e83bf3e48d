"""Synthetic line templates of any size, for benchmarks and tests of the engine at scale.

:func:`synthetic_template` builds a template of about ``signals`` signals from repeated units
with the motifs of a real line: a shared coolant utility feeding every unit, in each unit a
servo loop following a setpoint, lagged measurements, a dead time, nonlinear couplings
(hinge, saturation, product), an internal value, material flow from the previous unit, and a
quality characteristic at the end. Seeded: the same seed gives the same template.

>>> template = synthetic_template(100, seed=1)
>>> sum(len(asset.signals) for asset in template.assets.values())
102
"""

from __future__ import annotations

from typing import Any

import numpy as np

from plant_models.line.template import LineTemplate

UNIT_SIGNALS = 10  # signals per unit (the utility adds two)


def _unit(k: int, rng: np.random.Generator, fast_ms: int, slow_ms: int) -> dict[str, Any]:
    """One unit: ten signals reading the shared utility and the previous unit's output."""
    g = lambda low, high: round(float(rng.uniform(low, high)), 3)  # noqa: E731
    upstream = f"unit{k - 1}.out" if k > 0 else "coolant.flow"
    return {
        "kind": "unit",
        "conditions": {"wear": {"initial": 0, "range": [0, 100], "fault_range": [0, 50]}},
        "signals": {
            "sp": {"kind": "setpoint", "range": [0, 100], "nominal": 50},
            "drive": {"range": [0, 200], "nominal": 50, "noise": 0.05, "period_ms": fast_ms, "lag_s": g(0.2, 1),
                      "servo": {"setpoint": "sp", "kp": 0.5, "ki": 2.0, "gain": 1.0, "output_range": [0, 100]},
                      "inputs": [{"from": "wear", "gain": -g(0.1, 0.4)}]},
            "temp": {"range": [0, 200], "nominal": 40, "noise": 0.05, "period_ms": slow_ms, "lag_s": g(5, 30),
                     "inputs": [{"from": "coolant.temperature", "gain": g(0.5, 1)},
                                {"from": "drive", "form": "hinge", "threshold": 55, "gain": g(0.5, 2)}]},
            "pressure": {"range": [0, 100], "nominal": 20, "noise": 0.05, "period_ms": fast_ms,
                         "inputs": [{"from": "drive", "gain": g(0.1, 0.3)},
                                    {"from": "temp", "form": "saturation", "low": 30, "high": 60, "gain": -0.1}]},
            "load": {"kind": "internal", "range": [-1e4, 1e4], "nominal": 10,
                     "inputs": [{"from": ["pressure", "coolant.flow"], "form": "product", "gain": 0.01}]},
            "flow_in": {"range": [0, 200], "nominal": 30, "noise": 0.1, "period_ms": fast_ms, "dead_time_s": 1,
                        "inputs": [{"from": upstream, "gain": g(0.2, 0.6)}]},
            "speed": {"range": [0, 200], "nominal": 60, "noise": 0.05, "period_ms": fast_ms,
                      "inputs": [{"from": "load", "gain": -g(0.01, 0.1)}]},
            "vibration": {"range": [0, 50], "nominal": 2, "noise": 0.02, "period_ms": slow_ms, "lag_s": 2,
                          "inputs": [{"from": "wear", "form": "hinge", "threshold": 20, "gain": g(0.02, 0.1)}]},
            "out": {"range": [0, 500], "nominal": 100, "noise": 0.2, "period_ms": slow_ms, "lag_s": g(1, 5),
                    "inputs": [{"from": "flow_in", "gain": g(0.5, 1.5)}, {"from": "speed", "gain": g(0.2, 1)}]},
            "quality": {"kind": "quality", "range": [0, 100], "nominal": 50, "noise": 0.1, "period_ms": slow_ms,
                        "spec": [40, 60],
                        "inputs": [{"from": "pressure", "gain": g(0.2, 0.8)}, {"from": "temp", "gain": -g(0.1, 0.3)}]},
        },
    }


def synthetic_template(signals: int, seed: int = 0, tick_ms: int = 100, fast_ms: int | None = None,
                       slow_ms: int = 1000) -> LineTemplate:
    """A line of about ``signals`` signals (rounded to whole units of ten, two for the utility).

    ``fast_ms`` is the period of the fast tags (default: the tick), ``slow_ms`` the slow ones'.
    """
    rng = np.random.default_rng(seed)
    fast_ms = fast_ms or tick_ms
    units = max(1, round((signals - 2) / UNIT_SIGNALS))
    assets: dict[str, Any] = {"coolant": {
        "kind": "utility",
        "conditions": {"fouling": {"initial": 0, "range": [0, 100]}},
        "signals": {
            "flow": {"range": [0, 100], "nominal": 30, "noise": 0.1, "period_ms": fast_ms, "lag_s": 1,
                     "inputs": [{"from": "fouling", "gain": -0.2}]},
            "temperature": {"range": [0, 60], "nominal": 18, "noise": 0.05, "period_ms": slow_ms, "lag_s": 20,
                            "inputs": [{"from": "flow", "form": "hinge", "threshold": 25, "below": True,
                                        "gain": 0.5}]},
        }}}
    assets.update({f"unit{k}": _unit(k, rng, fast_ms, slow_ms) for k in range(units)})
    return LineTemplate.model_validate({
        "line": "synthetic", "description": f"synthetic line of {units} units (seed {seed})",
        "tick_ms": tick_ms, "period_ms": slow_ms, "assets": assets})
