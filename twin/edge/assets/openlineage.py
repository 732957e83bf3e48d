"""Lineage for other tools: OpenLineage run events from runs, dataset generation, training and evaluation.

A job (a scenario run, ``twin rootcause dataset|train|evaluate``) emits a ``START`` event and then a
``COMPLETE`` one, or ``FAIL`` with an ``errorMessage`` run facet, naming the files it read (inputs) and wrote
(outputs), so Marquez, DataHub or any OpenLineage consumer draws the graph. The events are built with the
``openlineage-python`` client's own classes and sent through its transports:

* a **file** (``FileTransport``, one JSON line per event): every run appends its events to ``openlineage.jsonl``
  in its run directory;
* an **HTTP** endpoint (``HttpTransport``, e.g. Marquez at ``http://localhost:5000``), given as an
  ``http(s)://`` target or by the client's own ``OPENLINEAGE_URL`` (with ``OPENLINEAGE_ENDPOINT`` and
  ``OPENLINEAGE_API_KEY``), sent with few retries and a short timeout so a missing server costs a run little;
* whatever else the client's own configuration names (``OPENLINEAGE_CONFIG``, ``openlineage.yml``,
  ``OPENLINEAGE__TRANSPORT__*`` variables: Kafka, a file, ...). ``OPENLINEAGE_DISABLED=true`` turns it all off.

Names: jobs live in the namespace ``quality-twin`` (``run.<scenario>``, ``rootcause.train.<plant>``, ...);
datasets in a namespace per kind (``quality-twin://runs`` for a run's historian, ledger and report,
``quality-twin://models``, ``quality-twin://knowledge``, ``quality-twin://scenarios``, ...), each named by its
file as the asset catalogue names a location (relative to the working folder when inside it). The catalogue's
asset id (``historian:<run dir>``, ``model:<path>``, ``knowledge:<path>``, ``dataset:<path>``;
:mod:`twin.edge.assets.catalogue`) rides in a custom dataset facet ``qualityTwin_asset`` (schema
:data:`ASSET_FACET_SCHEMA`), so a consumer can join the two.

Emitting never fails the job: an event that cannot be sent is logged as a warning and counted
(:attr:`LineageEmitter.failed`), and a target that failed once is not tried again by the same emitter.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.contracts import RunFiles

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import RunEvent

    from twin.edge.stack import EdgeStack

log = logging.getLogger(__name__)

JOB_NAMESPACE = "quality-twin"
RUN_FILE = "openlineage.jsonl"  # a run's events, beside its historian
#: the dataset namespace of each kind of file
NAMESPACES = {
    "historian": "quality-twin://runs", "ledger": "quality-twin://runs", "report": "quality-twin://runs",
    "scenario": "quality-twin://scenarios", "sweep": "quality-twin://scenarios",
    "knowledge": "quality-twin://knowledge", "model": "quality-twin://models",
    "dataset": "quality-twin://datasets", "evaluation": "quality-twin://evaluations",
    "lots": "quality-twin://runs", "returns": "quality-twin://runs", "design": "quality-twin://runs",
}
DESCRIPTIONS = {
    "historian": "a run's historian (DuckDB): every sample with its quality flag",
    "ledger": "a run's audit ledger: alarms, diagnoses, commands and acks, hash-chained and signed",
    "report": "a run's report (report.json): alarms, diagnoses, commands and scores",
    "scenario": "a scenario file", "sweep": "a root-cause sweep's settings (its base run)",
    "knowledge": "a knowledge file: what an engineer knows (P&ID, FMEA)",
    "model": "a trained root-cause model (its card beside it)",
    "dataset": "a labelled root-cause dataset (alarm-window evidence of fault episodes)",
    "evaluation": "root-cause evaluation results (AC@1, AC@3, Avg@5 per split and method)",
    "lots": "a supply run's lots: supplier, inspection outcome and the serials each shipped",
    "returns": "field failures as service recorded them: unit, part, failure mode, hours in service",
    "design": "the design parameters (drawing tolerances) of the lots a line's parts are built from",
}
HTTP_TIMEOUT_S = 3.0
HTTP_RETRY = {"total": 2, "connect": 2, "read": 2, "backoff_factor": 0.1}  # the client's default: 5, 0.3 (9 s)

ASSET_FACET = "qualityTwin_asset"  # custom facets carry a prefix of their own (OpenLineage's rule)
ASSET_FACET_URL = "urn:quality-twin:openlineage:facets:1-0-0:QualityTwinAssetDatasetFacet.json"
#: JSON Schema of the ``qualityTwin_asset`` dataset facet, in OpenLineage's form for facets
ASSET_FACET_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": ASSET_FACET_URL,
    "$defs": {"QualityTwinAssetDatasetFacet": {"allOf": [
        {"$ref": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetFacet"},
        {"type": "object", "properties": {
            "kind": {"type": "string", "description": "what the file is: " + ", ".join(NAMESPACES)},
            "assetId": {"type": "string", "description": "its id in the asset catalogue (twin assets), where "
                        "the catalogue has the kind: historian:<run dir>, model:<path>, knowledge:<path>, "
                        "dataset:<path>"}},
         "required": ["kind"]}], "type": "object"}},
    "type": "object",
    "properties": {ASSET_FACET: {"$ref": "#/$defs/QualityTwinAssetDatasetFacet"}},
}


def catalogue_name(path: str | Path) -> str:
    """A path as the asset catalogue names it: relative to the working folder when inside it, forward slashes."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return Path(os.path.normpath(resolved)).as_posix()


@dataclass(frozen=True)
class LineageDataset:
    """One input or output of a job: its kind, its name (the file) and its catalogue asset id, if it has one."""

    kind: str
    name: str
    asset_id: str | None = None

    @property
    def namespace(self) -> str:
        """The dataset namespace of its kind."""
        return NAMESPACES[self.kind]


def file_dataset(kind: str, path: str | Path) -> LineageDataset:
    """A file of ``kind`` (a key of :data:`NAMESPACES`); models, knowledge files and datasets get the catalogue's
    id (a dataset's as its lineage names it, ``dataset:<path>``, from a model card).

    >>> file_dataset("model", "/nowhere/rootcause.pt")
    LineageDataset(kind='model', name='/nowhere/rootcause.pt', asset_id='model:/nowhere/rootcause.pt')
    """
    if kind not in NAMESPACES:
        raise ValueError(f"unknown dataset kind {kind!r}; kinds: {', '.join(NAMESPACES)}")
    name = catalogue_name(path)
    return LineageDataset(kind, name, f"{kind}:{name}" if kind in ("model", "knowledge", "dataset") else None)


def historian(run_dir: str | Path) -> LineageDataset:
    """A run's historian file, with the catalogue's id for it, ``historian:<run dir>``."""
    return LineageDataset("historian", catalogue_name(Path(run_dir) / RunFiles.HISTORIAN),
                          f"historian:{catalogue_name(run_dir)}")


def run_datasets(run_dir: str | Path) -> list[LineageDataset]:
    """What a run wrote, of its historian, ledger, report, lots, field returns and design parameters, as far as it
    is there (a supply run has no historian; a line with a field has returns)."""
    run_dir = Path(run_dir)
    found = [historian(run_dir)] if (run_dir / RunFiles.HISTORIAN).is_file() else []
    for kind, name in (("ledger", RunFiles.LEDGER), ("report", RunFiles.REPORT), ("lots", RunFiles.LOTS),
                       ("returns", RunFiles.RETURNS), ("design", RunFiles.DESIGN)):
        found += existing(kind, [run_dir / name])
    return found


def existing(kind: str, paths: Iterable[str | Path | None]) -> list[LineageDataset]:
    """The files of ``paths`` that exist, as datasets of ``kind`` (None and missing files left out)."""
    return [file_dataset(kind, p) for p in paths if p is not None and Path(p).is_file()]


def environment_configured() -> bool:
    """Whether the OpenLineage client's own configuration names where events go: ``OPENLINEAGE_URL``,
    ``OPENLINEAGE_CONFIG``, ``OPENLINEAGE__TRANSPORT__*`` variables or an ``openlineage.yml`` in the working
    folder or ``~/.openlineage`` (the places the client reads)."""
    if os.environ.get("OPENLINEAGE_URL") or os.environ.get("OPENLINEAGE_CONFIG"):
        return True
    if any(key.startswith("OPENLINEAGE__TRANSPORT") for key in os.environ):
        return True
    return any((folder / "openlineage.yml").is_file() for folder in (Path.cwd(), Path.home() / ".openlineage"))


def disabled() -> bool:
    """``OPENLINEAGE_DISABLED=true``, the client's own switch: no events at all."""
    return os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true"


class LineageEmitter:
    """Sends OpenLineage run events to ``target`` (a file path: JSON lines; an ``http(s)://`` URL) and, with
    ``environment``, to wherever the client's own configuration sends them (:func:`environment_configured`).
    With neither (or ``OPENLINEAGE_DISABLED=true``) it does nothing. Never raises while emitting."""

    def __init__(self, target: str | Path | None = None, *, environment: bool = True) -> None:
        self.sent = 0  # events a target took
        self.failed = 0  # events a target did not take (or was not offered, after it failed once)
        self._clients: list[tuple[str, OpenLineageClient]] = []  # (where, its client)
        self._broken: set[str] = set()  # targets that failed once: not tried again
        if disabled():
            return
        targets: list[str | None] = [str(target)] if target is not None else []
        if environment and environment_configured():
            # OPENLINEAGE_URL: our bounded HTTP transport; any other configuration: the transport the client names
            targets.append(os.environ["OPENLINEAGE_URL"] if os.environ.get("OPENLINEAGE_URL") else None)
        for where in targets:
            name = where or "the OpenLineage configuration"
            try:
                self._clients.append((name, _client(where)))
            except Exception as err:  # a bad URL or configuration must not stop the job
                self.failed += 1
                log.warning("OpenLineage: cannot send events to %s: %s", name, err)

    @property
    def enabled(self) -> bool:
        """Whether any target was set up to take events."""
        return bool(self._clients)

    @property
    def targets(self) -> list[str]:
        """Where events go, by name."""
        return [where for where, _ in self._clients]

    def emit(self, event: RunEvent) -> bool:
        """Send ``event`` to every target; True when all took it. A failure is logged as a warning and counted,
        and that target is not tried again by this emitter (its later events would only wait on it too)."""
        ok = True
        for where, client in self._clients:
            if where in self._broken:
                self.failed += 1
                ok = False
                continue
            try:
                client.emit(event)
                self.sent += 1
            except Exception as err:  # any transport error: the job goes on
                ok = False
                self.failed += 1
                self._broken.add(where)
                log.warning("OpenLineage: event not sent to %s (%s: %s); no more events go there from this job",
                            where, type(err).__name__, str(err).splitlines()[0] if str(err) else "")
        return ok

    def start(self, job: str, inputs: Iterable[LineageDataset] = (), outputs: Iterable[LineageDataset] = (),
              *, description: str = "", at: datetime | None = None) -> LineageRun:
        """Emit ``START`` for a new run of ``job`` (at ``at``, default now) and return it, to end it later."""
        at = at or datetime.now(UTC)
        run = LineageRun(self, job, _run_id(at) if self.enabled else "", list(inputs), list(outputs), description)
        run.send("START", at)
        return run

    def close(self) -> None:
        """Let the transports finish (an HTTP session is closed); safe to call twice."""
        for where, client in self._clients:
            try:
                client.close(timeout=HTTP_TIMEOUT_S)
            except Exception as err:  # never fail the job over its lineage
                log.warning("OpenLineage: closing %s: %s", where, err)


@dataclass
class LineageRun:
    """One run of a job, started by :meth:`LineageEmitter.start`; ends with :meth:`complete` or :meth:`fail`."""

    emitter: LineageEmitter
    job: str
    run_id: str
    inputs: list[LineageDataset]
    outputs: list[LineageDataset]
    description: str = ""

    def complete(self, outputs: Iterable[LineageDataset] | None = None, *, at: datetime | None = None) -> None:
        """Emit ``COMPLETE``, with ``outputs`` in place of those given at the start when given."""
        if outputs is not None:
            self.outputs = list(outputs)
        self.send("COMPLETE", at or datetime.now(UTC))

    def fail(self, error: BaseException | str, outputs: Iterable[LineageDataset] | None = None, *,
             at: datetime | None = None) -> None:
        """Emit ``FAIL`` with an ``errorMessage`` run facet (the message, and the stack trace of an exception)."""
        if outputs is not None:
            self.outputs = list(outputs)
        self.send("FAIL", at or datetime.now(UTC), error)

    def send(self, state: str, at: datetime, error: BaseException | str | None = None) -> bool:
        """Build and emit one event of this run; never raises (a malformed event is logged and counted)."""
        if not self.emitter.enabled:
            return False
        try:
            event = build_event(state, self.job, self.run_id, self.inputs, self.outputs, at=at, error=error,
                                description=self.description)
        except Exception as err:  # never fail the job over its lineage
            self.emitter.failed += 1
            log.warning("OpenLineage: could not build the %s event of %s: %s", state, self.job, err)
            return False
        return self.emitter.emit(event)


def build_event(state: str, job: str, run_id: str, inputs: Iterable[LineageDataset],
                outputs: Iterable[LineageDataset], *, at: datetime, error: BaseException | str | None = None,
                description: str = "") -> RunEvent:
    """One OpenLineage ``RunEvent`` from the client's classes: the job (``jobType``: its name without the last part,
    ``RUN`` for ``run.<scenario>``, ``ROOTCAUSE_TRAIN`` for ``rootcause.train.<plant>``; ``documentation``), the run
    (``processing_engine``; ``errorMessage`` when ``error``), and the datasets with their facets."""
    from openlineage.client.constants import __version__ as client_version
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import (
        documentation_dataset,
        documentation_job,
        error_message_run,
        job_type_job,
        processing_engine_run,
    )

    producer = producer_uri()
    kind = job.rsplit(".", 1)[0] if "." in job else job  # run.<scenario> -> RUN, rootcause.train.<plant> -> ...
    job_facets: dict[str, Any] = {"jobType": job_type_job.JobTypeJobFacet(
        processingType="BATCH", integration="QUALITY_TWIN", jobType=kind.replace(".", "_").upper(), producer=producer)}
    if description:
        job_facets["documentation"] = documentation_job.DocumentationJobFacet(description=description,
                                                                               producer=producer)
    run_facets: dict[str, Any] = {"processing_engine": processing_engine_run.ProcessingEngineRunFacet(
        version=_version(), name="quality-twin", openlineageAdapterVersion=client_version, producer=producer)}
    if error is not None:
        stack = ("".join(traceback.format_exception(error)) if isinstance(error, BaseException) else None)
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error),
            programmingLanguage="PYTHON", stackTrace=stack, producer=producer)

    def facets(data: LineageDataset) -> dict[str, Any]:
        asset = _asset_facet_class()(kind=data.kind, assetId=data.asset_id, producer=producer)
        return {"documentation": documentation_dataset.DocumentationDatasetFacet(
            description=DESCRIPTIONS[data.kind], producer=producer), ASSET_FACET: asset}

    return RunEvent(
        eventType=RunState(state), eventTime=at.astimezone(UTC).isoformat(), producer=producer,
        run=Run(runId=run_id, facets=run_facets), job=Job(namespace=JOB_NAMESPACE, name=job, facets=job_facets),
        inputs=[InputDataset(namespace=d.namespace, name=d.name, facets=facets(d)) for d in inputs],
        outputs=[OutputDataset(namespace=d.namespace, name=d.name, facets=facets(d)) for d in outputs])


@contextmanager
def lineage_job(job: str, inputs: Iterable[LineageDataset] = (), outputs: Iterable[LineageDataset] = (), *,
                target: str | Path | None = None, description: str = "") -> Iterator[LineageRun]:
    """``START`` on entry, ``COMPLETE`` on a clean exit, ``FAIL`` (and the exception goes on) otherwise; the
    events go to ``target`` and the environment's configuration (:class:`LineageEmitter`). The outputs are
    those of ``outputs`` that exist by the end (all of them at the start)."""
    emitter = LineageEmitter(target)
    outputs = list(outputs)
    run = emitter.start(job, inputs, outputs, description=description)
    try:
        yield run
    except BaseException as err:
        run.fail(err, [d for d in outputs if Path(d.name).is_file()])
        raise
    else:
        run.complete([d for d in outputs if Path(d.name).is_file()])
    finally:
        emitter.close()


def emit_job(job: str, inputs: Iterable[LineageDataset], outputs: Iterable[LineageDataset], *, wall_s: float,
             error: BaseException | str | None = None, target: str | Path | None = None,
             description: str = "") -> LineageEmitter:
    """A job that has just ended, in one call: ``START`` dated ``wall_s`` seconds ago, then ``COMPLETE`` (or
    ``FAIL`` with ``error``) now. Returns the emitter (its ``sent`` and ``failed`` counts)."""
    emitter = LineageEmitter(target)
    if emitter.enabled:
        end = datetime.now(UTC)
        run = emitter.start(job, inputs, outputs, description=description, at=end - timedelta(seconds=wall_s))
        if error is None:
            run.complete(at=end)
        else:
            run.fail(error, at=end)
        emitter.close()
    return emitter


def emit_edge_run(edge: EdgeStack, job: str, wall_s: float, error: BaseException | str | None = None,
                  ) -> LineageEmitter:
    """The lineage of one run of an edge stack, in one call at its end: inputs its settings file (the scenario),
    knowledge file and model; outputs its historian, ledger and report; events appended to ``openlineage.jsonl``
    in its run directory and sent where the environment says (:func:`emit_job`)."""
    from qtconfig import resolve_path

    rootcause = edge.settings.rootcause
    inputs = existing("scenario", [edge.source]) if isinstance(edge.source, Path) else []
    if rootcause.enabled:  # the files the root-cause layer read (a missing one is not an input)
        for kind, value in (("knowledge", rootcause.knowledge), ("model", rootcause.model)):
            inputs += existing(kind, [resolve_path(value, edge.base)] if value else [])
    return emit_job(job, inputs, run_datasets(edge.out_dir), wall_s=wall_s, error=error,
                    target=edge.out_dir / RUN_FILE, description=f"one run of the scenario {job.split('.', 1)[-1]}")


# ---------------------------------------------------------------------------------------------- helpers
def producer_uri() -> str:
    """Who produced the events and facets: this project at its version (a URN: it has no web address)."""
    return f"urn:quality-twin:{_version()}"


@cache
def _version() -> str:
    """The installed quality-twin's version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("quality-twin")
    except PackageNotFoundError:
        return "unknown"


def _run_id(at: datetime) -> str:
    """A new run id: the client's UUIDv7 for the instant ``at`` (ids sort by start)."""
    from openlineage.client.uuid import generate_new_uuid

    return str(generate_new_uuid(at))


@cache
def _asset_facet_class() -> type:
    """The ``qualityTwin_asset`` dataset facet, a subclass of the client's ``DatasetFacet`` (built on first use so
    importing this module does not import the client)."""
    import attr
    from openlineage.client.generated.base import DatasetFacet

    @attr.define
    class QualityTwinAssetDatasetFacet(DatasetFacet):
        """Which asset of the catalogue a dataset is (``assetId``, where the catalogue has its kind)."""

        kind: str
        assetId: str | None = attr.field(default=None)  # OpenLineage's camelCase

        @staticmethod
        def _get_schema() -> str:
            return ASSET_FACET_URL + "#/$defs/QualityTwinAssetDatasetFacet"

    return QualityTwinAssetDatasetFacet


def _client(target: str | None) -> OpenLineageClient:
    """A client sending to ``target``: a URL (HTTP, bounded retries), a file (appended JSON lines) or, for None,
    the transport the client's own configuration names."""
    from openlineage.client import OpenLineageClient

    if target is None:
        return OpenLineageClient()
    if target.startswith(("http://", "https://")):
        from openlineage.client.transport.http import HttpConfig, HttpTransport

        config: dict[str, Any] = {"url": target, "timeout": HTTP_TIMEOUT_S, "retry": HTTP_RETRY}
        if target == os.environ.get("OPENLINEAGE_URL"):  # the client's own companions of OPENLINEAGE_URL
            if os.environ.get("OPENLINEAGE_ENDPOINT"):
                config["endpoint"] = os.environ["OPENLINEAGE_ENDPOINT"]
            if os.environ.get("OPENLINEAGE_API_KEY"):
                config["auth"] = {"type": "api_key", "apiKey": os.environ["OPENLINEAGE_API_KEY"]}
        return OpenLineageClient(transport=HttpTransport(HttpConfig.from_dict(config)))
    from openlineage.client.transport.file import FileConfig, FileTransport

    Path(target).parent.mkdir(parents=True, exist_ok=True)
    return OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=target, append=True)))

