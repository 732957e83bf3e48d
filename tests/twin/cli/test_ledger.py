"""``twin ledger verify|head RUN_DIR``: the first bad index for an edited, deleted, reordered, truncated, appended or
re-signed ledger, a missing bridge journal, and exit status 2 for bad arguments."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.cli import app
from twin.edge.keys import LineKeys, generate_keys, load_keys
from twin.edge.ledger import Ledger, entry_hash

runner = CliRunner()


def make_run(tmp_path: Path, entries: int = 6) -> Path:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    for i in range(entries):
        kind = ("alarm", "diagnosis", "command", "ack")[i % 4]
        ledger.append(kind, {"n": i, "tag": "coater.coolant.valve.command", "value": 60.0 + i}, t_ms=1000 * i)
    return tmp_path


def lines(run: Path) -> list[str]:
    return (run / "ledger.jsonl").read_text().splitlines(keepends=True)


def rewrite(run: Path, new: list[str]) -> None:
    (run / "ledger.jsonl").write_text("".join(new))


def verify(run: Path):
    return runner.invoke(app, ["ledger", "verify", str(run)])


def test_an_intact_ledger_verifies(tmp_path) -> None:
    result = verify(make_run(tmp_path))
    assert result.exit_code == 0 and "ok, 6 entries" in result.output


def edit(run: Path) -> None:
    old = lines(run)
    entry = json.loads(old[3])
    entry["payload"]["value"] = 99.0
    old[3] = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
    rewrite(run, old)


def delete(run: Path) -> None:
    old = lines(run)
    rewrite(run, old[:3] + old[4:])


def reorder(run: Path) -> None:
    old = lines(run)
    rewrite(run, old[:3] + [old[4], old[3]] + old[5:])


def truncate(run: Path) -> None:
    rewrite(run, lines(run)[:3])


def cut_mid_line(run: Path) -> None:
    text = "".join(lines(run))
    (run / "ledger.jsonl").write_text(text[: len(text) - 40])


@pytest.mark.parametrize(("tamper", "index", "why"), [
    (edit, 3, "edited"),
    (delete, 3, "deleted or reordered"),
    (reorder, 3, "deleted or reordered"),
    (truncate, 3, "truncated"),
    (cut_mid_line, 5, "not a ledger entry"),
])
def test_tampering_reports_the_first_bad_index(tmp_path, tamper, index, why) -> None:
    run = make_run(tmp_path)
    tamper(run)
    result = verify(run)
    assert result.exit_code == 1
    assert f"BROKEN at entry {index}:" in result.output and why in result.output


def test_the_bridge_journal_is_checked_too(tmp_path) -> None:
    run = make_run(tmp_path)
    journal = Ledger(run / "bridge_journal.jsonl")
    journal.append("ack", {"command_id": "c1", "status": "applied"}, t_ms=5)
    assert verify(run).exit_code == 0
    (run / "bridge_journal.jsonl").write_text((run / "bridge_journal.jsonl").read_text().replace("applied", "failed"))
    result = verify(run)
    assert result.exit_code == 1 and "bridge_journal.jsonl: BROKEN at entry 0" in result.output


def test_a_missing_ledger_is_an_error_naming_it(tmp_path) -> None:
    result = verify(tmp_path)
    assert result.exit_code == 1 and "no ledger at" in result.output


def keyed_run(tmp_path: Path, entries: int = 6) -> tuple[Path, Path, LineKeys]:
    """A run whose ledger is signed with keys made by ``twin keys create``; returns run, LINE.pub, keys."""
    created = runner.invoke(app, ["keys", "create", "--line", "line1", "--out", str(tmp_path / "keys")])
    assert created.exit_code == 0, created.output
    keys = load_keys(tmp_path / "keys" / "line1.key")
    run = tmp_path / "run"
    ledger = Ledger(run / "ledger.jsonl", keys)
    for i in range(entries):
        ledger.append("alarm", {"n": i}, t_ms=1000 * i)
    return run, tmp_path / "keys" / "line1.pub", keys


def anchor_of(run: Path) -> str:
    """The anchor ``twin ledger head`` prints for the run's ledger."""
    result = runner.invoke(app, ["ledger", "head", str(run)])
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("ledger.jsonl=")]
    return line


def test_verify_prints_the_key_and_warns_when_only_the_head_vouches_for_it(tmp_path) -> None:
    run, pub, keys = keyed_run(tmp_path)
    alone = verify(run)
    assert alone.exit_code == 0 and f"key {keys.fingerprint()}" in alone.output
    assert "checked against its own head only" in alone.output and "re-signs everything" in alone.output
    given = runner.invoke(app, ["ledger", "verify", str(run), "--public-key", str(pub), "--anchor", anchor_of(run)])
    assert given.exit_code == 0, given.output
    assert "checked against the public key and anchor" in given.output and "note:" not in given.output


def test_a_lying_writer_fails_against_the_public_key_and_the_anchor(tmp_path) -> None:
    run, pub, _ = keyed_run(tmp_path)
    anchor = anchor_of(run)
    path = run / "ledger.jsonl"
    entries = [json.loads(line) for line in lines(run)]
    entries[3]["payload"]["n"] = 99
    path.unlink()
    (run / "ledger.jsonl.head").unlink()
    liar = Ledger(path, generate_keys("line1"))  # recomputes every hash, signs every entry and the head
    for entry in entries:
        liar.append(entry["kind"], entry["payload"], t_ms=entry["t_ms"])
    assert verify(run).exit_code == 0  # indistinguishable from the files alone: that is what the key is for
    for given in (["--public-key", str(pub)], ["--anchor", anchor]):
        result = runner.invoke(app, ["ledger", "verify", str(run), *given])
        assert result.exit_code == 1 and "BROKEN at entry 0:" in result.output, result.output


def test_an_appended_entry_is_named_at_its_own_index(tmp_path) -> None:
    run = make_run(tmp_path)
    old = lines(run)
    forged = json.loads(old[-1])
    forged.update(index=6, prev_hash=forged["hash"])
    body = {k: forged[k] for k in ("index", "kind", "t_ms", "payload", "prev_hash")}
    forged["hash"] = entry_hash(forged["prev_hash"], body)
    rewrite(run, [*old, json.dumps(forged) + "\n"])
    result = verify(run)
    assert result.exit_code == 1 and "BROKEN at entry 6: entry 6 is not signed by key" in result.output


@pytest.mark.parametrize(("head", "words"), [
    (b"\xff\x00", "not UTF-8"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"entries": 6}', "field 'hash' is missing"),
])
def test_a_bad_head_is_a_message_naming_it_not_a_traceback(tmp_path, head, words) -> None:
    run = make_run(tmp_path)
    (run / "ledger.jsonl.head").write_bytes(head)
    result = verify(run)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "BROKEN at entry 6: head ledger.jsonl.head" in result.output and words in result.output
    assert "Traceback" not in result.output


def test_a_non_utf8_ledger_is_named_at_the_bad_line(tmp_path) -> None:
    run = make_run(tmp_path)
    old = lines(run)
    (run / "ledger.jsonl").write_bytes("".join(old[:2]).encode() + b"\xff\xfe\n" + "".join(old[3:]).encode())
    result = verify(run)
    assert result.exit_code == 1 and "BROKEN at entry 2: entry 2 (line 3) is not a ledger entry: not UTF-8" \
        in result.output


def sent_command_run(tmp_path: Path) -> Path:
    run = make_run(tmp_path, entries=0)
    Ledger(run / "ledger.jsonl").append("command", {"id": "r:c0001", "status": "sent", "sent_t_ms": 5, "sends": 1},
                                        t_ms=5)
    return run


def test_a_missing_bridge_journal_fails_once_a_command_went_out(tmp_path) -> None:
    run = sent_command_run(tmp_path)
    result = verify(run)
    assert result.exit_code == 1
    assert "bridge_journal.jsonl: MISSING, but entry 0 of ledger.jsonl records command r:c0001 sent" in result.output
    elsewhere = tmp_path / "bridge-host" / "bridge_journal.jsonl"
    Ledger(elsewhere).append("ack", {"command_id": "r:c0001", "status": "applied"}, t_ms=6)
    assert runner.invoke(app, ["ledger", "verify", str(run), "--journal", str(elsewhere)]).exit_code == 0
    Ledger(run / "bridge_journal.jsonl").append("ack", {"command_id": "r:c0001", "status": "applied"}, t_ms=6)
    assert verify(run).exit_code == 0


def test_the_report_alone_can_show_a_command_went_out(tmp_path) -> None:
    run = make_run(tmp_path)
    (run / "report.json").write_text(json.dumps({"commands": [{"id": "r:c0001", "status": "applied", "sends": 1}]}))
    result = verify(run)
    assert result.exit_code == 1 and "report.json commands[0] (r:c0001) was sent over MQTT" in result.output
    (run / "report.json").write_text(json.dumps({"commands": [{"id": "r:c0001", "status": "logged", "sends": 0}]}))
    assert verify(run).exit_code == 0


def test_head_prints_one_anchor_per_file_and_verify_takes_them_back(tmp_path) -> None:
    run = sent_command_run(tmp_path)
    Ledger(run / "bridge_journal.jsonl").append("ack", {"command_id": "r:c0001", "status": "applied"}, t_ms=6)
    result = runner.invoke(app, ["ledger", "head", str(run)])
    assert result.exit_code == 0
    anchors = result.output.split()
    assert [a.split("=")[0] for a in anchors] == ["ledger.jsonl", "bridge_journal.jsonl"]
    assert all(re.fullmatch(r"[a-z_.]+=1:[0-9a-f]{64}", a) for a in anchors)
    args = [x for a in anchors for x in ("--anchor", a)]
    assert runner.invoke(app, ["ledger", "verify", str(run), *args]).exit_code == 0
    (run / "bridge_journal.jsonl").write_text("")
    (run / "bridge_journal.jsonl.head").unlink()
    cut = runner.invoke(app, ["ledger", "verify", str(run), *args])
    assert cut.exit_code == 1 and "bridge_journal.jsonl: BROKEN at entry 0" in cut.output


def test_head_gives_no_anchor_for_a_broken_ledger(tmp_path) -> None:
    run = make_run(tmp_path)
    edit(run)
    result = runner.invoke(app, ["ledger", "head", str(run)])
    assert result.exit_code == 1 and "BROKEN at entry 3" in result.output and "ledger.jsonl=" not in result.output


@pytest.mark.parametrize(("args", "words"), [
    (["{run}/nowhere"], "nowhere: no such run directory or ledger file"),
    (["{run}", "--public-key", "{run}/missing.pub"], "--public-key: {run}/missing.pub: no such public key file"),
    (["{run}", "--public-key", "{run}/ledger.jsonl"], "not a PEM public key"),
    (["{run}", "--anchor", "12:abc"], "neither ENTRIES:HASH nor HASH"),
    (["{run}", "--anchor", "journal.jsonl=1:" + "a" * 64], "'journal.jsonl' is none of the files checked"),
    (["{run}", "--anchor", "1:" + "a" * 64, "--anchor", "ledger.jsonl=2:" + "a" * 64], "anchored twice"),
    (["{run}", "--journal", "{run}/missing.jsonl"], "--journal: {run}/missing.jsonl: no such file"),
])
def test_bad_arguments_exit_2_naming_what_is_wrong(tmp_path, args, words) -> None:
    run = make_run(tmp_path)
    result = runner.invoke(app, ["ledger", "verify", *(a.format(run=run) for a in args)])
    assert result.exit_code == 2 and words.format(run=run) in result.output, result.output
