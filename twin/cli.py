"""``twin``: the command line. Thin: it builds library objects and calls them.

Commands
--------
* ``twin run SCENARIO`` — run one episode (lockstep over real sockets, or ``--offline``).
* ``twin plc serve SCENARIO`` — serve the scenario's virtual PLC in real time.
* ``twin tags export SCENARIO`` — write the scenario's tag map as CSV (or YAML).
* ``twin plot RUN_DIR`` — a PNG of chosen tags over plant time, quality and fault onsets marked.
* ``twin scenario check [FILES]`` — validate scenario files; ``--determinism`` runs each twice.
* ``twin detect arl DETECTOR`` — Monte Carlo run lengths of a detector at chosen shifts.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Optional, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from plant_models.base import PlantShutdown
from virtual_plc.configfile import ConfigError

from .episode import EpisodeConfig, Mode, build_episode_plant, run_episode, scenario_tagmap
from .report import RunReport
from .scenario import Policy, Scenario, load_scenario

app = typer.Typer(help="Quality Twin: fault-injection testbed for manufacturing quality.", no_args_is_help=True)
plc_app = typer.Typer(help="Virtual PLCs.", no_args_is_help=True)
tags_app = typer.Typer(help="Tag maps.", no_args_is_help=True)
scenario_app = typer.Typer(help="Scenario files.", no_args_is_help=True)
detect_app = typer.Typer(help="Detectors: run-length properties.", no_args_is_help=True)
app.add_typer(plc_app, name="plc")
app.add_typer(tags_app, name="tags")
app.add_typer(scenario_app, name="scenario")
app.add_typer(detect_app, name="detect")

console = Console(stderr=True)


def _quiet_libraries() -> None:
    """Protocol libraries log every connection at INFO; keep the terminal for our output."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("asyncua", "pymodbus"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error as plain text (no wrapping, no markup: it may quote a user's file)."""
    console.print(message, style="red", markup=False, soft_wrap=True, highlight=False)
    return typer.Exit(code)


def _load(path: Path) -> Scenario:
    try:
        return load_scenario(path)
    except ConfigError as err:
        raise _fail(f"invalid scenario: {err}") from None


@app.command()
def run(
    scenario: Path = typer.Argument(..., help="scenario YAML file"),
    seed: Optional[int] = typer.Option(None, help="override the scenario's seed"),
    out: Optional[Path] = typer.Option(None, help="run directory (default: runs/<scenario name>)"),
    policy: Optional[str] = typer.Option(None, help="control policy: off | recommend | auto"),
    offline: bool = typer.Option(False, "--offline", help="no sockets: read the PLC image in-process"),
    duration: Optional[float] = typer.Option(None, help="override the duration (plant seconds)"),
) -> None:
    """Run one episode; writes historian.duckdb, frames.parquet and report.json."""
    _quiet_libraries()
    spec = _load(scenario)
    if policy is not None and policy not in ("off", "recommend", "auto"):
        raise _fail(f"--policy must be off, recommend or auto, not {policy!r}")
    if duration is not None and duration <= 0:
        raise _fail(f"--duration must be positive, not {duration:g}")
    mode: Mode = "offline" if offline else "lockstep"
    with _progress() as bar:
        task = bar.add_task(f"{spec.name} ({mode})", total=spec.n_scans)
        config = EpisodeConfig(
            seed=seed,
            out_dir=out,
            mode=mode,
            policy=cast(Optional[Policy], policy),
            duration_s=duration,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
        try:
            report = asyncio.run(run_episode(spec, config))
        except ConfigError as err:
            raise _fail(f"invalid configuration: {err}") from None
        except PlantShutdown as err:
            where = out or spec.output_dir()
            raise _fail(f"the plant shut down: {err}; what was collected is in {where} (report.json: stopped_early)",
                        1) from None
    _print_summary(report, out or spec.output_dir())


@plc_app.command("serve")
def plc_serve(
    scenario: Path = typer.Argument(..., help="scenario YAML file"),
    modbus_port: int = typer.Option(5020, help="Modbus TCP port on 127.0.0.1"),
    opcua_port: int = typer.Option(4840, help="OPC UA port on 127.0.0.1"),
    seed: Optional[int] = typer.Option(None, help="override the scenario's seed"),
    speed: float = typer.Option(1.0, help="plant seconds per wall second"),
    duration: Optional[float] = typer.Option(None, help="stop after this many plant seconds (default: never)"),
    out: Path = typer.Option(Path("runs/plc"), help="where to write tags.csv and endpoints.yaml"),
) -> None:
    """Serve the scenario's virtual PLC in real time until Ctrl-C (or --duration)."""
    from .serve import ServeInfo, serve_plc

    _quiet_libraries()
    spec = _load(scenario)

    def ready(info: ServeInfo) -> None:
        console.print(
            f"[green]serving[/green] {spec.name}: Modbus TCP 127.0.0.1:{info.modbus_port}, "
            f"OPC UA opc.tcp://127.0.0.1:{info.opcua_port}\n  tag map: {info.tags_csv}\n  endpoints: {info.endpoints}"
        )

    try:
        asyncio.run(
            serve_plc(
                spec,
                out_dir=out,
                modbus_port=modbus_port,
                opcua_port=opcua_port,
                seed=seed,
                speed=speed,
                duration_s=duration,
                ready=ready,
            )
        )
    except KeyboardInterrupt:
        console.print("stopped")
    except OSError as err:
        raise _fail(f"cannot serve: {err}", 1) from None


@tags_app.command("export")
def tags_export(
    scenario: Path = typer.Argument(..., help="scenario YAML file"),
    out: Path = typer.Option(Path("tags.csv"), help="output file: .csv (PLC tag export) or .yaml"),
) -> None:
    """Write the scenario's tag map (every address and OPC UA node explicit)."""
    spec = _load(scenario)
    tagmap = scenario_tagmap(spec, build_episode_plant(spec, spec.seed))
    if out.suffix.lower() in (".yaml", ".yml"):
        tagmap.to_yaml(out)
    elif out.suffix.lower() == ".csv":
        tagmap.to_csv(out)
    else:
        raise _fail(f"--out must end in .csv or .yaml, not {out.suffix!r}")
    console.print(f"wrote {len(tagmap)} tags to {out}")


@app.command()
def plot(
    run_dir: Path = typer.Argument(..., help="a run directory (with historian.duckdb and report.json)"),
    tags: list[str] = typer.Option(["*"], "--tag", "-t", help="tag name or shell pattern; repeat for more"),
    out: Optional[Path] = typer.Option(None, help="PNG file (default: RUN_DIR/trends.png)"),
    resolution_ms: int = typer.Option(1000, help="grid step of the plot in ms"),
) -> None:
    """Plot trends of chosen tags with quality flags and fault onsets, as a PNG."""
    from .plots import plot_run

    try:
        written = plot_run(run_dir, tags, out or run_dir / "trends.png", resolution_ms=resolution_ms)
    except (ValueError, FileNotFoundError) as err:
        raise _fail(f"cannot plot: {err}") from None
    console.print(f"wrote {written}")


@detect_app.command(
    "arl", add_help_option=False, context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def detect_arl(ctx: typer.Context) -> None:
    """Monte Carlo ARL, SDRL and standard error of a detector (``twin detect arl --help``)."""
    from .detection.arl import main as arl_main

    raise typer.Exit(arl_main(ctx.args))


@scenario_app.command("check")
def scenario_check(
    files: list[Path] = typer.Argument(None, help="scenario files (default: scenarios/*.yaml)"),
    determinism: bool = typer.Option(False, help="also run each twice offline and compare historians"),
    duration: float = typer.Option(20.0, help="plant seconds per determinism run"),
) -> None:
    """Validate scenario files; with --determinism, same seed -> identical historian."""
    from .checks import check_determinism

    _quiet_libraries()
    paths = files or sorted(Path("scenarios").glob("*.yaml"))
    failed = 0
    for path in paths:
        try:
            spec = load_scenario(path)
            note = "valid"
            if determinism:
                same, digest = check_determinism(spec, duration_s=duration)
                note = f"deterministic ({digest[:12]})" if same else "NOT deterministic"
                failed += not same
            console.print(f"[green]ok[/green]   {path}: {note}")
        except ConfigError as err:
            failed += 1
            console.print(f"fail {err}", style="red", markup=False, soft_wrap=True, highlight=False)
    raise typer.Exit(1 if failed else 0)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("scans"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def _print_summary(report: RunReport, out_dir: Path) -> None:
    table = Table(title=f"{report.scenario['name']} — seed {report.seed}, {report.mode}")
    table.add_column("what")
    table.add_column("value", justify="right")
    c, d = report.counts, report.durations
    table.add_row("frames", f"{c.frames:,}")
    for quality, n in c.samples_by_quality.items():
        table.add_row(f"samples {quality}", f"{n:,}")
    table.add_row("failed polls / reconnects", f"{c.failed_polls} / {c.reconnects}")
    table.add_row("plant time", f"{d.plant_s:,.1f} s")
    table.add_row("wall time", f"{d.wall_s:,.1f} s ({d.realtime_factor:g}x real time)")
    table.add_row("faults injected", ", ".join(f"{f['kind']}@{f['target']}" for f in report.faults) or "none")
    table.add_row(
        "alarms / diagnoses / commands", f"{len(report.alarms)} / {len(report.diagnoses)} / {len(report.commands)}"
    )
    if report.alarms:
        first, rates = report.alarms[0], report.detection.get("alarm_rates", {})
        when = f"{first['t_ms'] / 1000:g} s"
        table.add_row("first alarm", f"{when}: {first['tag']} ({first['detector']} {first['rule']})")
        floods = len(rates.get("flood_periods", []))
        table.add_row("alarm floods", f"{floods} (max {rates.get('per_10_min_max', 0)} new alarms in 10 min)")
    Console().print(table)
    Console().print(f"run directory: {out_dir}")


def main() -> None:  # pragma: no cover - entry point
    """Console entry point."""
    sys.exit(app())
