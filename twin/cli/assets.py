"""``twin assets ...``: the catalogue of quality data, its credibility, and the data health of runs.

* ``twin assets scan PATH...`` — register a run directory's tags and historian (or a model, a knowledge file).
* ``twin assets list [--kind K] [--label L]`` — the assets, with source kind and credibility.
* ``twin assets show ID`` — one asset, every field, and the per-run measurements behind a tag's credibility.
* ``twin assets label ID LABEL...`` — business-scenario labels, owner and compliance.
* ``twin assets lineage ASSET [--upstream|--downstream] [--depth N] [--plot FILE]`` — where an asset came from
  and what was made of it.
* ``twin assets health RUN_DIR...`` — completeness, timeliness, sensor health and clock agreement per step,
  and what the data-health gate would decide.

Everything is in :mod:`twin.edge.assets`; bad input (an unknown id, a file that is not a catalogue, a folder
that is not a run) is one line on stderr and exit 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Optional, TypeVar

import typer
from rich.console import Console

from twin.cli.common import command_group, fail

if TYPE_CHECKING:
    from twin.edge.assets.catalogue import Asset, Catalogue
    from twin.edge.assets.health import RunHealth
    from twin.edge.assets.lineage import Lineage

assets_app = command_group("Quality data as assets: catalogue, credibility, data health.")
CATALOGUE = Path("runs") / "assets.duckdb"
CATALOGUE_HELP = "the catalogue file (DuckDB)"
T = TypeVar("T")


@contextmanager
def _catalogue(path: Path, *, create: bool = True) -> Iterator[Catalogue]:
    """The catalogue at ``path``, open; any problem with it or with what a command asks of it is one line, exit 2."""
    from twin.edge.assets.catalogue import Catalogue

    with _plainly(lambda: Catalogue(path, create=create)) as catalogue, catalogue:
        yield catalogue


@contextmanager
def _plainly(make: Callable[[], T]) -> Iterator[T]:
    """Run ``make`` and the block; a ConfigError, KeyError, ValueError or missing file becomes one line, exit 2."""
    try:
        yield make()
    except KeyError as err:
        raise fail(str(err.args[0]) if err.args else str(err)) from None
    except (ValueError, FileNotFoundError) as err:  # ConfigError is a ValueError: file, field, line
        raise fail(str(err)) from None


@assets_app.command("scan")
def scan_cmd(
    paths: list[Path] = typer.Argument(..., help="run directories (or model .pt / knowledge .yaml files)"),
    catalogue: Path = typer.Option(CATALOGUE, help=CATALOGUE_HELP),
) -> None:
    """Register what each path holds: a run's tags and historian (measured on it), a model, a knowledge file."""
    with _catalogue(catalogue) as cat:
        for path in paths:
            written = cat.scan(path)
            kinds = {k: sum(a.kind == k for a in written) for k in dict.fromkeys(a.kind for a in written)}
            low = min(written, key=lambda a: a.credibility)
            Console().print(f"{path}: " + ", ".join(f"{n} {k}" for k, n in kinds.items())
                            + f"; lowest credibility {low.credibility:.3f} ({low.id})", markup=False,
                            highlight=False, soft_wrap=True)
    Console().print(f"catalogue: {catalogue}", markup=False, highlight=False, soft_wrap=True)


@assets_app.command("list")
def list_cmd(
    kind: Optional[str] = typer.Option(None, help="only this kind: tag, historian, model, knowledge, supply, fmea"),
    label: Optional[str] = typer.Option(None, help="only assets carrying this label"),
    catalogue: Path = typer.Option(CATALOGUE, help=CATALOGUE_HELP),
) -> None:
    """The assets of the catalogue, with source kind, credibility, unit, owner and labels."""
    from twin.edge.assets.catalogue import KINDS

    if kind is not None and kind not in KINDS:
        raise fail(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    with _catalogue(catalogue, create=False) as cat:
        _table(cat.assets(kind, label), f"{catalogue}")


@assets_app.command("show")
def show_cmd(
    asset_id: str = typer.Argument(..., metavar="ID", help="asset id, e.g. tag:coater.coolant.flow"),
    catalogue: Path = typer.Option(CATALOGUE, help=CATALOGUE_HELP),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """One asset: every field, and (a tag) the per-run measurements its credibility pools."""
    with _catalogue(catalogue, create=False) as cat:
        asset, measured = cat.get(asset_id), cat.measurements(asset_id)
    record = {**vars(asset), "updated_utc": str(asset.updated_utc), "measurements": measured}
    if as_json:
        typer.echo(json.dumps(record, indent=2))
        return
    from rich.table import Table

    table = Table(title=asset.id, show_header=False)
    for key, value in record.items():
        if key != "measurements":
            table.add_row(key, _cell(value))
    for m in measured:
        table.add_row(f"run {m['run']}", f"good {m['good_share']:.3f}, gaps {m['gap_share']:.3f}, clock "
                      f"{_cell(m['clock_agreement'])}, {m['expected']} samples expected")
    Console().print(table)


@assets_app.command("label")
def label_cmd(
    asset_id: str = typer.Argument(..., metavar="ID", help="asset id"),
    labels: Optional[list[str]] = typer.Argument(None, help="business-scenario labels, e.g. 'weld-spatter -> "
                                                            "body-strength'"),
    remove: bool = typer.Option(False, "--remove", help="remove these labels instead of adding them"),
    owner: Optional[str] = typer.Option(None, help="who answers for the asset"),
    personal_data: Optional[bool] = typer.Option(None, "--personal-data/--no-personal-data",
                                                 help="does it hold personal data (compliance)"),
    retention_days: Optional[int] = typer.Option(None, min=0, help="how long it must be kept, in days"),
    catalogue: Path = typer.Option(CATALOGUE, help=CATALOGUE_HELP),
) -> None:
    """Add or remove labels of an asset, and set its owner and compliance."""
    with _catalogue(catalogue, create=False) as cat:
        asset = cat.label(asset_id, labels or [], remove=remove, owner=owner, personal_data=personal_data,
                          retention_days=retention_days)
    _table([asset], f"{catalogue}")


@assets_app.command("health")
def health_cmd(
    runs: list[Path] = typer.Argument(..., help="run directories (each with its historian.duckdb)"),
    out: Optional[Path] = typer.Option(None, "--json", help="also write the health of every step as JSON here"),
    healthy_at: float = typer.Option(0.95, min=0.0, max=1.0, help="a step whose weakest measure reaches this is "
                                                                  "healthy"),
    required_share: float = typer.Option(0.87, min=0.0, max=1.0, help="share of healthy steps the gate requires"),
    subgroup_ms: int = typer.Option(1000, min=1, help="subgroup length for timeliness and the sensor checks"),
) -> None:
    """Data health per process step of each run, and what the data-health gate would decide."""
    from twin.edge.assets.gate import check_gate
    from twin.edge.assets.health import run_health

    with _plainly(lambda: [run_health(r, subgroup_ms=subgroup_ms, healthy_at=healthy_at) for r in runs]) as reports:
        gate = check_gate(reports, required_share, healthy_at)
    for report in reports:
        print_health(report)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"runs": [r.to_dict() for r in reports], "gate": gate.record()}, indent=2) + "\n")
    Console().print(gate.message(), markup=False, highlight=False, soft_wrap=True)


@assets_app.command("lineage")
def lineage_cmd(
    asset_id: str = typer.Argument(..., metavar="ASSET", help="where to start, e.g. field_failure:10234, "
                                   "historian:runs/x, model:plant_models/coater/rootcause.pt"),
    upstream: bool = typer.Option(False, "--upstream", help="where it came from (the default)"),
    downstream: bool = typer.Option(False, "--downstream", help="what was made of it (with --upstream: both ways)"),
    depth: int = typer.Option(12, min=1, max=100, help="how many edges to follow"),
    plot: Optional[Path] = typer.Option(None, help="also draw it into this PNG"),
    catalogue: Path = typer.Option(CATALOGUE, help=CATALOGUE_HELP),
    as_json: bool = typer.Option(False, "--json", help="print the edges as JSON instead of a tree"),
) -> None:
    """Which assets ASSET was derived from (or what was derived from it), edge by edge, as a tree or a picture."""
    from twin.edge.assets.lineage import draw, walk

    direction = "both" if upstream and downstream else "downstream" if downstream else "upstream"
    with _catalogue(catalogue, create=False) as cat, _plainly(lambda: walk(cat.con, asset_id, direction,
                                                                              depth)) as found:
        pass
    if as_json:
        typer.echo(json.dumps({"start": found.start, "direction": found.direction,
                               "edges": [vars(s) for s in found.steps]}, indent=2))
    else:
        print_lineage(found)
    if plot is not None:
        Console().print(f"drew {draw(found, plot)}", markup=False, highlight=False, soft_wrap=True)


def print_lineage(found: Lineage) -> None:
    """The lineage as a tree from its start; a node reached twice is shown once, a long list of siblings cut."""
    from rich.tree import Tree

    children: dict[str, list[tuple[str, str]]] = {}
    for step in found.steps:
        arrow = "<-" if step.way == "upstream" else "->"
        children.setdefault(step.near, []).append((step.far, f"{arrow} {step.relation}"))
    tree = Tree(f"[bold]{found.start}[/bold] ({found.direction}, {len(found.nodes())} nodes)")
    shown = {found.start}

    def grow(branch: Tree, node: str) -> None:
        kids = [(far, rel) for far, rel in children.get(node, []) if far not in shown]
        for far, rel in kids[:12]:
            shown.add(far)
            grow(branch.add(f"{rel} [cyan]{far}[/cyan]"), far)
        if len(kids) > 12:
            branch.add(f"[italic]... {len(kids) - 12} more[/italic]")

    grow(tree, found.start)
    Console().print(tree)


def print_health(report: RunHealth) -> None:
    """One table per run: a row per step with its measures, score and problems."""
    from rich.table import Table

    table = Table(title=f"data health: {report.run} ({report.healthy_share:.0%} of steps healthy)")
    for col in ("step", "elements", "completeness", "timeliness", "sensors", "clock", "timestamps", "score",
                "problems"):
        table.add_column(col, justify="left" if col in ("step", "problems") else "right", overflow="fold")
    for s in report.steps:
        mark = "" if s.score >= report.healthy_at else " ✗"
        table.add_row(s.step, str(s.elements), f"{s.completeness:.3f}", f"{s.timeliness:.3f}", f"{s.sensors:.3f}",
                      _cell(s.clock), _cell(s.timestamps), f"{s.score:.3f}{mark}", ", ".join(s.problems))
    Console().print(table)


def _table(assets: list[Asset], title: str) -> None:
    """The assets as one table."""
    from rich.table import Table

    table = Table(title=f"{title}: {len(assets)} assets")
    for col in ("id", "kind", "source", "credibility", "good", "gaps", "unit", "owner", "labels"):
        table.add_column(col, justify="right" if col in ("credibility", "good", "gaps") else "left", overflow="fold")
    for a in assets:
        table.add_row(a.id, a.kind, a.source_kind, f"{a.credibility:.3f}", _cell(a.good_share), _cell(a.gap_share),
                      a.unit, a.owner, ", ".join(a.labels))
    Console().print(table)


def _cell(value: object) -> str:
    """A value as a table cell: shares to three places, nothing as '-'."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
