"""``twin edge run``: the edge as its own process against the PLCs of an endpoint file (:mod:`twin.edge.realtime`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Optional, cast

import typer

from twin.cli.common import (
    check_duration,
    check_number,
    command_group,
    console,
    fail,
    host_port,
    password_from,
    quiet_libraries,
)
from twin.edge.sparkplug.forward import DEFAULT_MAX_SAMPLES

edge_app = command_group("The edge on its own: collection, detection, root cause, control.")


@edge_app.command("run")
def edge_run(
    endpoints: Path = typer.Option(..., help="endpoint file: where the PLCs are, and their tag map"),
    settings: Optional[Path] = typer.Option(None, help="YAML with detection/rootcause/control/alignment blocks "
                                                      "(a scenario file will do)"),
    out: Path = typer.Option(Path("runs/edge"), help="where the historian, ledger and edge.json go"),
    policy: Optional[str] = typer.Option(None, help="control policy: off | recommend | auto"),
    broker: Optional[str] = typer.Option(None, help="MQTT broker HOST:PORT (default: an in-process amqtt)"),
    username: Optional[str] = typer.Option(None, help="the edge's MQTT account (default: $TWIN_MQTT_USERNAME, 'edge')"),
    password_file: Optional[Path] = typer.Option(
        None, help="file holding the edge's MQTT password (default: $TWIN_MQTT_PASSWORD)"),
    bridge: bool = typer.Option(True, help="run the PLC bridge in this process (--no-bridge: another does)"),
    keys: Optional[Path] = typer.Option(None, help="the line's key file (twin keys create): signs commands and "
                                                  "ledger; a bridge in another process needs the same file "
                                                  "(default: fresh keys for this run)"),
    scan_ms: int = typer.Option(10, help="edge scan period, ms of PLC time"),
    speed: float = typer.Option(1.0, help="PLC seconds per wall second (match the PLC's)"),
    duration: Optional[float] = typer.Option(None, help="stop after this many seconds of PLC time (default: never)"),
    wall_seconds: Optional[float] = typer.Option(None, help="stop after this many wall-clock seconds (default: never)"),
    knowledge: Optional[Path] = typer.Option(None, help="knowledge file (default: the settings' rootcause.knowledge)"),
    model: Optional[Path] = typer.Option(None, help="root-cause model file (default: the settings' rootcause.model)"),
    playbook: Optional[Path] = typer.Option(None, help="playbook file (default: the settings' control.playbook)"),
    sparkplug: Optional[str] = typer.Option(None, help="also publish as Sparkplug B edge node GROUP/EDGE_NODE on "
                                                       "--broker, each PLC a device (docs/how-to/sparkplug.md)"),
    sparkplug_primary_host: Optional[str] = typer.Option(
        None, help="with --sparkplug: publish only while this primary host's STATE says online (buffer meanwhile)"),
    partitions: Optional[Path] = typer.Option(
        None, help="also write every sample as hive-partitioned Parquet under this folder, which the edges of a "
                   "hall may share: line=LINE/date=DAY/*.parquet (default: the settings' historian.partitions, else "
                   "none; docs/how-to/historian.md)"),
    line: Optional[str] = typer.Option(None, help="this edge's line in the partitions (default: the settings' "
                                                  "historian.line, else the tag map's plant)"),
    sparkplug_buffer: int = typer.Option(
        DEFAULT_MAX_SAMPLES, help="with --sparkplug: samples the store-and-forward buffer holds while the broker or "
                                  "host is away (oldest go first)"),
) -> None:
    """Run collection, detection, root cause and control in real time against the PLCs of an endpoint file."""
    from qtconfig import ConfigError
    from twin.contracts import Policy, choices
    from twin.edge.bridge.mqtt import BrokerAddress
    from twin.edge.keys import KeyFileError, load_keys
    from twin.edge.realtime import run_edge
    from twin.edge.settings import describe_files, load_edge_settings, with_files
    from twin.harness.plants import with_plant_defaults
    from virtual_plc.endpoints import load_endpoints

    quiet_libraries()
    check_number("--speed", speed, above=0)
    check_number("--scan-ms", scan_ms, at_least=1, at_most=60_000)
    check_duration("--duration", duration)
    check_number("--wall-seconds", wall_seconds, above=0)
    if policy is not None and policy not in set(Policy):
        raise fail(f"--policy must be {choices(Policy)}, not {policy!r}")
    address = None
    if broker is not None:
        host, port = host_port("--broker", broker)
        password = password_from("--password-file", password_file)
        if password is not None and not username:
            raise fail("--password-file needs --username")
        address = BrokerAddress(host, port, username, password)
    elif username or password_file:
        raise fail("--username and --password-file need --broker (the in-process broker makes its own accounts)")
    if line is not None:
        from twin.edge.partitions import check_name

        try:
            check_name(line, "line")
        except ValueError as err:
            raise fail(f"--line: {err}") from None
    node_options = None
    check_number("--sparkplug-buffer", sparkplug_buffer, at_least=0)
    if sparkplug is not None:
        from twin.edge.sparkplug.node import SparkplugOptions
        from twin.edge.sparkplug.topics import check_id, parse_node_id

        try:
            group, node = parse_node_id(sparkplug)
            host = check_id(sparkplug_primary_host, "primary host id") if sparkplug_primary_host else None
        except ValueError as err:
            raise fail(f"--sparkplug: {err}") from None
        if address is None:
            raise fail("--sparkplug needs --broker (a broker the plant's Sparkplug host reaches)")
        node_options = SparkplugOptions(group, node, host, sparkplug_buffer)
    elif sparkplug_primary_host:
        raise fail("--sparkplug-primary-host needs --sparkplug GROUP/EDGE_NODE")
    try:
        line_keys = load_keys(keys) if keys is not None else None
    except KeyFileError as err:
        raise fail(f"--keys: {err}") from None
    try:
        edge_settings, base = load_edge_settings(settings)
        plant = load_endpoints(endpoints).tagmap.plant  # a plant we ship brings its own knowledge, model, playbook
        edge_settings = with_plant_defaults(with_files(edge_settings, knowledge, model, playbook), plant)
        edge_settings = edge_settings.with_partitions(partitions, line)
        if line is not None and edge_settings.historian.partitions is None:
            raise fail("--line needs --partitions (or historian.partitions in the settings)")
        console.print(f"[green]edge[/green] reading {endpoints}; writing {out}")
        for line in describe_files(edge_settings, base):
            console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
        result = asyncio.run(run_edge(endpoints, out, settings=edge_settings, settings_base=base,
                                      policy=cast(Optional[Policy], policy), broker=address, bridge=bridge,
                                      scan_ms=scan_ms, speed=speed, duration_s=wall_seconds,
                                      plant_s=duration, keys=line_keys, sparkplug=node_options))
    except ConfigError as err:
        raise fail(f"invalid configuration: {err}") from None
    except KeyboardInterrupt:
        console.print("stopped")
        return
    except (OSError, ConnectionError) as err:
        raise fail(f"edge stopped: {err}", 1) from None
    console.print(f"{result.frames:,} frames ({result.late_ticks:,} late), {len(result.alarms)} alarms, "
                  f"{len(result.diagnoses)} diagnoses, {len(result.commands)} commands; see {out / 'edge.json'}")
