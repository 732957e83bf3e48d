"""``twin ledger ...``: check a run's tamper-evident ledger from the command line.

``twin ledger verify RUN_DIR`` walks the hash chain of ``RUN_DIR/ledger.jsonl`` (and of the
bridge's journal, ``bridge_journal.jsonl``, when there is one) and reports the first bad entry:
edited, deleted, reordered or truncated. Exit status 0 when every chain verifies, 1 otherwise.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from twin.cli.common import command_group
from twin.contracts import RunFiles

ledger_app = command_group("The run's tamper-evident ledger.")
console = Console()


def ledger_files(target: Path) -> list[Path]:
    """The chains to check: a ledger file itself, or a run directory's ledger and bridge journal."""
    if target.is_file():
        return [target]
    files = [target / RunFiles.LEDGER]
    if (target / RunFiles.BRIDGE_JOURNAL).exists():
        files.append(target / RunFiles.BRIDGE_JOURNAL)
    return files


@ledger_app.command("verify")
def verify(run_dir: Path = typer.Argument(..., help="run directory (or a ledger .jsonl file)")) -> None:
    """Verify the hash chain; print the first bad index when an entry was edited, deleted, reordered or cut."""
    from twin.edge.ledger import verify_ledger

    broken = False
    for path in ledger_files(run_dir):
        result = verify_ledger(path)
        if result.ok:
            console.print(f"{path}: ok, {result.entries} entries, last hash {result.last_hash[:16]}…",
                          markup=False, highlight=False, soft_wrap=True)
        else:
            broken = True
            console.print(f"{path}: BROKEN at entry {result.first_bad_index}: {result.reason}",
                          style="red", markup=False, highlight=False, soft_wrap=True)
    if broken:
        raise typer.Exit(1)
