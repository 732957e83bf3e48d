"""The playbook: what to do about a diagnosis, per plant, in YAML (a shipped plant has ``playbook.yaml``).

A playbook lists **rules**, tried in order; the first whose ``match`` fits the diagnosis's
top candidate (asset name or shell pattern, and kind ``process`` / ``sensor`` / ``any``)
supplies the response: **actions** on read-write tags, or a maintenance **work_order**.
Tag and signal names may use ``{asset}`` (the candidate's asset) and ``{signal}`` (its
strongest-evidence signal). Each action is one of

* ``step`` — move the tag by ``by`` from its current value;
* ``set`` — write ``value``;
* ``restore`` — move the tag by ``gain * (reference − now)`` of ``signal``, at most
  ``max_move``: bring the signal back to its reference level, taken as the mean over
  ``reference.seconds`` at the ``start`` of the run or just before the alarm (``pre_alarm``);

with an optional ``verify`` block (signal, window, what counts as worked or worse). The
file also carries the plant's interlock settings, the command expiry and the operator's
select-before-operate timeout. Errors name the field and its line (:class:`ConfigError`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qtconfig import ConfigError, line_of, read_yaml, validate_document
from twin.contracts import Candidate
from twin.edge.control.interlocks import InterlockSettings
from virtual_plc.tagmap import TagMap


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Match(_Strict):
    """Which diagnoses a rule answers: the top candidate's asset (shell pattern) and kind."""

    asset: str = Field(min_length=1, description="asset name or shell pattern, e.g. 'coater.blade*'")
    kind: Literal["process", "sensor", "any"] = "process"
    min_score: float | None = Field(default=None, description="ignore candidates scored below this")

    def fits(self, candidate: Candidate) -> bool:
        """True when ``candidate`` is one this rule answers."""
        return (
            fnmatch.fnmatchcase(candidate.asset, self.asset)
            and self.kind in ("any", candidate.kind)
            and (self.min_score is None or candidate.score >= self.min_score)
        )


class Reference(_Strict):
    """Where a ``restore`` action takes the signal's normal level from."""

    window: Literal["start", "pre_alarm"] = "start"
    seconds: float = Field(default=60.0, gt=0)


class Verify(_Strict):
    """How to tell whether a correction worked: watch ``signal`` for ``window_s`` after it is applied.

    The effect is the fraction of the deviation from the reference removed:
    ``1 − |after − ref| / |before − ref|``; ``min_effect`` or more counts as worked, below
    ``-worse_margin`` as worse (and is rolled back).
    """

    signal: str
    window_s: float = Field(default=60.0, gt=0)
    min_effect: float = Field(default=0.5, le=1)
    worse_margin: float = Field(default=0.1, ge=0)
    reference: Reference = Reference()


ActionKind = Literal["step", "set", "restore"]
NEEDS: dict[str, tuple[str, ...]] = {"step": ("by",), "set": ("value",), "restore": ("signal", "gain", "max_move")}


class Action(_Strict):
    """One corrective move on a read-write tag; which fields apply depends on ``kind``.

    * ``step``: move by ``by`` engineering units;
    * ``set``: write ``value``;
    * ``restore``: move by ``gain * (reference − now)`` of ``signal``, at most ``max_move``; when
      the verification shows it helped but the deviation is still above ``tolerance``, repeat
      up to ``max_repeats`` times. With ``lead_s``, ``now`` is where the signal will be that many
      seconds ahead at its recent rate.
    """

    kind: ActionKind
    tag: str = Field(description="read-write tag; may use {asset}")
    by: float | None = None
    value: float | None = None
    signal: str | None = None
    gain: float | None = None
    max_move: float | None = Field(default=None, gt=0)
    reference: Reference = Reference()
    tolerance: float = Field(default=0.0, ge=0, description="deviation left that needs no further move")
    lead_s: float = Field(default=0.0, ge=0, le=3600, description="restore: aim at where the signal will be this "
                          "many seconds from now at its rate over the last 10 s (0: where it is now), so a fault "
                          "that keeps ramping is led rather than chased")
    max_repeats: int = Field(default=0, ge=0, description="further moves when the deviation remains after verify")
    verify: Verify | None = None

    @model_validator(mode="after")
    def _fields_of_kind(self) -> Action:
        missing = [f for f in NEEDS[self.kind] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.kind} action needs {', '.join(missing)}")
        foreign = sorted(f for k, fields in NEEDS.items() if k != self.kind for f in fields
                         if getattr(self, f) is not None and f not in NEEDS[self.kind])
        if foreign:
            raise ValueError(f"a {self.kind} action does not take {', '.join(foreign)}")
        return self


class Rule(_Strict):
    """One diagnosis pattern and the response to it."""

    name: str
    match: Match
    actions: list[Action] = Field(default_factory=list)
    work_order: str | None = Field(default=None, description="maintenance request text; may use {asset}, {signal}")

    @model_validator(mode="after")
    def _does_something(self) -> Rule:
        if not self.actions and self.work_order is None:
            raise ValueError(f"rule {self.name!r} has neither actions nor a work_order")
        return self


class Playbook(_Strict):
    """A plant's playbook: rules, interlocks, expiry and operator timeout."""

    plant: str = Field(description="the tag map's plant name")
    line: str = Field(default="line1", pattern=r"^[A-Za-z0-9_\-]+$", description="line name in MQTT topics")
    command_expiry_s: float = Field(default=10.0, gt=0, description="plant seconds a sent command stays valid")
    command_window_s: float | None = Field(default=None, gt=0, description="the bridge refuses a command issued "
                                           "more than this many plant seconds before or after its PLC clock "
                                           "(default: command_expiry_s)")
    select_timeout_s: float = Field(default=120.0, gt=0, description="recommend: how long a command waits (s)")
    interlocks: InterlockSettings = InterlockSettings()
    rules: list[Rule] = Field(min_length=1)

    @property
    def window_s(self) -> float:
        """The bridge's window around its PLC clock for a command's ``issued_t_ms``, in plant seconds."""
        return self.command_window_s if self.command_window_s is not None else self.command_expiry_s

    def rule_for(self, candidate: Candidate | None) -> Rule | None:
        """The first rule answering ``candidate``, or None."""
        if candidate is None:
            return None
        return next((rule for rule in self.rules if rule.match.fits(candidate)), None)


def expand(template: str, candidate: Candidate) -> str:
    """Fill ``{asset}`` and ``{signal}`` from a candidate."""
    return template.replace("{asset}", candidate.asset).replace("{signal}", candidate.signal or "")


def load_playbook(path: str | Path, tagmap: TagMap | None = None, extra_assets: Sequence[str] = ()) -> Playbook:
    """Read and validate a playbook; with ``tagmap``, also check every tag it could write and watch.

    ``extra_assets`` are assets a diagnosis may name that have no tag of their own (a supplier
    declared in the knowledge file): a rule may match them.
    """
    document = read_yaml(path)
    playbook = validate_document(Playbook, document, path)
    if tagmap is not None:
        problems = [
            f"field {field}" + (f" (line {line})" if (line := line_of(document, loc)) else "") + f": {message}"
            for loc, field, message in cross_check(playbook, tagmap, extra_assets)
        ]
        if problems:
            raise ConfigError(path, problems)
    return playbook


def cross_check(playbook: Playbook, tagmap: TagMap,
                extra_assets: Sequence[str] = ()) -> list[tuple[tuple[int | str, ...], str, str]]:
    """(location, dotted field, problem) for every tag a rule could touch that the tag map lacks
    (``extra_assets``: tag-less assets a rule may match, see :func:`load_playbook`)."""
    if playbook.plant != tagmap.plant:
        return [(("plant",), "plant", f"playbook is for {playbook.plant!r}, the tag map for {tagmap.plant!r}")]
    out: list[tuple[tuple[int | str, ...], str, str]] = []
    for i, rule in enumerate(playbook.rules):
        matched = assets_matching(rule.match.asset, tagmap)
        extra = [a for a in extra_assets if fnmatch.fnmatchcase(a, rule.match.asset)]
        if not matched and not extra:
            out.append((("rules", i, "match", "asset"), f"rules[{i}].match.asset",
                        f"{rule.match.asset!r} matches no asset of the {tagmap.plant} tag map"
                        + (" nor a node of the knowledge file" if extra_assets else "")))
        for j, action in enumerate(rule.actions):
            for asset in matched:
                out.extend(_check_action(i, j, action, Candidate(asset=asset, score=1.0), tagmap))
    for pattern in playbook.interlocks.tags:
        if not tagmap.select([pattern]):
            out.append((("interlocks", "tags", pattern), f"interlocks.tags.{pattern}", "matches no tag"))
    return list(dict.fromkeys(out))


def assets_matching(pattern: str, tagmap: TagMap) -> list[str]:
    """Asset paths of the tag map (every dotted prefix of a tag name) that ``pattern`` matches."""
    assets = {name.rsplit(".", k)[0] for name in tagmap.names() for k in range(1, name.count("."))}
    return sorted(a for a in assets if fnmatch.fnmatchcase(a, pattern))


def watched_signals(playbook: Playbook, tagmap: TagMap) -> dict[str, float]:
    """Every signal an action or verification could read → the longest start-of-run reference it needs (s)."""
    out: dict[str, float] = {}
    for rule in playbook.rules:
        for asset in assets_matching(rule.match.asset, tagmap):
            candidate = Candidate(asset=asset, score=1.0)
            for action in rule.actions:
                pairs = [(getattr(action, "signal", None), getattr(action, "reference", None))]
                if action.verify is not None:
                    pairs.append((action.verify.signal, action.verify.reference))
                for signal, reference in pairs:
                    name = expand(signal, candidate) if signal else None
                    if name in tagmap:
                        seconds = reference.seconds if reference is not None and reference.window == "start" else 0.0
                        out[name] = max(out.get(name, 0.0), seconds)
    return out


def _check_action(i: int, j: int, action: Action, candidate: Candidate, tagmap: TagMap) -> list[tuple]:
    base: tuple[int | str, ...] = ("rules", i, "actions", j)
    out = []
    tag = expand(action.tag, candidate)
    if tag not in tagmap or tagmap[tag].access != "rw":
        out.append(((*base, "tag"), f"rules[{i}].actions[{j}].tag", f"{tag} is not a read-write tag of the tag map"))
    watched = [("signal", getattr(action, "signal", None))]
    if action.verify is not None:
        watched.append(("verify", action.verify.signal))
    for field, signal in watched:
        if signal is not None and expand(signal, candidate) not in tagmap:
            out.append(((*base, field), f"rules[{i}].actions[{j}].{field}",
                        f"{expand(signal, candidate)} is not a tag of the tag map"))
    return out
