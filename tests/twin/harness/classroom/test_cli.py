"""``twin classroom`` round trip: accounts from standard input or a hidden prompt, a pack checked and built, a
trainee's answer submitted and scored, the class results as a table and a CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.app.fixtures import DURATION_S, SEED
from tests.conftest import REPO
from tests.support import flat
from tests.twin.harness.classroom.support import scenario_file
from twin.cli import app
from twin.harness.classroom.exercise import load_exercise, read_truth

runner = CliRunner()


def twin(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["classroom", *args], input=stdin, env={"COLUMNS": "200"})
    return result.exit_code, flat(result.output)


def test_accounts_from_standard_input_and_a_hidden_prompt(tmp_path: Path) -> None:
    folder = str(tmp_path)
    code, out = twin("user", "add", "tina", "--role", "trainer", "--folder", folder, "--password-stdin",
                     stdin="trainer-secret\n")
    assert code == 0 and "added tina (Trainer)" in out and "trainer-secret" not in out
    code, out = twin("user", "add", "tom", "--role", "test", "--folder", folder, stdin="tom-secret-1\ntom-secret-1\n")
    assert code == 0 and "tom-secret-1" not in out  # asked twice, never echoed
    stored = (tmp_path / "accounts.json").read_text()
    assert "trainer-secret" not in stored and "tom-secret-1" not in stored
    code, out = twin("user", "list", "--folder", folder)
    assert code == 0 and "tina Trainer" in out and "tom Test engineer" in out and "hash" not in out
    code, out = twin("user", "add", "bob", "--role", "boss", "--folder", folder, "--password-stdin", stdin="x" * 9)
    assert code == 2 and "unknown role 'boss'; roles: trainer, test, process, after_sales" in out
    code, out = twin("user", "add", "bob", "--role", "test", "--folder", folder, "--password-stdin", stdin="short\n")
    assert code == 2 and "a password must be 8 to 1024 characters long" in out
    code, out = twin("user", "add", "tom", "--role", "test", "--folder", folder, "--password-stdin", stdin="x" * 9)
    assert code == 2 and "user 'tom' already exists" in out
    assert twin("user", "remove", "tom", "--folder", folder) == (0, "removed tom")
    code, out = twin("user", "remove", "tom", "--folder", folder)
    assert code == 2 and "no user 'tom'" in out


def test_check_names_file_field_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"name: bad\nexercises:\n  - name: one\n    scenario: {scenario_file()}\n    seed: -1\n")
    code, out = twin("check", str(bad), *map(str, sorted((REPO / "scenarios" / "exercises").glob("*.yaml"))))
    assert code == 2
    assert f"fail {bad}: field exercises[0].seed (line 5): Input should be greater than or equal to 0" in out
    for name in ("coater", "tennessee_eastman", "leak_test"):
        assert f"ok {REPO / 'scenarios' / 'exercises' / name}.yaml: 3 exercises" in out


@pytest.mark.slow  # one short offline run, about 10 s
def test_build_submit_and_results_round_trip(tmp_path: Path) -> None:
    folder = str(tmp_path / "classroom")
    pack = tmp_path / "pack.yaml"
    pack.write_text(f"name: short\nexercises:\n  - name: drill\n    scenario: {scenario_file().name}\n"
                    f"    seed: {SEED}\n    duration_s: {DURATION_S:g}\n    roles: [test]\n    max_attempts: 2\n")
    (tmp_path / scenario_file().name).write_text(scenario_file().read_text())  # relative to the pack
    code, out = twin("build", str(pack), "--folder", folder)
    assert code == 0, out
    assert "built drill:" in out and "for test" in out
    twin("user", "add", "tom", "--role", "test", "--folder", folder, "--password-stdin", stdin="tom-secret-1\n")
    twin("user", "add", "pia", "--role", "process", "--folder", folder, "--password-stdin", stdin="pia-secret-1\n")
    truth = read_truth(load_exercise(folder, "drill"))
    code, out = twin("submit", "drill", "--user", "tom", "--diagnosis", truth.answer.name, "--action",
                     truth.right_actions[0], "--note", "saw it", "--folder", folder, "--password-stdin",
                     stdin="wrong-password\n")
    assert code == 2 and "--user tom: unknown user or wrong password" in out
    code, out = twin("submit", "drill", "--user", "tom", "--diagnosis", truth.answer.name, "--action",
                     truth.right_actions[0], "--folder", folder, "--password-stdin", stdin="tom-secret-1\n")
    assert code == 0 and "attempt 1 of 2: score 100% (diagnosis 1, action right)" in out
    code, out = twin("submit", "drill", "--user", "pia", "--diagnosis", truth.answer.name, "--action", "none",
                     "--folder", folder, "--password-stdin", stdin="pia-secret-1\n")
    assert code == 2 and "exercise drill is not for a process engineer" in out
    results = tmp_path / "results.csv"
    code, out = twin("results", "--folder", folder, "--csv", str(results))
    assert code == 0 and f"wrote {results}" in out
    # the table's cells (a narrow console folds them across lines; the CSV below holds the row exactly)
    assert all(cell in out for cell in ("tom", "drill", "100%", "yes"))
    rows = list(csv.DictReader(results.open()))
    assert [(r["user"], r["exercise"], r["attempts"], float(r["best score"])) for r in rows] == [("tom", "drill", "1",
                                                                                                  1.0)]
    code, out = twin("build", str(pack), "--folder", folder)
    assert code == 2 and "exercise 'drill' already exists" in out
    assert json.loads((Path(folder) / "exercises" / "drill" / "exercise.json").read_text())["roles"] == ["test"]
