"""``twin ledger verify RUN_DIR``: the first bad index for an edited, deleted, reordered or truncated ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.cli import app
from twin.edge.ledger import Ledger

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
