"""``twin``: the command line. Thin: it builds library objects and calls them.

Commands
--------
* ``twin run SCENARIO`` — run one episode (lockstep over real sockets, or ``--offline``).
* ``twin plc serve SCENARIO`` — serve the scenario's virtual PLC in real time.
* ``twin tags export|import|discover`` — a tag map out (CSV, YAML, Kepware CSV), or in from a tag export or an
  OPC UA server's address space (:mod:`twin.cli.tags`).
* ``twin certs create`` — an OPC UA certificate and key for secured sessions (:mod:`twin.cli.certs`).
* ``twin plot RUN_DIR`` — a PNG of chosen tags over plant time, quality and fault onsets marked.
* ``twin scenario check [FILES]`` — validate scenario files; ``--determinism`` runs each twice.
* ``twin detect arl DETECTOR`` — Monte Carlo run lengths of a detector at chosen shifts; ``twin detect learn``
  — a baseline of what in control looks like, learned once from earlier runs.
* ``twin line check|graph|new`` — line templates: validate and run clean, draw, start one.
* ``twin edge run --endpoints FILE`` — the edge as its own process, in real time (:mod:`twin.cli.edge`).
* ``twin keys create --line LINE`` — a line's command secret and ledger signing key (:mod:`twin.cli.keys`).
* ``twin ledger verify RUN_DIR`` — check a run's hash-chained ledger (``twin/cli/ledger.py``).
* ``twin rootcause dataset|train|evaluate`` — labelled fault episodes, the GNN, its scores (:mod:`twin.cli.rootcause`).
* ``twin assets scan|list|show|label|lineage|health`` — quality data as assets (:mod:`twin.cli.assets`).
* ``twin fmea import FILE`` and ``twin knowledge from-fmea FILE`` — FMEA sheets in, a knowledge draft out
  (:mod:`twin.cli.fmea`).
* ``twin check SUITE`` — a scenario suite with score gates, JUnit XML, baseline comparison (:mod:`twin.cli.check`).
* ``twin classroom user|check|build|submit|results`` — trainer mode: roster, exercise packs, scored answers
  (:mod:`twin.cli.classroom`).
* ``twin plugins`` — the detectors, diagnosers and control policies a run can choose (:mod:`twin.edge.plugins`).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional, cast

import typer
from rich.console import Console

from twin.cli import rediagnose as _rediagnose  # noqa: F401 - registers `twin rootcause rediagnose`
from twin.cli.assets import assets_app
from twin.cli.certs import certs_app
from twin.cli.check import check
from twin.cli.classroom import classroom_app
from twin.cli.common import check_duration, check_number, check_port, command_group, console, fail, quiet_libraries
from twin.cli.detect import detect_app
from twin.cli.edge import edge_app
from twin.cli.fmea import fmea_app, knowledge_app
from twin.cli.keys import keys_app
from twin.cli.ledger import ledger_app
from twin.cli.line import line_app
from twin.cli.report import report_app
from twin.cli.rootcause import rootcause_app
from twin.cli.sparkplug import sparkplug_app
from twin.cli.tags import tags_app

if TYPE_CHECKING:
    from rich.progress import Progress

    from twin.harness.scenario import Scenario

app = command_group("Quality Twin: fault-injection testbed for manufacturing quality.")
plc_app = command_group("Virtual PLCs.")
scenario_app = command_group("Scenario files.")
app.add_typer(plc_app, name="plc")
app.add_typer(tags_app, name="tags")
app.add_typer(scenario_app, name="scenario")
app.add_typer(detect_app, name="detect")
app.add_typer(line_app, name="line")
app.add_typer(edge_app, name="edge")
app.add_typer(certs_app, name="certs")
app.add_typer(keys_app, name="keys")
app.add_typer(ledger_app, name="ledger")
app.add_typer(rootcause_app, name="rootcause")
app.add_typer(report_app, name="report")
app.add_typer(assets_app, name="assets")
app.add_typer(sparkplug_app, name="sparkplug")
app.add_typer(fmea_app, name="fmea")
app.add_typer(knowledge_app, name="knowledge")
app.add_typer(classroom_app, name="classroom")
app.command("check")(check)

def _load(path: Path) -> Scenario:
    from qtconfig import ConfigError
    from twin.harness.scenario import load_scenario

    try:
        return load_scenario(path)
    except ConfigError as err:
        raise fail(f"invalid scenario: {err}") from None


@app.command()
def run(
    scenario: Path = typer.Argument(..., help="scenario YAML file"),
    seed: Optional[int] = typer.Option(None, help="override the scenario's seed"),
    out: Optional[Path] = typer.Option(None, help="run directory (default: runs/<scenario name>)"),
    policy: Optional[str] = typer.Option(None, help="control policy: off | recommend | auto"),
    offline: bool = typer.Option(False, "--offline", help="no sockets: read the PLC image in-process"),
    duration: Optional[float] = typer.Option(None, help="override the duration (plant seconds)"),
    detector: Optional[str] = typer.Option(None, help="detector plug-in (registered name or module:attr)"),
    diagnoser: Optional[str] = typer.Option(None, help="diagnoser plug-in (registered name or module:attr)"),
    control_policy: Optional[str] = typer.Option(None, help="control-policy plug-in (name or module:attr)"),
) -> None:
    """Run one episode; writes historian.duckdb, frames.parquet and report.json."""
    from plant_models.base import PlantShutdown
    from qtconfig import ConfigError
    from twin.cli.summary import print_summary
    from twin.contracts import Mode, Policy, choices
    from twin.edge.plugins.guard import PluginError
    from twin.harness.episode import EpisodeConfig, run_episode
    from twin.harness.hall import is_hall_file
    from twin.harness.supply.scenario import is_supply_file

    check_number("--seed", seed, at_least=0)
    check_duration("--duration", duration)
    if is_supply_file(scenario):  # supply scenarios (kind: supply) have their own runner
        from twin.cli.supply import run_supply_file

        try:
            run_supply_file(scenario, seed, out)
        except ConfigError as err:
            raise fail(f"invalid scenario: {err}") from None
        return
    if is_hall_file(scenario):  # a hall (kind: hall): several line scenarios side by side
        from twin.cli.hall import run_hall_file

        quiet_libraries()
        try:
            run_hall_file(scenario, seed, out, "offline" if offline else "lockstep", duration)
        except ConfigError as err:
            raise fail(f"invalid hall: {err}") from None
        return
    quiet_libraries()
    if policy is not None and policy not in set(Policy):
        raise fail(f"--policy must be {choices(Policy)}, not {policy!r}")
    spec = _load(scenario)
    for warning in spec.duration_warnings(duration):
        console.print(f"warning: {warning}", style="yellow", markup=False, soft_wrap=True, highlight=False)
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
            plugins=spec.plugins.with_names(detector, diagnoser, control_policy),
        )
        try:
            report = asyncio.run(run_episode(spec, config))
        except ConfigError as err:
            raise fail(f"invalid configuration: {err}") from None
        except PluginError as err:
            where = out or spec.output_dir()
            raise fail(f"{err}; what was collected is in {where} (report.json: stopped_early)", 1) from None
        except PlantShutdown as err:
            where = out or spec.output_dir()
            raise fail(f"the plant shut down: {err}; what was collected is in {where} (report.json: stopped_early)",
                        1) from None
    print_summary(report, out or spec.output_dir())


@plc_app.command("serve")
def plc_serve(
    scenario: Path = typer.Argument(..., help="scenario YAML file"),
    modbus_port: int = typer.Option(5020, help="Modbus TCP port on 127.0.0.1 (0: any free port)"),
    opcua_port: int = typer.Option(4840, help="OPC UA port on 127.0.0.1 (0: any free port)"),
    seed: Optional[int] = typer.Option(None, help="override the scenario's seed"),
    speed: float = typer.Option(1.0, help="plant seconds per wall second"),
    duration: Optional[float] = typer.Option(None, help="stop after this many plant seconds (default: never)"),
    out: Path = typer.Option(Path("runs/plc"), help="where to write tags.csv and endpoints.yaml"),
    opcua_security: Optional[Path] = typer.Option(
        None, help="security file: the OPC UA server's certificate and users (operators read, engineers also "
                   "write); only Basic256Sha256 is then offered"),
    opcua_anonymous_writes: bool = typer.Option(
        False, help="let anonymous OPC UA sessions write setpoints (a lab simulator; also the scenario's "
                    "opcua_anonymous_writes); default: they read and subscribe only"),
) -> None:
    """Serve the scenario's virtual PLC in real time until Ctrl-C (or --duration)."""
    from qtconfig import ConfigError
    from twin.harness.serve import ServeInfo, serve_plc
    from virtual_plc.security import load_security

    quiet_libraries()
    check_number("--seed", seed, at_least=0)
    check_number("--speed", speed, above=0)
    check_duration("--duration", duration)
    if modbus_port and modbus_port == opcua_port:
        raise fail(f"--modbus-port and --opcua-port are both {modbus_port}: give each server its own port")
    check_port("--modbus-port", modbus_port, "Modbus TCP")
    check_port("--opcua-port", opcua_port, "OPC UA")
    spec = _load(scenario)
    anonymous_writes = opcua_anonymous_writes or spec.opcua_anonymous_writes
    if anonymous_writes and opcua_security is not None:
        raise fail("--opcua-anonymous-writes (or the scenario's opcua_anonymous_writes) and --opcua-security "
                   "exclude each other: a secured PLC takes no anonymous sessions")
    try:
        security = load_security(opcua_security) if opcua_security is not None else None
    except ConfigError as err:
        raise fail(f"invalid configuration: {err}") from None

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
                opcua_security=security,
                anonymous_writes=anonymous_writes,
            )
        )
    except KeyboardInterrupt:
        console.print("stopped")
    except ConfigError as err:
        raise fail(f"invalid configuration: {err}") from None
    except OSError as err:
        raise fail(f"cannot serve: {err}", 1) from None


@app.command()
def plot(
    run_dir: Path = typer.Argument(..., help="a run directory (with historian.duckdb and report.json)"),
    tags: list[str] = typer.Option(["*"], "--tag", "-t", help="tag name or shell pattern; repeat for more"),
    out: Optional[Path] = typer.Option(
        None, help="PNG file, or a folder for FOLDER/trends.png (default: RUN_DIR/trends.png); "
        "replaced whole, or removed if the plot fails"),
    resolution_ms: int = typer.Option(1000, help="grid step of the plot in ms"),
    truth: bool = typer.Option(True, "--truth/--no-truth", help="mark the injected faults' onsets (the run's truth)"),
) -> None:
    """Plot trends of chosen tags with units, alarms and limits, diagnoses, commands and fault onsets, as a PNG."""
    from twin.harness.plots import plot_run

    try:
        written = plot_run(run_dir, tags, out or run_dir / "trends.png", resolution_ms=resolution_ms, truth=truth)
    except (ValueError, OSError) as err:
        raise fail(f"cannot plot: {err}") from None
    console.print(f"wrote {written}")


@scenario_app.command("check")
def scenario_check(
    files: list[Path] = typer.Argument(None, help="scenario files (default: scenarios/*.yaml)"),
    determinism: bool = typer.Option(False, help="also run each twice offline and compare historians"),
    duration: float = typer.Option(20.0, help="plant seconds per determinism run"),
) -> None:
    """Validate scenario files; with --determinism, same seed -> identical historian. Exit 2 when a file is
    invalid, 1 when one is not deterministic."""
    from qtconfig import ConfigError
    from twin.harness.checks import check_determinism
    from twin.harness.scenario import load_scenario

    quiet_libraries()
    check_duration("--duration", duration)
    paths = files or sorted(Path("scenarios").glob("*.yaml"))
    invalid = unsteady = 0
    from twin.harness.hall import is_hall_file, load_hall
    from twin.harness.supply.scenario import is_supply_file, load_supply_scenario

    for path in paths:
        try:
            if is_supply_file(path):  # supply scenarios have their own schema (and determinism tests)
                load_supply_scenario(path)
                console.print(f"[green]ok[/green]   {path}: valid (supply)")
                continue
            if is_hall_file(path):  # a hall: its own schema and every line's scenario
                _, lines = load_hall(path)
                console.print(f"[green]ok[/green]   {path}: valid (hall of {len(lines)} lines)")
                continue
            spec = load_scenario(path)
            note = "valid"
            if determinism:
                same, digest = check_determinism(spec, duration_s=duration)
                note = f"deterministic ({digest[:12]})" if same else "NOT deterministic"
                unsteady += not same
            console.print(f"[green]ok[/green]   {path}: {note}")
        except ConfigError as err:
            invalid += 1
            console.print(f"fail {err}", style="red", markup=False, soft_wrap=True, highlight=False)
    raise typer.Exit(2 if invalid else 1 if unsteady else 0)


def _progress() -> Progress:
    from twin.harness.progress import progress_bar

    return progress_bar(console, "scans")


@app.command("plugins")
def plugins_list() -> None:
    """The detectors, diagnosers and control policies a scenario or ``--detector`` can name."""
    from rich.table import Table

    from twin.edge.plugins.choice import PluginChoices
    from twin.edge.plugins.registry import GROUPS, available

    table = Table(title="plug-ins (choose by name, or give package.module:attr)")
    for column in ("kind", "name", "from", "entry-point group"):
        table.add_column(column, overflow="fold")
    for kind, group in GROUPS.items():
        for name, origin in sorted(available(kind).items()):
            table.add_row(kind, name, origin, group)
    Console().print(table)
    defaults = PluginChoices()
    Console().print(f"defaults: detector {defaults.detector.use}, diagnoser {defaults.diagnoser.use}, "
                    f"control policy {defaults.control_policy.use}")


def main() -> None:  # pragma: no cover - entry point
    """Console entry point."""
    sys.exit(app())
