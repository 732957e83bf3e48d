"""A finished run as the app and the HTML report see it: its report, its historian, its ledger.

:class:`RunData` reads ``report.json`` as plain JSON rather than through
:class:`~twin.contracts.RunReport`: the report grows keys as layers land (``scores`` with closed-loop
control), and a viewer must show an older or a newer report without refusing it. What it needs
is checked, and a missing key is named.

Sections filled by layers that may not have landed yet (``diagnoses``, ``commands``, ``scores``,
``ledger.jsonl``) are read against their contracts (:class:`twin.contracts.Diagnosis`,
:class:`twin.contracts.CommandRecord`, :mod:`twin.edge.ledger`); when a run has none, the ``NO_*`` notes say so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from twin.contracts import Diagnosis, RunFiles, by_risk
from twin.edge.historian import HistorianReader
from twin.edge.ledger import Verification, read_entries, verify_ledger

REQUIRED_KEYS = ("scenario", "seed", "mode", "faults", "counts", "alarms", "durations")

NO_DIAGNOSES = ("This run has no diagnoses: its report says nothing of root cause (a run recorded before root "
                "cause ran in every run).")
NO_COMMANDS = ("This run has no commands: its report has no closed-loop section (a run recorded before the closed "
               "loop ran in every run).")
NO_LEDGER = "There is no ledger in this run (no ledger.jsonl in its folder)."
NO_SCORES = ("This run has no scores against the truth: its report has no scores (a real line's run, or one "
             "recorded before runs were scored).")
NO_GUIDANCE = ("No repair guidance for this run: guidance comes from the control playbook's commands and "
               "work orders, and this run has none.")
NO_ALARMS = "No alarms in this run."


def priority_of(severity: int | None) -> str:
    """An alarm's priority from the severity (1–10) of the effect it threatens, in ISA-18.2's few levels:
    urgent (9–10: safety, law), high (7–8: a lost function), medium (4–6), low (1–3 and unrated).

    >>> [priority_of(s) for s in (10, 7, 5, 2, None)]
    ['urgent', 'high', 'medium', 'low', 'low']
    """
    if severity is None or severity <= 3:
        return "low"
    return "urgent" if severity >= 9 else "high" if severity >= 7 else "medium"


def plant_clock(t_ms: float | None) -> str:
    """Plant time as a person reads it: ``h:mm:ss`` (``mm:ss`` under an hour, tenths below a minute).

    >>> plant_clock(29_160_000), plant_clock(754_000), plant_clock(12_345), plant_clock(None)
    ('8:06:00', '12:34', '12.3 s', '-')
    """
    if t_ms is None:
        return "-"
    seconds = t_ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class LedgerStatus:
    """Whether the run's ledger verifies, and how many entries of each kind it holds."""

    verification: Verification
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the hash chain verifies end to end."""
        return self.verification.ok

    def summary(self) -> str:
        """One line for a person: verified with N entries, or where the chain breaks."""
        v = self.verification
        if v.ok:
            kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.kinds.items())) or "no entries"
            return f"ledger verified: {v.entries} entries ({kinds}); head {v.last_hash[:12]}"
        return f"ledger BROKEN at entry {v.first_bad_index}: {v.reason}"


@dataclass(frozen=True)
class RunData:
    """One run directory: ``report.json`` (as JSON), the historian, and the optional ledger."""

    run_dir: Path
    report: dict[str, Any]

    @property
    def name(self) -> str:
        """The scenario's name."""
        return str(self.report["scenario"].get("name", self.run_dir.name))

    @property
    def plant(self) -> str:
        """The plant the scenario ran."""
        return str(self.report["scenario"].get("plant", ""))

    @property
    def seed(self) -> int:
        """The seed of the run."""
        return int(self.report["seed"])

    @property
    def policy(self) -> str:
        """The control policy the run used."""
        return str(self.report["scenario"].get("control", {}).get("policy", "off"))

    @property
    def plant_s(self) -> float:
        """Plant seconds simulated."""
        return float(self.report["durations"]["plant_s"])

    @property
    def faults(self) -> list[dict[str, Any]]:
        """The injected faults (the truth): kind, target, onset_s, magnitude, ..."""
        return list(self.report["faults"])

    @property
    def alarms(self) -> list[dict[str, Any]]:
        """ISA-18.2 alarms, in the order they were raised."""
        return list(self.report["alarms"])

    @property
    def commands(self) -> list[dict[str, Any]]:
        """Command records (``twin.contracts.CommandRecord.to_dict``), empty until issue 6."""
        return list(self.report.get("commands") or [])

    @property
    def scores(self) -> dict[str, Any] | None:
        """Scores against the truth (issue 6), or None when the run has none."""
        scores = self.report.get("scores")
        return dict(scores) if scores else None

    @property
    def detection(self) -> dict[str, Any]:
        """The detection summary: what was monitored, alarm rates, threshold firings."""
        return dict(self.report.get("detection") or {})

    @property
    def warmup_s(self) -> float | None:
        """The detection warm-up the scenario asked for (None when detection was off)."""
        settings = self.report["scenario"].get("detection") or {}
        if settings.get("enabled", True) is False:
            return None
        return float(settings.get("warmup_s", 120.0))

    @cached_property
    def diagnoses(self) -> list[Diagnosis]:
        """Diagnoses validated against the contract; a malformed one is an error naming it."""
        out = []
        for i, raw in enumerate(self.report.get("diagnoses") or []):
            try:
                out.append(Diagnosis.model_validate(raw))
            except ValueError as err:
                raise ValueError(f"{self.run_dir / RunFiles.REPORT}: diagnoses[{i}] breaks the Diagnosis contract: "
                                 f"{err}") from None
        return out

    @cached_property
    def ledger(self) -> LedgerStatus | None:
        """The ledger's verification, or None when the run wrote no ledger."""
        path = self.run_dir / RunFiles.LEDGER
        if not path.exists():
            return None
        verification = verify_ledger(path)
        kinds: dict[str, int] = {}
        if verification.ok:
            for entry in read_entries(path):
                kinds[entry["kind"]] = kinds.get(entry["kind"], 0) + 1
        return LedgerStatus(verification, kinds)

    @cached_property
    def elements(self) -> list[str]:
        """Every element stored in the historian (array tags per element)."""
        with HistorianReader(self.run_dir / RunFiles.HISTORIAN) as reader:
            return reader.tags()

    @property
    def tags(self) -> list[str]:
        """Tag names (array elements folded into their tag), in historian order."""
        return list(dict.fromkeys(name.split("[", 1)[0] for name in self.elements))

    @property
    def frames_file(self) -> Path:
        """The Parquet export of the historian."""
        return self.run_dir / RunFiles.FRAMES

    @property
    def report_file(self) -> Path:
        """``report.json``."""
        return self.run_dir / RunFiles.REPORT

    def alarmed_elements(self) -> list[str]:
        """Elements that raised an alarm, in the order they first did."""
        return list(dict.fromkeys(a["tag"] for a in self.alarms))

    def chart_elements(self, most: int = 3) -> list[str]:
        """Elements worth a control chart: the injected faults' signals that alarmed (this is a
        testbed: the fault is the point), then the other alarmed ones, then the faults' other signals."""
        targets = [str(f["target"]) for f in self.faults]
        of_fault = [e for e in self.elements if "[" not in e and any(e == t or e.startswith(t + ".") for t in targets)]
        stored = set(self.elements)
        alarmed = [e for e in self.alarmed_elements() if e in stored]
        chosen = [e for e in alarmed if e in of_fault] + alarmed + of_fault
        chosen = list(dict.fromkeys(chosen)) or [e for e in self.elements if "[" not in e][:1]
        return chosen[:most]

    @property
    def rootcause_info(self) -> dict[str, Any] | None:
        """How diagnoses were made (method, model version, knowledge file), or None before issue 5."""
        info = self.report.get("rootcause")
        return dict(info) if info else None

    def no_diagnoses_note(self) -> str:
        """Why the run has no diagnosis: root cause not wired, switched off, or nothing to diagnose."""
        info = self.rootcause_info
        if info is None:
            return NO_DIAGNOSES
        if info.get("enabled") is False:
            why = info.get("reason") or info.get("why")
            return "Root cause was off for this run" + (f": {why}" if why else ".")
        return f"Root cause ran ({info.get('method', '?')}) but made no diagnosis in this run."

    def no_commands_note(self) -> str:
        """Why the run has no command: closed-loop control not wired (an older run), or nothing to answer."""
        if "scores" not in self.report:  # reports from before issue 6 have neither scores nor commands
            return NO_COMMANDS
        return (f"Closed-loop control ran (policy {self.policy}) but made no command or work order in this run: "
                "no diagnosis that a playbook rule answers.")

    @cached_property
    def units(self) -> dict[str, str]:
        """Each element's engineering unit, from the historian's own description of its elements."""
        with HistorianReader(self.run_dir / RunFiles.HISTORIAN) as reader:
            rows = reader.con.execute("SELECT name, unit FROM elements").fetchall()
        return {name: unit or "" for name, unit in rows}

    @cached_property
    def descriptions(self) -> dict[str, str]:
        """Each tag's description from the run's tag map (``tags.csv``), {} when the run has none."""
        path = self.run_dir / RunFiles.TAGS
        if not path.is_file():
            return {}
        from virtual_plc.tagmap import load_tagmap

        return {tag.name: tag.description for tag in load_tagmap(path).tags if tag.description}

    def alarm_rows(self) -> list[dict[str, Any]]:
        """The alarm list an operator reads, ranked by risk then time: priority (from the severity of the effect
        the alarm threatens), plant time, tag and what it is, how long the condition lasted, state, detector."""
        rows = []
        for a in by_risk(self.alarms):
            cleared = next((h["t_ms"] for h in a.get("history", []) if h.get("state") in ("unack_rtn", "normal")),
                           None)
            lasted = plant_clock(cleared - a["t_ms"]) if cleared is not None else "still active at the end"
            rows.append({"id": a["id"], "priority": priority_of(a.get("severity")),
                         "plant time": plant_clock(a["t_ms"]), "tag": a["tag"],
                         "description": self.descriptions.get(a["tag"].split("[", 1)[0], ""),
                         "lasted": lasted, "threatens": a.get("effect") or "", "state": a["state"],
                         "detector": f"{a['detector']} {a['rule']}"})
        return rows

    def consensus(self) -> list[Consensus]:
        """The causes the run's diagnoses name first, most often named first (then by mean confidence): when
        diagnoses disagree, the one most of them name is a better bet than the last one made."""
        named: dict[tuple[str, str], list[float]] = {}
        for d in self.diagnoses:
            if d.top is not None:
                named.setdefault((d.top.asset, d.top.kind), []).append(d.confidence)
        total = sum(len(v) for v in named.values())
        ranked = [Consensus(asset, kind, len(conf), total, sum(conf) / len(conf))
                  for (asset, kind), conf in named.items()]
        return sorted(ranked, key=lambda c: (-c.count, -c.confidence, c.asset))

    def guidance(self) -> list[str]:
        """Repair guidance in words: what the control playbook did or asked for (commands and work orders), with
        values in their unit, the value before, the outcome, and the severity of the effect it answered."""
        risk = {d.id: d for d in self.diagnoses if d.severity is not None}
        lines = []
        for record in self.commands:
            what = record.get("reason") or record.get("rule") or "command"
            status = record.get("status", "?")
            origin = risk.get(record.get("diagnosis_id") or "")
            why = f"; it answers a threat of severity {origin.severity} to {origin.effect}" if origin else ""
            if record.get("kind") == "work_order":
                lines.append(f"Work order: {what} ({status}{why})")
                continue
            tag = record.get("tag")
            if not tag:
                lines.append(f"{what} ({status}{why})")
                continue
            unit = self.units.get(tag, "")
            before = record.get("previous")
            was = f", was {_number(before, unit)}" if isinstance(before, int | float) else ""
            lines.append(f"{what}: set {tag} to {_number(record.get('value'), unit)}{was} ({status}{why})")
        return lines


@dataclass(frozen=True)
class Consensus:
    """One cause the run's diagnoses named first: in ``count`` of ``total`` of them, at ``confidence`` on average."""

    asset: str
    kind: str
    count: int
    total: int
    confidence: float


def _number(value: Any, unit: str) -> str:
    """A value as a person reads it: four significant digits and its unit."""
    if not isinstance(value, int | float):
        return str(value)
    return f"{value:.4g}" + (f" {unit}" if unit else "")


def load_run(run_dir: str | Path) -> RunData:
    """Read a run directory; a missing report or key is an error naming the file and the key."""
    run_dir = Path(run_dir)
    path = run_dir / RunFiles.REPORT
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory: it has no {RunFiles.REPORT}")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not JSON: {err}") from None
    missing = [key for key in REQUIRED_KEYS if key not in report]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: not a Quality Twin run report")
    if not (run_dir / RunFiles.HISTORIAN).is_file():
        raise FileNotFoundError(f"{run_dir} has a report but no {RunFiles.HISTORIAN}")
    return RunData(run_dir, report)


def list_runs(root: str | Path) -> list[Path]:
    """Run directories below ``root`` (any depth), sorted by path."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.rglob(RunFiles.REPORT) if (p.parent / RunFiles.HISTORIAN).is_file())
