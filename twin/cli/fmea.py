"""``twin fmea ...`` and ``twin knowledge ...``: FMEA sheets into the asset catalogue, and a knowledge file drafted
from one.

* ``twin fmea import FILE [--catalogue runs/assets.duckdb]`` — read a design or process FMEA (AIAG-VDA columns,
  CSV or Excel) whole and register it: the sheet as an asset of kind ``fmea``, its lines in the ``fmea`` table.
* ``twin knowledge from-fmea FMEA_FILE --map "TEXT=NAME" ... --out knowledge.yaml`` — draft a knowledge file:
  cause -> failure mode -> effect links between the plant names the ``--map`` patterns give the sheet's cells.

Everything is in :mod:`twin.edge.assets.fmea`; a bad sheet is refused whole, one line per bad cell on stderr
naming file, row and column, exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console

from twin.cli.common import command_group, fail

if TYPE_CHECKING:
    from twin.edge.assets.fmea import FmeaSheet

fmea_app = command_group("FMEA sheets (AIAG-VDA design or process FMEA) in the asset catalogue.")
knowledge_app = command_group("Knowledge files drafted from what engineers already have.")
CATALOGUE = Path("runs") / "assets.duckdb"


def _read(path: Path) -> FmeaSheet:
    """The sheet, or exit 2 with every bad cell (file, row, column), one a line."""
    from twin.edge.assets.fmea import read_fmea

    try:
        return read_fmea(path)
    except ValueError as err:  # FmeaError, ConfigError: both name the file
        raise fail(str(err)) from None


def _say(text: str, style: str | None = None) -> None:
    """One plain line on stdout (it may quote a user's file: no markup)."""
    Console().print(text, style=style, markup=False, highlight=False, soft_wrap=True)


@fmea_app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., help="the FMEA sheet, .csv or .xlsx (AIAG-VDA columns)"),
    catalogue: Path = typer.Option(CATALOGUE, help="the catalogue file (DuckDB)"),
) -> None:
    """Import an FMEA sheet into the catalogue: every line, or none when any row is bad."""
    from rich.table import Table

    from twin.edge.assets.catalogue import Catalogue

    sheet = _read(file)
    try:
        with Catalogue(catalogue) as cat:
            asset = cat.put_fmea(sheet)
    except ValueError as err:  # a file that is not a catalogue
        raise fail(str(err)) from None
    table = Table(title=asset.id, show_header=False)
    table.add_row("lines imported", str(len(sheet.rows)))
    for priority, count in sheet.by_priority().items():
        table.add_row(f"action priority {priority}", str(count))
    table.add_row("priority from the AIAG-VDA table", f"{sheet.computed} (no AP in the sheet)")
    table.add_row("sheet's priority kept against the table", str(len(sheet.warnings)))
    Console().print(table)
    for warning in sheet.warnings:
        _say(str(warning), "yellow")
    _say(f"catalogue: {catalogue}")


@knowledge_app.command("from-fmea")
def from_fmea_cmd(
    fmea_file: Path = typer.Argument(..., help="the FMEA sheet, .csv or .xlsx"),
    maps: list[str] = typer.Option(..., "--map", help="TEXT=NAME: a cell holding every word of TEXT stands for NAME "
                                                      "(a tag or asset path; '*' for one segment; several names "
                                                      "separated by commas); repeat for each"),
    out: Path = typer.Option(..., "--out", help="the knowledge file to write (.yaml)"),
    plant: Optional[str] = typer.Option(None, help="the plant; default: the first word of the first --map name"),
    force: bool = typer.Option(False, "--force", help="overwrite --out when it exists"),
) -> None:
    """Draft a knowledge file from an FMEA sheet: cause -> failure mode -> effect links, each noting its FMEA rows
    and their severity; what no --map matches is listed under todo in the file's header comment."""
    from twin.edge.assets.fmea import draft_knowledge, fmea_refs, knowledge_yaml, parse_mapping

    if out.suffix not in (".yaml", ".yml"):
        raise fail(f"--out must end in .yaml, not {out.suffix or 'nothing'!r}")
    if out.exists() and not force:
        raise fail(f"--out {out} exists; --force overwrites it")
    try:
        patterns = dict(parse_mapping(text) for text in maps)
    except ValueError as err:
        raise fail(str(err)) from None
    sheet = _read(fmea_file)
    draft = draft_knowledge(sheet, patterns, plant)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(knowledge_yaml(draft), encoding="utf-8")
    linked = {ref.row_id for link in draft["links"] for ref in fmea_refs(link["note"])}
    count = len(draft["links"])
    _say(f"wrote {count} link{'' if count == 1 else 's'} to {out}, from {len(linked)} of {len(sheet.rows)} FMEA "
         "lines; what no --map matched is under todo in its header comment")
