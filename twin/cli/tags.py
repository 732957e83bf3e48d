"""``twin tags export|import``: tag maps out of scenarios and tag maps, and in from vendor tag exports.

Reading and writing the vendor formats is :mod:`virtual_plc.tagimport`; here are only the
arguments, the summary and the exit codes (0 done, 1 nothing imported, 2 a file it cannot read).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from twin.cli.common import command_group, console, fail

if TYPE_CHECKING:
    from virtual_plc.tagimport import ImportResult
    from virtual_plc.tagmap import TagMap

tags_app = command_group("Tag maps: export them, import a plant's tag export.")
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
    from virtual_plc.tagimport import write_kepware_csv

    if to not in EXPORT_FORMATS:
        raise fail(f"--to must be {' or '.join(EXPORT_FORMATS)}, not {to!r}")
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".yaml", ".yml") or (to == "kepware" and suffix != ".csv"):
        raise fail(f"--out must end in {'.csv' if to == 'kepware' else '.csv or .yaml'}, not {out.suffix!r}")
    tagmap = _tagmap_of(source)
    if to == "kepware":
        write_kepware_csv(tagmap, out)
        little = sum(t.word_order == "little" for t in tagmap.tags)
        if little:
            console.print(f"note: {little} tag(s) use word order 'little'; Kepware sets word order per device "
                          "(Modbus settings: first word low)", style="yellow", markup=False, highlight=False)
    elif suffix == ".csv":
        tagmap.to_csv(out)
    else:
        tagmap.to_yaml(out)
    console.print(f"wrote {len(tagmap)} tags to {out}", markup=False, highlight=False)


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
    console.print(f"wrote {len(result.tagmap)} tags to {out}", markup=False, highlight=False)


def _print_summary(result: ImportResult) -> None:
    """Counts (imported, skipped by reason), then the first skipped rows and notes by file, row and column."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(f"{result.file} ({result.fmt})"), show_header=False)
    table.add_row("rows read", str(result.rows))
    table.add_row("imported", str(result.imported))
    table.add_row("skipped", str(len(result.skipped)))
    for reason, count in result.skipped_by_reason().items():
        table.add_row(Text(f"  {reason}"), str(count))  # Text: a reason may hold brackets, never markup
    console.print(table)
    _print_rows("skipped", [str(s) for s in result.skipped], "red")
    _print_rows("note", [str(n) for n in result.notes], "yellow")
    for remark in result.remarks:
        console.print(f"note: {remark}", style="yellow", markup=False, soft_wrap=True, highlight=False)


def _print_rows(label: str, lines: list[str], style: str) -> None:
    """The first SHOWN_ROWS lines, each prefixed by ``label``, then how many more there are."""
    for line in lines[:SHOWN_ROWS]:
        console.print(f"{label}: {line}", style=style, markup=False, soft_wrap=True, highlight=False)
    if len(lines) > SHOWN_ROWS:
        console.print(f"{label}: … and {len(lines) - SHOWN_ROWS} more", style=style, markup=False, highlight=False)
