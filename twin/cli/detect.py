"""``twin detect arl``: Monte Carlo run lengths of a detector (:mod:`twin.edge.detection.arl`); ``twin detect
learn``: a baseline of what in control looks like (:mod:`twin.edge.detection.baseline`)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from twin.cli.common import command_group

detect_app = command_group("Detectors: run-length properties, and baselines learned once.")


class DetectorName(StrEnum):
    """The streaming detectors whose run lengths can be simulated."""

    SHEWHART = "shewhart"
    EWMA = "ewma"
    CUSUM = "cusum"


class RuleSet(StrEnum):
    """Which run-rule numbering ``--rules`` follows."""

    WESTERN_ELECTRIC = "western-electric"
    NELSON = "nelson"


@detect_app.command("arl")
def detect_arl(
    detector: DetectorName = typer.Argument(..., help="which detector"),
    shift: Optional[list[float]] = typer.Option(None, help="mean shift in sigmas; repeat for more (default: 0)"),
    runs: int = typer.Option(10_000, min=1, help="simulated runs per shift"),
    seed: int = typer.Option(0, help="seed of the simulation"),
    max_length: int = typer.Option(100_000, min=1, help="a run still silent after this many samples is censored"),
    rules: str = typer.Option("1,2,3,4", help="Shewhart: rule numbers, comma-separated"),
    rule_set: RuleSet = typer.Option(RuleSet.WESTERN_ELECTRIC, help="Shewhart: which rule numbering"),
    lam: float = typer.Option(0.1, help="EWMA: smoothing constant lambda"),
    limit_width: float = typer.Option(2.814, "--L", help="EWMA: control-limit width L, in sigmas of the statistic"),
    exact_limits: bool = typer.Option(False, help="EWMA: exact time-varying limits instead of asymptotic ones"),
    k: float = typer.Option(0.5, "--k", help="CUSUM: reference value k, in sigmas"),
    h: float = typer.Option(5.0, "--h", help="CUSUM: decision interval h, in sigmas"),
) -> None:
    """Monte Carlo ARL, SDRL and standard error of a detector at chosen mean shifts."""
    from twin.edge.detection.arl import detector_factory, run_length_arl

    try:
        rule_numbers = tuple(int(r) for r in rules.split(","))
    except ValueError:
        raise typer.BadParameter(f"--rules must be comma-separated numbers, not {rules!r}") from None
    params: dict[str, object] = {
        "shewhart": {"rules": rule_numbers, "rule_set": rule_set.value},
        "ewma": {"lam": lam, "L": limit_width, "exact_limits": exact_limits},
        "cusum": {"k": k, "h": h},
    }[detector.value]
    try:
        factory = detector_factory(detector.value, **params)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    out = Console(highlight=False)
    out.print(f"{detector.value} {params}  runs={runs} seed={seed}")
    out.print(f"{'shift':>6} {'ARL':>9} {'SDRL':>9} {'SE':>7} {'censored':>8}")
    for value in shift or [0.0]:
        r = run_length_arl(factory, value, runs=runs, seed=seed, max_length=max_length)
        out.print(f"{value:6.2f} {r.arl:9.2f} {r.sdrl:9.2f} {r.se:7.2f} {r.censored:8d}")


@detect_app.command("learn")
def detect_learn(
    sources: list[Path] = typer.Argument(..., help="run folders or historian files of in-control operation"),
    out: Path = typer.Option(..., help="the baseline file to write (JSON)"),
    settings: Optional[Path] = typer.Option(None, help="YAML with the detection block to learn with (a scenario or "
                                            "the edge's settings); default: the first run's own, else the defaults"),
    start_s: float = typer.Option(0.0, help="learn from this many seconds after each historian's first sample"),
    end_s: Optional[float] = typer.Option(None, help="... up to this many seconds after it (default: its end)"),
    line: Optional[str] = typer.Option(None, help="the line's name (default: the run's plant, else the first word "
                                                  "of the tag names)"),
    force: bool = typer.Option(False, help="learn from a period that holds alarms or bad data anyway (flagged)"),
) -> None:
    """Learn what in control looks like from earlier runs or a line's historian, once, into a baseline file."""
    import json

    from qtconfig import ConfigError
    from rootcause.features import EvidenceSettings
    from rootcause.settings import RootCauseSettings
    from twin.cli.common import console, fail
    from twin.contracts import RunFiles
    from twin.edge.detection.baseline import BaselineError, Source, learn_baseline
    from twin.edge.detection.settings import DetectionSettings
    from twin.edge.historian import HistorianReader
    from twin.edge.settings import load_edge_settings

    learned: list[Source] = []
    detection: DetectionSettings | None = None
    evidence: EvidenceSettings | None = None
    plant: str | None = None
    for given in sources:
        folder = given if given.is_dir() else given.parent
        historian = given / RunFiles.HISTORIAN if given.is_dir() else given
        if not historian.is_file():
            raise fail(f"{given}: no historian ({RunFiles.HISTORIAN}) there")
        alarms: list[tuple[int, str]] = []
        for name in (RunFiles.REPORT, RunFiles.EDGE_REPORT):  # the alarms of the run, never its truth
            path = folder / name
            if path.is_file():
                doc = json.loads(path.read_text(encoding="utf-8"))
                alarms += [(int(a["t_ms"]), f"{a['tag']}: {a['rule']}") for a in doc.get("alarms", [])]
                scenario = doc.get("scenario") or {}
                if detection is None and settings is None and isinstance(scenario.get("detection"), dict):
                    detection = DetectionSettings.model_validate(scenario["detection"])
                    evidence = RootCauseSettings.model_validate(scenario.get("rootcause") or {}).evidence
                plant = plant or scenario.get("plant")
        with HistorianReader(historian) as reader:
            first = reader.first_ms()
        if first is None:
            raise fail(f"{historian}: the historian holds no samples")
        start = int(first + start_s * 1000)
        end = int(first + end_s * 1000) if end_s is not None else None
        learned.append(Source(historian, start, end, tuple(alarms)))
    try:
        if settings is not None:
            edge_settings = load_edge_settings(settings)[0]
            detection, evidence = edge_settings.detection, edge_settings.rootcause.evidence
        detection = detection or DetectionSettings()
        evidence = evidence or EvidenceSettings()
        baseline = learn_baseline(learned, detection, line or plant, force=force,
                                  reference=(evidence.grid_ms, evidence.baseline_s))
    except ConfigError as err:
        raise fail(f"invalid configuration: {err}") from None
    except BaselineError as err:
        raise fail(f"cannot learn a baseline: {err}", 1) from None
    path = baseline.save(out)
    health = baseline.health
    console.print(f"learned {len(baseline.history)} subgroups of {baseline.subgroup_s:g} s over "
                  f"{len(baseline.elements)} elements of {baseline.line} from {len(learned)} source(s); "
                  f"good samples {health.good_share:.2%}" + (" [FLAGGED: not in control]" if health.flagged else ""),
                  markup=False, highlight=False)
    console.print(f"wrote {path}", markup=False, highlight=False)
