"""The PLC bridge's journal: whose run it is, every command it took and every answer it gave.

A signed, hash-chained :class:`~twin.edge.ledger.Ledger` (``bridge_journal.jsonl`` in the run
directory) with these entries::

    journal   {"run_id", "plant", "line", "bridge"}   the first entry: the run the journal belongs to
    command   a verified Command (signed), written before the bridge acts on it
    ack       the Ack it answered that command with
    refusal   {"ack": Ack, "payload_sha256": ...}     a message refused before it was taken: not a
              command, unsigned, badly signed or replayed (it never counts as answered)

A bridge opened on an existing journal replays it — the ids answered (and the signature each
answer belongs to), the nonces seen, the commands applied and the ones rolled back — so after a
restart it answers a re-sent command with the stored ack, keeps refusing replays and checks
rollbacks against everything this run applied. It refuses to open a journal of another run
(:class:`JournalError`): a stale journal must never answer for commands it did not see.

>>> import tempfile, pathlib
>>> from twin.edge.keys import generate_keys
>>> path = pathlib.Path(tempfile.mkdtemp()) / "bridge_journal.jsonl"
>>> keys = generate_keys("l1")
>>> _ = BridgeJournal(path, run_id="run-1", plant="t", line="l1", bridge="bridge", keys=keys)
>>> BridgeJournal(path, run_id="run-2", plant="t", line="l1", bridge="bridge", keys=keys)
Traceback (most recent call last):
  ...
twin.edge.bridge.journal.JournalError: ...bridge_journal.jsonl belongs to run 'run-1', not 'run-2': ...
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from twin.contracts import Ack, Command, CommandKind
from twin.edge.keys import LineKeys
from twin.edge.ledger import Ledger, read_entries

OWNER = "journal"


class JournalError(RuntimeError):
    """The bridge's journal belongs to another run (or to nobody): the bridge does not start on it."""


@dataclass
class Handled:
    """One verified command the bridge took, and its answer once it has one."""

    command: Command
    ack: Ack | None = None


class BridgeJournal:
    """What the bridge has taken and answered in this run, kept in a ledger file (or in memory: ``path`` None)."""

    def __init__(self, path: str | Path | None, *, run_id: str, plant: str, line: str, bridge: str,
                 keys: LineKeys | None) -> None:
        self.run_id = run_id
        self.handled: dict[str, Handled] = {}
        self.nonces: dict[str, str] = {}  # nonce -> the id of the command that used it
        self.rolled_back: set[str] = set()
        self.ledger: Ledger | None = None
        if path is None:
            return
        path = Path(path)
        entries = read_entries(path) if path.exists() and path.stat().st_size else []
        if entries:
            _check_owner(path, entries[0], run_id)
        self.ledger = Ledger(path, keys)
        if not entries:
            self.ledger.append(OWNER, {"run_id": run_id, "plant": plant, "line": line, "bridge": bridge})
        for entry in entries[1:]:
            if entry["kind"] == "command":
                self._take(Command.model_validate(entry["payload"]))
            elif entry["kind"] == "ack":
                self._answer(Ack.model_validate(entry["payload"]))

    # ------------------------------------------------------------------ queries
    def stored_answer(self, command: Command) -> Ack | None:
        """The ack already given to this very command (same id, same signature): a re-send gets it again."""
        known = self.handled.get(command.id)
        if known is None or known.ack is None or known.command.signature != command.signature:
            return None
        return known.ack

    def replay(self, command: Command) -> str | None:
        """Why ``command`` is a replay (its id or nonce belongs to another command this run took), or None."""
        known = self.handled.get(command.id)
        if known is not None and known.command.signature != command.signature:
            return f"replayed: id {command.id} was already taken for a different command"
        other = self.nonces.get(command.nonce)
        if other is not None and other != command.id:
            return f"replayed: nonce {command.nonce} was already used by command {other}"
        return None

    def rollback_target(self, command: Command) -> tuple[Command | None, str | None]:
        """For a rollback: the applied command it undoes, or why it undoes none (not applied here, another
        tag, already rolled back, no previous value)."""
        target_id = command.rollback_of or ""
        known = self.handled.get(target_id)
        if known is None or known.ack is None or known.ack.status != "applied":
            return None, f"rollback_of: {target_id} is not a command this bridge applied in run {self.run_id}"
        if known.command.kind == CommandKind.ROLLBACK:
            return None, f"rollback_of: {target_id} is itself a rollback"
        if known.command.tag != command.tag:
            return None, f"rollback_of: {target_id} wrote {known.command.tag}, not {command.tag}"
        if target_id in self.rolled_back:
            return None, f"rollback_of: {target_id} was already rolled back"
        previous = known.command.previous
        if previous is None or not math.isfinite(previous):
            return None, f"rollback_of: {target_id} carries no previous value to return to"
        return known.command, None

    def applied(self) -> Iterator[tuple[Command, Ack]]:
        """Every command applied so far with its ack, in the order they were taken."""
        for item in self.handled.values():
            if item.ack is not None and item.ack.status == "applied":
                yield item.command, item.ack

    # ------------------------------------------------------------------ writes
    def take(self, command: Command, t_ms: int | None) -> None:
        """Record a verified command before acting on it."""
        self._take(command)
        if self.ledger is not None:
            self.ledger.append("command", command.model_dump(mode="json"), t_ms=t_ms)

    def answer(self, ack: Ack) -> None:
        """Record the answer to a command taken with :meth:`take`."""
        self._answer(ack)
        if self.ledger is not None:
            self.ledger.append("ack", ack.model_dump(mode="json"), t_ms=ack.plc_t_ms)

    def refuse(self, ack: Ack, payload: bytes | str) -> None:
        """Record the refusal of a message that was never taken (it does not count as answered)."""
        raw = payload.encode("utf-8") if isinstance(payload, str) else payload
        if self.ledger is not None:
            self.ledger.append("refusal", {"ack": ack.model_dump(mode="json"),
                                           "payload_sha256": hashlib.sha256(raw).hexdigest()}, t_ms=ack.plc_t_ms)

    def _take(self, command: Command) -> None:
        self.handled[command.id] = Handled(command)
        self.nonces[command.nonce] = command.id

    def _answer(self, ack: Ack) -> None:
        item = self.handled.get(ack.command_id)
        if item is None:
            return
        item.ack = ack
        if ack.status == "applied" and item.command.rollback_of is not None:
            self.rolled_back.add(item.command.rollback_of)


def _check_owner(path: Path, first: dict[str, object], run_id: str) -> None:
    """Raise :class:`JournalError` unless the journal's first entry says it belongs to ``run_id``."""
    payload = first.get("payload")
    owner = payload.get("run_id") if first.get("kind") == OWNER and isinstance(payload, dict) else None
    if owner is None:
        raise JournalError(f"{path} does not say which run it belongs to (its first entry is not a "
                           f"'{OWNER}' entry): the bridge will not answer from it; use a fresh run directory")
    if owner != run_id:
        raise JournalError(f"{path} belongs to run {owner!r}, not {run_id!r}: a run never answers from another "
                           "run's journal; use a fresh run directory")
