"""A signed, tamper-evident, append-only ledger (ARCHITECTURE.md "Ledger entry").

Every alarm, diagnosis, command and acknowledgement of a run is appended as one JSON line::

    {"index": 3, "kind": "command", "t_ms": 124000, "payload": {...},
     "prev_hash": "<hex>", "hash": "<hex>", "signature": "<hex>"}

**Chain.** ``hash`` is SHA-256 over ``prev_hash`` followed by the canonical JSON of the entry's
body (its first five fields; keys sorted, no spaces, UTF-8), so editing, deleting, reordering or
inserting an entry breaks the chain at that index. The first entry's ``prev_hash`` is
:func:`genesis_hash` of the ledger's public key, so every hash of the chain depends on the key
that wrote it. An entry has exactly these seven fields: one more or one fewer is a bad entry.

**Signatures.** ``signature`` is Ed25519 (:mod:`twin.edge.keys`) over the ASCII bytes of the
entry's ``hash``; the hash covers the body and the previous hash, so each signature vouches for
its entry and everything before it.

**Head.** Beside the ledger the writer keeps ``<ledger>.head``, replaced after every append::

    {"entries": 12, "hash": "<last hash>", "public_key": "<raw Ed25519 public key, hex>",
     "fingerprint": "sha256:<hex>", "signature": "<hex>"}

signed (Ed25519) over the canonical JSON of its other four fields. It names the key to verify
with and where the ledger ends, so a truncated ledger or an entry appended after it is caught. A
non-empty ledger without a head fails verification.

**Trust.** Checked against nothing but its own head, a ledger shows every edit made by someone
without the writer's key; a lying writer that re-signs the whole ledger and its head with a key
of its own cannot be told from the real one that way. Two outside facts close that gap: the
writer's public key (``LINE.pub``, from ``twin keys create``), and an **anchor**, ``ENTRIES:HASH``,
a head an operator exported earlier (``twin ledger head``): the verified chain must hold that hash
after that many entries (it may have grown since). Every hash depends on the key, so an anchor
pins the key too.

>>> import tempfile, pathlib
>>> from twin.edge.keys import generate_keys
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> keys = generate_keys("line1")
>>> led = Ledger(d / "ledger.jsonl", keys)
>>> _ = led.append("alarm", {"tag": "coater.coolant.valve.coil_current"}, t_ms=124000)
>>> anchor = led.anchor                      # what an operator stores elsewhere
>>> _ = led.append("diagnosis", {"top": "coater.coolant.valve"}, t_ms=124500)
>>> result = verify_ledger(d / "ledger.jsonl", public_key=keys.public_key(), anchor=anchor)
>>> result.ok, result.entries, result.key_fingerprint == keys.fingerprint()
(True, 2, True)
>>> verify_ledger(d / "ledger.jsonl", public_key=generate_keys("intruder").public_key()).first_bad_index
0
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from twin.edge.keys import LineKeys, fingerprint, generate_keys, verify_signature

GENESIS = "0" * 64
HEAD_SUFFIX = ".head"
BODY_FIELDS = ("index", "kind", "t_ms", "payload", "prev_hash")
ENTRY_FIELDS = (*BODY_FIELDS, "hash", "signature")
HEAD_FIELDS = ("entries", "hash", "public_key", "fingerprint", "signature")
HEAD_ONLY = ("checked against the key its own head names: a writer that re-signs everything with a key of its "
             "own would pass too; give the writer's public key or an anchor")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")


def canonical_json(obj: Any) -> str:
    """The one JSON spelling hashed by the ledger: sorted keys, no whitespace, non-ASCII kept."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """SHA-256 (hex) over the previous hash and the canonical JSON of an entry body."""
    return hashlib.sha256((prev_hash + canonical_json(body)).encode("utf-8")).hexdigest()


def genesis_hash(public_key: Ed25519PublicKey) -> str:
    """The first entry's ``prev_hash``: SHA-256 over :data:`GENESIS` and the key's fingerprint."""
    return hashlib.sha256((GENESIS + fingerprint(public_key)).encode("ascii")).hexdigest()


class LedgerBroken(RuntimeError):
    """An existing ledger file does not verify (or another key wrote it), so nothing may be appended to it."""


class Ledger:
    """Appends signed, hash-chained entries to a JSON-lines file; safe to share between threads.

    ``keys`` sign the entries and the head; None means fresh keys for this ledger only, so every
    ledger is signed (but only its head then says by whom: verify such a ledger with an anchor).
    Opening an existing ledger continues its chain after verifying it (appending to a broken chain
    would hide the break); :class:`LedgerBroken` when it does not verify, when its entries were
    signed by another key than ``keys``, or when its head survives without it.
    """

    def __init__(self, path: str | Path, keys: LineKeys | None = None) -> None:
        self.path = Path(path)
        self.keys = keys if keys is not None else generate_keys("ledger")
        self._public_hex = self.keys.public_key().public_bytes_raw().hex()
        self._lock = threading.Lock()
        self._index = 0
        self._last = genesis_hash(self.keys.public_key())
        head = head_path(self.path)
        if not self.path.exists():
            if head.exists():
                raise LedgerBroken(f"{self.path}: the ledger is missing but its head {head.name} is there "
                                   "(deleted?); remove the head to start a new ledger")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()
        result = verify_ledger(self.path)
        if not result.ok:
            raise LedgerBroken(f"{self.path}: {result.reason} at entry {result.first_bad_index}")
        if result.entries and result.key_fingerprint != self.keys.fingerprint():
            raise LedgerBroken(f"{self.path}: its {result.entries} entries are signed by key {result.key_fingerprint}, "
                               f"not by this writer's key {self.keys.fingerprint()}; open it with the keys that "
                               "wrote it, or start a new ledger")
        if result.entries:
            self._index, self._last = result.entries, result.last_hash
        else:
            self._write_head()

    def append(self, kind: str, payload: dict[str, Any], t_ms: int | None = None) -> dict[str, Any]:
        """Append one entry, signed, and re-sign the head; return the entry (with its index and hash).

        TypeError for an entry the verifier would reject (``kind`` not a string, ``t_ms`` not an
        integer or None, ``payload`` not a dict); ValueError for a payload JSON cannot hold (NaN).
        """
        if not isinstance(kind, str) or not (t_ms is None or _is_int(t_ms)) or not isinstance(payload, dict):
            raise TypeError(f"{self.path}: a ledger entry needs a str kind, an int (or None) t_ms and a dict payload, "
                            f"not {type(kind).__name__}, {type(t_ms).__name__}, {type(payload).__name__}")
        with self._lock:
            body = {"index": self._index, "kind": kind, "t_ms": t_ms, "payload": payload, "prev_hash": self._last}
            digest = entry_hash(self._last, body)
            entry = {**body, "hash": digest, "signature": self.keys.sign(digest.encode("ascii"))}
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(canonical_json(entry) + "\n")
            self._index += 1
            self._last = digest
            self._write_head()
            return entry

    def _write_head(self) -> None:
        body = {"entries": self._index, "hash": self._last, "public_key": self._public_hex,
                "fingerprint": self.keys.fingerprint()}
        signed = {**body, "signature": self.keys.sign(canonical_json(body).encode("utf-8"))}
        head = head_path(self.path)
        scratch = head.with_name(head.name + ".tmp")
        scratch.write_text(canonical_json(signed) + "\n", encoding="utf-8")
        os.replace(scratch, head)

    @property
    def entries(self) -> int:
        """How many entries the ledger holds."""
        return self._index

    @property
    def anchor(self) -> str:
        """``ENTRIES:HASH`` of the ledger as it stands: what an operator exports to verify it against later."""
        with self._lock:
            return f"{self._index}:{self._last}"


@dataclass(frozen=True)
class Anchor:
    """A point of a chain an operator stored: its hash after ``entries`` entries (None: after any number)."""

    entries: int | None
    hash: str

    def __str__(self) -> str:
        return self.hash if self.entries is None else f"{self.entries}:{self.hash}"


def parse_anchor(text: str) -> Anchor:
    """``ENTRIES:HASH`` or a bare ``HASH`` (64 hex digits); ValueError saying which form it should take."""
    count, colon, digest = text.strip().rpartition(":")
    digest = digest.lower()
    if not _HEX64.fullmatch(digest) or (colon and not count.isdigit()):
        raise ValueError(f"anchor {text!r} is neither ENTRIES:HASH nor HASH (a count and 64 hex digits, "
                         "as twin ledger head prints it)")
    return Anchor(int(count) if colon else None, digest)


@dataclass(frozen=True)
class Verification:
    """The result of :func:`verify_ledger`: ``ok``, or the first bad index and why.

    ``key_fingerprint`` names the key the entries were checked with (None when no key was known);
    ``trust`` says against what: ``"public key"``, ``"anchor"``, ``"public key and anchor"``, or
    ``"head"`` — only the key the ledger's own head names, which a writer re-signing everything
    with its own key passes too (:data:`HEAD_ONLY`).
    """

    ok: bool
    entries: int
    last_hash: str
    first_bad_index: int | None = None
    reason: str = ""
    key_fingerprint: str | None = None
    trust: str = "head"

    @property
    def anchor(self) -> str | None:
        """``ENTRIES:HASH`` to store and verify against later (None when the ledger does not verify)."""
        return f"{self.entries}:{self.last_hash}" if self.ok else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for reports."""
        return {"ok": self.ok, "entries": self.entries, "last_hash": self.last_hash,
                "first_bad_index": self.first_bad_index, "reason": self.reason,
                "key_fingerprint": self.key_fingerprint, "trust": self.trust}


def head_path(path: str | Path) -> Path:
    """Where a ledger's signed head lives: beside it, with :data:`HEAD_SUFFIX`."""
    path = Path(path)
    return path.with_name(path.name + HEAD_SUFFIX)


def read_entries(path: str | Path) -> list[dict[str, Any]]:
    """The ledger's entries as dicts, without verification (use :func:`verify_ledger` for that).

    Lines end at ``\\n`` only; a line that is not UTF-8 JSON is a ValueError naming the file and line.
    """
    out = []
    for i, raw in enumerate(Path(path).read_bytes().split(b"\n")):
        if not raw.strip():
            continue
        try:
            out.append(json.loads(raw.decode("utf-8")))
        except ValueError as err:
            raise ValueError(f"{path}: line {i + 1} is not a ledger entry ({err})") from None
    return out


class _Bad(ValueError):
    """An entry or a head that does not hold up; the message says which field and why."""


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs as a dict; a key spelled twice (readers would disagree on its value) is bad."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        doubled = next(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
        raise _Bad(f"the key {doubled!r} appears twice")
    return obj


def _json_object(raw: bytes, what: str, fields: tuple[str, ...], noun: str = "ledger entry") -> dict[str, Any]:
    """``raw`` as a JSON object with exactly ``fields``; :class:`_Bad` naming ``what`` otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _Bad(f"{what} is not a {noun}: not UTF-8 text (byte {err.start})") from None
    try:
        obj = json.loads(text, object_pairs_hook=_reject_duplicates)
    except _Bad as err:
        raise _Bad(f"{what} is not a {noun}: {err}") from None
    except ValueError as err:
        raise _Bad(f"{what} is not a {noun}: not JSON ({err})") from None
    if not isinstance(obj, dict):
        raise _Bad(f"{what} is not a {noun}: not a JSON object")
    extra, missing = sorted(set(obj) - set(fields)), [f for f in fields if f not in obj]
    if extra:
        raise _Bad(f"{what} is not a {noun}: extra field {extra[0]!r} (exactly {', '.join(fields)})")
    if missing:
        raise _Bad(f"{what} is not a {noun}: field {missing[0]!r} is missing")
    return obj


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _entry_types(what: str, entry: dict[str, Any]) -> None:
    """:class:`_Bad` naming the first field of ``entry`` whose type is wrong."""
    checks = {
        "index": (_is_int(entry["index"]) and entry["index"] >= 0, "a non-negative integer"),
        "kind": (isinstance(entry["kind"], str), "a string"),
        "t_ms": (entry["t_ms"] is None or _is_int(entry["t_ms"]), "an integer or null"),
        "payload": (isinstance(entry["payload"], dict), "a JSON object"),
        "prev_hash": (isinstance(entry["prev_hash"], str) and bool(_HEX64.fullmatch(entry["prev_hash"])),
                      "64 lowercase hex digits"),
        "hash": (isinstance(entry["hash"], str) and bool(_HEX64.fullmatch(entry["hash"])), "64 lowercase hex digits"),
        "signature": (isinstance(entry["signature"], str) and bool(_HEX128.fullmatch(entry["signature"])),
                      "128 lowercase hex digits"),
    }
    for field, (good, expected) in checks.items():
        if not good:
            raise _Bad(f"{what} is not a ledger entry: field {field!r} is not {expected}")


def _check_entry(i: int, raw: bytes, prev: str | None, key: Ed25519PublicKey | None, fp: str | None) -> str:
    """Entry ``i``'s hash once it holds up (its ``prev_hash`` is ``prev``, its signature ``key``'s)."""
    what = f"entry {i} (line {i + 1})"
    entry = _json_object(raw, what, ENTRY_FIELDS)
    _entry_types(what, entry)
    if entry["index"] != i:
        raise _Bad(f"entry {i} carries index {entry['index']} (deleted or reordered, or one inserted)")
    if prev is not None and entry["prev_hash"] != prev:
        raise _Bad(f"entry {i} does not follow entry {i - 1} (chain broken)" if i else
                   f"entry 0 does not start a chain of key {fp} (its prev_hash is another key's genesis)")
    body = {k: entry[k] for k in BODY_FIELDS}
    try:
        digest = entry_hash(entry["prev_hash"], body)
    except ValueError:
        raise _Bad(f"{what} is not a ledger entry: it holds NaN or infinity, which the ledger never writes") from None
    if digest != entry["hash"]:
        raise _Bad(f"entry {i} was edited (hash mismatch)")
    if key is not None and not verify_signature(key, digest.encode("ascii"), entry["signature"]):
        raise _Bad(f"entry {i} is not signed by key {fp} (forged, or signed by another key)")
    return digest


@dataclass(frozen=True)
class _Head:
    entries: int
    hash: str
    key: Ed25519PublicKey
    fingerprint: str


def _load_head(path: Path) -> _Head | None:
    """The signed head at ``path`` (None when there is none); :class:`_Bad` naming the field at fault."""
    if not path.exists():
        return None
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise _Bad(f"head {path.name} cannot be read ({err.strerror})") from None
    head = _json_object(raw.rstrip(b"\n"), f"head {path.name}", HEAD_FIELDS, noun="ledger head")
    bad = next((f for f, good in (
        ("entries", _is_int(head["entries"]) and head["entries"] >= 0),
        ("hash", isinstance(head["hash"], str) and _HEX64.fullmatch(head["hash"])),
        ("public_key", isinstance(head["public_key"], str) and _HEX64.fullmatch(head["public_key"])),
        ("fingerprint", isinstance(head["fingerprint"], str)),
        ("signature", isinstance(head["signature"], str) and _HEX128.fullmatch(head["signature"])),
    ) if not good), None)
    if bad is not None:
        raise _Bad(f"head {path.name}: field {bad!r} is malformed")
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(head["public_key"]))
    except ValueError:
        raise _Bad(f"head {path.name}: field 'public_key' is not an Ed25519 public key") from None
    if fingerprint(key) != head["fingerprint"]:
        raise _Bad(f"head {path.name}: field 'fingerprint' is not the fingerprint of field 'public_key'")
    body = {k: head[k] for k in HEAD_FIELDS if k != "signature"}
    if not verify_signature(key, canonical_json(body).encode("utf-8"), head["signature"]):
        raise _Bad(f"head {path.name}: its signature does not verify under the key it names (edited)")
    return _Head(head["entries"], head["hash"], key, head["fingerprint"])


def _trust(public_key: Ed25519PublicKey | None, anchor: Anchor | None) -> str:
    named = [name for name, given in (("public key", public_key), ("anchor", anchor)) if given is not None]
    return " and ".join(named) or "head"


def _split_lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def _end_problem(head: _Head | None, head_error: str | None, hashes: list[str], public_key: Ed25519PublicKey | None,
                 anchor: Anchor | None) -> tuple[int, str] | None:
    """After a good walk: the first bad index and why the head or the anchor disagree (None: they agree)."""
    count = len(hashes) - 1
    if head_error is not None:
        return count, head_error
    if head is None:
        if count or public_key is not None or anchor is not None:
            return count, "the ledger has no head (deleted?): neither its key nor where it ends can be checked"
        return None
    if public_key is not None and head.fingerprint != fingerprint(public_key):
        return count, f"the head names key {head.fingerprint}, not the given key (the head was replaced)"
    if head.entries > count:
        return count, (f"ledger ends at entry {count} but its head records {head.entries} entries "
                       "(truncated or replaced)")
    if head.entries < count:
        return head.entries, (f"entry {head.entries} lies beyond the head, which records {head.entries} entries "
                              "(appended after the head was signed)")
    if head.hash != hashes[head.entries]:
        return max(head.entries - 1, 0), f"the head's hash is not the chain's hash after {head.entries} entries"
    if anchor is None:
        return None
    if anchor.entries is None:
        return None if anchor.hash in hashes else (0, f"the chain does not hold the anchored hash {anchor.hash[:16]}… "
                                                      "(rewritten or re-signed with another key)")
    if anchor.entries > count:
        return count, f"ledger ends at entry {count} but the anchor records {anchor.entries} entries (truncated)"
    if hashes[anchor.entries] != anchor.hash:
        return 0, (f"the chain's hash after {anchor.entries} entries is not the anchored {anchor.hash[:16]}… "
                   "(rewritten at or before that entry, or re-signed with another key: every hash then differs)")
    return None


def verify_ledger(path: str | Path, *, public_key: Ed25519PublicKey | None = None,
                  anchor: str | Anchor | None = None) -> Verification:
    """Check a ledger's entries, chain, signatures and head, and the anchor; never raises for a bad file.

    The entries are checked with ``public_key`` when given, else with the key the head names
    (:attr:`Verification.trust` says which; see the module docstring for what an anchor adds).
    ``anchor`` is ``ENTRIES:HASH`` (or a bare hash) exported earlier: the chain must hold that
    hash after that many entries. ``first_bad_index`` is the first entry that is malformed,
    edited, out of place, badly signed or beyond the head; the entry count for a truncated ledger
    or a bad or missing head. A malformed ``anchor`` string is a ValueError (the caller's mistake).
    """
    path = Path(path)
    anchor = parse_anchor(anchor) if isinstance(anchor, str) else anchor
    trust = _trust(public_key, anchor)
    try:
        head, head_error = _load_head(head_path(path)), None
    except _Bad as err:
        head, head_error = None, str(err)
    key = public_key if public_key is not None else (head.key if head is not None else None)
    fp = fingerprint(key) if key is not None else None
    hashes = [genesis_hash(key) if key is not None else GENESIS]

    def result(bad: tuple[int, str] | None) -> Verification:
        return Verification(bad is None, len(hashes) - 1, hashes[-1], None if bad is None else bad[0],
                            "" if bad is None else bad[1], fp, trust)

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return result((0, f"no ledger at {path}"))
    except OSError as err:
        return result((0, f"cannot read {path} ({err.strerror})"))
    for i, raw in enumerate(_split_lines(data)):
        try:
            hashes.append(_check_entry(i, raw, hashes[-1] if key is not None or i else None, key, fp))
        except _Bad as err:
            return result((i, str(err)))
    return result(_end_problem(head, head_error, hashes, public_key, anchor))
