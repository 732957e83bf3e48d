"""Which implementation of each plug-in point a run uses: the ``plugins`` section of a scenario.

>>> PluginChoices.model_validate({"detector": "byo_detector:ZScoreDetector"}).detector.use
'byo_detector:ZScoreDetector'
>>> PluginChoices().detector.use, PluginChoices().diagnoser.use, PluginChoices().control_policy.use
('spc', 'graph', 'playbook')
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_TIMEOUT_S = 10.0


class PluginChoice(BaseModel):
    """One plug-in: a registered name (entry point) or ``module:attr``, its options, its time budget.

    A bare string is short for ``{use: <string>}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    use: str = Field(min_length=1, description="registered name, e.g. 'spc', or 'package.module:attr'")
    options: dict[str, Any] = Field(default_factory=dict, description="handed to the plug-in's factory")
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, description="wall seconds one call may take")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"use": value} if isinstance(value, str) else value


class PluginChoices(BaseModel):
    """The detector, diagnoser and control policy of a run; ours by default."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    detector: PluginChoice = PluginChoice(use="spc")
    diagnoser: PluginChoice = PluginChoice(use="graph")
    control_policy: PluginChoice = PluginChoice(use="playbook")

    def with_names(self, detector: str | None = None, diagnoser: str | None = None,
                   control_policy: str | None = None) -> PluginChoices:
        """These choices with some implementations swapped by name (a CLI flag), options dropped for those."""
        update = {key: PluginChoice(use=name) for key, name in
                  (("detector", detector), ("diagnoser", diagnoser), ("control_policy", control_policy)) if name}
        return self.model_copy(update=update)
