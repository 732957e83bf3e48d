"""``twin ledger ...``: check a run's signed ledger from the command line.

``twin ledger verify RUN_DIR`` checks ``RUN_DIR/ledger.jsonl`` and the bridge's journal,
``bridge_journal.jsonl`` (entries, hash chain, Ed25519 signatures, signed head; see
:mod:`twin.edge.ledger`) and prints, per file, ok or the first bad index and why, and the key's
fingerprint. ``--public-key LINE.pub`` checks the signatures against the writer's key instead of
the key the head names; ``--anchor [FILE=]ENTRIES:HASH`` against a head exported earlier with
``twin ledger head RUN_DIR``. A run whose ledger (or ``report.json``) shows a command sent over
MQTT must have its bridge journal. Exit status 0 when everything verifies, 1 when something does
not, 2 for bad arguments.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.console import Console

from twin.cli.common import command_group, fail
from twin.contracts import RunFiles

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from twin.edge.ledger import Anchor, Verification

ledger_app = command_group("The run's signed, tamper-evident ledger.")
console = Console()

RUN_DIR_ARG = typer.Argument(..., help="run directory (or a ledger .jsonl file)")
PUBLIC_KEY_OPT = typer.Option(None, "--public-key", help="the line's public key (LINE.pub from twin keys create), for "
                              "every file checked; default: the key each file's head names")


def ledger_files(target: Path, journal: Path | None = None) -> list[Path]:
    """The chains to check: a ledger file itself, or a run directory's ledger and bridge journal."""
    if target.is_file():
        return [target] + ([journal] if journal is not None else [])
    files = [target / RunFiles.LEDGER]
    journal = journal if journal is not None else target / RunFiles.BRIDGE_JOURNAL
    if journal.exists():
        files.append(journal)
    return files


def _was_sent(record: Any) -> bool:
    """True when a command record (ledger payload or report row) says it went out over MQTT."""
    if not isinstance(record, dict):
        return False
    sends = record.get("sends")
    return (record.get("sent_t_ms") is not None or record.get("status") == "sent"
            or (isinstance(sends, int) and sends > 0))


def command_sent(run_dir: Path) -> str | None:
    """Where the run shows a command sent over MQTT (a ledger ``command`` entry, or ``report.json``), or None.

    Read leniently: a line or a report that is not JSON is skipped here (verification reports it).
    """
    ledger = run_dir / RunFiles.LEDGER
    try:
        lines = ledger.read_bytes().split(b"\n")
    except OSError:
        lines = []
    for i, raw in enumerate(lines):
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("kind") == "command" and _was_sent(entry.get("payload")):
            return f"entry {i} of {ledger.name} records command {entry['payload'].get('id')} sent over MQTT"
    try:
        commands = json.loads((run_dir / RunFiles.REPORT).read_bytes()).get("commands") or []
    except (OSError, ValueError, AttributeError):
        return None
    for i, record in enumerate(commands if isinstance(commands, list) else []):
        if _was_sent(record):
            return f"{RunFiles.REPORT} commands[{i}] ({record.get('id')}) was sent over MQTT"
    return None


def _public_key(path: Path | None) -> Ed25519PublicKey | None:
    """The ``--public-key`` file's key; exit 2 naming the file when it is missing or not one."""
    from twin.edge.keys import KeyFileError, load_public_key

    if path is None:
        return None
    try:
        return load_public_key(path)
    except KeyFileError as err:
        raise fail(f"--public-key: {err}") from None


def _anchors(texts: list[str], files: list[Path]) -> dict[Path, Anchor]:
    """``--anchor [FILE=]ANCHOR`` values by the file they pin (no FILE: the first, the ledger); exit 2 on a bad one."""
    from twin.edge.ledger import parse_anchor

    by_name = {path.name: path for path in files}
    out: dict[Path, Anchor] = {}
    for text in texts:
        name, _, value = text.rpartition("=")
        path = by_name.get(name) if name else files[0]
        if path is None:
            raise fail(f"--anchor {text!r}: {name!r} is none of the files checked ({', '.join(by_name)})")
        if path in out:
            raise fail(f"--anchor {text!r}: {path.name} is anchored twice")
        try:
            out[path] = parse_anchor(value)
        except ValueError as err:
            raise fail(f"--anchor: {err}") from None
    return out


def _targets(run_dir: Path, journal: Path | None) -> list[Path]:
    """The files to check; exit 2 when the run directory or ``--journal`` does not exist."""
    if not run_dir.exists():
        raise fail(f"{run_dir}: no such run directory or ledger file")
    if journal is not None and not journal.is_file():
        raise fail(f"--journal: {journal}: no such file")
    return ledger_files(run_dir, journal)


def _verify_all(files: list[Path], public_key: Ed25519PublicKey | None,
                anchors: dict[Path, Anchor]) -> list[tuple[Path, Verification]]:
    from twin.edge.ledger import verify_ledger

    return [(path, verify_ledger(path, public_key=public_key, anchor=anchors.get(path))) for path in files]


def _say(text: str, style: str | None = None) -> None:
    console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


def _report(path: Path, result: Verification) -> None:
    """One line for one file: ok with its count, last hash and key, or where it breaks and why."""
    key = f"key {result.key_fingerprint}" if result.key_fingerprint else "no key known"
    if result.ok:
        _say(f"{path}: ok, {result.entries} entries, last hash {result.last_hash[:16]}…, {key} "
             f"(checked against {'its own head only' if result.trust == 'head' else 'the ' + result.trust})")
    else:
        _say(f"{path}: BROKEN at entry {result.first_bad_index}: {result.reason} ({key})", style="red")


@ledger_app.command("verify")
def verify(
    run_dir: Path = RUN_DIR_ARG,
    public_key: Optional[Path] = PUBLIC_KEY_OPT,
    anchor: Optional[list[str]] = typer.Option(
        None, "--anchor", help="[FILE=]ENTRIES:HASH printed earlier by twin ledger head (FILE: default the ledger); "
        "repeatable, one per file"),
    journal: Optional[Path] = typer.Option(
        None, "--journal", help="the bridge journal, when the bridge ran elsewhere "
        "(default: RUN_DIR/bridge_journal.jsonl)"),
) -> None:
    """Check entries, hash chain, signatures and head; print each file's first bad index and its key's fingerprint."""
    from twin.edge.ledger import HEAD_ONLY

    files = _targets(run_dir, journal)
    key = _public_key(public_key)
    results = _verify_all(files, key, _anchors(anchor or [], files))
    for path, result in results:
        _report(path, result)
    broken = not all(result.ok for _, result in results)
    if run_dir.is_dir() and journal is None and not (run_dir / RunFiles.BRIDGE_JOURNAL).exists():
        sent = command_sent(run_dir)
        if sent is not None:
            broken = True
            _say(f"{run_dir / RunFiles.BRIDGE_JOURNAL}: MISSING, but {sent} (deleted? if the bridge ran elsewhere, "
                 "name its journal with --journal)", style="red")
    if any(result.ok and result.trust == "head" for _, result in results):
        _say(f"note: {HEAD_ONLY} (--public-key, --anchor)")
    if broken:
        raise typer.Exit(1)


@ledger_app.command("head")
def head(
    run_dir: Path = RUN_DIR_ARG,
    public_key: Optional[Path] = PUBLIC_KEY_OPT,
) -> None:
    """Verify, then print each file's anchor (FILE=ENTRIES:HASH) for the operator to store away from the machine."""
    files = _targets(run_dir, None)
    results = _verify_all(files, _public_key(public_key), {})
    broken = [(path, result) for path, result in results if not result.ok]
    for path, result in broken:
        _report(path, result)
    if broken:
        raise fail("no anchor for a ledger that does not verify", 1)
    for path, result in results:
        _say(f"{path.name}={result.anchor}")
