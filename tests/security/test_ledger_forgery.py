"""Forged ledgers, a lying writer's among them: each is caught, at its exact first bad index.

A forger here can do everything but sign with the line's key: edit, cut, append, reorder, recompute
every hash, and sign entries and head with a key of its own. ``verify_ledger`` must name the first
entry that is not the genuine writer's, given nothing (the head's key), the writer's public key,
or an anchor the operator exported while the ledger was shorter.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.edge.keys import LineKeys, generate_keys
from twin.edge.ledger import (
    Ledger,
    LedgerBroken,
    canonical_json,
    entry_hash,
    genesis_hash,
    head_path,
    parse_anchor,
    read_entries,
    verify_ledger,
)

WRITER = generate_keys("line1")
INTRUDER = generate_keys("line1")
N = 6  # entries in the genuine ledger
K = 3  # the entry the forgers go after
ANCHORED = 2  # entries the ledger held when the operator exported its anchor


def write_genuine(path: Path, payloads: list[dict[str, Any]], anchor_at: int = ANCHORED) -> str:
    """A genuine ledger signed by WRITER; returns the anchor exported after ``anchor_at`` entries."""
    ledger = Ledger(path, WRITER)
    anchor = ledger.anchor
    for i, payload in enumerate(payloads):
        ledger.append(("alarm", "diagnosis", "command", "ack")[i % 4], payload, t_ms=1000 * i)
        if i + 1 == anchor_at:
            anchor = ledger.anchor
    return anchor


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().split(b"\n") if line]


def save(path: Path, entries: list[dict[str, Any]]) -> None:
    path.write_text("".join(canonical_json(e) + "\n" for e in entries), encoding="utf-8")


def rechain(entries: list[dict[str, Any]], start: int, signer: LineKeys | None,
            genesis: str | None = None) -> list[dict[str, Any]]:
    """What a forger does: renumber and re-hash from ``start``; re-sign with ``signer`` (None: keep old signatures)."""
    out = [dict(e) for e in entries]
    for i in range(start, len(out)):
        prev = out[i - 1]["hash"] if i else (genesis or out[0]["prev_hash"])
        body = {"index": i, "kind": out[i]["kind"], "t_ms": out[i]["t_ms"], "payload": out[i]["payload"],
                "prev_hash": prev}
        digest = entry_hash(prev, body)
        out[i] = {**body, "hash": digest,
                  "signature": signer.sign(digest.encode("ascii")) if signer else out[i]["signature"]}
    return out


def sign_head(path: Path, entries: list[dict[str, Any]], signer: LineKeys) -> None:
    """A head for ``entries`` in the writer's format, signed by ``signer``."""
    raw = signer.public_key().public_bytes_raw().hex()
    body = {"entries": len(entries), "hash": entries[-1]["hash"] if entries else genesis_hash(signer.public_key()),
            "public_key": raw, "fingerprint": signer.fingerprint()}
    head = {**body, "signature": signer.sign(canonical_json(body).encode("utf-8"))}
    head_path(path).write_text(canonical_json(head) + "\n")


def edited(path: Path) -> list[dict[str, Any]]:
    entries = load(path)
    entries[K]["payload"] = {**entries[K]["payload"], "value": 99.0}
    return entries


def lying_writer(path: Path) -> None:
    """Edits entry K, re-chains everything from its own key's genesis, signs every entry and the head."""
    forged = rechain(edited(path), 0, INTRUDER, genesis_hash(INTRUDER.public_key()))
    save(path, forged)
    sign_head(path, forged, INTRUDER)


def lying_writer_keeping_the_prefix(path: Path) -> None:
    """Keeps entries 0..K-1 as the writer signed them; re-chains and signs from K on, and the head."""
    forged = rechain(edited(path), K, INTRUDER)
    save(path, forged)
    sign_head(path, forged, INTRUDER)


def rehash_without_a_key(path: Path) -> None:
    save(path, rechain(edited(path), K, None))


def edit_only(path: Path) -> None:
    save(path, edited(path))


def truncate(path: Path) -> None:
    save(path, load(path)[:K])


def truncate_and_sign_the_head(path: Path) -> None:
    kept = load(path)[:K]
    save(path, kept)
    sign_head(path, kept, INTRUDER)


def forged_entry(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    fake = {"kind": "ack", "t_ms": 99_000, "payload": {"command_id": "c1", "status": "applied"},
            "signature": "", "hash": "", "prev_hash": "", "index": 0}
    return rechain([*entries, fake], len(entries), INTRUDER)


def append_forged(path: Path) -> None:
    save(path, forged_entry(load(path)))


def append_and_sign_the_head(path: Path) -> None:
    forged = forged_entry(load(path))
    save(path, forged)
    sign_head(path, forged, INTRUDER)


def reorder(path: Path) -> None:
    entries = load(path)
    entries[K], entries[K + 1] = entries[K + 1], entries[K]
    save(path, entries)


def delete(path: Path) -> None:
    save(path, [e for e in load(path) if e["index"] != K])


def delete_head(path: Path) -> None:
    head_path(path).unlink()


def extra_key(path: Path) -> None:
    entries = load(path)
    entries[K]["note"] = "approved by the night shift"
    save(path, entries)


def rewrite_line(path: Path, k: int, change: Callable[[bytes], bytes]) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[k] = change(lines[k])
    path.write_bytes(b"\n".join(lines))


def duplicate_key(path: Path) -> None:
    rewrite_line(path, K, lambda line: line[:-1] + b',"kind":"note"}')


def not_utf8(path: Path) -> None:
    rewrite_line(path, K, lambda line: line.replace(b'"kind"', b'"k\xffind"'))


def blank_line(path: Path) -> None:
    rewrite_line(path, K, lambda line: b"\n" + line)


def head_not_json(path: Path) -> None:
    head_path(path).write_bytes(b'{"entries": 6, ')


def head_field_wrong(path: Path) -> None:
    head = json.loads(head_path(path).read_text())
    head_path(path).write_text(json.dumps({**head, "entries": "6"}))


def head_edited(path: Path) -> None:
    head = json.loads(head_path(path).read_text())
    head_path(path).write_text(json.dumps({**head, "entries": K}))


def head_not_utf8(path: Path) -> None:
    head_path(path).write_bytes(b"\xff\xfe")


def head_key_swapped(path: Path) -> None:
    head = json.loads(head_path(path).read_text())
    swapped = {**head, "public_key": INTRUDER.public_key().public_bytes_raw().hex(),
               "fingerprint": INTRUDER.fingerprint()}
    head_path(path).write_text(json.dumps(swapped))


# forger -> {what the verifier is given: (first bad index, words of the reason)}; None: it passes
HEAD, KEY, ANCHOR = "head", "public key", "anchor"
CASES: list[tuple[Callable[[Path], None], dict[str, tuple[int, str] | None]]] = [
    (lying_writer, {HEAD: None, KEY: (0, "does not start a chain of key"), ANCHOR: (0, "not the anchored")}),
    (lying_writer_keeping_the_prefix, {HEAD: (0, "does not start a chain"), KEY: (K, "not signed by key"),
                                       ANCHOR: (0, "does not start a chain")}),
    (rehash_without_a_key, {HEAD: (K, "not signed by key"), KEY: (K, "not signed by key"),
                            ANCHOR: (K, "not signed by key")}),
    (edit_only, {HEAD: (K, "edited"), KEY: (K, "edited"), ANCHOR: (K, "edited")}),
    (truncate, {HEAD: (K, "truncated"), KEY: (K, "truncated"), ANCHOR: (K, "truncated")}),
    (truncate_and_sign_the_head, {HEAD: (0, "does not start a chain"), KEY: (K, "the head names key"),
                                  ANCHOR: (0, "does not start a chain")}),
    (append_forged, {HEAD: (N, "not signed by key"), KEY: (N, "not signed by key"), ANCHOR: (N, "not signed")}),
    (append_and_sign_the_head, {HEAD: (0, "does not start a chain"), KEY: (N, "not signed by key"),
                                ANCHOR: (0, "does not start a chain")}),
    (reorder, {HEAD: (K, "deleted or reordered"), KEY: (K, "deleted or reordered"), ANCHOR: (K, "reordered")}),
    (delete, {HEAD: (K, "deleted or reordered"), KEY: (K, "deleted or reordered"), ANCHOR: (K, "deleted")}),
    (delete_head, {HEAD: (N, "no head"), KEY: (N, "no head"), ANCHOR: (N, "no head")}),
    (extra_key, {HEAD: (K, "extra field 'note'"), KEY: (K, "extra field 'note'"), ANCHOR: (K, "extra field")}),
    (duplicate_key, {HEAD: (K, "'kind' appears twice"), KEY: (K, "appears twice"), ANCHOR: (K, "twice")}),
    (not_utf8, {HEAD: (K, "not UTF-8"), KEY: (K, "not UTF-8"), ANCHOR: (K, "not UTF-8")}),
    (blank_line, {HEAD: (K, "not JSON"), KEY: (K, "not JSON"), ANCHOR: (K, "not JSON")}),
    (head_not_json, {HEAD: (N, "head ledger.jsonl.head is not a ledger head: not JSON"), KEY: (N, "not JSON"),
                     ANCHOR: (N, "not JSON")}),
    (head_field_wrong, {HEAD: (N, "field 'entries' is malformed"), KEY: (N, "'entries'"), ANCHOR: (N, "'entries'")}),
    (head_edited, {HEAD: (N, "signature does not verify"), KEY: (N, "signature"), ANCHOR: (N, "signature")}),
    (head_not_utf8, {HEAD: (N, "not UTF-8"), KEY: (N, "not UTF-8"), ANCHOR: (N, "not UTF-8")}),
    (head_key_swapped, {HEAD: (N, "signature does not verify"), KEY: (N, "signature does not verify"),
                        ANCHOR: (N, "signature does not verify")}),
]


def genuine_payloads(n: int = N) -> list[dict[str, Any]]:
    return [{"n": i, "tag": "coater.coolant.valve.command", "value": 60.0 + i} for i in range(n)]


@pytest.mark.parametrize(("forge", "expected"), CASES, ids=[forge.__name__ for forge, _ in CASES])
@pytest.mark.parametrize("given_", [HEAD, KEY, ANCHOR])
def test_every_forgery_is_named_at_its_first_bad_index(tmp_path, forge, expected, given_) -> None:
    path = tmp_path / "ledger.jsonl"
    anchor = write_genuine(path, genuine_payloads())
    assert verify_ledger(path, public_key=WRITER.public_key(), anchor=anchor).ok
    forge(path)
    result = verify_ledger(path, public_key=WRITER.public_key() if given_ == KEY else None,
                           anchor=anchor if given_ == ANCHOR else None)
    assert result.trust == given_
    if expected[given_] is None:
        assert result.ok, result.reason
        return
    index, words = expected[given_]
    assert (result.ok, result.first_bad_index) == (False, index), result.reason
    assert words in result.reason


def test_the_lying_writer_passes_only_when_nothing_outside_the_machine_is_given(tmp_path) -> None:
    path = tmp_path / "ledger.jsonl"
    anchor = write_genuine(path, genuine_payloads())
    lying_writer(path)
    alone = verify_ledger(path)
    assert alone.ok and alone.trust == "head" and alone.key_fingerprint == INTRUDER.fingerprint()
    both = verify_ledger(path, public_key=WRITER.public_key(), anchor=anchor)
    assert not both.ok and both.first_bad_index == 0 and both.key_fingerprint == WRITER.fingerprint()


def test_an_entry_the_writer_signed_after_its_head_is_named_at_its_own_index(tmp_path) -> None:
    path = tmp_path / "ledger.jsonl"
    write_genuine(path, genuine_payloads())
    head = head_path(path).read_bytes()
    Ledger(path, WRITER).append("note", {"note": "written, then the writer stopped"}, t_ms=7000)
    head_path(path).write_bytes(head)  # the head as it was before that entry
    result = verify_ledger(path, public_key=WRITER.public_key())
    assert (result.ok, result.first_bad_index) == (False, N) and "beyond the head" in result.reason


def test_an_anchor_holds_while_the_chain_grows_and_fails_when_it_is_cut_below_it(tmp_path) -> None:
    path = tmp_path / "ledger.jsonl"
    anchor = write_genuine(path, genuine_payloads(), anchor_at=4)
    assert verify_ledger(path, anchor=anchor).ok
    assert verify_ledger(path, anchor=parse_anchor(anchor).hash).ok  # a bare hash: anywhere in the chain
    save(path, load(path)[:2])
    sign_head(path, load(path)[:2], WRITER)  # even the writer's own key cannot shorten an anchored chain
    result = verify_ledger(path, anchor=anchor)
    assert (result.ok, result.first_bad_index) == (False, 2) and "anchor records 4 entries" in result.reason


def test_an_empty_ledger_is_anchored_to_its_key(tmp_path) -> None:
    path = tmp_path / "ledger.jsonl"
    anchor = Ledger(path, WRITER).anchor
    assert anchor == f"0:{genesis_hash(WRITER.public_key())}" and verify_ledger(path, anchor=anchor).ok
    Ledger(path, INTRUDER)  # an empty ledger may be taken over: nothing is lost
    assert not verify_ledger(path, anchor=anchor).ok


@pytest.mark.parametrize("text", ["", "12", "12:abc", ":" + "a" * 64, "x:" + "a" * 64, "sha256:" + "a" * 64,
                                  "-1:" + "a" * 64, "1:" + "g" * 64])
def test_a_malformed_anchor_is_the_callers_mistake(tmp_path, text) -> None:
    with pytest.raises(ValueError, match="neither ENTRIES:HASH nor HASH"):
        verify_ledger(tmp_path / "ledger.jsonl", anchor=text)


def test_a_ledger_opens_only_with_the_keys_that_wrote_it(tmp_path) -> None:
    path = tmp_path / "ledger.jsonl"
    write_genuine(path, genuine_payloads())
    with pytest.raises(LedgerBroken, match=f"signed by key {WRITER.fingerprint()}, not by this writer's key"):
        Ledger(path, INTRUDER)
    with pytest.raises(LedgerBroken, match="not by this writer's key"):
        Ledger(path)  # fresh keys cannot continue it either
    Ledger(path, WRITER).append("note", {"note": "continued"}, t_ms=9000)
    assert verify_ledger(path, public_key=WRITER.public_key()).entries == N + 1


@pytest.mark.parametrize("forge", [edit_only, truncate, delete_head, append_forged, not_utf8])
def test_nothing_is_appended_to_a_forged_ledger(tmp_path, forge) -> None:
    path = tmp_path / "ledger.jsonl"
    write_genuine(path, genuine_payloads())
    forge(path)
    with pytest.raises(LedgerBroken, match=r"at entry \d+"):
        Ledger(path, WRITER)


def test_a_head_without_its_ledger_is_not_a_fresh_start(tmp_path) -> None:
    path = tmp_path / "ledger.jsonl"
    write_genuine(path, genuine_payloads())
    path.unlink()
    with pytest.raises(LedgerBroken, match="missing but its head"):
        Ledger(path, WRITER)
    assert verify_ledger(path).reason == f"no ledger at {path}"


json_values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                        st.text(max_size=6))
payloads = st.dictionaries(st.text(max_size=6), json_values, max_size=3)


@settings(max_examples=60)
@given(entries=st.lists(payloads, min_size=1, max_size=8), data=st.data(),
       field=st.sampled_from(["payload", "kind", "t_ms"]), how=st.sampled_from(["raw", "rehash", "resign"]))
def test_a_single_entry_edit_is_named_at_exactly_its_index(entries, data, field, how) -> None:
    k = data.draw(st.integers(0, len(entries) - 1), label="edited entry")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.jsonl"
        write_genuine(path, entries)
        assert [e["payload"] for e in read_entries(path)] == entries  # a line ends at \n only
        forged = load(path)
        forged[k][field] = {"payload": {**forged[k]["payload"], "forged": True}, "kind": forged[k]["kind"] + "!",
                            "t_ms": forged[k]["t_ms"] + 1}[field]
        if how == "raw":
            save(path, forged)
        elif how == "rehash":
            save(path, rechain(forged, k, None))
        else:
            forged = rechain(forged, k, INTRUDER)
            save(path, forged)
            sign_head(path, forged, INTRUDER)
        result = verify_ledger(path, public_key=WRITER.public_key())
    assert (result.ok, result.first_bad_index) == (False, k), result.reason


@settings(max_examples=30)
@given(entries=st.lists(payloads, max_size=8), data=st.data())
def test_a_genuine_ledger_verifies_against_its_key_and_any_earlier_anchor(entries, data) -> None:
    at = data.draw(st.integers(0, len(entries)), label="anchored after")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.jsonl"
        anchor = write_genuine(path, entries, anchor_at=at)
        result = verify_ledger(path, public_key=WRITER.public_key(), anchor=anchor)
    assert result.ok and result.entries == len(entries) and result.trust == "public key and anchor"


@pytest.mark.parametrize(("kind", "payload", "t_ms", "error"), [
    ("alarm", {"value": 1.0}, 1000.0, TypeError),
    ("alarm", ["not", "a", "dict"], 1000, TypeError),
    (None, {}, 1000, TypeError),
    ("alarm", {"value": float("nan")}, 1000, ValueError),
])
def test_the_writer_refuses_what_its_verifier_would_reject(tmp_path, kind, payload, t_ms, error) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path, WRITER)
    ledger.append("alarm", {"value": 0.5}, t_ms=0)
    with pytest.raises(error):
        ledger.append(kind, payload, t_ms=t_ms)
    result = verify_ledger(path, public_key=WRITER.public_key())
    assert result.ok and result.entries == ledger.entries == 1
