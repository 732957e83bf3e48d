"""Safety interlocks: the one set of checks every command passes, in the loop and again at the bridge.

A command to write ``value`` to ``tag`` is refused, with a :class:`Refusal` naming the rule,
when any of these hold (checked in this order):

* ``unknown_tag`` / ``not_writable`` — not in the tag map, or read-only;
* ``not_finite`` — NaN or infinite;
* ``quality`` — the target tag's current quality is not good (its value cannot be trusted,
  so no step from it can be judged);
* ``out_of_range`` — outside the tag map's engineering range;
* ``out_of_bounds`` — outside the bounds the command itself carries;
* ``max_step`` — further than ``max_step`` from the current value;
* ``rate`` — faster than ``max_rate_per_s`` from the last move on that tag;
* ``cooldown`` — sooner than ``cooldown_s`` after the last move on that tag;
* ``budget`` — the episode's ``move_budget`` is used up.

A rollback (undoing a correction that made things worse) is exempt from the budget only (it
gives a move back), never from the rest, the cool-down included; the bridge grants even that
only to a rollback it has checked against its own journal (it names an applied command of the
same tag and restores that command's previous value). State (last move per tag, moves used)
lives in one :class:`Interlocks` object; the loop and the bridge each keep their own, so each
enforces the rules on what it sees.

>>> from virtual_plc.tagmap import Tag, TagMap
>>> tm = TagMap(plant="p", opcua_namespace="urn:p", clock_tag="p.plc.clock_ms", tags=[
...     Tag(name="p.plc.clock_ms", dtype="uint64", low=0, high=2**53, period_ms=10, table="input"),
...     Tag(name="p.valve.command", access="rw", low=0, high=100, period_ms=10)])
>>> locks = Interlocks(InterlockSettings(defaults=TagLimits(max_step=10, cooldown_s=30)), tm)
>>> locks.check("p.valve.command", 65.0, current=60.0, quality=Quality.GOOD, t_ms=0) is None
True
>>> locks.commit("p.valve.command", 65.0, t_ms=0)
>>> locks.check("p.valve.command", 70.0, current=65.0, quality=Quality.GOOD, t_ms=5_000).code
'cooldown'
>>> locks.check("p.valve.command", 120.0, current=65.0, quality=Quality.GOOD, t_ms=60_000).code
'out_of_range'
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from twin.edge.frames import Quality
from virtual_plc.tagmap import TagMap

# a step or rate exactly at its limit, computed from a float32 reading, may land a hair above it
ROUNDING = 1e-9

REFUSAL_CODES = ("unknown_tag", "not_writable", "not_finite", "quality", "out_of_range", "out_of_bounds",
                 "max_step", "rate", "cooldown", "budget")


class TagLimits(BaseModel):
    """Limits for one tag (or the defaults); unset fields fall back to the defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    max_step: float | None = Field(default=None, gt=0, description="largest move per command, engineering units")
    max_rate_per_s: float | None = Field(default=None, gt=0, description="largest move per second between moves")
    cooldown_s: float = Field(default=0.0, ge=0, description="quiet time between two moves of one tag")


class InterlockSettings(BaseModel):
    """Interlock settings of one plant: defaults, per-tag overrides (shell patterns) and the move budget."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    defaults: TagLimits = TagLimits()
    tags: dict[str, TagLimits] = Field(default_factory=dict, description="pattern → limits; first match wins")
    move_budget: int = Field(default=10, ge=0, description="moves allowed per episode (verified rollbacks not counted)")


@dataclass(frozen=True)
class Refusal:
    """Why a command may not be sent: ``code`` (one of :data:`REFUSAL_CODES`) and a message naming the numbers."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class Interlocks:
    """Checks commands against the tag map and the settings; remembers the moves it allowed."""

    def __init__(self, settings: InterlockSettings, tagmap: TagMap) -> None:
        self.settings = settings
        self.tags = {t.name: t for t in tagmap.tags}
        self.moves_used = 0
        self._last: dict[str, tuple[int, float]] = {}

    def limits(self, tag: str) -> TagLimits:
        """The effective limits of ``tag``: the first matching override over the defaults."""
        for pattern, override in self.settings.tags.items():
            if fnmatch.fnmatchcase(tag, pattern):
                merged = self.settings.defaults.model_dump()
                merged.update(override.model_dump(include=override.model_fields_set))
                return TagLimits(**merged)
        return self.settings.defaults

    @property
    def moves_left(self) -> int:
        """Moves still allowed this episode."""
        return max(self.settings.move_budget - self.moves_used, 0)

    def check(
        self,
        tag: str,
        value: float,
        *,
        current: float,
        quality: Quality,
        t_ms: int,
        bounds: tuple[float, float] | None = None,
        rollback: bool = False,
    ) -> Refusal | None:
        """The first rule a write of ``value`` to ``tag`` at plant time ``t_ms`` breaks, or None.

        ``rollback`` spares the move budget only: pass it for a rollback whose target was checked."""
        spec = self.tags.get(tag)
        if spec is None:
            return Refusal("unknown_tag", f"{tag} is not in the tag map")
        if spec.access != "rw":
            return Refusal("not_writable", f"{tag} is read-only")
        if not math.isfinite(value):
            return Refusal("not_finite", f"value {value} for {tag} is not a finite number")
        if quality != Quality.GOOD or not math.isfinite(current):
            return Refusal("quality", f"{tag} quality is {Quality(quality).name.lower()} (value {current})")
        if not spec.in_range(value):
            return Refusal("out_of_range", f"{value:g} is outside {tag}'s range [{spec.low:g}, {spec.high:g}]")
        if bounds is not None and not bounds[0] <= value <= bounds[1]:
            return Refusal("out_of_bounds", f"{value:g} is outside the command's bounds [{bounds[0]:g}, {bounds[1]:g}]")
        return self._check_motion(tag, value, current, t_ms, rollback)

    def _check_motion(self, tag: str, value: float, current: float, t_ms: int, rollback: bool) -> Refusal | None:
        limits = self.limits(tag)
        step = abs(value - current)
        if limits.max_step is not None and step > limits.max_step * (1 + ROUNDING):
            return Refusal("max_step", f"step {step:g} on {tag} exceeds max_step {limits.max_step:g}")
        last = self._last.get(tag)
        if last is not None:
            last_t, last_value = last
            dt_s = (t_ms - last_t) / 1000
            moved = abs(value - last_value)
            if limits.max_rate_per_s is not None and moved > 0 and (
                dt_s <= 0 or moved / dt_s > limits.max_rate_per_s * (1 + ROUNDING)
            ):
                rate = math.inf if dt_s <= 0 else moved / dt_s
                return Refusal("rate", f"{tag} would move {rate:g}/s, above max_rate_per_s {limits.max_rate_per_s:g}")
            if dt_s < limits.cooldown_s:
                return Refusal("cooldown", f"{tag} moved {dt_s:g} s ago; cool-down is {limits.cooldown_s:g} s")
        if not rollback and self.moves_used >= self.settings.move_budget:
            return Refusal("budget", f"the episode's move budget of {self.settings.move_budget} is used up")
        return None

    def cooldown_ends(self, tag: str) -> int | None:
        """Plant time (ms) the cool-down after ``tag``'s last move ends (None when it has not moved)."""
        last = self._last.get(tag)
        return None if last is None else last[0] + int(math.ceil(self.limits(tag).cooldown_s * 1000))

    def commit(self, tag: str, value: float, t_ms: int, rollback: bool = False) -> None:
        """Record an allowed move (call once it is sent or written); a rollback uses no budget."""
        self._last[tag] = (t_ms, value)
        if not rollback:
            self.moves_used += 1
