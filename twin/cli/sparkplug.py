"""``twin sparkplug listen``: a Sparkplug B host that stores any edge node's data in our historian
(:mod:`twin.edge.sparkplug.host`)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Optional

import typer

from twin.cli.common import check_number, command_group, console, fail, host_port, password_from, quiet_libraries

sparkplug_app = command_group("Sparkplug B: read a line's edge nodes into the historian.")


@sparkplug_app.command("listen")
def listen(
    group: str = typer.Option(..., help="Sparkplug group id to follow (every edge node in it)"),
    out: Path = typer.Option(..., help="folder for historian.duckdb"),
    broker: str = typer.Option("127.0.0.1:1883", help="MQTT broker HOST:PORT"),
    username: Optional[str] = typer.Option(None, help="MQTT account (default: $TWIN_MQTT_USERNAME)"),
    password_file: Optional[Path] = typer.Option(None, help="file holding the password (default: $TWIN_MQTT_PASSWORD)"),
    host_id: Optional[str] = typer.Option(None, help="act as primary host: publish spBv1.0/STATE/HOST_ID"),
    period_ms: int = typer.Option(1000, help="sample period recorded for each element (staleness when read back)"),
    wall_seconds: Optional[float] = typer.Option(None, help="stop after this many wall seconds (default: never)"),
    messages: Optional[int] = typer.Option(None, help="stop after this many messages (default: never)"),
) -> None:
    """Follow births, aliases, deaths and sequence numbers of a group's edge nodes; store their data."""
    from twin.contracts import RunFiles
    from twin.edge.bridge.mqtt import BrokerAddress, MqttUnavailable
    from twin.edge.sparkplug.host import SparkplugHost, SparkplugStore

    quiet_libraries()
    check_number("--wall-seconds", wall_seconds, above=0)
    check_number("--messages", messages, at_least=1)
    check_number("--period-ms", period_ms, at_least=1)
    host, port = host_port("--broker", broker)
    password = password_from("--password-file", password_file)
    if password is None:
        password = os.environ.get("TWIN_MQTT_PASSWORD")
    user = username or os.environ.get("TWIN_MQTT_USERNAME")
    out.mkdir(parents=True, exist_ok=True)

    async def main() -> str:
        store = SparkplugStore(out / RunFiles.HISTORIAN, period_ms=period_ms)
        reader = SparkplugHost(BrokerAddress(host, port, user, password), group, store, host_id=host_id)
        try:
            await reader.start()
            counts = await reader.run(duration_s=wall_seconds, messages=messages)
        finally:
            await reader.close()
        return (f"{counts.messages:,} messages, {counts.births} births, {counts.deaths} deaths, "
                f"{counts.samples:,} samples stored, {counts.seq_gaps} sequence gaps, "
                f"{counts.rebirth_requests} rebirth requests")

    try:
        summary = asyncio.run(main())
    except ValueError as err:
        raise fail(str(err)) from None
    except (MqttUnavailable, OSError) as err:
        raise fail(f"sparkplug listen stopped: {err}", 1) from None
    except KeyboardInterrupt:
        console.print("stopped")
        return
    console.print(f"{summary}; see {out / RunFiles.HISTORIAN}")
