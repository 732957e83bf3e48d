"""Dynamic thresholds: the reasonable tolerance band *under current conditions*.

Two mechanisms, both feeding the same detectors:

**Context bands** (data-driven). A signal that legitimately moves with its context — coating
thickness with ambient humidity through slurry viscosity, say — forces a static band wide
enough to hold every condition, and a real shift hides inside it. A :class:`ContextModel`
learns, per monitored element, a linear model on context signals from the in-control
warm-up,

.. math::

    y_t \\approx \\beta_0 + \\beta^\\top c_t, \\qquad r_t = y_t - \\hat y_t,

and the detector judges the residual :math:`r_t` against the residual sigma. The model keeps
learning online (recursive least squares with forgetting) on subgroups that raised no signal,
so slow seasonal change does not turn into alarms, while a sudden shift does.

**Threshold rules** (declarative, in the scenario). E.g. "when ambient humidity has been above
85 % for 3 days, tighten the bands of these tags by 30 %". A rule's factor scales the deviation
the detector sees (tightening by 30 % divides deviations by 0.7), which tightens any detector
kind alike. Every firing and release is recorded with its reason.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class ContextModel:
    """Per-element linear models on shared context signals, fitted then updated online.

    Shapes: ``Y`` is (n_subgroups, n_elements), ``C`` is (n_subgroups, n_context).
    """

    def __init__(self, forgetting: float = 0.995, ridge: float = 1e-6) -> None:
        if not 0 < forgetting <= 1:
            raise ValueError(f"forgetting must be in (0, 1], got {forgetting}")
        self.forgetting = forgetting
        self.ridge = ridge
        self.beta: np.ndarray | None = None  # (n_context + 1, n_elements)
        self.P: np.ndarray | None = None  # shared inverse design matrix (RLS)
        self.residual_sigma: np.ndarray | None = None
        self.c_mean: np.ndarray | None = None
        self.c_scale: np.ndarray | None = None

    def fit(self, Y: np.ndarray, C: np.ndarray) -> np.ndarray:
        """Least squares on the warm-up rows where every context value is known; returns residual sigma."""
        rows = np.all(np.isfinite(C), axis=1)
        if rows.sum() < C.shape[1] + 3:
            raise ValueError(f"need at least {C.shape[1] + 3} warm-up subgroups with context, got {int(rows.sum())}")
        C, Y = C[rows], Y[rows]
        self.c_mean = C.mean(axis=0)
        self.c_scale = np.where(C.std(axis=0) > 0, C.std(axis=0), 1.0)
        X = self._design(C)
        XtX = X.T @ X + self.ridge * np.eye(X.shape[1])
        self.P = np.linalg.inv(XtX)
        Yf = np.where(np.isfinite(Y), Y, np.nanmean(Y, axis=0))
        self.beta = self.P @ X.T @ Yf
        residuals = Y - X @ self.beta
        dof = max(len(Y) - X.shape[1], 1)
        self.residual_sigma = np.sqrt(np.nansum(residuals**2, axis=0) / dof)
        return self.residual_sigma

    def predict(self, c: np.ndarray) -> np.ndarray:
        """Expected value of every element under context ``c`` (NaN if any context is unknown)."""
        if self.beta is None:
            raise RuntimeError("fit the context model before predicting")
        if not np.all(np.isfinite(c)):
            return np.full(self.beta.shape[1], np.nan)
        return (self._design(c[None, :]) @ self.beta)[0]

    def update(self, y: np.ndarray, c: np.ndarray, mask: np.ndarray) -> None:
        """One RLS step for the elements in ``mask`` (those in control with a value)."""
        if self.beta is None or self.P is None or not np.all(np.isfinite(c)) or not mask.any():
            return
        x = self._design(c[None, :])[0]
        Px = self.P @ x
        gain = Px / (self.forgetting + x @ Px)
        error = y - x @ self.beta
        self.beta[:, mask] += np.outer(gain, error[mask])
        self.P = (self.P - np.outer(gain, Px)) / self.forgetting

    def _design(self, C: np.ndarray) -> np.ndarray:
        assert self.c_mean is not None and self.c_scale is not None
        return np.hstack([np.ones((len(C), 1)), (C - self.c_mean) / self.c_scale])


class RuleCondition(BaseModel):
    """``tag`` above or below a value, continuously for ``for_s`` seconds."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    tag: str
    above: float | None = None
    below: float | None = None
    for_s: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _one_bound(self) -> RuleCondition:
        if (self.above is None) == (self.below is None):
            raise ValueError("a condition needs exactly one of 'above' or 'below'")
        return self

    def holds(self, value: float) -> bool:
        """True when ``value`` satisfies the bound."""
        return value > self.above if self.above is not None else value < self.below  # type: ignore[operator]


class ThresholdRule(BaseModel):
    """When ``when`` has held long enough, scale the bands of ``tags`` (tighten or widen)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str
    when: RuleCondition
    tags: list[str] = Field(min_length=1, description="shell patterns over tag names")
    action: Literal["tighten", "widen"] = "tighten"
    percent: float = Field(gt=0, lt=100)

    @property
    def factor(self) -> float:
        """Band width multiplier while the rule is active."""
        return 1 - self.percent / 100 if self.action == "tighten" else 1 + self.percent / 100


@dataclass
class RuleEngine:
    """Evaluates threshold rules on subgroup means and keeps a band factor per element."""

    rules: list[ThresholdRule]
    names: list[str]
    firings: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._since: dict[str, int | None] = {r.name: None for r in self.rules}
        self._active: dict[str, bool] = {r.name: False for r in self.rules}
        tags = [n.split("[", 1)[0] for n in self.names]
        self._targets = {
            r.name: np.array([any(fnmatch.fnmatchcase(t, p) for p in r.tags) for t in tags]) for r in self.rules
        }
        self._position = {n: i for i, n in enumerate(self.names)}
        for rule in self.rules:
            if rule.when.tag not in self._position:
                raise ValueError(f"threshold rule {rule.name!r}: no collected tag named {rule.when.tag!r}")

    def step(self, t_ms: int, means: np.ndarray) -> np.ndarray:
        """Advance every rule to ``t_ms`` and return the band factor per element."""
        factor = np.ones(len(self.names))
        for rule in self.rules:
            value = float(means[self._position[rule.when.tag]])
            holding = value == value and rule.when.holds(value)
            since = self._since[rule.name]
            if not holding:
                since = None
            elif since is None:
                since = t_ms
            self._since[rule.name] = since
            active = since is not None and t_ms - since >= rule.when.for_s * 1000
            if active != self._active[rule.name]:
                self._active[rule.name] = active
                bound = f"above {rule.when.above:g}" if rule.when.above is not None else f"below {rule.when.below:g}"
                self.firings.append({
                    "t_ms": t_ms, "rule": rule.name, "active": active,
                    "reason": (f"{rule.when.tag} {bound} for {rule.when.for_s:g} s: {rule.action} "
                               f"{', '.join(rule.tags)} by {rule.percent:g} %") if active
                    else f"{rule.when.tag} = {value:g} no longer {bound}: bands restored",
                })
            if active:
                factor[self._targets[rule.name]] *= rule.factor
        return factor
