"""``twin detect arl``: Monte Carlo run lengths of a detector (:mod:`twin.edge.detection.arl`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Optional

import typer
from rich.console import Console

from twin.cli.common import command_group

detect_app = command_group("Detectors: run-length properties.")


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
