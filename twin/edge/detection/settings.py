"""Detection settings: the ``detection`` section of a scenario file.

.. code-block:: yaml

    detection:
      warmup_s: 120          # learn each signal's centre and sigma from this in-control window
      subgroup_s: 1.0        # detectors judge means of this much data (rational subgroups)
      exclude: ["*.plc.*"]   # never monitored (setpoints are never monitored either)
      monitor:               # every rule that matches a tag watches it; name labels its alarms
        - name: level        # the level far from where warm-up left it (catches slow drifts)
          tags: ["*"]
          detector: shewhart
          rules: [1]
          L: 12
          prewhiten: false
        - name: change       # a fast change: CUSUM on one-step forecast errors
          tags: ["*"]
          exclude: ["coater.xray.wrinkles_per_m"]   # a 60 s moving count: steppy
          detector: cusum
          k: 1.0
          h: 12
        - tags: ["coater.xray.thickness_mean"]   # a dynamic band: follows humidity and speed
          detector: shewhart
          context: ["coater.ambient.humidity", "coater.line.speed"]
      alarms: {off_delay_s: 10, chatter_count: 3, chatter_window_s: 60}
      threshold_rules:
        - name: humid_days
          when: {tag: coater.ambient.humidity, above: 85, for_s: 259200}
          tags: ["coater.xray.*"]
          action: tighten
          percent: 30

Detectors see subgroup means, not raw scans: a 10 ms signal gives a hundred autocorrelated
readings a second, and judging each of them would turn any ARL into seconds of false alarms.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from twin.edge.detection.alarms import AlarmSettings
from twin.edge.detection.thresholds import ThresholdRule

DetectorKind = Literal["shewhart", "ewma", "cusum", "off"]


class MonitorRule(BaseModel):
    """Which detector watches which tags, with its parameters (in units of the signal's sigma)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str | None = Field(default=None, description="label of this detector in alarms; default: its kind")
    tags: list[str] = Field(min_length=1, description="shell patterns over tag names")
    exclude: list[str] = Field(default_factory=list, description="patterns this rule skips")
    detector: DetectorKind = "cusum"
    rules: list[int] = Field(default_factory=lambda: [1], description="Shewhart run rules")
    rule_set: Literal["western-electric", "nelson"] = "western-electric"
    L: float = Field(default=3.0, gt=0, description="limit width for Shewhart and EWMA, in sigmas")
    lam: float = Field(default=0.1, gt=0, le=1, description="EWMA smoothing")
    k: float = Field(default=0.5, ge=0, description="CUSUM reference value, in sigmas")
    h: float = Field(default=16.0, gt=0, description="CUSUM decision interval, in sigmas")
    prewhiten: bool | None = Field(default=None, description="override the section's prewhiten for these tags")
    context: list[str] = Field(
        default_factory=list,
        description="context tags (elements) the band follows: the detector judges the residual of a "
        "linear model on them (a dynamic threshold); empty: a static band",
    )

    @model_validator(mode="after")
    def _rules_exist(self) -> MonitorRule:
        allowed = range(1, 5) if self.rule_set == "western-electric" else range(1, 9)
        bad = [r for r in self.rules if r not in allowed]
        if bad:
            raise ValueError(
                f"rules {bad} do not exist in the {self.rule_set} set ({allowed.start}..{allowed.stop - 1})"
            )
        return self

    def matches(self, tag: str) -> bool:
        """True when ``tag`` matches one of the patterns and none of the exclusions."""
        return any(fnmatch.fnmatchcase(tag, p) for p in self.tags) and not any(
            fnmatch.fnmatchcase(tag, p) for p in self.exclude
        )

    @property
    def label(self) -> str:
        """How alarms name this detector."""
        return self.name or self.detector


class DetectionSettings(BaseModel):
    """The whole ``detection`` section."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    enabled: bool = True
    baseline: str | None = Field(
        default=None, description="baseline file (twin detect learn; relative to this file): what in control looks "
                                  "like, learned once; none: each run learns it from its own first warmup_s")
    warmup_s: float = Field(default=120.0, gt=0)
    subgroup_s: float = Field(default=1.0, gt=0)
    exclude: list[str] = Field(default_factory=lambda: ["*.plc.*"])
    monitor: list[MonitorRule] = Field(default_factory=lambda: [
        MonitorRule(name="level", tags=["*"], detector="shewhart", rules=[1], L=12.0, prewhiten=False),
        MonitorRule(name="change", tags=["*"], detector="cusum", k=1.0, h=12.0),
    ])
    alarms: AlarmSettings = Field(default_factory=AlarmSettings)
    threshold_rules: list[ThresholdRule] = Field(
        default_factory=list, description="declarative band changes, e.g. tighten when humid for days"
    )
    context_forgetting: float = Field(default=0.995, gt=0, le=1, description="online update of context bands")
    prewhiten: bool = Field(
        default=True, description="judge one-step EWMA forecast errors, so a wandering signal is not a shift"
    )
    flatline_subgroups: int = Field(
        default=5, ge=0, description="flat subgroups in a row that make a monitored sensor 'stuck'; 0: off"
    )
    dataloss_subgroups: int = Field(
        default=3, ge=0, description="subgroups in a row with no good sample that make a 'no_good_data' alarm; 0: off"
    )
    noise_h: float = Field(
        default=22.0, ge=0, description="decision interval of the noise check (twin.edge.detection.dispersion): a "
        "CUSUM of the log-likelihood that a sensor's noise grew noise_ratio-fold, in nats; 0: off")
    noise_ratio: float = Field(default=2.0, gt=1, description="the growth of a sensor's step noise the noise "
                                                              "check is tuned to find")

    def rules_for(self, tag: str) -> list[MonitorRule]:
        """Every rule that watches ``tag`` (none if the section excludes it)."""
        if any(fnmatch.fnmatchcase(tag, p) for p in self.exclude):
            return []
        return [r for r in self.monitor if r.detector != "off" and r.matches(tag)]

    def assign(self, tags: Sequence[str]) -> dict[int, list[str]]:
        """Group ``tags`` by the index of each rule that monitors them."""
        groups: dict[int, list[str]] = {}
        for tag in tags:
            for rule in self.rules_for(tag):
                groups.setdefault(self.monitor.index(rule), []).append(tag)
        return groups

    @model_validator(mode="after")
    def _labels_unique(self) -> DetectionSettings:
        labels = [r.label for r in self.monitor if r.detector != "off"]
        dupes = sorted({lab for lab in labels if labels.count(lab) > 1})
        if dupes:
            raise ValueError(f"monitor rules need distinct names; give 'name' to the rules labelled {dupes}")
        return self
