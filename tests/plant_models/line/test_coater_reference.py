"""The hand-written coater is the reference the line engine is checked against: its template twin
(``scenarios/lines/coater_like/line.yaml``) tells the same flagship story under the same fault."""

from __future__ import annotations

import numpy as np
import pytest

from plant_models.base import FaultSpec
from plant_models.coater.model import CoaterLine
from plant_models.line.model import LineModel
from tests.conftest import REPO

TEMPLATE = REPO / "scenarios" / "lines" / "coater_like" / "line.yaml"
TAGS = {  # the story's tags on the coater, on the template
    "current": ("coater.coolant.valve.coil_current", "coater_like.coolant.valve.coil_current"),
    "flow": ("coater.coolant.flow", "coater_like.coolant.flow"),
    "blade1_t": ("coater.blade1.temperature", "coater_like.head.blade1.temperature"),
    "blade3_t": ("coater.blade3.temperature", "coater_like.head.blade3.temperature"),
    "blade1_p": ("coater.blade1.pressure", "coater_like.head.blade1.pressure"),
    "blade3_p": ("coater.blade3.pressure", "coater_like.head.blade3.pressure"),
    "wrinkles": ("coater.xray.wrinkles_per_m", "coater_like.xray.wrinkles_per_m"),
    "profile": ("coater.xray.thickness_profile", "coater_like.xray.thickness_profile"),
}


def story(model: CoaterLine | LineModel, which: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each tag's mean over 60 s before the onset and over the last 60 s of a 600 s run."""
    before: dict[str, list[np.ndarray]] = {k: [] for k in TAGS}
    after: dict[str, list[np.ndarray]] = {k: [] for k in TAGS}
    for t_s in range(1, 601):
        model.env.run(until=t_s * 1000)
        if 60 <= t_s < 120 or t_s > 540:
            values = model.measurements()
            for key, names in TAGS.items():
                (before if t_s < 120 else after)[key].append(np.asarray(values[names[which]], dtype=float))
    return {k: (np.mean(before[k], axis=0), np.mean(after[k], axis=0)) for k in TAGS}


@pytest.mark.parametrize("seed", [1, 2])
def test_the_template_twin_tells_the_flagship_story_as_the_coater_does(seed: int) -> None:
    coater = CoaterLine(seed)
    coater.inject(FaultSpec("valve_coil_ageing", "coater.coolant.valve", start_s=120, magnitude=6.0, rate=0.02))
    twin = LineModel(TEMPLATE, seed)
    twin.inject(FaultSpec("condition_drift", "coater_like.coolant.valve", start_s=120, magnitude=6.0, rate=0.02))
    for which, model in enumerate((coater, twin)):
        s = story(model, which)
        change = {k: s[k][1] - s[k][0] for k in TAGS}
        assert change["current"] < -0.1  # the aged coil passes less current
        assert change["flow"] < -0.2 * s["flow"][0]  # ... the valve closes: a fifth of the flow or more gone
        assert change["blade3_t"] > 2.0 and change["blade1_t"] > 1.0  # the blades warm
        assert change["blade3_p"] > 3 * change["blade1_p"] and change["blade3_p"] > 0.25  # blade 3 gains most force
        lanes = change["profile"]  # lanes 16..23 sit under blade 3 on both lines
        assert lanes[16:24].mean() < lanes[:8].mean() - 1.0 and lanes[16:24].mean() < -1.0  # they thin most
        assert s["wrinkles"][1] > 5 * max(s["wrinkles"][0], 0.05)  # and the wrinkles come
