"""Hand-built historians and tiny runs for the asset tests."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from twin.edge.frames import ElementIndex, Frame, Quality
from twin.edge.historian import Historian
from virtual_plc.tagmap import Tag

EPOCH_MS = 1_800_000_000_000  # wall-clock time of plant time 0 in the hand-built files

# one sample of an element: (plant ms, value, quality, wall-clock offset from plant time in ms)
Row = tuple[int, float, Quality, int]


def write_historian(path: Path, tags: Sequence[Tag], rows: Mapping[str, Sequence[Row]]) -> Path:
    """A historian file holding exactly ``rows`` (element -> samples), written through :class:`Historian`."""
    index = ElementIndex(tags)
    by_ts: dict[int, list[tuple[int, float, Quality, int]]] = {}
    for name, samples in rows.items():
        for ts, value, quality, offset in samples:
            by_ts.setdefault(ts, []).append((index.position[name], value, quality, offset))
    with Historian(path, index) as historian:
        for ts in sorted(by_ts):
            values, quality = np.full(len(index), np.nan), np.full(len(index), Quality.MISSING, dtype=np.uint8)
            fresh, source = np.zeros(len(index), dtype=bool), np.full(len(index), -1, dtype=np.int64)
            for position, value, q, offset in by_ts[ts]:
                values[position], quality[position], fresh[position] = value, q, True
                source[position] = EPOCH_MS + ts + offset
            historian.append(Frame(ts, index, values, quality, fresh, wall_ms=EPOCH_MS + ts, source_ms=source))
    return path


def regular(period_ms: int, end_ms: int, values: Sequence[float] | np.ndarray, *, quality: Quality = Quality.GOOD,
            start_ms: int = 0, offset_ms: int = 0) -> list[Row]:
    """Samples every ``period_ms`` from ``start_ms`` to ``end_ms`` with these values (cycled)."""
    times = range(start_ms, end_ms, period_ms)
    return [(t, float(values[i % len(values)]), quality, offset_ms) for i, t in enumerate(times)]


SCENARIO = """\
name: {name}
plant: coater
seed: 5
duration_s: 20
faults: [{faults}]
control:
  policy: "off"
"""
# three sensors fail from 8 s of a 20 s run: two drop out, one sticks (three of 16 steps: 81 % healthy)
DATA_PROBLEMS = ("{kind: sensor_dropout, target: coater.coolant.flow, start_s: 8}, "
                 "{kind: sensor_stuck, target: coater.blade3.pressure, start_s: 8}, "
                 "{kind: sensor_dropout, target: coater.oven.zone1.temperature, start_s: 8}")


def tiny_run(folder: Path, name: str, faults: str = "") -> Path:
    """A 20 s offline coater run into ``folder/name`` (with ``faults``, YAML flow items), through the harness."""
    from twin.harness.episode import EpisodeConfig, run_episode
    from twin.harness.scenario import load_scenario

    scenario_file = folder / f"{name}.yaml"
    scenario_file.write_text(SCENARIO.format(name=name, faults=faults))
    scenario = load_scenario(scenario_file)
    out = folder / name
    asyncio.run(run_episode(scenario, EpisodeConfig(out_dir=out, mode="offline", seed=scenario.seed)))
    return out
