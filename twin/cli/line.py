"""``twin line check|graph|new|knowledge``: line templates (:mod:`plant_models.line`), a line as a file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from twin.cli.common import command_group, fail

line_app = command_group("Line templates: a production line declared in YAML.")


@line_app.command("check")
def line_check(
    template: Path = typer.Argument(..., help="the line template (YAML)"),
    seconds: float = typer.Option(None, help="plant seconds of the clean check run (default: until it settles "
                                             "and parts have passed every station)"),
    seed: int = typer.Option(0, help="seed of the check run"),
) -> None:
    """Validate a template (fields, references, algebraic loops), run it clean, report signals out of range."""
    from rich.progress import Progress

    from plant_models.line.compile import TemplateError
    from plant_models.line.tools import check_template
    from qtconfig import ConfigError

    console = Console()
    try:
        with Progress(transient=True, console=console) as bar:
            task = bar.add_task(f"clean run of {template.name}", total=1.0)
            result = check_template(template, seconds, seed, progress=lambda done: bar.update(task, completed=done))
    except ConfigError as err:
        raise fail(f"invalid template: {err}") from None
    except TemplateError as err:
        raise fail(f"invalid template: {template}:\n  " + "\n  ".join(err.problems)) from None
    table = Table(title=f"line {result.line}", show_header=False)
    for what, count in result.counts.items():
        table.add_row(what, f"{count:,}")
    table.add_row("clean run", f"{result.simulated_s:g} plant s, {result.parts:,} parts measured")
    table.add_row("fault kinds", ", ".join(f"{k} ({n})" for k, n in result.fault_kinds.items()))
    console.print(table)
    if not result.ok:
        for item in result.out_of_range:
            console.print(f"[red]out of range[/red] {item}", highlight=False)
        raise typer.Exit(1)
    console.print("ok: every signal stayed inside its declared range")


@line_app.command("graph")
def line_graph(
    template: Path = typer.Argument(..., help="the line template (YAML)"),
    out: Path = typer.Option(Path("graph.png"), "--out", "-o", help="the picture to write (.png or .svg)"),
) -> None:
    """Draw the template's declared structure: conditions and setpoints on the left, quality on the right."""
    from plant_models.line.compile import TemplateError
    from plant_models.line.tools import draw_template
    from qtconfig import ConfigError

    try:
        written = draw_template(template, out)
    except ConfigError as err:
        raise fail(f"invalid template: {err}") from None
    except TemplateError as err:
        raise fail(f"invalid template: {template}:\n  " + "\n  ".join(err.problems)) from None
    Console().print(f"wrote {written}")


@line_app.command("new")
def line_new(
    name: str = typer.Argument(..., help="the line's name (letters, digits, underscores): every tag starts with it"),
    folder: Path = typer.Option(Path("."), "--folder", help="where to write NAME.yaml"),
) -> None:
    """Write a commented starter template NAME.yaml to edit into your own line."""
    from plant_models.line.tools import new_template

    try:
        written = new_template(name, folder)
    except (ValueError, FileExistsError) as err:
        raise fail(str(err)) from None
    Console().print(f"wrote {written}\nnext: twin line check {written}   then   twin line graph {written}")


@line_app.command("knowledge")
def line_knowledge(
    template: Path = typer.Argument(..., help="the line template (YAML)"),
    out: Path = typer.Option(None, "--out", "-o", help="the knowledge file to write [default: knowledge.yaml beside "
                                                        "the template; never overwritten]"),
) -> None:
    """Draft a knowledge file from the template's declared causes and effects, to edit into what you know."""
    from plant_models.line.compile import TemplateError, compile_template
    from plant_models.line.knowledge import knowledge_text
    from plant_models.line.template import load_template
    from plant_models.spec import KNOWLEDGE_FILE
    from qtconfig import ConfigError

    out = out or template.parent / KNOWLEDGE_FILE
    if out.exists():
        raise fail(f"{out} exists: not overwritten (give another --out)")
    try:
        text = knowledge_text(compile_template(load_template(template)))
    except ConfigError as err:
        raise fail(f"invalid template: {err}") from None
    except TemplateError as err:
        raise fail(f"invalid template: {template}:\n  " + "\n  ".join(err.problems)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    Console().print(f"wrote {out} ({text.count('- {cause:')} links)\nnext: edit it into what the line's engineers "
                    "know; a run of the line reads knowledge.yaml beside its template", highlight=False, soft_wrap=True)
