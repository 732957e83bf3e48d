"""A tamper-evident, append-only ledger (ARCHITECTURE.md "Ledger entry").

Every alarm, diagnosis, command and acknowledgement of a run is appended as one JSON line::

    {"index": 3, "kind": "command", "t_ms": 124000, "payload": {...},
     "prev_hash": "<hex>", "hash": "<hex>"}

``hash`` is SHA-256 over ``prev_hash`` followed by the canonical JSON of the entry without its
``hash`` (keys sorted, no spaces, UTF-8), so editing, deleting, reordering or truncating any
entry breaks the chain from that index on. The first entry's ``prev_hash`` is
:data:`GENESIS`. A truncated file is caught by the optional ``head`` file the ledger keeps
beside it (the last index and hash), which :func:`verify_ledger` compares against.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> led = Ledger(d / "ledger.jsonl")
>>> _ = led.append("alarm", {"tag": "coater.coolant.valve.coil_current"}, t_ms=124000)
>>> _ = led.append("diagnosis", {"top": "coater.coolant.valve"}, t_ms=124500)
>>> verify_ledger(d / "ledger.jsonl").ok
True
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
HEAD_SUFFIX = ".head"


def canonical_json(obj: Any) -> str:
    """The one JSON spelling hashed by the ledger: sorted keys, no whitespace, non-ASCII kept."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """SHA-256 (hex) over the previous hash and the canonical JSON of an entry body."""
    return hashlib.sha256((prev_hash + canonical_json(body)).encode("utf-8")).hexdigest()


class Ledger:
    """Appends hash-chained entries to a JSON-lines file; safe to share between threads.

    Opening an existing ledger continues its chain (after verifying it: appending to a
    broken chain would hide the break).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._index = 0
        self._last = GENESIS
        if self.path.exists() and self.path.stat().st_size:
            result = verify_ledger(self.path)
            if not result.ok:
                raise LedgerBroken(f"{self.path}: {result.reason} at entry {result.first_bad_index}")
            self._index, self._last = result.entries, result.last_hash
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()

    def append(self, kind: str, payload: dict[str, Any], t_ms: int | None = None) -> dict[str, Any]:
        """Append one entry and return it (with its index and hash)."""
        with self._lock:
            body = {"index": self._index, "kind": kind, "t_ms": t_ms, "payload": payload, "prev_hash": self._last}
            digest = entry_hash(self._last, body)
            entry = {**body, "hash": digest}
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(canonical_json(entry) + "\n")
            self._index += 1
            self._last = digest
            _head_path(self.path).write_text(canonical_json({"entries": self._index, "hash": digest}) + "\n")
            return entry

    @property
    def entries(self) -> int:
        """How many entries the ledger holds."""
        return self._index


class LedgerBroken(RuntimeError):
    """An existing ledger file does not verify, so nothing may be appended to it."""


@dataclass(frozen=True)
class Verification:
    """The result of :func:`verify_ledger`: ``ok``, or the first bad index and why."""

    ok: bool
    entries: int
    last_hash: str
    first_bad_index: int | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for reports."""
        return {"ok": self.ok, "entries": self.entries, "last_hash": self.last_hash,
                "first_bad_index": self.first_bad_index, "reason": self.reason}


def read_entries(path: str | Path) -> list[dict[str, Any]]:
    """The ledger's entries as dicts (no verification; use :func:`verify_ledger` for that)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def verify_ledger(path: str | Path) -> Verification:
    """Walk the chain; report the first entry that was edited, deleted, reordered or is missing."""
    path = Path(path)
    if not path.exists():
        return Verification(False, 0, GENESIS, 0, f"no ledger at {path}")
    prev = GENESIS
    count = 0
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        try:
            entry = json.loads(line)
            body = {k: entry[k] for k in ("index", "kind", "t_ms", "payload", "prev_hash")}
            stored = entry["hash"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            return Verification(False, count, prev, i, f"entry {i} is not a ledger entry ({exc})")
        if body["index"] != i:
            return Verification(False, count, prev, i,
                                f"entry {i} carries index {body['index']} (deleted or reordered)")
        if body["prev_hash"] != prev:
            return Verification(False, count, prev, i, f"entry {i} does not follow entry {i - 1} (chain broken)")
        if entry_hash(prev, body) != stored:
            return Verification(False, count, prev, i, f"entry {i} was edited (hash mismatch)")
        prev = stored
        count += 1
    head = _head_path(path)
    if head.exists():
        recorded = json.loads(head.read_text(encoding="utf-8"))
        if recorded["entries"] != count or recorded["hash"] != prev:
            return Verification(False, count, prev, count,
                                f"ledger ends at entry {count} but its head records {recorded['entries']} entries "
                                "(truncated or replaced)")
    return Verification(True, count, prev)


def _head_path(path: Path) -> Path:
    return path.with_name(path.name + HEAD_SUFFIX)
