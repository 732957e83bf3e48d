"""``twin tags export|import|discover``: tag maps out of scenarios and tag maps, in from vendor tag exports,
and from browsing an OPC UA server.

Reading and writing the vendor formats is :mod:`virtual_plc.tagimport`, browsing is
:mod:`virtual_plc.discover`; here are only the arguments, the summary and the exit codes (0 done,
1 nothing imported or the server could not be browsed, 2 a file or an option it cannot use).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from twin.cli.common import command_group, console, fail

if TYPE_CHECKING:
    from rich.table import Table

    from virtual_plc.discover import DiscoveryResult
    from virtual_plc.tagimport import ImportResult
    from virtual_plc.tagmap import TagMap

tags_app = command_group("Tag maps: export them, import a plant's tag export, discover them on an OPC UA server.")
SHOWN_ROWS = 10  # skipped rows and notes named one by one in the summary; the rest are counted
EXPORT_FORMATS = ("twin", "kepware")


@tags_app.command("export")
def tags_export(
    source: Path = typer.Argument(..., help="a scenario YAML file, or a tag map (.yaml or .csv)"),
    out: Path = typer.Option(Path("tags.csv"), help="output file: .csv (PLC tag export) or .yaml"),
    to: str = typer.Option("twin", "--to", help="twin: our tag map (CSV or YAML by --out); "
                                                "kepware: Kepware's CSV tag import (--out .csv)"),
) -> None:
    """Write a scenario's or a tag map file's tag map (every address and OPC UA node explicit)."""
    from virtual_plc.tagimport import KepwareExportError, kepware_notes, write_kepware_csv

    if to not in EXPORT_FORMATS:
        raise fail(f"--to must be {' or '.join(EXPORT_FORMATS)}, not {to!r}")
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".yaml", ".yml") or (to == "kepware" and suffix != ".csv"):
        raise fail(f"--out must end in {'.csv' if to == 'kepware' else '.csv or .yaml'}, not {out.suffix!r}")
    tagmap = _tagmap_of(source)
    if to == "kepware":
        try:
            write_kepware_csv(tagmap, out)
        except KepwareExportError as err:
            raise fail(f"{source}: {err}") from None
        for note in kepware_notes(tagmap):
            console.print(f"note: {note}", style="yellow", markup=False, highlight=False)
    elif suffix == ".csv":
        tagmap.to_csv(out)
    else:
        tagmap.to_yaml(out)
    console.print(f"wrote {len(tagmap)} tags to {out}", markup=False, highlight=False, soft_wrap=True)


def _tagmap_of(source: Path) -> TagMap:
    """The tag map of a tag map file (.csv, or YAML with ``tags:``) or of a scenario, allocated."""
    from qtconfig import ConfigError, read_yaml
    from virtual_plc.tagmap import load_tagmap

    try:
        document = read_yaml(source) if source.suffix.lower() in (".yaml", ".yml") else None
        if source.suffix.lower() == ".csv" or (isinstance(document, dict) and "tags" in document):
            return load_tagmap(source)
        from twin.harness.episode import build_episode_plant, scenario_tagmap
        from twin.harness.scenario import load_scenario

        spec = load_scenario(source)
        return scenario_tagmap(spec, build_episode_plant(spec, spec.seed))
    except ConfigError as err:
        raise fail(f"invalid input: {err}") from None


@tags_app.command("import")
def tags_import(
    file: Path = typer.Argument(..., help="the tag export: a Kepware or Studio 5000 CSV, a TIA Portal .xlsx"),
    source_format: str = typer.Option(..., "--from", help="kepware | tia | rockwell"),
    out: Path = typer.Option(Path("tags.yaml"), help="the tag map to write: .yaml or .csv"),
    plant: Optional[str] = typer.Option(None, help="plant name, first word of every tag name (default: FILE's name)"),
) -> None:
    """Make a tag map from a plant's tag export; every row it cannot import is named (file, row, column)."""
    from qtconfig import ConfigError
    from virtual_plc.tagimport import FORMATS, import_tags

    if source_format not in FORMATS:
        raise fail(f"--from must be {', '.join(FORMATS)}, not {source_format!r}")
    if out.suffix.lower() not in (".csv", ".yaml", ".yml"):
        raise fail(f"--out must end in .yaml or .csv, not {out.suffix!r}")
    try:
        result = import_tags(file, source_format, plant)
    except ConfigError as err:
        raise fail(f"cannot read the {source_format} export: {err}") from None
    _print_summary(result)
    if not result.imported:
        raise fail(f"nothing imported from {file}: every row was skipped; no tag map written", 1)
    (result.tagmap.to_csv if out.suffix.lower() == ".csv" else result.tagmap.to_yaml)(out)
    console.print(f"wrote {len(result.tagmap)} tags to {out}", markup=False, highlight=False, soft_wrap=True)


def _print_summary(result: ImportResult) -> None:
    """Counts (imported, skipped by reason), then the first skipped rows and notes by file, row and column."""
    table = _count_table(f"{result.file} ({result.fmt})", [("rows read", result.rows), ("imported", result.imported)],
                         len(result.skipped), result.skipped_by_reason())
    console.print(table)
    _print_rows("skipped", [str(s) for s in result.skipped], "red")
    _print_rows("note", [str(n) for n in result.notes], "yellow")
    for remark in result.remarks:
        console.print(f"note: {remark}", style="yellow", markup=False, soft_wrap=True, highlight=False)


def _count_table(title: str | None, counts: list[tuple[str, int]], skipped: int, reasons: dict[str, int]) -> Table:
    """A two-column table: the counts, then how many were skipped, by reason."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=None if title is None else Text(title), show_header=False)
    for label, count in [*counts, ("skipped", skipped)]:
        table.add_row(label, str(count))
    for reason, count in reasons.items():
        table.add_row(Text(f"  {reason}"), str(count))  # Text: a reason may hold brackets, never markup
    return table


def _print_rows(label: str, lines: list[str], style: str) -> None:
    """The first SHOWN_ROWS lines, each prefixed by ``label``, then how many more there are."""
    for line in lines[:SHOWN_ROWS]:
        console.print(f"{label}: {line}", style=style, markup=False, soft_wrap=True, highlight=False)
    if len(lines) > SHOWN_ROWS:
        console.print(f"{label}: … and {len(lines) - SHOWN_ROWS} more", style=style, markup=False, highlight=False)


@tags_app.command("discover")
def tags_discover(
    url: str = typer.Argument(..., help="the OPC UA server: opc.tcp://HOST:PORT"),
    out: Path = typer.Option(Path("tags.yaml"), help="the tag map to write: .yaml or .csv"),
    start: str = typer.Option("i=85", help="node to browse from (default: the Objects folder); "
                                            "nsu=URI;s=... names its namespace by URI"),
    depth: int = typer.Option(10, min=0, help="references to follow below the start node"),
    plant: Optional[str] = typer.Option(None, help="plant name, first word of every tag name "
                                                   "(default: the server's application name, else 'line')"),
    period_ms: int = typer.Option(1000, min=1, help="sample period of a variable whose MinimumSamplingInterval "
                                                    "says nothing (0 or -1)"),
    include_standard: bool = typer.Option(False, "--include-standard",
                                          help="also browse the standard namespace (ns=0: the Server object)"),
    security: str = typer.Option("none", help="none | Basic256Sha256"),
    mode: str = typer.Option("SignAndEncrypt", help="Sign | SignAndEncrypt (with Basic256Sha256)"),
    certificate: Optional[Path] = typer.Option(None, exists=True, dir_okay=False,
                                               help="this client's certificate (twin certs create makes one)"),
    private_key: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="this client's private key"),
    server_certificate: Optional[Path] = typer.Option(None, exists=True, dir_okay=False,
                                                      help="the server certificate to trust (default: the one the "
                                                           "server presents)"),
    application_uri: str = typer.Option("urn:quality-twin:edge", help="this client's application URI (must be the "
                                                                       "certificate's)"),
    credentials_file: Optional[Path] = typer.Option(None, exists=True, dir_okay=False,
                                                    help="YAML file with username and password for the login"),
    credentials_env: Optional[str] = typer.Option(None, help="login from PREFIX_USERNAME and PREFIX_PASSWORD"),
    timeout: float = typer.Option(10.0, min=0.1, help="seconds to wait for each answer of the server"),
) -> None:
    """Browse an OPC UA server and write a tag map: one tag per variable it can map, the others named with why."""
    import asyncio

    from pydantic import ValidationError

    from qtconfig import ConfigError
    from twin.cli.common import quiet_libraries
    from twin.harness.progress import progress_bar
    from virtual_plc.discover import DiscoveryError, discover, endpoint_for

    quiet_libraries()
    if out.suffix.lower() not in (".csv", ".yaml", ".yml"):
        raise fail(f"--out must end in .yaml or .csv, not {out.suffix!r}")
    if security not in ("none", "Basic256Sha256") or mode not in ("Sign", "SignAndEncrypt"):
        raise fail("--security must be none or Basic256Sha256, --mode Sign or SignAndEncrypt")
    if security != "none" and (certificate is None or private_key is None):
        raise fail(f"--security {security} needs --certificate and --private-key (twin certs create makes a pair)")
    if credentials_file is not None and credentials_env is not None:
        raise fail("give --credentials-file or --credentials-env, not both")
    files = {"certificate": certificate, "private_key": private_key, "server_certificate": server_certificate,
             "credentials_file": credentials_file}
    try:
        endpoint = endpoint_for(url, timeout_s=timeout, security=security, mode=mode, application_uri=application_uri,
                                credentials_env=credentials_env,
                                **{k: str(v.resolve()) for k, v in files.items() if v is not None})
    except (ValueError, ValidationError) as err:
        raise fail(f"cannot use {url}: {err}") from None
    try:
        with progress_bar(console, "nodes browsed") as bar:
            task = bar.add_task("browsing", total=None)
            result = asyncio.run(discover(url, endpoint=endpoint, start=start, depth=depth, plant=plant,
                                          default_period_ms=period_ms, include_standard=include_standard,
                                          progress=lambda done, total: bar.update(task, completed=done, total=total)))
    except DiscoveryError as err:
        raise fail(str(err), 1) from None
    except ConfigError as err:
        raise fail(f"cannot log in: {err}") from None
    except ValueError as err:
        raise fail(f"{url}: {err}") from None
    _print_discovery(result)
    if not len(result.tagmap):
        raise fail(f"no variable of {url} became a tag; no tag map written", 1)
    (result.tagmap.to_csv if out.suffix.lower() == ".csv" else result.tagmap.to_yaml)(out)
    console.print(f"wrote {len(result.tagmap)} tags to {out}", markup=False, highlight=False, soft_wrap=True)


def _print_discovery(result: DiscoveryResult) -> None:
    """Counts (nodes, variables, tags, skipped by reason), then the first skipped variables and the notes."""
    console.print(f"{result.url}: plant {result.tagmap.plant}", markup=False, highlight=False, soft_wrap=True)
    console.print(_count_table(None, [("nodes browsed", result.browsed), ("variables", result.variables),
                                      ("tags", len(result.tagmap))], len(result.skipped), result.skipped_by_reason()))
    _print_rows("skipped", [str(s) for s in result.skipped], "red")
    _print_rows("note", result.notes, "yellow")
