"""OpenLineage run events: valid against the OpenLineage JSON schema, through a file and over HTTP, never failing
the job, and emitted by a real run and by ``twin rootcause dataset|train|evaluate``."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import pytest
from referencing import Registry, Resource

from twin.edge.assets.catalogue import _name, model_asset
from twin.edge.assets.openlineage import (
    ASSET_FACET,
    ASSET_FACET_SCHEMA,
    RUN_FILE,
    LineageEmitter,
    emit_job,
    file_dataset,
    historian,
    lineage_job,
    run_datasets,
)

SCHEMAS = Path(__file__).parents[2] / "fixtures" / "openlineage"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No OpenLineage configuration but what a test sets: no OPENLINEAGE_* variables, no openlineage.yml in the
    working folder or the home folder. Afterwards, also drop the variables the client sets itself (it copies
    OPENLINEAGE_URL into OPENLINEAGE__TRANSPORT__TRANSPORTS__DEFAULT_HTTP__*)."""
    for key in [k for k in os.environ if k.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    yield
    for key in [k for k in os.environ if k.startswith("OPENLINEAGE")]:
        del os.environ[key]


# ------------------------------------------------------------------------------------------------ the schema
@cache
def registry() -> Registry:
    """OpenLineage.json 2-0-2, the facet schemas our events use (tests/fixtures/openlineage, copied from the
    OpenLineage repository) and our own facet's, by their $id."""
    schemas = [json.loads(p.read_text()) for p in sorted(SCHEMAS.glob("*.json"))] + [ASSET_FACET_SCHEMA]
    return Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)


def validate(instance: dict[str, Any], url: str) -> None:
    """Validate ``instance`` against the schema ``url`` names (a $id and a JSON pointer), $refs resolved."""
    known = {str(uri) for uri in registry()}
    assert url.split("#")[0] in known, f"no schema {url} in {SCHEMAS}: add it"
    jsonschema.Draft202012Validator({"$ref": url}, registry=registry(),
                                    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(instance)


def check_event(event: dict[str, Any]) -> None:
    """The event against the core schema, then every facet against the schema its ``_schemaURL`` names."""
    assert event["schemaURL"] == "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
    validate(event, event["schemaURL"])
    assert datetime.fromisoformat(event["eventTime"]).tzinfo is not None  # (jsonschema checks no date-time)
    assert urlparse(event["producer"]).scheme
    groups = [event["run"].get("facets", {}), event["job"].get("facets", {})]
    for data in event.get("inputs", []) + event.get("outputs", []):
        groups += [data.get("facets", {}), data.get("inputFacets", {}), data.get("outputFacets", {})]
    for facets in groups:
        for facet in facets.values():
            validate(facet, facet["_schemaURL"])


def events(path: Path) -> list[dict[str, Any]]:
    """The events of a JSON-lines file, one per line."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def names(datasets: list[dict[str, Any]]) -> dict[str, str]:
    """name -> namespace of a list of datasets."""
    return {d["name"]: d["namespace"] for d in datasets}


def test_a_start_complete_pair_and_a_fail_validate_against_the_openlineage_schema(tmp_path: Path) -> None:
    model, knowledge = tmp_path / "m.pt", tmp_path / "knowledge.yaml"
    model.write_bytes(b"x")
    knowledge.write_text("nodes: []\n")
    out = tmp_path / "out.pkl"
    target = tmp_path / "events.jsonl"
    inputs = [file_dataset("model", model), file_dataset("knowledge", knowledge)]
    with lineage_job("rootcause.train.coater", inputs, [file_dataset("dataset", out)], target=target,
                     description="a test job"):
        out.write_bytes(b"made")
    with pytest.raises(ValueError, match="no episodes"):
        with lineage_job("rootcause.train.coater", inputs, [file_dataset("model", tmp_path / "never.pt")],
                         target=target):
            raise ValueError("no episodes")
    start, complete, start_2, fail = found = events(target)
    for event in found:
        check_event(event)
    assert [e["eventType"] for e in found] == ["START", "COMPLETE", "START", "FAIL"]
    assert start["run"]["runId"] == complete["run"]["runId"] != start_2["run"]["runId"] == fail["run"]["runId"]
    assert complete["job"] == {**complete["job"], "namespace": "quality-twin", "name": "rootcause.train.coater"}
    assert complete["job"]["facets"]["jobType"]["jobType"] == "ROOTCAUSE_TRAIN"
    assert complete["job"]["facets"]["documentation"]["description"] == "a test job"
    assert names(complete["inputs"]) == {"m.pt": "quality-twin://models", "knowledge.yaml": "quality-twin://knowledge"}
    assert [d["facets"][ASSET_FACET]["assetId"] for d in complete["inputs"]] == ["model:m.pt",
                                                                                 "knowledge:knowledge.yaml"]
    assert names(complete["outputs"]) == {"out.pkl": "quality-twin://datasets"}
    assert fail["outputs"] == []  # the model it would have written is not there
    error = fail["run"]["facets"]["errorMessage"]
    assert error["message"] == "ValueError: no episodes" and error["programmingLanguage"] == "PYTHON"
    assert "raise ValueError" in error["stackTrace"]
    # the validation is not vacuous: what the spec requires is checked
    broken = {**fail, "run": {**fail["run"], "facets": {"errorMessage": {**error, "programmingLanguage": None}}}}
    with pytest.raises(jsonschema.ValidationError):
        validate(broken["run"]["facets"]["errorMessage"], error["_schemaURL"])
    with pytest.raises(jsonschema.ValidationError):
        validate({k: v for k, v in start.items() if k != "job"}, start["schemaURL"])


def test_dataset_names_and_asset_ids_are_the_catalogues(tmp_path: Path) -> None:
    (tmp_path / "runs" / "a").mkdir(parents=True)
    model = tmp_path / "models" / "rootcause.pt"
    model.parent.mkdir()
    model.write_bytes(b"x")
    assert file_dataset("model", model).asset_id == model_asset(model).id == "model:models/rootcause.pt"
    assert historian(tmp_path / "runs" / "a").asset_id == f"historian:{_name(tmp_path / 'runs' / 'a')}"
    assert historian("runs/a").name == "runs/a/historian.duckdb"
    assert file_dataset("knowledge", "/elsewhere/k.yaml").asset_id == "knowledge:/elsewhere/k.yaml"
    assert file_dataset("dataset", "runs/rootcause/train.pkl").asset_id == "dataset:runs/rootcause/train.pkl"
    assert file_dataset("report", "runs/a/report.json").asset_id is None  # the catalogue has no such kind
    assert run_datasets(tmp_path / "runs" / "a") == []  # nothing written yet
    with pytest.raises(ValueError, match="unknown dataset kind 'table'"):
        file_dataset("table", "x")


# ------------------------------------------------------------------------------------------------ transports
def test_the_file_transport_writes_one_line_per_event_and_appends(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "events.jsonl"  # its folder is made
    first = emit_job("run.a", [], [], wall_s=2.0, target=target)
    second = emit_job("run.b", [], [], wall_s=0.0, error="stopped by hand", target=target)
    assert (first.sent, first.failed, second.sent, second.failed) == (2, 0, 2, 0)
    lines = target.read_text().splitlines()
    assert len(lines) == 4 and all(line.startswith("{") and line.endswith("}") for line in lines)
    found = [json.loads(line) for line in lines]
    assert [(e["job"]["name"], e["eventType"]) for e in found] == [
        ("run.a", "START"), ("run.a", "COMPLETE"), ("run.b", "START"), ("run.b", "FAIL")]
    started, ended = (datetime.fromisoformat(e["eventTime"]) for e in found[:2])
    assert 1.9 <= (ended - started).total_seconds() <= 2.5  # START is dated when the job began
    assert found[3]["run"]["facets"]["errorMessage"]["message"] == "stopped by hand"
    for event in found:
        check_event(event)


class _Lineage(BaseHTTPRequestHandler):
    """Marquez's lineage endpoint, as far as a client sees it: POST /api/v1/lineage, 201."""

    received: list[tuple[str, dict[str, Any]]]

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, json.loads(body)))  # type: ignore[attr-defined]
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def lineage_server() -> Iterator[HTTPServer]:
    """A tiny HTTP server on 127.0.0.1 and a free port, in a thread, stopped after the test."""
    server = HTTPServer(("127.0.0.1", 0), _Lineage)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_an_http_server_receives_the_events(lineage_server: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{lineage_server.server_address[1]}"
    emitter = emit_job("run.over_http", [file_dataset("scenario", "s.yaml")], [], wall_s=1.0, target=url)
    assert (emitter.sent, emitter.failed) == (2, 0)
    # the client's own convention: OPENLINEAGE_URL (and OPENLINEAGE_ENDPOINT) with no target of ours
    monkeypatch.setenv("OPENLINEAGE_URL", url)
    monkeypatch.setenv("OPENLINEAGE_ENDPOINT", "api/v1/lineage/")
    with lineage_job("rootcause.dataset.coater"):
        pass
    received = lineage_server.received  # type: ignore[attr-defined]
    assert [p for p, _ in received] == ["/api/v1/lineage", "/api/v1/lineage", "/api/v1/lineage/", "/api/v1/lineage/"]
    assert [(e["job"]["name"], e["eventType"]) for _, e in received] == [
        ("run.over_http", "START"), ("run.over_http", "COMPLETE"),
        ("rootcause.dataset.coater", "START"), ("rootcause.dataset.coater", "COMPLETE")]
    assert names(received[0][1]["inputs"]) == {"s.yaml": "quality-twin://scenarios"}
    for _, event in received:
        check_event(event)


def test_a_server_that_is_not_there_does_not_fail_the_job(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="twin.edge.assets.openlineage"):
        emitter = emit_job("run.nowhere", [], [], wall_s=1.0, target=f"http://127.0.0.1:{port}")
        with lineage_job("rootcause.train.coater", target=f"http://127.0.0.1:{port}") as run:
            pass
    assert time.perf_counter() - started < 5  # few retries, not the client's 9 s per event
    assert (emitter.sent, emitter.failed) == (0, 2)  # START failed; COMPLETE was not tried, but counted
    assert (run.emitter.sent, run.emitter.failed) == (0, 2)
    warnings = [r.getMessage() for r in caplog.records if r.name == "twin.edge.assets.openlineage"]  # + urllib3's
    assert len(warnings) == 2 and "event not sent to http://127.0.0.1" in warnings[0]
    # a bad target is a warning too, not an error
    assert LineageEmitter("http://", environment=False).failed == 1


def test_nothing_happens_without_a_target_or_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    emitter = LineageEmitter()
    assert not emitter.enabled and emitter.targets == []
    with lineage_job("rootcause.dataset.coater") as run:
        pass
    assert (run.emitter.sent, run.emitter.failed) == (0, 0)
    assert not any(tmp_path.iterdir())
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")  # the client's own switch wins over any target
    assert emit_job("run.off", [], [], wall_s=0, target=tmp_path / "e.jsonl").sent == 0
    assert not (tmp_path / "e.jsonl").exists()


def test_the_clients_own_configuration_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any transport the client's configuration names (here its file transport by OPENLINEAGE__ variables; an
    openlineage.yml or OPENLINEAGE_CONFIG the same), besides our target."""
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(tmp_path / "configured.jsonl"))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")
    emitter = emit_job("run.both", [], [], wall_s=0, target=tmp_path / "ours.jsonl")
    assert emitter.targets == [str(tmp_path / "ours.jsonl"), "the OpenLineage configuration"]
    assert len(events(tmp_path / "configured.jsonl")) == len(events(tmp_path / "ours.jsonl")) == 2


# ------------------------------------------------------------------------------------------------ hooked jobs
SCENARIO = """\
name: lineage_short
plant: coater
seed: 5
duration_s: 1.5
faults: [{kind: blade_pressure_drift, target: coater.blade3, start_s: 0.5, magnitude: 0.3}]
"""


@pytest.mark.slow  # two short offline coater runs: about 3 s
def test_a_real_run_leaves_its_events_beside_it(tmp_path: Path) -> None:
    from twin.harness.episode import EpisodeConfig, run_episode
    from twin.harness.scenario import load_scenario

    (tmp_path / "s.yaml").write_text(SCENARIO)
    spec = load_scenario(tmp_path / "s.yaml")
    asyncio.run(run_episode(spec, EpisodeConfig(out_dir=Path("runs/short"), mode="offline")))
    start, complete = found = events(tmp_path / "runs" / "short" / RUN_FILE)
    for event in found:
        check_event(event)
    assert (start["eventType"], complete["eventType"], complete["job"]["name"]) == ("START", "COMPLETE",
                                                                                   "run.lineage_short")
    inputs = {d["facets"][ASSET_FACET]["kind"]: d for d in complete["inputs"]}
    assert inputs["scenario"]["name"] == "s.yaml"
    assert inputs["knowledge"]["name"].endswith("plant_models/coater/knowledge.yaml")  # the plant's own
    assert inputs["model"]["facets"][ASSET_FACET]["assetId"] == "model:" + inputs["model"]["name"]
    assert names(complete["outputs"]) == {f"runs/short/{f}": "quality-twin://runs"
                                          for f in ("historian.duckdb", "ledger.jsonl", "report.json")}
    assert complete["outputs"][0]["facets"][ASSET_FACET]["assetId"] == "historian:runs/short"

    def stop(frame: object) -> None:
        raise RuntimeError("operator stop")

    with pytest.raises(RuntimeError):
        asyncio.run(run_episode(spec, EpisodeConfig(out_dir=Path("runs/stopped"), mode="offline", hooks=[stop])))
    start, fail = events(tmp_path / "runs" / "stopped" / RUN_FILE)
    check_event(fail)
    assert fail["eventType"] == "FAIL" and fail["run"]["facets"]["errorMessage"]["message"] == (
        "RuntimeError: operator stop")


@pytest.mark.slow  # one dataset episode, one training epoch, one evaluation: about 5 s
def test_twin_rootcause_dataset_train_and_evaluate_emit_their_lineage(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from twin.cli import app

    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(tmp_path / "events.jsonl"))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")
    runner = CliRunner()
    for args in (["dataset", "--episodes", "1", "--backend", "serial", "--out", "ds.pkl"],
                 ["train", "--dataset", "ds.pkl", "--out", "m.pt", "--epochs", "1", "--hidden", "4"],
                 ["evaluate", "--dataset", "ds.pkl", "--model", "m.pt", "--out", "ev.json"]):
        result = runner.invoke(app, ["rootcause", *args])
        assert result.exit_code == 0, result.output
    found = events(tmp_path / "events.jsonl")
    for event in found:
        check_event(event)
    # the dataset's throw-away episodes emit nothing of their own
    assert [(e["job"]["name"], e["eventType"], list(names(e["inputs"])), list(names(e["outputs"]))) for e in found
            if e["eventType"] != "START"] == [
        ("rootcause.dataset.coater", "COMPLETE", [str(Path(__file__).parents[3] / "plant_models/coater/sweep.yaml")],
         ["ds.pkl"]),
        ("rootcause.train.coater", "COMPLETE", ["ds.pkl"], ["m.pt"]),
        ("rootcause.evaluate.coater", "COMPLETE", ["m.pt", "ds.pkl"], ["ev.json"])]
    assert [e["eventType"] for e in found] == ["START", "COMPLETE"] * 3


def test_a_supply_run_leaves_its_events_beside_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tests.conftest import REPO
    from twin.cli import app

    scenario = REPO / "scenarios" / "supply_clean.yaml"
    done = CliRunner().invoke(app, ["run", str(scenario), "--out", str(tmp_path / "supply")], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    start, complete = found = events(tmp_path / "supply" / RUN_FILE)
    for event in found:
        check_event(event)
    assert (start["eventType"], complete["eventType"], complete["job"]["name"]) == ("START", "COMPLETE",
                                                                                   "supply.supply_clean")
    assert [d["facets"][ASSET_FACET]["kind"] for d in complete["inputs"]] == ["scenario"]
    kinds = {d["facets"][ASSET_FACET]["kind"]: d["name"] for d in complete["outputs"]}
    assert set(kinds) == {"ledger", "report", "lots", "returns"}
    assert all(Path(name).is_file() for name in kinds.values())
